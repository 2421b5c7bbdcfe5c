// meterd — tests/testing/seed_invoice.h
//
// The invoice of seed 002 (../shared/seeds/002_2d8a366bb1fc0cef.txt, "Invoicing") as an Invoice
// value: account bu1user1 of domain bu1.corporate.com, invoice 1575 for February 2017 in GBP,
// groups Running VM, Stopped VM, Storage, Network and Subscriptions with the seed's products,
// unit prices and costs to the penny. The seed prints quantities rounded, so each line has an
// exact quantity (below) whose charge, rounded half-even once to micro-credits and once to
// pence, is the seed's cost. Beyond the seed: an issuer, 20 % UK VAT, the totals.
//
// Where the seed does not add up (its numbers are not all consistent; the golden test
// tests/engine/invoicing/invoice_golden_test.cc checks each claim):
//  - Subtotals. The seed's group subtotals are its exact charges summed, then rounded: Storage
//    prints GBP 9,041.60 and Network GBP 9.88 while their printed lines add up to 9,041.62 and
//    9.90. invoice.h says a displayed total is the sum of the displayed lines; this helper
//    follows the seed by default (GroupSubtotal::minor = the rounded exact sum; micro = the
//    exact sum); SeedInvoice(SeedSubtotals::kSumsOfLines) follows invoice.h (an end-to-end
//    test through InvoiceBuilder, which checks invoice.h's invariants, wants that one).
//  - Quantities. No exact quantity gives both the seed's cost and its displayed quantity for
//    Running VM Bronze (1047 h x 0.49 = 513.03, printed 512.62: 1046 h here), Network Default
//    Isolated Network (5374 h x 0.0010 = 5.37, printed 5.38: 5375 h), Storage Medium Disk
//    (79156 GB·h x 0.0036 = 284.96, printed 284.97: 79157); Storage Root Volume prints 14183
//    (not 14184) so that the Storage lines' exact sum still rounds to the seed's 9,041.60.
//  - Units print as invoice.h spells them ("GB·h", the seed's "GB.h"); the seed's OCR typo
//    "Default tsolated Network" is "Default Isolated Network" here.
//
// Thread-safety: returns a new value each call.
#pragma once

#include "engine/invoicing/invoice.h"

namespace meterd::testing {

// Which rule the group subtotals follow; the invoice's subtotal, tax, total and amount due
// follow the chosen group subtotals.
enum class SeedSubtotals {
  kAsTheSeedPrints,  // rounded exact sums: Storage 9,041.60, Network 9.88 (the golden test)
  kSumsOfLines,      // sums of the displayed lines (invoice.h): Storage 9,041.62, Network 9.90
};
engine::invoicing::Invoice SeedInvoice(SeedSubtotals rule = SeedSubtotals::kAsTheSeedPrints);

// The seed's invoice with `lines` usage lines (one per VM, disk or address: "vm-000123 Copper -
// 1CPU ..."), spread over Running VM, Stopped VM, Storage and Network in that order, plus the
// two subscriptions; subtotals per invoice.h (sums of displayed lines). For paging tests and
// the benchmarks (a 40-line and a 2,000-line invoice).
engine::invoicing::Invoice ManyLineInvoice(int lines);

}  // namespace meterd::testing
