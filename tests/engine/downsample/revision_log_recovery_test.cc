// meterd — tests/engine/downsample/revision_log_recovery_test.cc
//
// The revision log over RecordLog's recovery (issue 17): damage in the middle keeps the
// revisions after it, and a resolution that follows the damage is not believed at that open
// (the damage may be the torn first part of the append that carried it), so its pending
// samples are recomputed; the log is clean at the next open.
#include <gtest/gtest.h>

#include <fstream>

#include "engine/downsample/revision_log.h"
#include "storage/base/coding.h"
#include "storage/io/file.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace {

storage::RollupRow Row(uint64_t series, int64_t hour, uint64_t revision) {
  storage::RollupRow row;
  row.series_id = series;
  row.hour = hour;
  row.col[storage::kColRevision] = revision;
  return row;
}

TEST(RevisionLogRecoveryTest, RevisionsAfterDamageAreKeptAndResolutionsAfterItRecomputed) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/revisions.log";
  std::string damage;
  {
    auto log = RevisionLog::Open(path, &damage);
    ASSERT_TRUE(log.ok());
    ASSERT_EQ(*(*log)->AddPending({{7, 100}}), 1u);
    ASSERT_EQ(*(*log)->AddPending({{8, 200}}), 2u);
    ASSERT_TRUE((*log)->AddRevisions({Row(7, 0, 1)}, 1).ok());  // damaged below
    ASSERT_TRUE((*log)->AddRevisions({Row(8, 0, 1)}, 2).ok());
    ASSERT_TRUE((*log)->AddRevisions({Row(9, 3600, 1)}, 0).ok());
  }
  std::string data;
  ASSERT_TRUE(storage::ReadWholeFile(path, &data).ok());
  // Records: pending 1 (12 + 25 bytes), pending 2 (12 + 25), then the revision of series 7.
  const size_t third = 8 + 2 * (12 + 25);
  ASSERT_EQ(base::DecodeFixed32(data.data() + 8), 25u);
  ASSERT_EQ(data[third + 12], '\x02');  // a revision record
  data[third + 12 + 20] ^= 0x10;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  {
    auto log = RevisionLog::Open(path, &damage);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    EXPECT_NE(damage.find("checksum mismatch"), std::string::npos) << damage;
    // The revisions after the damage are there; the damaged one is not.
    EXPECT_EQ((*log)->revisions().count({7, 0}), 0u);
    EXPECT_EQ((*log)->revisions().count({8, 0}), 1u);
    EXPECT_EQ((*log)->revisions().count({9, 3600}), 1u);
    EXPECT_EQ((*log)->revision_count(), 2u);
    // Both pending records stay unresolved: 1 lost its resolution with the damage, 2's follows
    // the damage. The downsampler recomputes both at start.
    EXPECT_EQ((*log)->unresolved().size(), 2u);
    EXPECT_EQ(*(*log)->AddPending({{10, 300}}), 3u);  // ids go on
  }
  auto log = RevisionLog::Open(path, &damage);
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(damage.empty()) << damage;       // the damage was cut out: this happens once
  EXPECT_EQ((*log)->unresolved().size(), 2u);  // 1 and 3; 2's resolution is believed now
  EXPECT_EQ((*log)->unresolved().count(2), 0u);
}

}  // namespace
}  // namespace meterd::engine
