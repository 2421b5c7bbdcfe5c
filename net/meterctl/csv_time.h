// meterd — net/meterctl/csv_time.h: timestamps and CSV fields as meterctl reads and writes them.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/base/time_text.h"

namespace meterd::cli {

// Times as text: storage/base/time_text.h (Unix seconds or RFC 3339; "no time zone" told apart).
using base::FormatRfc3339;
using base::LacksTimeZone;
using base::ParseTimestamp;

// Splits one CSV line into fields (RFC 4180 quoting; no embedded newlines).
bool SplitCsvLine(std::string_view line, std::vector<std::string>* fields);
// Quotes a field when it needs it.
std::string CsvField(std::string_view s);

// The value of an integer-typed metric as CSV writers spell it: an unsigned integer ("2") or a
// decimal that is exactly one ("2.0", "2.000", "1e3", "1.5e1"; pandas writes an integer column
// with missing values as floats). Exact: the text is never rounded through a double. Anything
// else is nullopt, and *why (when given) says why: "has a fractional part", "is negative",
// "is out of range" (above 2^64 - 1) or "is not a number".
std::optional<uint64_t> ParseIntegralValue(std::string_view text, std::string* why = nullptr);

// Shortest decimal text that reads back as exactly `v` ("nan", "inf", "-inf" for the rest).
std::string FormatDouble(double v);

}  // namespace meterd::cli
