// meterd — engine/tenancy/document.h
//
// Declarative documents (the catalog applied with `meterctl apply FILE`): YAML or JSON parsed
// into one tree of DocNodes that remember the line they start on, so that every validation
// error names the field and the line ("line 14: price_books[0].products[3].tiers[1].up_to must
// be greater than tiers[0].up_to"). Scalars keep their text exactly as written: numbers are
// never converted through a double (a price "0.0069" stays the digits 0.0069).
//
// FieldReader decodes one map node field by field, recording errors (never throwing) and, at
// Finish(), every key that no getter asked for ("unknown field", which catches typos).
//
// Thread-safety: DocNode is a value; a DocErrors or FieldReader belongs to one decoder.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/base/result.h"

namespace meterd::engine::tenancy {

enum class DocFormat : uint8_t {
  kAuto = 0,  // JSON when the first non-blank character is '{', YAML otherwise
  kYaml = 1,
  kJson = 2,
};

// One node of a parsed document.
struct DocNode {
  enum class Kind : uint8_t { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  int line = 0;         // 1-based line where the node starts
  std::string scalar;   // kScalar: the text as written ("1.2345", "true", "2017-02-01T00:00:00Z")
  bool quoted = false;  // kScalar: written as a quoted string (any JSON string)
  std::vector<DocNode> items;                            // kSequence
  std::vector<std::pair<std::string, DocNode>> entries;  // kMap, in document order, unique keys

  bool is_null() const { return kind == Kind::kNull; }
  bool is_map() const { return kind == Kind::kMap; }
  bool is_sequence() const { return kind == Kind::kSequence; }
  bool is_scalar() const { return kind == Kind::kScalar; }
  // The value of `key` in a map, or nullptr (also for a non-map).
  const DocNode* Find(std::string_view key) const;

  // Declared here and defaulted after the class: clang (14, with libstdc++ 12) otherwise
  // instantiates the destructor of `entries`, a vector of pairs holding a DocNode, while
  // DocNode is still incomplete, and refuses to compile.
  DocNode();
  DocNode(const DocNode&);
  DocNode(DocNode&&) noexcept;
  DocNode& operator=(const DocNode&);
  DocNode& operator=(DocNode&&) noexcept;
  ~DocNode();
};
inline DocNode::DocNode() = default;
inline DocNode::DocNode(const DocNode&) = default;
inline DocNode::DocNode(DocNode&&) noexcept = default;
inline DocNode& DocNode::operator=(const DocNode&) = default;
inline DocNode& DocNode::operator=(DocNode&&) noexcept = default;
inline DocNode::~DocNode() = default;

// Parses a whole document. An empty document is an empty map. Syntax errors, duplicate keys
// and a top level that is not a map are InvalidArgument "line N: ...".
Result<DocNode> ParseDocument(std::string_view text, DocFormat format);

struct DocError {
  int line = 0;
  std::string path;     // "price_books[0].products[3].tiers[1].up_to"; empty for the document
  std::string message;  // "must be greater than tiers[0].up_to"
  // "line 14: price_books[0].products[3].tiers[1].up_to must be greater than tiers[0].up_to"
  std::string ToString() const;
};

// The errors of one decode, in the order they were found.
class DocErrors {
 public:
  void Add(int line, std::string path, std::string message);
  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }
  const std::vector<DocError>& list() const { return errors_; }
  // OK when empty; else InvalidArgument whose message is one error per line (the first 100,
  // then "... and N more").
  Status ToStatus() const;

 private:
  std::vector<DocError> errors_;
};

// The document format this meterd reads; a document may say so in a top-level `schema` key.
inline constexpr std::string_view kDocumentSchema = "meterd/v1";
// Records an error when `root` has a `schema` other than kDocumentSchema.
void CheckSchema(const DocNode& root, DocErrors* errors);

// Identifiers (ids of domains, accounts, plans, products, ...): 1-128 characters of
// [A-Za-z0-9 _ . : @ -], starting with a letter or a digit.
bool IsValidId(std::string_view id);
// An agent's name for a resource (a libvirt UUID, a hostname): what agents may send as a series'
// resource, 1-128 bytes of printable ASCII without spaces or '|'.
bool IsValidAgentId(std::string_view id);

// Unix seconds ("1486425600") or RFC 3339 ("2017-02-01T00:00:00Z", "...+01:00"; a fraction of
// a second only when it is zero).
std::optional<int64_t> ParseTime(std::string_view text);
// RFC 3339 in UTC: "2017-02-01T00:00:00Z".
std::string FormatTime(int64_t unix_seconds);

// Reads the fields of one map node. Each getter marks its key as read; absent optional fields
// return nullopt without an error; a present field of the wrong shape records an error and
// returns nullopt. `path` is the node's own path ("accounts[2]").
class FieldReader {
 public:
  // A node that is not a map records "must be a map" and every getter then returns nullopt.
  FieldReader(const DocNode& node, std::string path, DocErrors* errors);

  bool is_map() const { return is_map_; }
  const std::string& path() const { return path_; }
  int line() const { return node_.line; }

  // A scalar, as text. A null value counts as absent.
  std::optional<std::string> String(std::string_view key, bool required);
  // A string that must satisfy IsValidId.
  std::optional<std::string> Id(std::string_view key, bool required);
  // A decimal integer in [min, max] (no sign for min >= 0, no fraction, no exponent).
  std::optional<int64_t> Int(std::string_view key, bool required, int64_t min, int64_t max);
  std::optional<bool> Bool(std::string_view key, bool required);  // true/false
  std::optional<int64_t> Time(std::string_view key, bool required);
  // The raw child node (any kind), marked as read; nullptr when absent.
  const DocNode* Node(std::string_view key);
  // A sequence child (absent: nullptr, no error; not a sequence: error, nullptr).
  const DocNode* Sequence(std::string_view key, bool required);

  // "accounts[2].currency"; line of the key's value (the map's line when absent).
  std::string PathOf(std::string_view key) const;
  int LineOf(std::string_view key) const;
  // Records an error about `key` (its line and path).
  void Error(std::string_view key, std::string message);
  // Records "unknown field" for every key no getter read.
  void Finish();

 private:
  const DocNode& node_;
  std::string path_;
  DocErrors* errors_;
  bool is_map_;
  std::set<std::string, std::less<>> read_;
};

}  // namespace meterd::engine::tenancy
