// meterd — engine/registry/resource_registry.h
//
// The resources the server knows: id, type, account, project, location, plan and the
// hypervisor whose agent registered it. The full tenancy model (effective-dated versions,
// domains, plans) comes with the rating layer; this directory is what the protocol carries
// now, kept durable in resources.log (docs/format-registry.md; the last record of an id wins).
//
// Thread-safety: thread-safe (one mutex; registration is rare).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "engine/registry/record_log.h"
#include "engine/registry/series_registry.h"

namespace meterd::engine {

struct ResourceInfo {
  std::string id, type, account, project, location, plan;
  std::string owner;  // hypervisor that registered it; empty when an admin did

  bool SameAttributes(const ResourceInfo& o) const {
    return type == o.type && account == o.account && project == o.project &&
           location == o.location && plan == o.plan;
  }
};

struct RegisterOutcome {
  uint32_t registered = 0;
  uint32_t updated = 0;
  uint32_t unchanged = 0;
  uint32_t refused = 0;
  std::vector<std::pair<uint32_t, Status>> first_refusals;
};

class ResourceRegistry {
 public:
  static Result<std::unique_ptr<ResourceRegistry>> Open(const std::string& dir);

  // Registers or updates resources. An agent (non-empty owner, !is_admin) may change only
  // resources its hypervisor registered.
  Result<RegisterOutcome> Register(std::span<const ResourceInfo> resources, std::string_view owner,
                                   bool is_admin);
  bool Find(std::string_view id, ResourceInfo* out) const;
  size_t size() const;
  const std::string& load_damage() const { return load_damage_; }

 private:
  ResourceRegistry() = default;
  std::unique_ptr<RecordLog> log_;
  mutable std::mutex mu_;
  std::map<std::string, ResourceInfo, std::less<>> resources_;  // GUARDED_BY(mu_)
  std::string load_damage_;
};

}  // namespace meterd::engine
