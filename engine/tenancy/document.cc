// meterd — engine/tenancy/document.cc
#include "engine/tenancy/document.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdio>
#include <iterator>
#include <nlohmann/json.hpp>

#include "storage/base/calendar.h"

namespace meterd::engine::tenancy {
namespace {

// Nesting deeper than this is refused (the catalog needs 5 levels; this bounds recursion).
constexpr int kMaxDepth = 64;

std::string LinePrefix(int line) { return "line " + std::to_string(line) + ": "; }

// ---- YAML (yaml-cpp): Mark.line is 0-based ----

Status FromYaml(const YAML::Node& in, int depth, DocNode* out) {
  out->line = in.Mark().line + 1;
  if (depth > kMaxDepth) return Status::InvalidArgument(LinePrefix(out->line) + "nested too deep");
  switch (in.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out->kind = DocNode::Kind::kNull;
      return Status::OK();
    case YAML::NodeType::Scalar:
      out->kind = DocNode::Kind::kScalar;
      out->scalar = in.Scalar();
      out->quoted = in.Tag() == "!";  // yaml-cpp tags quoted scalars "!", plain ones "?"
      return Status::OK();
    case YAML::NodeType::Sequence:
      out->kind = DocNode::Kind::kSequence;
      out->items.reserve(in.size());
      for (const auto& item : in) {
        DocNode child;
        METERD_RETURN_IF_ERROR(FromYaml(item, depth + 1, &child));
        out->items.push_back(std::move(child));
      }
      return Status::OK();
    case YAML::NodeType::Map:
      out->kind = DocNode::Kind::kMap;
      for (const auto& kv : in) {
        const int key_line = kv.first.Mark().line + 1;
        if (!kv.first.IsScalar()) {
          return Status::InvalidArgument(LinePrefix(key_line) + "a key must be a plain string");
        }
        std::string key = kv.first.Scalar();
        if (out->Find(key) != nullptr) {
          return Status::InvalidArgument(LinePrefix(key_line) + "duplicate key \"" + key + "\"");
        }
        DocNode child;
        METERD_RETURN_IF_ERROR(FromYaml(kv.second, depth + 1, &child));
        // A null value (`key:` with nothing after it) has no useful mark of its own.
        if (child.is_null() || child.line == 0) child.line = key_line;
        out->entries.emplace_back(std::move(key), std::move(child));
      }
      return Status::OK();
  }
  return Status::InvalidArgument(LinePrefix(out->line) + "unsupported YAML node");
}

Result<DocNode> ParseYaml(std::string_view text) {
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    DocNode out;
    METERD_RETURN_IF_ERROR(FromYaml(root, 0, &out));
    return out;
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(LinePrefix(e.mark.line + 1) + "YAML: " + e.msg);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("YAML: ") + e.what());
  }
}

// ---- JSON (nlohmann SAX over an iterator that counts lines) ----

// Counts the line of the last character the lexer consumed: a newline bumps the count only
// when the character after it is read, so a token ended by a newline (a number, whose end the
// lexer finds by reading one character past it) still reports its own line.
struct LineState {
  int line = 1;
  bool pending_newline = false;
};

class LineCountingIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  LineCountingIterator(const char* p, LineState* state) : p_(p), state_(state) {}
  const char& operator*() const {
    if (state_->pending_newline) {
      state_->pending_newline = false;
      ++state_->line;
    }
    return *p_;
  }
  LineCountingIterator& operator++() {
    if (*p_ == '\n') state_->pending_newline = true;
    ++p_;
    return *this;
  }
  LineCountingIterator operator++(int) {
    LineCountingIterator old = *this;
    ++*this;
    return old;
  }
  bool operator==(const LineCountingIterator& o) const { return p_ == o.p_; }
  bool operator!=(const LineCountingIterator& o) const { return p_ != o.p_; }

 private:
  const char* p_;
  LineState* state_;
};

