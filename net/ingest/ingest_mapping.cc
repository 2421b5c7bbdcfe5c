// meterd — net/ingest/ingest_mapping.cc
#include "net/ingest/ingest_mapping.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace meterd::net::ingest {

const char* UnmappedName(Unmapped reason) {
  switch (reason) {
    case Unmapped::kNoRule:
      return "no_rule";
    case Unmapped::kMissingLabel:
      return "missing_label";
    case Unmapped::kBadResource:
      return "bad_resource";
    case Unmapped::kDropped:
      return "dropped";
    case Unmapped::kUnknownMetric:
      return "unknown_metric";
    case Unmapped::kCount:
      break;
  }
  return "unknown";
}

const char* RefusedName(Refused reason) {
  switch (reason) {
    case Refused::kBadLine:
      return "bad_line";
    case Refused::kBadValue:
      return "bad_value";
    case Refused::kBadTimestamp:
      return "bad_timestamp";
    case Refused::kStaleMarker:
      return "stale_marker";
    case Refused::kSuperseded:
      return "superseded";
    case Refused::kCount:
      break;
  }
  return "unknown";
}

const char* KindName(MetricMeta::Kind kind) {
  switch (kind) {
    case MetricMeta::Kind::kGauge:
      return "gauge";
    case MetricMeta::Kind::kCounter:
      return "counter";
    case MetricMeta::Kind::kState:
      return "state";
  }
  return "unknown";
}

bool ValidResourceId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (const char c : id) {
    if (c <= ' ' || c > '~' || c == '|') return false;
  }
  return true;
}

namespace {

Status RuleError(int line, const std::string& what) {
  return Status::InvalidArgument("ingest mapping, rule at line " + std::to_string(line) + ": " +
                                 what);
}

// "{instance}-{device}" -> literals {"", "-", ""}, labels {"instance", "device"}.
Status ParseTemplate(const std::string& text, MappingRule* rule) {
  std::string literal;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{') {
      const size_t close = text.find('}', i);
      if (close == std::string::npos || close == i + 1) {
        return RuleError(rule->line, "resource '" + text + "': '{' must open a {label}");
      }
      rule->literals.push_back(std::move(literal));
      literal.clear();
      rule->label_refs.push_back(text.substr(i + 1, close - i - 1));
      i = close;
    } else if (text[i] == '}') {
      return RuleError(rule->line, "resource '" + text + "': '}' without '{'");
    } else {
      literal += text[i];
    }
  }
  rule->literals.push_back(std::move(literal));
  if (rule->label_refs.empty() && !ValidResourceId(rule->literals[0])) {
    return RuleError(rule->line, "resource '" + text + "' is not a valid resource id");
  }
  return Status::OK();
}

std::optional<MetricMeta::Kind> ParseKind(const std::string& s) {
  if (s == "gauge") return MetricMeta::Kind::kGauge;
  if (s == "counter") return MetricMeta::Kind::kCounter;
  if (s == "state") return MetricMeta::Kind::kState;
  return std::nullopt;
}

std::optional<Format> ParseFormat(const std::string& s) {
  if (s == "influx") return Format::kInflux;
  if (s == "collectd") return Format::kCollectd;
  if (s == "prometheus") return Format::kPrometheus;
  return std::nullopt;
}

