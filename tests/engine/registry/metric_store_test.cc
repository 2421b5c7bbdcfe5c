// meterd — tests/engine/registry/metric_store_test.cc
#include "engine/registry/metric_store.h"

#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace metric_store_test {

MetricDef Gpu() {
  return MetricDef{
      "gpu.seconds", MetricKind::kCounter, "s", storage::ValueType::kInt, "GPU seconds", false};
}

TEST(MetricStoreTest, CustomMetricsAreDurableAndCannotChangeMeaning) {
  testing::TempDir dir;
  {
    MetricCatalog catalog;
    auto store = MetricStore::Open(dir.path(), &catalog);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE(store.value()->Define(Gpu()).ok());
    ASSERT_TRUE(store.value()->Define(Gpu()).ok());  // identical: fine
    MetricDef other = Gpu();
    other.unit = "ms";
    EXPECT_EQ(store.value()->Define(other).code(), Status::Code::kAlreadyExists);
    other = Gpu();
    other.name = "Bad Name";
    EXPECT_EQ(store.value()->Define(other).code(), Status::Code::kInvalidArgument);
  }
  MetricCatalog catalog;
  EXPECT_FALSE(catalog.Find("gpu.seconds").ok());
  auto store = MetricStore::Open(dir.path(), &catalog);
  ASSERT_TRUE(store.ok());
  auto def = catalog.Find("gpu.seconds");
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->kind, MetricKind::kCounter);
  EXPECT_EQ(def->unit, "s");
  EXPECT_FALSE(def->builtin);
}

}  // namespace metric_store_test
}  // namespace meterd::engine
