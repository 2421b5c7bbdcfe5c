// meterd — tests/storage/rollup/rollup_file_test.cc: RollupFileWriter and RollupFileReader.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/io/file.h"
#include "storage/rollup.h"
#include "storage/rollup/rollup_format.h"
#include "storage/rollup/rollup_manifest.h"
#include "tests/storage/rollup/rollup_test_util.h"
#include "tests/testing/temp_dir.h"

namespace meterd::storage {
namespace rollup_file_test {

using testing::kJan2026;
using testing::MakeRows;
using testing::ReadAllRows;
using testing::Shape;
using testing::WriteAndOpen;
using testing::WriteBytes;
using testing::WriteRollupFile;
namespace fmt = rollup_format;

struct Case {
  Shape shape;
  size_t series;
  size_t hours;
};

void ExpectRoundTrip(const std::string& path, RollupLayout layout,
                     const std::vector<RollupRow>& rows) {
  auto info = WriteRollupFile(path, 77, layout, rows);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  auto r = RollupFileReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->info().rows, rows.size());
  EXPECT_EQ((*r)->info().file_id, 77u);
  EXPECT_EQ((*r)->info().file_bytes, info->file_bytes);
  EXPECT_EQ((*r)->info().blocks, (*r)->blocks().size());
  std::vector<RollupRow> got;
  ASSERT_TRUE(ReadAllRows(**r, &got).ok());
  ASSERT_EQ(got.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) ASSERT_EQ(got[i], rows[i]) << "row " << i;
  for (const RollupBlockInfo& b : (*r)->blocks()) {
    EXPECT_LE(b.rows, kRollupBlockRows);
    if (layout == RollupLayout::kPerSeries) {
      EXPECT_EQ(b.first_series, b.last_series);
    }
  }
}

TEST(RollupFile, RoundTripShapesAndSizes) {
  ::meterd::testing::TempDir dir;
  const Case cases[] = {
      {Shape::kRandom, 1, 1},     {Shape::kConstant, 1, 1},     {Shape::kRandom, 3, 744},
      {Shape::kConstant, 5, 744}, {Shape::kMixed, 7, 720},      {Shape::kRealistic, 10, 720},
      {Shape::kRandom, 4096, 1},  {Shape::kMixed, 4097, 1},     {Shape::kConstant, 1, 4096},
      {Shape::kRandom, 1, 4097},  {Shape::kRealistic, 9000, 1}, {Shape::kMixed, 2, 3},
  };
  int k = 0;
  for (const Case& c : cases) {
    const auto rows = MakeRows(c.shape, c.series, c.hours, 1000 + k);
    for (RollupLayout layout : {RollupLayout::kPerSeries, RollupLayout::kPacked}) {
      SCOPED_TRACE(::testing::Message() << "case " << k << " layout " << static_cast<int>(layout));
      ExpectRoundTrip(dir.path() + "/f" + std::to_string(k) + ".mru", layout, rows);
    }
    ++k;
  }
}

TEST(RollupFile, BlockCuts) {
  ::meterd::testing::TempDir dir;
  const auto rows = MakeRows(Shape::kRealistic, 100, 744, 5);  // 74,400 rows
  ASSERT_TRUE(WriteRollupFile(dir.path() + "/m", 1, RollupLayout::kPerSeries, rows).ok());
  ASSERT_TRUE(WriteRollupFile(dir.path() + "/p", 2, RollupLayout::kPacked, rows).ok());
  auto m = RollupFileReader::Open(dir.path() + "/m");
  auto p = RollupFileReader::Open(dir.path() + "/p");
  ASSERT_TRUE(m.ok() && p.ok());
  EXPECT_EQ((*m)->blocks().size(), 100u);  // one block per series
  EXPECT_EQ((*m)->info().series, 100u);
  EXPECT_EQ((*p)->info().series, 100u);
  EXPECT_EQ((*p)->blocks().size(), (rows.size() + kRollupBlockRows - 1) / kRollupBlockRows);
  for (size_t i = 0; i + 1 < (*p)->blocks().size(); ++i) {
    EXPECT_EQ((*p)->blocks()[i].rows, kRollupBlockRows);
  }
  // LowerBound: the first block whose last series >= id.
  const auto& mb = (*m)->blocks();
  EXPECT_EQ((*m)->LowerBound(0), 0u);
  EXPECT_EQ((*m)->LowerBound(mb[37].first_series), 37u);
  EXPECT_EQ((*m)->LowerBound(mb[37].first_series + 1), 38u);
  EXPECT_EQ((*m)->LowerBound(UINT64_MAX), mb.size());
  // The reader's two-level index (groups of blocks) answers as a binary search over every
  // block would, at each block's ends and between them, across group boundaries.
  for (const auto* reader : {&*m, &*p}) {
    const auto& blocks = (*reader)->blocks();
    auto reference = [&blocks](uint64_t id) {
      return static_cast<size_t>(
          std::lower_bound(blocks.begin(), blocks.end(), id,
                           [](const RollupBlockInfo& b, uint64_t x) { return b.last_series < x; }) -
          blocks.begin());
    };
    for (const RollupBlockInfo& b : blocks) {
      for (uint64_t id : {b.first_series, b.last_series, b.last_series + 1, b.first_series - 1}) {
        EXPECT_EQ((*reader)->LowerBound(id), reference(id)) << "id " << id;
      }
    }
  }
  const auto& pb = (*p)->blocks();
  const uint64_t id = pb[3].last_series;
  EXPECT_EQ((*p)->LowerBound(id), 3u);
}

TEST(RollupFile, ConstantColumnsAreNotMaterialised) {
  ::meterd::testing::TempDir dir;
  const auto rows = MakeRows(Shape::kRealistic, 3, 720, 9);
  auto r = WriteAndOpen(dir.path() + "/m", 3, RollupLayout::kPerSeries, rows);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  RollupBlock block;
  ASSERT_TRUE((*r)->ReadBlock(1, kAllColumns, &block).ok());
  EXPECT_EQ(block.rows, 720u);
  EXPECT_TRUE(block.series.constant);
  EXPECT_EQ(block.series.value, rows[720].series_id);
  // A month block's hours are first + 3600 i: linear, no array.
  EXPECT_TRUE(block.hour.linear());
  EXPECT_EQ(block.hour.value, static_cast<uint64_t>(rows[720].hour));
  EXPECT_EQ(block.hour.step, 3600u);
  EXPECT_EQ(block.hour.data, nullptr);
  for (size_t i = 0; i < 720; i += 7) {
    EXPECT_EQ(static_cast<int64_t>(block.hour.at(i)), rows[720 + i].hour);
  }
  EXPECT_TRUE(block.col[kColCount].constant);
  EXPECT_EQ(block.col[kColCount].value, 3600u);
  EXPECT_EQ(block.col[kColCount].data, nullptr);
  EXPECT_TRUE(block.col[kColHeld].constant);
  EXPECT_TRUE(block.col[kColState0 + 1].constant);
  EXPECT_EQ(block.col[kColState0 + 1].value, 3600u);
  EXPECT_TRUE(block.col[kColRevision].constant);
  EXPECT_FALSE(block.col[kColIncrease].constant);
  EXPECT_FALSE(block.col[kColIntegralLo].constant);
  size_t arrays = 0;
  for (const ColumnVector& v : block.col) arrays += v.constant ? 0 : 1;
  EXPECT_EQ(arrays, 2u);
  // increase + integral: the buffer holds exactly the two arrays (the hours are linear).
  EXPECT_EQ(block.buffer.size(), 2u * 720);

  // Reuse: a second read of a same-size block allocates nothing.
  const uint64_t* before = block.buffer.data();
  ASSERT_TRUE((*r)->ReadBlock(2, kAllColumns, &block).ok());
  EXPECT_EQ(block.buffer.data(), before);
  EXPECT_EQ(block.col[kColIncrease].at(5), rows[2 * 720 + 5].col[kColIncrease]);
}

TEST(RollupFile, MaskDecodesOnlyRequestedColumns) {
  ::meterd::testing::TempDir dir;
  const auto rows = MakeRows(Shape::kRandom, 2, 500, 11);
  auto r = WriteAndOpen(dir.path() + "/p", 4, RollupLayout::kPacked, rows);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::mt19937_64 rng(3);
  RollupBlock block;
  for (int t = 0; t < 50; ++t) {
    const ColumnMask mask = t == 0 ? 0 : static_cast<ColumnMask>(rng()) & kAllColumns;
    ASSERT_TRUE((*r)->ReadBlock(0, mask, &block).ok());
    ASSERT_EQ(block.rows, 1000u);
    for (size_t c = 0; c < kRollupColumns; ++c) {
      if (mask & (1u << c)) {
        ASSERT_FALSE(block.col[c].constant);
        for (size_t i = 0; i < block.rows; i += 97) ASSERT_EQ(block.col[c].at(i), rows[i].col[c]);
      } else {
        ASSERT_TRUE(block.col[c].constant);
        ASSERT_EQ(block.col[c].value, 0u);
      }
    }
    for (size_t i = 0; i < block.rows; ++i) {
      ASSERT_EQ(block.series.at(i), rows[i].series_id);
      ASSERT_EQ(static_cast<int64_t>(block.hour.at(i)), rows[i].hour);
    }
  }
  EXPECT_FALSE((*r)->ReadBlock(1, kAllColumns, &block).ok());  // out of range
  // A prefetch hint past the last block (a scan's look-ahead at the end of a file) is a no-op.
  (*r)->PrefetchBlock(0);
  (*r)->PrefetchBlock(1);
  (*r)->PrefetchBlock(SIZE_MAX);
}

// A counter-like month: max == last (the writer stores one as an alias of the other), all of
// min, max and increase varying. Columns allowed any order come out as the same rows with the
// first and last in place; every other column, and a column sharing its bytes with a wanted
// ordered one, keeps row order.
TEST(RollupFile, AnyOrderColumnsArePermutationsWithTheirEndsInPlace) {
  ::meterd::testing::TempDir dir;
  auto rows = MakeRows(Shape::kRandom, 2, 720, 21);
  std::mt19937_64 rng(8);
  uint64_t cum = 0;
  for (RollupRow& r : rows) {
    cum += rng() % 100000;
    r.col[kColMin] = cum - rng() % 1000;
    r.col[kColMax] = r.col[kColLast] = cum;
    r.col[kColIncrease] = rng() % 5000000;
  }
  auto r = WriteAndOpen(dir.path() + "/c", 5, RollupLayout::kPerSeries, rows);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ColumnMask varying =
      ColumnBit(kColMin) | ColumnBit(kColMax) | ColumnBit(kColLast) | ColumnBit(kColIncrease);
  RollupBlock ordered, any, mixed;
  for (size_t b = 0; b < (*r)->blocks().size(); ++b) {
    ASSERT_TRUE((*r)->ReadBlock(b, kAllColumns, &ordered).ok());
    EXPECT_EQ(ordered.any_order, 0u);
    ASSERT_TRUE((*r)->ReadBlock(b, kAllColumns, &any, varying).ok());
    EXPECT_EQ(any.any_order, varying);
    const size_t n = ordered.rows;
    ASSERT_EQ(any.rows, n);
    for (size_t c = 0; c < kRollupColumns; ++c) {
      std::vector<uint64_t> want(n), got(n);
      for (size_t i = 0; i < n; ++i) {
        want[i] = ordered.col[c].at(i);
        got[i] = any.col[c].at(i);
      }
      if (varying & ColumnBit(static_cast<RollupColumn>(c))) {
        EXPECT_EQ(got.front(), want.front()) << "column " << c;
        EXPECT_EQ(got.back(), want.back()) << "column " << c;
        std::sort(got.begin(), got.end());
        std::sort(want.begin(), want.end());
      }
      EXPECT_EQ(got, want) << "column " << c;
    }
    // Max alone may not be permuted: last, wanted in row order, shares its bytes.
    ASSERT_TRUE((*r)->ReadBlock(b, kAllColumns, &mixed, ColumnBit(kColMax)).ok());
    ASSERT_EQ(mixed.col[kColMax].data, mixed.col[kColLast].data) << "max and last not aliased";
    EXPECT_EQ(mixed.any_order, 0u);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(mixed.col[kColMax].at(i), ordered.col[kColMax].at(i)) << "row " << i;
    }
    EXPECT_FALSE((*r)->ColumnIsConstant(b, kColMin));
    EXPECT_FALSE((*r)->ColumnIsConstant(b, kColLast));
  }
}

