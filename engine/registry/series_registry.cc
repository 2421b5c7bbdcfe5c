// meterd — engine/registry/series_registry.cc
#include "engine/registry/series_registry.h"

#include <algorithm>
#include <mutex>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"

namespace meterd::engine {
namespace {

constexpr uint8_t kSeriesRecordVersion = 1;
constexpr size_t kMaxRefusals = 8;

}  // namespace

std::string SeriesRegistry::CanonicalKey(std::string_view resource, std::string_view metric) {
  std::string key;
  key.reserve(resource.size() + metric.size() + 1);
  key.append(resource).push_back('|');
  key.append(metric);
  return key;
}

uint64_t SeriesRegistry::IdOf(std::string_view resource, std::string_view metric) {
  return base::Checksum64(CanonicalKey(resource, metric));
}

Status SeriesRegistry::ValidateResourceId(std::string_view resource) {
  if (resource.empty() || resource.size() > 128) {
    return Status::InvalidArgument("resource id must be 1-128 bytes");
  }
  for (char c : resource) {
    if (c <= ' ' || c > '~' || c == '|') {
      return Status::InvalidArgument("resource id \"" + std::string(resource) +
                                     "\" holds a space, '|' or a non-printable byte");
    }
  }
  return Status::OK();
}

Result<std::unique_ptr<SeriesRegistry>> SeriesRegistry::Open(const std::string& dir,
                                                             const MetricCatalog* catalog,
                                                             storage::Env* env) {
  std::unique_ptr<SeriesRegistry> reg(new SeriesRegistry(catalog));
  METERD_RETURN_IF_ERROR(env->CreateDirIfMissing(dir));
  METERD_ASSIGN_OR_RETURN(
      reg->log_, RecordLog::Open(
                     dir + "/series.log", [&](std::string_view rec) { return reg->Replay(rec); },
                     &reg->load_report_, env));
  return reg;
}

Status SeriesRegistry::Replay(std::string_view record) {
  base::ByteReader r(record);
  uint8_t version, type, kind;
  SeriesInfo info;
  if (!r.GetFixed8(&version) || version != kSeriesRecordVersion || !r.GetFixed64(&info.id) ||
      !r.GetFixed8(&type) || !r.GetFixed8(&kind) || !r.GetLengthPrefixed(&info.resource) ||
      !r.GetLengthPrefixed(&info.metric) || !r.GetLengthPrefixed(&info.owner) || !r.empty()) {
    return Status::Corruption("series.log: malformed series record");
  }
  // A record whose checksum holds but whose fields do not (an unknown value type or metric
  // kind) is refused like a damaged one: RecordLog skips and counts it, and the series stays
  // undefined until its agent defines it again, rather than being served with a kind that
  // rollups and rating do not know.
  if (type != static_cast<uint8_t>(storage::ValueType::kInt) &&
      type != static_cast<uint8_t>(storage::ValueType::kFloat)) {
    return Status::Corruption("series.log: unknown value type " + std::to_string(type));
  }
  if (kind < static_cast<uint8_t>(MetricKind::kGauge) ||
      kind > static_cast<uint8_t>(MetricKind::kState)) {
    return Status::Corruption("series.log: unknown metric kind " + std::to_string(kind));
  }
  if (IdOf(info.resource, info.metric) != info.id) {
    return Status::Corruption("series.log: record for \"" +
                              CanonicalKey(info.resource, info.metric) +
                              "\" carries an id that is not its hash");
  }
  info.type = static_cast<storage::ValueType>(type);
  info.kind = static_cast<MetricKind>(kind);
  std::unique_lock lock(mu_);
  if (!by_id_.contains(info.id)) Insert(std::move(info));
  return Status::OK();
}

uint32_t SeriesRegistry::InternOwner(std::string_view hypervisor) {
  if (hypervisor.empty()) return 0;
  auto [it, added] =
      owners_.try_emplace(std::string(hypervisor), static_cast<uint32_t>(owners_.size() + 1));
  return it->second;
}

void SeriesRegistry::Insert(SeriesInfo info) {
  if (auto host = resource_owner_.find(info.resource); host != resource_owner_.end()) {
    info.owner = host->second;  // replayed before its resource moved
  }
  const uint32_t index = static_cast<uint32_t>(infos_.size());
  slots_.push_back(SeriesSlot{info.type, info.kind, InternOwner(info.owner), index});
  by_id_.emplace(info.id, index);
  by_resource_[info.resource].push_back(index);
  infos_.push_back(std::move(info));
}

uint32_t SeriesRegistry::OwnerId(std::string_view hypervisor) const {
  if (hypervisor.empty()) return 0;
  std::shared_lock lock(mu_);
  auto it = owners_.find(std::string(hypervisor));
  return it == owners_.end() ? 0 : it->second;
}

Result<DefineOutcome> SeriesRegistry::Define(std::span<const SeriesDefinition> defs,
                                             std::string_view owner, bool is_admin) {
  DefineOutcome out;
  auto refuse = [&](uint32_t i, Status why) {
    ++out.refused;
    if (out.first_refusals.size() < kMaxRefusals) out.first_refusals.emplace_back(i, why);
  };
  std::lock_guard define_lock(define_mu_);
  std::vector<SeriesInfo> fresh;
  std::vector<std::string> records;
  {
    std::shared_lock lock(mu_);
    std::unordered_map<uint64_t, uint32_t> in_request;  // id -> index in `fresh`
    for (uint32_t i = 0; i < defs.size(); ++i) {
      const SeriesDefinition& d = defs[i];
      if (Status s = ValidateResourceId(d.resource); !s.ok()) {
        refuse(i, s);
        continue;
      }
      auto metric = catalog_->Find(d.metric);
      if (!metric.ok()) {
        refuse(i, Status::NotFound("unknown metric \"" + std::string(d.metric) + "\""));
        continue;
      }
      const std::string key = CanonicalKey(d.resource, d.metric);
      if (base::Checksum64(key) != d.id) {
        refuse(i, Status::InvalidArgument("series id does not match XXH3-64 of \"" + key + "\""));
        continue;
      }
      auto it = by_id_.find(d.id);
      const SeriesInfo* known = it != by_id_.end() ? &infos_[it->second] : nullptr;
      if (known == nullptr) {
        auto f = in_request.find(d.id);
        if (f != in_request.end()) known = &fresh[f->second];
      }
      if (known != nullptr) {
        if (known->resource != d.resource || known->metric != d.metric) {
          refuse(i, Status::AlreadyExists("series id collision: \"" + key + "\" and \"" +
                                          CanonicalKey(known->resource, known->metric) +
                                          "\" hash alike"));
        } else if (!is_admin && known->owner != owner) {  // (it follows the resource)
          refuse(i, Status::PermissionDenied("series \"" + key + "\" belongs to hypervisor \"" +
                                             known->owner + "\""));
        } else {
          ++out.existing;
        }
        continue;
      }
      if (auto host = resource_owner_.find(std::string(d.resource));
          !is_admin && host != resource_owner_.end() && host->second != owner) {
        refuse(i, Status::PermissionDenied("resource \"" + std::string(d.resource) +
                                           "\" runs on hypervisor \"" + host->second +
                                           "\"; a hypervisor it moved to registers it first"));
        continue;
      }
      SeriesInfo info{d.id,         std::string(d.resource), std::string(d.metric), metric->type,
                      metric->kind, std::string(owner)};
      std::string rec;
      rec.push_back(static_cast<char>(kSeriesRecordVersion));
      base::PutFixed64(&rec, info.id);
      rec.push_back(static_cast<char>(info.type));
      rec.push_back(static_cast<char>(info.kind));
      base::PutLengthPrefixed(&rec, info.resource);
      base::PutLengthPrefixed(&rec, info.metric);
      base::PutLengthPrefixed(&rec, info.owner);
      records.push_back(std::move(rec));
      in_request.emplace(d.id, static_cast<uint32_t>(fresh.size()));
      fresh.push_back(std::move(info));
    }
  }
  if (!fresh.empty()) {
    METERD_RETURN_IF_ERROR(log_->Append(records));  // durable before anyone may use them
    std::unique_lock lock(mu_);
    for (SeriesInfo& info : fresh) Insert(std::move(info));
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  out.defined = static_cast<uint32_t>(fresh.size());
  return out;
}

void SeriesRegistry::SetResourceOwner(std::string_view resource, std::string_view hypervisor) {
  if (hypervisor.empty()) return;
  std::lock_guard define_lock(define_mu_);
  std::unique_lock lock(mu_);
  std::string& host = resource_owner_[std::string(resource)];
  if (host == hypervisor) return;
  host = std::string(hypervisor);
  const uint32_t owner = InternOwner(hypervisor);
  if (auto it = by_resource_.find(std::string(resource)); it != by_resource_.end()) {
    for (uint32_t index : it->second) {
      infos_[index].owner = host;
      slots_[index].owner = owner;
    }
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);  // ingest caches look again
}

void SeriesRegistry::LookupMany(std::span<const uint64_t> ids, SeriesSlot* out) const {
  std::shared_lock lock(mu_);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = by_id_.find(ids[i]);
    out[i] = it == by_id_.end()
                 ? SeriesSlot{storage::ValueType::kInt, MetricKind::kGauge, 0, UINT32_MAX}
                 : slots_[it->second];
  }
}

bool SeriesRegistry::Lookup(uint64_t id, SeriesInfo* out) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return false;
  *out = infos_[it->second];
  return true;
}

