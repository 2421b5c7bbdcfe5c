// meterd — net/ingest/ingest_mapping.h
//
// The ingest mapping file (`meterd --ingest-mapping FILE`, docs/ingest-mapping.md): YAML (or
// JSON, which YAML reads too) rules that turn a decoded sample (name, labels: raw_sample.h)
// into a meterd series (resource, catalog metric) and its value:
//
//   version: 1
//   rules:
//     - name: node_memory_MemTotal_bytes   # the sample's name, exactly
//       format: prometheus                 # optional: influx, collectd or prometheus
//       labels: {job: node}                # optional: each label must have this value
//       resource: "{instance}"             # "{label}" is replaced by the label's value
//       metric: vm.memory_bytes            # a catalog metric
//       kind: gauge                        # optional: checked against the catalog
//       unit: bytes                        # optional: checked against the catalog
//       scale: 1                           # optional: the value is multiplied by it
//     - name: go_goroutines
//       drop: true                         # counted as unmapped (reason "dropped")
//
// Rules are tried in file order and the first whose name, format and labels match decides.
// A sample no rule matches is unmapped (`no_rule`); one whose resource template names a label
// the sample lacks is unmapped (`missing_label`); one whose resource is not a valid resource id
// (1-128 printable ASCII bytes, no space, no '|') is unmapped (`bad_resource`).
//
// Values (ConvertValue): a float metric takes value x scale as a double; an integer metric
// (counter, integer gauge, state) takes an exact integer when the value is an integer and the
// scale a whole number, else value x scale rounded to the nearest integer (ties to even); a
// state must come out whole. A value that is negative, not finite, 2^64 or more, or a string is
// refused (`bad_value`); a boolean is 0 or 1.
//
// Thread-safety: immutable after Parse; Match and ConvertValue may run on any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/ingest/raw_sample.h"
#include "storage/base/result.h"

namespace meterd::net::ingest {

// Why a sample did not reach the ingest pipeline, counted per format in
// meterd_http_ingest_unmapped_samples_total{reason} and ..._refused_samples_total{reason}.
enum class Unmapped : uint8_t {
  kNoRule,
  kMissingLabel,
  kBadResource,
  kDropped,
  kUnknownMetric,
  kCount
};
constexpr size_t kUnmappedReasons = static_cast<size_t>(Unmapped::kCount);
// "no_rule", "missing_label", "bad_resource", "dropped", "unknown_metric".
const char* UnmappedName(Unmapped reason);

enum class Refused : uint8_t {
  kBadLine,       // a line or entry that could not be read
  kBadValue,      // not convertible to the metric's type
  kBadTimestamp,  // before 1970 or after 2106 (a batch's offsets are 32-bit)
  kStaleMarker,   // a Prometheus staleness marker
  kSuperseded,    // another sample of the same series and second in the request won
  kCount
};
constexpr size_t kRefusedReasons = static_cast<size_t>(Refused::kCount);
// "bad_line", "bad_value", "bad_timestamp", "stale_marker", "superseded".
const char* RefusedName(Refused reason);

// What the catalog says of a metric (looked up when a request maps samples to it).
struct MetricMeta {
  enum class Kind : uint8_t { kGauge, kCounter, kState };
  Kind kind = Kind::kGauge;
  bool is_float = false;
  std::string unit;
};
const char* KindName(MetricMeta::Kind kind);

struct MappingRule {
  std::string name;
  std::optional<Format> format;
  Labels labels;  // required values, sorted
  // The resource template: literal text and label names, alternating from a literal.
  std::vector<std::string> literals;  // size = label_refs.size() + 1
  std::vector<std::string> label_refs;
  std::string metric;
  std::optional<MetricMeta::Kind> kind;
  std::optional<std::string> unit;
  double scale = 1;
  bool drop = false;
  int line = 0;  // in the file (1-based), for messages
  // The type meterd registers the resource under when its first series arrives over HTTP
  // (RegisterResources): the rule's `type`, else the metric's family, the part before its
  // first dot (`vm.memory_bytes` -> `vm`).
  std::string resource_type;
};

struct MapResult {
  const MappingRule* rule = nullptr;  // null: unmapped
  Unmapped why = Unmapped::kNoRule;
  std::string resource;
  std::string missing;  // the label a template needed (kMissingLabel)
};

class IngestMapping {
 public:
  // Parses a mapping document. InvalidArgument names the rule (its line) and what is wrong.
  static Result<IngestMapping> Parse(std::string_view text);
  static Result<IngestMapping> Load(const std::string& path);

  const std::vector<MappingRule>& rules() const { return rules_; }

  MapResult Map(Format format, std::string_view name, const Labels& labels) const;

  // Checks every rule's kind and unit (when given) against the catalog: InvalidArgument for a
  // disagreement. A metric `lookup` does not know yet is only listed in *unknown (it may be
  // defined later; its samples are unmapped as `unknown_metric` until then).
  template <typename Lookup>
  Status Check(Lookup&& lookup, std::vector<std::string>* unknown) const {
    for (const MappingRule& r : rules_) {
      if (r.drop) continue;
      std::optional<MetricMeta> m = lookup(r.metric);
      if (!m) {
        unknown->push_back(r.metric);
        continue;
      }
      if (Status st = CheckRule(r, *m); !st.ok()) return st;
    }
    return Status::OK();
  }
  static Status CheckRule(const MappingRule& rule, const MetricMeta& meta);

 private:
  std::vector<MappingRule> rules_;
  // Rule indices by name, in file order (Map looks at those only).
  std::unordered_map<std::string, std::vector<size_t>> by_name_;
};

// A resource id the protocol takes: 1-128 bytes of printable ASCII, no space, no '|'.
bool ValidResourceId(std::string_view id);

// The sample's value as the 64-bit pattern of `meta`'s type (u64, or IEEE-754 double bits);
// nullopt (with *why) when it cannot be one (Refused::kBadValue).
std::optional<uint64_t> ConvertValue(const RawValue& value, double scale, const MetricMeta& meta,
                                     std::string* why);

}  // namespace meterd::net::ingest