TEST(RollupFile, ColumnIsConstantReadsTheHeader) {
  ::meterd::testing::TempDir dir;
  const auto rows = MakeRows(Shape::kConstant, 3, 48, 2);
  auto r = WriteAndOpen(dir.path() + "/k", 6, RollupLayout::kPerSeries, rows);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (size_t b = 0; b < (*r)->blocks().size(); ++b) {
    for (size_t c = 0; c < kRollupColumns; ++c) {
      EXPECT_TRUE((*r)->ColumnIsConstant(b, static_cast<RollupColumn>(c))) << "column " << c;
    }
  }
}

TEST(RollupFile, EmptyFile) {
  ::meterd::testing::TempDir dir;
  const std::string path = dir.path() + "/e";
  auto info = WriteRollupFile(path, 9, RollupLayout::kPacked, {});
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->file_bytes, fmt::kIndexHeaderSize + fmt::kIndexTrailerSize + fmt::kFooterSize);
  auto r = RollupFileReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*r)->blocks().empty());
  EXPECT_EQ((*r)->LowerBound(5), 0u);
  (*r)->PrefetchBlock(0);  // no block: no effect
}

TEST(RollupFile, WriterRejectsBadInput) {
  ::meterd::testing::TempDir dir;
  auto w = RollupFileWriter::Create(dir.path() + "/x", 1, RollupLayout::kPacked);
  ASSERT_TRUE(w.ok());
  RollupRow a, b;
  a.series_id = 5;
  a.hour = kJan2026;
  b = a;
  EXPECT_TRUE((*w)->Add(&a, 1).ok());
  EXPECT_TRUE((*w)->Add(&b, 1).IsInvalidArgument());  // duplicate key
  b.hour = kJan2026 - 3600;
  EXPECT_TRUE((*w)->Add(&b, 1).IsInvalidArgument());  // goes backwards
  b.series_id = 6;
  b.hour = kJan2026 + 1;
  EXPECT_TRUE((*w)->Add(&b, 1).IsInvalidArgument());  // not on the hour
  RollupRow batch[2] = {a, a};
  batch[0].series_id = 7;
  batch[1].series_id = 6;  // unsorted inside the batch: nothing of it is added
  EXPECT_TRUE((*w)->Add(batch, 2).IsInvalidArgument());
  b.hour = kJan2026;
  EXPECT_TRUE((*w)->Add(&b, 1).ok());
  auto info = (*w)->Finish();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->rows, 2u);
  EXPECT_FALSE((*w)->Finish().ok());
  EXPECT_FALSE((*w)->Add(&a, 1).ok());
}

