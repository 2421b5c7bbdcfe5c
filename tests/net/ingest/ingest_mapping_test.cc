// meterd — tests/net/ingest/ingest_mapping_test.cc: the mapping file and value conversion.
#include "net/ingest/ingest_mapping.h"

#include "engine/catalog.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

namespace meterd::net::ingest {
namespace ingest_mapping_test {

const char* kDoc = R"(
version: 1
rules:
  - name: node_memory_MemTotal_bytes
    format: prometheus
    labels: {job: node}
    resource: "{instance}"
    metric: vm.memory_bytes
    kind: gauge
    unit: bytes
  - name: node_memory_MemTotal_bytes
    resource: "other-{instance}"
    metric: vm.memory_bytes
  - name: cpu_cpu_value
    resource: "{host}-cpu{plugin_instance}"
    metric: vm.cpu_time_ns
    scale: 10000000
  - name: go_goroutines
    drop: true
)";

IngestMapping Doc() {
  auto m = IngestMapping::Parse(kDoc);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

TEST(IngestMapping, FirstMatchingRuleInFileOrderDecides) {
  const IngestMapping m = Doc();
  ASSERT_EQ(m.rules().size(), 4u);
  MapResult r = m.Map(Format::kPrometheus, "node_memory_MemTotal_bytes",
                      {{"instance", "hv-1"}, {"job", "node"}});
  ASSERT_NE(r.rule, nullptr);
  EXPECT_EQ(r.resource, "hv-1");
  EXPECT_EQ(r.rule->metric, "vm.memory_bytes");
  // Another job, or another format: the second rule.
  r = m.Map(Format::kPrometheus, "node_memory_MemTotal_bytes", {{"instance", "hv-1"}});
  ASSERT_NE(r.rule, nullptr);
  EXPECT_EQ(r.resource, "other-hv-1");
  r = m.Map(Format::kInflux, "node_memory_MemTotal_bytes", {{"instance", "hv-2"}, {"job", "node"}});
  EXPECT_EQ(r.resource, "other-hv-2");
}

// The type a resource is registered under: the rule's, else its metric's family.
TEST(IngestMapping, ResourceTypeIsTheRulesOrTheMetricFamily) {
  const IngestMapping m = Doc();
  EXPECT_EQ(m.rules()[0].resource_type, "vm");
  auto typed = IngestMapping::Parse(
      "rules:\n  - {name: a, resource: r, metric: disk.read_bytes}\n"
      "  - {name: b, resource: r, metric: disk.read_bytes, type: volume}\n"
      "  - {name: c, resource: r, metric: custommetric}\n");
  ASSERT_TRUE(typed.ok()) << typed.status().ToString();
  EXPECT_EQ(typed->rules()[0].resource_type, "disk");
  EXPECT_EQ(typed->rules()[1].resource_type, "volume");
  EXPECT_EQ(typed->rules()[2].resource_type, "custommetric");
  EXPECT_FALSE(IngestMapping::Parse("rules:\n  - {name: a, drop: true, type: vm}\n").ok());
  EXPECT_FALSE(
      IngestMapping::Parse("rules:\n  - {name: a, resource: r, metric: m, type: \"\"}\n").ok());
}

TEST(IngestMapping, UnmappedReasons) {
  const IngestMapping m = Doc();
  MapResult r = m.Map(Format::kInflux, "nothing", {});
  EXPECT_EQ(r.rule, nullptr);
  EXPECT_EQ(r.why, Unmapped::kNoRule);
  r = m.Map(Format::kCollectd, "cpu_cpu_value", {{"host", "h"}});
  EXPECT_EQ(r.why, Unmapped::kMissingLabel);
  EXPECT_EQ(r.missing, "plugin_instance");
  r = m.Map(Format::kCollectd, "cpu_cpu_value", {{"host", "a b"}, {"plugin_instance", "0"}});
  EXPECT_EQ(r.why, Unmapped::kBadResource);
  r = m.Map(Format::kPrometheus, "go_goroutines", {});
  EXPECT_EQ(r.why, Unmapped::kDropped);
  EXPECT_STREQ(UnmappedName(Unmapped::kMissingLabel), "missing_label");
  EXPECT_STREQ(RefusedName(Refused::kSuperseded), "superseded");
}

TEST(IngestMapping, JsonDocumentsAreReadToo) {
  auto m = IngestMapping::Parse(
      R"({"version": 1, "rules": [{"name": "a", "resource": "r", "metric": "vm.vcpus"}]})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->Map(Format::kInflux, "a", {}).resource, "r");
}

TEST(IngestMapping, BadDocumentsNameTheRuleLine) {
  auto bad = [](const char* doc) {
    auto m = IngestMapping::Parse(doc);
    EXPECT_FALSE(m.ok()) << doc;
    return m.ok() ? std::string() : m.status().ToString();
  };
  EXPECT_NE(
      bad("rules:\n  - name: a\n    metric: vm.vcpus\n").find("line 2: 'resource' is required"),
      std::string::npos);
  EXPECT_NE(bad("rules:\n  - name: a\n    resource: r\n    metric: m\n    colour: red\n")
                .find("unknown key 'colour'"),
            std::string::npos);
  EXPECT_NE(bad("rules:\n  - {name: a, resource: \"{x\", metric: m}\n").find("'{' must open"),
            std::string::npos);
  EXPECT_NE(bad("rules:\n  - {name: a, resource: r, metric: m, scale: -1}\n").find("positive"),
            std::string::npos);
  EXPECT_NE(bad("rules:\n  - {name: a, resource: r, metric: m, format: graphite}\n")
                .find("influx, collectd or prometheus"),
            std::string::npos);
  EXPECT_NE(bad("rules:\n  - {name: a, resource: \"a b\", metric: m}\n").find("valid resource id"),
            std::string::npos);
  bad("version: 2\nrules: []\n");
  bad("rules: {}\n");
  bad("[1, 2");
}

TEST(IngestMapping, CheckComparesKindAndUnitWithTheCatalog) {
  const IngestMapping m = Doc();
  auto catalog = [](std::string_view name) -> std::optional<MetricMeta> {
    if (name == "vm.memory_bytes") return MetricMeta{MetricMeta::Kind::kGauge, false, "bytes"};
    return std::nullopt;
  };
  std::vector<std::string> unknown;
  EXPECT_TRUE(m.Check(catalog, &unknown).ok());
  EXPECT_EQ(unknown, std::vector<std::string>{"vm.cpu_time_ns"});
  auto wrong = [](std::string_view) -> std::optional<MetricMeta> {
    return MetricMeta{MetricMeta::Kind::kCounter, false, "bytes"};
  };
  unknown.clear();
  const Status st = m.Check(wrong, &unknown);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.ToString().find("is a counter, not a gauge"), std::string::npos);
}

TEST(IngestMapping, LoadReadsAFile) {
  const std::string path = testing::TempDir() + "/mapping.yaml";
  std::ofstream(path) << kDoc;
  auto m = IngestMapping::Load(path);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->rules().size(), 4u);
  EXPECT_FALSE(IngestMapping::Load(path + ".missing").ok());
}

RawValue F(double f) {
  RawValue v;
  v.type = RawValue::Type::kFloat;
  v.f = f;
  return v;
}
RawValue I(int64_t i) {
  RawValue v;
  v.type = RawValue::Type::kInt;
  v.i = i;
  return v;
}
RawValue U(uint64_t u) {
  RawValue v;
  v.type = RawValue::Type::kUint;
  v.u = u;
  return v;
}

const MetricMeta kCounter{MetricMeta::Kind::kCounter, false, "bytes"};
const MetricMeta kFloatGauge{MetricMeta::Kind::kGauge, true, "ratio"};
const MetricMeta kState{MetricMeta::Kind::kState, false, "state"};

TEST(ConvertValue, IntegersStayExact) {
  std::string why;
  EXPECT_EQ(ConvertValue(U(UINT64_MAX), 1, kCounter, &why), UINT64_MAX);
  EXPECT_EQ(ConvertValue(I(9007199254740993), 1, kCounter, &why), 9007199254740993u);  // 2^53+1
  EXPECT_EQ(ConvertValue(I(3), 1000, kCounter, &why), 3000u);
  EXPECT_FALSE(ConvertValue(U(UINT64_MAX), 2, kCounter, &why));
  EXPECT_FALSE(ConvertValue(I(-1), 1, kCounter, &why));
  EXPECT_NE(why.find("negative"), std::string::npos);
}

TEST(ConvertValue, FloatCountersRoundToNearestTiesToEven) {
  std::string why;
  EXPECT_EQ(ConvertValue(F(1234.4), 1, kCounter, &why), 1234u);
  EXPECT_EQ(ConvertValue(F(1234.6), 1, kCounter, &why), 1235u);
  EXPECT_EQ(ConvertValue(F(2.5), 1, kCounter, &why), 2u);
  EXPECT_EQ(ConvertValue(F(3.5), 1, kCounter, &why), 4u);
  EXPECT_EQ(ConvertValue(F(12.345678901), 1e9, kCounter, &why), 12345678901u);  // s -> ns
  EXPECT_EQ(ConvertValue(F(-0.2), 1, kCounter, &why), 0u);  // rounds to zero, not negative
  EXPECT_FALSE(ConvertValue(F(-0.6), 1, kCounter, &why));
  EXPECT_FALSE(ConvertValue(F(std::nan("")), 1, kCounter, &why));
  EXPECT_FALSE(ConvertValue(F(1.8446744073709552e19), 1, kCounter, &why));  // 2^64
  EXPECT_EQ(ConvertValue(I(3), 0.5, kCounter, &why), 2u);                   // 1.5 -> 2
}

TEST(ConvertValue, FloatGaugesAndStates) {
  std::string why;
  auto bits = ConvertValue(I(3), 0.5, kFloatGauge, &why);
  ASSERT_TRUE(bits);
  double d;
  std::memcpy(&d, &*bits, sizeof d);
  EXPECT_DOUBLE_EQ(d, 1.5);
  EXPECT_EQ(ConvertValue(F(2), 1, kState, &why), 2u);
  EXPECT_FALSE(ConvertValue(F(2.5), 1, kState, &why));
  RawValue s;
  s.type = RawValue::Type::kString;
  s.s = "running";
  EXPECT_FALSE(ConvertValue(s, 1, kState, &why));
  RawValue b;
  b.type = RawValue::Type::kBool;
  b.i = 1;
  EXPECT_EQ(ConvertValue(b, 1, kState, &why), 1u);
}

}  // namespace ingest_mapping_test
}  // namespace meterd::net::ingest

namespace meterd::net::ingest {
namespace ingest_mapping_test {

// The shipped example parses, and every rule's metric, kind and unit agree with the built-in
// catalog (docs/examples/ingest-mapping.yaml).
TEST(IngestMapping, TheDocumentedExampleAgreesWithTheCatalog) {
  auto m =
      IngestMapping::Load(std::string(METERD_SOURCE_DIR) + "/docs/examples/ingest-mapping.yaml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_GE(m->rules().size(), 10u);
  engine::MetricCatalog catalog;
  auto lookup = [&](std::string_view name) -> std::optional<MetricMeta> {
    auto d = catalog.Find(name);
    if (!d.ok()) return std::nullopt;
    return MetricMeta{d->kind == engine::MetricKind::kCounter ? MetricMeta::Kind::kCounter
                      : d->kind == engine::MetricKind::kState ? MetricMeta::Kind::kState
                                                              : MetricMeta::Kind::kGauge,
                      d->type == storage::ValueType::kFloat, d->unit};
  };
  std::vector<std::string> unknown;
  const Status st = m->Check(lookup, &unknown);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(unknown.empty()) << unknown.front();
}

}  // namespace ingest_mapping_test
}  // namespace meterd::net::ingest
