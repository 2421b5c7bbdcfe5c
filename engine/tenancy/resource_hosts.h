// meterd — engine/tenancy/resource_hosts.h
//
// ResourceHosts: the agents' side of the registry of record. The tenancy model (tenancy.h,
// written by the catalog document and by `meterctl resources create|update|delete`) says whose
// a resource is and what it is; agents only say that a resource exists and on which hypervisor
// it runs. This directory keeps that, in billing.db next to the tenancy (docs/ledger.md,
// "Resources and their hosts"):
//
//   resource_hosts(resource, type, hypervisor, first_seen, moved_at)   the current host
//   resource_moves(id, resource, from_hypervisor, to_hypervisor, at)   every move, append-only
//
// `resource` is the name the agent sends samples under: a resource id, or the agent id a
// resource declares (Tenancy::ResourceForSeries). A resource an agent reported that the tenancy
// does not know is *unattributed*: its usage is rated as unattributed, never dropped, and is
// billed from the hour the control plane attributes it.
//
// Report rules. An agent's report of a resource that another hypervisor holds is a live
// migration: the host moves to the reporting hypervisor (a resource_moves row), and with it the
// right to send the resource's samples (the caller updates SeriesRegistry's owners). An admin's
// report records a resource with no host (empty hypervisor) and never moves one.
//
// Thread-safety: thread-safe (one mutex; reports are rare: agent start-up, new VMs, moves).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/tenancy/billing_db.h"

namespace meterd::engine::tenancy {

struct HostedResource {
  std::string resource;
  std::string type;
  std::string hypervisor;  // empty: reported by an admin, no agent holds it
  int64_t first_seen = 0;  // unix second of the first report
  int64_t moved_at = 0;    // unix second of the last move (0: never moved)
};

struct HostReport {
  std::string resource;
  std::string type;
};

struct HostOutcome {
  uint32_t registered = 0;  // new
  uint32_t moved = 0;       // now on the reporting hypervisor (live migration)
  uint32_t updated = 0;     // same host, another type
  uint32_t unchanged = 0;
  uint32_t refused = 0;
  std::vector<std::pair<uint32_t, Status>> first_refusals;  // (index, reason), at most 8
  // Resources whose host is now the reporting hypervisor (registered or moved).
  std::vector<std::string> now_hosted;
};

class ResourceHosts {
 public:
  // Loads the directory. REQUIRES: TenancyStore::Open ran on `db` (it creates the tables), and
  // db outlives this object.
  static Result<std::unique_ptr<ResourceHosts>> Open(BillingDb* db);

  // Records what `hypervisor` (empty: an admin) reports, in one transaction, at unix second
  // `now`. A malformed entry is refused and counted; the others are kept. `claim_only` (what
  // samples arriving over HTTP imply, not a hypervisor's own listing): a resource another
  // hypervisor holds stays there and a known resource keeps its type (both `unchanged`).
  Result<HostOutcome> Report(std::span<const HostReport> reports, std::string_view hypervisor,
                             int64_t now, bool claim_only = false);

  bool Find(std::string_view resource, HostedResource* out) const;
  std::vector<HostedResource> List() const;  // sorted by resource
  size_t size() const;

 private:
  explicit ResourceHosts(BillingDb* db) : db_(db) {}
  BillingDb* db_;
  mutable std::mutex mu_;
  std::map<std::string, HostedResource, std::less<>> hosts_;  // GUARDED_BY(mu_)
};

}  // namespace meterd::engine::tenancy
