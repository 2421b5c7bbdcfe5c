// meterd — tests/engine/invoicing/discounts_test.cc: discount lines, hand-computed and
// property-tested.
#include "engine/invoicing/discounts.h"

#include <gtest/gtest.h>

#include <random>

#include "engine/tenancy/document.h"

namespace meterd::engine::invoicing {
namespace discounts_test {

using pricebook::RoundingMode;
using tenancy::Coupon;
using tenancy::CouponRedemption;
using tenancy::Discount;
using tenancy::DiscountScope;

constexpr MicroCredits kCredit = 1'000'000;

int64_t T(const char* rfc3339) { return *tenancy::ParseTime(rfc3339); }

InvoiceLine Line(std::string group, std::string product, MicroCredits micro) {
  InvoiceLine l;
  l.group = std::move(group);
  l.product_id = std::move(product);
  l.amount.micro = micro;
  return l;
}

Discount Percent(std::string id, DiscountScope scope, std::string target, uint32_t ppm) {
  Discount d;
  d.id = std::move(id);
  d.description = d.id;
  d.scope = scope;
  d.target = std::move(target);
  d.percent_ppm = ppm;
  d.accounts = {"acme"};
  d.applies_to = {"acme"};  // as Tenancy::Build derives it
  return d;
}

Discount Fixed(std::string id, DiscountScope scope, std::string target, MicroCredits amount) {
  Discount d = Percent(std::move(id), scope, std::move(target), 0);
  d.amount = amount;
  return d;
}

DiscountCatalog Catalog(std::vector<Discount> discounts, std::vector<Coupon> coupons = {},
                        std::vector<CouponRedemption> redemptions = {}) {
  DiscountCatalog c;
  c.discounts = std::move(discounts);
  std::sort(c.discounts.begin(), c.discounts.end(),
            [](const Discount& a, const Discount& b) { return a.id < b.id; });
  c.coupons = std::move(coupons);
  std::sort(c.coupons.begin(), c.coupons.end(),
            [](const Coupon& a, const Coupon& b) { return a.id < b.id; });
  c.redemptions = std::move(redemptions);
  return c;
}

const cycles::Cycle kMonthly{};
const int64_t kNov1 = T("2026-11-01T00:00:00Z");
const int64_t kDec1 = T("2026-12-01T00:00:00Z");

Result<std::vector<DiscountLine>> Compute(const DiscountCatalog& c,
                                          const std::vector<InvoiceLine>& lines,
                                          RoundingMode mode = RoundingMode::kHalfEven) {
  return ComputeDiscounts(c, "acme", kMonthly, cycles::TimeZone::Utc(), kNov1, kDec1, lines, mode);
}

TEST(DiscountsTest, AccountPercentage) {
  auto out =
      Compute(Catalog({Percent("loyal", DiscountScope::kAccount, "", 100000)}),
              {Line("Running VM", "copper", 100 * kCredit), Line("Storage", "ssd", 50 * kCredit)});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 1u);
  const DiscountLine& d = (*out)[0];
  EXPECT_EQ(d.id, "loyal");
  EXPECT_EQ(d.scope, "account");
  EXPECT_EQ(d.target, "");
  EXPECT_EQ(d.percent_ppm, 100000u);
  EXPECT_EQ(d.base, 150 * kCredit);
  EXPECT_EQ(d.amount.micro, 15 * kCredit);
}

TEST(DiscountsTest, ProductThenGroupThenAccountPercentBeforeFixed) {
  // Listed in the catalog in id order (a..e); applied product, group, account; percentages
  // before fixed amounts.
  const DiscountCatalog c = Catalog({
      Fixed("a-five-off", DiscountScope::kAccount, "", 5 * kCredit),
      Percent("b-ten-account", DiscountScope::kAccount, "", 100000),
      Percent("c-running", DiscountScope::kGroup, "Running VM", 100000),
      Percent("d-copper", DiscountScope::kProduct, "copper", 200000),
  });
  const std::vector<InvoiceLine> lines = {Line("Running VM", "copper", 100 * kCredit),
                                          Line("Running VM", "silver", 50 * kCredit),
                                          Line("Storage", "ssd", 30 * kCredit)};
  auto out = Compute(c, lines);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 4u);
  // copper 100 -> 20 off; Running VM 80 + 50 = 130 -> 13 off; account 180 - 33 = 147 -> 14.7
  // off; then 5 off 132.3.
  EXPECT_EQ((*out)[0].id, "d-copper");
  EXPECT_EQ((*out)[0].scope, "product");
  EXPECT_EQ((*out)[0].base, 100 * kCredit);
  EXPECT_EQ((*out)[0].amount.micro, 20 * kCredit);
  EXPECT_EQ((*out)[1].id, "c-running");
  EXPECT_EQ((*out)[1].base, 130 * kCredit);
  EXPECT_EQ((*out)[1].amount.micro, 13 * kCredit);
  EXPECT_EQ((*out)[2].id, "b-ten-account");
  EXPECT_EQ((*out)[2].base, 147 * kCredit);
  EXPECT_EQ((*out)[2].amount.micro, 14'700'000);
  EXPECT_EQ((*out)[3].id, "a-five-off");
  EXPECT_EQ((*out)[3].percent_ppm, 0u);
  EXPECT_EQ((*out)[3].base, 132'300'000);
  EXPECT_EQ((*out)[3].amount.micro, 5 * kCredit);
}