// The bytes of a small two-region file used by the damage tests.
struct SmallFile {
  std::string path;
  std::string bytes;
  std::vector<RollupRow> rows;
};

SmallFile MakeSmallFile(const std::string& dir, RollupLayout layout) {
  SmallFile f;
  f.path = dir + "/small";
  f.rows = MakeRows(Shape::kMixed, 4, 6, 21);
  EXPECT_TRUE(WriteRollupFile(f.path, 12, layout, f.rows).ok());
  EXPECT_TRUE(ReadWholeFile(f.path, &f.bytes).ok());
  return f;
}

// Opens `bytes` as a file and reads every block: either Open fails, or at least one block fails
// with Corruption and every block that succeeds holds exactly the original rows.
void ExpectDetected(const std::string& path, const std::string& bytes,
                    const std::vector<RollupRow>& rows, const std::string& what) {
  ASSERT_TRUE(WriteBytes(path, bytes));
  auto r = RollupFileReader::Open(path);
  if (!r.ok()) {
    EXPECT_TRUE(r.status().IsCorruption() || r.status().code() == Status::Code::kNotSupported)
        << what << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().ToString();
    return;
  }
  RollupBlock block;
  size_t failed = 0, row = 0;
  for (size_t b = 0; b < (*r)->blocks().size(); ++b) {
    Status st = (*r)->ReadBlock(b, kAllColumns, &block);
    if (!st.ok()) {
      EXPECT_TRUE(st.IsCorruption()) << what << ": " << st.ToString();
      EXPECT_NE(st.message().find(path), std::string::npos);
      EXPECT_NE(st.message().find("offset " + std::to_string((*r)->blocks()[b].offset)),
                std::string::npos)
          << st.ToString();
      ++failed;
      row += (*r)->blocks()[b].rows;
      continue;
    }
    for (size_t i = 0; i < block.rows; ++i, ++row) {
      ASSERT_LT(row, rows.size());
      EXPECT_EQ(block.series.at(i), rows[row].series_id) << what;
      EXPECT_EQ(static_cast<int64_t>(block.hour.at(i)), rows[row].hour) << what;
      for (size_t c = 0; c < kRollupColumns; ++c) {
        EXPECT_EQ(block.col[c].at(i), rows[row].col[c]) << what;
      }
    }
  }
  EXPECT_EQ(failed, 1u) << what << ": a flipped byte went unnoticed";
}

