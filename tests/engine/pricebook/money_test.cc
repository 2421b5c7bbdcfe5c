// meterd — tests/engine/pricebook/money_test.cc: decimals, rounding modes, currencies, units.
#include "engine/pricebook/money.h"

#include <gtest/gtest.h>

#include "engine/pricebook/units.h"

namespace meterd::engine::pricebook {
namespace money_test {

Decimal D(const char* text) {
  auto d = Decimal::Parse(text);
  EXPECT_TRUE(d.ok()) << text << ": " << d.status().ToString();
  return d.ok() ? d.value() : Decimal();
}

TEST(DecimalTest, ParsesExactly) {
  EXPECT_EQ(D("1.2345").units(), 1'234'500'000);
  EXPECT_EQ(D("0.0069").units(), 6'900'000);
  EXPECT_EQ(D("12").units(), 12'000'000'000);
  EXPECT_EQ(D("-3.5").units(), -3'500'000'000);
  EXPECT_EQ(D("+0.000000001").units(), 1);
  EXPECT_EQ(D(".5").units(), 500'000'000);
  EXPECT_EQ(D("2.").units(), 2'000'000'000);
  EXPECT_EQ(D("9223372036.854775807").units(), INT64_MAX);
  // 0.1 + 0.2 is exactly 0.3 here (it is not in binary floating point).
  EXPECT_EQ(D("0.1").units() + D("0.2").units(), D("0.3").units());
}

TEST(DecimalTest, RefusesWhatIsNotAnExactDecimal) {
  for (const char* bad : {"", ".", "-", "1e5", "1,000", " 1", "1 ", "0x10", "1.2.3", "abc"}) {
    auto d = Decimal::Parse(bad);
    EXPECT_FALSE(d.ok()) << bad;
  }
  auto many = Decimal::Parse("0.0000000001");
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.status().message(), "\"0.0000000001\" has more than 9 decimal places");
  EXPECT_FALSE(Decimal::Parse("9223372037").ok());
  EXPECT_FALSE(Decimal::Parse("9223372036.854775808").ok());
}

TEST(DecimalTest, TextAndScaling) {
  EXPECT_EQ(D("1.2345").ToString(), "1.2345");
  EXPECT_EQ(D("12.000").ToString(), "12");
  EXPECT_EQ(D("-0.5").ToString(), "-0.5");
  EXPECT_EQ(D("2.2").ScaledExact(6), 2'200'000);  // micro-credits
  EXPECT_EQ(D("0.0000012").ScaledExact(6), std::nullopt);
  EXPECT_EQ(D("1000").TimesExact(1'000'000'000), static_cast<__int128>(1'000'000'000'000));
  EXPECT_EQ(D("0.5").TimesExact(3), std::nullopt);  // 1.5 raw units: not whole
  EXPECT_EQ(D("672").TimesExact(3600), static_cast<__int128>(2'419'200));
}

TEST(RoundingTest, TiesAtExactlyHalf) {
  struct Case {
    __int128 num, den;
    __int128 half_even, half_away, up, down;
  };
  const Case cases[] = {
      {5, 2, 2, 3, 3, 2},                            // 2.5
      {7, 2, 4, 4, 4, 3},                            // 3.5
      {-5, 2, -2, -3, -3, -2},                       // -2.5
      {-7, 2, -4, -4, -4, -3},                       // -3.5
      {1, 2, 0, 1, 1, 0},                            // 0.5
      {12, 5, 2, 2, 3, 2},                           // 2.4: not a tie
      {13, 5, 3, 3, 3, 2},                           // 2.6
      {-13, 5, -3, -3, -3, -2}, {6, 3, 2, 2, 2, 2},  // exact
      {1800, 3600, 0, 1, 1, 0},                      // half a micro-credit
      {5400, 3600, 2, 2, 2, 1}, {9000, 3600, 2, 3, 3, 2},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RoundDiv(c.num, c.den, RoundingMode::kHalfEven), c.half_even);
    EXPECT_EQ(RoundDiv(c.num, c.den, RoundingMode::kHalfAwayFromZero), c.half_away);
    EXPECT_EQ(RoundDiv(c.num, c.den, RoundingMode::kUp), c.up);
    EXPECT_EQ(RoundDiv(c.num, c.den, RoundingMode::kDown), c.down);
  }
  // Huge denominators: no overflow in the half comparison.
  const __int128 big = static_cast<__int128>(1) << 126;
  const __int128 max = (big - 1) * 2 + 1;                         // 2^127 - 1
  EXPECT_EQ(RoundDiv(big, max, RoundingMode::kHalfEven), 1);      // just over one half
  EXPECT_EQ(RoundDiv(big - 1, max, RoundingMode::kHalfEven), 0);  // just under
  EXPECT_EQ(ParseRoundingMode("half_away_from_zero"), RoundingMode::kHalfAwayFromZero);
  EXPECT_EQ(ParseRoundingMode("bankers"), std::nullopt);
}

Currency Gbp() { return Currency{"GBP", D("1"), "GBP ", "", 2}; }
Currency Eur() { return Currency{"EUR", D("1.1634"), "EUR ", "", 2}; }

TEST(CurrencyTest, MinorUnitsRoundOnceHalfEven) {
  // 12.345 credits = 1234.5 pence: a tie, to the even penny.
  EXPECT_EQ(ToMinorUnits(12'345'000, Gbp(), RoundingMode::kHalfEven).value(), 1234);
  EXPECT_EQ(ToMinorUnits(12'345'000, Gbp(), RoundingMode::kHalfAwayFromZero).value(), 1235);
  EXPECT_EQ(ToMinorUnits(12'355'000, Gbp(), RoundingMode::kHalfEven).value(), 1236);
  EXPECT_EQ(ToMinorUnits(12'345'001, Gbp(), RoundingMode::kHalfEven).value(), 1235);  // past .5
  EXPECT_EQ(ToMinorUnits(12'349'999, Gbp(), RoundingMode::kDown).value(), 1234);
  EXPECT_EQ(ToMinorUnits(12'340'001, Gbp(), RoundingMode::kUp).value(), 1235);
  // 25 credits x 1.1634 = 29.085 EUR = 2908.5 cents: a tie.
  EXPECT_EQ(ToMinorUnits(25'000'000, Eur(), RoundingMode::kHalfEven).value(), 2908);
  EXPECT_EQ(ToMinorUnits(25'000'000, Eur(), RoundingMode::kHalfAwayFromZero).value(), 2909);
  // 2955.91 credits x 1.1634 = 3438.905694 EUR -> 343890.5694 cents -> 343891.
  EXPECT_EQ(ToMinorUnits(2'955'910'000, Eur(), RoundingMode::kHalfEven).value(), 343891);
  // Negative amounts (refunds) round symmetrically.
  EXPECT_EQ(ToMinorUnits(-12'345'000, Gbp(), RoundingMode::kHalfAwayFromZero).value(), -1235);
  // Overflow is reported, not wrapped.
  EXPECT_FALSE(ToMinorUnits(static_cast<__int128>(1) << 100, Eur(), RoundingMode::kHalfEven).ok());
}

TEST(CurrencyTest, Formatting) {
  EXPECT_EQ(FormatMinor(295591, Gbp()), "GBP 2,955.91");
  EXPECT_EQ(FormatMinor(5, Gbp()), "GBP 0.05");
  EXPECT_EQ(FormatMinor(-5, Gbp()), "-GBP 0.05");
  EXPECT_EQ(FormatMinor(123456789, Currency{"JPY", D("150"), "", " JPY", 0}), "123,456,789 JPY");
  EXPECT_EQ(FormatUnitPrice(2'200'000, Gbp()), "GBP 2.2000");
  EXPECT_EQ(FormatUnitPrice(6'900, Gbp()), "GBP 0.0069");
  EXPECT_EQ(FormatUnitPrice(1, Gbp()), "GBP 0.000001");
  EXPECT_EQ(FormatUnitPrice(2'200'000, Eur()), "EUR 2.55948");
  EXPECT_EQ(FormatCredits(2'955'910'000), "2955.91");
  EXPECT_EQ(FormatCredits(1), "0.000001");
  EXPECT_EQ(FormatCredits(-1'500'000), "-1.5");
  EXPECT_EQ(ToString128(~static_cast<unsigned __int128>(0)),
            "340282366920938463463374607431768211455");
  EXPECT_EQ(ToString128(static_cast<__int128>(-42)), "-42");
}

TEST(UnitsTest, ExactDivisors) {
  auto div = [](MetricKind k, const char* mu, const char* u) {
    auto r = ResolveUnit(k, mu, u);
    EXPECT_TRUE(r.ok()) << u << ": " << r.status().ToString();
    return r.ok() ? r->divisor : 0;
  };
  EXPECT_EQ(div(MetricKind::kState, "state", "h"), 3600u);
  EXPECT_EQ(div(MetricKind::kGauge, "bytes", "GiB·h"), 3600ull << 30);
  EXPECT_EQ(div(MetricKind::kGauge, "bytes", "GiB.h"), 3600ull << 30);
  EXPECT_EQ(div(MetricKind::kGauge, "bytes", "GB*h"), 3'600'000'000'000u);
  EXPECT_EQ(div(MetricKind::kGauge, "vcpus", "h"), 3600u);
  EXPECT_EQ(div(MetricKind::kCounter, "bytes", "GB"), 1'000'000'000u);
  EXPECT_EQ(div(MetricKind::kCounter, "bytes", "GiB"), 1ull << 30);
  EXPECT_EQ(div(MetricKind::kCounter, "ops", "million ops"), 1'000'000u);
  EXPECT_EQ(div(MetricKind::kCounter, "ns", "h"), 3'600'000'000'000u);
  EXPECT_EQ(ResolveUnit(MetricKind::kGauge, "bytes", "GB.h")->name, "GB·h");
  auto bad = ResolveUnit(MetricKind::kState, "state", "GB");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("one of: h, min, s"), std::string::npos);
  EXPECT_FALSE(ResolveUnit(MetricKind::kGauge, "bytes", "h").ok());
}

}  // namespace money_test
}  // namespace meterd::engine::pricebook
