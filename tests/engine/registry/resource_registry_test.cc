// meterd — tests/engine/registry/resource_registry_test.cc
#include "engine/registry/resource_registry.h"

#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace {

ResourceInfo Vm(const std::string& id, const std::string& plan) {
  return ResourceInfo{id, "vm", "acct-1", "proj-1", "fra-1", plan, ""};
}

TEST(ResourceRegistryTest, RegisterUpdateUnchangedAndReopen) {
  testing::TempDir dir;
  {
    auto reg = ResourceRegistry::Open(dir.path());
    ASSERT_TRUE(reg.ok());
    auto r = reg.value()->Register(
        std::vector<ResourceInfo>{Vm("vm-1", "small"), Vm("vm-2", "small")}, "hv-1", false);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->registered, 2u);
    r = reg.value()->Register(std::vector<ResourceInfo>{Vm("vm-1", "large"), Vm("vm-2", "small")},
                              "hv-1", false);
    EXPECT_EQ(r->updated, 1u);
    EXPECT_EQ(r->unchanged, 1u);
    // Another hypervisor may not change hv-1's resources; an admin may.
    r = reg.value()->Register(std::vector<ResourceInfo>{Vm("vm-1", "tiny")}, "hv-2", false);
    EXPECT_EQ(r->refused, 1u);
    EXPECT_EQ(r->first_refusals.at(0).second.code(), Status::Code::kPermissionDenied);
  }
  auto reg = ResourceRegistry::Open(dir.path());
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ(reg.value()->size(), 2u);
  ResourceInfo got;
  ASSERT_TRUE(reg.value()->Find("vm-1", &got));
  EXPECT_EQ(got.plan, "large");  // the last record wins
  EXPECT_EQ(got.owner, "hv-1");
}

}  // namespace
}  // namespace meterd::engine