TEST(RollupFile, EveryFlippedByteIsDetected) {
  for (RollupLayout layout : {RollupLayout::kPerSeries, RollupLayout::kPacked}) {
    ::meterd::testing::TempDir dir;
    const SmallFile f = MakeSmallFile(dir.path(), layout);
    const std::string damaged = dir.path() + "/damaged";
    for (size_t off = 0; off < f.bytes.size(); ++off) {
      for (uint8_t bit : {0x01, 0x80}) {
        std::string bytes = f.bytes;
        bytes[off] = static_cast<char>(bytes[off] ^ bit);
        ExpectDetected(damaged, bytes, f.rows, "flip at " + std::to_string(off));
      }
    }
  }
}

// A block whose checksum was recomputed after the damage (a writer bug, or a crafted file):
// every header field and the key columns are still validated, so ReadBlock refuses it.
TEST(RollupFile, ResealedDamageInHeaderOrKeysIsDetected) {
  for (RollupLayout layout : {RollupLayout::kPerSeries, RollupLayout::kPacked}) {
    ::meterd::testing::TempDir dir;
    const SmallFile f = MakeSmallFile(dir.path(), layout);
    auto r = RollupFileReader::Open(f.path);
    ASSERT_TRUE(r.ok());
    const RollupBlockInfo b = (*r)->blocks()[0];
    const size_t keys_end =
        fmt::kBlockHeaderSize +
        base::DecodeFixed32(f.bytes.data() + fmt::kBlockFixedHeaderSize + fmt::kBlockColumns) +
        base::DecodeFixed32(f.bytes.data() + fmt::kBlockFixedHeaderSize + fmt::kBlockColumns + 4);
    const std::string damaged = dir.path() + "/resealed";
    size_t unnoticed = 0;
    for (size_t off = 0; off < keys_end; ++off) {
      std::string bytes = f.bytes;
      bytes[off] = static_cast<char>(bytes[off] ^ 0x04);
      const size_t body = b.size - fmt::kBlockTrailerSize;
      base::EncodeFixed64(bytes.data() + body,
                          base::Checksum64(bytes.data(), body, base::ContextSeed(12, 0)));
      ASSERT_TRUE(WriteBytes(damaged, bytes));
      auto d = RollupFileReader::Open(damaged);
      ASSERT_TRUE(d.ok());
      RollupBlock block;
      Status st = (*d)->ReadBlock(0, kAllColumns, &block);
      if (st.ok()) {
        // Only a bit the codec ignores (padding past a packed group's last value) can be
        // flipped without changing the keys; then the keys must be exactly the original ones.
        for (size_t i = 0; i < block.rows; ++i) {
          ASSERT_EQ(block.series.at(i), f.rows[i].series_id) << "offset " << off;
          ASSERT_EQ(static_cast<int64_t>(block.hour.at(i)), f.rows[i].hour) << "offset " << off;
        }
        ++unnoticed;
      } else {
        EXPECT_TRUE(st.IsCorruption()) << "offset " << off << ": " << st.ToString();
      }
    }
    EXPECT_LE(unnoticed, 2u);
  }
}

