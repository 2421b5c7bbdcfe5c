// meterd — engine/tenancy/section_diff.h
//
// What the catalog document's section stores share (tenancy_store.cc, invoicing_sections.cc):
// an entry's path in the document and the list of fields an apply changed, for its report.
//
// Thread-safety: plain values.
#pragma once

#include <string>
#include <string_view>

namespace meterd::engine::tenancy {

// "accounts[3]".
inline std::string Indexed(std::string_view key, size_t i) {
  return std::string(key) + "[" + std::to_string(i) + "]";
}

// Fields of an entity that differ, for the report ("name, currency").
class Diff {
 public:
  template <typename T>
  void Field(const char* name, const T& a, const T& b) {
    if (a == b) return;
    if (!text_.empty()) text_ += ", ";
    text_ += name;
  }
  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

}  // namespace meterd::engine::tenancy
