// meterd — engine/invoicing/invoice_layout.h
//
// PrintedInvoice: an Invoice as the text a reader sees, the one source of both renderings (the
// PDF of invoice_pdf.h and the fixed-width text of invoice_text.h), so they always print the
// same content. Every amount is formatted here, in the invoice's display currency:
//
//   amounts      pricebook::FormatMinor of the invoice's displayed minor units ("GBP 2,955.91")
//   unit prices  pricebook::FormatUnitPrice of the line's micro-credit price ("GBP 2.2000")
//   bases        a discount's or tax's micro-credit base rounded once to the minor unit with
//                the invoice's rounding mode (half_even when the name is unknown)
//   quantities   the exact decimal rounded half-even for display: to a whole number from 100
//                up, else to 2 decimals, trailing zeros dropped ("1344", "12.5", "0.01"); a
//                non-zero quantity that would print as 0 prints exactly. The exact quantity is
//                in the invoice (and its CSV/JSON export); the seed prints quantities rounded.
//   rates        parts per million as a percentage, up to 4 decimals: "20 %", "5.5 %"
//   days         ISO 8601 (2017-02-01) in the account's time zone (engine/cycles TimeZone); the
//                period prints its first and last day ([start, end): the day of end - 1). An
//                unknown zone prints UTC days and says so in the notes.
//
// Thread-safety: pure function of its argument.
#pragma once

#include <string>
#include <vector>

#include "engine/invoicing/invoice.h"

namespace meterd::engine::invoicing {

// One table: a group's lines, the discounts or the taxes. Every row has header.size() cells;
// the first column is text (left aligned), the others amounts (right aligned).
struct PrintedTable {
  std::vector<std::string> header;             // {"Running VM", "Quantity", "Unit Price", "Cost"}
  std::vector<std::vector<std::string>> rows;  // the lines
  std::vector<std::string> footer;             // the subtotal row; empty when none
};

struct PrintedInvoice {
  std::string title;                  // "Invoice" or "Credit note"
  std::string watermark;              // "DRAFT", "PROVISIONAL", "VOID" or empty
  std::vector<std::string> issuer;    // name, address lines, "VAT number: ..."
  std::vector<std::string> customer;  // name, address lines, country, "VAT number: ..."
  // Label/value pairs under the title: status (with a watermark), number, issue date, due
  // date, the invoice a credit note corrects.
  std::vector<std::pair<std::string, std::string>> facts;
  // As in the seed: "Invoice period: From 2017-02-01 to 2017-02-28 Account: bu1user1 Domain:
  // bu1.corporate.com Invoice number: 1575".
  std::string period_line;
  std::vector<PrintedTable> tables;                         // groups, discounts, taxes
  std::vector<std::pair<std::string, std::string>> totals;  // label, amount
  std::vector<std::string> notes;                           // reverse charge, reason, remarks
};

PrintedInvoice PrintInvoice(const Invoice& invoice);

// Helpers, exposed for tests and the renderers.
std::string FormatQuantity(const std::string& exact);  // "1343.5955" -> "1344"
std::string FormatPercentPpm(uint32_t ppm);            // 200000 -> "20 %"
std::string FormatDay(int64_t day);                    // days since 1970-01-01 -> "2017-02-01"

}  // namespace meterd::engine::invoicing
