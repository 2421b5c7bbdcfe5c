// meterd — tests/net/meterctl/usage_format_test.cc: exact quantity text for usage lines.
#include "net/meterctl/usage_format.h"

#include <gtest/gtest.h>

namespace meterd::cli {
namespace usage_format_test {

TEST(UsageFormat, QuotientRoundsHalfEvenAtTheSixthDecimal) {
  EXPECT_EQ(FormatQuotient(1, 8, 6), "0.125000");
  EXPECT_EQ(FormatQuotient(1, 3, 6), "0.333333");
  EXPECT_EQ(FormatQuotient(2, 3, 6), "0.666667");
  // 0.0000005 is a tie: rounds to the even 0.000000; 0.0000015 to 0.000002.
  EXPECT_EQ(FormatQuotient(5, 10000000, 6), "0.000000");
  EXPECT_EQ(FormatQuotient(15, 10000000, 6), "0.000002");
  EXPECT_EQ(FormatQuotient(25, 10000000, 6), "0.000002");
  // A carry into the whole part: 0.9999995 -> tie, 9999995 is odd -> rounds up to 1.000000.
  EXPECT_EQ(FormatQuotient(9999995, 10000000, 6), "1.000000");
  EXPECT_EQ(FormatQuotient(7, 1, 0), "7");
  EXPECT_EQ(FormatQuotient(0, 5, 2), "0.00");
}

TEST(UsageFormat, GibHoursOfAByteLevelAreExact) {
  const GaugeUnit gu = GaugeBillingUnit("bytes");
  EXPECT_EQ(gu.unit, "GiB·h");
  // 4 GiB held for an hour is 4 GiB·h; 720 GiB·s is 0.2 GiB·h.
  const unsigned __int128 gib = static_cast<unsigned __int128>(1) << 30;
  EXPECT_EQ(FormatQuotient(4 * gib * 3600, gu.divisor, 6), "4.000000");
  EXPECT_EQ(FormatQuotient(720 * gib, gu.divisor, 6), "0.200000");
  EXPECT_EQ(GaugeBillingUnit("vcpus").unit, "vcpus·h");
  EXPECT_EQ(GaugeBillingUnit("vcpus").divisor, 3600u);
}

TEST(UsageFormat, U128PrintsBeyond64Bits) {
  const unsigned __int128 big = (static_cast<unsigned __int128>(1) << 64) * 10 + 5;
  EXPECT_EQ(FormatU128(big), "184467440737095516165");
  EXPECT_EQ(FormatU128(0), "0");
}

}  // namespace usage_format_test
}  // namespace meterd::cli
