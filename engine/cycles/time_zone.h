// meterd — engine/cycles/time_zone.h
//
// An IANA time zone from the system's tz database (/usr/share/zoneinfo, Debian's tzdata), read
// through Howard Hinnant's date/tz (Debian libhowardhinnant-date-dev: libdate-tz, built with
// USE_OS_TZDB=1). It maps UTC instants to local civil days (storage/base/calendar.h day
// numbers) and local days back to the UTC instant they start at. Nothing here is a table of
// offsets: every offset and transition comes from the system's files.
//
// Range: kZonedFrom <= t < kZonedUntil (1970-01-01 to 2038-01-01 UTC). The system's TZif files
// list transitions explicitly only up to 2037, and libdate-tz does not evaluate their POSIX
// footer rule, so a later instant would silently lose daylight saving time; it is refused
// (OutOfRange) instead. docs/billing-cycles.md, "Range".
//
// Thread-safety: a TimeZone is an immutable value; its zone is owned by the process-wide tz
// database, which is loaded once (thread-safe) and never freed. Copy it freely.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "storage/base/calendar.h"
#include "storage/base/result.h"

namespace date {
class time_zone;
}

namespace meterd::engine::cycles {

// The instants whose zone offsets the system's tz database gives exactly.
constexpr int64_t kZonedFrom = 0;            // 1970-01-01T00:00:00Z
constexpr int64_t kZonedUntil = 2145916800;  // 2038-01-01T00:00:00Z

class TimeZone {
 public:
  // The zone named `name` ("Europe/London", "Asia/Kolkata", "UTC", a link such as
  // "Asia/Calcutta"). NotFound-style errors are InvalidArgument naming the zone: an unknown
  // name, an empty one, or a "right/" zone (leap-second clocks, not civil time).
  static Result<TimeZone> Find(std::string_view name);
  // UTC, always present.
  static TimeZone Utc();

  const std::string& name() const { return name_; }

  // Seconds east of UTC in force at instant `t`. REQUIRES: kZonedFrom <= t < kZonedUntil.
  int64_t OffsetAt(int64_t t) const;
  // The local civil day (days since 1970-01-01) of instant `t`. REQUIRES: as OffsetAt.
  int64_t LocalDayOf(int64_t t) const { return base::DayOf(t + OffsetAt(t)); }
  // The first instant of local day `day`: local midnight; where midnight does not exist (a
  // transition skips it) the transition instant, the first that reads as that day; where it
  // occurs twice, the earlier. Non-decreasing in `day`; equal for consecutive days only when
  // a whole local day is skipped (Pacific/Apia, 2011-12-30). REQUIRES: the result and
  // midnight's UTC reading lie in [kZonedFrom, kZonedUntil) (callers check with DayStartInRange).
  int64_t DayStart(int64_t day) const;
  // Whether DayStart(day) is defined: the day lies a whole day inside [kZonedFrom,
  // kZonedUntil), so its midnight is there in every zone (offsets are within ±1 day).
  static bool DayStartInRange(int64_t day);

  // The tz database's version ("2025b"), from /usr/share/zoneinfo/tzdata.zi; "unknown" when
  // the system does not say.
  static std::string DatabaseVersion();

 private:
  TimeZone(const date::time_zone* zone, std::string name) : zone_(zone), name_(std::move(name)) {}

  const date::time_zone* zone_;  // not owned: the process-wide tz database's
  std::string name_;
};

}  // namespace meterd::engine::cycles
