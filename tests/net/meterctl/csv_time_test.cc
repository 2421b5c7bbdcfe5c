// meterd — tests/net/meterctl/csv_time_test.cc
#include "net/meterctl/csv_time.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

namespace meterd::cli {
namespace csv_time_test {

TEST(CsvTimeTest, ParsesUnixSecondsAndRfc3339) {
  EXPECT_EQ(ParseTimestamp("1767225600"), 1767225600);
  EXPECT_EQ(ParseTimestamp("-5"), -5);
  EXPECT_EQ(ParseTimestamp("2026-01-01T00:00:00Z"), 1767225600);
  EXPECT_EQ(ParseTimestamp("2026-01-01t00:00:00z"), 1767225600);
  EXPECT_EQ(ParseTimestamp("2026-01-01 00:00:00Z"), 1767225600);
  EXPECT_EQ(ParseTimestamp("2026-01-01T02:00:00+02:00"), 1767225600);
  EXPECT_EQ(ParseTimestamp("2025-12-31T19:30:00-04:30"), 1767225600);
  EXPECT_EQ(ParseTimestamp("2026-01-01T00:00:00.000Z"), 1767225600);
  EXPECT_EQ(ParseTimestamp("2024-02-29T12:00:00Z"), 1709208000);  // leap day
  EXPECT_EQ(ParseTimestamp("1970-01-01T00:00:00Z"), 0);
}

TEST(CsvTimeTest, RefusesWhatIsNotATimestamp) {
  for (const char* bad : {"", "yesterday", "2026-01-01", "2026-01-01T00:00:00",
                          "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00.5Z",
                          "2026-01-01T00:00:00+2:00", "12x", "2026-01-01T00:00:00Zjunk",
                          // days the month lacks: refused, not carried into the next month
                          "2026-02-29T00:00:00Z", "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z"}) {
    EXPECT_FALSE(ParseTimestamp(bad).has_value()) << bad;
  }
}

TEST(CsvTimeTest, PropertyFormatAndParseRoundTrip) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20000; ++i) {
    const int64_t t = static_cast<int64_t>(rng() % 8000000000ull) - 1000000000;
    const std::string s = FormatRfc3339(t);
    ASSERT_EQ(ParseTimestamp(s), t) << s;
  }
  EXPECT_EQ(FormatRfc3339(1767225600), "2026-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59Z");
}

TEST(CsvTimeTest, CsvFieldsSplitAndQuote) {
  std::vector<std::string> f;
  ASSERT_TRUE(SplitCsvLine("a,\"b,c\",\"d\"\"e\",\r", &f));
  EXPECT_EQ(f, (std::vector<std::string>{"a", "b,c", "d\"e", ""}));
  EXPECT_FALSE(SplitCsvLine("\"open", &f));
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  for (const std::string& s : {std::string("x,y"), std::string("q\"q"), std::string("p")}) {
    ASSERT_TRUE(SplitCsvLine(CsvField(s) + "," + CsvField(s), &f));
    EXPECT_EQ(f, (std::vector<std::string>{s, s}));
  }
}

TEST(CsvTimeTest, DoublesPrintExactly) {
  std::mt19937_64 rng(4);
  for (int i = 0; i < 10000; ++i) {
    uint64_t bits = rng();
    double v;
    std::memcpy(&v, &bits, 8);
    if (!std::isfinite(v)) continue;
    EXPECT_EQ(std::strtod(FormatDouble(v).c_str(), nullptr), v);
  }
  EXPECT_EQ(FormatDouble(0.1), "0.1");
  EXPECT_EQ(FormatDouble(std::nan("")), "nan");
  EXPECT_EQ(FormatDouble(-INFINITY), "-inf");
}

TEST(CsvTimeTest, IntegerValuesMayBeWrittenAsIntegralDecimals) {
  EXPECT_EQ(ParseIntegralValue("2"), 2u);
  EXPECT_EQ(ParseIntegralValue("2.0"), 2u);  // pandas
  EXPECT_EQ(ParseIntegralValue("2.000"), 2u);
  EXPECT_EQ(ParseIntegralValue("2."), 2u);
  EXPECT_EQ(ParseIntegralValue("1e3"), 1000u);
  EXPECT_EQ(ParseIntegralValue("1.5E1"), 15u);
  EXPECT_EQ(ParseIntegralValue("1500e-2"), 15u);
  EXPECT_EQ(ParseIntegralValue("0.0"), 0u);
  EXPECT_EQ(ParseIntegralValue("-0"), 0u);
  EXPECT_EQ(ParseIntegralValue("0e999999999999"), 0u);
  EXPECT_EQ(ParseIntegralValue("007"), 7u);
  // Exact to the last unit, where a double would round: 2^53 + 1 and 2^64 - 1.
  EXPECT_EQ(ParseIntegralValue("9007199254740993.0"), 9007199254740993u);
  EXPECT_EQ(ParseIntegralValue("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(ParseIntegralValue("1.8446744073709551615e19"), UINT64_MAX);
}

TEST(CsvTimeTest, FractionalNegativeHugeAndNonNumbersAreRefusedWithAReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"2.5", "has a fractional part"},
      {"2.000001", "has a fractional part"},
      {"0.5", "has a fractional part"},
      {"25e-1", "has a fractional part"},
      {"1e-999999999", "has a fractional part"},
      {"-3", "is negative"},
      {"-3.0", "is negative"},
      {"18446744073709551616", "is out of range"},
      {"1e20", "is out of range"},
      {"1e999999999999", "is out of range"},
      {"", "is not a number"},
      {".", "is not a number"},
      {"1e", "is not a number"},
      {"nan", "is not a number"},
      {"inf", "is not a number"},
      {"0x10", "is not a number"},
      {" 2", "is not a number"},
      {"2 ", "is not a number"},
      {"+2", "is not a number"},
      {"running", "is not a number"},
  };
  for (const auto& [text, reason] : cases) {
    std::string why;
    EXPECT_EQ(ParseIntegralValue(text, &why), std::nullopt) << text;
    EXPECT_EQ(why, reason) << text;
  }
}

}  // namespace csv_time_test
}  // namespace meterd::cli
