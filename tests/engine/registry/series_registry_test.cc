// meterd — tests/engine/registry/series_registry_test.cc
#include "engine/registry/series_registry.h"

#include <gtest/gtest.h>

#include <xxhash.h>

#include <random>

#include "storage/base/checksum.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace series_registry_test {

SeriesDefinition Def(const std::string& resource, const std::string& metric) {
  static std::vector<std::unique_ptr<std::string>> keep;  // views outlive the call
  keep.push_back(std::make_unique<std::string>(resource));
  auto* r = keep.back().get();
  keep.push_back(std::make_unique<std::string>(metric));
  auto* m = keep.back().get();
  return SeriesDefinition{SeriesRegistry::IdOf(*r, *m), *r, *m};
}

class SeriesRegistryTest : public ::testing::Test {
 protected:
  std::unique_ptr<SeriesRegistry> Open() {
    auto r = SeriesRegistry::Open(dir_.path(), &catalog_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::move(r).value();
  }
  testing::TempDir dir_;
  MetricCatalog catalog_;
};

TEST_F(SeriesRegistryTest, IdIsXxh3OfTheCanonicalKey) {
  EXPECT_EQ(SeriesRegistry::CanonicalKey("vm-1", "vm.vcpus"), "vm-1|vm.vcpus");
  EXPECT_EQ(SeriesRegistry::IdOf("vm-1", "vm.vcpus"),
            base::Checksum64(std::string_view("vm-1|vm.vcpus")));
  EXPECT_EQ(SeriesRegistry::IdOf("vm-1", "vm.vcpus"), XXH3_64bits("vm-1|vm.vcpus", 13));
}

TEST_F(SeriesRegistryTest, DefineLookupAndMatching) {
  auto reg = Open();
  std::vector<SeriesDefinition> defs = {Def("vm-b", "vm.vcpus"), Def("vm-a", "vm.cpu_time_ns"),
                                        Def("vm-a", "vm.cpu_utilisation")};
  auto out = reg->Define(defs, "hv-1", false);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->defined, 3u);
  SeriesInfo info;
  ASSERT_TRUE(reg->Lookup(defs[1].id, &info));
  EXPECT_EQ(info.resource, "vm-a");
  EXPECT_EQ(info.kind, MetricKind::kCounter);
  EXPECT_EQ(info.type, storage::ValueType::kInt);
  EXPECT_EQ(info.owner, "hv-1");
  std::vector<uint64_t> ids = {defs[2].id, 12345};
  std::vector<SeriesSlot> slots(2);
  reg->LookupMany(ids, slots.data());
  EXPECT_EQ(slots[0].type, storage::ValueType::kFloat);
  EXPECT_EQ(slots[0].owner, reg->OwnerId("hv-1"));
  EXPECT_EQ(slots[1].index, UINT32_MAX);
  auto all = reg->Matching("", "");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].metric, "vm.cpu_time_ns");  // by resource, then metric
  EXPECT_EQ(all[1].metric, "vm.cpu_utilisation");
  EXPECT_EQ(all[2].resource, "vm-b");
  EXPECT_EQ(reg->Matching("vm-a", "").size(), 2u);
  EXPECT_EQ(reg->Matching("", "vm.vcpus").size(), 1u);
}

TEST_F(SeriesRegistryTest, BadDefinitionsAreRefusedOneByOne) {
  auto reg = Open();
  SeriesDefinition wrong_id = Def("vm-1", "vm.vcpus");
  wrong_id.id ^= 1;
  std::vector<SeriesDefinition> defs = {wrong_id, Def("vm-1", "no.such.metric"),
                                        Def("bad id", "vm.vcpus"), Def("a|b", "vm.vcpus"),
                                        Def("vm-ok", "vm.vcpus")};
  auto out = reg->Define(defs, "", true);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->defined, 1u);
  EXPECT_EQ(out->refused, 4u);
  ASSERT_EQ(out->first_refusals.size(), 4u);
  for (const auto& [index, status] : out->first_refusals) {
    EXPECT_EQ(status.code(), index == 1 ? Status::Code::kNotFound : Status::Code::kInvalidArgument)
        << index << " " << status.ToString();
  }
  EXPECT_EQ(reg->size(), 1u);
}

TEST_F(SeriesRegistryTest, OwnershipSeparatesHypervisors) {
  auto reg = Open();
  ASSERT_EQ(
      reg->Define(std::vector<SeriesDefinition>{Def("vm-1", "vm.vcpus")}, "hv-1", false)->defined,
      1u);
  auto same = reg->Define(std::vector<SeriesDefinition>{Def("vm-1", "vm.vcpus")}, "hv-1", false);
  EXPECT_EQ(same->existing, 1u);
  auto other = reg->Define(std::vector<SeriesDefinition>{Def("vm-1", "vm.vcpus")}, "hv-2", false);
  EXPECT_EQ(other->refused, 1u);
  EXPECT_EQ(other->first_refusals.at(0).second.code(), Status::Code::kPermissionDenied);
  auto admin = reg->Define(std::vector<SeriesDefinition>{Def("vm-1", "vm.vcpus")}, "", true);
  EXPECT_EQ(admin->existing, 1u);
}

