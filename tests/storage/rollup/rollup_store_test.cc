// meterd — tests/storage/rollup/rollup_store_test.cc: RollupStore, the ROLLUP manifest and the
// month arithmetic.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <thread>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/io/file.h"
#include "storage/rollup.h"
#include "storage/rollup/rollup_format.h"
#include "storage/rollup/rollup_manifest.h"
#include "tests/storage/rollup/rollup_test_util.h"
#include "tests/testing/temp_dir.h"

namespace meterd::storage {
namespace rollup_store_test {

using testing::kJan2026;
using testing::ReadAllRows;
using testing::SnapshotRows;
using testing::WriteBytes;
using testing::WriteRollupFile;
namespace fmt = rollup_format;

constexpr int64_t kFeb2026 = kJan2026 + 31 * 86400;

// The rows of one hour for `series` series (ids 10, 20, ...), values depending on the hour.
std::vector<RollupRow> HourRows(int64_t hour, size_t series, uint64_t salt = 0) {
  std::vector<RollupRow> rows;
  for (size_t s = 0; s < series; ++s) {
    RollupRow r;
    r.series_id = 10 * (s + 1);
    r.hour = hour;
    r.col[kColCount] = 3600;
    r.col[kColLast] = static_cast<uint64_t>(hour) + s + salt;
    r.col[kColIncrease] = (static_cast<uint64_t>(hour) / 3600 * 7 + s) % 1000;
    rows.push_back(r);
  }
  return rows;
}

std::vector<RollupRow> Sorted(std::vector<RollupRow> rows) {
  std::sort(rows.begin(), rows.end(), [](const RollupRow& a, const RollupRow& b) {
    return a.series_id != b.series_id ? a.series_id < b.series_id : a.hour < b.hour;
  });
  return rows;
}

std::unique_ptr<RollupStore> OpenStore(const std::string& dir,
                                       std::vector<std::string>* damage = nullptr) {
  std::vector<std::string> local;
  auto s = RollupStore::Open(dir, damage ? damage : &local);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!damage) {
    EXPECT_TRUE(local.empty()) << local.front();
  }
  return s.ok() ? std::move(s).value() : nullptr;
}

std::vector<std::string> Names(const std::string& dir) {
  auto names = ListDir(dir + "/rollup");
  EXPECT_TRUE(names.ok());
  std::vector<std::string> out = names.ok() ? *names : std::vector<std::string>{};
  std::sort(out.begin(), out.end());
  return out;
}

TEST(RollupMonths, CalendarArithmetic) {
  using rollup::MonthNumber;
  using rollup::MonthStart;
  using rollup::NextMonthStart;
  EXPECT_EQ(MonthStart(0), 0);
  EXPECT_EQ(MonthNumber(0), 197001);
  EXPECT_EQ(NextMonthStart(0), 31 * 86400);
  EXPECT_EQ(MonthStart(kJan2026), kJan2026);
  EXPECT_EQ(MonthStart(kJan2026 + 31 * 86400 - 3600), kJan2026);
  EXPECT_EQ(MonthStart(kFeb2026), kFeb2026);
  EXPECT_EQ(MonthNumber(kFeb2026), 202602);
  EXPECT_EQ(NextMonthStart(kFeb2026), kFeb2026 + 28 * 86400);  // 2026 is not a leap year
  EXPECT_EQ(MonthNumber(kJan2026 - 3600), 202512);
  EXPECT_EQ(NextMonthStart(kJan2026 - 3600), kJan2026);
  const int64_t feb2024 = 1706745600;                        // 2024-02-01
  EXPECT_EQ(NextMonthStart(feb2024), feb2024 + 29 * 86400);  // leap year
  EXPECT_EQ(MonthStart(951782400), 949363200);  // 2000-02-29 -> 2000-02-01 (400-year leap)
  EXPECT_EQ(MonthNumber(-1), 196912);
  EXPECT_EQ(MonthStart(-1), -31 * 86400);
  // Every month start of 1970..2100 maps to itself, and the next one follows it.
  int64_t m = 0;
  for (int i = 0; i < 131 * 12; ++i) {
    ASSERT_EQ(MonthStart(m), m);
    ASSERT_EQ(MonthStart(m + 86400 * 27), m);
    const int64_t next = NextMonthStart(m);
    ASSERT_GE(next - m, 28 * 86400);
    ASSERT_LE(next - m, 31 * 86400);
    ASSERT_EQ(MonthNumber(next) % 100, MonthNumber(m) % 100 % 12 + 1);
    m = next;
  }
  EXPECT_EQ(MonthNumber(m), 210101);
}

TEST(RollupManifest, RoundTripAndValidation) {
  rollup::Manifest m;
  m.generation = 4;
  m.next_file_id = 9;
  m.sealed_before = kFeb2026 + 7200;
  m.files.push_back({3, fmt::kKindMonth, kJan2026, 2, 1000, 5000});
  m.files.push_back({8, fmt::kKindPart, kFeb2026 + 3600, 0, 10, 300});
  const std::string bytes = rollup::EncodeRollupManifest(m);
  EXPECT_EQ(bytes.size(),
            fmt::kManifestHeaderSize + 2 * fmt::kManifestEntrySize + fmt::kManifestTrailerSize);
  auto d = rollup::DecodeRollupManifest(bytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, m);
  EXPECT_EQ(rollup::FileName(m.files[0]), "m202601-2.mru");
  EXPECT_EQ(rollup::FileName(m.files[1]), "h1769907600.mrp");
  for (size_t off = 0; off < bytes.size(); ++off) {
    std::string b = bytes;
    b[off] = static_cast<char>(b[off] ^ 0x10);
    EXPECT_FALSE(rollup::DecodeRollupManifest(b).ok()) << off;
  }
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_FALSE(rollup::DecodeRollupManifest(bytes.substr(0, len)).ok()) << len;
  }
  // Well-formed but inconsistent entries are refused too.
  rollup::Manifest bad = m;
  bad.files[1].file_id = 9;  // >= next_file_id
  EXPECT_TRUE(
      rollup::DecodeRollupManifest(rollup::EncodeRollupManifest(bad)).status().IsCorruption());
  bad = m;
  bad.files[1].key = m.sealed_before;  // a part of an unsealed hour
  EXPECT_FALSE(rollup::DecodeRollupManifest(rollup::EncodeRollupManifest(bad)).ok());
  bad = m;
  bad.files[0].key = kJan2026 + 3600;  // not a month start
  EXPECT_FALSE(rollup::DecodeRollupManifest(rollup::EncodeRollupManifest(bad)).ok());
}

