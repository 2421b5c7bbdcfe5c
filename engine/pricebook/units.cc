// meterd — engine/pricebook/units.cc
#include "engine/pricebook/units.h"

#include <vector>

namespace meterd::engine::pricebook {
namespace {

constexpr uint64_t kKiB = 1ull << 10, kMiB = 1ull << 20, kGiB = 1ull << 30, kTiB = 1ull << 40;
constexpr uint64_t kK = 1000, kM = 1000 * kK, kG = 1000 * kM, kT = 1000 * kG;
constexpr uint64_t kHourFactor = 3600;

struct UnitRow {
  const char* name;
  uint64_t divisor;
};

// The units a metric of this kind and unit may be billed in.
std::vector<UnitRow> UnitsFor(MetricKind kind, std::string_view metric_unit) {
  switch (kind) {
    case MetricKind::kState:
      return {{"h", kHourFactor}, {"min", 60}, {"s", 1}};
    case MetricKind::kGauge:
      if (metric_unit == "bytes") {
        return {{"GiB·h", kHourFactor * kGiB}, {"GB·h", kHourFactor * kG},
                {"MiB·h", kHourFactor * kMiB}, {"MB·h", kHourFactor * kM},
                {"TiB·h", kHourFactor * kTiB}, {"TB·h", kHourFactor * kT}};
      }
      return {{"h", kHourFactor}, {"min", 60}, {"s", 1}};
    case MetricKind::kCounter:
      if (metric_unit == "bytes") {
        return {{"B", 1},      {"KB", kK},    {"MB", kM},    {"GB", kG},   {"TB", kT},
                {"KiB", kKiB}, {"MiB", kMiB}, {"GiB", kGiB}, {"TiB", kTiB}};
      }
      if (metric_unit == "ops") {
        return {{"ops", 1}, {"thousand ops", kK}, {"million ops", kM}};
      }
      if (metric_unit == "ns") {
        return {{"s", kG}, {"h", kHourFactor * kG}};
      }
      if (metric_unit == "s") {
        return {{"s", 1}, {"h", kHourFactor}};
      }
      return {};
  }
  return {};
}

}  // namespace

std::string CanonicalUnit(std::string_view unit) {
  std::string out;
  for (size_t i = 0; i < unit.size(); ++i) {
    const char c = unit[i];
    if (c == '.' || c == '*' || c == '-') {
      out += "·";
    } else if (c == '\xC2' && i + 1 < unit.size() && unit[i + 1] == '\xB7') {
      out += "·";
      ++i;
    } else {
      out += c;
    }
  }
  return out;
}

Result<BillingUnit> ResolveUnit(MetricKind kind, std::string_view metric_unit,
                                std::string_view unit) {
  const std::string canonical = CanonicalUnit(unit);
  std::vector<UnitRow> rows = UnitsFor(kind, metric_unit);
  if (rows.empty()) rows.push_back({nullptr, 1});  // a custom unit: its own name, divisor 1
  std::string allowed;
  for (const UnitRow& r : rows) {
    const std::string name = r.name ? r.name : std::string(metric_unit);
    if (name == canonical) return BillingUnit{name, r.divisor};
    if (!allowed.empty()) allowed += ", ";
    allowed += name;
  }
  return Status::InvalidArgument("\"" + std::string(unit) + "\" is not a billing unit of a " +
                                 MetricKindName(kind) + " in " + std::string(metric_unit) +
                                 " (one of: " + allowed +
                                 "; or give `divisor` for a unit of your own)");
}

}  // namespace meterd::engine::pricebook
