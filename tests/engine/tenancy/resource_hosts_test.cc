// meterd — tests/engine/tenancy/resource_hosts_test.cc: agents' reports, moves, durability.
#include "engine/tenancy/resource_hosts.h"

#include <gtest/gtest.h>

#include "engine/tenancy/tenancy_store.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::tenancy {
namespace resource_hosts_test {

class ResourceHostsTest : public ::testing::Test {
 protected:
  void Open() {
    hosts_.reset();
    store_.reset();
    db_.reset();
    db_ = std::move(BillingDb::Open(BillingDb::PathIn(dir_.path()))).value();
    store_ = std::move(TenancyStore::Open(db_.get())).value();  // creates the tables
    auto h = ResourceHosts::Open(db_.get());
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    hosts_ = std::move(h).value();
  }
  void SetUp() override { Open(); }
  int64_t Moves() {
    auto txn = db_->Begin();
    auto st = txn->Prepare("SELECT count(*) FROM resource_moves");
    EXPECT_TRUE(st->Step().value());
    return st->Int(0);
  }

  testing::TempDir dir_;
  std::unique_ptr<BillingDb> db_;
  std::unique_ptr<TenancyStore> store_;
  std::unique_ptr<ResourceHosts> hosts_;
};

TEST_F(ResourceHostsTest, ReportsRegisterThenAreUnchanged) {
  auto r = hosts_->Report(std::vector<HostReport>{{"vm-1", "vm"}, {"vm-2", "vm"}}, "hv-a", 100);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->registered, 2u);
  EXPECT_EQ(r->now_hosted, (std::vector<std::string>{"vm-1", "vm-2"}));
  r = hosts_->Report(std::vector<HostReport>{{"vm-1", "vm"}, {"vm-2", "volume"}}, "hv-a", 200);
  EXPECT_EQ(r->unchanged, 1u);
  EXPECT_EQ(r->updated, 1u);
  EXPECT_TRUE(r->now_hosted.empty());
  HostedResource h;
  ASSERT_TRUE(hosts_->Find("vm-1", &h));
  EXPECT_EQ(h.hypervisor, "hv-a");
  EXPECT_EQ(h.first_seen, 100);
  EXPECT_EQ(h.moved_at, 0);
}

TEST_F(ResourceHostsTest, AReportFromAnotherHypervisorIsAMoveAndSurvivesReopen) {
  ASSERT_TRUE(hosts_->Report(std::vector<HostReport>{{"vm-1", "vm"}}, "hv-a", 100).ok());
  auto r = hosts_->Report(std::vector<HostReport>{{"vm-1", "vm"}}, "hv-b", 500);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->moved, 1u);
  EXPECT_EQ(r->now_hosted, (std::vector<std::string>{"vm-1"}));
  EXPECT_EQ(Moves(), 1);
  Open();
  HostedResource h;
  ASSERT_TRUE(hosts_->Find("vm-1", &h));
  EXPECT_EQ(h.hypervisor, "hv-b");
  EXPECT_EQ(h.first_seen, 100);
  EXPECT_EQ(h.moved_at, 500);
  // An admin's report records without a host and never moves a resource.
  r = hosts_->Report(std::vector<HostReport>{{"vm-1", "vm"}, {"ip-1", "ip"}}, "", 600);
  EXPECT_EQ(r->unchanged, 1u);
  EXPECT_EQ(r->registered, 1u);
  EXPECT_TRUE(r->now_hosted.empty());
  ASSERT_TRUE(hosts_->Find("ip-1", &h));
  EXPECT_EQ(h.hypervisor, "");
  // The first agent to report a host-less resource takes it (not a move between hosts).
  r = hosts_->Report(std::vector<HostReport>{{"ip-1", "ip"}}, "hv-a", 700);
  EXPECT_EQ(r->moved, 1u);
  EXPECT_EQ(Moves(), 1);
  EXPECT_EQ(hosts_->List().size(), 2u);
}

// What samples over HTTP imply: new resources are recorded and host-less ones taken, but a
// resource another hypervisor holds is neither moved nor retyped.
TEST_F(ResourceHostsTest, AClaimOnlyReportRecordsNewResourcesAndMovesNone) {
  ASSERT_TRUE(hosts_->Report(std::vector<HostReport>{{"vm-1", "vm"}}, "hv-a", 100).ok());
  ASSERT_TRUE(hosts_->Report(std::vector<HostReport>{{"ip-1", "ip"}}, "", 100).ok());
  auto r = hosts_->Report(
      std::vector<HostReport>{{"vm-1", "volume"}, {"vm-2", "vm"}, {"ip-1", "ip"}}, "hv-b", 200,
      /*claim_only=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->registered, 1u);
  EXPECT_EQ(r->moved, 1u);  // ip-1: nobody hosted it
  EXPECT_EQ(r->unchanged, 1u);
  EXPECT_EQ(r->now_hosted, (std::vector<std::string>{"vm-2", "ip-1"}));
  EXPECT_EQ(Moves(), 0);
  HostedResource h;
  ASSERT_TRUE(hosts_->Find("vm-1", &h));
  EXPECT_EQ(h.hypervisor, "hv-a");
  EXPECT_EQ(h.type, "vm");
  ASSERT_TRUE(hosts_->Find("vm-2", &h));
  EXPECT_EQ(h.hypervisor, "hv-b");
  // An admin's claim of a known resource changes nothing either.
  r = hosts_->Report(std::vector<HostReport>{{"vm-2", "disk"}}, "", 300, /*claim_only=*/true);
  EXPECT_EQ(r->unchanged, 1u);
  ASSERT_TRUE(hosts_->Find("vm-2", &h));
  EXPECT_EQ(h.type, "vm");
}

TEST_F(ResourceHostsTest, BadEntriesAreRefusedAndCountedTheOthersKept) {
  auto r = hosts_->Report(
      std::vector<HostReport>{{"vm 1", "vm"}, {"vm-2", ""}, {"vm-3", "vm"}, {"a|b", "vm"}}, "hv-a",
      100);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->refused, 3u);
  EXPECT_EQ(r->registered, 1u);
  ASSERT_EQ(r->first_refusals.size(), 3u);
  EXPECT_EQ(r->first_refusals[0].first, 0u);
  EXPECT_EQ(r->first_refusals[1].second.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(hosts_->size(), 1u);
}

}  // namespace resource_hosts_test
}  // namespace meterd::engine::tenancy
