// meterd — engine/tenancy/apply_report.h
//
// ApplyReport: what applying a declarative document did (or, for a dry run or a refused
// document, would have done), entity by entity. A document applied twice reports everything
// "unchanged" the second time and writes nothing.
//
// Thread-safety: a value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace meterd::engine::tenancy {

enum class ChangeKind : uint8_t { kCreated = 1, kUpdated = 2, kUnchanged = 3 };
const char* ChangeKindName(ChangeKind kind);

struct ApplyChange {
  std::string entity;  // "domain", "account", "plan", "resource", "price_book", ...
  std::string id;      // the entity's id ("vm-1"; a price book's version number)
  ChangeKind kind = ChangeKind::kUnchanged;
  std::string detail;  // "name, currency", "+1 version from 2017-02-10T14:00:00Z", ...
};

struct ApplyReport {
  std::vector<ApplyChange> changes;  // in document order
  bool applied = false;              // written (false for a dry run or when nothing changed)

  void Add(std::string entity, std::string id, ChangeKind kind, std::string detail = {});
  uint32_t Count(ChangeKind kind) const;
  bool changed() const { return Count(ChangeKind::kCreated) + Count(ChangeKind::kUpdated) > 0; }
  // "created 3, updated 1, unchanged 12" then one line per created or updated entity
  // ("created plan copper", "updated resource vm-1: +1 version from ..."); a document that
  // changes nothing says "nothing changed (N entities unchanged)".
  std::string Summary() const;
};

}  // namespace meterd::engine::tenancy
