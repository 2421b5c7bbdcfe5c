// meterd — net/ingest/collectd_json.cc
#include "net/ingest/collectd_json.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace meterd::net::ingest {

namespace {

using Json = nlohmann::json;

bool ParseEntry(const Json& e, uint32_t number, RawBatch* out, std::string* why) {
  if (!e.is_object()) {
    *why = "not an object";
    return false;
  }
  auto field = [&](const char* name) -> const Json* {
    auto it = e.find(name);
    return it == e.end() ? nullptr : &*it;
  };
  const Json* values = field("values");
  const Json* dstypes = field("dstypes");
  const Json* dsnames = field("dsnames");
  const Json* time = field("time");
  if (!values || !values->is_array() || !dstypes || !dstypes->is_array() || !dsnames ||
      !dsnames->is_array()) {
    *why = "values, dstypes and dsnames must be arrays";
    return false;
  }
  if (values->size() != dstypes->size() || values->size() != dsnames->size() || values->empty()) {
    *why = "values, dstypes and dsnames must have the same, non-zero length";
    return false;
  }
  if (!time || !time->is_number()) {
    *why = "time must be a number (seconds)";
    return false;
  }
  const double t = time->get<double>();
  const double ms = std::nearbyint(t * 1e3);
  if (!std::isfinite(t) || t < 0 || ms >= 9.2e15) {
    *why = "time " + time->dump() + " is out of range";
    return false;
  }
  std::string ident[5];
  const char* names[5] = {"host", "plugin", "plugin_instance", "type", "type_instance"};
  for (int i = 0; i < 5; ++i) {
    const Json* f = field(names[i]);
    if (f == nullptr || f->is_null()) continue;
    if (!f->is_string()) {
      *why = std::string(names[i]) + " must be a string";
      return false;
    }
    ident[i] = f->get<std::string>();
  }
  if (ident[1].empty() || ident[3].empty()) {
    *why = "plugin and type are required";
    return false;
  }
  for (size_t i = 0; i < values->size(); ++i) {
    if (!(*dsnames)[i].is_string() || !(*dstypes)[i].is_string()) {
      *why = "dsnames and dstypes must be strings";
      return false;
    }
    const Json& v = (*values)[i];
    if (!v.is_null() && !v.is_number()) {
      *why = "values must be numbers or null";
      return false;
    }
  }
  const auto time_ns = static_cast<int64_t>(ms) * 1000000;
  for (size_t i = 0; i < values->size(); ++i) {
    const std::string dsname = (*dsnames)[i].get<std::string>();
    Labels labels;
    for (int k = 0; k < 5; ++k) {
      if (!ident[k].empty()) labels.emplace_back(names[k], ident[k]);
    }
    if (!dsname.empty()) labels.emplace_back("dsname", dsname);
    labels.emplace_back("dstype", (*dstypes)[i].get<std::string>());
    std::sort(labels.begin(), labels.end());
    RawSample s;
    s.name = ident[1] + "_" + ident[3] + "_" + dsname;
    s.labels = static_cast<uint32_t>(out->label_sets.size());
    out->label_sets.push_back(std::move(labels));
    s.time_ns = time_ns;
    s.line = number;
    const Json& v = (*values)[i];
    if (v.is_null()) {
      s.value.type = RawValue::Type::kFloat;
      s.value.f = std::numeric_limits<double>::quiet_NaN();
    } else if (v.is_number_unsigned()) {
      s.value.type = RawValue::Type::kUint;
      s.value.u = v.get<uint64_t>();
    } else if (v.is_number_integer()) {
      s.value.type = RawValue::Type::kInt;
      s.value.i = v.get<int64_t>();
    } else {
      s.value.type = RawValue::Type::kFloat;
      s.value.f = v.get<double>();
    }
    out->samples.push_back(std::move(s));
  }
  return true;
}

}  // namespace

bool ParseCollectdJson(std::string_view body, RawBatch* out, std::string* why) {
  Json doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    *why = "the body is not JSON";
    return false;
  }
  if (!doc.is_array()) {
    *why = "the body must be a JSON array of collectd value lists";
    return false;
  }
  std::string entry_why;
  uint32_t number = 0;
  for (const Json& e : doc) {
    ++number;
    entry_why.clear();
    if (!ParseEntry(e, number, out, &entry_why)) {
      out->AddIssue(number, "value list " + std::to_string(number) + ": " + entry_why,
                    e.dump(-1, ' ', false, Json::error_handler_t::replace));
    }
  }
  return true;
}

}  // namespace meterd::net::ingest