Result<MappingRule> ParseRule(const YAML::Node& node) {
  MappingRule r;
  r.line = node.Mark().line + 1;
  if (!node.IsMap()) return RuleError(r.line, "a rule must be a mapping");
  static const char* kKeys[] = {"name", "format", "labels", "resource", "metric",
                                "kind", "unit",   "scale",  "drop",     "type"};
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (std::find_if(std::begin(kKeys), std::end(kKeys), [&](const char* k) { return key == k; }) ==
        std::end(kKeys)) {
      return RuleError(r.line,
                       "unknown key '" + key +
                           "' (name, format, labels, resource, metric, kind, unit, scale, drop, "
                           "type)");
    }
  }
  auto scalar = [&](const char* key, std::string* out) -> Status {
    const YAML::Node v = node[key];
    if (!v) return Status::OK();
    if (!v.IsScalar()) return RuleError(r.line, std::string("'") + key + "' must be a string");
    *out = v.as<std::string>();
    return Status::OK();
  };
  METERD_RETURN_IF_ERROR(scalar("name", &r.name));
  if (r.name.empty()) return RuleError(r.line, "'name' is required");
  std::string format;
  METERD_RETURN_IF_ERROR(scalar("format", &format));
  if (!format.empty()) {
    r.format = ParseFormat(format);
    if (!r.format) {
      return RuleError(r.line, "format '" + format + "' is not influx, collectd or prometheus");
    }
  }
  if (const YAML::Node labels = node["labels"]) {
    if (!labels.IsMap()) return RuleError(r.line, "'labels' must be a mapping of label: value");
    for (const auto& kv : labels) {
      if (!kv.second.IsScalar()) return RuleError(r.line, "label values must be strings");
      r.labels.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
    }
    std::sort(r.labels.begin(), r.labels.end());
  }
  if (const YAML::Node drop = node["drop"]) {
    try {
      r.drop = drop.as<bool>();
    } catch (const YAML::Exception&) {
      return RuleError(r.line, "'drop' must be true or false");
    }
  }
  std::string resource;
  METERD_RETURN_IF_ERROR(scalar("resource", &resource));
  METERD_RETURN_IF_ERROR(scalar("metric", &r.metric));
  METERD_RETURN_IF_ERROR(scalar("type", &r.resource_type));
  if (r.drop) {
    if (!resource.empty() || !r.metric.empty() || node["type"]) {
      return RuleError(r.line, "a drop rule takes no resource, metric or type");
    }
    return r;
  }
  if (node["type"] && r.resource_type.empty()) return RuleError(r.line, "'type' is empty");
  if (r.resource_type.empty()) r.resource_type = r.metric.substr(0, r.metric.find('.'));
  if (resource.empty()) return RuleError(r.line, "'resource' is required (or 'drop: true')");
  if (r.metric.empty()) return RuleError(r.line, "'metric' is required (or 'drop: true')");
  METERD_RETURN_IF_ERROR(ParseTemplate(resource, &r));
  std::string kind, unit;
  METERD_RETURN_IF_ERROR(scalar("kind", &kind));
  if (!kind.empty()) {
    r.kind = ParseKind(kind);
    if (!r.kind) return RuleError(r.line, "kind '" + kind + "' is not gauge, counter or state");
  }
  if (node["unit"]) {
    METERD_RETURN_IF_ERROR(scalar("unit", &unit));
    r.unit = unit;
  }
  if (const YAML::Node scale = node["scale"]) {
    try {
      r.scale = scale.as<double>();
    } catch (const YAML::Exception&) {
      return RuleError(r.line, "'scale' must be a number");
    }
    if (!std::isfinite(r.scale) || r.scale <= 0) {
      return RuleError(r.line, "'scale' must be a positive number");
    }
  }
  return r;
}

}  // namespace

Result<IngestMapping> IngestMapping::Parse(std::string_view text) {
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("ingest mapping: not YAML or JSON: " + std::string(e.what()));
  }
  if (!doc.IsMap()) {
    return Status::InvalidArgument("ingest mapping: the document must be a mapping with 'rules'");
  }
  for (const auto& kv : doc) {
    const std::string key = kv.first.as<std::string>();
    if (key != "version" && key != "rules") {
      return Status::InvalidArgument("ingest mapping: unknown key '" + key + "' (version, rules)");
    }
  }
  if (const YAML::Node v = doc["version"]) {
    if (!v.IsScalar() || v.as<std::string>() != "1") {
      return Status::InvalidArgument("ingest mapping: version must be 1");
    }
  }
  const YAML::Node rules = doc["rules"];
  if (!rules || !rules.IsSequence()) {
    return Status::InvalidArgument("ingest mapping: 'rules' must be a list");
  }
  IngestMapping m;
  try {
    for (const YAML::Node& node : rules) {
      METERD_ASSIGN_OR_RETURN(MappingRule r, ParseRule(node));
      m.by_name_[r.name].push_back(m.rules_.size());
      m.rules_.push_back(std::move(r));
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("ingest mapping: " + std::string(e.what()));
  }
  return m;
}

Result<IngestMapping> IngestMapping::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("ingest mapping: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return Parse(ss.str());
}

