// meterd — tests/engine/rating/rating_engine_test.cc
//
// The RatingEngine's contract beyond the arithmetic: rating a data directory written through
// the RollupStore, argument errors, scopes (nested domains, project, resource), the slot
// limit, results outliving the engine, group labels and explanations.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/engine/rating/rating_fixture.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::rating::testing {
namespace rating_engine_test {

tenancy::Resource Vm(const std::string& id, const std::string& project) {
  tenancy::Resource r;
  r.id = id;
  r.name = id + " name";
  r.versions = {V(kJan1 - kDay, project, "copper")};
  return r;
}

struct Fixture {
  std::shared_ptr<const tenancy::Tenancy> tenancy;
  std::shared_ptr<const pricebook::PriceBook> book;
  std::vector<SeriesInfo> series;
  std::vector<RollupRow> rows;
};

// vm-a (p1, a1, d1), vm-b (p2, a1, d1), vm-c (p3, a2, d2 under d1): 10 running hours each at
// 1 credit an hour.
Fixture MakeFixture() {
  Fixture f;
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {Vm("vm-a", "p1"), Vm("vm-b", "p2"), Vm("vm-c", "p3")};
  f.tenancy = BuildTenancy(td);
  Product run = StateHours("running", 1 << 1, 1'000'000);
  run.name = "Running VM hours";
  f.book = Book({Version(1, kJan1 - kDay, {run})});
  for (const char* vm : {"vm-a", "vm-b", "vm-c"}) {
    f.series.push_back(Series(vm, "vm.state", MetricKind::kState));
    for (int h = 0; h < 10; ++h)
      f.rows.push_back(StateRow(f.series.back().id, kJan1 + h * kH, 3600));
  }
  return f;
}

TEST(RatingEngineTest, RatesADataDirectoryWrittenThroughTheRollupStore) {
  ::meterd::testing::TempDir dir;
  Fixture f = MakeFixture();
  {
    std::vector<std::string> damage;
    auto store = RollupStore::Open(dir.path(), &damage);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    for (int h = 0; h < 10; ++h) {
      std::vector<RollupRow> hour;
      for (const RollupRow& r : f.rows) {
        if (r.hour == kJan1 + h * kH) hour.push_back(r);
      }
      SortRows(&hour);
      ASSERT_TRUE((*store)->SealHour(kJan1 + h * kH, hour).ok());
    }
    ASSERT_TRUE((*store)->MergeParts(4).ok());
  }
  auto view = OpenRollupView(dir.path());
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->sealed_before, kJan1 + 10 * kH);
  auto e = Engine(f.tenancy, f.book, f.series);
  const RatingResult r = RateOk(*e, *view, Month());
  EXPECT_EQ(r.total, 30'000'000);  // 3 VMs x 10 h x 1 credit
  EXPECT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.stats.rows_scanned, 30u);
}

TEST(RatingEngineTest, ArgumentErrors) {
  Fixture f = MakeFixture();
  std::vector<SeriesInfo> twice = {f.series[0], f.series[0]};
  EXPECT_FALSE(RatingEngine::Create(RatingCatalog{f.tenancy, f.book, {}}, twice).ok());
  EXPECT_FALSE(RatingEngine::Create(RatingCatalog{nullptr, f.book, {}}, f.series).ok());
  auto e = Engine(f.tenancy, f.book, f.series);
  // Extend refuses a series the engine has, or one listed twice.
  EXPECT_EQ(e->Extend({f.series[1]}).status().code(), Status::Code::kInvalidArgument);
  SeriesInfo fresh = f.series[0];
  fresh.id = 1'000'000;
  EXPECT_EQ(e->Extend({fresh, fresh}).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(e->Extend({fresh}).value()->series(), f.series.size() + 1);
  const query::RollupView view;
  RatingRequest empty = Month(kJan1, kJan1);
  EXPECT_FALSE(e->Rate(view, empty).ok());
  for (ScopeKind k :
       {ScopeKind::kDomain, ScopeKind::kAccount, ScopeKind::kProject, ScopeKind::kResource}) {
    RatingRequest req = Month();
    req.scope = k;
    req.scope_id = "nope";
    EXPECT_FALSE(e->Rate(view, req).ok());
  }
  RatingRequest version = Month();
  version.price_version = 7;
  EXPECT_FALSE(e->Rate(view, version).ok());
  EXPECT_FALSE(e->ReRate(view, Month(), 0).ok());
  // A window of 10 days hourly for 3 series needs 720 slots: refused above 100.
  RatingOptions small;
  small.max_slots = 100;
  auto limited = Engine(f.tenancy, f.book, f.series, {}, small);
  RatingRequest hourly = Month(kJan1, kJan1 + 10 * kDay);
  hourly.group_by = GroupBy::kHour;
  auto busy = limited->Rate(view, hourly);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.status().code(), Status::Code::kBusy);
  EXPECT_EQ(ParseGroupBy("day"), GroupBy::kDay);
  EXPECT_FALSE(ParseGroupBy("week").has_value());
}

