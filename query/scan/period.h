// meterd — query/scan/period.h
//
// Calendar arithmetic for usage periods (UTC, proleptic Gregorian), without time-zone
// functions: Howard Hinnant's days_from_civil / civil_from_days, exact for every int64 day
// count the scan can meet, negative (pre-1970) ones included. PeriodStart (query/usage.h) and
// NextPeriodStart bound a period [start, next); the scan groups hourly rows by them.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "query/usage.h"

namespace meterd::query::scan {

constexpr int64_t kSecondsPerDay = 86400;

// Floor division (rounds towards negative infinity). REQUIRES: b > 0.
constexpr int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return q - ((a % b) < 0 ? 1 : 0);
}

// Days since 1970-01-01 of the civil date y-m-d. REQUIRES: 1 <= m <= 12, 1 <= d <= 31.
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);                 // [0, 399]
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct CivilMonth {
  int64_t year;
  unsigned month;  // 1..12
};

// The year and month of day `z` (days since 1970-01-01).
constexpr CivilMonth CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);                    // [0, 146096]
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  // [0, 365]
  const unsigned mp = (5 * doy + 2) / 153;                       // [0, 11]
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;                  // [1, 12]
  return CivilMonth{y + (m <= 2 ? 1 : 0), m};
}

// The start of the period after the one starting at `start` (a PeriodStart value). Saturates at
// INT64_MAX instead of overflowing.
int64_t NextPeriodStart(Granularity g, int64_t start);

}  // namespace meterd::query::scan
