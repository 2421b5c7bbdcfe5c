// meterd — tests/storage/rollup/rollup_decode_test.cc: the decode paths of RollupFileReader that
// the damage and round-trip tests of rollup_file_test.cc do not single out: column aliases,
// checksums verified once at Open (a damaged block is recorded, the others stay readable), and
// linear (constant-step) hour columns.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/io/file.h"
#include "storage/rollup.h"
#include "storage/rollup/rollup_format.h"
#include "tests/storage/rollup/rollup_test_util.h"
#include "tests/testing/temp_dir.h"

namespace meterd::storage {
namespace rollup_decode_test {

using testing::kJan2026;
using testing::ReadAllRows;
using testing::WriteBytes;
using testing::WriteRollupFile;
namespace fmt = rollup_format;

constexpr size_t kMaxCol = fmt::kKeyColumns + kColMax;
constexpr size_t kLastCol = fmt::kKeyColumns + kColLast;

// Monotonic counters: max == last (an alias), min and increase vary. `series` series of `hours`.
std::vector<RollupRow> CounterRows(size_t series, size_t hours, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<RollupRow> rows;
  for (size_t s = 0; s < series; ++s) {
    uint64_t cum = rng() % 1000;
    for (size_t h = 0; h < hours; ++h) {
      RollupRow r;
      r.series_id = 100 + 3 * s;
      r.hour = kJan2026 + static_cast<int64_t>(h) * kSecondsPerHour;
      const uint64_t inc = 1000 + rng() % 100000;
      r.col[kColCount] = 3600;
      r.col[kColMin] = cum + inc / 3600;
      cum += inc;
      r.col[kColMax] = r.col[kColLast] = cum;
      r.col[kColIncrease] = inc;
      rows.push_back(r);
    }
  }
  return rows;
}

std::string ReadFile(const std::string& path) {
  std::string bytes;
  EXPECT_TRUE(ReadWholeFile(path, &bytes).ok());
  return bytes;
}

uint8_t EncodingOf(const std::string& bytes, uint64_t block_offset, size_t c) {
  return static_cast<uint8_t>(bytes[block_offset + fmt::kBlockFixedHeaderSize + c]);
}
uint32_t SizeOf(const std::string& bytes, uint64_t block_offset, size_t c) {
  return base::DecodeFixed32(bytes.data() + block_offset + fmt::kBlockFixedHeaderSize +
                             fmt::kBlockColumns + 4 * c);
}

// Recomputes block `b`'s checksum after an edit (a crafted file, or a writer bug).
void Reseal(std::string* bytes, uint64_t file_id, const RollupBlockInfo& b) {
  const size_t body = b.size - fmt::kBlockTrailerSize;
  base::EncodeFixed64(
      bytes->data() + b.offset + body,
      base::Checksum64(bytes->data() + b.offset, body, base::ContextSeed(file_id, b.offset)));
}

TEST(RollupAlias, EqualColumnIsStoredOnceAndSharedOnRead) {
  ::meterd::testing::TempDir dir;
  const auto rows = CounterRows(3, 720, 1);
  const std::string path = dir.path() + "/m";
  ASSERT_TRUE(WriteRollupFile(path, 7, RollupLayout::kPerSeries, rows).ok());
  const std::string bytes = ReadFile(path);
  auto r = RollupFileReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const RollupBlockInfo& b : (*r)->blocks()) {
    // last (later) is an alias of max (earlier); no other column is.
    EXPECT_EQ(EncodingOf(bytes, b.offset, kLastCol), fmt::kColumnAlias);
    EXPECT_EQ(SizeOf(bytes, b.offset, kLastCol), kMaxCol);
    for (size_t c = 0; c < fmt::kBlockColumns; ++c) {
      if (c != kLastCol) {
        EXPECT_NE(EncodingOf(bytes, b.offset, c), fmt::kColumnAlias) << c;
      }
    }
  }
  std::vector<RollupRow> got;
  ASSERT_TRUE(ReadAllRows(**r, &got).ok());
  EXPECT_EQ(got, rows);

  RollupBlock block;
  ASSERT_TRUE((*r)->ReadBlock(1, kAllColumns, &block).ok());
  EXPECT_FALSE(block.col[kColLast].constant);
  EXPECT_EQ(block.col[kColLast].data, block.col[kColMax].data);  // decoded once
  // min, max and increase: three arrays (the hours are linear, last shares max's).
  EXPECT_EQ(block.buffer.size(), 3u * 720);

