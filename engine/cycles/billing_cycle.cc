// meterd — engine/cycles/billing_cycle.cc: billing periods (engine/cycles/billing_cycle.h).
#include "engine/cycles/billing_cycle.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>

#include "storage/base/calendar.h"

namespace meterd::engine::cycles {
namespace {

using base::CalendarUnit;

constexpr std::array<std::string_view, 7> kWeekdays = {"sunday",   "monday", "tuesday", "wednesday",
                                                       "thursday", "friday", "saturday"};

// The day an anchored period starts in month `ym`: the anchor, or the month's last day when the
// month is shorter.
int64_t AnchorDayIn(base::YearMonth ym, unsigned anchor) {
  return base::DaysFromCivil(ym.year, ym.month,
                             std::min(anchor, base::DaysInMonth(ym.year, ym.month)));
}

CalendarUnit UnitOf(CycleKind kind) {
  switch (kind) {
    case CycleKind::kDaily:
      return CalendarUnit::kDay;
    case CycleKind::kWeekly:
      return CalendarUnit::kWeek;
    case CycleKind::kQuarterly:
      return CalendarUnit::kQuarter;
    case CycleKind::kYearly:
      return CalendarUnit::kYear;
    case CycleKind::kMonthly:
    case CycleKind::kMonthlyAnchored:
      break;
  }
  return CalendarUnit::kMonth;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Utc(int64_t t) {
  const base::CivilDate c = base::CivilFromDays(base::DayOf(t));
  const int64_t s = t - base::DayOf(t) * base::kSecondsPerDay;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ",
                static_cast<long long>(c.year), c.month, c.day, static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

Status OutOfZoneRange(int64_t t) {
  return Status::OutOfRange("billing period at " + Utc(t) +
                            ": time zones are supported from 1970-01-02 to 2037-12-30 (the "
                            "system's tz files list transitions up to 2037)");
}

// The period starting on local day `start_day`.
Result<Period> FromStartDay(const Cycle& cycle, const TimeZone& zone, int64_t start_day) {
  const int64_t end_day = NextPeriodStartDay(cycle, start_day);
  if (!TimeZone::DayStartInRange(start_day)) return OutOfZoneRange(start_day * 86400);
  if (!TimeZone::DayStartInRange(end_day)) return OutOfZoneRange(end_day * 86400);
  return Period{zone.DayStart(start_day), zone.DayStart(end_day), start_day, end_day};
}

// A local day skipped whole by the zone gives an empty [start, start): step over it. Two
// steps bound it (no zone skips two consecutive periods' worth of days).
constexpr int kMaxSteps = 4;

}  // namespace

std::string_view CycleKindName(CycleKind kind) {
  switch (kind) {
    case CycleKind::kMonthly:
      return "monthly";
    case CycleKind::kMonthlyAnchored:
      return "monthly_anchored";
    case CycleKind::kDaily:
      return "daily";
    case CycleKind::kWeekly:
      return "weekly";
    case CycleKind::kQuarterly:
      return "quarterly";
    case CycleKind::kYearly:
      return "yearly";
  }
  return "unknown";
}

std::optional<CycleKind> ParseCycleKind(std::string_view name) {
  for (CycleKind k : {CycleKind::kMonthly, CycleKind::kMonthlyAnchored, CycleKind::kDaily,
                      CycleKind::kWeekly, CycleKind::kQuarterly, CycleKind::kYearly}) {
    if (CycleKindName(k) == name) return k;
  }
  return std::nullopt;
}

std::string_view WeekdayName(unsigned weekday) { return kWeekdays[weekday % 7]; }

std::optional<unsigned> ParseWeekday(std::string_view name) {
  const std::string lower = Lower(name);
  for (unsigned i = 0; i < kWeekdays.size(); ++i) {
    if (lower == kWeekdays[i] || lower == kWeekdays[i].substr(0, 3)) return i;
  }
  return std::nullopt;
}

Status ValidateCycle(const Cycle& cycle) {
  if (!ParseCycleKind(CycleKindName(cycle.kind))) {
    return Status::InvalidArgument("cycle: unknown kind " +
                                   std::to_string(static_cast<int>(cycle.kind)));
  }
  if (cycle.anchor_day < 1 || cycle.anchor_day > 31) {
    return Status::InvalidArgument("cycle: anchor_day must be 1..31, got " +
                                   std::to_string(cycle.anchor_day));
  }
  if (cycle.week_start > 6) {
    return Status::InvalidArgument("cycle: week_start must be 0 (sunday)..6 (saturday), got " +
                                   std::to_string(cycle.week_start));
  }
  return Status::OK();
}

int64_t PeriodStartDay(const Cycle& cycle, int64_t day) {
  if (cycle.kind == CycleKind::kMonthlyAnchored) {
    const base::CivilDate c = base::CivilFromDays(day);
    const base::YearMonth ym{c.year, c.month};
    const int64_t here = AnchorDayIn(ym, cycle.anchor_day);
    return day >= here ? here : AnchorDayIn(base::AddMonths(ym, -1), cycle.anchor_day);
  }
  return base::PeriodStartDay(UnitOf(cycle.kind), day, cycle.week_start);
}

int64_t NextPeriodStartDay(const Cycle& cycle, int64_t start_day) {
  if (cycle.kind == CycleKind::kMonthlyAnchored) {
    const base::CivilDate c = base::CivilFromDays(start_day);  // an anchor day of its own month
    return AnchorDayIn(base::AddMonths({c.year, c.month}, 1), cycle.anchor_day);
  }
  return base::NextPeriodStartDay(UnitOf(cycle.kind), start_day, cycle.week_start);
}

int64_t PreviousPeriodStartDay(const Cycle& cycle, int64_t start_day) {
  return PeriodStartDay(cycle, start_day - 1);
}

Result<Period> PeriodContaining(const Cycle& cycle, const TimeZone& zone, int64_t t) {
  METERD_RETURN_IF_ERROR(ValidateCycle(cycle));
  if (t < kZonedFrom || t >= kZonedUntil) return OutOfZoneRange(t);
  Result<Period> p = FromStartDay(cycle, zone, PeriodStartDay(cycle, zone.LocalDayOf(t)));
  // The local day of t names its period except around a transition that moves the clock back
  // over midnight, where t may read as the day before a period that has already begun: step.
  for (int i = 0; i < kMaxSteps && p.ok(); ++i) {
    if (t < p->start) {
      p = FromStartDay(cycle, zone, PreviousPeriodStartDay(cycle, p->start_day));
    } else if (t >= p->end) {
      p = FromStartDay(cycle, zone, NextPeriodStartDay(cycle, p->start_day));
    } else {
      return p;
    }
  }
  if (!p.ok()) return p;
  return Status::InvalidArgument("billing period: no period of the " +
                                 std::string(CycleKindName(cycle.kind)) + " cycle in " +
                                 zone.name() + " contains " + Utc(t));
}

Result<Period> NextPeriod(const Cycle& cycle, const TimeZone& zone, const Period& p) {
  METERD_RETURN_IF_ERROR(ValidateCycle(cycle));
  Result<Period> next = FromStartDay(cycle, zone, p.end_day);
  for (int i = 0; i < kMaxSteps && next.ok() && next->start == next->end; ++i) {
    next = FromStartDay(cycle, zone, next->end_day);
  }
  return next;
}

Result<Period> PreviousPeriod(const Cycle& cycle, const TimeZone& zone, const Period& p) {
  METERD_RETURN_IF_ERROR(ValidateCycle(cycle));
  Result<Period> prev = FromStartDay(cycle, zone, PreviousPeriodStartDay(cycle, p.start_day));
  for (int i = 0; i < kMaxSteps && prev.ok() && prev->start == prev->end; ++i) {
    prev = FromStartDay(cycle, zone, PreviousPeriodStartDay(cycle, prev->start_day));
  }
  return prev;
}

}  // namespace meterd::engine::cycles
