// meterd — engine/tenancy/resource_hosts.cc
#include "engine/tenancy/resource_hosts.h"

#include "engine/tenancy/document.h"

namespace meterd::engine::tenancy {
namespace {

constexpr size_t kMaxRefusals = 8;

}  // namespace

Result<std::unique_ptr<ResourceHosts>> ResourceHosts::Open(BillingDb* db) {
  std::unique_ptr<ResourceHosts> hosts(new ResourceHosts(db));
  METERD_ASSIGN_OR_RETURN(Transaction txn, db->Begin());
  METERD_ASSIGN_OR_RETURN(
      Statement st,
      txn.Prepare("SELECT resource, type, hypervisor, first_seen, moved_at FROM resource_hosts"));
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    HostedResource h{st.Text(0), st.Text(1), st.Text(2), st.Int(3), st.Int(4)};
    hosts->hosts_.emplace(h.resource, std::move(h));
  }
  txn.Rollback();
  return hosts;
}

Result<HostOutcome> ResourceHosts::Report(std::span<const HostReport> reports,
                                          std::string_view hypervisor, int64_t now,
                                          bool claim_only) {
  HostOutcome out;
  auto refuse = [&](uint32_t i, Status why) {
    ++out.refused;
    if (out.first_refusals.size() < kMaxRefusals) out.first_refusals.emplace_back(i, why);
  };
  std::lock_guard lock(mu_);
  // Staged first and published after the commit, so a failed write changes nothing.
  std::map<std::string, HostedResource, std::less<>> staged;
  std::vector<std::pair<std::string, std::string>> moves;  // (resource, from)
  for (uint32_t i = 0; i < reports.size(); ++i) {
    const HostReport& r = reports[i];
    if (!IsValidAgentId(r.resource)) {
      refuse(i, Status::InvalidArgument("resource id \"" + r.resource +
                                        "\" must be 1-128 printable ASCII bytes without spaces "
                                        "or '|'"));
      continue;
    }
    if (r.type.empty()) {
      refuse(i, Status::InvalidArgument("resource \"" + r.resource + "\" has no type"));
      continue;
    }
    auto prior = staged.find(r.resource);
    const HostedResource* known = nullptr;
    if (prior != staged.end()) {
      known = &prior->second;
    } else if (auto it = hosts_.find(r.resource); it != hosts_.end()) {
      known = &it->second;
    }
    if (known == nullptr) {
      staged[r.resource] = HostedResource{r.resource, r.type, std::string(hypervisor), now, 0};
      ++out.registered;
      if (!hypervisor.empty()) out.now_hosted.push_back(r.resource);
      continue;
    }
    if (claim_only && !(known->hypervisor.empty() && !hypervisor.empty())) {
      ++out.unchanged;  // held by a hypervisor (or an admin's claim of a known one): left alone
      continue;
    }
    HostedResource next = *known;
    if (!claim_only) next.type = r.type;
    const bool moves_here = !hypervisor.empty() && known->hypervisor != hypervisor;
    if (moves_here) {
      if (!known->hypervisor.empty()) moves.emplace_back(r.resource, known->hypervisor);
      next.hypervisor = std::string(hypervisor);
      next.moved_at = known->hypervisor.empty() ? 0 : now;
      ++out.moved;
      out.now_hosted.push_back(r.resource);
    } else if (known->type != r.type) {
      ++out.updated;
    } else {
      ++out.unchanged;
      continue;
    }
    staged[r.resource] = std::move(next);
  }
  if (staged.empty()) return out;
  {
    METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
    METERD_ASSIGN_OR_RETURN(
        Statement up,
        txn.Prepare("INSERT INTO resource_hosts(resource, type, hypervisor, first_seen, moved_at) "
                    "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(resource) DO UPDATE SET "
                    "type = excluded.type, hypervisor = excluded.hypervisor, "
                    "moved_at = excluded.moved_at"));
    for (const auto& [id, h] : staged) {
      up.Bind(1, h.resource).Bind(2, h.type).Bind(3, h.hypervisor).Bind(4, h.first_seen);
      up.Bind(5, h.moved_at);
      METERD_RETURN_IF_ERROR(up.Run());
      METERD_RETURN_IF_ERROR(up.Reset());
    }
    METERD_ASSIGN_OR_RETURN(Statement mv,
                            txn.Prepare("INSERT INTO resource_moves(resource, from_hypervisor, "
                                        "to_hypervisor, at) VALUES(?1, ?2, ?3, ?4)"));
    for (const auto& [id, from] : moves) {
      mv.Bind(1, id).Bind(2, from).Bind(3, hypervisor).Bind(4, now);
      METERD_RETURN_IF_ERROR(mv.Run());
      METERD_RETURN_IF_ERROR(mv.Reset());
    }
    METERD_RETURN_IF_ERROR(txn.Commit());
  }
  for (auto& [id, h] : staged) hosts_[id] = std::move(h);
  return out;
}

bool ResourceHosts::Find(std::string_view resource, HostedResource* out) const {
  std::lock_guard lock(mu_);
  auto it = hosts_.find(resource);
  if (it == hosts_.end()) return false;
  *out = it->second;
  return true;
}

std::vector<HostedResource> ResourceHosts::List() const {
  std::lock_guard lock(mu_);
  std::vector<HostedResource> out;
  out.reserve(hosts_.size());
  for (const auto& [id, h] : hosts_) out.push_back(h);
  return out;
}

size_t ResourceHosts::size() const {
  std::lock_guard lock(mu_);
  return hosts_.size();
}

}  // namespace meterd::engine::tenancy
