// meterd — engine/registry/metric_store.h
//
// Makes the metric catalog's custom metrics durable: each definition is a record of
// metrics.log (docs/format-registry.md), replayed into the catalog at start. A damaged or
// malformed record is skipped and counted in load_report(); the intact ones after it are kept.
//
// Thread-safety: thread-safe (Define is serialised; the catalog is itself thread-safe).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "engine/catalog.h"
#include "engine/registry/record_log.h"

namespace meterd::engine {

class MetricStore {
 public:
  // File operations go through `env` (not owned; must outlive the store).
  static Result<std::unique_ptr<MetricStore>> Open(const std::string& dir, MetricCatalog* catalog,
                                                   storage::Env* env = storage::Env::Default());
  // Defines a custom metric durably (see MetricCatalog::Define for the rules).
  Status Define(const MetricDef& def);
  // What Open found damaged or refused in metrics.log (detail empty = clean).
  const RecordLogReport& load_report() const { return load_report_; }
  const std::string& load_damage() const { return load_report_.detail; }

 private:
  explicit MetricStore(MetricCatalog* catalog) : catalog_(catalog) {}
  MetricCatalog* catalog_;
  std::mutex mu_;
  std::unique_ptr<RecordLog> log_;
  RecordLogReport load_report_;
};

}  // namespace meterd::engine