// Issue 18: version 2 adds revision_log; a version 1 manifest (40-byte header, no such field)
// still reads, as revision_log 0, and a version this build does not know is NotSupported.
TEST(RollupManifest, Version1ReadsAsRevisionLogZero) {
  rollup::Manifest m;
  m.generation = 4;
  m.next_file_id = 9;
  m.sealed_before = kFeb2026 + 7200;
  m.revision_log = 77;
  m.files.push_back({3, fmt::kKindMonth, kJan2026, 2, 1000, 5000});
  const std::string v2 = rollup::EncodeRollupManifest(m);
  ASSERT_EQ(v2[7], '\x02');
  EXPECT_EQ(base::DecodeFixed64(v2.data() + 40), 77u);  // revision_log at offset 40
  // The same manifest as version 1 wrote it: magic byte 1, no revision_log, its checksum.
  std::string v1 = v2.substr(0, 40) + v2.substr(48, v2.size() - 48 - 8);
  v1[7] = '\x01';
  base::PutFixed64(&v1, base::Checksum64(v1));
  auto d = rollup::DecodeRollupManifest(v1);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  rollup::Manifest want = m;
  want.revision_log = 0;
  EXPECT_EQ(*d, want);
  std::string v3 = v2;
  v3[7] = '\x03';
  EXPECT_EQ(rollup::DecodeRollupManifest(v3).status().code(), Status::Code::kNotSupported);
}

TEST(RollupStore, FreshStore) {
  ::meterd::testing::TempDir dir;
  auto store = OpenStore(dir.path() + "/a/b");  // parents created
  ASSERT_TRUE(store);
  EXPECT_EQ(store->sealed_before(), 0);
  EXPECT_TRUE(store->Snapshot().files.empty());
  EXPECT_TRUE(FileExists(dir.path() + "/a/b/rollup/ROLLUP"));
  store.reset();
  store = OpenStore(dir.path() + "/a/b");
  EXPECT_EQ(store->sealed_before(), 0);
}

