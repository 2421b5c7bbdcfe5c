// meterd — tests/engine/tenancy/tenancy_test.cc: the in-memory model and the hour rule.
#include "engine/tenancy/tenancy.h"

#include <gtest/gtest.h>

namespace meterd::engine::tenancy {
namespace tenancy_test {

constexpr int64_t kFeb1 = 1485907200;  // 2017-02-01T00:00:00Z
constexpr int64_t kDay = 86400;
constexpr int64_t kH = 3600;

ResourceVersion Version(int64_t from, std::string project, std::string plan,
                        std::string type = "vm") {
  ResourceVersion v;
  v.effective_from = from;
  v.type = std::move(type);
  v.project = std::move(project);
  v.location = "lon1";
  v.plan = std::move(plan);
  return v;
}

TenancyData Model() {
  TenancyData d;
  d.domains = {{"corporate.com", "Corporate", ""},
               {"bu1.corporate.com", "BU1", "corporate.com"},
               {"other.com", "Other", ""}};
  d.accounts = {{"bu1user1", "bu1.corporate.com", "user 1", "GBP", false},
                {"other1", "other.com", "other", "", true}};
  d.projects = {{"web", "bu1user1", "Web"},
                {"batch", "bu1user1", "Batch"},
                {"o-default", "other1", "Default"}};
  d.locations = {{"lon1", "London"}};
  d.plan_groups = {{"standard", "Standard"}};
  d.plans = {{"copper", "Copper", "standard", 1, 512u << 20, 0, ""},
             {"silver", "Silver", "standard", 1, 4ull << 30, 0, ""}};
  return d;
}

TEST(TenancyTest, PlanChangeAtTwoPmOnTheTenth) {
  TenancyData d = Model();
  const int64_t change = kFeb1 + 9 * kDay + 14 * kH;  // 2017-02-10T14:00:00Z
  d.resources = {
      {"vm-1", "web-1", {Version(kFeb1, "web", "copper"), Version(change, "web", "silver")}}};
  auto t = Tenancy::Build(d);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const Tenancy& ten = *t.value();

  auto at = [&](int64_t hour) { return std::string(ten.AttributesAt("vm-1", hour)->plan); };
  EXPECT_EQ(at(kFeb1), "copper");
  EXPECT_EQ(at(change - kH), "copper");       // 13:00 - 14:00
  EXPECT_EQ(at(change), "silver");            // 14:00 - 15:00
  EXPECT_EQ(at(change + 30 * 60), "silver");  // any second of the hour: the hour's version
  EXPECT_EQ(at(kFeb1 + 27 * kDay), "silver");

  auto a = ten.AttributesAt("vm-1", change);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->account, "bu1user1");
  EXPECT_EQ(a->domain, "bu1.corporate.com");
  EXPECT_EQ(a->plan_group, "standard");
  EXPECT_EQ(a->location, "lon1");
  EXPECT_EQ(a->version->first_hour, change);

