// meterd — net/http/json_format.h
//
// How the HTTP API writes and reads the values its JSON carries (docs/http-api.md):
//   - money: micro-credits as a decimal string of credits with six decimals ("12.500000",
//     "-0.000001"), always next to the exact integer (`amount_micro`); never a float;
//   - times: RFC 3339 in UTC, whole seconds ("2026-11-01T00:00:00Z"); query parameters take
//     RFC 3339 (Z or a numeric offset) or unix seconds;
//   - 128-bit quantities (usage integrals and increases): decimal strings;
//   - wire error codes to HTTP statuses.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/schema/meterd_generated.h"

namespace meterd::net {

// micro-credits -> "12.500000".
std::string FormatCredits(int64_t micro);
// unix seconds -> "2026-11-01T00:00:00Z" (base::FormatRfc3339, as meterctl writes it).
std::string FormatRfc3339(int64_t unix_seconds);
// "2026-11-01T00:00:00Z", "2026-11-01T01:00:00+01:00" or "1793491200" -> unix seconds
// (base::ParseTimestamp, as meterctl reads it).
std::optional<int64_t> ParseTime(std::string_view text);
// Exact decimal text of a 128-bit unsigned integer.
std::string FormatU128(unsigned __int128 v);
// The HTTP status that carries a wire error code.
unsigned HttpStatusOf(wire::ErrorCode code);

}  // namespace meterd::net