TEST(RollupFile, TruncationIsDetected) {
  ::meterd::testing::TempDir dir;
  const SmallFile f = MakeSmallFile(dir.path(), RollupLayout::kPacked);
  const std::string cut = dir.path() + "/cut";
  for (size_t len = 0; len < f.bytes.size(); ++len) {
    ASSERT_TRUE(WriteBytes(cut, f.bytes.substr(0, len)));
    auto r = RollupFileReader::Open(cut);
    ASSERT_FALSE(r.ok()) << "length " << len;
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  }
  // Appended garbage moves the footer: also refused.
  ASSERT_TRUE(WriteBytes(cut, f.bytes + std::string(5, 'x')));
  EXPECT_TRUE(RollupFileReader::Open(cut).status().IsCorruption());
}

TEST(RollupFile, CopiedBlockFails) {
  ::meterd::testing::TempDir dir;
  // Two series with identical shapes give two blocks of equal size (per-series layout).
  std::vector<RollupRow> rows = MakeRows(Shape::kConstant, 1, 24, 1);
  std::vector<RollupRow> second = rows;
  for (RollupRow& r : second) r.series_id += 1;
  rows.insert(rows.end(), second.begin(), second.end());
  const std::string a = dir.path() + "/a", b = dir.path() + "/b";
  ASSERT_TRUE(WriteRollupFile(a, 1, RollupLayout::kPerSeries, rows).ok());
  ASSERT_TRUE(WriteRollupFile(b, 2, RollupLayout::kPerSeries, second).ok());
  std::string fa, fb;
  ASSERT_TRUE(ReadWholeFile(a, &fa).ok());
  ASSERT_TRUE(ReadWholeFile(b, &fb).ok());
  auto ra = RollupFileReader::Open(a);
  ASSERT_TRUE(ra.ok());
  const RollupBlockInfo b0 = (*ra)->blocks()[0], b1 = (*ra)->blocks()[1];
  ASSERT_EQ(b0.size, b1.size);

  // Block 1 of file a, copied to offset 0 of file a (its index now says series of block 1 at 0
  // would be wrong, so copy block 1 over block 0 and fix nothing): fails.
  std::string moved = fa;
  moved.replace(b0.offset, b0.size, fa.substr(b1.offset, b1.size));
  const std::string m = dir.path() + "/moved";
  ASSERT_TRUE(WriteBytes(m, moved));
  auto rm = RollupFileReader::Open(m);
  ASSERT_TRUE(rm.ok());
  RollupBlock block;
  Status st = (*rm)->ReadBlock(0, kAllColumns, &block);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.ToString();

  // Block 1 of file a (series+1) copied into file b at its offset 0, where b holds the very same
  // rows: the bytes are right but the file id in the seed is not.
  auto rb = RollupFileReader::Open(b);
  ASSERT_TRUE(rb.ok());
  ASSERT_EQ((*rb)->blocks()[0].size, b1.size);
  std::string foreign = fb;
  foreign.replace(0, b1.size, fa.substr(b1.offset, b1.size));
  const std::string fpath = dir.path() + "/foreign";
  ASSERT_TRUE(WriteBytes(fpath, foreign));
  auto rf = RollupFileReader::Open(fpath);
  ASSERT_TRUE(rf.ok());
  st = (*rf)->ReadBlock(0, kAllColumns, &block);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  // The same block in place still reads.
  EXPECT_TRUE((*rb)->ReadBlock(0, kAllColumns, &block).ok());
}

