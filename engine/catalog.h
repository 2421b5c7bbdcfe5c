// meterd — engine/catalog.h
//
// The metric catalog: every metric meterd knows, with its kind (which fixes how its hourly
// bucket is computed: docs/metrics.md), unit and value type. The built-in metrics are always
// present; custom metrics may be added with a kind and unit. A metric's definition never
// changes once in use: redefining a name with another kind, unit or type is refused, because
// buckets already computed under the old meaning would silently change money.
//
// Thread-safety: MetricCatalog is thread-safe (a mutex around a small map; lookups are rare,
// per series definition, never per sample).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/base/result.h"
#include "storage/base/status.h"
#include "storage/sample_batch.h"

namespace meterd::engine {

enum class MetricKind : uint8_t {
  kGauge = 1,    // a level; billed by its time-weighted integral (value x seconds)
  kCounter = 2,  // monotonic, may reset; billed by its increase
  kState = 3,    // an enum; billed by seconds spent in each state
};
const char* MetricKindName(MetricKind kind);
std::optional<MetricKind> ParseMetricKind(std::string_view name);

struct MetricDef {
  std::string name;  // e.g. "vm.cpu_time_ns"
  MetricKind kind;
  std::string unit;  // e.g. "ns", "bytes", "vcpus", "state"
  storage::ValueType type;
  std::string description;
  bool builtin = false;

  bool SameMeaning(const MetricDef& other) const {
    return kind == other.kind && unit == other.unit && type == other.type;
  }
};

// States of `vm.state`, stored as the integer value of the sample.
enum class VmState : uint64_t {
  kRunning = 1,
  kStopped = 2,
  kAllocated = 3,  // resources reserved, not running (billed like stopped by default)
  kPaused = 4,
  kSuspended = 5,
  kDeleted = 6,
};
const char* VmStateName(uint64_t state);

class MetricCatalog {
 public:
  MetricCatalog();  // holds the built-in metrics

  // The built-in metrics, in documentation order.
  static const std::vector<MetricDef>& Builtins();

  // Adds a custom metric. OK if an identical definition exists; AlreadyExists if the name is
  // taken with another kind, unit or type; InvalidArgument for a malformed name or unit.
  Status Define(const MetricDef& def);
  Result<MetricDef> Find(std::string_view name) const;
  std::vector<MetricDef> List() const;

  // Metric names: 1-64 characters of [a-z0-9_.], starting with a letter, no empty segment.
  static Status ValidateName(std::string_view name);

 private:
  mutable std::mutex mu_;
  std::map<std::string, MetricDef, std::less<>> metrics_;  // GUARDED_BY(mu_)
};

}  // namespace meterd::engine