TEST(RollupStore, SealReopenWatermark) {
  ::meterd::testing::TempDir dir;
  std::vector<RollupRow> all;
  {
    auto store = OpenStore(dir.path());
    for (int h = 0; h < 5; ++h) {
      const int64_t hour = kJan2026 + h * 3600;
      const auto rows = HourRows(hour, 50 + h);
      ASSERT_TRUE(store->SealHour(hour, rows).ok());
      all.insert(all.end(), rows.begin(), rows.end());
      EXPECT_EQ(store->sealed_before(), hour + 3600);
    }
    // An empty hour advances the watermark and writes no file.
    ASSERT_TRUE(store->SealHour(kJan2026 + 5 * 3600, {}).ok());
    EXPECT_EQ(store->sealed_before(), kJan2026 + 6 * 3600);
    // A gap: hours 6..8 sealed empty.
    const auto rows = HourRows(kJan2026 + 9 * 3600, 3);
    ASSERT_TRUE(store->SealHour(kJan2026 + 9 * 3600, rows).ok());
    all.insert(all.end(), rows.begin(), rows.end());
    EXPECT_EQ(store->sealed_before(), kJan2026 + 10 * 3600);
    // Already sealed, not on the hour, rows of another hour: refused, nothing changes.
    EXPECT_TRUE(store->SealHour(kJan2026 + 9 * 3600, rows).IsInvalidArgument());
    EXPECT_TRUE(store->SealHour(kJan2026 + 10 * 3600 + 5, {}).IsInvalidArgument());
    EXPECT_TRUE(store->SealHour(kJan2026 + 11 * 3600, rows).IsInvalidArgument());
    std::vector<RollupRow> unsorted = HourRows(kJan2026 + 10 * 3600, 3);
    std::swap(unsorted[0], unsorted[2]);
    EXPECT_TRUE(store->SealHour(kJan2026 + 10 * 3600, unsorted).IsInvalidArgument());
    EXPECT_EQ(store->sealed_before(), kJan2026 + 10 * 3600);
    const RollupStoreStats st = store->stats();
    EXPECT_EQ(st.part_files, 6u);
    EXPECT_EQ(st.month_files, 0u);
    EXPECT_EQ(st.rows, all.size());
    const RollupSnapshot snap = store->Snapshot();
    ASSERT_EQ(snap.files.size(), 6u);
    for (size_t i = 1; i < snap.files.size(); ++i) {
      EXPECT_LT(snap.files[i - 1]->info().max_hour, snap.files[i]->info().min_hour);
    }
  }
  EXPECT_EQ(Names(dir.path()).size(), 7u);  // ROLLUP + 6 parts, no leftovers
  auto store = OpenStore(dir.path());
  EXPECT_EQ(store->sealed_before(), kJan2026 + 10 * 3600);
  const RollupSnapshot snap = store->Snapshot();
  EXPECT_EQ(snap.sealed_before, kJan2026 + 10 * 3600);
  EXPECT_EQ(SnapshotRows(snap), Sorted(all));
}

TEST(RollupStore, MergePartsIntoMonthFile) {
  ::meterd::testing::TempDir dir;
  auto store = OpenStore(dir.path());
  std::vector<RollupRow> all;
  for (int h = 0; h < 4; ++h) {
    const int64_t hour = kJan2026 + h * 3600;
    auto rows = HourRows(hour, 20 + 3 * h);
    ASSERT_TRUE(store->SealHour(hour, rows).ok());
    all.insert(all.end(), rows.begin(), rows.end());
  }
  ASSERT_TRUE(store->MergeParts(5).ok());  // 4 parts < 5, month not sealed: nothing
  EXPECT_EQ(store->stats().merges, 0u);
  EXPECT_EQ(store->stats().part_files, 4u);

  RollupSnapshot before = store->Snapshot();
  ASSERT_TRUE(store->MergeParts(4).ok());
  RollupStoreStats st = store->stats();
  EXPECT_EQ(st.merges, 1u);
  EXPECT_EQ(st.month_files, 1u);
  EXPECT_EQ(st.part_files, 0u);
  EXPECT_EQ(st.rows, all.size());
  // The old snapshot still reads, and its files stay on disk while it lives.
  EXPECT_EQ(SnapshotRows(before), Sorted(all));
  for (const auto& f : before.files) EXPECT_TRUE(FileExists(f->path())) << f->path();
  RollupSnapshot after = store->Snapshot();
  ASSERT_EQ(after.files.size(), 1u);
  EXPECT_NE(after.files[0]->path().find("m202601-1.mru"), std::string::npos);
  EXPECT_EQ(after.files[0]->info().series, 29u);
  EXPECT_EQ(after.files[0]->blocks().size(), 29u);  // one block per series
  EXPECT_EQ(SnapshotRows(after), Sorted(all));
  const std::vector<std::string> old_paths = [&] {
    std::vector<std::string> p;
    for (const auto& f : before.files) p.push_back(f->path());
    return p;
  }();
  { RollupSnapshot drop = std::move(before); }
  for (const std::string& p : old_paths) EXPECT_FALSE(FileExists(p)) << p;

  // More parts, then a second merge: generation 2 holds everything.
  for (int h = 4; h < 6; ++h) {
    const int64_t hour = kJan2026 + h * 3600;
    auto rows = HourRows(hour, 40);
    ASSERT_TRUE(store->SealHour(hour, rows).ok());
    all.insert(all.end(), rows.begin(), rows.end());
  }
  EXPECT_EQ(store->Snapshot().files.size(), 3u);  // the month, then two parts
  EXPECT_EQ(SnapshotRows(store->Snapshot()), Sorted(all));
  ASSERT_TRUE(store->MergeParts(2).ok());
  // Generation 1 is still held by `after`; it goes when that snapshot does.
  EXPECT_EQ(Names(dir.path()),
            (std::vector<std::string>{"ROLLUP", "m202601-1.mru", "m202601-2.mru"}));
  EXPECT_EQ(SnapshotRows(after).size(), all.size() - 80);
  after = RollupSnapshot{};
  EXPECT_EQ(Names(dir.path()), (std::vector<std::string>{"ROLLUP", "m202601-2.mru"}));
  EXPECT_EQ(SnapshotRows(store->Snapshot()), Sorted(all));
  store.reset();
  store = OpenStore(dir.path());
  EXPECT_EQ(SnapshotRows(store->Snapshot()), Sorted(all));
  EXPECT_EQ(store->sealed_before(), kJan2026 + 6 * 3600);
}

