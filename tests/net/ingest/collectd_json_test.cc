// meterd — tests/net/ingest/collectd_json_test.cc: collectd's write_http JSON decoder.
#include "net/ingest/collectd_json.h"

#include <gtest/gtest.h>

#include <cmath>

namespace meterd::net::ingest {
namespace collectd_json_test {

TEST(CollectdJson, EachDataSourceIsOneSample) {
  RawBatch b;
  std::string why;
  ASSERT_TRUE(ParseCollectdJson(
      R"([{"values":[1901474177,12],"dstypes":["derive","derive"],"dsnames":["rx","tx"],)"
      R"("time":1767225601.250,"interval":10.000,"host":"hv-1","plugin":"interface",)"
      R"("plugin_instance":"eth0","type":"if_octets","type_instance":""}])",
      &b, &why))
      << why;
  EXPECT_EQ(b.bad_lines, 0u);
  ASSERT_EQ(b.samples.size(), 2u);
  EXPECT_EQ(b.samples[0].name, "interface_if_octets_rx");
  EXPECT_EQ(b.samples[1].name, "interface_if_octets_tx");
  EXPECT_EQ(b.samples[0].value.type, RawValue::Type::kUint);
  EXPECT_EQ(b.samples[0].value.u, 1901474177u);
  EXPECT_EQ(b.samples[0].time_ns, 1767225601250000000);
  const Labels& l = b.label_sets[b.samples[0].labels];
  // type_instance is empty: left out.
  const Labels want = {{"dsname", "rx"},        {"dstype", "derive"},        {"host", "hv-1"},
                       {"plugin", "interface"}, {"plugin_instance", "eth0"}, {"type", "if_octets"}};
  EXPECT_EQ(l, want);
}

TEST(CollectdJson, GaugesAreDoublesAndNullIsNaN) {
  RawBatch b;
  std::string why;
  ASSERT_TRUE(ParseCollectdJson(
      R"([{"values":[0.25,null,-3],"dstypes":["gauge","gauge","gauge"],)"
      R"("dsnames":["a","b","c"],"time":1767225601,"host":"h","plugin":"p","type":"t"}])",
      &b, &why));
  ASSERT_EQ(b.samples.size(), 3u);
  EXPECT_EQ(b.samples[0].value.type, RawValue::Type::kFloat);
  EXPECT_DOUBLE_EQ(b.samples[0].value.f, 0.25);
  EXPECT_TRUE(std::isnan(b.samples[1].value.f));
  EXPECT_EQ(b.samples[2].value.type, RawValue::Type::kInt);
  EXPECT_EQ(b.samples[2].value.i, -3);
}

TEST(CollectdJson, FloatTimeIsRoundedToMilliseconds) {
  RawBatch b;
  std::string why;
  ASSERT_TRUE(ParseCollectdJson(
      R"([{"values":[1],"dstypes":["gauge"],"dsnames":["value"],"time":1767225601.9996,)"
      R"("host":"h","plugin":"p","type":"t"}])",
      &b, &why));
  ASSERT_EQ(b.samples.size(), 1u);
  EXPECT_EQ(b.samples[0].time_ns, 1767225602000000000);  // .9996 s -> 2.000 s
}

TEST(CollectdJson, ABadEntryIsRefusedAloneTheOthersKept) {
  RawBatch b;
  std::string why;
  ASSERT_TRUE(ParseCollectdJson(
      R"([{"values":[1],"dstypes":["gauge"],"dsnames":["value"],"time":5,"plugin":"p","type":"t"},)"
      R"({"values":[1,2],"dstypes":["gauge"],"dsnames":["value"],"time":5,"plugin":"p","type":"t"},)"
      R"({"values":["x"],"dstypes":["gauge"],"dsnames":["value"],"time":5,"plugin":"p","type":"t"},)"
      R"({"values":[1],"dstypes":["gauge"],"dsnames":["value"],"plugin":"p","type":"t"},)"
      R"(7,)"
      R"({"values":[3],"dstypes":["gauge"],"dsnames":["value"],"time":6,"plugin":"p","type":"t"}])",
      &b, &why));
  EXPECT_EQ(b.bad_lines, 4u);
  ASSERT_EQ(b.samples.size(), 2u);
  EXPECT_EQ(b.samples[0].line, 1u);
  EXPECT_EQ(b.samples[1].line, 6u);
  ASSERT_EQ(b.issues.size(), 4u);
  EXPECT_EQ(b.issues[0].line, 2u);
  EXPECT_NE(b.issues[0].message.find("same, non-zero length"), std::string::npos);
  EXPECT_EQ(b.issues[3].text, "7");
}

TEST(CollectdJson, MalformedBodies) {
  RawBatch b;
  std::string why;
  EXPECT_FALSE(ParseCollectdJson("[{", &b, &why));
  EXPECT_EQ(why, "the body is not JSON");
  EXPECT_FALSE(ParseCollectdJson(R"({"values":[1]})", &b, &why));
  EXPECT_NE(why.find("JSON array"), std::string::npos);
  EXPECT_TRUE(ParseCollectdJson("[]", &b, &why));
  EXPECT_TRUE(b.samples.empty());
}

}  // namespace collectd_json_test
}  // namespace meterd::net::ingest
