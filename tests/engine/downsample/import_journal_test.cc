// meterd — tests/engine/downsample/import_journal_test.cc: an import's journal
// (engine/downsample/import_journal.h): ids never reused across a reopen, undo entries and chunk
// counts read back as written, the worked example of docs/format-rollup.md byte for byte, and a
// torn tail ignored.
#include "engine/downsample/import_journal.h"

#include <gtest/gtest.h>

#include "storage/base/coding.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace import_journal_test {

using storage::RollupRow;

class ImportJournalTest : public ::testing::Test {
 protected:
  std::unique_ptr<ImportJournals> Open() {
    auto j = ImportJournals::Open(dir_.path(), storage::Env::Default());
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return j.ok() ? std::move(*j) : nullptr;
  }
  // The payloads of the journal's intact records.
  std::vector<std::string> Payloads(const ImportJournals& j, uint64_t id) {
    std::string data;
    EXPECT_TRUE(storage::ReadWholeFile(j.PathOf(id), &data).ok());
    std::vector<std::string> out;
    EXPECT_TRUE(RecordLog::ForEachIntact(data, [&](std::string_view p) {
                  out.emplace_back(p);
                  return Status::OK();
                }).ok());
    return out;
  }
  testing::TempDir dir_{"/dev/shm"};
};

std::string Hex(const std::string& s) {
  static const char* k = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out += ' ';
    out += k[c >> 4];
    out += k[c & 15];
  }
  return out;
}

TEST_F(ImportJournalTest, WorkedExampleOfTheFormatDoc) {
  auto j = Open();
  ASSERT_TRUE(j);
  for (uint64_t want = 1; want <= 3; ++want) {
    auto id = j->Begin(1767225600);
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(*id, want);
  }
  ImportUndo u;
  u.prev.series_id = 0x2a;
  u.prev.hour = 1767225600;
  ASSERT_TRUE(j->Record(3, 0, ImportChunkCounts{1, 0, 0}, {u}).ok());
  const std::vector<std::string> p = Payloads(*j, 3);
  ASSERT_EQ(p.size(), 3u);  // begin, undo, chunk
  EXPECT_EQ(Hex(p[1]), "02 01 2a a0 f6 3b 00");
  EXPECT_EQ(Hex(p[2]), "03 00 01 00 00");
}

TEST_F(ImportJournalTest, EntriesAndCountsReadBackAndIdsSurviveAReopen) {
  auto j = Open();
  ASSERT_TRUE(j);
  auto id = j->Begin(100);
  ASSERT_TRUE(id.ok());
  std::vector<ImportUndo> undo;
  for (uint64_t s : {5u, 9u}) {
    for (int h = 0; h < 3000; ++h) {  // more than one record's worth
      ImportUndo& u = undo.emplace_back();
      u.prev.series_id = s;
      u.prev.hour = 3600 * (400000 + 2 * h);
      u.had_prev = h % 7 == 0;
      if (u.had_prev) {
        for (size_t c = 0; c < storage::kRollupColumns; ++c) u.prev.col[c] = c * 1000003 + h;
      }
    }
  }
  ASSERT_TRUE(j->Record(*id, 4, ImportChunkCounts{6000, 2, 1}, undo).ok());
  j.reset();
  j = Open();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->last_id(), *id);
  EXPECT_TRUE(j->Exists(*id));
  EXPECT_FALSE(j->Exists(*id + 1));
  auto chunk = j->Chunk(*id, 4);
  ASSERT_TRUE(chunk.ok());
  ASSERT_TRUE(chunk->has_value());
  EXPECT_EQ((*chunk)->imported, 6000u);
  EXPECT_EQ((*chunk)->unchanged, 2u);
  EXPECT_EQ((*chunk)->refused, 1u);
  EXPECT_FALSE(j->Chunk(*id, 5)->has_value());
  std::vector<ImportUndo> got;
  ASSERT_TRUE(j->ForEachUndo(*id, [&](std::vector<ImportUndo>&& b) {
                 EXPECT_LE(b.size(), 2048u);
                 got.insert(got.end(), b.begin(), b.end());
                 return Status::OK();
               }).ok());
  ASSERT_EQ(got.size(), undo.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].prev.series_id, undo[i].prev.series_id) << i;
    ASSERT_EQ(got[i].prev.hour, undo[i].prev.hour) << i;
    ASSERT_EQ(got[i].had_prev, undo[i].had_prev) << i;
    ASSERT_EQ(got[i].prev.col, undo[i].prev.col) << i;
  }
  // The next id is never one already used.
  auto next = j->Begin(200);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, *id + 1);
  // A rollback mark is kept.
  EXPECT_FALSE(j->RolledBack(*id)->has_value());
  ASSERT_TRUE(j->MarkRolledBack(*id, ImportRollbackMark{300, 6000, 0}).ok());
  j = Open();
  auto mark = j->RolledBack(*id);
  ASSERT_TRUE(mark.ok() && mark->has_value());
  EXPECT_EQ((*mark)->at, 300);
  EXPECT_EQ((*mark)->restored, 6000u);
}

TEST_F(ImportJournalTest, ATornTailIsIgnored) {
  auto j = Open();
  ASSERT_TRUE(j);
  auto id = j->Begin(100);
  ASSERT_TRUE(id.ok());
  ImportUndo u;
  u.prev.series_id = 7;
  u.prev.hour = 3600;
  ASSERT_TRUE(j->Record(*id, 0, ImportChunkCounts{1, 0, 0}, {u}).ok());
  const std::string path = j->PathOf(*id);
  j.reset();
  {
    std::string data;
    ASSERT_TRUE(storage::ReadWholeFile(path, &data).ok());
    // Half of a second request's records: a crash during its append.
    std::string torn = data.substr(8, (data.size() - 8) / 2);
    ASSERT_TRUE(storage::WriteFileAtomic(path, data + torn).ok());
  }
  j = Open();
  size_t n = 0;
  ASSERT_TRUE(j->ForEachUndo(*id, [&](std::vector<ImportUndo>&& b) {
                 n += b.size();
                 return Status::OK();
               }).ok());
  EXPECT_EQ(n, 1u);
  EXPECT_TRUE(j->Chunk(*id, 0)->has_value());
}

}  // namespace import_journal_test
}  // namespace meterd::engine