// Issue 18: revisions fold into the month file through the same merge as the parts: a row
// replaces the bucket of its key or adds one, the month's parts are absorbed, months the rows
// do not touch are left alone, and the manifest records the revision log from which on a
// restart must replay.
TEST(RollupStore, FoldRevisionsReplacesAndAddsBucketsInTheMonthFile) {
  ::meterd::testing::TempDir dir;
  auto store = OpenStore(dir.path());
  std::vector<RollupRow> all;
  for (int h = 0; h < 3; ++h) {
    auto rows = HourRows(kJan2026 + h * 3600, 5);
    ASSERT_TRUE(store->SealHour(kJan2026 + h * 3600, rows).ok());
    all.insert(all.end(), rows.begin(), rows.end());
  }
  ASSERT_TRUE(store->MergeParts(3).ok());  // the month file: hours 0..2
  for (int h = 3; h < 5; ++h) {            // and two parts
    auto rows = HourRows(kJan2026 + h * 3600, 5);
    ASSERT_TRUE(store->SealHour(kJan2026 + h * 3600, rows).ok());
    all.insert(all.end(), rows.begin(), rows.end());
  }
  auto feb = HourRows(kFeb2026, 2);  // another month, untouched by the fold
  ASSERT_TRUE(store->SealHour(kFeb2026, feb).ok());
  all.insert(all.end(), feb.begin(), feb.end());
  const RollupSnapshot before = store->Snapshot();
  ASSERT_EQ(before.files.size(), 4u);

  std::vector<RollupRow> revised;
  RollupRow r = HourRows(kJan2026 + 3600, 5)[2];  // replaces series 30's hour 1 (month file)
  r.col[kColIncrease] = 99;
  r.col[kColRevision] = 1;
  revised.push_back(r);
  r = HourRows(kJan2026 + 4 * 3600, 5)[2];  // replaces series 30's hour 4 (a part)
  r.col[kColRevision] = 1;
  r.col[kColFlags] = kRowImported;
  revised.push_back(r);
  r = RollupRow{};  // a bucket no file has: series 35, hour 10 (imported)
  r.series_id = 35;
  r.hour = kJan2026 + 10 * 3600;
  r.col[kColIncrease] = 7;
  r.col[kColRevision] = 1;
  r.col[kColFlags] = kRowImported;
  revised.push_back(r);
  revised = Sorted(revised);
  // Refused: unsorted rows, and a row of an unsealed hour.
  std::vector<RollupRow> unsorted = {revised[1], revised[0]};
  EXPECT_EQ(store->FoldRevisions(unsorted, 1).code(), Status::Code::kInvalidArgument);
  RollupRow unsealed = r;
  unsealed.hour = kFeb2026 + 3600;
  EXPECT_EQ(store->FoldRevisions(std::vector<RollupRow>{unsealed}, 1).code(),
            Status::Code::kInvalidArgument);
  // ... also when the unsealed hour is not the month's last row in (series, hour) order.
  RollupRow early_series = HourRows(kFeb2026, 2)[0];
  early_series.hour = kFeb2026 + 3600;
  early_series.col[kColRevision] = 1;
  RollupRow late_series = HourRows(kFeb2026, 2)[1];
  late_series.col[kColRevision] = 1;
  EXPECT_EQ(store->FoldRevisions(Sorted({early_series, late_series}), 1).code(),
            Status::Code::kInvalidArgument);

  ASSERT_TRUE(store->FoldRevisions(revised, 5).ok());
  EXPECT_EQ(store->revision_log(), 5u);
  EXPECT_EQ(store->stats().folds, 1u);
  EXPECT_EQ(store->stats().folded_rows, 3u);
  std::vector<RollupRow> want;
  for (const RollupRow& row : all) {
    const bool replaced = std::any_of(revised.begin(), revised.end(), [&](const RollupRow& x) {
      return x.series_id == row.series_id && x.hour == row.hour;
    });
    if (!replaced) want.push_back(row);
  }
  want.insert(want.end(), revised.begin(), revised.end());
  want = Sorted(want);
  const RollupSnapshot after = store->Snapshot();
  ASSERT_EQ(after.files.size(), 2u);  // January's generation 2, February's part
  EXPECT_NE(after.files[0]->path().find("m202601-2.mru"), std::string::npos);
  EXPECT_EQ(after.files[1]->path(), before.files[3]->path());
  EXPECT_EQ(SnapshotRows(after), want);
  EXPECT_EQ(SnapshotRows(before), Sorted(all));  // an older snapshot still reads as it was
  // A restart finds the same, and the manifest's revision_log.
  store.reset();
  store = OpenStore(dir.path());
  EXPECT_EQ(SnapshotRows(store->Snapshot()), want);
  EXPECT_EQ(store->revision_log(), 5u);
  // A fold of nothing only moves revision_log; going back is refused.
  ASSERT_TRUE(store->FoldRevisions({}, 6).ok());
  EXPECT_EQ(store->revision_log(), 6u);
  EXPECT_EQ(store->FoldRevisions({}, 5).code(), Status::Code::kInvalidArgument);
  // Seals keep the revision_log in the manifests they write.
  ASSERT_TRUE(store->SealHour(kFeb2026 + 3600, HourRows(kFeb2026 + 3600, 1)).ok());
  store.reset();
  store = OpenStore(dir.path());
  EXPECT_EQ(store->revision_log(), 6u);
}

