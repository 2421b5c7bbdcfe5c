// meterd — engine/registry/resource_registry.cc
#include "engine/registry/resource_registry.h"

#include "storage/base/coding.h"

namespace meterd::engine {
namespace {

constexpr uint8_t kResourceRecordVersion = 1;

std::string Encode(const ResourceInfo& r) {
  std::string rec(1, static_cast<char>(kResourceRecordVersion));
  for (const std::string* f :
       {&r.id, &r.type, &r.account, &r.project, &r.location, &r.plan, &r.owner}) {
    base::PutLengthPrefixed(&rec, *f);
  }
  return rec;
}

bool Decode(std::string_view rec, ResourceInfo* r) {
  base::ByteReader in(rec);
  uint8_t version;
  if (!in.GetFixed8(&version) || version != kResourceRecordVersion) return false;
  for (std::string* f :
       {&r->id, &r->type, &r->account, &r->project, &r->location, &r->plan, &r->owner}) {
    if (!in.GetLengthPrefixed(f)) return false;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<ResourceRegistry>> ResourceRegistry::Open(const std::string& dir) {
  std::unique_ptr<ResourceRegistry> reg(new ResourceRegistry());
  METERD_RETURN_IF_ERROR(storage::CreateDirIfMissing(dir));
  METERD_ASSIGN_OR_RETURN(
      reg->log_, RecordLog::Open(
                     dir + "/resources.log",
                     [&](std::string_view rec) {
                       ResourceInfo r;
                       if (!Decode(rec, &r)) {
                         return Status::Corruption("resources.log: malformed resource record");
                       }
                       reg->resources_[r.id] = std::move(r);
                       return Status::OK();
                     },
                     &reg->load_damage_));
  return reg;
}

Result<RegisterOutcome> ResourceRegistry::Register(std::span<const ResourceInfo> resources,
                                                   std::string_view owner, bool is_admin) {
  RegisterOutcome out;
  std::lock_guard lock(mu_);
  std::vector<std::string> records;
  std::vector<ResourceInfo> staged;
  staged.reserve(resources.size());
  for (uint32_t i = 0; i < resources.size(); ++i) {
    ResourceInfo r = resources[i];
    Status s = SeriesRegistry::ValidateResourceId(r.id);
    if (s.ok() && r.type.empty())
      s = Status::InvalidArgument("resource \"" + r.id + "\" has no type");
    auto it = resources_.find(r.id);
    if (s.ok() && it != resources_.end() && !is_admin && it->second.owner != owner) {
      s = Status::PermissionDenied("resource \"" + r.id + "\" belongs to hypervisor \"" +
                                   it->second.owner + "\"");
    }
    if (!s.ok()) {
      ++out.refused;
      if (out.first_refusals.size() < 8) out.first_refusals.emplace_back(i, s);
      continue;
    }
    r.owner = it != resources_.end() && is_admin ? it->second.owner : std::string(owner);
    if (it != resources_.end() && it->second.SameAttributes(r)) {
      ++out.unchanged;
      continue;
    }
    (it == resources_.end() ? out.registered : out.updated)++;
    records.push_back(Encode(r));
    staged.push_back(std::move(r));
  }
  METERD_RETURN_IF_ERROR(log_->Append(records));
  for (ResourceInfo& r : staged) resources_[r.id] = std::move(r);
  return out;
}

bool ResourceRegistry::Find(std::string_view id, ResourceInfo* out) const {
  std::lock_guard lock(mu_);
  auto it = resources_.find(id);
  if (it == resources_.end()) return false;
  *out = it->second;
  return true;
}

size_t ResourceRegistry::size() const {
  std::lock_guard lock(mu_);
  return resources_.size();
}

}  // namespace meterd::engine
