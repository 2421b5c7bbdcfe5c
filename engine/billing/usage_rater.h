// meterd — engine/billing/usage_rater.h
//
// UsageRater: what the billing clock needs of rating, as an interface so the clock can be
// driven by the server's rating engine (engine/service) or by a test's own arithmetic.
//
// Thread-safety: implementations are called from the clock's thread and from request threads
// (provisional balances, can-create); they must be thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/pricebook/money.h"
#include "engine/rating/month_to_date.h"
#include "storage/base/result.h"

namespace meterd::engine::billing {

using pricebook::MicroCredits;

struct AccountCharges {
  MicroCredits usage = 0;    // usage lines
  MicroCredits fees = 0;     // subscription fees due in the window
  bool provisional = false;  // some hour of the window is still open
  MicroCredits total() const { return usage + fees; }
};
using ChargesByAccount = std::unordered_map<std::string, AccountCharges>;

class UsageRater {
 public:
  virtual ~UsageRater() = default;
  // The charges of each account for the whole hours [from, to) within one calendar month (UTC),
  // the month's earlier usage counted towards its tiers, caps and allowances: the change of the
  // account's month-to-date rated amount from `from` to `to` (engine/rating/rating_engine.h,
  // "Lines"). `account` empty: every account; else that account only (NotFound if unknown).
  virtual Result<ChargesByAccount> Rate(int64_t from, int64_t to, std::string_view account) = 0;
  // Rate of [from, to) for every account, incrementally: `state` holds the month's hours
  // before `from` (rating::MonthToDate, RatingEngine::RateMonthToDate) and absorbs [from, to),
  // so that the cost is that of the window's rows. Same answer as Rate(from, to, "").
  // NotSupported (the default): the clock uses Rate. On any error the state is Clear()ed.
  virtual Result<ChargesByAccount> RateMonthToDate(int64_t from, int64_t to,
                                                   rating::MonthToDate* state) {
    (void)from;
    (void)to;
    state->Clear();
    return Status::NotSupported("this rater has no month-to-date rating");
  }
  // A mark of the revisions that survives a restart: two equal marks mean that no closed
  // hour's usage was revised between them, even across restarts (docs/ledger.md, "Month-to-date
  // state"). The clock keeps its month-to-date state with the watermark together with this
  // mark, and a restarted clock trusts the kept state (and skips re-rating the month so far)
  // only when the mark is unchanged. nullopt (the default): the rater has none; the clock then
  // neither keeps nor trusts a state, and a restart re-rates the month once.
  virtual std::optional<std::string> DurableRevisionMark() { return std::nullopt; }
  // Restores `state` from MonthToDate::Serialize's bytes against the rater's current catalog
  // (RatingEngine::RestoreMonthToDate): InvalidArgument when they belong to another catalog or
  // do not parse. NotSupported (the default): the clock keeps no state.
  virtual Status RestoreMonthToDate(std::string_view bytes, rating::MonthToDate* state) {
    (void)bytes;
    state->Clear();
    return Status::NotSupported("this rater restores no month-to-date state");
  }
  // Hours before this second are closed (the rollup grace period has passed): their usage
  // changes only by revisions.
  virtual int64_t ClosedBefore() = 0;
  // A number that changes whenever what a closed hour rates to may have changed: a revision of
  // its usage (late data, backfill, rebuild) or of the catalog (an apply reaching back to a
  // closed hour). The clock re-rates the month-to-date only when it moved.
  virtual uint64_t RevisionMark() = 0;
};

}  // namespace meterd::engine::billing