class JsonBuilder : public nlohmann::json_sax<nlohmann::json> {
 public:
  JsonBuilder(std::string_view text, const LineState* lines) : text_(text), lines_(lines) {}

  bool null() override { return Add(Scalar(DocNode::Kind::kNull, {}, false)); }
  bool boolean(bool v) override {
    return Add(Scalar(DocNode::Kind::kScalar, v ? "true" : "false", false));
  }
  bool number_integer(number_integer_t v) override {
    return Add(Scalar(DocNode::Kind::kScalar, std::to_string(v), false));
  }
  bool number_unsigned(number_unsigned_t v) override {
    return Add(Scalar(DocNode::Kind::kScalar, std::to_string(v), false));
  }
  // The text as written: a price "0.0069" keeps its digits (never read through the double).
  bool number_float(number_float_t, const string_t& s) override {
    return Add(Scalar(DocNode::Kind::kScalar, s, false));
  }
  bool string(string_t& s) override { return Add(Scalar(DocNode::Kind::kScalar, s, true)); }
  bool binary(binary_t&) override { return Fail("binary values are not allowed"); }
  bool start_object(std::size_t) override {
    DocNode node;
    node.kind = DocNode::Kind::kMap;
    return Open(std::move(node));
  }
  bool key(string_t& k) override {
    DocNode* top = stack_.back();
    if (top->Find(k) != nullptr) return Fail("duplicate key \"" + k + "\"");
    pending_key_ = k;
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    DocNode node;
    node.kind = DocNode::Kind::kSequence;
    return Open(std::move(node));
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    int line = 1;
    for (size_t i = 0; i < position && i < text_.size(); ++i) line += text_[i] == '\n';
    // nlohmann's message: "[json.exception.parse_error.101] parse error at line 3, ...".
    std::string what = ex.what();
    const size_t cut = what.find("] ");
    error_ = LinePrefix(line) + "JSON: " + (cut == std::string::npos ? what : what.substr(cut + 2));
    return false;
  }

  const std::string& error() const { return error_; }
  DocNode& root() { return root_; }

 private:
  DocNode Scalar(DocNode::Kind kind, std::string text, bool quoted) {
    DocNode node;
    node.kind = kind;
    node.scalar = std::move(text);
    node.quoted = quoted;
    return node;
  }
  bool Fail(std::string message) {
    error_ = LinePrefix(lines_->line) + message;
    return false;
  }
  // Places `node` under the open container (or as the root); returns it.
  DocNode* Place(DocNode node) {
    node.line = lines_->line;
    if (stack_.empty()) {
      root_ = std::move(node);
      have_root_ = true;
      return &root_;
    }
    DocNode* top = stack_.back();
    if (top->kind == DocNode::Kind::kMap) {
      top->entries.emplace_back(std::move(pending_key_), std::move(node));
      return &top->entries.back().second;
    }
    top->items.push_back(std::move(node));
    return &top->items.back();
  }
  bool Add(DocNode node) {
    Place(std::move(node));
    return true;
  }
  // A container's node stays put while it is open: its parent gets no other child meanwhile.
  bool Open(DocNode node) {
    if (stack_.size() >= static_cast<size_t>(kMaxDepth)) return Fail("nested too deep");
    stack_.push_back(Place(std::move(node)));
    return true;
  }

  std::string_view text_;
  const LineState* lines_;
  DocNode root_;
  bool have_root_ = false;
  std::vector<DocNode*> stack_;
  std::string pending_key_;
  std::string error_;
};

Result<DocNode> ParseJson(std::string_view text) {
  LineState lines;
  JsonBuilder builder(text, &lines);
  LineCountingIterator first(text.data(), &lines), last(text.data() + text.size(), &lines);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(first, last, &builder);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("JSON: ") + e.what());
  }
  if (!ok) {
    return Status::InvalidArgument(builder.error().empty() ? "JSON: parse error" : builder.error());
  }
  return std::move(builder.root());
}

bool IsBlank(std::string_view text) {
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return true;
}