// A block copied as encoded (RawBlock -> AddEncodedBlock, what a merge does with a series nothing
// changes) reads back as the same rows in a file with another id and offsets, between rows
// encoded by the writer; out-of-order and multi-series blocks are refused; a damaged block is
// never handed out.
TEST(RollupFile, EncodedBlockCopiedIntoAnotherFile) {
  ::meterd::testing::TempDir dir;
  const std::vector<RollupRow> rows = MakeRows(Shape::kMixed, 6, 50, 7);
  auto src = WriteAndOpen(dir.path() + "/src", 1, RollupLayout::kPerSeries, rows);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  const RollupFileReader& r = **src;
  ASSERT_EQ(r.blocks().size(), 6u);  // one block per series
  auto w = RollupFileWriter::Create(dir.path() + "/dst", 99, RollupLayout::kPerSeries);
  ASSERT_TRUE(w.ok());
  // Series 0 and 1 through Add (a pending block when the copy comes), 2..4 copied, 5 through Add.
  ASSERT_TRUE((*w)->Add(rows.data(), 100).ok());
  for (size_t b = 2; b < 5; ++b) {
    auto raw = r.RawBlock(b);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE((*w)->AddEncodedBlock(r.blocks()[b], *raw).ok());
  }
  // Refused: a block that does not sort after the rows written.
  EXPECT_EQ((*w)->AddEncodedBlock(r.blocks()[1], *r.RawBlock(1)).code(),
            Status::Code::kInvalidArgument);
  RollupRow early = rows[0];  // rows before the copied block's end are refused by Add as well
  EXPECT_EQ((*w)->Add(&early, 1).code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE((*w)->Add(rows.data() + 250, 50).ok());
  auto info = (*w)->Finish();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->rows, rows.size());
  EXPECT_EQ(info->series, 6u);
  EXPECT_EQ(info->blocks, 6u);
  auto dst = RollupFileReader::Open(dir.path() + "/dst");
  ASSERT_TRUE(dst.ok()) << dst.status().ToString();
  std::vector<RollupRow> back;
  ASSERT_TRUE(ReadAllRows(**dst, &back).ok());
  EXPECT_EQ(back, rows);

  // A packed block of several series cannot be copied as one series.
  std::vector<RollupRow> packed_rows = MakeRows(Shape::kMixed, 3, 2, 8);
  auto packed = WriteAndOpen(dir.path() + "/packed", 2, RollupLayout::kPacked, packed_rows);
  ASSERT_TRUE(packed.ok());
  ASSERT_EQ((*packed)->blocks().size(), 1u);
  auto w2 = RollupFileWriter::Create(dir.path() + "/dst2", 100, RollupLayout::kPerSeries);
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ((*w2)->AddEncodedBlock((*packed)->blocks()[0], *(*packed)->RawBlock(0)).code(),
            Status::Code::kInvalidArgument);

  // A block damaged on disk: RawBlock returns its Corruption, like ReadBlock.
  std::string bytes;
  ASSERT_TRUE(ReadWholeFile(dir.path() + "/src", &bytes).ok());
  bytes[r.blocks()[3].offset + fmt::kBlockHeaderSize + 1] ^= 0x10;
  ASSERT_TRUE(WriteBytes(dir.path() + "/damaged", bytes));
  auto damaged = RollupFileReader::Open(dir.path() + "/damaged");
  ASSERT_TRUE(damaged.ok());
  EXPECT_TRUE((*damaged)->RawBlock(3).status().IsCorruption());
  EXPECT_TRUE((*damaged)->RawBlock(2).ok());
}

