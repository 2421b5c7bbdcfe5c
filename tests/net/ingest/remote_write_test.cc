// meterd — tests/net/ingest/remote_write_test.cc: Prometheus remote_write decoding (the
// protobuf messages of net/schema/prometheus, built here with the generated classes).
#include "net/ingest/remote_write.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "net/schema/prometheus/remote.pb.h"

namespace meterd::net::ingest {
namespace remote_write_test {

prometheus::TimeSeries* AddSeries(
    prometheus::WriteRequest* req,
    std::initializer_list<std::pair<const char*, const char*>> labels) {
  prometheus::TimeSeries* ts = req->add_timeseries();
  for (auto [n, v] : labels) {
    prometheus::Label* l = ts->add_labels();
    l->set_name(n);
    l->set_value(v);
  }
  return ts;
}

void AddSample(prometheus::TimeSeries* ts, double v, int64_t ms) {
  prometheus::Sample* s = ts->add_samples();
  s->set_value(v);
  s->set_timestamp(ms);
}

TEST(RemoteWrite, SamplesWithNameAndLabels) {
  prometheus::WriteRequest req;
  auto* ts = AddSeries(
      &req,
      {{"__name__", "node_memory_MemTotal_bytes"}, {"job", "node"}, {"instance", "hv-1:9100"}});
  AddSample(ts, 8589934592.0, 1767225601123);
  AddSample(ts, 8589934593.0, 1767225602123);
  RawBatch b;
  std::string why;
  ASSERT_TRUE(ParseRemoteWrite(req.SerializeAsString(), &b, &why)) << why;
  ASSERT_EQ(b.samples.size(), 2u);
  EXPECT_EQ(b.samples[0].name, "node_memory_MemTotal_bytes");
  EXPECT_EQ(b.samples[0].time_ns, 1767225601123000000);
  EXPECT_DOUBLE_EQ(b.samples[1].value.f, 8589934593.0);
  const Labels want = {{"instance", "hv-1:9100"}, {"job", "node"}};  // sorted, no __name__
  EXPECT_EQ(b.label_sets[b.samples[0].labels], want);
}

TEST(RemoteWrite, StalenessMarkersAreCountedNotSamples) {
  prometheus::WriteRequest req;
  auto* ts = AddSeries(&req, {{"__name__", "up"}});
  double stale;
  const uint64_t bits = kStaleNaNBits;
  std::memcpy(&stale, &bits, sizeof stale);
  AddSample(ts, 1, 1000);
  AddSample(ts, stale, 2000);
  AddSample(ts, std::nan(""), 3000);  // an ordinary NaN is a sample (refused later)
  RawBatch b;
  std::string why;
  ASSERT_TRUE(ParseRemoteWrite(req.SerializeAsString(), &b, &why));
  EXPECT_EQ(b.stale_markers, 1u);
  ASSERT_EQ(b.samples.size(), 2u);
  EXPECT_TRUE(std::isnan(b.samples[1].value.f));
}

TEST(RemoteWrite, SeriesWithoutNameOrWithARepeatedLabelAreRefused) {
  prometheus::WriteRequest req;
  AddSample(AddSeries(&req, {{"job", "x"}}), 1, 1000);
  AddSample(AddSeries(&req, {{"__name__", "a"}, {"l", "1"}, {"l", "2"}}), 1, 1000);
  AddSample(AddSeries(&req, {{"__name__", "b"}}), 2, 1000);
  RawBatch b;
  std::string why;
  ASSERT_TRUE(ParseRemoteWrite(req.SerializeAsString(), &b, &why));
  EXPECT_EQ(b.bad_lines, 2u);
  ASSERT_EQ(b.samples.size(), 1u);
  EXPECT_EQ(b.samples[0].name, "b");
  EXPECT_EQ(b.samples[0].line, 3u);
  ASSERT_EQ(b.issues.size(), 2u);
  EXPECT_EQ(b.issues[0].text, "{job=\"x\"}");
}

TEST(RemoteWrite, NotProtobufIsMalformed) {
  RawBatch b;
  std::string why;
  EXPECT_FALSE(ParseRemoteWrite(std::string("\xff\xff\xff\xff", 4), &b, &why));
  EXPECT_NE(why.find("WriteRequest"), std::string::npos);
}

TEST(RemoteWrite, ALabelThatIsNotUtf8MakesTheBodyMalformed) {
  // WriteRequest{timeseries: [{labels: [{name: "\xff"}]}]}, by hand: the generated classes
  // refuse to write it.
  const std::string body("\x0a\x05\x0a\x03\x0a\x01\xff", 7);
  RawBatch b;
  std::string why;
  EXPECT_FALSE(ParseRemoteWrite(body, &b, &why));
  EXPECT_NE(why.find("UTF-8"), std::string::npos);
}

}  // namespace remote_write_test
}  // namespace meterd::net::ingest
