// meterd — engine/registry/legacy_resource_log.h
//
// Reads `resources.log`, where meterd kept agents' resource registrations before the registry
// of record moved to billing.db (engine/tenancy/resource_hosts.h). meterd imports it once at
// start-up (the id, type and hypervisor of each resource; the account, project, location and
// plan an agent sent were never used for rating and are not imported: attribution is the
// control plane's) and renames it `resources.log.imported`. Format: docs/format-registry.md.
//
// Thread-safety: a function of its file; call it before the server starts.
#pragma once

#include <string>
#include <vector>

#include "storage/base/result.h"

namespace meterd::engine {

struct LegacyResource {
  std::string id, type, account, project, location, plan;
  std::string owner;  // hypervisor that registered it; empty when an admin did
};

// The resources of the log at `path`, the last record of an id winning, sorted by id. Damage
// and malformed records are skipped (RecordLog's recovery rules) and described in *damage; a
// damaged record of an id leaves its previous intact record the last one.
Result<std::vector<LegacyResource>> ReadLegacyResourceLog(const std::string& path,
                                                          std::string* damage);

}  // namespace meterd::engine
