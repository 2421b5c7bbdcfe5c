// meterd — tests/fuzz/ingest_fuzz.cc: libFuzzer target for the HTTP ingest decoders
// (net/ingest): Influx line protocol, collectd's write_http JSON and Prometheus remote_write.
//
// The first byte picks the decoder ('i' Influx, 'c' collectd, 'p' remote_write protobuf, 's'
// remote_write snappy body: snappy, then protobuf; 'g' a gzip Influx body); any other first
// byte runs the rest through all three raw decoders, so the fuzzer need not find a selector
// first. Every decoded sample is then mapped by a small mapping and converted to each metric
// type, as the routes do. Besides the sanitizers it checks the decoders' own promises: a sample
// names its label set, a line number is within the input, issues are capped.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "net/ingest/body_codec.h"
#include "net/ingest/collectd_json.h"
#include "net/ingest/influx_line.h"
#include "net/ingest/ingest_mapping.h"
#include "net/ingest/remote_write.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {
namespace {

using namespace net::ingest;

const IngestMapping& Mapping() {
  static const IngestMapping m = [] {
    auto r = IngestMapping::Parse(R"(rules:
  - {name: m_v, resource: "{t}", metric: a.counter, scale: 1000}
  - {name: m_v, resource: "lit", metric: a.float}
  - {name: p_t_value, resource: "{host}-{plugin_instance}", metric: a.state}
  - {name: up, labels: {job: x}, resource: "{instance}", metric: a.float, scale: 0.5}
  - {name: x, drop: true}
)");
    if (!r.ok()) std::abort();
    return std::move(r).value();
  }();
  return m;
}

void Check(const RawBatch& b, Format format, Decoded* out) {
  if (b.issues.size() > RawBatch::kMaxIssues || b.issues.size() > b.bad_lines) {
    std::fprintf(stderr, "ingest: %zu issues kept of %llu\n", b.issues.size(),
                 static_cast<unsigned long long>(b.bad_lines));
    std::abort();
  }
  const MetricMeta metas[] = {{MetricMeta::Kind::kCounter, false, "x"},
                              {MetricMeta::Kind::kGauge, true, "x"},
                              {MetricMeta::Kind::kState, false, "x"}};
  for (const RawSample& s : b.samples) {
    if (s.labels >= b.label_sets.size()) {
      std::fprintf(stderr, "ingest: a sample names label set %u of %zu\n", s.labels,
                   b.label_sets.size());
      std::abort();
    }
    const MapResult m = Mapping().Map(format, s.name, b.label_sets[s.labels]);
    std::string item = std::string(FormatName(format)) + " " + std::to_string(s.line) + " " +
                       s.name + " " + std::to_string(s.time_ns);
    if (m.rule != nullptr) {
      if (!ValidResourceId(m.resource)) std::abort();
      item += " -> " + m.resource + "|" + m.rule->metric;
    } else {
      item += std::string(" unmapped ") + UnmappedName(m.why);
    }
    std::string why;
    for (const MetricMeta& meta : metas) {
      const auto v = ConvertValue(s.value, m.rule ? m.rule->scale : 1, meta, &why);
      item += v ? " " + std::to_string(*v) : " bad";
    }
    out->items.push_back(std::move(item));
  }
  for (const ParseIssue& i : b.issues) {
    out->items.push_back(std::string(FormatName(format)) + " issue " + std::to_string(i.line) +
                         ": " + i.message);
  }
}

void Influx(std::string_view body, Decoded* out) {
  RawBatch b;
  ParseInfluxLines(body, 1000000000, 1767225600000000000, &b);
  Check(b, Format::kInflux, out);
  if (b.bad_lines) out->status = Status::InvalidArgument("bad lines");
}

void Collectd(std::string_view body, Decoded* out) {
  RawBatch b;
  std::string why;
  if (!ParseCollectdJson(body, &b, &why)) {
    out->status = Status::InvalidArgument(why);
    return;
  }
  Check(b, Format::kCollectd, out);
  if (b.bad_lines) out->status = Status::InvalidArgument("bad entries");
}

void Prometheus(std::string_view body, Decoded* out) {
  RawBatch b;
  std::string why;
  if (!ParseRemoteWrite(body, &b, &why)) {
    out->status = Status::InvalidArgument(why);
    return;
  }
  Check(b, Format::kPrometheus, out);
  if (b.bad_lines) out->status = Status::InvalidArgument("bad series");
}

}  // namespace

Decoded DecodeIngest(std::string_view input) {
  Decoded out;
  if (input.empty()) return out;
  const std::string_view body = input.substr(1);
  std::string inflated, why;
  switch (input[0]) {
    case 'i':
      Influx(body, &out);
      break;
    case 'c':
      Collectd(body, &out);
      break;
    case 'p':
      Prometheus(body, &out);
      break;
    case 's':
      if (SnappyUncompress(body, 1 << 20, &inflated, &why) != DecodeResult::kOk) {
        out.status = Status::InvalidArgument(why);
        break;
      }
      Prometheus(inflated, &out);
      break;
    case 'g':
      if (Gunzip(body, 1 << 20, &inflated, &why) != DecodeResult::kOk) {
        out.status = Status::InvalidArgument(why);
        break;
      }
      Influx(inflated, &out);
      break;
    default:
      Influx(input, &out);
      Collectd(input, &out);
      Prometheus(input, &out);
      break;
  }
  return out;
}

}  // namespace meterd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)meterd::fuzz::DecodeIngest(meterd::fuzz::AsView(data, size));
  return 0;
}
