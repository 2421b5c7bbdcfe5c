// meterd — engine/service/meter_service_resources.cc: the registry of record for resources
// (docs/protocol.md, "Resources"). Two sides feed it:
//   - agents (RegisterResources): a resource exists on the agent's hypervisor. Recorded in
//     ResourceHosts; a report from another hypervisor is a live migration, and the right to
//     send the resource's series moves with it (SeriesRegistry::SetResourceOwner). What an
//     agent says of account, project, location or plan is not attribution and is ignored.
//   - the control plane (ResourceChange, admin): create, update or delete one resource of the
//     tenancy, effective at a given time, through the catalog's own apply (validation, one
//     transaction, the revision mark that makes the billing clock book past changes).
// ListResourceHosts shows the first side against the second: which reported resources the
// tenancy attributes, and which it does not (their usage is rated as unattributed).
#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>

#include "engine/registry/legacy_resource_log.h"
#include "engine/service/meter_service.h"
#include "engine/service/service_replies.h"
#include "engine/service/service_session.h"
#include "net/protocol/messages.h"

namespace meterd::engine {

using net::ResponderPtr;
using net::View;
using tenancy::DocNode;

namespace {

// Hosts one ResourceHostList lists (about 150 bytes each: well inside a frame).
constexpr uint64_t kMaxHostsListed = 50'000;

int64_t WallSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

DocNode Scalar(std::string text) {
  DocNode n;
  n.kind = DocNode::Kind::kScalar;
  n.scalar = std::move(text);
  n.quoted = true;
  return n;
}

DocNode Map() {
  DocNode n;
  n.kind = DocNode::Kind::kMap;
  return n;
}

void SetIfGiven(DocNode* map, const char* key, const std::string& value) {
  if (!value.empty()) map->entries.emplace_back(key, Scalar(value));
}

// The catalog document of one resource change: {resources: [{id, name?, agent_id?,
// versions: [{effective_from, attributes... | deleted: true}]}]}.
DocNode ChangeDocument(const ResourceChangeArgs& q, int64_t effective_from) {
  DocNode resource = Map();
  resource.entries.emplace_back("id", Scalar(q.id));
  SetIfGiven(&resource, "name", q.name);
  SetIfGiven(&resource, "agent_id", q.agent_id);
  DocNode version = Map();
  version.entries.emplace_back("effective_from", Scalar(tenancy::FormatTime(effective_from)));
  if (q.op == wire::ResourceOp::Delete) {
    DocNode yes = Scalar("true");
    yes.quoted = false;
    version.entries.emplace_back("deleted", std::move(yes));
  } else {
    SetIfGiven(&version, "type", q.type);
    SetIfGiven(&version, "project", q.project);
    SetIfGiven(&version, "location", q.location);
    SetIfGiven(&version, "plan", q.plan);
    SetIfGiven(&version, "storage_tier", q.storage_tier);
  }
  // An update that names no attribute changes only the name or the agent id: no version.
  const bool attributes = version.entries.size() > 1;
  if (q.op != wire::ResourceOp::Update || attributes) {
    DocNode versions;
    versions.kind = DocNode::Kind::kSequence;
    versions.items.push_back(std::move(version));
    resource.entries.emplace_back("versions", std::move(versions));
  }
  DocNode list;
  list.kind = DocNode::Kind::kSequence;
  list.items.push_back(std::move(resource));
  DocNode root = Map();
  root.entries.emplace_back("resources", std::move(list));
  return root;
}

// What the operation requires of the resource as the apply finds it.
Status CheckOp(const ResourceChangeArgs& q, int64_t effective_from,
               const pricebook::BillingSnapshot& base) {
  const std::string& id = q.id;
  const tenancy::Resource* res = base.tenancy->FindResource(id);
  switch (q.op) {
    case wire::ResourceOp::Create:
      // The same create again (same instant) is a retry: the apply reports it unchanged.
      if (res != nullptr && res->versions.front().effective_from != effective_from) {
        return Status::AlreadyExists("resource " + id + " exists (created " +
                                     tenancy::FormatTime(res->versions.front().effective_from) +
                                     "): change it with an update");
      }
      return Status::OK();
    case wire::ResourceOp::Update:
    case wire::ResourceOp::Delete:
      if (res == nullptr) return Status::NotFound("resource " + id + " is not in the tenancy");
      return Status::OK();
    default:
      return Status::InvalidArgument("op must be create, update or delete");
  }
}

}  // namespace

void MeterService::OnRegisterResources(Session* s, const wire::RegisterResources& req,
                                       const ResponderPtr& r) {
  if (parts_.hosts == nullptr) {
    return ReplyError(r, req.request_id(), Status::NotSupported("this server keeps no resources"));
  }
  std::vector<tenancy::HostReport> list;
  if (req.resources()) {
    for (const wire::Resource* x : *req.resources()) {
      list.push_back({std::string(View(x->id())), std::string(View(x->type()))});
    }
  }
  const bool admin = s->who.is_admin();
  const std::string hypervisor = admin ? std::string() : s->who.key.hypervisor;
  auto outcome = parts_.hosts->Report(list, hypervisor, WallSeconds(), req.claim_only());
  if (!outcome.ok()) return ReplyError(r, req.request_id(), outcome.status());
  const tenancy::HostOutcome& o = outcome.value();
  for (const std::string& id : o.now_hosted) parts_.series->SetResourceOwner(id, hypervisor);
  if (o.moved > 0) {
    spdlog::info("event=resources_moved hypervisor=\"{}\" moved={} first=\"{}\"",
                 net::LogSafe(hypervisor), o.moved, net::LogSafe(o.now_hosted.front()));
  }
  flatbuffers::FlatBufferBuilder fbb(256);
  Reply(r, net::FinishFrame(fbb, wire::CreateRegisterResourcesOk(
                                     fbb, req.request_id(), o.registered, o.moved + o.updated,
                                     o.unchanged, o.refused, Refusals(fbb, o.first_refusals))));
}

void MeterService::RunResourceChange(const ResourceChangeArgs& q, const ResponderPtr& r) {
  if (parts_.billing == nullptr) {
    return ReplyError(r, q.request_id,
                      Status::NotSupported("this server keeps no billing catalog"));
  }
  if (q.id.empty()) {
    return ReplyError(r, q.request_id, Status::InvalidArgument("a resource change needs an id"));
  }
  if (q.op == wire::ResourceOp::Delete &&
      !(q.type + q.project + q.location + q.plan + q.storage_tier).empty()) {
    return ReplyError(r, q.request_id,
                      Status::InvalidArgument("a deletion takes no attributes: it ends the "
                                              "resource"));
  }
  const int64_t at = q.effective_from != 0 ? q.effective_from : WallSeconds();
  const DocNode doc = ChangeDocument(q, at);
  std::vector<tenancy::DocError> errors;
  Result<tenancy::ApplyReport> rep = parts_.billing->ApplyDocument(
      doc, &errors, q.dry_run,
      [&](const pricebook::BillingSnapshot& base) { return CheckOp(q, at, base); });
  SendApplyReply(q.request_id, rep, errors, q.dry_run, r);
}

void MeterService::RunListResourceHosts(uint64_t request_id, bool unattributed_only,
                                        const std::string& resource, const ResponderPtr& r) {
  if (parts_.hosts == nullptr || parts_.billing == nullptr) {
    return ReplyError(r, request_id, Status::NotSupported("this server keeps no resources"));
  }
  const std::shared_ptr<const tenancy::Tenancy> t = parts_.billing->Current().tenancy;
  const int64_t now = WallSeconds();
  flatbuffers::FlatBufferBuilder fbb(4096);
  std::vector<flatbuffers::Offset<wire::ResourceHost>> out;
  uint64_t total = 0;
  for (const tenancy::HostedResource& h : parts_.hosts->List()) {
    if (!resource.empty() && h.resource != resource) continue;
    const uint32_t ri = t->ResourceForSeries(h.resource);
    const tenancy::ResourceVersion* v = ri == tenancy::kNone ? nullptr : t->VersionAt(ri, now);
    if (unattributed_only && v != nullptr) continue;
    if (++total > kMaxHostsListed) continue;  // counted, not listed
    std::string_view attributed, account;
    if (v != nullptr) {
      attributed = t->resources()[ri].id;
      account = t->accounts()[v->account_index].id;
    }
    out.push_back(wire::CreateResourceHost(
        fbb, fbb.CreateString(h.resource), fbb.CreateString(h.type), fbb.CreateString(h.hypervisor),
        h.first_seen, h.moved_at, fbb.CreateString(attributed), fbb.CreateString(account)));
  }
  auto hosts = fbb.CreateVector(out);
  Reply(r, net::FinishFrame(fbb, wire::CreateResourceHostList(fbb, request_id, hosts, total)));
}

Status AdoptResourceHosts(const std::string& data_dir, tenancy::ResourceHosts* hosts,
                          SeriesRegistry* series) {
  const std::string legacy = data_dir + "/resources.log";
  std::error_code ec;
  if (std::filesystem::exists(legacy, ec)) {
    std::string damage;
    METERD_ASSIGN_OR_RETURN(std::vector<LegacyResource> old,
                            ReadLegacyResourceLog(legacy, &damage));
    if (!damage.empty()) spdlog::warn("event=registry_damage detail=\"{}\"", damage);
    std::map<std::string, std::vector<tenancy::HostReport>> by_owner;
    for (const LegacyResource& r : old) by_owner[r.owner].push_back({r.id, r.type});
    for (const auto& [owner, list] : by_owner) {
      METERD_RETURN_IF_ERROR(hosts->Report(list, owner, WallSeconds()).status());
    }
    std::filesystem::rename(legacy, legacy + ".imported", ec);
    if (ec) return Status::IOError("renaming " + legacy + ": " + ec.message());
    spdlog::info(
        "event=resources_log_imported resources={} note=\"hosts only: attribution is "
        "the tenancy's (meterctl resources create)\"",
        old.size());
  }
  for (const tenancy::HostedResource& h : hosts->List()) {
    series->SetResourceOwner(h.resource, h.hypervisor);
  }
  return Status::OK();
}

}  // namespace meterd::engine
