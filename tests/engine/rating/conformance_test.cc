// meterd — tests/engine/rating/conformance_test.cc
//
// Hand-computed rating cases, each with its arithmetic written out: the RatingEngine over
// rollup files written with RollupFileWriter, a tenancy and a price book built in code.
// January 2026 has 31 days = 744 hours. Prices are micro-credits (1 credit = 1,000,000).
#include <gtest/gtest.h>

#include "tests/engine/rating/rating_fixture.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::rating::testing {
namespace conformance_test {

using pricebook::RoundingMode;

constexpr int64_t kJan10_14h = kJan1 + 9 * kDay + 14 * kH;  // 2026-01-10T14:00:00Z

// `hours` hours of state rows from `start`: `running` / `stopped` seconds each.
void AddStateHours(std::vector<RollupRow>* rows, uint64_t id, int64_t start, int hours,
                   uint64_t running, uint64_t stopped = 0, uint64_t allocated = 0) {
  for (int h = 0; h < hours; ++h)
    rows->push_back(StateRow(id, start + h * kH, running, stopped, allocated));
}

tenancy::Resource Vm(const std::string& id, std::vector<tenancy::ResourceVersion> versions) {
  tenancy::Resource r;
  r.id = id;
  r.name = id + " name";
  r.versions = std::move(versions);
  return r;
}

class ConformanceTest : public ::testing::Test {
 protected:
  ::meterd::testing::TempDir dir_;
};

// ---- hourly price with a monthly cap, reached and not reached ----
TEST_F(ConformanceTest, HourlyPriceWithMonthlyCap) {
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {Vm("vm-a", {V(kJan1 - 30 * kDay, "p1", "copper")}),
                  Vm("vm-b", {V(kJan1 - 30 * kDay, "p1", "copper")})};
  Product run = StateHours("running.copper", 1 << 1, 2'200'000);  // 2.2 credits per hour
  run.match.plan = "copper";
  SetCap(&run, "672");  // billed hourly up to 672 h a month
  const auto a = Series("vm-a", "vm.state", MetricKind::kState);
  const auto b = Series("vm-b", "vm.state", MetricKind::kState);
  std::vector<RollupRow> rows;
  AddStateHours(&rows, a.id, kJan1, 744, 3600);  // all month
  AddStateHours(&rows, b.id, kJan1, 100, 3600);  // 100 h
  auto e = Engine(BuildTenancy(td), Book({Version(1, kJan1 - 60 * kDay, {run})}), {a, b});
  const RatingResult r = RateOk(*e, ViewOf(dir_.path(), rows), Month());
  // vm-a: 744 h x 2.2 = 1636.8 credits, but capped at 672 h: 672 x 2.2 = 1478.4 credits;
  // 744 - 672 = 72 h above the cap.
  auto la = LinesOf(r, "running.copper", "vm-a");
  ASSERT_EQ(la.size(), 1u);
  EXPECT_EQ(la[0]->amount, 1'478'400'000);
  EXPECT_EQ(la[0]->raw_quantity, 744u * 3600);
  EXPECT_EQ(QuantityText(*la[0]), "744");
  EXPECT_EQ(la[0]->line_capped_raw, 72u * 3600);
  EXPECT_EQ(la[0]->unit_price, 2'200'000);
  EXPECT_EQ(la[0]->hours, 744u);
  // vm-b: 100 h x 2.2 = 220 credits, below the cap.
  EXPECT_EQ(AmountOf(r, "running.copper", "vm-b"), 220'000'000);
  EXPECT_EQ(r.total, 1'698'400'000);  // 1478.4 + 220
  EXPECT_TRUE(r.unpriced.empty());
  EXPECT_TRUE(r.unattributed.empty());
}

// ---- running vs stopped hours ----
TEST_F(ConformanceTest, RunningVersusStoppedHours) {
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {Vm("vm-a", {V(kJan1 - kDay, "p1", "copper")})};
  Product run = StateHours("running", 1 << 1, 2'200'000);  // 2.2 / h running
  run.group = "Running VM";
  Product stop = StateHours("stopped", (1 << 2) | (1 << 3), 500'000);  // 0.5 / h stopped or
  stop.group = "Stopped VM";                                           // allocated
  const auto s = Series("vm-a", "vm.state", MetricKind::kState);
  std::vector<RollupRow> rows;
  AddStateHours(&rows, s.id, kJan1, 500, 3600);                  // 500 h running
  AddStateHours(&rows, s.id, kJan1 + 500 * kH, 10, 1800, 1800);  // 10 h half and half
  AddStateHours(&rows, s.id, kJan1 + 510 * kH, 190, 0, 3600);    // 190 h stopped
  AddStateHours(&rows, s.id, kJan1 + 700 * kH, 44, 0, 0, 3600);  // 44 h allocated
  auto e = Engine(BuildTenancy(td), Book({Version(1, kJan1 - kDay, {run, stop})}), {s});
  const RatingResult r = RateOk(*e, ViewOf(dir_.path(), rows), Month());
  // Running: 500 h + 10 x 0.5 h = 505 h x 2.2 = 1111 credits.
  EXPECT_EQ(AmountOf(r, "running"), 1'111'000'000);
  // Stopped: 10 x 0.5 h + 190 h + 44 h = 239 h x 0.5 = 119.5 credits.
  EXPECT_EQ(AmountOf(r, "stopped"), 119'500'000);
  ASSERT_EQ(LinesOf(r, "stopped").size(), 1u);
  EXPECT_EQ(QuantityText(*LinesOf(r, "stopped")[0]), "239");
  EXPECT_EQ(LinesOf(r, "stopped")[0]->group, "Stopped VM");
  // Every state code 1..3 is priced: nothing unpriced.
  EXPECT_TRUE(r.unpriced.empty());
  // group_by product totals.
  ASSERT_EQ(r.groups.size(), 2u);
  EXPECT_EQ(r.groups[0].key, "running");
  EXPECT_EQ(r.groups[0].quantity, "505");
}

// ---- graduated vs volume tiers for egress, across the tier edges ----
TEST_F(ConformanceTest, GraduatedVersusVolumeTiers) {
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {
      Vm("vm-a", {V(kJan1 - kDay, "p1", "copper")}), Vm("vm-b", {V(kJan1 - kDay, "p2", "copper")}),
      Vm("vm-c", {V(kJan1 - kDay, "p3", "copper")}), Vm("vm-d", {V(kJan1 - kDay, "p3", "copper")})};
  // Per GB (10^9 bytes): first 1,000 GB at 0.05, next 9,000 GB at 0.04, the rest at 0.03.
  const auto tiers = Tiers({{"1000", 50'000}, {"10000", 40'000}, {"", 30'000}}, kGB);
  Product grad = UsageProduct("egress.graduated", "net.tx_bytes", MetricKind::kCounter, "GB", kGB);
  grad.model = PriceModel::kGraduated;
  grad.tiers = tiers;
  Product vol = UsageProduct("egress.volume", "net.rx_bytes", MetricKind::kCounter, "GB", kGB);
  vol.model = PriceModel::kVolume;
  vol.tiers = tiers;
  std::vector<SeriesInfo> series;
  std::vector<RollupRow> rows;
  // The same bytes on both metrics. Account a1: vm-a 800 GB, vm-b 9,700 GB (total 10,500 GB).
  // Account a2: vm-c exactly 1,000 GB, vm-d 1 byte (total 1,000 GB + 1 byte).
  const std::pair<const char*, uint64_t> usage[] = {
      {"vm-a", 800 * kGB}, {"vm-b", 9700 * kGB}, {"vm-c", 1000 * kGB}, {"vm-d", 1}};
  for (const auto& [vm, bytes] : usage) {
    for (const char* metric : {"net.tx_bytes", "net.rx_bytes"}) {
      const auto s = Series(vm, metric, MetricKind::kCounter);
      series.push_back(s);
      // Spread over 10 hours; the month's sum is `bytes`.
      for (int h = 0; h < 10; ++h) {
        rows.push_back(CounterRow(s.id, kJan1 + h * kH, bytes / 10 + (h == 0 ? bytes % 10 : 0)));
      }
    }
  }
  auto e = Engine(BuildTenancy(td), Book({Version(1, kJan1 - kDay, {grad, vol})}), series);
  const RatingResult r = RateOk(*e, ViewOf(dir_.path(), rows), Month());
  // Graduated, a1, lines in resource order. vm-a: positions [0, 800) GB, all tier 1:
  // 800 x 0.05 = 40 credits. vm-b: [800, 10500): 200 x 0.05 = 10, 9000 x 0.04 = 360,
  // 500 x 0.03 = 15 => 385 credits (its unit price: the last tier reached, 0.03).
  EXPECT_EQ(AmountOf(r, "egress.graduated", "vm-a"), 40'000'000);
  EXPECT_EQ(AmountOf(r, "egress.graduated", "vm-b"), 385'000'000);
  EXPECT_EQ(LinesOf(r, "egress.graduated", "vm-b")[0]->unit_price, 30'000);
  // Volume, a1: the total 10,500 GB > 10,000 falls in tier 3, so every GB is 0.03:
  // vm-a 800 x 0.03 = 24, vm-b 9,700 x 0.03 = 291 credits.
  EXPECT_EQ(AmountOf(r, "egress.volume", "vm-a"), 24'000'000);
  EXPECT_EQ(AmountOf(r, "egress.volume", "vm-b"), 291'000'000);
  // Account a2 at the first edge. Graduated: vm-c [0, 1000) GB x 0.05 = 50 credits; vm-d's
  // byte is position 1000 GB, in tier 2: 10^-9 GB x 0.04 = 0.00000004 credits = 0.04
  // micro-credits, rounded half-even to 0.
  EXPECT_EQ(AmountOf(r, "egress.graduated", "vm-c"), 50'000'000);
  EXPECT_EQ(AmountOf(r, "egress.graduated", "vm-d"), 0);
  // Volume: the total is 1,000 GB + 1 byte > 1,000, so tier 2 (0.04) for the whole month:
  // vm-c 1000 x 0.04 = 40 credits (one byte less and it would be 50: T <= up_to is tier 1).
  EXPECT_EQ(AmountOf(r, "egress.volume", "vm-c"), 40'000'000);
  EXPECT_EQ(AmountOf(r, "egress.volume", "vm-d"), 0);
  // Account totals: a1 40 + 385 + 24 + 291 = 740; a2 50 + 40 = 90 credits.
  RatingRequest by_account = Month();
  by_account.group_by = GroupBy::kAccount;
  const RatingResult g = RateOk(*e, ViewOf(dir_.path(), rows), by_account);
  ASSERT_EQ(g.groups.size(), 2u);
  EXPECT_EQ(g.groups[0].key, "a1");
  EXPECT_EQ(g.groups[0].label, "Account one");
  EXPECT_EQ(g.groups[0].amount, 740'000'000);
  EXPECT_EQ(g.groups[1].amount, 90'000'000);
}

// ---- free allowance (per account per month) ----
TEST_F(ConformanceTest, FreeAllowance) {
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {Vm("vm-a", {V(kJan1 - kDay, "p1", "copper")}),
                  Vm("vm-b", {V(kJan1 - kDay, "p2", "copper")})};
  // 0.10 credits per million ops; the first 5 million ops of the account's month are free.
  Product ops = PerUnit("write.ops", "disk.write_ops", MetricKind::kCounter, "million ops",
                        1'000'000, 100'000);
  SetFree(&ops, "5");
  const auto sa = Series("vm-a", "disk.write_ops", MetricKind::kCounter);
  const auto sb = Series("vm-b", "disk.write_ops", MetricKind::kCounter);
  std::vector<RollupRow> rows = {CounterRow(sa.id, kJan1, 3'000'000),
                                 CounterRow(sb.id, kJan1 + kH, 4'500'000)};
  auto e = Engine(BuildTenancy(td), Book({Version(1, kJan1 - kDay, {ops})}), {sa, sb});
  const RatingResult r = RateOk(*e, ViewOf(dir_.path(), rows), Month());
  // vm-a: positions [0, 3M): inside the 5M allowance: 0.
  // vm-b: [3M, 7.5M): 2M free, 2.5M billed x 0.10 = 0.25 credits.
  EXPECT_EQ(AmountOf(r, "write.ops", "vm-a"), 0);
  EXPECT_EQ(LinesOf(r, "write.ops", "vm-a")[0]->line_free_raw, 3'000'000u);
  EXPECT_EQ(AmountOf(r, "write.ops", "vm-b"), 250'000);
  EXPECT_EQ(LinesOf(r, "write.ops", "vm-b")[0]->line_free_raw, 2'000'000u);
  EXPECT_EQ(QuantityText(*LinesOf(r, "write.ops", "vm-b")[0]), "4.5");
}

// ---- minimum charge ----
TEST_F(ConformanceTest, MinimumCharge) {
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {Vm("vm-a", {V(kJan1 - kDay, "p1", "copper")}),
                  Vm("vm-b", {V(kJan1 - kDay, "p1", "copper")}),
                  Vm("vm-c", {V(kJan1 - kDay, "p1", "copper")})};
  // 0.005 credits per GiB·h (divisor 3600 x 2^30), minimum 5 credits per line and month.
  Product mem =
      PerUnit("memory", "vm.memory_bytes", MetricKind::kGauge, "GiB·h", 3600 * kGiB, 5'000);
  mem.minimum = 5'000'000;
  const auto sa = Series("vm-a", "vm.memory_bytes", MetricKind::kGauge);
  const auto sb = Series("vm-b", "vm.memory_bytes", MetricKind::kGauge);
  const auto sc = Series("vm-c", "vm.memory_bytes", MetricKind::kGauge);
  std::vector<RollupRow> rows;
  for (int h = 0; h < 744; ++h) {
    rows.push_back(GaugeRow(sa.id, kJan1 + h * kH, kGiB / 2));  // 0.5 GiB all month
    rows.push_back(GaugeRow(sb.id, kJan1 + h * kH, 4 * kGiB));  // 4 GiB all month
  }
  rows.push_back(GaugeRow(sc.id, kJan1, 0));  // a row, but nothing held
  auto e = Engine(BuildTenancy(td), Book({Version(1, kJan1 - kDay, {mem})}), {sa, sb, sc});
  const RatingResult r = RateOk(*e, ViewOf(dir_.path(), rows), Month());
  // vm-a: 0.5 GiB x 744 h = 372 GiB·h x 0.005 = 1.86 credits < 5: the minimum, 5 credits.
  EXPECT_EQ(AmountOf(r, "memory", "vm-a"), 5'000'000);
  EXPECT_TRUE(LinesOf(r, "memory", "vm-a")[0]->minimum_applied);
  // vm-b: 4 x 744 = 2976 GiB·h x 0.005 = 14.88 credits >= 5.
  EXPECT_EQ(AmountOf(r, "memory", "vm-b"), 14'880'000);
  EXPECT_FALSE(LinesOf(r, "memory", "vm-b")[0]->minimum_applied);
  // vm-c: nothing billed, so no minimum: 0 (and no line: no amount, but one hour of data).
  EXPECT_EQ(AmountOf(r, "memory", "vm-c"), 0);
}

// ---- package price ----
TEST_F(ConformanceTest, PackagePrice) {
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {Vm("vm-a", {V(kJan1 - kDay, "p1", "copper")}),
                  Vm("vm-b", {V(kJan1 - kDay, "p1", "copper")})};
  // Packages of 100 GB at 3 credits each, per line: ceil(quantity / 100 GB) packages.
  Product rx = UsageProduct("ingress", "net.rx_bytes", MetricKind::kCounter, "GB", kGB);
  SetPackage(&rx, "100", 3'000'000);
  const auto sa = Series("vm-a", "net.rx_bytes", MetricKind::kCounter);
  const auto sb = Series("vm-b", "net.rx_bytes", MetricKind::kCounter);
  std::vector<RollupRow> rows = {CounterRow(sa.id, kJan1, 150 * kGB),
                                 CounterRow(sa.id, kJan1 + 5 * kH, 100 * kGB),
                                 CounterRow(sb.id, kJan1, 100 * kGB)};
  auto e = Engine(BuildTenancy(td), Book({Version(1, kJan1 - kDay, {rx})}), {sa, sb});
  const RatingResult r = RateOk(*e, ViewOf(dir_.path(), rows), Month());
  // vm-a: 250 GB -> ceil(2.5) = 3 packages x 3 = 9 credits; vm-b: exactly 100 GB -> 1 x 3.
  EXPECT_EQ(AmountOf(r, "ingress", "vm-a"), 9'000'000);
  EXPECT_EQ(LinesOf(r, "ingress", "vm-a")[0]->unit_price, 3'000'000);
  EXPECT_EQ(AmountOf(r, "ingress", "vm-b"), 3'000'000);
}

// ---- a plan change at 14:00 on the 10th ----
TEST_F(ConformanceTest, PlanChangeAt14hOnThe10th) {
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {
      Vm("vm-a", {V(kJan1 - kDay, "p1", "copper"), V(kJan10_14h, "p1", "silver")}),
      // Changed at 14:30: takes effect at the next hour boundary, 15:00.
      Vm("vm-b", {V(kJan1 - kDay, "p1", "copper"), V(kJan10_14h + 1800, "p1", "silver")})};
  Product copper = StateHours("running.copper", 1 << 1, 2'200'000);  // 2.2 / h
  copper.match.plan = "copper";
  Product silver = StateHours("running.silver", 1 << 1, 4'400'000);  // 4.4 / h
  silver.match.plan = "silver";
  const auto sa = Series("vm-a", "vm.state", MetricKind::kState);
  const auto sb = Series("vm-b", "vm.state", MetricKind::kState);
  std::vector<RollupRow> rows;
  AddStateHours(&rows, sa.id, kJan1, 744, 3600);
  AddStateHours(&rows, sb.id, kJan1, 744, 3600);
  auto e = Engine(BuildTenancy(td), Book({Version(1, kJan1 - kDay, {copper, silver})}), {sa, sb});
  const RatingResult r = RateOk(*e, ViewOf(dir_.path(), rows), Month());
  // vm-a: copper for 9 days + 14 h = 230 h x 2.2 = 506 credits; silver for 744 - 230 = 514 h
  // x 4.4 = 2261.6 credits.
  EXPECT_EQ(AmountOf(r, "running.copper", "vm-a"), 506'000'000);
  EXPECT_EQ(AmountOf(r, "running.silver", "vm-a"), 2'261'600'000);
  // vm-b: the 14:00 hour keeps copper: 231 h x 2.2 = 508.2; 513 h x 4.4 = 2257.2 credits.
  EXPECT_EQ(AmountOf(r, "running.copper", "vm-b"), 508'200'000);
  EXPECT_EQ(AmountOf(r, "running.silver", "vm-b"), 2'257'200'000);
  EXPECT_EQ(LinesOf(r, "running.copper", "vm-b")[0]->hours, 231u);
}

// ---- a VM moved between projects ----
TEST_F(ConformanceTest, VmMovedBetweenProjects) {
  tenancy::TenancyData td = BaseTenancy();
  const int64_t jan20 = kJan1 + 19 * kDay;
  td.resources = {Vm("vm-a", {V(kJan1 - kDay, "p1", "copper"), V(jan20, "p2", "copper")})};
  Product run = StateHours("running", 1 << 1, 2'200'000);
  SetCap(&run, "672");
  const auto s = Series("vm-a", "vm.state", MetricKind::kState);
  std::vector<RollupRow> rows;
  AddStateHours(&rows, s.id, kJan1, 744, 3600);
  auto e = Engine(BuildTenancy(td), Book({Version(1, kJan1 - kDay, {run})}), {s});
  RatingRequest req = Month();
  req.group_by = GroupBy::kProject;
  const RatingResult r = RateOk(*e, ViewOf(dir_.path(), rows), req);
  // One priced line (the cap is per resource and month): 744 h capped at 672 h x 2.2 =
  // 1478.4 credits, in two parts. p1, Jan 1-19 = 456 h: accrued 456 x 2.2 = 1003.2 credits.
  // p2, 288 h: 1478.4 - 1003.2 = 475.2 credits (216 h billed, then the cap).
  auto lines = LinesOf(r, "running");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]->project, "p1");
  EXPECT_EQ(lines[0]->hours, 456u);
  EXPECT_EQ(lines[0]->amount, 1'003'200'000);
  EXPECT_EQ(lines[0]->period_end, jan20);
  EXPECT_EQ(lines[1]->project, "p2");
  EXPECT_EQ(lines[1]->hours, 288u);
  EXPECT_EQ(lines[1]->amount, 475'200'000);
  ASSERT_EQ(r.groups.size(), 2u);
  EXPECT_EQ(r.groups[0].key, "p1");
  EXPECT_EQ(r.groups[0].amount, 1'003'200'000);
  EXPECT_EQ(r.groups[1].amount, 475'200'000);
  EXPECT_EQ(r.total, 1'478'400'000);
  // Scope project p2: its part only (the account's month still counts for the cap).
  RatingRequest p2 = Month();
  p2.scope = ScopeKind::kProject;
  p2.scope_id = "p2";
  const RatingResult rp = RateOk(*e, ViewOf(dir_.path(), rows), p2);
  ASSERT_EQ(rp.lines.size(), 1u);
  EXPECT_EQ(rp.total, 475'200'000);
}

// ---- a one-time and a monthly subscription fee ----
TEST_F(ConformanceTest, SubscriptionFees) {
  tenancy::TenancyData td = BaseTenancy();
  Product support = Subscription("support", 50'000'000, 20'000'000);  // 50 once, 20 a month
  Product backup = Subscription("backup", 0, 31'000'000, pricebook::Proration::kHourly);
  pricebook::Subscription s1;
  s1.id = "sub-1";
  s1.account = "a1";
  s1.product = "support";
  s1.start = kJan1 + 14 * kDay + 10 * kH + 1234;  // Jan 15, 10:20:34
  pricebook::Subscription s2;
  s2.id = "sub-2";
  s2.account = "a1";
  s2.product = "backup";
  s2.quantity = 2;
  s2.start = kJan1 + 20 * kDay;  // Jan 21 00:00
  auto e =
      Engine(BuildTenancy(td), Book({Version(1, kJan1 - kDay, {support, backup})}), {}, {s1, s2});
  const query::RollupView view = ViewOf(dir_.path(), {});
  const RatingResult jan = RateOk(*e, view, Month());
  // January: support's one-time fee 50 and its monthly fee 20 (no proration: due in full);
  // backup: 2 x 31 credits x 264 active hours (Jan 21-31) / 744 = 22 credits.
  ASSERT_EQ(jan.lines.size(), 3u);
  MicroCredits one_time = 0, monthly = 0;
  for (const ChargeLine& l : jan.lines) {
    EXPECT_TRUE(l.subscription);
    if (l.one_time_fee) {
      one_time += l.amount;
      EXPECT_EQ(l.period_start, kJan1 + 14 * kDay + 10 * kH);  // due at the start's hour
    } else if (l.product_id == "support") {
      monthly += l.amount;
    } else {
      EXPECT_EQ(l.amount, 22'000'000);
      EXPECT_EQ(l.raw_quantity, 2u);
      EXPECT_EQ(l.hours, 264u);
    }
  }
  EXPECT_EQ(one_time, 50'000'000);
  EXPECT_EQ(monthly, 20'000'000);
  EXPECT_EQ(jan.total, 92'000'000);
  // February: only the monthly fees: 20 + 2 x 31 = 82 credits.
  const RatingResult feb = RateOk(*e, view, Month(kFeb1, kMar1));
  EXPECT_EQ(feb.total, 82'000'000);
  // A window of Jan 1-15 10:00 misses both (due at 10:00 on the 15th and on the 21st).
  const RatingResult early = RateOk(*e, view, Month(kJan1, kJan1 + 14 * kDay + 10 * kH));
  EXPECT_EQ(early.total, 0);
}

// ---- a price-book version taking effect mid-month, and a re-rate ----
TEST_F(ConformanceTest, PriceBookVersionMidMonthAndReRate) {
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {Vm("vm-a", {V(kJan1 - kDay, "p1", "copper")})};
  Product v1p = StateHours("running", 1 << 1, 2'200'000);  // v1: 2.2 / h
  SetCap(&v1p, "672");
  Product v2p = v1p;
  v2p.unit_price = 2'000'000;  // v2, from Jan 16 00:00: 2.0 / h
  const int64_t jan16 = kJan1 + 15 * kDay;
  const auto s = Series("vm-a", "vm.state", MetricKind::kState);
  std::vector<RollupRow> rows;
  AddStateHours(&rows, s.id, kJan1, 744, 3600);
  auto e = Engine(BuildTenancy(td),
                  Book({Version(1, kJan1 - kDay, {v1p}), Version(2, jan16, {v2p})}), {s});
  const query::RollupView view = ViewOf(dir_.path(), rows);
  const RatingResult r = RateOk(*e, view, Month());
  // One line, two slices: v1 prices 360 h (Jan 1-15) x 2.2 = 792 credits; v2 the line
  // positions [360 h, 744 h): 312 h up to the cap x 2.0 = 624 credits, 72 h capped.
  // 792 + 624 = 1416 credits.
  auto lines = LinesOf(r, "running");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]->amount, 1'416'000'000);
  EXPECT_EQ(lines[0]->price_version, 1u);
  EXPECT_EQ(lines[0]->price_versions, 2u);
  EXPECT_EQ(lines[0]->unit_price, 2'000'000);
  // Re-rate under v2 for every hour: 672 h x 2.0 = 1344: 72 credits less.
  auto rr = e->ReRate(view, Month(), 2);
  ASSERT_TRUE(rr.ok()) << rr.status().ToString();
  ASSERT_EQ(rr->lines.size(), 1u);
  EXPECT_EQ(rr->lines[0].actual, 1'416'000'000);
  EXPECT_EQ(rr->lines[0].rerated, 1'344'000'000);
  EXPECT_EQ(rr->lines[0].difference, -72'000'000);
  EXPECT_EQ(rr->difference, -72'000'000);
  // Under v1 for every hour: 672 x 2.2 = 1478.4: 62.4 credits more.
  auto r1 = e->ReRate(view, Month(), 1);
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->difference, 62'400'000);
  // A window of the second half only: Jan 16 - Feb 1. Its part is the line's amount minus
  // what had accrued on Jan 16 (792): 624 credits; the first half's usage still counts
  // towards the cap.
  const RatingResult half = RateOk(*e, view, Month(jan16, kFeb1));
  EXPECT_EQ(half.total, 624'000'000);
}

// ---- multi-currency display of the same charges ----
TEST_F(ConformanceTest, MultiCurrencyDisplay) {
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {Vm("vm-a", {V(kJan1 - kDay, "p1", "copper")}),   // a1: default currency
                  Vm("vm-b", {V(kJan1 - kDay, "p3", "copper")})};  // a2: displays EUR
  Product run = StateHours("running", 1 << 1, 2'200'000);
  SetCap(&run, "672");
  const auto sa = Series("vm-a", "vm.state", MetricKind::kState);
  const auto sb = Series("vm-b", "vm.state", MetricKind::kState);
  std::vector<RollupRow> rows;
  AddStateHours(&rows, sa.id, kJan1, 744, 3600);
  AddStateHours(&rows, sb.id, kJan1, 744, 3600);
  PriceBookVersion v = Version(1, kJan1 - kDay, {run});
  v.default_currency = "GBP";
  auto e = Engine(BuildTenancy(td), Book({v}), {sa, sb});
  const query::RollupView view = ViewOf(dir_.path(), rows);
  // Each line is 1478.4 credits.
  const RatingResult r = RateOk(*e, view, Month());
  ASSERT_EQ(r.lines.size(), 2u);
  // a1 in GBP (1 GBP per credit): 1478.40 GBP.
  EXPECT_EQ(r.lines[0].currency->code, "GBP");
  EXPECT_EQ(r.lines[0].display_minor, 147'840);
  EXPECT_EQ(DisplayText(r.lines[0]), "GBP 1,478.40");
  EXPECT_EQ(UnitPriceText(r.lines[0]), "GBP 2.2000");
  // a2 in EUR (1.1634 per credit): 1478.4 x 1.1634 = 1719.97056 -> 1,719.97 EUR.
  EXPECT_EQ(r.lines[1].currency->code, "EUR");
  EXPECT_EQ(r.lines[1].display_minor, 171'997);
  EXPECT_EQ(DisplayText(r.lines[1]), "€1,719.97");
  // Totals in the default currency (GBP), each line converted once: 2956.80.
  EXPECT_EQ(r.total_display, "GBP 2,956.80");
  // The same charges in JPY (180.5 per credit, no minor unit): 1478.4 x 180.5 = 266851.2
  // -> 266,851 each, 533,702 in all.
  RatingRequest jpy = Month();
  jpy.currency = "JPY";
  const RatingResult rj = RateOk(*e, view, jpy);
  EXPECT_EQ(DisplayText(rj.lines[0]), "¥266,851");
  EXPECT_EQ(DisplayText(rj.lines[1]), "¥266,851");
  EXPECT_EQ(rj.total_minor, 533'702);
  EXPECT_EQ(rj.total, r.total);  // money itself does not change
  RatingRequest bad = Month();
  bad.currency = "XXX";
  EXPECT_FALSE(e->Rate(view, bad).ok());
}

// ---- rounding edge cases: half-even at .5 of the unit ----
TEST_F(ConformanceTest, RoundingHalfEven) {
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {Vm("vm-a", {V(kJan1 - kDay, "p1", "copper")}),
                  Vm("vm-b", {V(kJan1 - kDay, "p1", "copper")}),
                  Vm("vm-c", {V(kJan1 - kDay, "p3", "copper")})};
  // 1 micro-credit per GB·h (divisor 3600 x 10^9): 1.5 GB for an hour is 1.5 micro-credits.
  Product disk = PerUnit("disk", "disk.size_bytes", MetricKind::kGauge, "GB·h", 3600 * kGB, 1);
  // 0.125 credits per running hour: 12.5 pence in GBP.
  Product run = StateHours("running", 1 << 1, 125'000);
  const auto da = Series("vm-a", "disk.size_bytes", MetricKind::kGauge);
  const auto db = Series("vm-b", "disk.size_bytes", MetricKind::kGauge);
  const auto ra = Series("vm-a", "vm.state", MetricKind::kState);
  const auto rc = Series("vm-c", "vm.state", MetricKind::kState);
  std::vector<RollupRow> rows = {GaugeRow(da.id, kJan1, 1'500'000'000),  // 1.5 GB·h
                                 GaugeRow(db.id, kJan1, 2'500'000'000),  // 2.5 GB·h
                                 StateRow(ra.id, kJan1, 3600),           // 0.125 credits
                                 StateRow(rc.id, kJan1, 3600)};
  for (RoundingMode mode : {RoundingMode::kHalfEven, RoundingMode::kHalfAwayFromZero,
                            RoundingMode::kUp, RoundingMode::kDown}) {
    PriceBookVersion v = Version(1, kJan1 - kDay, {disk, run}, mode);
    v.default_currency = "GBP";
    auto e = Engine(BuildTenancy(td), Book({v}), {da, db, ra, rc});
    const RatingResult r = RateOk(*e, ViewOf(dir_.path(), rows), Month());
    // Line amounts rounded once to whole micro-credits:
    //   half_even: 1.5 -> 2, 2.5 -> 2;  half_away: 2, 3;  up: 2, 3;  down: 1, 2.
    const MicroCredits want_a[] = {2, 2, 2, 1}, want_b[] = {2, 3, 3, 2};
    const size_t m = static_cast<size_t>(mode);
    EXPECT_EQ(AmountOf(r, "disk", "vm-a"), want_a[m]) << RoundingModeName(mode);
    EXPECT_EQ(AmountOf(r, "disk", "vm-b"), want_b[m]) << RoundingModeName(mode);
    // 0.125 credits = 12.5 pence: half_even 12 ("GBP 0.12"), half_away 13, up 13, down 12.
    const int64_t want_p[] = {12, 13, 13, 12};
    const ChargeLine* l = LinesOf(r, "running", "vm-a")[0];
    EXPECT_EQ(l->amount, 125'000);
    EXPECT_EQ(l->display_minor, want_p[m]) << RoundingModeName(mode);
    // In EUR (1.1634): 0.125 x 1.1634 = 0.145425 EUR = 14.5425 cents -> 15 except down: 14.
    const ChargeLine* c = LinesOf(r, "running", "vm-c")[0];
    EXPECT_EQ(c->display_minor, mode == RoundingMode::kDown ? 14 : 15) << RoundingModeName(mode);
  }
  // 0.135 credits = 13.5 pence -> half-even 14 (the even neighbour above).
  run.unit_price = 135'000;
  PriceBookVersion v = Version(1, kJan1 - kDay, {disk, run});
  v.default_currency = "GBP";
  auto e = Engine(BuildTenancy(td), Book({v}), {ra});
  const RatingResult r = RateOk(*e, ViewOf(dir_.path(), {StateRow(ra.id, kJan1, 3600)}), Month());
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0].display_minor, 14);
  EXPECT_EQ(DisplayText(r.lines[0]), "GBP 0.14");
}

// ---- unattributed and unpriced usage is reported, never dropped ----
TEST_F(ConformanceTest, UnattributedAndUnpricedAreReported) {
  tenancy::TenancyData td = BaseTenancy();
  const int64_t jan5 = kJan1 + 4 * kDay;
  td.resources = {Vm("vm-a", {V(jan5 + 1800, "p1", "copper")})};  // created Jan 5 00:30
  Product run = StateHours("running", 1 << 1, 1'000'000);         // 1 / h, running only
  const auto sa = Series("vm-a", "vm.state", MetricKind::kState);
  const auto sx = Series("vm-x", "vm.state", MetricKind::kState);          // unknown resource
  const auto ops = Series("vm-a", "disk.read_ops", MetricKind::kCounter);  // no product
  std::vector<RollupRow> rows;
  AddStateHours(&rows, sa.id, kJan1, 10 * 24, 3000, 600);  // Jan 1-10: 3000 s run, 600 stopped
  AddStateHours(&rows, sx.id, kJan1, 5, 3600);
  rows.push_back(CounterRow(ops.id, jan5 + 2 * kH, 777));
  auto e = Engine(BuildTenancy(td), Book({Version(1, kJan1 - kDay, {run})}), {sa, sx, ops});
  const RatingResult r = RateOk(*e, ViewOf(dir_.path(), rows), Month());
  // Attributed from Jan 5 00:00 (the first version covers the hour it starts in):
  // 6 days x 24 h x 3000 s = 432,000 s = 120 h x 1 = 120 credits.
  EXPECT_EQ(AmountOf(r, "running"), 120'000'000);
  // Unattributed: vm-a's first 4 days (96 h) in states 1 and 2, and vm-x's 5 hours.
  uint64_t before_running = 0, before_stopped = 0, unknown = 0;
  for (const UnratedUsage& u : r.unattributed) {
    if (u.reason == UnratedUsage::Reason::kBeforeFirstVersion && u.state == 1) {
      before_running += static_cast<uint64_t>(u.raw_quantity);
      EXPECT_EQ(u.hours, 96u);
    }
    if (u.reason == UnratedUsage::Reason::kBeforeFirstVersion && u.state == 2) {
      before_stopped += static_cast<uint64_t>(u.raw_quantity);
    }
    if (u.reason == UnratedUsage::Reason::kUnknownResource) {
      unknown += static_cast<uint64_t>(u.raw_quantity);
      EXPECT_EQ(u.resource, "vm-x");
    }
  }
  EXPECT_EQ(before_running, 96u * 3000);
  EXPECT_EQ(before_stopped, 96u * 600);
  EXPECT_EQ(unknown, 5u * 3600);
  // Unpriced: stopped seconds of vm-a after Jan 5 (no product bills state 2): 144 h x 600 s,
  // and the read ops.
  uint64_t stopped = 0, read_ops = 0;
  for (const UnratedUsage& u : r.unpriced) {
    EXPECT_EQ(u.reason, UnratedUsage::Reason::kNoProduct);
    EXPECT_EQ(u.account, "a1");
    if (u.metric == "vm.state") {
      EXPECT_EQ(u.state, 2u);
      stopped += static_cast<uint64_t>(u.raw_quantity);
    } else {
      read_ops += static_cast<uint64_t>(u.raw_quantity);
    }
  }
  EXPECT_EQ(stopped, 144u * 600);
  EXPECT_EQ(read_ops, 777u);
}

// ---- provisional (open) and revised hours are flagged ----
TEST_F(ConformanceTest, ProvisionalAndRevisedFlags) {
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {Vm("vm-a", {V(kJan1 - kDay, "p1", "copper")})};
  Product run = StateHours("running", 1 << 1, 1'000'000);
  const auto s = Series("vm-a", "vm.state", MetricKind::kState);
  std::vector<RollupRow> rows;
  AddStateHours(&rows, s.id, kJan1, 10, 3600);
  query::RollupView view = ViewOf(dir_.path(), rows);
  view.sealed_before = view.files.sealed_before = kJan1 + 10 * kH;
  RollupRow revised = StateRow(s.id, kJan1 + 2 * kH, 1800);  // hour 2 revised down to 0.5 h
  revised.col[kColRevision] = 1;
  view.revised = {revised};
  view.open = {StateRow(s.id, kJan1 + 10 * kH, 900)};  // the open hour so far: 0.25 h
  auto e = Engine(BuildTenancy(td), Book({Version(1, kJan1 - kDay, {run})}), {s});
  const RatingResult r = RateOk(*e, view, Month());
  // 9 full hours + 0.5 (revision) + 0.25 (open) = 9.75 h x 1 = 9.75 credits.
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0].amount, 9'750'000);
  EXPECT_EQ(r.lines[0].hours, 11u);
  EXPECT_TRUE(r.lines[0].provisional);
  EXPECT_TRUE(r.lines[0].revised);
  EXPECT_EQ(r.lines[0].max_revision, 1u);
  EXPECT_TRUE(r.provisional);
  EXPECT_EQ(QuantityText(r.lines[0]), "9.75");
}

// ---- group by day: parts add up to the line ----
TEST_F(ConformanceTest, GroupByDayWithCap) {
  tenancy::TenancyData td = BaseTenancy();
  td.resources = {Vm("vm-a", {V(kJan1 - kDay, "p1", "copper")})};
  Product run = StateHours("running", 1 << 1, 1'000'000);
  SetCap(&run, "50");  // 50 h a month
  const auto s = Series("vm-a", "vm.state", MetricKind::kState);
  std::vector<RollupRow> rows;
  AddStateHours(&rows, s.id, kJan1, 72, 3600);  // 3 days
  auto e = Engine(BuildTenancy(td), Book({Version(1, kJan1 - kDay, {run})}), {s});
  RatingRequest req = Month();
  req.group_by = GroupBy::kDay;
  const RatingResult r = RateOk(*e, ViewOf(dir_.path(), rows), req);
  // Day 1: 24 h = 24; day 2: 24 h -> accrued 48; day 3: the cap stops at 50: 2 credits.
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.lines[0].amount, 24'000'000);
  EXPECT_EQ(r.lines[1].amount, 24'000'000);
  EXPECT_EQ(r.lines[2].amount, 2'000'000);
  EXPECT_EQ(r.lines[2].period_start, kJan1 + 2 * kDay);
  ASSERT_EQ(r.groups.size(), 3u);
  EXPECT_EQ(r.groups[0].key, "2026-01-01");
  EXPECT_EQ(r.total, 50'000'000);
}

}  // namespace conformance_test
}  // namespace meterd::engine::rating::testing
