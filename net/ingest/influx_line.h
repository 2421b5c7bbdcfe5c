// meterd — net/ingest/influx_line.h
//
// The InfluxDB line protocol (v1 /write and v2 /api/v2/write bodies), one point per line:
//
//   measurement[,tag=value...] field=value[,field=value...] [timestamp]
//
// Escapes: a backslash before ',' or ' ' in a measurement, before ',', '=' or ' ' in a tag key,
// tag value or field key; inside a double-quoted string value before '"' or '\'. Field values:
// float (1, -1.5, 1e3; NaN and infinities refused), integer (12i), unsigned (12u), boolean
// (t, T, true, True, TRUE, f, F, false, False, FALSE) and string ("text"). The timestamp is an
// integer in `precision` units (ns when absent); a line without one takes `now_ns`. Empty lines
// and lines starting with '#' are skipped; a trailing CR is ignored.
//
// Every field of a line is one RawSample named <measurement>_<field> with the line's tags as
// labels. A line that cannot be read is refused whole (RawBatch::AddIssue: its number, the
// reason, the line); the other lines are kept.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "net/ingest/raw_sample.h"

namespace meterd::net::ingest {

// Nanoseconds per unit of a precision name: "ns" or "n" 1, "us" or "u" 1e3, "ms" 1e6, "s" 1e9,
// "m" 60e9, "h" 3600e9. nullopt for anything else.
std::optional<int64_t> InfluxPrecision(std::string_view name);

// Appends the points of `body` to `out`.
void ParseInfluxLines(std::string_view body, int64_t ns_per_unit, int64_t now_ns, RawBatch* out);

}  // namespace meterd::net::ingest
