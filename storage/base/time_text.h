// meterd — storage/base/time_text.h: instants as text, the one parser and formatter of
// RFC 3339 times every interface uses (meterctl's arguments and CSV, the HTTP API's query
// parameters and JSON), on the calendar of storage/base/calendar.h.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace meterd::base {

// Unix seconds ("1767225600") or RFC 3339 ("2026-01-01T00:00:00Z", "...+02:00"; 'T', 't' or a
// space between date and time; a fraction of a second is allowed only when it is zero: samples
// are per second).
std::optional<int64_t> ParseTimestamp(std::string_view text);
// Whether `text` is a date and time that ParseTimestamp refuses only for want of a time zone
// ("2026-11-01 00:00:00", "2026-11-01T00:00:00"): it names a different instant in every zone,
// so callers say so instead of calling it malformed.
bool LacksTimeZone(std::string_view text);
// RFC 3339 in UTC, "2026-01-01T00:00:00Z" (any int64 instant).
std::string FormatRfc3339(int64_t unix_seconds);

}  // namespace meterd::base
