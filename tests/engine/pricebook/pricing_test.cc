// meterd — tests/engine/pricebook/pricing_test.cc: every price model, by hand.
//
// Prices are micro-credits (µc) per billing unit; quantities are raw rollup units (seconds,
// bytes, ops). Each case writes its arithmetic out.
#include "engine/pricebook/pricing.h"

#include <gtest/gtest.h>

#include <random>

namespace meterd::engine::pricebook {
namespace pricing_test {

using u128 = unsigned __int128;

constexpr uint64_t kHourDiv = 3600;      // state seconds -> h
constexpr uint64_t kGB = 1'000'000'000;  // counter bytes -> GB
constexpr u128 kTB = static_cast<u128>(1'000'000'000'000);

PriceBookVersion Version(RoundingMode mode = RoundingMode::kHalfEven, uint32_t n = 1) {
  PriceBookVersion v;
  v.version = n;
  v.rounding = mode;
  return v;
}

Product PerUnit(uint64_t divisor, MicroCredits price) {
  Product p;
  p.id = "p";
  p.metric = "m";
  p.divisor = divisor;
  p.unit_price = price;
  return p;
}

Product Tiered(PriceModel model) {
  // First 1 TB at 0.05 / GB, next 9 TB at 0.04, the rest at 0.03 (unit GB, divisor 10^9).
  Product p = PerUnit(kGB, 0);
  p.model = model;
  p.tiers = {Tier{Decimal::FromInt(1000), kTB, 50'000},
             Tier{Decimal::FromInt(10000), 10 * kTB, 40'000}, Tier{Decimal(), kUnbounded, 30'000}};
  return p;
}

std::vector<LineCharge> Price(const std::vector<UsageSlice>& slices,
                              std::vector<ChargePiece>* pieces = nullptr) {
  std::vector<LineCharge> out;
  Status s = PriceMonth(slices, &out, pieces);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST(PricingTest, HourlyWithMonthlyCapNotReached) {
  // Copper running at 2.2 / h, cap 672 h. 500 h = 1,800,000 s.
  // 1,800,000 s x 2,200,000 µc / 3600 = 1,100,000,000 µc = 1100 credits.
  const PriceBookVersion v = Version();
  Product p = PerUnit(kHourDiv, 2'200'000);
  p.cap = Decimal::FromInt(672);
  p.cap_raw = 672 * 3600;
  auto line = PriceLine(v, p, 500 * 3600);
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(line->amount, 1'100'000'000);
  EXPECT_EQ(line->capped, 0u);
}

TEST(PricingTest, HourlyWithMonthlyCapReached) {
  // 720 h (a 30-day month) = 2,592,000 s; the cap 672 h = 2,419,200 s.
  // Charged 2,419,200 s x 2,200,000 / 3600 = 672 x 2,200,000 = 1,478,400,000 µc (the monthly
  // price); the 172,800 s (48 h) above the cap are free.
  const PriceBookVersion v = Version();
  Product p = PerUnit(kHourDiv, 2'200'000);
  p.cap = Decimal::FromInt(672);
  p.cap_raw = 672 * 3600;
  std::vector<ChargePiece> pieces;
  auto line = PriceLine(v, p, 720 * 3600, &pieces);
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(line->amount, 1'478'400'000);
  EXPECT_EQ(line->billed, 2'419'200u);
  EXPECT_EQ(line->capped, 172'800u);
  p.unit = "h";
  EXPECT_EQ(ExplainLine(p, *line, pieces),
            "672 h x 2.2 = 1478.4; 48 h above the cap (672 h) not charged; = 1478.4 credits");
}

TEST(PricingTest, CapAcrossAPriceChangeMidMonth) {
  // Version 1 (2.2 / h) prices the first 400 h, version 2 (2.0 / h) the next 320 h; the cap
  // (672 h) counts the line's hours across both: 400 h x 2.2 = 880 credits, then 272 h x 2.0
  // = 544 credits, 48 h above the cap. 1424 credits.
  const PriceBookVersion v1 = Version(RoundingMode::kHalfEven, 1);
  const PriceBookVersion v2 = Version(RoundingMode::kHalfEven, 2);
  Product p1 = PerUnit(kHourDiv, 2'200'000);
  p1.cap_raw = 672 * 3600;
  Product p2 = p1;
  p2.unit_price = 2'000'000;
  auto lines = Price({{0, &v1, &p1, 400 * 3600}, {0, &v2, &p2, 320 * 3600}});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].amount, 1'424'000'000);
  EXPECT_EQ(lines[0].capped, 48u * 3600);
}

TEST(PricingTest, GraduatedTiersPerAccountSplitAcrossResourcesInOrder) {
  // Egress of one account in a month: vm-a 600 GB, vm-b 700 GB, vm-c 9,000 GB (10,300 GB).
  // The account's positions: a [0, 600), b [600, 1300), c [1300, 10300) GB.
  //   a: 600 x 0.05                                  = 30 credits
  //   b: 400 x 0.05 (to the 1 TB edge) + 300 x 0.04  = 20 + 12 = 32
  //   c: 8,700 x 0.04 (to 10 TB) + 300 x 0.03        = 348 + 9 = 357
  // Sum 419 = 1,000 x 0.05 + 9,000 x 0.04 + 300 x 0.03.
  const PriceBookVersion v = Version();
  const Product p = Tiered(PriceModel::kGraduated);
  std::vector<ChargePiece> pieces;
  auto lines = Price(
      {{0, &v, &p, 600 * u128{kGB}}, {1, &v, &p, 700 * u128{kGB}}, {2, &v, &p, 9000 * u128{kGB}}},
      &pieces);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].amount, 30'000'000);
  EXPECT_EQ(lines[1].amount, 32'000'000);
  EXPECT_EQ(lines[2].amount, 357'000'000);
  ASSERT_EQ(pieces.size(), 5u);
  EXPECT_EQ(pieces[1].tier, 0u);
  EXPECT_EQ(pieces[1].quantity, 400 * u128{kGB});
  EXPECT_EQ(pieces[2].tier, 1u);
  EXPECT_EQ(pieces[2].quantity, 300 * u128{kGB});
}

TEST(PricingTest, GraduatedTierEdgeIsExactToTheByte) {
  // Exactly 1 TB: all of it in tier 1 (1,000 GB x 0.05 = 50 credits).
  const PriceBookVersion v = Version();
  const Product p = Tiered(PriceModel::kGraduated);
  std::vector<ChargePiece> pieces;
  auto at = PriceLine(v, p, kTB, &pieces);
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(at->amount, 50'000'000);
  ASSERT_EQ(pieces.size(), 1u);
  // One byte more: 10^12 bytes in tier 1 and 1 byte in tier 2.
  // exact = 10^12 x 50,000 + 1 x 40,000 = 50,000,000,000,040,000 µc·bytes/GB; / 10^9 =
  // 50,000,000.00004 µc -> 50,000,000 µc, rounded once for the line.
  pieces.clear();
  auto past = PriceLine(v, p, kTB + 1, &pieces);
  ASSERT_TRUE(past.ok());
  EXPECT_EQ(past->exact, static_cast<__int128>(50'000'000'000'040'000));
  EXPECT_EQ(past->amount, 50'000'000);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].quantity, kTB);
  EXPECT_EQ(pieces[1].quantity, 1u);
  EXPECT_EQ(pieces[1].tier, 1u);
}

TEST(PricingTest, VolumeTiersPriceEverythingAtTheTierTheTotalReaches) {
  // Same usage as the graduated case, 10,300 GB in all: past 10 TB, so every GB at 0.03:
  // a 600 x 0.03 = 18, b 700 x 0.03 = 21, c 9,000 x 0.03 = 270 credits.
  const PriceBookVersion v = Version();
  const Product p = Tiered(PriceModel::kVolume);
  auto lines = Price(
      {{0, &v, &p, 600 * u128{kGB}}, {1, &v, &p, 700 * u128{kGB}}, {2, &v, &p, 9000 * u128{kGB}}});
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].amount, 18'000'000);
  EXPECT_EQ(lines[1].amount, 21'000'000);
  EXPECT_EQ(lines[2].amount, 270'000'000);
  // A total of exactly 1 TB stays in tier 1 ("up to" includes the edge): 1,000 x 0.05 = 50.
  EXPECT_EQ(PriceLine(v, p, kTB)->amount, 50'000'000);
  // One byte more and the whole 1 TB + 1 B is priced at 0.04: 40.00000004 -> 40 credits.
  EXPECT_EQ(PriceLine(v, p, kTB + 1)->amount, 40'000'000);
}

TEST(PricingTest, FreeAllowancePerAccountPerMonth) {
  // Bytes received at 0.6 / GB, the first 10 GB of the account free. x uses 4 GB, y 8 GB:
  // x [0, 4) all free: 0; y [4, 12): 6 GB free, 2 GB x 0.6 = 1.2 credits.
  const PriceBookVersion v = Version();
  Product p = PerUnit(kGB, 600'000);
  p.free = Decimal::FromInt(10);
  p.free_raw = 10 * u128{kGB};
  auto lines = Price({{0, &v, &p, 4 * u128{kGB}}, {1, &v, &p, 8 * u128{kGB}}});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].amount, 0);
  EXPECT_EQ(lines[0].free, 4 * u128{kGB});
  EXPECT_EQ(lines[1].amount, 1'200'000);
  EXPECT_EQ(lines[1].free, 6 * u128{kGB});
  EXPECT_EQ(lines[1].billed, 2 * u128{kGB});
}

TEST(PricingTest, GraduatedWithAllowance) {
  // The allowance is the first 10 GB of the account's positions, and tier edges count those
  // positions too: 1,010 GB = [0, 10) free + [10, 1000) x 0.05 + [1000, 1010) x 0.04
  // = 49.5 + 0.4 = 49.9 credits.
  const PriceBookVersion v = Version();
  Product p = Tiered(PriceModel::kGraduated);
  p.free_raw = 10 * u128{kGB};
  EXPECT_EQ(PriceLine(v, p, 1010 * u128{kGB})->amount, 49'900'000);
  // 1,100 GB: 10 free, 990 x 0.05 + 100 x 0.04 = 49.5 + 4 = 53.5 credits.
  EXPECT_EQ(PriceLine(v, p, 1100 * u128{kGB})->amount, 53'500'000);
}

TEST(PricingTest, MinimumChargePerLine) {
  // An IP at 0.0012 / h with a 0.10 monthly minimum. 10 h: 10 x 1,200 = 12,000 µc < 100,000:
  // the minimum applies. 744 h: 744 x 1,200 = 892,800 µc: above it. 0 h: no charge at all.
  const PriceBookVersion v = Version();
  Product p = PerUnit(kHourDiv, 1'200);
  p.minimum = 100'000;
  auto small = PriceLine(v, p, 10 * 3600);
  EXPECT_EQ(small->amount, 100'000);
  EXPECT_TRUE(small->minimum_applied);
  auto month = PriceLine(v, p, 744 * 3600);
  EXPECT_EQ(month->amount, 892'800);
  EXPECT_FALSE(month->minimum_applied);
  auto none = PriceLine(v, p, 0);
  EXPECT_EQ(none->amount, 0);
  EXPECT_FALSE(none->minimum_applied);
}

TEST(PricingTest, PackagePrice) {
  // Writes billed per started package of 10 million ops at 0.05 (divisor 10^6, size 10^7 ops).
  // 25 M ops: ceil(2.5) = 3 packages = 0.15 credits; exactly 10 M: 1 package; 10 M + 1: 2.
  const PriceBookVersion v = Version();
  Product p = PerUnit(1'000'000, 0);
  p.model = PriceModel::kPackage;
  p.package_size = Decimal::FromInt(10);
  p.package_size_raw = 10'000'000;
  p.package_price = 50'000;
  EXPECT_EQ(PriceLine(v, p, 25'000'000)->amount, 150'000);
  EXPECT_EQ(PriceLine(v, p, 10'000'000)->amount, 50'000);
  EXPECT_EQ(PriceLine(v, p, 10'000'001)->amount, 100'000);
  EXPECT_EQ(PriceLine(v, p, 0)->amount, 0);
  // Across a price change: 7 M ops under 0.05 then 8 M under 0.07. Packages start at 0 (in
  // the first slice) and at 10 M (in the second): 0.05 + 0.07 = 0.12 credits; ceil(15/10) = 2.
  Product p2 = p;
  p2.package_price = 70'000;
  const PriceBookVersion v2 = Version(RoundingMode::kHalfEven, 2);
  auto lines = Price({{0, &v, &p, 7'000'000}, {0, &v2, &p2, 8'000'000}});
  EXPECT_EQ(lines[0].amount, 120'000);
}

TEST(PricingTest, RoundingOncePerLineAtHalfAMicroCredit) {
  // 0.000001 credits (1 µc) per hour. 1,800 s = 0.5 h -> 0.5 µc; 5,400 s -> 1.5 µc;
  // 9,000 s -> 2.5 µc. Half-even: 0, 2, 2. Half away from zero: 1, 2, 3. Up: 1, 2, 3. Down:
  // 0, 1, 2.
  const Product p = PerUnit(kHourDiv, 1);
  struct Case {
    RoundingMode mode;
    MicroCredits a, b, c;
  };
  for (const Case& c :
       {Case{RoundingMode::kHalfEven, 0, 2, 2}, Case{RoundingMode::kHalfAwayFromZero, 1, 2, 3},
        Case{RoundingMode::kUp, 1, 2, 3}, Case{RoundingMode::kDown, 0, 1, 2}}) {
    const PriceBookVersion v = Version(c.mode);
    EXPECT_EQ(PriceLine(v, p, 1800)->amount, c.a) << RoundingModeName(c.mode);
    EXPECT_EQ(PriceLine(v, p, 5400)->amount, c.b) << RoundingModeName(c.mode);
    EXPECT_EQ(PriceLine(v, p, 9000)->amount, c.c) << RoundingModeName(c.mode);
  }
  // Rounded once per line, not per slice: two slices of 1,800 s each are 1 µc exactly (two
  // rounded halves would give 0 + 0 under half-even).
  const PriceBookVersion v = Version();
  auto lines = Price({{0, &v, &p, 1800}, {0, &v, &p, 1800}});
  EXPECT_EQ(lines[0].amount, 1);
}

TEST(PricingTest, TierSplitNeverLosesOrAddsAUnit) {
  // Random accounts of lines with edges hit exactly and missed by one: the exact amounts of
  // the lines add up to the tiers applied to the account's total, and the allowance and the
  // tiers see every raw unit once.
  std::mt19937_64 rng(42);
  const PriceBookVersion v = Version();
  Product p = Tiered(PriceModel::kGraduated);
  p.free_raw = 10 * u128{kGB};
  for (int round = 0; round < 200; ++round) {
    std::vector<UsageSlice> slices;
    const int n = 1 + static_cast<int>(rng() % 6);
    u128 total = 0;
    for (int i = 0; i < n; ++i) {
      u128 q;
      switch (rng() % 4) {
        case 0:
          q = kTB;
          break;
        case 1:
          q = kTB - 1;
          break;
        case 2:
          q = rng() % (3 * kTB);
          break;
        default:
          q = 1 + rng() % 1000;
      }
      slices.push_back({static_cast<uint32_t>(i), &v, &p, q});
      total += q;
    }
    auto lines = Price(slices);
    ASSERT_EQ(lines.size(), static_cast<size_t>(n));
    __int128 sum = 0;
    u128 free = 0, billed = 0;
    for (const LineCharge& l : lines) {
      sum += l.exact;
      free += l.free;
      billed += l.billed;
    }
    auto over = [](u128 a, u128 b, u128 lo, u128 hi) -> u128 {
      const u128 s = std::max(a, lo), e = std::min(b, hi);
      return e > s ? e - s : 0;
    };
    const __int128 direct = static_cast<__int128>(over(0, total, p.free_raw, kTB)) * 50'000 +
                            static_cast<__int128>(over(0, total, kTB, 10 * kTB)) * 40'000 +
                            static_cast<__int128>(over(0, total, 10 * kTB, kUnbounded)) * 30'000;
    EXPECT_EQ(sum, direct);
    EXPECT_EQ(free + billed, total);
    EXPECT_EQ(free, std::min(total, p.free_raw));
  }
}

TEST(PricingTest, QuantityText) {
  EXPECT_EQ(FormatQuantity(2'419'200, 3600), "672");
  EXPECT_EQ(FormatQuantity(10'000'000, 1'000'000'000), "0.01");
  EXPECT_EQ(FormatQuantity(1200, 3600), "~0.333333");
}

TEST(SubscriptionTest, MonthlyAndOneTimeFees) {
  PriceBookVersion v = Version();
  v.effective_from = 1485907200;  // 2017-02-01
  v.default_currency = "GBP";
  v.currencies = {Currency{"GBP", Decimal::FromInt(1), "GBP ", "", 2}};
  Product backup;
  backup.id = "backup.daily";
  backup.model = PriceModel::kSubscription;
  backup.unit = "month";
  backup.monthly_fee = 12'000'000;
  Product ddos = backup;
  ddos.id = "ddos";
  ddos.one_time_fee = 150'000'000;
  ddos.monthly_fee = 500'000'000;
  ddos.proration = Proration::kHourly;
  v.products = {backup, ddos};
  auto book = PriceBook::Build({v});
  ASSERT_TRUE(book.ok()) << book.status().ToString();
  const int64_t feb = 1485907200, mar = 1488326400;  // February 2017 has 672 hours
  EXPECT_EQ(MonthStart(feb + 12345), feb);
  EXPECT_EQ(NextMonthStart(feb), mar);

  std::vector<FeeCharge> out;
  ASSERT_TRUE(
      PriceSubscriptionMonth(**book, {"s1", "a", "backup.daily", 1, feb, kNoEnd, ""}, feb, &out)
          .ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].amount, 12'000'000);  // GBP 12.00 for the month
  EXPECT_EQ(out[0].month_hours, 672);

  // DDoS from Feb 15 00:00, prorated hourly: 14 days = 336 of 672 hours:
  // 500 x 336 / 672 = 250 credits, plus the one-time fee 150 in its first month.
  out.clear();
  const int64_t feb15 = feb + 14 * 86400;
  const Subscription s2{"s2", "a", "ddos", 1, feb15, kNoEnd, ""};
  ASSERT_TRUE(PriceSubscriptionMonth(**book, s2, feb, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, FeeCharge::Kind::kOneTime);
  EXPECT_EQ(out[0].amount, 150'000'000);
  EXPECT_EQ(out[1].active_hours, 336);
  EXPECT_EQ(out[1].amount, 250'000'000);
  // March: the full fee, no one-time fee.
  out.clear();
  ASSERT_TRUE(PriceSubscriptionMonth(**book, s2, mar, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].amount, 500'000'000);
  // Ended at 10:30 on Feb 1: hours 00:00-11:00 are touched (11 h): 500 x 11 / 672
  // = 8.184523809... credits -> 8,184,524 µc (half-even).
  out.clear();
  const Subscription s3{"s3", "a", "ddos", 1, feb, feb + 10 * 3600 + 1800, ""};
  ASSERT_TRUE(PriceSubscriptionMonth(**book, s3, feb, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].active_hours, 11);
  EXPECT_EQ(out[1].amount, 8'184'524);
  // Not active in April: nothing.
  out.clear();
  ASSERT_TRUE(PriceSubscriptionMonth(**book, s3, mar, &out).ok());
  EXPECT_TRUE(out.empty());
}

}  // namespace pricing_test
}  // namespace meterd::engine::pricebook
