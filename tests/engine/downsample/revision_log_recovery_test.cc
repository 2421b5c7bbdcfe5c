// meterd — tests/engine/downsample/revision_log_recovery_test.cc
//
// The revision log over RecordLog's recovery (issue 17): damage in the middle keeps the
// revisions after it, and a resolution that follows the damage is not believed at that open
// (the damage may be the torn first part of the append that carried it), so its pending
// samples are recomputed; the log is clean at the next open. The durable revision mark: moved
// by every append and rotation, the same after a reopen or a torn append, never again the same
// after a repair.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "engine/downsample/revision_log.h"
#include "storage/base/coding.h"
#include "storage/io/file.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace revision_log_recovery_test {

storage::RollupRow Row(uint64_t series, int64_t hour, uint64_t revision) {
  storage::RollupRow row;
  row.series_id = series;
  row.hour = hour;
  row.col[storage::kColRevision] = revision;
  return row;
}

// Opens the logs of `dir` from `first` on, collecting the replayed rows.
Result<std::unique_ptr<RevisionLog>> OpenLog(const std::string& dir, uint64_t first,
                                             std::vector<storage::RollupRow>* rows,
                                             std::string* damage) {
  rows->clear();
  return RevisionLog::Open(
      dir, first,
      [rows](std::vector<storage::RollupRow>&& r) {
        rows->insert(rows->end(), r.begin(), r.end());
        return Status::OK();
      },
      damage);
}

bool Has(const std::vector<storage::RollupRow>& rows, uint64_t series, int64_t hour) {
  return std::any_of(rows.begin(), rows.end(), [&](const storage::RollupRow& r) {
    return r.series_id == series && r.hour == hour;
  });
}

TEST(RevisionLogRecoveryTest, RevisionsAfterDamageAreKeptAndResolutionsAfterItRecomputed) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/revisions-1.log";
  std::string damage;
  std::vector<storage::RollupRow> rows;
  {
    auto log = OpenLog(dir.path(), 0, &rows, &damage);
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
    auto log = OpenLog(dir.path(), 0, &rows, &damage);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    EXPECT_NE(damage.find("checksum mismatch"), std::string::npos) << damage;
    // The revisions after the damage are there; the damaged one is not.
    EXPECT_FALSE(Has(rows, 7, 0));
    EXPECT_TRUE(Has(rows, 8, 0));
    EXPECT_TRUE(Has(rows, 9, 3600));
    EXPECT_EQ((*log)->replayed_rows(), 2u);
    // Both pending records stay unresolved: 1 lost its resolution with the damage, 2's follows
    // the damage. The downsampler recomputes both at start.
    EXPECT_EQ((*log)->unresolved().size(), 2u);
    EXPECT_EQ(*(*log)->AddPending({{10, 300}}), 3u);  // ids go on
  }
  auto log = OpenLog(dir.path(), 0, &rows, &damage);
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(damage.empty()) << damage;       // the damage was cut out: this happens once
  EXPECT_EQ((*log)->unresolved().size(), 2u);  // 1 and 3; 2's resolution is believed now
  EXPECT_EQ((*log)->unresolved().count(2), 0u);
}

// Issue 18: a rotation starts a new log holding the unresolved pending records; the older logs
// are replayed until DropBefore (the manifest names the new log once their rows are folded),
// and a log below the first to replay is deleted at Open.
TEST(RevisionLogRecoveryTest, RotationCarriesPendingRecordsAndOpenSkipsFoldedLogs) {
  testing::TempDir dir;
  std::string damage;
  std::vector<storage::RollupRow> rows;
  {
    auto log = OpenLog(dir.path(), 0, &rows, &damage);
    ASSERT_TRUE(log.ok());
    EXPECT_EQ((*log)->seq(), 1u);  // a new store's first log
    ASSERT_EQ(*(*log)->AddPending({{7, 100}}), 1u);
    ASSERT_EQ(*(*log)->AddPending({{8, 200}}), 2u);
    ASSERT_TRUE((*log)->AddRevisions({Row(8, 0, 1)}, 2).ok());  // resolves 2
    ASSERT_EQ(*(*log)->Rotate(), 2u);
    EXPECT_TRUE(storage::FileExists(dir.path() + "/revisions-2.log"));
    ASSERT_TRUE((*log)->AddRevisions({Row(9, 3600, 1)}, 0).ok());
  }
  {
    // A crash before the fold's manifest: both logs are replayed, pending 1 once.
    auto log = OpenLog(dir.path(), 1, &rows, &damage);
    ASSERT_TRUE(log.ok());
    EXPECT_EQ(rows.size(), 2u);
    EXPECT_EQ((*log)->seq(), 2u);
    ASSERT_EQ((*log)->unresolved().size(), 1u);
    EXPECT_EQ((*log)->unresolved().at(1).size(), 1u);
    EXPECT_EQ(*(*log)->AddPending({{10, 300}}), 3u);
  }
  {
    // The fold's manifest names log 2: log 1 is gone at Open, its pending record is in log 2.
    auto log = OpenLog(dir.path(), 2, &rows, &damage);
    ASSERT_TRUE(log.ok());
    EXPECT_FALSE(storage::FileExists(dir.path() + "/revisions-1.log"));
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_TRUE(Has(rows, 9, 3600));
    EXPECT_EQ((*log)->unresolved().size(), 2u);  // 1 (carried) and 3
    ASSERT_EQ(*(*log)->Rotate(), 3u);
    ASSERT_TRUE((*log)->DropBefore(3).ok());
    EXPECT_FALSE(storage::FileExists(dir.path() + "/revisions-2.log"));
  }
  auto log = OpenLog(dir.path(), 3, &rows, &damage);
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(rows.empty());
  EXPECT_EQ((*log)->unresolved().size(), 2u);
  EXPECT_EQ(*(*log)->AddPending({{11, 400}}), 4u);  // ids never repeat across logs
}