// A fold into a month file of many series: the series no revision touches are copied as encoded
// blocks (rollup_merge.h), the others merged; the result reads as the month with the revisions
// applied, before and after a restart, and a second fold over the copied blocks too. A damaged
// block of a series the fold would copy fails the fold (it is never copied on).
TEST(RollupStore, FoldCopiesUntouchedSeriesAndKeepsEveryRow) {
  ::meterd::testing::TempDir dir;
  auto store = OpenStore(dir.path());
  std::vector<RollupRow> all;
  for (int h = 0; h < 4; ++h) {
    auto rows = HourRows(kJan2026 + h * 3600, 40, 3);
    ASSERT_TRUE(store->SealHour(kJan2026 + h * 3600, rows).ok());
    all.insert(all.end(), rows.begin(), rows.end());
  }
  ASSERT_TRUE(store->MergeParts(4).ok());
  ASSERT_EQ(store->Snapshot().files.size(), 1u);
  std::vector<RollupRow> revised;
  for (size_t s : {0, 17, 39}) {  // series 10, 180, 400: replaced hours
    RollupRow r = HourRows(kJan2026 + 2 * 3600, 40, 3)[s];
    r.col[kColIncrease] += 1000;
    r.col[kColRevision] = 1;
    revised.push_back(r);
  }
  RollupRow added{};  // a new series between existing ones: 255, hour 1
  added.series_id = 255;
  added.hour = kJan2026 + 3600;
  added.col[kColIncrease] = 5;
  added.col[kColRevision] = 1;
  added.col[kColFlags] = kRowImported;
  revised.push_back(added);
  revised = Sorted(revised);
  ASSERT_TRUE(store->FoldRevisions(revised, 2).ok());
  auto apply = [](std::vector<RollupRow> base, const std::vector<RollupRow>& over) {
    for (const RollupRow& o : over) {
      auto it = std::find_if(base.begin(), base.end(), [&](const RollupRow& x) {
        return x.series_id == o.series_id && x.hour == o.hour;
      });
      if (it != base.end()) {
        *it = o;
      } else {
        base.push_back(o);
      }
    }
    return Sorted(base);
  };
  std::vector<RollupRow> want = apply(all, revised);
  EXPECT_EQ(SnapshotRows(store->Snapshot()), want);
  // Another fold: the first one's copied blocks are copied again.
  RollupRow again = want[5 * 4 + 1];
  again.col[kColRevision] += 1;
  again.col[kColLast] = 1;
  ASSERT_TRUE(store->FoldRevisions(std::vector<RollupRow>{again}, 3).ok());
  want = apply(want, {again});
  EXPECT_EQ(SnapshotRows(store->Snapshot()), want);
  store.reset();
  store = OpenStore(dir.path());
  EXPECT_EQ(SnapshotRows(store->Snapshot()), want);
  for (const auto& f : store->Snapshot().files) {
    for (size_t b = 0; b < f->blocks().size(); ++b) EXPECT_TRUE(f->RawBlock(b).ok());
  }

  // Damage in a block of a series the next fold leaves alone: the fold fails (Corruption).
  const std::string path = store->Snapshot().files[0]->path();
  const RollupBlockInfo victim = store->Snapshot().files[0]->blocks()[20];
  store.reset();
  std::string bytes;
  ASSERT_TRUE(ReadWholeFile(path, &bytes).ok());
  bytes[victim.offset + fmt::kBlockHeaderSize + 1] ^= 0x10;
  ASSERT_TRUE(WriteBytes(path, bytes));
  store = OpenStore(dir.path());
  RollupRow third = want[0];
  third.col[kColRevision] += 1;
  third.col[kColLast] = 2;
  EXPECT_TRUE(store->FoldRevisions(std::vector<RollupRow>{third}, 4).IsCorruption());
}