std::vector<SeriesInfo> SeriesRegistry::Matching(std::string_view resource,
                                                 std::string_view metric) const {
  std::vector<SeriesInfo> out;
  {
    std::shared_lock lock(mu_);
    if (!resource.empty()) {
      // One resource's series through the index: a per-VM query costs nothing per fleet size.
      auto it = by_resource_.find(std::string(resource));
      if (it != by_resource_.end()) {
        for (uint32_t index : it->second) {
          if (metric.empty() || infos_[index].metric == metric) out.push_back(infos_[index]);
        }
      }
    } else {
      for (const SeriesInfo& s : infos_) {
        if (metric.empty() || s.metric == metric) out.push_back(s);
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const SeriesInfo& a, const SeriesInfo& b) {
    return a.resource != b.resource ? a.resource < b.resource : a.metric < b.metric;
  });
  return out;
}

std::vector<SeriesInfo> SeriesRegistry::Since(size_t first) const {
  std::shared_lock lock(mu_);
  if (first >= infos_.size()) return {};
  return std::vector<SeriesInfo>(infos_.begin() + static_cast<std::ptrdiff_t>(first), infos_.end());
}

size_t SeriesRegistry::size() const {
  std::shared_lock lock(mu_);
  return infos_.size();
}

}  // namespace meterd::engine