  ASSERT_EQ(ten.Versions("vm-1").size(), 2u);
  EXPECT_EQ(ten.Versions("vm-1")[0].end_hour, change);
  EXPECT_EQ(ten.Versions("vm-1")[1].end_hour, kForever);
}

TEST(TenancyTest, MidHourVersionTakesEffectAtTheNextHourButAFirstVersionCoversItsHour) {
  TenancyData d = Model();
  const int64_t created = kFeb1 + 9 * kH + 30 * 60;   // 09:30
  const int64_t resized = kFeb1 + 14 * kH + 30 * 60;  // 14:30
  d.resources = {
      {"vm-1", "", {Version(created, "web", "copper"), Version(resized, "web", "silver")}}};
  auto t = Tenancy::Build(d);
  ASSERT_TRUE(t.ok());
  const Tenancy& ten = *t.value();
  // Before the hour of the first version: unattributed.
  EXPECT_TRUE(ten.AttributesAt("vm-1", kFeb1 + 8 * kH).status().IsNotFound());
  // The first version covers 09:00-10:00 (the VM was created inside it).
  EXPECT_EQ(ten.AttributesAt("vm-1", kFeb1 + 9 * kH)->plan, "copper");
  // 14:00-15:00 still copper (the version in force at the hour's start), 15:00 silver.
  EXPECT_EQ(ten.AttributesAt("vm-1", kFeb1 + 14 * kH)->plan, "copper");
  EXPECT_EQ(ten.AttributesAt("vm-1", kFeb1 + 15 * kH)->plan, "silver");
  const uint32_t ri = ten.ResourceIndex("vm-1");
  EXPECT_EQ(ten.VersionAt(ri, kFeb1 + 8 * kH), nullptr);
  EXPECT_EQ(ten.VersionAt(ri, kFeb1 + 9 * kH)->first_hour, kFeb1 + 9 * kH);
}

TEST(TenancyTest, TwoChangesInOneHourLeaveTheFirstNoHour) {
  TenancyData d = Model();
  d.resources = {{"vm-1",
                  "",
                  {Version(kFeb1, "web", "copper"), Version(kFeb1 + 10 * kH + 600, "web", "silver"),
                   Version(kFeb1 + 10 * kH + 1200, "web", "copper")}}};
  auto t = Tenancy::Build(d);
  ASSERT_TRUE(t.ok());
  const Tenancy& ten = *t.value();
  auto vs = ten.Versions("vm-1");
  EXPECT_EQ(vs[1].first_hour, vs[1].end_hour);  // silver rates no hour
  EXPECT_EQ(ten.AttributesAt("vm-1", kFeb1 + 10 * kH)->plan, "copper");
  EXPECT_EQ(ten.AttributesAt("vm-1", kFeb1 + 11 * kH)->plan, "copper");
  EXPECT_EQ(ten.AttributesAt("vm-1", kFeb1 + 11 * kH)->version, &vs[2]);
}

TEST(TenancyTest, UnknownResourceIsUnattributed) {
  auto t = Tenancy::Build(Model());
  ASSERT_TRUE(t.ok());
  auto a = t.value()->AttributesAt("vm-404", kFeb1);
  ASSERT_FALSE(a.ok());
  EXPECT_TRUE(a.status().IsNotFound());
  EXPECT_NE(a.status().message().find("unattributed"), std::string::npos);
  EXPECT_EQ(t.value()->ResourceIndex("vm-404"), kNone);
  EXPECT_TRUE(t.value()->Versions("vm-404").empty());
}

TEST(TenancyTest, VmMovedBetweenProjectsBelongsToEachForItsHours) {
  TenancyData d = Model();
  const int64_t move = kFeb1 + 19 * kDay;
  d.resources = {{"vm-2", "", {Version(kFeb1, "web", "copper"), Version(move, "batch", "copper")}},
                 {"vm-3", "", {Version(kFeb1, "o-default", "silver")}}};
  auto t = Tenancy::Build(d);
  ASSERT_TRUE(t.ok());
  const Tenancy& ten = *t.value();
  const uint32_t vm2 = ten.ResourceIndex("vm-2");
  const uint32_t vm3 = ten.ResourceIndex("vm-3");
  const int64_t mar1 = kFeb1 + 28 * kDay;
  EXPECT_EQ(ten.AttributesAt("vm-2", move - kH)->project, "web");
  EXPECT_EQ(ten.AttributesAt("vm-2", move)->project, "batch");
  using V = std::vector<uint32_t>;
  EXPECT_EQ(ten.ResourcesIn(ScopeKind::kProject, "web", kFeb1, mar1), V{vm2});
  EXPECT_EQ(ten.ResourcesIn(ScopeKind::kProject, "batch", kFeb1, mar1), V{vm2});
  EXPECT_EQ(ten.ResourcesIn(ScopeKind::kProject, "web", move, mar1), V{});     // after the move
  EXPECT_EQ(ten.ResourcesIn(ScopeKind::kProject, "batch", kFeb1, move), V{});  // before it
  EXPECT_EQ(ten.ResourcesIn(ScopeKind::kAccount, "bu1user1"), V{vm2});
  // A domain includes its sub-domains.
  EXPECT_EQ(ten.ResourcesIn(ScopeKind::kDomain, "corporate.com"), V{vm2});
  EXPECT_EQ(ten.ResourcesIn(ScopeKind::kDomain, "other.com"), V{vm3});
  EXPECT_EQ(ten.ResourcesIn(ScopeKind::kResource, "vm-3"), V{vm3});
  EXPECT_EQ(ten.ResourcesIn(ScopeKind::kAccount, "nobody"), V{});
  EXPECT_TRUE(
      ten.DomainWithin(ten.DomainIndex("bu1.corporate.com"), ten.DomainIndex("corporate.com")));
  EXPECT_FALSE(
      ten.DomainWithin(ten.DomainIndex("corporate.com"), ten.DomainIndex("bu1.corporate.com")));
}

TEST(TenancyTest, BuildRefusesBrokenReferences) {
  TenancyData d = Model();
  d.resources = {{"vm-1", "", {Version(kFeb1, "nowhere", "copper")}}};
  EXPECT_FALSE(Tenancy::Build(d).ok());
  d = Model();
  d.domains.push_back({"loop", "", "loop2"});
  d.domains.push_back({"loop2", "", "loop"});
  EXPECT_FALSE(Tenancy::Build(d).ok());
  d = Model();
  d.plans.push_back(d.plans[0]);
  EXPECT_FALSE(Tenancy::Build(d).ok());
  d = Model();
  d.resources = {{"vm-1", "", {}}};
  EXPECT_FALSE(Tenancy::Build(d).ok());
}

TEST(TenancyTest, DeletionEndsAttributionAtItsHourAndARecreationResumesIt) {
  TenancyData d = Model();
  const int64_t deleted_at = kFeb1 + 10 * kH + 30 * 60;  // 10:30: the 10:00 hour is still billed
  const int64_t recreated = kFeb1 + 2 * kDay;
  ResourceVersion del;
  del.effective_from = deleted_at;
  del.deleted = true;
  del.type = "vm";
  del.project = "web";  // a deletion keeps the attributes it inherited
  d.resources = {
      {"vm-1", "", {Version(kFeb1, "web", "copper"), del, Version(recreated, "batch", "silver")}}};
  auto t = Tenancy::Build(d);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const Tenancy& ten = *t.value();
  EXPECT_TRUE(ten.AttributesAt("vm-1", kFeb1 + 10 * kH).ok());
  EXPECT_FALSE(ten.AttributesAt("vm-1", kFeb1 + 11 * kH).ok());
  EXPECT_FALSE(ten.AttributesAt("vm-1", recreated - kH).ok());
  EXPECT_EQ(ten.AttributesAt("vm-1", recreated)->project, "batch");
  const ResourceVersion& v = ten.resources()[0].versions[1];
  EXPECT_EQ(v.account_index, kNone);  // rates nothing
  EXPECT_EQ(v.first_hour, kFeb1 + 11 * kH);
  // Scopes see the resource only in the hours it is attributed.
  EXPECT_EQ(ten.ResourcesIn(ScopeKind::kProject, "web", kFeb1 + 11 * kH, recreated).size(), 0u);
  EXPECT_EQ(ten.ResourcesIn(ScopeKind::kProject, "web", kFeb1, recreated).size(), 1u);
}

TEST(TenancyTest, DeletionMustFollowALiveVersion) {
  ResourceVersion del;
  del.effective_from = kFeb1 + kDay;
  del.deleted = true;
  del.type = "vm";
  del.project = "web";
  TenancyData first = Model();
  ResourceVersion first_del = del;
  first_del.effective_from = kFeb1;
  first.resources = {{"vm-1", "", {first_del}}};
  EXPECT_FALSE(Tenancy::Build(first).ok());
  TenancyData twice = Model();
  ResourceVersion again = del;
  again.effective_from = kFeb1 + 2 * kDay;
  twice.resources = {{"vm-1", "", {Version(kFeb1, "web", "copper"), del, again}}};
  auto t = Tenancy::Build(twice);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("follows a deletion"), std::string::npos);
}

