// meterd — query/scan/period.cc: period boundaries (query/scan/period.h).
#include "query/scan/period.h"

#include <limits>

namespace meterd::query {

using scan::FloorDiv;
using scan::kSecondsPerDay;

namespace {

// start * unit, clamped to the int64 range (only reached near the ends of time).
int64_t ScaleClamped(int64_t start, int64_t unit) {
  const __int128 v = static_cast<__int128>(start) * unit;
  if (v < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  if (v > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(v);
}

}  // namespace

int64_t PeriodStart(Granularity g, int64_t ts) {
  switch (g) {
    case Granularity::kHour:
      return ScaleClamped(FloorDiv(ts, storage::kSecondsPerHour), storage::kSecondsPerHour);
    case Granularity::kDay:
      return ScaleClamped(FloorDiv(ts, kSecondsPerDay), kSecondsPerDay);
    case Granularity::kMonth:
      return ScaleClamped(base::MonthStartDay(FloorDiv(ts, kSecondsPerDay)), kSecondsPerDay);
  }
  return ts;  // not reached: every Granularity is handled above
}

namespace scan {

int64_t NextPeriodStart(Granularity g, int64_t start) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  switch (g) {
    case Granularity::kHour:
      return start > kMax - storage::kSecondsPerHour ? kMax : start + storage::kSecondsPerHour;
    case Granularity::kDay:
      return start > kMax - kSecondsPerDay ? kMax : start + kSecondsPerDay;
    case Granularity::kMonth:
      return ScaleClamped(base::NextMonthStartDay(FloorDiv(start, kSecondsPerDay)), kSecondsPerDay);
  }
  return kMax;
}

}  // namespace scan
}  // namespace meterd::query
