// meterd — net/ingest/influx_line.cc
#include "net/ingest/influx_line.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace meterd::net::ingest {

const char* FormatName(Format format) {
  switch (format) {
    case Format::kInflux:
      return "influx";
    case Format::kCollectd:
      return "collectd";
    case Format::kPrometheus:
      return "prometheus";
    case Format::kCount:
      break;
  }
  return "unknown";
}

std::optional<int64_t> InfluxPrecision(std::string_view name) {
  if (name.empty() || name == "ns" || name == "n") return 1;
  if (name == "us" || name == "u") return 1000;
  if (name == "ms") return 1000000;
  if (name == "s") return 1000000000;
  if (name == "m") return int64_t{60} * 1000000000;
  if (name == "h") return int64_t{3600} * 1000000000;
  return std::nullopt;
}

namespace {

// Reads a token of `line` from *pos up to an unescaped character of `stops` (or the end),
// unescaping `\<c>` for each c in `escapable` (a backslash before any other character is kept,
// as InfluxDB keeps it).
std::string Token(std::string_view line, size_t* pos, std::string_view stops,
                  std::string_view escapable) {
  // Most tokens have no backslash: one scan and one copy.
  size_t end = *pos;
  while (end < line.size() && line[end] != '\\' &&
         stops.find(line[end]) == std::string_view::npos) {
    ++end;
  }
  if (end == line.size() || line[end] != '\\') {
    std::string out(line.substr(*pos, end - *pos));
    *pos = end;
    return out;
  }
  std::string out;
  size_t i = *pos;
  while (i < line.size()) {
    const char c = line[i];
    if (c == '\\' && i + 1 < line.size() && escapable.find(line[i + 1]) != std::string_view::npos) {
      out += line[i + 1];
      i += 2;
      continue;
    }
    if (stops.find(c) != std::string_view::npos) break;
    out += c;
    ++i;
  }
  *pos = i;
  return out;
}

bool ParseFieldValue(std::string_view line, size_t* pos, RawValue* v, std::string* why) {
  size_t i = *pos;
  if (i >= line.size()) {
    *why = "a field has no value";
    return false;
  }
  if (line[i] == '"') {
    std::string s;
    ++i;
    for (;;) {
      if (i >= line.size()) {
        *why = "a string field value has no closing quote";
        return false;
      }
      const char c = line[i];
      if (c == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) {
        s += line[i + 1];
        i += 2;
        continue;
      }
      if (c == '"') {
        ++i;
        break;
      }
      s += c;
      ++i;
    }
    v->type = RawValue::Type::kString;
    v->s = std::move(s);
    *pos = i;
    return true;
  }
  size_t end = i;
  while (end < line.size() && line[end] != ',' && line[end] != ' ') ++end;
  const std::string_view text = line.substr(i, end - i);
  *pos = end;
  if (text.empty()) {
    *why = "a field has no value";
    return false;
  }
  if (text == "t" || text == "T" || text == "true" || text == "True" || text == "TRUE") {
    v->type = RawValue::Type::kBool;
    v->i = 1;
    return true;
  }
  if (text == "f" || text == "F" || text == "false" || text == "False" || text == "FALSE") {
    v->type = RawValue::Type::kBool;
    v->i = 0;
    return true;
  }
  const char last = text.back();
  if (last == 'i' || last == 'u') {
    const std::string_view digits = text.substr(0, text.size() - 1);
    const char* b = digits.data();
    const char* e = b + digits.size();
    if (last == 'i') {
      auto [p, ec] = std::from_chars(b, e, v->i);
      if (ec != std::errc() || p != e || digits.empty()) {
        *why = "'" + std::string(text) + "' is not an integer (-9223372036854775808i to " +
               "9223372036854775807i)";
        return false;
      }
      v->type = RawValue::Type::kInt;
    } else {
      auto [p, ec] = std::from_chars(b, e, v->u);
      if (ec != std::errc() || p != e || digits.empty()) {
        *why = "'" + std::string(text) + "' is not an unsigned integer (0u to " +
               "18446744073709551615u)";
        return false;
      }
      v->type = RawValue::Type::kUint;
    }
    return true;
  }
  const char* b = text.data();
  const char* e = b + text.size();
  if (*b == '+') ++b;  // from_chars takes no leading '+'
  auto [p, ec] = std::from_chars(b, e, v->f);
  if (ec != std::errc() || p != e || !std::isfinite(v->f)) {
    *why = "'" + std::string(text) + "' is not a finite number, integer (12i), unsigned (12u), " +
           "boolean or quoted string";
    return false;
  }
  v->type = RawValue::Type::kFloat;
  return true;
}

// One line; false (with *why) when it cannot be read. Appends its samples to `out`.
bool ParseLine(std::string_view line, uint32_t number, int64_t ns_per_unit, int64_t now_ns,
               RawBatch* out, std::string* why) {
  size_t pos = 0;
  const std::string measurement = Token(line, &pos, ", ", ", \\");
  if (measurement.empty()) {
    *why = "no measurement";
    return false;
  }
  Labels tags;
  while (pos < line.size() && line[pos] == ',') {
    ++pos;
    std::string key = Token(line, &pos, ",= ", ",= \\");
    if (pos >= line.size() || line[pos] != '=' || key.empty()) {
      *why = "a tag is not key=value";
      return false;
    }
    ++pos;
    std::string value = Token(line, &pos, ",= ", ",= \\");
    if (value.empty()) {
      *why = "tag '" + key + "' has an empty value";
      return false;
    }
    tags.emplace_back(std::move(key), std::move(value));
  }
  if (pos >= line.size() || line[pos] != ' ') {
    *why = "no fields (a space must separate the measurement and tags from the fields)";
    return false;
  }
  while (pos < line.size() && line[pos] == ' ') ++pos;
  std::sort(tags.begin(), tags.end());
  for (size_t i = 1; i < tags.size(); ++i) {
    if (tags[i].first == tags[i - 1].first) {
      *why = "tag '" + tags[i].first + "' is given twice";
      return false;
    }
  }
  struct Field {
    std::string key;
    RawValue value;
  };
  std::vector<Field> fields;
  for (;;) {
    std::string key = Token(line, &pos, ",= ", ",= \\");
    if (key.empty() || pos >= line.size() || line[pos] != '=') {
      *why = "a field is not key=value";
      return false;
    }
    ++pos;
    Field f{std::move(key), {}};
    if (!ParseFieldValue(line, &pos, &f.value, why)) {
      *why = "field '" + f.key + "': " + *why;
      return false;
    }
    fields.push_back(std::move(f));
    if (pos < line.size() && line[pos] == ',') {
      ++pos;
      continue;
    }
    break;
  }
  int64_t time_ns = now_ns;
  while (pos < line.size() && line[pos] == ' ') ++pos;
  if (pos < line.size()) {
    const std::string_view text = line.substr(pos);
    const size_t space = text.find(' ');
    const std::string_view digits = text.substr(0, space);
    if (space != std::string_view::npos &&
        text.find_first_not_of(' ', space) != std::string_view::npos) {
      *why = "unexpected text after the timestamp";
      return false;
    }
    int64_t t = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), t);
    if (ec != std::errc() || p != digits.data() + digits.size()) {
      *why = "'" + std::string(digits) + "' is not an integer timestamp";
      return false;
    }
    if (__builtin_mul_overflow(t, ns_per_unit, &time_ns)) {
      *why = "timestamp " + std::string(digits) + " is out of range";
      return false;
    }
  }
  const auto label_index = static_cast<uint32_t>(out->label_sets.size());
  out->label_sets.push_back(std::move(tags));
  for (Field& f : fields) {
    RawSample s;
    s.name.reserve(measurement.size() + 1 + f.key.size());
    s.name.append(measurement).push_back('_');
    s.name.append(f.key);
    s.labels = label_index;
    s.time_ns = time_ns;
    s.value = std::move(f.value);
    s.line = number;
    out->samples.push_back(std::move(s));
  }
  return true;
}

}  // namespace

void ParseInfluxLines(std::string_view body, int64_t ns_per_unit, int64_t now_ns, RawBatch* out) {
  // About one sample per 16 bytes and one line per 80 (a guess that saves most regrowth).
  out->samples.reserve(out->samples.size() + body.size() / 16);
  out->label_sets.reserve(out->label_sets.size() + body.size() / 80);
  uint32_t number = 0;
  std::string why;
  for (size_t pos = 0; pos < body.size();) {
    const size_t nl = std::min(body.find('\n', pos), body.size());
    std::string_view line = body.substr(pos, nl - pos);
    pos = nl + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    line.remove_prefix(first);
    why.clear();
    if (!ParseLine(line, number, ns_per_unit, now_ns, out, &why)) {
      out->AddIssue(number, why, line);
    }
  }
}

}  // namespace meterd::net::ingest
