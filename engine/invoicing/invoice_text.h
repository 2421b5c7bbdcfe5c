// meterd — engine/invoicing/invoice_text.h
//
// An invoice as fixed-width text, for terminals (`meterctl invoice show`) and tests: the same
// content as the PDF (invoice_layout.h), its tables aligned in columns (the first left aligned,
// amounts right aligned), widths counted in Unicode code points (a CJK character, two columns
// wide on a terminal, is counted as one). A draft, provisional or void invoice starts with a
// banner ("*** DRAFT ***").
//
// Thread-safety: pure function.
#pragma once

#include <string>

#include "engine/invoicing/invoice.h"
#include "engine/invoicing/invoice_layout.h"

namespace meterd::engine::invoicing {

std::string RenderInvoiceText(const Invoice& invoice);
std::string RenderPrintedInvoiceText(const PrintedInvoice& printed);

}  // namespace meterd::engine::invoicing
