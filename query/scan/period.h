// meterd — query/scan/period.h
//
// Usage periods (UTC, proleptic Gregorian), on the calendar of storage/base/calendar.h, exact
// for every int64 second the scan can meet, negative (pre-1970) ones included. PeriodStart
// (query/usage.h) and NextPeriodStart bound a period [start, next); the scan groups hourly rows
// by them.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "query/usage.h"
#include "storage/base/calendar.h"

namespace meterd::query::scan {

// The calendar arithmetic itself is storage/base/calendar.h (one module for every layer).
using base::FloorDiv;
using base::kSecondsPerDay;

// The start of the period after the one starting at `start` (a PeriodStart value). Saturates at
// INT64_MAX instead of overflowing.
int64_t NextPeriodStart(Granularity g, int64_t start);

}  // namespace meterd::query::scan