bool ReadDigits(std::string_view s, size_t pos, size_t n, int64_t* out) {
  if (pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

const DocNode* DocNode::Find(std::string_view key) const {
  if (kind != Kind::kMap) return nullptr;
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

Result<DocNode> ParseDocument(std::string_view text, DocFormat format) {
  if (format == DocFormat::kAuto) {
    format = DocFormat::kYaml;
    for (char c : text) {
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
      if (c == '{') format = DocFormat::kJson;
      break;
    }
  }
  if (IsBlank(text)) {
    DocNode empty;
    empty.kind = DocNode::Kind::kMap;
    empty.line = 1;
    return empty;
  }
  Result<DocNode> doc = format == DocFormat::kJson ? ParseJson(text) : ParseYaml(text);
  if (!doc.ok()) return doc;
  if (doc->is_null()) {
    doc->kind = DocNode::Kind::kMap;
  } else if (!doc->is_map()) {
    return Status::InvalidArgument(
        LinePrefix(doc->line) + "the document must be a map of sections (locations, plans, ...)");
  }
  return doc;
}

std::string DocError::ToString() const {
  std::string out = LinePrefix(line);
  if (!path.empty()) {
    out += path;
    out += ' ';
  }
  out += message;
  return out;
}

void DocErrors::Add(int line, std::string path, std::string message) {
  errors_.push_back(DocError{line, std::move(path), std::move(message)});
}

Status DocErrors::ToStatus() const {
  if (errors_.empty()) return Status::OK();
  constexpr size_t kShown = 100;
  std::string msg;
  for (size_t i = 0; i < errors_.size() && i < kShown; ++i) {
    if (i) msg += '\n';
    msg += errors_[i].ToString();
  }
  if (errors_.size() > kShown) {
    msg += "\n... and " + std::to_string(errors_.size() - kShown) + " more";
  }
  return Status::InvalidArgument(msg);
}

void CheckSchema(const DocNode& root, DocErrors* errors) {
  const DocNode* schema = root.Find("schema");
  if (schema == nullptr) return;
  if (!schema->is_scalar() || schema->scalar != kDocumentSchema) {
    errors->Add(schema->line, "schema",
                "must be " + std::string(kDocumentSchema) + " (the format this meterd reads)");
  }
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(id[0])) return false;
  for (char c : id) {
    if (!alnum(c) && c != '_' && c != '.' && c != ':' && c != '@' && c != '-') return false;
  }
  return true;
}

bool IsValidAgentId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~' || c == '|') return false;
  }
  return true;
}

std::optional<int64_t> ParseTime(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool all_digits = true;
  for (char c : s) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
  }
  int64_t y, mo, d;
  if (!ReadDigits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !ReadDigits(s, 5, 2, &mo) ||
      s[7] != '-' || !ReadDigits(s, 8, 2, &d)) {
    return std::nullopt;
  }
  if (!base::IsValidCivil(y, mo, d)) return std::nullopt;
  const int64_t day = base::DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  if (s.size() == 10) return day * 86400;  // a date alone: midnight UTC
  const char sep = s[10];
  if (sep != 'T' && sep != 't' && sep != ' ') return std::nullopt;
  int64_t h, mi, sec;
  if (!ReadDigits(s, 11, 2, &h) || s.size() < 19 || s[13] != ':' || !ReadDigits(s, 14, 2, &mi) ||
      s[16] != ':' || !ReadDigits(s, 17, 2, &sec)) {
    return std::nullopt;
  }
  if (h > 23 || mi > 59 || sec > 59) return std::nullopt;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const size_t start = pos;
    while (pos < s.size() && s[pos] == '0') ++pos;
    if (pos == start || (pos < s.size() && s[pos] >= '1' && s[pos] <= '9')) return std::nullopt;
  }
  if (pos >= s.size()) return std::nullopt;  // a zone is required
  int64_t offset = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int64_t oh, om;
    if (!ReadDigits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ReadDigits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  return day * 86400 + h * 3600 + mi * 60 + sec - offset;
}

