// meterd — tests/net/ingest/influx_line_test.cc: the Influx line protocol decoder.
#include "net/ingest/influx_line.h"

#include <gtest/gtest.h>

namespace meterd::net::ingest {
namespace influx_line_test {

constexpr int64_t kNow = 1767225600'000000000;  // 2026-01-01T00:00:00Z

RawBatch Parse(std::string_view body, std::string_view precision = "ns") {
  RawBatch b;
  ParseInfluxLines(body, *InfluxPrecision(precision), kNow, &b);
  return b;
}

TEST(InfluxLine, FieldsBecomeSamplesNamedMeasurementUnderscoreField) {
  RawBatch b = Parse("vm,host=hv-1,vm=vm-7 rx=12i,tx=1.5,up=true 1767225601000000000\n");
  ASSERT_EQ(b.bad_lines, 0u);
  ASSERT_EQ(b.samples.size(), 3u);
  EXPECT_EQ(b.samples[0].name, "vm_rx");
  EXPECT_EQ(b.samples[0].value.type, RawValue::Type::kInt);
  EXPECT_EQ(b.samples[0].value.i, 12);
  EXPECT_EQ(b.samples[1].name, "vm_tx");
  EXPECT_EQ(b.samples[1].value.type, RawValue::Type::kFloat);
  EXPECT_DOUBLE_EQ(b.samples[1].value.f, 1.5);
  EXPECT_EQ(b.samples[2].value.type, RawValue::Type::kBool);
  EXPECT_EQ(b.samples[2].value.i, 1);
  for (const RawSample& s : b.samples) {
    EXPECT_EQ(s.time_ns, 1767225601000000000);
    EXPECT_EQ(s.line, 1u);
  }
  const Labels& tags = b.label_sets[b.samples[0].labels];
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(tags[0], (std::pair<std::string, std::string>{"host", "hv-1"}));
  EXPECT_EQ(tags[1], (std::pair<std::string, std::string>{"vm", "vm-7"}));
}

TEST(InfluxLine, UnsignedAndHugeIntegersStayExact) {
  RawBatch b = Parse("m v=18446744073709551615u,w=9223372036854775807i 1\n");
  ASSERT_EQ(b.samples.size(), 2u);
  EXPECT_EQ(b.samples[0].value.type, RawValue::Type::kUint);
  EXPECT_EQ(b.samples[0].value.u, UINT64_MAX);
  EXPECT_EQ(b.samples[1].value.i, INT64_MAX);
}

TEST(InfluxLine, PrecisionScalesTheTimestamp) {
  EXPECT_EQ(Parse("m v=1 1767225601", "s").samples[0].time_ns, 1767225601000000000);
  EXPECT_EQ(Parse("m v=1 1767225601500", "ms").samples[0].time_ns, 1767225601500000000);
  EXPECT_EQ(Parse("m v=1 1767225601500000", "us").samples[0].time_ns, 1767225601500000000);
  EXPECT_EQ(Parse("m v=1 29453760", "m").samples[0].time_ns, 1767225600000000000);
  EXPECT_FALSE(InfluxPrecision("days").has_value());
  EXPECT_EQ(*InfluxPrecision(""), 1);  // absent: nanoseconds
}

TEST(InfluxLine, NoTimestampTakesNow) {
  RawBatch b = Parse("m v=1");
  ASSERT_EQ(b.samples.size(), 1u);
  EXPECT_EQ(b.samples[0].time_ns, kNow);
}

TEST(InfluxLine, EscapesInMeasurementTagsFieldsAndStrings) {
  RawBatch b = Parse(R"(my\ meas\,ure,tag\ key=va\,l\=ue f\=ld="a \"quoted\" \\ string",n=2 10)");
  ASSERT_EQ(b.bad_lines, 0u) << b.issues[0].message;
  ASSERT_EQ(b.samples.size(), 2u);
  EXPECT_EQ(b.samples[0].name, "my meas,ure_f=ld");
  EXPECT_EQ(b.samples[0].value.type, RawValue::Type::kString);
  EXPECT_EQ(b.samples[0].value.s, R"(a "quoted" \ string)");
  const Labels& tags = b.label_sets[b.samples[0].labels];
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_EQ(tags[0].first, "tag key");
  EXPECT_EQ(tags[0].second, "va,l=ue");
  EXPECT_EQ(b.samples[1].time_ns, 10);
}

TEST(InfluxLine, CommentsBlankLinesAndCrlfAreSkipped) {
  RawBatch b = Parse("# a comment\n\n   \nm v=1 5\r\nm v=2 6\r\n");
  EXPECT_EQ(b.bad_lines, 0u);
  ASSERT_EQ(b.samples.size(), 2u);
  EXPECT_EQ(b.samples[1].line, 5u);
  EXPECT_EQ(b.samples[1].time_ns, 6);
}

TEST(InfluxLine, BadLinesAreRefusedAloneWithNumberReasonAndText) {
  const char* body =
      "m v=1 1\n"
      "m\n"             // no fields
      "m v= 2\n"        // empty value
      "m v=nan 3\n"     // NaN
      "m v=1 12x\n"     // bad timestamp
      "m,t v=1 4\n"     // tag without '='
      "m v=\"open 5\n"  // unterminated string
      "m v=1 9223372036854775807\n"
      "m v=1i2 6\n"  // bad integer
      "m v=2 7\n";
  RawBatch b = Parse(body);
  EXPECT_EQ(b.bad_lines, 7u);
  ASSERT_EQ(b.samples.size(), 3u);
  EXPECT_EQ(b.samples[0].line, 1u);
  EXPECT_EQ(b.samples[1].line, 8u);
  EXPECT_EQ(b.samples[2].line, 10u);
  ASSERT_EQ(b.issues.size(), 7u);
  EXPECT_EQ(b.issues[0].line, 2u);
  EXPECT_EQ(b.issues[0].text, "m");
  EXPECT_EQ(b.issues[2].line, 4u);
  EXPECT_NE(b.issues[2].message.find("not a finite number"), std::string::npos);
  EXPECT_EQ(b.issues[3].line, 5u);
  EXPECT_NE(b.issues[3].message.find("timestamp"), std::string::npos);
}

TEST(InfluxLine, TimestampOverflowIsRefused) {
  RawBatch b = Parse("m v=1 9223372036854775807", "s");
  EXPECT_EQ(b.bad_lines, 1u);
  EXPECT_TRUE(b.samples.empty());
}

TEST(InfluxLine, RepeatedTagIsRefused) {
  RawBatch b = Parse("m,a=1,a=2 v=1 1");
  EXPECT_EQ(b.bad_lines, 1u);
}

}  // namespace influx_line_test
}  // namespace meterd::net::ingest
