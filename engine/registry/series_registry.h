// meterd — engine/registry/series_registry.h
//
// The persistent series directory. A series is (resource, metric); its id is XXH3-64 of the
// canonical key "resource|metric", so agents compute ids without a round trip and the server
// checks them. The directory maps every id to its key, value type, metric kind and owner (the
// hypervisor whose agent defined it; agents may ingest only for series their hypervisor owns).
// The owner follows the resource: SetResourceOwner (called when an agent reports a resource,
// engine/tenancy/resource_hosts.h) moves every series of that resource to the hypervisor that
// now runs it, so a live-migrated VM keeps its series and its counters, and series.log keeps
// only who defined a series first.
//
// Invariants: ids are unique and each id's key never changes; a definition whose id collides
// with another key, or whose id is not the hash of its key, is refused. Definitions are
// durable (series.log, docs/format-registry.md) before Define returns. At Open the first
// intact record of an id wins; a damaged record, or an intact one that is malformed (unknown
// version, type or kind, trailing bytes, an id that is not its key's hash), is skipped and
// counted in load_report(), and every intact definition after it is kept.
//
// Thread-safety: thread-safe. Lookups take a shared lock and may run concurrently with each
// other; Define takes the exclusive lock only to publish, after its records are on disk.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/catalog.h"
#include "engine/registry/record_log.h"
#include "storage/base/result.h"

namespace meterd::engine {

struct SeriesInfo {
  uint64_t id = 0;
  std::string resource;
  std::string metric;
  storage::ValueType type = storage::ValueType::kInt;
  MetricKind kind = MetricKind::kGauge;
  std::string owner;  // hypervisor, or empty: defined by an admin, no agent may ingest
};

// What ingest needs per sample, packed.
struct SeriesSlot {
  storage::ValueType type;
  MetricKind kind;
  uint32_t owner;  // interned hypervisor, 0 = none
  uint32_t index;  // dense index, 0..size-1, stable for the life of the process
};

struct SeriesDefinition {
  uint64_t id;
  std::string_view resource;
  std::string_view metric;
};

struct DefineOutcome {
  uint32_t defined = 0;
  uint32_t existing = 0;
  uint32_t refused = 0;
  std::vector<std::pair<uint32_t, Status>> first_refusals;  // (index, reason), at most 8
};

class SeriesRegistry {
 public:
  // File operations go through `env` (not owned; must outlive the registry).
  static Result<std::unique_ptr<SeriesRegistry>> Open(const std::string& dir,
                                                      const MetricCatalog* catalog,
                                                      storage::Env* env = storage::Env::Default());

  static std::string CanonicalKey(std::string_view resource, std::string_view metric);
  static uint64_t IdOf(std::string_view resource, std::string_view metric);
  // Resource ids: 1-128 bytes of printable ASCII without '|' or spaces.
  static Status ValidateResourceId(std::string_view resource);

  // Defines series owned by `owner` (a hypervisor; empty for admin definitions). An existing
  // series with the same key counts as `existing` when the caller may use it: an admin always,
  // an agent only when its hypervisor owns it (else PermissionDenied).
  Result<DefineOutcome> Define(std::span<const SeriesDefinition> defs, std::string_view owner,
                               bool is_admin);
  // `hypervisor` (non-empty) now runs `resource`: it owns the resource's series, present and
  // future, and no other agent may define or ingest them. Not logged (the caller's directory
  // is durable and calls this again at start-up).
  void SetResourceOwner(std::string_view resource, std::string_view hypervisor);

  // Looks ids up under one shared lock; out[i].index is UINT32_MAX for an undefined id.
  void LookupMany(std::span<const uint64_t> ids, SeriesSlot* out) const;
  bool Lookup(uint64_t id, SeriesInfo* out) const;
  // The interned id of a hypervisor (0 when it owns nothing yet).
  uint32_t OwnerId(std::string_view hypervisor) const;
  // Series matching the filters (empty = any), sorted by resource, metric.
  std::vector<SeriesInfo> Matching(std::string_view resource, std::string_view metric) const;

  size_t size() const;
  // The series defined after the first `first`, in definition order (definitions are only ever
  // appended, so Since(k) is exactly what a caller that has seen k series lacks).
  std::vector<SeriesInfo> Since(size_t first) const;
  // Bumped whenever a definition is added; callers caching lookups compare it.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // What Open found damaged or refused in series.log (RecordLogReport; detail empty = clean).
  const RecordLogReport& load_report() const { return load_report_; }
  const std::string& load_damage() const { return load_report_.detail; }

 private:
  SeriesRegistry(const MetricCatalog* catalog) : catalog_(catalog) {}
  Status Replay(std::string_view record);
  void Insert(SeriesInfo info);  // REQUIRES: mu_ held exclusively
  uint32_t InternOwner(std::string_view hypervisor);

  const MetricCatalog* catalog_;
  std::unique_ptr<RecordLog> log_;
  std::mutex define_mu_;  // serialises Define (log appends)
  mutable std::shared_mutex mu_;
  std::unordered_map<uint64_t, uint32_t> by_id_;  // GUARDED_BY(mu_) id -> index
  std::unordered_map<std::string, std::vector<uint32_t>> by_resource_;  // GUARDED_BY(mu_)
  std::vector<SeriesInfo> infos_;                                       // GUARDED_BY(mu_)
  std::vector<SeriesSlot> slots_;                                       // GUARDED_BY(mu_)
  std::unordered_map<std::string, uint32_t> owners_;             // GUARDED_BY(mu_) hypervisor -> id
  std::unordered_map<std::string, std::string> resource_owner_;  // GUARDED_BY(mu_) resource -> host
  std::atomic<uint64_t> generation_{0};
  RecordLogReport load_report_;
};

}  // namespace meterd::engine
