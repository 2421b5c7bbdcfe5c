// meterd — tests/net/http/json_format_test.cc: the HTTP API's money, time and status rules.
#include "net/http/json_format.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace meterd::net {
namespace json_format_test {

TEST(FormatCredits, SixDecimalsSignedExact) {
  EXPECT_EQ(FormatCredits(0), "0.000000");
  EXPECT_EQ(FormatCredits(1), "0.000001");
  EXPECT_EQ(FormatCredits(-1), "-0.000001");
  EXPECT_EQ(FormatCredits(12500000), "12.500000");
  EXPECT_EQ(FormatCredits(-510500000), "-510.500000");
  EXPECT_EQ(FormatCredits(std::numeric_limits<int64_t>::max()), "9223372036854.775807");
  EXPECT_EQ(FormatCredits(std::numeric_limits<int64_t>::min()), "-9223372036854.775808");
}

TEST(Rfc3339, FormatsUtcAndParsesZoneOffsetsAndUnixSeconds) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(1793491200), "2026-11-01T00:00:00Z");
  EXPECT_EQ(ParseTime("2026-11-01T00:00:00Z"), 1793491200);
  EXPECT_EQ(ParseTime("2026-11-01T01:00:00+01:00"), 1793491200);
  EXPECT_EQ(ParseTime("2026-10-31T23:30:00-00:30"), 1793491200);
  EXPECT_EQ(ParseTime("1793491200"), 1793491200);
  EXPECT_EQ(ParseTime("-5"), -5);
  // One parser with meterctl: a space for the 'T' (RFC 3339, 5.6) and a zero fraction.
  EXPECT_EQ(ParseTime("2026-11-01 00:00:00Z"), 1793491200);
  EXPECT_EQ(ParseTime("2026-11-01T00:00:00.000Z"), 1793491200);
  for (int64_t t : {int64_t{0}, int64_t{951782400}, int64_t{1793491199}, int64_t{4102444800}}) {
    EXPECT_EQ(ParseTime(FormatRfc3339(t)), t) << t;
  }
}

TEST(Rfc3339, RefusesWhatIsNotATime) {
  for (const char* bad : {"", "yesterday", "2026-10-31", "2026-10-31T00:00:00",
                          "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-10-31T24:00:00Z",
                          "2026-10-31T00:00:00+1:00", "12x", "2026-10-31T00:00:00ZZ"}) {
    EXPECT_FALSE(ParseTime(bad).has_value()) << bad;
  }
}

TEST(FormatU128, ExactDecimal) {
  EXPECT_EQ(FormatU128(0), "0");
  EXPECT_EQ(FormatU128(4294967296ull * 3600), "15461882265600");
  const unsigned __int128 max = ~static_cast<unsigned __int128>(0);
  EXPECT_EQ(FormatU128(max), "340282366920938463463374607431768211455");
}

TEST(HttpStatusOf, TheDocumentedMapping) {
  EXPECT_EQ(HttpStatusOf(wire::ErrorCode::InvalidArgument), 400u);
  EXPECT_EQ(HttpStatusOf(wire::ErrorCode::OutOfRange), 400u);
  EXPECT_EQ(HttpStatusOf(wire::ErrorCode::Unauthenticated), 401u);
  EXPECT_EQ(HttpStatusOf(wire::ErrorCode::PermissionDenied), 403u);
  EXPECT_EQ(HttpStatusOf(wire::ErrorCode::NotFound), 404u);
  EXPECT_EQ(HttpStatusOf(wire::ErrorCode::AlreadyExists), 409u);
  EXPECT_EQ(HttpStatusOf(wire::ErrorCode::FrameTooLarge), 413u);
  EXPECT_EQ(HttpStatusOf(wire::ErrorCode::Busy), 429u);
  EXPECT_EQ(HttpStatusOf(wire::ErrorCode::NotSupported), 501u);
  EXPECT_EQ(HttpStatusOf(wire::ErrorCode::Unavailable), 503u);
  EXPECT_EQ(HttpStatusOf(wire::ErrorCode::Internal), 500u);
}

}  // namespace json_format_test
}  // namespace meterd::net
