// meterd — engine/tenancy/apply_report.cc
#include "engine/tenancy/apply_report.h"

namespace meterd::engine::tenancy {

const char* ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kCreated:
      return "created";
    case ChangeKind::kUpdated:
      return "updated";
    case ChangeKind::kUnchanged:
      return "unchanged";
  }
  return "?";
}

void ApplyReport::Add(std::string entity, std::string id, ChangeKind kind, std::string detail) {
  changes.push_back(ApplyChange{std::move(entity), std::move(id), kind, std::move(detail)});
}

uint32_t ApplyReport::Count(ChangeKind kind) const {
  uint32_t n = 0;
  for (const ApplyChange& c : changes) n += c.kind == kind;
  return n;
}

std::string ApplyReport::Summary() const {
  const uint32_t created = Count(ChangeKind::kCreated);
  const uint32_t updated = Count(ChangeKind::kUpdated);
  const uint32_t unchanged = Count(ChangeKind::kUnchanged);
  if (created + updated == 0) {
    return "nothing changed (" + std::to_string(unchanged) + " entities unchanged)";
  }
  std::string out = "created " + std::to_string(created) + ", updated " + std::to_string(updated) +
                    ", unchanged " + std::to_string(unchanged);
  for (const ApplyChange& c : changes) {
    if (c.kind == ChangeKind::kUnchanged) continue;
    out += '\n';
    out += ChangeKindName(c.kind);
    out += ' ';
    out += c.entity;
    out += ' ';
    out += c.id;
    if (!c.detail.empty()) {
      out += ": ";
      out += c.detail;
    }
  }
  return out;
}

}  // namespace meterd::engine::tenancy