TEST_F(SeriesRegistryTest, GenerationMovesOnlyWhenSomethingIsDefined) {
  auto reg = Open();
  const uint64_t g0 = reg->generation();
  ASSERT_TRUE(reg->Define(std::vector<SeriesDefinition>{Def("vm-1", "vm.vcpus")}, "", true).ok());
  const uint64_t g1 = reg->generation();
  EXPECT_GT(g1, g0);
  ASSERT_TRUE(reg->Define(std::vector<SeriesDefinition>{Def("vm-1", "vm.vcpus")}, "", true).ok());
  EXPECT_EQ(reg->generation(), g1);
}

TEST_F(SeriesRegistryTest, PropertyDefinitionsSurviveReopenExactly) {
  std::mt19937_64 rng(5);
  const char* metrics[] = {"vm.vcpus", "vm.cpu_time_ns", "net.rx_bytes", "vm.cpu_utilisation"};
  std::vector<SeriesDefinition> defs;
  std::vector<std::string> owners;
  {
    auto reg = Open();
    for (int batch = 0; batch < 20; ++batch) {
      std::vector<SeriesDefinition> chunk;
      const std::string owner = "hv-" + std::to_string(rng() % 4);
      for (int i = 0; i < 25; ++i) {
        chunk.push_back(Def("vm-" + std::to_string(rng() % 300), metrics[rng() % 4]));
      }
      auto out = reg->Define(chunk, owner, false);
      ASSERT_TRUE(out.ok());
      for (const auto& d : chunk) {
        SeriesInfo info;
        if (reg->Lookup(d.id, &info)) {
          defs.push_back(d);
          owners.push_back(info.owner);
        }
      }
    }
  }
  auto reg = Open();
  EXPECT_TRUE(reg->load_damage().empty());
  for (size_t i = 0; i < defs.size(); ++i) {
    SeriesInfo info;
    ASSERT_TRUE(reg->Lookup(defs[i].id, &info));
    EXPECT_EQ(info.resource, defs[i].resource);
    EXPECT_EQ(info.metric, defs[i].metric);
    EXPECT_EQ(info.owner, owners[i]);
  }
}

TEST_F(SeriesRegistryTest, OwnershipFollowsTheResourceAcrossAMove) {
  std::vector<SeriesDefinition> defs = {Def("vm-m", "net.rx_bytes"), Def("vm-m", "vm.vcpus")};
  {
    auto reg = Open();
    ASSERT_EQ(reg->Define(defs, "hv-a", false)->defined, 2u);
    const uint64_t gen = reg->generation();
    reg->SetResourceOwner("vm-m", "hv-b");
    EXPECT_GT(reg->generation(), gen);  // ingest caches look again
    SeriesInfo info;
    ASSERT_TRUE(reg->Lookup(defs[0].id, &info));
    EXPECT_EQ(info.owner, "hv-b");
    std::vector<SeriesSlot> slots(2);
    std::vector<uint64_t> ids = {defs[0].id, defs[1].id};
    reg->LookupMany(ids, slots.data());
    EXPECT_EQ(slots[0].owner, reg->OwnerId("hv-b"));
    EXPECT_EQ(slots[1].owner, reg->OwnerId("hv-b"));
    // hv-a may no longer define the resource's series, old or new; hv-b may.
    EXPECT_EQ(reg->Define(defs, "hv-a", false)->refused, 2u);
    EXPECT_EQ(reg->Define(std::vector<SeriesDefinition>{Def("vm-m", "net.tx_bytes")}, "hv-a", false)
                  ->refused,
              1u);
    EXPECT_EQ(reg->Define(defs, "hv-b", false)->existing, 2u);
    auto fresh =
        reg->Define(std::vector<SeriesDefinition>{Def("vm-m", "net.tx_bytes")}, "hv-b", false);
    EXPECT_EQ(fresh->defined, 1u);
  }
  // series.log keeps the first definer; the owner a restart sees is whatever the resource's
  // directory says again.
  auto reg = Open();
  SeriesInfo info;
  ASSERT_TRUE(reg->Lookup(defs[0].id, &info));
  EXPECT_EQ(info.owner, "hv-a");
  reg->SetResourceOwner("vm-m", "hv-b");
  ASSERT_TRUE(reg->Lookup(defs[0].id, &info));
  EXPECT_EQ(info.owner, "hv-b");
  reg->SetResourceOwner("vm-m", "");  // an admin's report never takes a resource away
  ASSERT_TRUE(reg->Lookup(defs[0].id, &info));
  EXPECT_EQ(info.owner, "hv-b");
}

}  // namespace series_registry_test
}  // namespace meterd::engine