std::string FormatTime(int64_t t) {
  const int64_t days = base::DayOf(t);
  const int64_t rem = t - days * 86400;
  const base::CivilDate c = base::CivilFromDays(days);
  const int64_t y = c.year;
  const unsigned m = c.month, d = c.day;
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60));
  return buf;
}

FieldReader::FieldReader(const DocNode& node, std::string path, DocErrors* errors)
    : node_(node), path_(std::move(path)), errors_(errors), is_map_(node.is_map()) {
  if (!is_map_) errors_->Add(node.line, path_, "must be a map of fields");
}

std::string FieldReader::PathOf(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

int FieldReader::LineOf(std::string_view key) const {
  const DocNode* n = node_.Find(key);
  return n && n->line ? n->line : node_.line;
}

void FieldReader::Error(std::string_view key, std::string message) {
  errors_->Add(LineOf(key), PathOf(key), std::move(message));
}

const DocNode* FieldReader::Node(std::string_view key) {
  if (!is_map_) return nullptr;
  read_.emplace(key);
  return node_.Find(key);
}

const DocNode* FieldReader::Sequence(std::string_view key, bool required) {
  const DocNode* n = Node(key);
  if (n == nullptr || n->is_null()) {
    if (required && is_map_) Error(key, "is required");
    return nullptr;
  }
  if (!n->is_sequence()) {
    Error(key, "must be a list");
    return nullptr;
  }
  return n;
}

std::optional<std::string> FieldReader::String(std::string_view key, bool required) {
  const DocNode* n = Node(key);
  if (n == nullptr || n->is_null()) {
    if (required && is_map_) Error(key, "is required");
    return std::nullopt;
  }
  if (!n->is_scalar()) {
    Error(key, "must be a single value, not a list or a map");
    return std::nullopt;
  }
  return n->scalar;
}

std::optional<std::string> FieldReader::Id(std::string_view key, bool required) {
  auto s = String(key, required);
  if (!s) return std::nullopt;
  if (!IsValidId(*s)) {
    Error(key, "\"" + *s +
                   "\" is not a valid id (1-128 characters of letters, digits and _.:@-, "
                   "starting with a letter or digit)");
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> FieldReader::Int(std::string_view key, bool required, int64_t min,
                                        int64_t max) {
  auto s = String(key, required);
  if (!s) return std::nullopt;
  int64_t v = 0;
  const char* b = s->data();
  const char* e = b + s->size();
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec == std::errc::result_out_of_range) {
    Error(key, "\"" + *s + "\" is out of range");
    return std::nullopt;
  }
  if (ec != std::errc() || p != e || s->empty()) {
    Error(key, "must be a whole number, not \"" + *s + "\"");
    return std::nullopt;
  }
  if (v < min || v > max) {
    Error(key,
          "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", not " + *s);
    return std::nullopt;
  }
  return v;
}

std::optional<bool> FieldReader::Bool(std::string_view key, bool required) {
  auto s = String(key, required);
  if (!s) return std::nullopt;
  if (*s == "true") return true;
  if (*s == "false") return false;
  Error(key, "must be true or false, not \"" + *s + "\"");
  return std::nullopt;
}

std::optional<int64_t> FieldReader::Time(std::string_view key, bool required) {
  auto s = String(key, required);
  if (!s) return std::nullopt;
  auto t = ParseTime(*s);
  if (!t) {
    Error(key, "must be a time (RFC 3339 such as 2017-02-01T00:00:00Z, or unix seconds), not \"" +
                   *s + "\"");
  }
  return t;
}

void FieldReader::Finish() {
  if (!is_map_) return;
  for (const auto& [k, v] : node_.entries) {
    if (!read_.contains(k)) {
      errors_->Add(v.line ? v.line : node_.line, PathOf(k), "is not a known field");
    }
  }
}

}  // namespace meterd::engine::tenancy