  // Only the alias requested: its source's bytes are decoded into it, the source stays 0.
  ASSERT_TRUE((*r)->ReadBlock(2, ColumnBit(kColLast), &block).ok());
  EXPECT_TRUE(block.col[kColMax].constant);
  EXPECT_EQ(block.col[kColMax].value, 0u);
  for (size_t i = 0; i < block.rows; ++i) {
    ASSERT_EQ(block.col[kColLast].at(i), rows[2 * 720 + i].col[kColLast]);
  }
  // Only the source requested.
  ASSERT_TRUE((*r)->ReadBlock(2, ColumnBit(kColMax), &block).ok());
  EXPECT_TRUE(block.col[kColLast].constant);
  EXPECT_EQ(block.col[kColMax].at(719), rows[3 * 720 - 1].col[kColMax]);
}

TEST(RollupAlias, ConstantColumnsAreNotAliased) {
  ::meterd::testing::TempDir dir;
  auto rows = testing::MakeRows(testing::Shape::kRealistic, 2, 48, 3);
  const std::string path = dir.path() + "/m";
  ASSERT_TRUE(WriteRollupFile(path, 7, RollupLayout::kPerSeries, rows).ok());
  const std::string bytes = ReadFile(path);
  auto r = RollupFileReader::Open(path);
  ASSERT_TRUE(r.ok());
  for (const RollupBlockInfo& b : (*r)->blocks()) {
    for (size_t c = 0; c < fmt::kBlockColumns; ++c) {
      EXPECT_NE(EncodingOf(bytes, b.offset, c), fmt::kColumnAlias) << c;
    }
  }
}

// A resealed alias that names itself, a later column, a key column or a column out of range,
// or that is the first value column, is refused (Open records it, ReadBlock reports it).
TEST(RollupAlias, BadAliasesAreCorruption) {
  ::meterd::testing::TempDir dir;
  const auto rows = CounterRows(1, 24, 2);
  const std::string path = dir.path() + "/m";
  ASSERT_TRUE(WriteRollupFile(path, 9, RollupLayout::kPerSeries, rows).ok());
  const std::string good = ReadFile(path);
  const RollupBlockInfo b = (*RollupFileReader::Open(path))->blocks()[0];
  const size_t enc_at = b.offset + fmt::kBlockFixedHeaderSize;
  const size_t size_at = enc_at + fmt::kBlockColumns;
  struct Edit {
    size_t column;
    uint32_t target;
  };
  const Edit edits[] = {
      {kLastCol, static_cast<uint32_t>(kLastCol)},      // itself
      {kLastCol, static_cast<uint32_t>(kLastCol + 1)},  // a later column
      {kLastCol, 1},                                    // the hour column
      {kLastCol, 999},                                  // out of range
      {fmt::kKeyColumns, 0},                            // the first value column
  };
  for (const Edit& e : edits) {
    std::string bytes = good;
    bytes[enc_at + e.column] = static_cast<char>(fmt::kColumnAlias);
    base::EncodeFixed32(bytes.data() + size_at + 4 * e.column, e.target);
    Reseal(&bytes, 9, b);
    const std::string damaged = dir.path() + "/bad";
    ASSERT_TRUE(WriteBytes(damaged, bytes));
    auto r = RollupFileReader::Open(damaged);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    RollupBlock block;
    Status st = (*r)->ReadBlock(0, kAllColumns, &block);
    EXPECT_TRUE(st.IsCorruption()) << e.column << " -> " << e.target << ": " << st.ToString();
    EXPECT_EQ(block.rows, 0u);
  }
}

// Checksums are verified once, at Open: a damaged block does not fail the file, is reported
// by every ReadBlock of it (naming file and offset), and the other blocks stay readable.
TEST(RollupEagerVerification, DamagedBlockIsRecordedAtOpen) {
  ::meterd::testing::TempDir dir;
  const auto rows = CounterRows(3, 100, 4);
  const std::string path = dir.path() + "/m";
  ASSERT_TRUE(WriteRollupFile(path, 5, RollupLayout::kPerSeries, rows).ok());
  std::string bytes = ReadFile(path);
  const std::vector<RollupBlockInfo> blocks = (*RollupFileReader::Open(path))->blocks();
  ASSERT_EQ(blocks.size(), 3u);
  bytes[blocks[1].offset + blocks[1].size / 2] ^= 0x10;  // inside block 1's columns
  const std::string damaged = dir.path() + "/damaged";
  ASSERT_TRUE(WriteBytes(damaged, bytes));
  auto r = RollupFileReader::Open(damaged);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  RollupBlock block;
  for (int attempt = 0; attempt < 2; ++attempt) {
    Status st = (*r)->ReadBlock(1, ColumnBit(kColCount), &block);  // even a column not damaged
    ASSERT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_NE(st.message().find(damaged), std::string::npos) << st.ToString();
    EXPECT_NE(st.message().find("offset " + std::to_string(blocks[1].offset)), std::string::npos)
        << st.ToString();
    EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.ToString();
    EXPECT_EQ(block.rows, 0u);
  }
  for (size_t b : {0, 2}) {
    ASSERT_TRUE((*r)->ReadBlock(b, kAllColumns, &block).ok());
    for (size_t i = 0; i < block.rows; ++i) {
      ASSERT_EQ(block.col[kColIncrease].at(i), rows[b * 100 + i].col[kColIncrease]);
    }
  }
}

// A header damaged and resealed is also caught at Open and reported by ReadBlock.
TEST(RollupEagerVerification, ResealedHeaderDamageIsRecordedAtOpen) {
  ::meterd::testing::TempDir dir;
  const auto rows = CounterRows(2, 10, 5);
  const std::string path = dir.path() + "/m";
  ASSERT_TRUE(WriteRollupFile(path, 5, RollupLayout::kPerSeries, rows).ok());
  std::string bytes = ReadFile(path);
  const std::vector<RollupBlockInfo> blocks = (*RollupFileReader::Open(path))->blocks();
  bytes[blocks[0].offset + 4] ^= 0x01;  // rows
  Reseal(&bytes, 5, blocks[0]);
  const std::string damaged = dir.path() + "/damaged";
  ASSERT_TRUE(WriteBytes(damaged, bytes));
  auto r = RollupFileReader::Open(damaged);
  ASSERT_TRUE(r.ok());
  RollupBlock block;
  Status st = (*r)->ReadBlock(0, 0, &block);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("header"), std::string::npos) << st.ToString();
  EXPECT_TRUE((*r)->ReadBlock(1, 0, &block).ok());
}

