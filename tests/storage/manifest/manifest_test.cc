// meterd — tests/storage/manifest/manifest_test.cc
#include "storage/manifest/manifest.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/testing/temp_dir.h"

namespace meterd::storage {
namespace manifest_test {

Manifest Sample() {
  Manifest m;
  m.generation = 9;
  m.next_segment_id = 12;
  m.wal_min_number = 33;
  m.partition_seconds = 3600;
  m.segments.push_back(SegmentRecord{3, 7200, 7200, 10799, 1000, 10, 10, 4096});
  m.segments.push_back(SegmentRecord{11, 10800, 10800, 10900, 5, 1, 1, 200});
  return m;
}

TEST(ManifestTest, RoundTripThroughTheDirectory) {
  testing::TempDir dir;
  auto none = ReadManifest(dir.path());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(WriteManifest(dir.path(), Sample()).ok());
  auto m = ReadManifest(dir.path());
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ((*m)->wal_min_number, 33u);
  ASSERT_EQ((*m)->segments.size(), 2u);
  EXPECT_EQ((*m)->segments[1].segment_id, 11u);
  EXPECT_FALSE(FileExists(ManifestPath(dir.path()) + ".tmp"));
}

TEST(ManifestTest, EveryFlipAndTruncationIsDetected) {
  const std::string good = EncodeManifest(Sample());
  ASSERT_TRUE(DecodeManifest(good).ok());
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    EXPECT_FALSE(DecodeManifest(bad).ok()) << "byte " << i;
  }
  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_FALSE(DecodeManifest(good.substr(0, cut)).ok()) << "cut " << cut;
  }
}

TEST(ManifestTest, AnotherVersionIsNotSupported) {
  std::string data = EncodeManifest(Sample());
  data[7] = 2;
  EXPECT_EQ(DecodeManifest(data).status().code(), Status::Code::kNotSupported);
}

}  // namespace manifest_test
}  // namespace meterd::storage