TEST(DiscountsTest, FixedDiscountLargerThanTheBaseIsCapped) {
  const DiscountCatalog c = Catalog({Fixed("big", DiscountScope::kAccount, "", 500 * kCredit),
                                     Fixed("more", DiscountScope::kAccount, "", kCredit)});
  auto out = Compute(c, {Line("Running VM", "copper", 120 * kCredit)});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);  // "more" finds nothing left and gives no line
  EXPECT_EQ((*out)[0].id, "big");
  EXPECT_EQ((*out)[0].amount.micro, 120 * kCredit);
  // A product discount is capped at its product's lines.
  const DiscountCatalog p = Catalog({Fixed("p", DiscountScope::kProduct, "copper", 500 * kCredit)});
  auto prod = Compute(
      p, {Line("Running VM", "copper", 7 * kCredit), Line("Running VM", "silver", 9 * kCredit)});
  ASSERT_TRUE(prod.ok());
  ASSERT_EQ(prod->size(), 1u);
  EXPECT_EQ((*prod)[0].amount.micro, 7 * kCredit);
}

TEST(DiscountsTest, NegativeOrZeroBasesGiveNoLine) {
  const DiscountCatalog c = Catalog({Percent("ten", DiscountScope::kAccount, "", 100000)});
  auto out = Compute(
      c, {Line("Running VM", "copper", 10 * kCredit), Line("Adjustments", "", -12 * kCredit)});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->empty());
  auto empty = Compute(c, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(DiscountsTest, PercentageRoundedOncePerLine) {
  // 12.5 % of 0.000012 credits = 1.5 micro-credits.
  const DiscountCatalog c = Catalog({Percent("x", DiscountScope::kAccount, "", 125000)});
  const std::vector<InvoiceLine> lines = {Line("Storage", "ssd", 12)};
  EXPECT_EQ((*Compute(c, lines, RoundingMode::kHalfEven))[0].amount.micro, 2);
  EXPECT_EQ((*Compute(c, lines, RoundingMode::kDown))[0].amount.micro, 1);
  EXPECT_EQ((*Compute(c, lines, RoundingMode::kUp))[0].amount.micro, 2);
  // 12.5 % of 4 micro-credits = 0.5: half-even rounds to 0, which gives no line.
  EXPECT_TRUE(Compute(c, {Line("Storage", "ssd", 4)})->empty());
}

TEST(DiscountsTest, OtherAccountsAndValidityWindow) {
  Discount other = Percent("other", DiscountScope::kAccount, "", 500000);
  other.accounts = other.applies_to = {"globex"};
  Discount expired = Percent("expired", DiscountScope::kAccount, "", 500000);
  expired.valid_until = kNov1;  // ends as the period starts
  Discount later = Percent("later", DiscountScope::kAccount, "", 500000);
  later.valid_from = kDec1;  // starts when the period ends
  Discount overlapping = Percent("overlapping", DiscountScope::kAccount, "", 100000);
  overlapping.valid_from = T("2026-11-20T00:00:00Z");  // in force for part of it: all of it
  auto out = Compute(Catalog({other, expired, later, overlapping}),
                     {Line("Storage", "ssd", 10 * kCredit)});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].id, "overlapping");
  EXPECT_EQ((*out)[0].amount.micro, kCredit);
}

