// meterd — tests/net/ingest/body_codec_test.cc: gzip and snappy bodies, with their limits.
#include "net/ingest/body_codec.h"

#include <gtest/gtest.h>

namespace meterd::net::ingest {
namespace body_codec_test {

TEST(BodyCodec, GzipRoundTripAndConcatenatedMembers) {
  const std::string text(100000, 'x');
  std::string out, why;
  ASSERT_EQ(Gunzip(GzipCompress(text), 1 << 20, &out, &why), DecodeResult::kOk) << why;
  EXPECT_EQ(out, text);
  ASSERT_EQ(Gunzip(GzipCompress("ab") + GzipCompress("cd"), 1 << 20, &out, &why),
            DecodeResult::kOk);
  EXPECT_EQ(out, "abcd");
}

TEST(BodyCodec, GzipLimitsAndGarbage) {
  std::string out, why;
  EXPECT_EQ(Gunzip(GzipCompress(std::string(1 << 20, 'a')), 1000, &out, &why),
            DecodeResult::kTooLarge);
  EXPECT_EQ(Gunzip("not gzip", 1000, &out, &why), DecodeResult::kMalformed);
  const std::string gz = GzipCompress("hello world");
  EXPECT_EQ(Gunzip(gz.substr(0, gz.size() - 6), 1000, &out, &why), DecodeResult::kMalformed);
}

TEST(BodyCodec, SnappyRoundTripLimitsAndGarbage) {
  const std::string text = "metric 1\nmetric 2\n";
  std::string out, why;
  ASSERT_EQ(SnappyUncompress(SnappyCompress(text), 1000, &out, &why), DecodeResult::kOk);
  EXPECT_EQ(out, text);
  EXPECT_EQ(SnappyUncompress(SnappyCompress(std::string(5000, 'z')), 1000, &out, &why),
            DecodeResult::kTooLarge);
  EXPECT_EQ(SnappyUncompress("\xff\xff\xff\xff\xff\xff", 1000, &out, &why),
            DecodeResult::kMalformed);
}

}  // namespace body_codec_test
}  // namespace meterd::net::ingest
