// meterd — engine/pricebook/units.h
//
// Billing units and their exact conversion from the rollup quantity of a metric (the raw
// quantity: state seconds, gauge integral value x seconds, counter increase; docs/rollup.md).
// A unit is an integer divisor: quantity in billing units = raw / divisor, and a charge is
// raw x unit_price / divisor computed in 128 bits and rounded once (docs/rating.md, "Units").
//
//   metric kind, unit     billing unit       divisor
//   state (seconds)       h / min / s        3600 / 60 / 1
//   gauge, bytes          GiB·h  GB·h        3600 x 2^30   3600 x 10^9
//                         MiB·h  MB·h        3600 x 2^20   3600 x 10^6
//                         TiB·h  TB·h        3600 x 2^40   3600 x 10^12
//   gauge, other (vcpus,  h (that is vCPU·h, IP·h, ...)  3600
//     ips, ...)
//   counter, bytes        B KB MB GB TB      1, 10^3, 10^6, 10^9, 10^12
//                         KiB MiB GiB TiB    2^10, 2^20, 2^30, 2^40
//   counter, ops          ops / thousand ops / million ops    1 / 10^3 / 10^6
//   counter, ns           s / h              10^9 / 3600 x 10^9
//   subscription fee      month              1 (quantity = subscribed units)
//
// "·" may be written ".", "*" or "-" ("GiB.h" == "GiB·h"); the canonical name uses "·". A
// product may instead give its own unit label with an explicit divisor (custom metrics).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/catalog.h"
#include "storage/base/result.h"

namespace meterd::engine::pricebook {

struct BillingUnit {
  std::string name;  // canonical ("GiB·h")
  uint64_t divisor = 1;
};

// The unit `unit` for a metric of `kind` measured in `metric_unit` ("bytes", "ops", "ns",
// "state", "vcpus", ...). InvalidArgument naming the units allowed for that metric.
Result<BillingUnit> ResolveUnit(MetricKind kind, std::string_view metric_unit,
                                std::string_view unit);
// The canonical spelling ("GiB.h" -> "GiB·h"); the input when it is not a known unit.
std::string CanonicalUnit(std::string_view unit);

}  // namespace meterd::engine::pricebook
