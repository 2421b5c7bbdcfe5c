// meterd — engine/invoicing/invoice_builder.h
//
// BuildInvoice: one account's invoice for one period, from its rated lines, the revisions of
// periods already invoiced, its discounts and taxes and its balance (docs/invoices.md,
// "Building an invoice"). Pure: no I/O, the caller gathers the inputs (engine/invoicing/
// invoicer.h). Lines are the rated lines summed per (group, product, kind); each line's display
// amount is rounded once from its micro-credits; totals display as sums of displayed parts,
// so the printed invoice adds up. Discounts apply to the lines, taxes to the discounted base
// (docs/taxes-and-discounts.md). The invariants of invoice.h are checked before returning
// (Corruption if one fails: a bug, never a partial invoice).
//
// Thread-safety: pure function.
#pragma once

#include <functional>
#include <map>
#include <vector>

#include "engine/invoicing/invoice.h"
#include "engine/pricebook/money.h"
#include "storage/base/result.h"

namespace meterd::engine::invoicing {

// What the builder needs of one rated line (rating::ChargeLine), copied so it outlives the
// rating result.
struct RatedLine {
  LineKind kind = LineKind::kUsage;  // kUsage, kOneTimeFee or kMonthlyFee
  std::string group, product_id, product_name, unit;
  unsigned __int128 raw_quantity = 0;
  uint64_t divisor = 1;
  MicroCredits unit_price = 0;
  MicroCredits amount = 0;
};

struct BuildInput {
  // account, names, parties, period, zone, cycle, price_version, currency, rounding, created_at,
  // provisional: copied into the invoice as they are.
  Invoice header;
  pricebook::Currency currency;  // the display currency (header.currency is its snapshot)
  pricebook::RoundingMode rounding = pricebook::RoundingMode::kHalfEven;
  std::vector<RatedLine> rated;
  // Adjustments of months an earlier invoice covered, booked after it (charges, + = owed).
  std::map<int64_t, MicroCredits> revisions;
  // Periods covered by hours (invoice_period.h): the clock's revisions booked since the
  // previous invoice, less what this period's rating already holds of them, as one line
  // (charges, + = owed; docs/invoices.md, "Cycles").
  MicroCredits revisions_since_last = 0;
  // The account's balance now, before this invoice's discounts and taxes are booked.
  MicroCredits balance = 0;
  // Promotional credit (grants) the period's clock entries used (>= 0): shown apart, as much of
  // what the balance paid as it covers (docs/invoices.md, "Amount due").
  MicroCredits grants_used = 0;
  // Discounts of the lines (may be empty); taxes of the discounted base.
  std::function<Result<std::vector<DiscountLine>>(const std::vector<InvoiceLine>&)> discounts;
  // The taxes' printed remarks (reverse charge, VAT on top-up) go to *notes.
  std::function<Result<std::vector<TaxLine>>(MicroCredits base, std::vector<std::string>* notes)>
      taxes;
};

// The print order of groups: the seed's (Running VM, Stopped VM, Storage, Network, IP
// addresses, Snapshots), then any other group by name, then Subscriptions, then Adjustments.
int GroupRank(std::string_view group);
// The invoice group of a rated line: its product group, or "Other" (usage) or
// "Subscriptions" (fees) when it has none. Lines of one (group, product, kind) make one line.
std::string LineGroup(const RatedLine& r);

Result<Invoice> BuildInvoice(const BuildInput& in);

// The header's DisplayCurrency of a price book currency.
DisplayCurrency SnapshotOf(const pricebook::Currency& c);
// And back (to format amounts of a stored invoice).
pricebook::Currency CurrencyOf(const DisplayCurrency& c);

}  // namespace meterd::engine::invoicing
