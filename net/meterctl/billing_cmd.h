// meterd — net/meterctl/billing_cmd.h: `meterctl apply FILE` (the billing catalog: tenancy,
// price book versions, subscriptions; docs/rating.md), `meterctl estimate --plan P
// --location L [--hours N]` (the price of a plan before a VM is created), `meterctl charges`
// (rated charges of a period) and `meterctl rerate` (a period re-rated under another price
// book version, with the difference per line).
//
// Thread-safety: not synchronised (one command per process).
#pragma once

#include <string>
#include <vector>

#include "net/client/client.h"
#include "net/meterctl/table.h"

namespace meterd::cli {

// Exit code: 0 applied or unchanged, 1 refused (errors printed with their lines; JSON: an
// object with "applied": false and "errors") or failure.
int RunApply(net::Client* client, const std::string& path, bool dry_run, Format format);
// Prints an ApplyCatalogReply frame as RunApply does (`label` prefixes its errors); the exit code.
int PrintApplyReply(const std::vector<uint8_t>& frame, const std::string& label, bool dry_run,
                    Format format);

struct EstimateOptions {
  std::string plan, location, storage_tier, currency;
  int64_t hours = 730;
  int64_t at = 0;
};
int RunEstimate(net::Client* client, const EstimateOptions& options, Format format);

struct ChargesOptions {
  int64_t from = 0, to = 0;
  wire::ChargeScope scope = wire::ChargeScope::All;
  std::string scope_id;
  wire::ChargeGroupBy group_by = wire::ChargeGroupBy::Product;
  std::string currency;
};
// Lines with product, quantity, unit, unit price and cost, then the totals per group and the
// unattributed usage. CSV: the lines only (one CSV document). JSON: one object, {"lines": [...],
// "totals": [...], "provisional", "unattributed", "unpriced", "unrated": [...]}.
int RunCharges(net::Client* client, const ChargesOptions& options, Format format);

// Lines with product, quantity and the actual (versions in force), re-rated (`query.version`)
// and difference amounts in credits, then the same per group and in all. CSV: the lines only
// (a booked re-rate's bookings go to stderr). JSON: one object,
// {"version", "lines": [...], "totals": [...], "actual_display", "rerated_display", ...}.
int RunReRate(net::Client* client, const net::ReRateQuery& query, Format format);

}  // namespace meterd::cli
