// meterd — engine/invoicing/usage_report.h
//
// The usage report behind an invoice (docs/invoices.md, "Usage report"): per invoice line, the
// rated lines per resource (VM, volume, address, subscription) and product that it sums, with
// their quantities and amounts, the invoice's period rated again now.
//
// Invariant (property-tested against BuildInvoice): a line's resources add up, in
// micro-credits, to the line's amount before its single display rounding, and their raw
// quantities to its quantity, as long as the period's rating has not changed since the invoice
// was built. When it has (late data or a re-rate booked after the issue, which the next
// invoice carries as an adjustment), the report says so per line (`rated` != `invoiced`) and
// lists rated lines no invoice line has under `unmatched`; it never adjusts a figure.
//
// Thread-safety: pure functions and values.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/invoicing/invoice.h"
#include "engine/invoicing/invoice_builder.h"

namespace meterd::engine::invoicing {

// A rated line of one resource.
struct ResourceLine {
  std::string resource, resource_name;  // a subscription's id for a fee
  RatedLine line;
};

struct UsageReportLine {
  size_t index = 0;  // in the invoice's lines
  InvoiceLine line;
  MicroCredits rated = 0;           // sum of `items` amounts
  std::string rated_quantity;       // sum of `items` raw quantities, as the line prints it
  std::vector<ResourceLine> items;  // by resource
};

struct UsageReport {
  std::string number, account;
  int64_t period_start = 0, period_end = 0;
  std::vector<UsageReportLine> lines;   // the invoice's usage and fee lines, in its order
  std::vector<ResourceLine> unmatched;  // rated now under no line of the invoice
  bool matches = true;                  // every line's rated == invoiced, nothing unmatched
};

// `rated`: the account's rated lines of the invoice's period, per resource.
UsageReport BuildUsageReport(const Invoice& invoice, std::vector<ResourceLine> rated);

nlohmann::ordered_json UsageReportJson(const UsageReport& r);

}  // namespace meterd::engine::invoicing