// A store written before issue 18 has one log, revisions.log (sequence 0), named by no manifest
// (a version 1 manifest reads as revision_log 0): it is replayed, and appended to until the
// first rotation, after which it is dropped like any folded log.
TEST(RevisionLogRecoveryTest, TheLegacyLogIsReplayedUntilFolded) {
  testing::TempDir dir;
  std::string damage;
  std::vector<storage::RollupRow> rows;
  {
    // Write a legacy log: the same framing and records, under the old name.
    auto log = OpenLog(dir.path(), 0, &rows, &damage);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->AddRevisions({Row(5, 0, 1), Row(5, 3600, 1)}, 0).ok());
  }
  ASSERT_TRUE(
      storage::RenameFile(dir.path() + "/revisions-1.log", dir.path() + "/" + RevisionLogName(0))
          .ok());
  auto log = OpenLog(dir.path(), 0, &rows, &damage);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(rows.size(), 2u);
  EXPECT_EQ((*log)->seq(), 0u);
  ASSERT_EQ(*(*log)->Rotate(), 1u);
  ASSERT_TRUE((*log)->DropBefore(1).ok());
  EXPECT_FALSE(storage::FileExists(dir.path() + "/revisions.log"));
}

TEST(RevisionLogRecoveryTest, DurableMarkMovesWithEveryAppendAndSurvivesAReopen) {
  testing::TempDir dir;
  std::string damage;
  std::vector<storage::RollupRow> rows;
  std::vector<std::string> marks;
  {
    auto log = OpenLog(dir.path(), 0, &rows, &damage);
    ASSERT_TRUE(log.ok());
    marks.push_back((*log)->DurableMark());
    EXPECT_EQ(marks.back(), "1:8");  // log 1, its 8-byte header
    ASSERT_EQ(*(*log)->AddPending({{7, 100}}), 1u);
    marks.push_back((*log)->DurableMark());
    ASSERT_TRUE((*log)->AddRevisions({Row(7, 0, 1)}, 1).ok());
    marks.push_back((*log)->DurableMark());
    ASSERT_TRUE((*log)->Resolve({1}).ok());
    marks.push_back((*log)->DurableMark());
    ASSERT_TRUE((*log)->Rotate().ok());
    marks.push_back((*log)->DurableMark());
    EXPECT_EQ(marks.back(), "2:8");  // nothing pending to carry
  }
  for (size_t i = 0; i < marks.size(); ++i) {
    for (size_t j = i + 1; j < marks.size(); ++j) EXPECT_NE(marks[i], marks[j]) << i << " " << j;
  }
  std::string kept;
  {
    auto log = OpenLog(dir.path(), 0, &rows, &damage);
    ASSERT_TRUE(log.ok());
    EXPECT_EQ((*log)->DurableMark(), marks.back());  // a restart sees the same mark
    ASSERT_TRUE((*log)->AddRevisions({Row(8, 3600, 1)}, 0).ok());
    kept = (*log)->DurableMark();
  }
  const std::string path = dir.path() + "/revisions-2.log";
  std::string data;
  ASSERT_TRUE(storage::ReadWholeFile(path, &data).ok());
  // An append torn by a crash (it never returned, so no mark counted it) is cut at the next
  // open, which gives the mark of before it back.
  std::ofstream(path, std::ios::binary | std::ios::app) << std::string("\x30\0\0\0torn", 8);
  {
    auto log = OpenLog(dir.path(), 0, &rows, &damage);
    ASSERT_TRUE(log.ok());
    EXPECT_EQ((*log)->DurableMark(), kept);
    ASSERT_TRUE((*log)->AddRevisions({Row(9, 3600, 1)}, 0).ok());
  }
  // Damage in the middle: the repaired log is shorter, and its mark says it was repaired, so it
  // can never be taken for the mark of an earlier, undamaged log of the same length.
  ASSERT_TRUE(storage::ReadWholeFile(path, &data).ok());
  data[8 + 12 + 4] ^= 0x10;  // inside the first revision record's payload
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  {
    auto log = OpenLog(dir.path(), 0, &rows, &damage);
    ASSERT_TRUE(log.ok());
    ASSERT_FALSE(damage.empty());
    const std::string mark = (*log)->DurableMark();
    EXPECT_NE(mark.find(":repaired"), std::string::npos) << mark;
    EXPECT_NE(mark, kept);
  }
}

}  // namespace revision_log_recovery_test
}  // namespace meterd::engine
