// meterd — net/meterctl/usage_format.h: how meterctl turns usage lines into the quantities a
// biller reads (docs/protocol.md, "Usage"):
//   gauge   the time-weighted integral per hour: value x seconds / 3600 in <unit>·h; a level in
//           bytes is shown in GiB·h (bytes x seconds / (3600 x 2^30));
//   counter the increase, an exact integer in the metric's unit;
//   state   seconds in each state, one row per state with time in it.
// Integer quantities are divided exactly (128-bit) and rounded half-even to six decimals, so
// what is printed never depends on floating point.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace meterd::cli {

// num / den rounded half-even to `decimals` digits, as decimal text ("12.500000").
// REQUIRES: den > 0, decimals <= 18.
std::string FormatQuotient(unsigned __int128 num, unsigned __int128 den, int decimals);
// Exact decimal text of a 128-bit unsigned integer.
std::string FormatU128(unsigned __int128 v);

// The billing unit of a gauge whose samples are in `unit`, and the divisor from value x seconds.
struct GaugeUnit {
  std::string unit;           // "GiB·h", "vcpus·h", ...
  unsigned __int128 divisor;  // value x seconds per one billing unit
};
GaugeUnit GaugeBillingUnit(const std::string& unit);

}  // namespace meterd::cli