TEST(DiscountsTest, CouponOfThreeWeeklyCyclesAppliesToCyclesOneToThree) {
  const cycles::Cycle weekly{cycles::CycleKind::kWeekly, 1, 1};  // weeks from Monday
  const Coupon welcome{"WELCOME", "Welcome coupon", 100000, 0, 3};
  // Redeemed on Wednesday 2026-11-04: its cycles are the weeks from Nov 2, 9 and 16.
  const CouponRedemption r{"acme", "WELCOME", T("2026-11-04T12:00:00Z")};
  const DiscountCatalog c = Catalog({}, {welcome}, {r});
  const std::vector<InvoiceLine> lines = {Line("Running VM", "copper", 10 * kCredit)};
  auto week = [&](const char* start, const char* end) {
    return ComputeDiscounts(c, "acme", weekly, cycles::TimeZone::Utc(), T(start), T(end), lines,
                            RoundingMode::kHalfEven);
  };
  auto before = week("2026-10-26T00:00:00Z", "2026-11-02T00:00:00Z");
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->empty());
  const char* starts[] = {"2026-11-02T00:00:00Z", "2026-11-09T00:00:00Z", "2026-11-16T00:00:00Z"};
  const char* ends[] = {"2026-11-09T00:00:00Z", "2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z"};
  for (int i = 0; i < 3; ++i) {
    auto out = week(starts[i], ends[i]);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(out->size(), 1u) << "cycle " << i + 1;
    EXPECT_EQ((*out)[0].id, "WELCOME");
    EXPECT_EQ((*out)[0].scope, "account");
    EXPECT_EQ((*out)[0].amount.micro, kCredit);
    EXPECT_EQ((*out)[0].description,
              "Welcome coupon (10 %, cycle " + std::to_string(i + 1) + " of 3)");
  }
  auto fourth = week("2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z");
  ASSERT_TRUE(fourth.ok());
  EXPECT_TRUE(fourth->empty());
  // Another account has not redeemed it.
  auto other =
      ComputeDiscounts(c, "globex", weekly, cycles::TimeZone::Utc(), T("2026-11-02T00:00:00Z"),
                       T("2026-11-09T00:00:00Z"), lines, RoundingMode::kHalfEven);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());
}

TEST(DiscountsTest, ForeverCouponAndCouponsAfterDiscountsAtAccountLevel) {
  const Coupon forever{"FOREVER", "Partner", 0, 2 * kCredit, 0};
  const CouponRedemption r{"acme", "FOREVER", T("2025-01-15T00:00:00Z")};
  const DiscountCatalog c =
      Catalog({Fixed("fixed", DiscountScope::kAccount, "", kCredit)}, {forever}, {r});
  auto out = Compute(c, {Line("Storage", "ssd", 10 * kCredit)});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].id, "fixed");
  EXPECT_EQ((*out)[1].id, "FOREVER");
  EXPECT_EQ((*out)[1].description, "Partner");
  EXPECT_EQ((*out)[1].base, 9 * kCredit);
  EXPECT_EQ((*out)[1].amount.micro, 2 * kCredit);
}

