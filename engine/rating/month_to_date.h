// meterd — engine/rating/month_to_date.h
//
// MonthToDate: the month-to-date state of every priced line of one calendar month (UTC), so
// that rating one more hour costs that hour's rows plus the pricing groups it touches instead
// of a scan of the month so far (RatingEngine::RateMonthToDate, docs/rating.md §4).
//
// Per line (account, resource, product id; the month's): its usage so far as runs of one price
// book version each (raw quantity, 128-bit exact: the slices pricebook::PriceMonth takes), and
// its accrued amount (PriceMonth's rounded amount over those runs). Lines are kept per pricing
// group (one account's month of one product id), in resource order, as Price orders them.
// Invariants:
//   1. The state holds exactly the hours [month(), through()): every line's runs are the sums
//      a rating of that range would route to it, in time order, adjacent runs of one version
//      merged (merging never changes PriceMonth's result, pricing.h).
//   2. Every line's amount is PriceMonth of its group's runs: the accrued amount at through().
// Hence the change of a group's amounts over an hour is exactly what a full rating of the hour
// (the month's earlier usage counted) gives, caps, tiers, minimums and rounding included.
//
// The state also keeps the plan of its last window (PlanCache, rating_internal.h), which the
// next window of the same length reuses, shifted, when no version boundary lies between them
// (docs/rating.md, "Month to date"); it is never part of the answer, only of its cost.
//
// The state points into one catalog snapshot (tenancy indices, price book versions and
// products), which it keeps alive; a rating with another snapshot refuses it
// (FailedPrecondition) and the owner rebuilds it. Empty() states are accepted by any engine.
//
// Thread-safety: none; one owner (the billing clock) at a time. Movable, not copyable.
#pragma once

#include <cstdint>
#include <memory>

namespace meterd::engine::rating {

namespace internal {
struct MonthState;  // rating_internal.h
}

class MonthToDate {
 public:
  MonthToDate();
  ~MonthToDate();
  MonthToDate(MonthToDate&&) noexcept;
  MonthToDate& operator=(MonthToDate&&) noexcept;

  // An empty state of the month starting at `month_start` (a pricebook::MonthStart value):
  // it holds no hours, through() == month_start.
  void Reset(int64_t month_start);
  // No month at all (Reset not called, or Clear): only Reset makes it usable.
  void Clear();
  bool valid() const;

  int64_t month() const;    // month start (0 when !valid())
  int64_t through() const;  // the hours [month(), through()) are in the state
  size_t lines() const;     // priced lines held
  size_t groups() const;    // pricing groups held

  // The state as bytes (rating_month_io.cc has the layout): month, through, the fingerprint
  // of its catalog, and per pricing group its account and product id and per line its
  // resource, accrued amount and usage runs (price book version, raw quantity). The plan kept
  // for the next window is not part of it. RatingEngine::RestoreMonthToDate reads it back.
  // REQUIRES: valid().
  std::string Serialize() const;

  internal::MonthState* state() { return state_.get(); }  // the engine's
  const internal::MonthState* state() const { return state_.get(); }

 private:
  std::unique_ptr<internal::MonthState> state_;
};

}  // namespace meterd::engine::rating
