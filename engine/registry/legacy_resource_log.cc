// meterd — engine/registry/legacy_resource_log.cc
#include "engine/registry/legacy_resource_log.h"

#include <map>

#include "engine/registry/record_log.h"
#include "storage/base/coding.h"

namespace meterd::engine {
namespace {

constexpr uint8_t kResourceRecordVersion = 1;

bool Decode(std::string_view rec, LegacyResource* r) {
  base::ByteReader in(rec);
  uint8_t version;
  if (!in.GetFixed8(&version) || version != kResourceRecordVersion) return false;
  for (std::string* f :
       {&r->id, &r->type, &r->account, &r->project, &r->location, &r->plan, &r->owner}) {
    if (!in.GetLengthPrefixed(f)) return false;
  }
  return in.empty();
}

}  // namespace

Result<std::vector<LegacyResource>> ReadLegacyResourceLog(const std::string& path,
                                                          std::string* damage) {
  std::map<std::string, LegacyResource> last;
  METERD_ASSIGN_OR_RETURN(
      auto log, RecordLog::Open(
                    path,
                    [&](std::string_view rec) {
                      LegacyResource r;
                      if (!Decode(rec, &r)) {
                        return Status::Corruption("resources.log: malformed resource record");
                      }
                      last[r.id] = std::move(r);
                      return Status::OK();
                    },
                    damage));
  std::vector<LegacyResource> out;
  out.reserve(last.size());
  for (auto& [id, r] : last) out.push_back(std::move(r));
  return out;
}

}  // namespace meterd::engine