TEST(DiscountsTest, CouponCyclesInTheAccountsZone) {
  // Monthly in Asia/Kolkata: redeemed 2026-10-31T20:00Z, which is November 1 local time, so its
  // first cycle is November (local), not October.
  auto zone = cycles::TimeZone::Find("Asia/Kolkata");
  ASSERT_TRUE(zone.ok());
  const Coupon c1{"ONE", "One month", 500000, 0, 1};
  const CouponRedemption r{"acme", "ONE", T("2026-10-31T20:00:00Z")};
  auto oct =
      CouponCycleOf(c1, r, kMonthly, *zone, T("2026-09-30T18:30:00Z"), T("2026-10-31T18:30:00Z"));
  ASSERT_TRUE(oct.ok());
  EXPECT_FALSE(oct->applies);
  auto nov =
      CouponCycleOf(c1, r, kMonthly, *zone, T("2026-10-31T18:30:00Z"), T("2026-11-30T18:30:00Z"));
  ASSERT_TRUE(nov.ok());
  EXPECT_TRUE(nov->applies);
  EXPECT_EQ(nov->index, 1u);
  auto dec =
      CouponCycleOf(c1, r, kMonthly, *zone, T("2026-11-30T18:30:00Z"), T("2026-12-31T18:30:00Z"));
  ASSERT_TRUE(dec.ok());
  EXPECT_FALSE(dec->applies);
}

// Random lines and discounts: every line takes > 0 and at most its base, percentages are within
// 1 micro-credit of exact, the total never exceeds max(0, subtotal), levels come in order.
TEST(DiscountsTest, PropertyNeverBelowZeroAndWithinOneMicroCredit) {
  std::mt19937_64 rng(7);
  const RoundingMode modes[] = {RoundingMode::kHalfEven, RoundingMode::kHalfAwayFromZero,
                                RoundingMode::kUp, RoundingMode::kDown};
  const char* groups[] = {"Running VM", "Storage", "Network"};
  const char* products[] = {"p1", "p2", "p3", "p4"};
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<InvoiceLine> lines;
    const int nl = static_cast<int>(rng() % 8);
    __int128 subtotal = 0;
    for (int i = 0; i < nl; ++i) {
      const bool credit = rng() % 6 == 0;
      const int64_t amount = static_cast<int64_t>(rng() % 50'000'000'000ULL);
      lines.push_back(Line(groups[rng() % 3], products[rng() % 4], credit ? -amount / 3 : amount));
      subtotal += lines.back().amount.micro;
    }
    std::vector<Discount> ds;
    const int nd = static_cast<int>(rng() % 7);
    for (int i = 0; i < nd; ++i) {
      const int level = static_cast<int>(rng() % 3);
      const DiscountScope scope = level == 0   ? DiscountScope::kProduct
                                  : level == 1 ? DiscountScope::kGroup
                                               : DiscountScope::kAccount;
      const std::string target = level == 0   ? products[rng() % 4]
                                 : level == 1 ? groups[rng() % 3]
                                              : "";
      const std::string id = "d" + std::to_string(i);
      if (rng() % 2) {
        ds.push_back(Percent(id, scope, target, 1 + static_cast<uint32_t>(rng() % 1'000'000)));
      } else {
        ds.push_back(Fixed(id, scope, target, 1 + static_cast<int64_t>(rng() % 30'000'000'000ULL)));
      }
    }
    const RoundingMode mode = modes[rng() % 4];
    auto out = Compute(Catalog(ds), lines, mode);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    __int128 total = 0;
    int last_level = 0;
    for (const DiscountLine& d : *out) {
      EXPECT_GT(d.amount.micro, 0);
      EXPECT_LE(d.amount.micro, d.base);
      if (d.percent_ppm != 0) {
        const __int128 diff =
            __int128{d.amount.micro} * 1'000'000 - __int128{d.base} * d.percent_ppm;
        EXPECT_LT(diff < 0 ? -diff : diff, 1'000'000);
      }
      const int level = d.scope == "product" ? 0 : d.scope == "group" ? 1 : 2;
      EXPECT_GE(level, last_level);
      last_level = level;
      total += d.amount.micro;
    }
    EXPECT_LE(total, subtotal > 0 ? subtotal : 0);
    // Account-level bases are exactly the subtotal less the discounts before them.
    __int128 before = 0;
    for (const DiscountLine& d : *out) {
      if (d.scope == "account") {
        EXPECT_EQ(__int128{d.base}, subtotal - before);
      }
      before += d.amount.micro;
    }
  }
}

}  // namespace discounts_test
}  // namespace meterd::engine::invoicing
