// meterd — tests/engine/catalog/metric_catalog_test.cc
#include "engine/catalog.h"

#include <gtest/gtest.h>

#include <set>

namespace meterd::engine {
namespace metric_catalog_test {

using storage::ValueType;

TEST(MetricCatalogTest, BuiltinsAreTheDesignCatalog) {
  MetricCatalog catalog;
  const std::set<std::string> required = {
      "vm.state",           "vm.vcpus",        "vm.memory_bytes",  "vm.cpu_time_ns",
      "disk.size_bytes",    "disk.read_bytes", "disk.write_bytes", "disk.read_ops",
      "disk.write_ops",     "net.rx_bytes",    "net.tx_bytes",     "ip.count",
      "snapshot.size_bytes"};
  for (const std::string& name : required) {
    auto def = catalog.Find(name);
    ASSERT_TRUE(def.ok()) << name;
    EXPECT_TRUE(def->builtin);
    EXPECT_TRUE(MetricCatalog::ValidateName(name).ok());
  }
  EXPECT_EQ(catalog.Find("vm.state")->kind, MetricKind::kState);
  EXPECT_EQ(catalog.Find("net.tx_bytes")->kind, MetricKind::kCounter);
  EXPECT_EQ(catalog.Find("vm.memory_bytes")->kind, MetricKind::kGauge);
  EXPECT_STREQ(VmStateName(1), "running");
  EXPECT_STREQ(VmStateName(99), "unknown");
}

TEST(MetricCatalogTest, CustomMetricsAndConflicts) {
  MetricCatalog catalog;
  MetricDef gpu{"gpu.seconds", MetricKind::kCounter, "s", ValueType::kInt, "GPU time", false};
  EXPECT_TRUE(catalog.Define(gpu).ok());
  EXPECT_TRUE(catalog.Define(gpu).ok());  // idempotent
  MetricDef other = gpu;
  other.unit = "ms";
  EXPECT_EQ(catalog.Define(other).code(), Status::Code::kAlreadyExists);
  MetricDef builtin_clash{"vm.vcpus", MetricKind::kCounter, "vcpus", ValueType::kInt, "", false};
  EXPECT_EQ(catalog.Define(builtin_clash).code(), Status::Code::kAlreadyExists);
  MetricDef float_counter{"x.y", MetricKind::kCounter, "b", ValueType::kFloat, "", false};
  EXPECT_TRUE(catalog.Define(float_counter).IsInvalidArgument());
  EXPECT_TRUE(catalog.Find("nope").status().IsNotFound());
  EXPECT_EQ(catalog.List().size(), MetricCatalog::Builtins().size() + 1);
}

TEST(MetricCatalogTest, NameRules) {
  for (const char* bad : {"", "Vm.state", "1abc", "a..b", "a.", "a b", "a-b", "é"}) {
    EXPECT_TRUE(MetricCatalog::ValidateName(bad).IsInvalidArgument()) << bad;
  }
  EXPECT_TRUE(MetricCatalog::ValidateName(std::string(65, 'a')).IsInvalidArgument());
  EXPECT_TRUE(MetricCatalog::ValidateName("a_b.c9").ok());
}

}  // namespace metric_catalog_test
}  // namespace meterd::engine
