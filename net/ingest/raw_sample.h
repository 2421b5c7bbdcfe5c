// meterd — net/ingest/raw_sample.h
//
// What the HTTP ingest decoders (Influx line protocol, collectd's write_http JSON, Prometheus
// remote_write) produce before the mapping file (ingest_mapping.h) turns a sample into a
// meterd series: a name, a set of labels, a time in nanoseconds and a typed value, plus the
// problems of the lines or entries that could not be read (each one refused and counted; the
// request's other samples are kept).
//
// Names per format (docs/ingest-mapping.md, "Names and labels"):
//   influx      <measurement>_<field>; labels: the tags
//   collectd    <plugin>_<type>_<dsname>; labels: host, plugin, plugin_instance, type,
//               type_instance, dsname, dstype
//   prometheus  the __name__ label; labels: the others
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace meterd::net::ingest {

enum class Format : uint8_t { kInflux, kCollectd, kPrometheus, kCount };
constexpr size_t kFormats = static_cast<size_t>(Format::kCount);
// "influx", "collectd", "prometheus".
const char* FormatName(Format format);

// Labels of one sample, sorted by name, names unique.
using Labels = std::vector<std::pair<std::string, std::string>>;

struct RawValue {
  enum class Type : uint8_t { kFloat, kInt, kUint, kBool, kString };
  Type type = Type::kFloat;
  double f = 0;    // kFloat
  int64_t i = 0;   // kInt, kBool (0 or 1)
  uint64_t u = 0;  // kUint
  std::string s;   // kString
};

struct RawSample {
  std::string name;
  uint32_t labels = 0;  // index into RawBatch::label_sets
  int64_t time_ns = 0;  // nanoseconds since the unix epoch
  RawValue value;
  uint32_t line = 0;  // 1-based line (influx), entry (collectd) or series (prometheus)
};

// A line or entry that could not be read: refused, counted as `bad_line`, reported.
struct ParseIssue {
  uint32_t line = 0;
  std::string message;  // what is wrong
  std::string text;     // the offending line (at most 200 bytes)
};

struct RawBatch {
  std::vector<Labels> label_sets;
  std::vector<RawSample> samples;
  std::vector<ParseIssue> issues;  // the first kMaxIssues
  uint64_t bad_lines = 0;          // all of them
  // Prometheus staleness markers read (not samples: the series ended; counted, never stored).
  uint64_t stale_markers = 0;

  static constexpr size_t kMaxIssues = 32;
  void AddIssue(uint32_t line, std::string message, std::string_view text) {
    ++bad_lines;
    if (issues.size() < kMaxIssues) {
      issues.push_back(
          ParseIssue{line, std::move(message), std::string(text.substr(0, kMaxIssueText))});
    }
  }
  static constexpr size_t kMaxIssueText = 200;
};

// Floor of ns / 1e9 (negative times round down too).
inline int64_t FloorSeconds(int64_t ns) {
  int64_t s = ns / 1000000000;
  if (ns % 1000000000 < 0) --s;
  return s;
}

}  // namespace meterd::net::ingest