TEST(RollupStore, SealedMonthMergesRegardlessOfPartCount) {
  ::meterd::testing::TempDir dir;
  auto store = OpenStore(dir.path());
  std::vector<RollupRow> all;
  const int64_t last_jan = kFeb2026 - 3600;
  for (int64_t hour : {last_jan - 7200, last_jan, kFeb2026, kFeb2026 + 3600}) {
    auto rows = HourRows(hour, 5);
    ASSERT_TRUE(store->SealHour(hour, rows).ok());
    all.insert(all.end(), rows.begin(), rows.end());
  }
  ASSERT_TRUE(store->MergeParts(100).ok());  // January is fully sealed, February is not
  const RollupSnapshot snap = store->Snapshot();
  ASSERT_EQ(snap.files.size(), 3u);
  EXPECT_NE(snap.files[0]->path().find("m202601-1.mru"), std::string::npos);
  EXPECT_EQ(snap.files[1]->info().min_hour, kFeb2026);
  EXPECT_EQ(snap.files[2]->info().min_hour, kFeb2026 + 3600);
  EXPECT_EQ(SnapshotRows(snap), Sorted(all));
  // January: one block per series, its two hours.
  RollupBlock block;
  ASSERT_TRUE(snap.files[0]->ReadBlock(0, kAllColumns, &block).ok());
  EXPECT_EQ(block.rows, 2u);
}

TEST(RollupStore, FullMonthIsOneBlockPerSeries) {
  ::meterd::testing::TempDir dir;
  auto store = OpenStore(dir.path());
  std::vector<RollupRow> all;
  for (int64_t hour = kJan2026; hour < kFeb2026; hour += 3600) {
    auto rows = HourRows(hour, 3);
    ASSERT_TRUE(store->SealHour(hour, rows).ok());
    all.insert(all.end(), rows.begin(), rows.end());
    if ((hour - kJan2026) % (24 * 3600) == 0) {
      ASSERT_TRUE(store->MergeParts(48).ok());
    }
  }
  ASSERT_TRUE(store->MergeParts(1000).ok());
  const RollupSnapshot snap = store->Snapshot();
  ASSERT_EQ(snap.files.size(), 1u);
  ASSERT_EQ(snap.files[0]->blocks().size(), 3u);
  EXPECT_EQ(snap.files[0]->blocks()[0].rows, 744u);
  RollupBlock block;
  ASSERT_TRUE(snap.files[0]->ReadBlock(1, kAllColumns, &block).ok());
  EXPECT_TRUE(block.series.constant);
  EXPECT_TRUE(block.col[kColCount].constant);
  EXPECT_EQ(SnapshotRows(snap), Sorted(all));
}

