// meterd — engine/cycles/time_zone.cc: IANA zones through libdate-tz (engine/cycles/time_zone.h).
#include "engine/cycles/time_zone.h"

#include <date/tz.h>

#include <chrono>
#include <exception>
#include <fstream>

namespace meterd::engine::cycles {

Result<TimeZone> TimeZone::Find(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("time zone: empty name (e.g. Europe/London)");
  if (name.starts_with("right/")) {
    return Status::InvalidArgument("time zone \"" + std::string(name) +
                                   "\": a right/ zone counts leap seconds; use the civil zone "
                                   "without the prefix");
  }
  try {
    const date::time_zone* zone = date::locate_zone(name);
    return TimeZone(zone, std::string(name));
  } catch (const std::exception& e) {
    // libdate-tz throws std::runtime_error for an unknown name (and for an unreadable database).
    return Status::InvalidArgument("unknown time zone \"" + std::string(name) +
                                   "\" (an IANA name such as Europe/London; tz database " +
                                   DatabaseVersion() + ")");
  }
}

TimeZone TimeZone::Utc() {
  Result<TimeZone> utc = Find("UTC");
  METERD_CHECK(utc.ok(), "the system tz database has no UTC zone (is tzdata installed?)");
  return std::move(utc).value();
}

int64_t TimeZone::OffsetAt(int64_t t) const {
  const date::sys_seconds at{std::chrono::seconds(t)};
  return zone_->get_info(at).offset.count();
}

bool TimeZone::DayStartInRange(int64_t day) {
  return day >= kZonedFrom / base::kSecondsPerDay + 1 &&
         day < kZonedUntil / base::kSecondsPerDay - 1;
}

int64_t TimeZone::DayStart(int64_t day) const {
  const int64_t midnight = day * base::kSecondsPerDay;  // local midnight, read as if UTC
  const date::local_seconds local{std::chrono::seconds(midnight)};
  const date::local_info info = zone_->get_info(local);
  switch (info.result) {
    case date::local_info::unique:
      return midnight - info.first.offset.count();
    case date::local_info::nonexistent:
      // Clocks jump over midnight: the day starts when the new offset takes effect.
      return info.second.begin.time_since_epoch().count();
    case date::local_info::ambiguous:
      // Midnight occurs twice: the day starts at its first occurrence (the earlier offset).
      return midnight - info.first.offset.count();
  }
  return midnight - info.first.offset.count();  // not reached
}

std::string TimeZone::DatabaseVersion() {
  // libdate-tz reads the version only from +VERSION, which Debian's tzdata does not ship;
  // tzdata.zi's first line says it ("# version 2025b").
  std::ifstream in("/usr/share/zoneinfo/tzdata.zi");
  std::string line;
  if (in && std::getline(in, line) && line.starts_with("# version ")) return line.substr(10);
  return "unknown";
}

}  // namespace meterd::engine::cycles