// Packed blocks whose hour column is const-delta across series: linear, ascending or
// descending (each row its own series), and still validated and served correctly.
TEST(RollupLinearHours, AscendingAndDescendingAcrossSeries) {
  ::meterd::testing::TempDir dir;
  for (int64_t step : {int64_t{3600}, int64_t{-3600}, int64_t{7200}}) {
    std::vector<RollupRow> rows;
    for (size_t i = 0; i < 20; ++i) {
      RollupRow r;
      // Ascending: two rows a series; descending: one row a series.
      r.series_id = step > 0 ? 10 + i / 2 : 10 + i;
      r.hour = kJan2026 + step * static_cast<int64_t>(i) + (step < 0 ? 3600 * 19 : 0);
      r.col[kColCount] = i;
      rows.push_back(r);
    }
    const std::string path = dir.path() + "/p" + std::to_string(step);
    ASSERT_TRUE(WriteRollupFile(path, 3, RollupLayout::kPacked, rows).ok());
    auto r = RollupFileReader::Open(path);
    ASSERT_TRUE(r.ok());
    RollupBlock block;
    ASSERT_TRUE((*r)->ReadBlock(0, kAllColumns, &block).ok()) << step;
    EXPECT_TRUE(block.hour.linear()) << step;
    EXPECT_EQ(static_cast<int64_t>(block.hour.step), step);
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(static_cast<int64_t>(block.hour.at(i)), rows[i].hour) << step << " " << i;
      EXPECT_EQ(block.series.at(i), rows[i].series_id);
    }
    std::vector<RollupRow> got;
    ASSERT_TRUE(ReadAllRows(**r, &got).ok());
    EXPECT_EQ(got, rows);
  }
}

// A const-delta hour column that is off the hour, or descends within one series, is refused
// without a pass over the rows.
TEST(RollupLinearHours, BadStepIsCorruption) {
  ::meterd::testing::TempDir dir;
  const auto rows = CounterRows(1, 30, 6);
  const std::string path = dir.path() + "/m";
  ASSERT_TRUE(WriteRollupFile(path, 4, RollupLayout::kPerSeries, rows).ok());
  const std::string good = ReadFile(path);
  const RollupBlockInfo b = (*RollupFileReader::Open(path))->blocks()[0];
  // The hour column: 02, varint first hour, varint zz(3600) = a0 38 (2 bytes).
  size_t hour_at = b.offset + fmt::kBlockHeaderSize + SizeOf(good, b.offset, 0);
  const uint32_t hour_size = SizeOf(good, b.offset, 1);
  ASSERT_EQ(static_cast<uint8_t>(good[hour_at]), 2);
  const size_t zz_at = hour_at + hour_size - 2;
  for (uint64_t zz : {base::ZigZagEncode(3601), base::ZigZagEncode(-3600)}) {
    ASSERT_EQ(base::VarintLength(zz), 2);
    std::string bytes = good;
    bytes[zz_at] = static_cast<char>(0x80 | (zz & 0x7f));
    bytes[zz_at + 1] = static_cast<char>(zz >> 7);
    Reseal(&bytes, 4, b);
    const std::string damaged = dir.path() + "/bad";
    ASSERT_TRUE(WriteBytes(damaged, bytes));
    auto r = RollupFileReader::Open(damaged);
    ASSERT_TRUE(r.ok());
    RollupBlock block;
    Status st = (*r)->ReadBlock(0, 0, &block);
    EXPECT_TRUE(st.IsCorruption()) << zz << ": " << st.ToString();
  }
}

}  // namespace rollup_decode_test
}  // namespace meterd::storage