TEST(TenancyTest, AgentIdsResolveSeriesAndAreUnique) {
  TenancyData d = Model();
  d.resources = {{"vm-1", "", {Version(kFeb1, "web", "copper")}, "6f1c-uuid"},
                 {"vm-2", "", {Version(kFeb1, "web", "copper")}}};
  auto t = Tenancy::Build(d);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->ResourceForSeries("vm-1"), 0u);
  EXPECT_EQ((*t)->ResourceForSeries("6f1c-uuid"), 0u);
  EXPECT_EQ((*t)->ResourceForSeries("vm-2"), 1u);
  EXPECT_EQ((*t)->ResourceForSeries("nobody"), kNone);
  EXPECT_EQ((*t)->ResourceIndex("6f1c-uuid"), kNone);  // ids are ids: no aliasing there
  EXPECT_EQ((*t)->AttributesAt("6f1c-uuid", kFeb1)->resource->id, "vm-1");

  TenancyData dup = Model();
  dup.resources = {{"vm-1", "", {Version(kFeb1, "web", "copper")}, "same"},
                   {"vm-2", "", {Version(kFeb1, "web", "copper")}, "same"}};
  EXPECT_FALSE(Tenancy::Build(dup).ok());
  TenancyData clash = Model();
  clash.resources = {{"vm-1", "", {Version(kFeb1, "web", "copper")}, "vm-2"},
                     {"vm-2", "", {Version(kFeb1, "web", "copper")}}};
  EXPECT_FALSE(Tenancy::Build(clash).ok());
}

}  // namespace tenancy_test
}  // namespace meterd::engine::tenancy