TEST(RatingEngineTest, Scopes) {
  ::meterd::testing::TempDir dir;
  Fixture f = MakeFixture();
  auto e = Engine(f.tenancy, f.book, f.series);
  const query::RollupView view = ViewOf(dir.path(), f.rows);
  auto total = [&](ScopeKind k, const std::string& id) {
    RatingRequest req = Month();
    req.scope = k;
    req.scope_id = id;
    return RateOk(*e, view, req).total;
  };
  EXPECT_EQ(total(ScopeKind::kAll, ""), 30'000'000);
  EXPECT_EQ(total(ScopeKind::kDomain, "d1"), 30'000'000);  // d2 is d1's sub-domain
  EXPECT_EQ(total(ScopeKind::kDomain, "d2"), 10'000'000);
  EXPECT_EQ(total(ScopeKind::kAccount, "a1"), 20'000'000);
  EXPECT_EQ(total(ScopeKind::kProject, "p2"), 10'000'000);
  EXPECT_EQ(total(ScopeKind::kResource, "vm-c"), 10'000'000);
}

// The ViewSource overload asks for the series its plan reads: an account's (and, for a project
// or resource scope, every series of the accounts involved: their tiers need all their usage),
// or every series (all = true) for the whole fleet; and rates exactly as over the whole view.
TEST(RatingEngineTest, ViewSourceIsAskedForTheScopesSeriesOnly) {
  ::meterd::testing::TempDir dir;
  Fixture f = MakeFixture();
  auto e = Engine(f.tenancy, f.book, f.series);
  const query::RollupView view = ViewOf(dir.path(), f.rows);
  auto ids_of = [&](std::vector<size_t> vms) {
    std::vector<uint64_t> ids;
    for (size_t v : vms) ids.push_back(f.series[v].id);
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  struct Case {
    ScopeKind scope;
    std::string id;
    bool all;
    std::vector<uint64_t> series;
    MicroCredits total;
  };
  const std::vector<Case> cases = {
      {ScopeKind::kAll, "", true, {}, 30'000'000},
      {ScopeKind::kAccount, "a1", false, ids_of({0, 1}), 20'000'000},
      {ScopeKind::kProject, "p2", false, ids_of({0, 1}), 10'000'000},
      {ScopeKind::kResource, "vm-c", false, ids_of({2}), 10'000'000},
      {ScopeKind::kDomain, "d2", false, ids_of({2}), 10'000'000},
  };
  for (const Case& c : cases) {
    RatingRequest req = Month();
    req.scope = c.scope;
    req.scope_id = c.id;
    int calls = 0;
    auto source = [&](const std::vector<uint64_t>& series, bool all) -> const query::RollupView& {
      ++calls;
      EXPECT_EQ(all, c.all) << c.id;
      EXPECT_EQ(series, c.series) << c.id;
      return view;
    };
    auto r = e->Rate(source, req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(r->total, c.total) << c.id;
    EXPECT_EQ(r->total, RateOk(*e, view, req).total) << c.id;
    // A re-rate asks once per rating.
    calls = 0;
    auto rr = e->ReRate(source, req, 1);
    ASSERT_TRUE(rr.ok()) << rr.status().ToString();
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(rr->difference, 0);
  }
}

TEST(RatingEngineTest, ResultsOutliveTheEngineAndExplain) {
  ::meterd::testing::TempDir dir;
  Fixture f = MakeFixture();
  RatingResult r;
  {
    auto e = Engine(f.tenancy, f.book, f.series);
    RatingRequest req = Month();
    req.explain = true;
    req.group_by = GroupBy::kProduct;
    r = RateOk(*e, ViewOf(dir.path(), f.rows), req);
  }
  f = Fixture{};  // drop the test's own references too
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.lines[0].resource, "vm-a");
  EXPECT_EQ(r.lines[0].resource_name, "vm-a name");
  EXPECT_EQ(r.lines[0].product_name, "Running VM hours");
  EXPECT_EQ(r.lines[0].domain, "d1");
  ASSERT_EQ(r.lines[0].pieces.size(), 1u);
  EXPECT_EQ(r.lines[0].pieces[0].quantity, 36000u);
  ASSERT_EQ(r.groups.size(), 1u);
  EXPECT_EQ(r.groups[0].label, "Running VM hours");
  EXPECT_EQ(r.groups[0].quantity, "30");
  EXPECT_EQ(r.groups[0].unit, "h");
}

TEST(RatingEngineTest, GroupByHourLabels) {
  ::meterd::testing::TempDir dir;
  Fixture f = MakeFixture();
  auto e = Engine(f.tenancy, f.book, f.series);
  RatingRequest req = Month(kJan1 + 2 * kH, kJan1 + 5 * kH);
  req.group_by = GroupBy::kHour;
  const RatingResult r = RateOk(*e, ViewOf(dir.path(), f.rows), req);
  ASSERT_EQ(r.groups.size(), 3u);
  EXPECT_EQ(r.groups[0].key, "2026-01-01T02:00Z");
  EXPECT_EQ(r.groups[0].amount, 3'000'000);
  EXPECT_EQ(r.lines.size(), 9u);
  EXPECT_EQ(r.total, 9'000'000);
}

}  // namespace rating_engine_test
}  // namespace meterd::engine::rating::testing