TEST(RollupFile, NewerVersionIsNotSupported) {
  ::meterd::testing::TempDir dir;
  const SmallFile f = MakeSmallFile(dir.path(), RollupLayout::kPacked);
  std::string bytes = f.bytes;
  bytes.back() = '\x02';
  ASSERT_TRUE(WriteBytes(f.path, bytes));
  auto r = RollupFileReader::Open(f.path);
  EXPECT_EQ(r.status().code(), Status::Code::kNotSupported) << r.status().ToString();
}

}  // namespace rollup_file_test
}  // namespace meterd::storage

namespace meterd::storage {
namespace rollup_file_test {

constexpr size_t kExampleSize = 677;
constexpr uint64_t kExampleXxh3 = 17597653397143817977ull;
constexpr uint64_t kExampleManifestXxh3 = 392274880462333121ull;

// The worked example of docs/format-rollup.md: 2 series x 3 hours, a month file (id 5). Its
// bytes are pinned, so a format change must update the doc. METERD_ROLLUP_EXAMPLE=<path> keeps
// a copy of the file for `xxd`.
std::vector<RollupRow> ExampleRows() {
  std::vector<RollupRow> rows;
  for (uint64_t series : {7, 9}) {
    for (int h = 0; h < 3; ++h) {
      RollupRow r;
      r.series_id = series;
      r.hour = kJan2026 + h * kSecondsPerHour;
      r.col[kColCount] = 3600;
      r.col[kColHeld] = 3600;
      r.col[kColLastOffset] = 3599;
      r.col[kColLast] = series == 7 ? 100 : 200 + h;
      r.col[kColIncrease] = series == 7 ? 10 : static_cast<uint64_t>(5 + h * h);
      rows.push_back(r);
    }
  }
  return rows;
}

TEST(RollupFormatDoc, WorkedExample) {
  ::meterd::testing::TempDir dir;
  const char* keep = std::getenv("METERD_ROLLUP_EXAMPLE");
  const std::string path = keep ? std::string(keep) : dir.path() + "/m202601-1.mru";
  auto info = WriteRollupFile(path, 5, RollupLayout::kPerSeries, ExampleRows());
  ASSERT_TRUE(info.ok());
  std::string bytes;
  ASSERT_TRUE(ReadWholeFile(path, &bytes).ok());
  EXPECT_EQ(bytes.size(), kExampleSize);
  EXPECT_EQ(base::Checksum64(bytes), kExampleXxh3) << std::hex << base::Checksum64(bytes);
  auto r = RollupFileReader::Open(path);
  ASSERT_TRUE(r.ok());
  std::vector<RollupRow> rows;
  ASSERT_TRUE(ReadAllRows(**r, &rows).ok());
  EXPECT_EQ(rows, ExampleRows());

  // The ROLLUP that lists it once hours 0..2 are sealed and merged.
  rollup::Manifest m;
  m.generation = 7;
  m.next_file_id = 6;
  m.sealed_before = kJan2026 + 3 * kSecondsPerHour;
  m.revision_log = 3;
  m.files.push_back({5, fmt::kKindMonth, kJan2026, 1, 6, 677});
  const std::string manifest = rollup::EncodeRollupManifest(m);
  EXPECT_EQ(manifest.size(), 96u);
  EXPECT_EQ(base::Checksum64(manifest), kExampleManifestXxh3)
      << std::hex << base::Checksum64(manifest);
  if (keep) {
    EXPECT_TRUE(WriteBytes(std::string(keep) + ".ROLLUP", manifest));
  }
}

}  // namespace rollup_file_test
}  // namespace meterd::storage
