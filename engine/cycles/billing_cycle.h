// meterd — engine/cycles/billing_cycle.h
//
// Billing cycles: which period of an account's cycle contains an instant, and the periods
// before and after it, as UTC instants. A cycle is cut on the account's local civil days
// (its IANA time zone, engine/cycles/time_zone.h): monthly on the calendar month, monthly
// anchored on a day of the month, daily, weekly from a weekday, quarterly, yearly. A period is
// [start, end) in UTC seconds; it bills the UTC hour buckets that start inside it
// ([first_hour, end_hour)). The rules, the anchors on the 29th-31st, DST and zones with
// half-hour and 45-minute offsets: docs/billing-cycles.md.
//
// Pure functions of (cycle, zone, instant): no state, no I/O beyond the tz database's first
// load. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/cycles/time_zone.h"
#include "storage/base/result.h"
#include "storage/base/status.h"

namespace meterd::engine::cycles {

enum class CycleKind : uint8_t {
  kMonthly = 1,          // calendar months, from the 1st
  kMonthlyAnchored = 2,  // months from `anchor_day` (the day the account started)
  kDaily = 3,
  kWeekly = 4,     // weeks from `week_start`
  kQuarterly = 5,  // calendar quarters: January, April, July, October
  kYearly = 6,     // calendar years
};

struct Cycle {
  CycleKind kind = CycleKind::kMonthly;
  unsigned anchor_day = 1;  // kMonthlyAnchored: 1..31 (see PeriodStartDay for 29-31)
  unsigned week_start = 1;  // kWeekly: 0 = Sunday ... 6 = Saturday (default Monday)

  bool operator==(const Cycle&) const = default;
};

// "monthly", "monthly_anchored", "daily", "weekly", "quarterly", "yearly".
std::string_view CycleKindName(CycleKind kind);
std::optional<CycleKind> ParseCycleKind(std::string_view name);
// "sunday" ... "saturday"; parsing also takes "sun" ... "sat", any case.
std::string_view WeekdayName(unsigned weekday);
std::optional<unsigned> ParseWeekday(std::string_view name);
// InvalidArgument naming the field when the anchor or weekday is out of range.
Status ValidateCycle(const Cycle& cycle);

// ---- Local civil days (no zone): storage/base/calendar.h day numbers ----

// The first local day of the period containing local day `day`. kMonthlyAnchored with anchor A
// starts each period on day min(A, days in that month): anchored on the 31st, periods start on
// Jan 31, Feb 28 (29), Mar 31, Apr 30, ...; never drifting to an earlier day for good.
// REQUIRES: ValidateCycle(cycle).ok().
int64_t PeriodStartDay(const Cycle& cycle, int64_t day);
// The first local day of the period after (before) the one starting on `start_day`.
// REQUIRES: start_day is a PeriodStartDay value.
int64_t NextPeriodStartDay(const Cycle& cycle, int64_t start_day);
int64_t PreviousPeriodStartDay(const Cycle& cycle, int64_t start_day);

// ---- UTC instants ----

struct Period {
  int64_t start = 0;      // UTC second of the first local day's start (TimeZone::DayStart)
  int64_t end = 0;        // UTC second of the next period's start; start < end
  int64_t start_day = 0;  // local civil days [start_day, end_day)
  int64_t end_day = 0;

  // The UTC hour buckets the period bills: every h (a multiple of 3600) with start <= h < end.
  // A bucket that straddles a boundary belongs to the period its first second is in.
  int64_t first_hour() const { return CeilHour(start); }
  int64_t end_hour() const { return CeilHour(end); }

  bool operator==(const Period&) const = default;

 private:
  static int64_t CeilHour(int64_t t) {
    return base::FloorDiv(t + base::kSecondsPerHour - 1, base::kSecondsPerHour) *
           base::kSecondsPerHour;
  }
};

// The period of `cycle` in zone `zone` containing instant `t` (start <= t < end).
// InvalidArgument for a bad cycle; OutOfRange when t or the period's bounds fall outside
// [kZonedFrom, kZonedUntil) (a day inside, TimeZone::DayStartInRange).
Result<Period> PeriodContaining(const Cycle& cycle, const TimeZone& zone, int64_t t);
// The period right after (before) `p`, which must be a period of the same cycle and zone.
// A local day the zone skips entirely (Pacific/Apia, 2011-12-30) is no daily period of its
// own: the periods are never empty.
Result<Period> NextPeriod(const Cycle& cycle, const TimeZone& zone, const Period& p);
Result<Period> PreviousPeriod(const Cycle& cycle, const TimeZone& zone, const Period& p);

}  // namespace meterd::engine::cycles