TEST(RollupStore, OpenRemovesLeftovers) {
  ::meterd::testing::TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store->SealHour(kJan2026, HourRows(kJan2026, 4)).ok());
  }
  const std::string rdir = dir.path() + "/rollup/";
  ASSERT_TRUE(WriteBytes(rdir + "ROLLUP.tmp", "torn"));
  ASSERT_TRUE(WriteBytes(rdir + "h1767229200.mrp.tmp", "torn"));
  ASSERT_TRUE(WriteBytes(rdir + "m202601-7.mru", "unlisted"));
  ASSERT_TRUE(WriteBytes(rdir + "notes.txt", "not ours"));
  auto store = OpenStore(dir.path());
  EXPECT_EQ(Names(dir.path()),
            (std::vector<std::string>{"ROLLUP", "h1767225600.mrp", "notes.txt"}));
  EXPECT_EQ(SnapshotRows(store->Snapshot()), HourRows(kJan2026, 4));
}

// A crash between writing a file and publishing the manifest: the file is complete but not
// listed. Nothing listed is lost, the leftover goes, and sealing continues from the watermark.
TEST(RollupStore, CrashBetweenFileAndManifest) {
  ::meterd::testing::TempDir dir;
  std::vector<RollupRow> all;
  {
    auto store = OpenStore(dir.path());
    for (int h = 0; h < 3; ++h) {
      auto rows = HourRows(kJan2026 + h * 3600, 6);
      ASSERT_TRUE(store->SealHour(kJan2026 + h * 3600, rows).ok());
      all.insert(all.end(), rows.begin(), rows.end());
    }
  }
  std::string manifest_before;
  ASSERT_TRUE(ReadWholeFile(dir.path() + "/rollup/ROLLUP", &manifest_before).ok());
  const std::string rdir = dir.path() + "/rollup/";
  // The seal of hour 3 got as far as its part file; a merge got as far as its month file.
  ASSERT_TRUE(WriteRollupFile(rdir + "h1767236400.mrp", 4, RollupLayout::kPacked,
                              HourRows(kJan2026 + 3 * 3600, 6))
                  .ok());
  ASSERT_TRUE(
      WriteRollupFile(rdir + "m202601-1.mru", 5, RollupLayout::kPerSeries, Sorted(all)).ok());
  {
    auto store = OpenStore(dir.path());
    EXPECT_EQ(store->sealed_before(), kJan2026 + 3 * 3600);
    EXPECT_EQ(SnapshotRows(store->Snapshot()), Sorted(all));
    EXPECT_EQ(Names(dir.path()).size(), 4u);  // ROLLUP + 3 parts
    // Sealing hour 3 again works (a new id), and a merge writes a fresh month file.
    auto rows = HourRows(kJan2026 + 3 * 3600, 6, 1);
    ASSERT_TRUE(store->SealHour(kJan2026 + 3 * 3600, rows).ok());
    all.insert(all.end(), rows.begin(), rows.end());
    ASSERT_TRUE(store->MergeParts(1).ok());
  }
  auto store = OpenStore(dir.path());
  EXPECT_EQ(SnapshotRows(store->Snapshot()), Sorted(all));
}

TEST(RollupStore, DamagedFileIsReportedAndNotServed) {
  ::meterd::testing::TempDir dir;
  {
    auto store = OpenStore(dir.path());
    for (int h = 0; h < 3; ++h) {
      ASSERT_TRUE(store->SealHour(kJan2026 + h * 3600, HourRows(kJan2026 + h * 3600, 8)).ok());
    }
    ASSERT_TRUE(store->SealHour(kFeb2026, HourRows(kFeb2026, 8)).ok());
  }
  const std::string victim = dir.path() + "/rollup/h1767229200.mrp";  // hour 1
  std::string bytes;
  ASSERT_TRUE(ReadWholeFile(victim, &bytes).ok());
  bytes[bytes.size() / 3] ^= 0x20;  // inside the data block
  ASSERT_TRUE(WriteBytes(victim, bytes));
  std::vector<std::string> damage;
  auto store = OpenStore(dir.path(), &damage);
  ASSERT_TRUE(store);
  // The block is damaged, not the index: Open accepts the file; the first ReadBlock refuses it.
  // Damage the footer too so Open itself catches it.
  EXPECT_TRUE(damage.empty());
  {
    const RollupSnapshot snap = store->Snapshot();
    RollupBlock block;
    Status st = snap.files[1]->ReadBlock(0, kAllColumns, &block);
    EXPECT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_NE(st.message().find(victim), std::string::npos);
    store->CountDamagedBlock();
    EXPECT_EQ(store->stats().damaged_blocks, 1u);
  }
  store.reset();
  bytes[bytes.size() - 20] ^= 0x01;  // the footer
  ASSERT_TRUE(WriteBytes(victim, bytes));
  store = OpenStore(dir.path(), &damage);
  ASSERT_EQ(damage.size(), 1u);
  EXPECT_NE(damage[0].find(victim), std::string::npos) << damage[0];
  const RollupSnapshot snap = store->Snapshot();
  ASSERT_EQ(snap.files.size(), 3u);  // hour 0, hour 2, February
  for (const auto& f : snap.files) EXPECT_NE(f->path(), victim);
  // January cannot be merged without losing hour 1: it is left alone; February merges.
  ASSERT_TRUE(store->MergeParts(1).ok());
  EXPECT_TRUE(FileExists(victim));
  EXPECT_EQ(store->stats().part_files, 2u);
  EXPECT_EQ(store->stats().month_files, 1u);
  store.reset();
  damage.clear();
  store = OpenStore(dir.path(), &damage);
  EXPECT_EQ(damage.size(), 1u);  // still listed, still reported, never deleted
  EXPECT_TRUE(FileExists(victim));
}

