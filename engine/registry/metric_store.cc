// meterd — engine/registry/metric_store.cc
#include "engine/registry/metric_store.h"

#include "storage/base/coding.h"

namespace meterd::engine {
namespace {

constexpr uint8_t kMetricRecordVersion = 1;

std::string Encode(const MetricDef& d) {
  std::string rec(1, static_cast<char>(kMetricRecordVersion));
  rec.push_back(static_cast<char>(d.kind));
  rec.push_back(static_cast<char>(d.type));
  for (const std::string* f : {&d.name, &d.unit, &d.description}) {
    base::PutLengthPrefixed(&rec, *f);
  }
  return rec;
}

bool Decode(std::string_view rec, MetricDef* d) {
  base::ByteReader in(rec);
  uint8_t version, kind, type;
  if (!in.GetFixed8(&version) || version != kMetricRecordVersion || !in.GetFixed8(&kind) ||
      !in.GetFixed8(&type)) {
    return false;
  }
  if (kind < static_cast<uint8_t>(MetricKind::kGauge) ||
      kind > static_cast<uint8_t>(MetricKind::kState) ||
      (type != static_cast<uint8_t>(storage::ValueType::kInt) &&
       type != static_cast<uint8_t>(storage::ValueType::kFloat))) {
    return false;
  }
  d->kind = static_cast<MetricKind>(kind);
  d->type = static_cast<storage::ValueType>(type);
  for (std::string* f : {&d->name, &d->unit, &d->description}) {
    if (!in.GetLengthPrefixed(f)) return false;
  }
  return in.empty();
}

}  // namespace

Result<std::unique_ptr<MetricStore>> MetricStore::Open(const std::string& dir,
                                                       MetricCatalog* catalog, storage::Env* env) {
  std::unique_ptr<MetricStore> ms(new MetricStore(catalog));
  METERD_RETURN_IF_ERROR(env->CreateDirIfMissing(dir));
  METERD_ASSIGN_OR_RETURN(ms->log_,
                          RecordLog::Open(
                              dir + "/metrics.log",
                              [&](std::string_view rec) {
                                MetricDef d;
                                if (!Decode(rec, &d)) {
                                  return Status::Corruption("metrics.log: malformed metric record");
                                }
                                // Define wrote only valid definitions: an intact record that
                                // is not one is refused like a damaged one (skipped, counted).
                                Status s = catalog->Define(d);
                                if (s.code() == Status::Code::kInvalidArgument) {
                                  return Status::Corruption("metrics.log: " + s.ToString());
                                }
                                return s;
                              },
                              &ms->load_report_, env));
  return ms;
}

Status MetricStore::Define(const MetricDef& def) {
  std::lock_guard lock(mu_);
  auto existing = catalog_->Find(def.name);
  if (existing.ok()) return catalog_->Define(def);  // identical: OK; else AlreadyExists
  METERD_RETURN_IF_ERROR(catalog_->Define(def));
  return log_->Append({Encode(def)});
}

}  // namespace meterd::engine