Status IngestMapping::CheckRule(const MappingRule& r, const MetricMeta& m) {
  if (r.kind && *r.kind != m.kind) {
    return RuleError(r.line, "metric " + r.metric + " is a " + KindName(m.kind) + ", not a " +
                                 KindName(*r.kind));
  }
  if (r.unit && *r.unit != m.unit) {
    return RuleError(r.line, "metric " + r.metric + " is in " + m.unit + ", not " + *r.unit);
  }
  return Status::OK();
}

namespace {

const std::string* FindLabel(const Labels& labels, std::string_view name) {
  auto it = std::lower_bound(labels.begin(), labels.end(), name,
                             [](const auto& l, std::string_view n) { return l.first < n; });
  if (it == labels.end() || it->first != name) return nullptr;
  return &it->second;
}

}  // namespace

MapResult IngestMapping::Map(Format format, std::string_view name, const Labels& labels) const {
  MapResult out;
  const auto candidates = by_name_.find(std::string(name));
  if (candidates == by_name_.end()) {
    out.why = Unmapped::kNoRule;
    return out;
  }
  for (const size_t index : candidates->second) {
    const MappingRule& r = rules_[index];
    if (r.format && *r.format != format) continue;
    bool match = true;
    for (const auto& [k, v] : r.labels) {
      const std::string* have = FindLabel(labels, k);
      if (have == nullptr || *have != v) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    if (r.drop) {
      out.why = Unmapped::kDropped;
      return out;
    }
    std::string resource = r.literals[0];
    for (size_t i = 0; i < r.label_refs.size(); ++i) {
      const std::string* v = FindLabel(labels, r.label_refs[i]);
      if (v == nullptr || v->empty()) {
        out.why = Unmapped::kMissingLabel;
        out.missing = r.label_refs[i];
        return out;
      }
      resource += *v;
      resource += r.literals[i + 1];
    }
    if (!ValidResourceId(resource)) {
      out.why = Unmapped::kBadResource;
      out.resource = std::move(resource);
      return out;
    }
    out.rule = &r;
    out.resource = std::move(resource);
    return out;
  }
  out.why = Unmapped::kNoRule;
  return out;
}

std::optional<uint64_t> ConvertValue(const RawValue& value, double scale, const MetricMeta& meta,
                                     std::string* why) {
  using T = RawValue::Type;
  if (value.type == T::kString) {
    *why = "a string value (\"" + value.s.substr(0, 40) + "\") is not a number";
    return std::nullopt;
  }
  if (meta.is_float) {
    double d = 0;
    switch (value.type) {
      case T::kFloat:
        d = value.f;
        break;
      case T::kInt:
      case T::kBool:
        d = static_cast<double>(value.i);
        break;
      case T::kUint:
        d = static_cast<double>(value.u);
        break;
      case T::kString:
        break;
    }
    d *= scale;
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    return bits;  // NaN and infinities are the pipeline's to refuse (not_finite)
  }
  // An integer metric: exact when both the value and the scale are whole.
  const bool whole_scale = scale == std::nearbyint(scale) && scale < 18446744073709551616.0;
  if (whole_scale && value.type != T::kFloat) {
    if (value.type != T::kUint && value.i < 0) {
      *why = "value " + std::to_string(value.i) + " is negative";
      return std::nullopt;
    }
    const uint64_t v = value.type == T::kUint ? value.u : static_cast<uint64_t>(value.i);
    uint64_t out;
    if (__builtin_mul_overflow(v, static_cast<uint64_t>(scale), &out)) {
      *why = "value " + std::to_string(v) + " x scale is 2^64 or more";
      return std::nullopt;
    }
    return out;
  }
  double d = value.type == T::kFloat  ? value.f
             : value.type == T::kUint ? static_cast<double>(value.u)
                                      : static_cast<double>(value.i);
  d *= scale;
  if (!std::isfinite(d)) {
    *why = "value is NaN or infinite, and metric is an integer";
    return std::nullopt;
  }
  const double r = std::nearbyint(d);  // the default rounding mode: to nearest, ties to even
  if (r < 0) {
    *why = "value " + std::to_string(d) + " is negative";
    return std::nullopt;
  }
  if (r >= 18446744073709551616.0) {
    *why = "value " + std::to_string(d) + " is 2^64 or more";
    return std::nullopt;
  }
  if (meta.kind == MetricMeta::Kind::kState && r != d) {
    *why = "state value " + std::to_string(d) + " is not a whole number";
    return std::nullopt;
  }
  return static_cast<uint64_t>(r);
}

}  // namespace meterd::net::ingest
