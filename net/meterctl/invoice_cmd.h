// meterd — net/meterctl/invoice_cmd.h: meterctl's invoice commands (docs/invoices.md):
//
//   invoice run --period P [--account A | --domain D] [--provisional]   draft a period (admin)
//   invoice issue --period P [--account A | --domain D]                 issue its drafts (admin)
//   invoice drafts --period P [--account A]                             the drafts of a period
//   invoice list [--account A] [--from T --to T]                        issued documents
//   invoice show NUMBER                                                 one document
//   invoice pdf NUMBER --output FILE                                    one document as PDF
//   invoice export --period P [--account A]                             every line of a period
//   invoice void NUMBER --reason R                                      (admin)
//   invoice pay NUMBER --amount X --reference R                         a payment (admin)
//   invoice mark-paid NUMBER --reference R                              pay what is due (admin)
//   invoice credit-note NUMBER --amount X --reason R                    a credit note (admin)
//   invoice usage --invoice NUMBER                                      usage per resource
//   invoice collect [--at T]                                            a collections pass (admin)
//   statement --account A [--from T] [--to T]                           statement of account
//
// A period is "YYYY-MM" or any instant inside it (unix seconds or RFC 3339).
// Thread-safety: not synchronised (one command per process).
#pragma once

#include <CLI/CLI.hpp>

#include "net/meterctl/common.h"

namespace meterd::cli {

void RegisterInvoiceCommands(CLI::App& app, Common& common);

}  // namespace meterd::cli