TEST(RollupStore, SwappedFileIsDamage) {
  ::meterd::testing::TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store->SealHour(kJan2026, HourRows(kJan2026, 8)).ok());
    ASSERT_TRUE(store->SealHour(kJan2026 + 3600, HourRows(kJan2026 + 3600, 8)).ok());
  }
  // A valid file of the wrong id (e.g. restored from another store) under a listed name.
  ASSERT_TRUE(WriteRollupFile(dir.path() + "/rollup/h1767225600.mrp", 99, RollupLayout::kPacked,
                              HourRows(kJan2026, 8))
                  .ok());
  std::vector<std::string> damage;
  auto store = OpenStore(dir.path(), &damage);
  ASSERT_EQ(damage.size(), 1u);
  EXPECT_EQ(store->Snapshot().files.size(), 1u);
}

TEST(RollupStore, MissingManifestWithFilesIsRefused) {
  ::meterd::testing::TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store->SealHour(kJan2026, HourRows(kJan2026, 2)).ok());
  }
  ASSERT_TRUE(RemoveFile(dir.path() + "/rollup/ROLLUP").ok());
  std::vector<std::string> damage;
  auto s = RollupStore::Open(dir.path(), &damage);
  EXPECT_TRUE(s.status().IsCorruption()) << s.status().ToString();
  EXPECT_TRUE(FileExists(dir.path() + "/rollup/h1767225600.mrp"));
  // A damaged manifest is refused too (never treated as empty).
  ASSERT_TRUE(WriteBytes(dir.path() + "/rollup/ROLLUP",
                         "MTRDRLM\x01garbage-garbage-garbage-gar"
                         "bage-garbage"));
  EXPECT_TRUE(RollupStore::Open(dir.path(), &damage).status().IsCorruption());
}

TEST(RollupStore, ConcurrentReadersSealsAndMerges) {
  ::meterd::testing::TempDir dir;
  auto store = OpenStore(dir.path());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0};
  std::thread reader([&] {
    RollupBlock block;
    while (!stop.load()) {
      const RollupSnapshot snap = store->Snapshot();
      size_t rows = 0;
      for (const auto& f : snap.files) {
        for (size_t b = 0; b < f->blocks().size(); ++b) {
          ASSERT_TRUE(f->ReadBlock(b, kAllColumns, &block).ok());
          rows += block.rows;
        }
      }
      // Every sealed hour is in exactly one file: 16 series an hour.
      const int64_t hours = snap.sealed_before == 0 ? 0 : (snap.sealed_before - kJan2026) / 3600;
      ASSERT_EQ(rows, static_cast<size_t>(hours) * 16);
      ++reads;
    }
  });
  std::thread merger([&] {
    while (!stop.load()) ASSERT_TRUE(store->MergeParts(3).ok());
  });
  for (int h = 0; h < 60; ++h) {
    ASSERT_TRUE(store->SealHour(kJan2026 + h * 3600, HourRows(kJan2026 + h * 3600, 16)).ok());
  }
  stop = true;
  reader.join();
  merger.join();
  EXPECT_GT(reads.load(), 0u);
  ASSERT_TRUE(store->MergeParts(1).ok());
  EXPECT_EQ(store->stats().rows, 60u * 16);
  EXPECT_EQ(store->Snapshot().files.size(), 1u);
}

}  // namespace rollup_store_test
}  // namespace meterd::storage
