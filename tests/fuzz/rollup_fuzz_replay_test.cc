// meterd — tests/fuzz/rollup_fuzz_replay_test.cc
//
// The rollup fuzz target (rollup_fuzz.cc) over its corpus (tests/fuzz/corpus/rollup) and 2,000
// seeded mutations in every build. The seeds are written by RollupFileWriter: a month file
// (one series a block), an hour part (blocks across series) and an empty file. Blocks, index
// and footer are checksummed, so a damaged file never yields a row the intact one does not hold.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/io/file.h"
#include "storage/rollup.h"
#include "storage/sample_batch.h"
#include "tests/fuzz/fuzz_replay.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {
namespace rollup_fuzz_replay_test {

using storage::RollupRow;

std::string WriteRollup(uint64_t file_id, storage::RollupLayout layout,
                        const std::vector<RollupRow>& rows) {
  const std::string path = FreshScratchDir("rollup-writer") + "/f.mrp";
  auto w = storage::RollupFileWriter::Create(path, file_id, layout, storage::IoBackend::kPosix);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return {};
  if (!rows.empty()) {
    EXPECT_TRUE((*w)->Add(rows.data(), rows.size()).ok());
  }
  EXPECT_TRUE((*w)->Finish().ok());
  std::string data;
  EXPECT_TRUE(storage::ReadWholeFile(path, &data).ok());
  return data;
}

// A gauge-like row (count, offsets, sum, min, max, last, integral), a counter-like row or a
// state row, with values varying by hour so that the writer picks several encodings and
// aliases identical columns.
RollupRow Row(uint64_t series, int64_t hour, int kind, uint64_t v) {
  RollupRow r;
  r.series_id = series;
  r.hour = hour;
  r.col[storage::kColCount] = 360;
  r.col[storage::kColFirstOffset] = 0;
  r.col[storage::kColLastOffset] = 3590;
  switch (kind) {
    case 0:
      r.col[storage::kColSum] = storage::DoubleToBits(360.0 * double(v));
      r.col[storage::kColMin] = v;
      r.col[storage::kColMax] = v + (v % 3);
      r.col[storage::kColLast] = v;
      r.col[storage::kColIntegralLo] = v * 3600;
      break;
    case 1:
      r.col[storage::kColMin] = 1000 * v;
      r.col[storage::kColMax] = 1000 * v + 999;
      r.col[storage::kColLast] = 1000 * v + 999;
      r.col[storage::kColIncrease] = 999 + (v % 5 == 0 ? 7 : 0);
      r.col[storage::kColResets] = v % 11 == 0 ? 1 : 0;
      break;
    default:
      r.col[storage::kColHeld] = 3600;
      r.col[storage::kColState0 + 1] = v % 4 == 0 ? 1800 : 3600;
      r.col[storage::kColState0 + 2] = v % 4 == 0 ? 1800 : 0;
      r.col[storage::kColLast] = v % 4 == 0 ? 2 : 1;
      break;
  }
  if (v % 9 == 0) {
    r.col[storage::kColRevision] = 1;
    r.col[storage::kColRevisedAt] = 1767300000;
    r.col[storage::kColFlags] = storage::kRowImported;
  }
  return r;
}

std::vector<Seed> WriterSeeds() {
  const int64_t h0 = 1767225600;  // 2026-01-01T00:00:00Z
  std::vector<Seed> seeds;
  std::vector<RollupRow> month;
  for (uint64_t s = 1; s <= 3; ++s) {
    for (int64_t h = 0; h < 24; ++h) {
      if (s == 3 && h % 5 == 2) continue;  // a gap: the hour column is not constant-delta
      month.push_back(
          Row(s * 1000, h0 + h * 3600, static_cast<int>(s - 1), static_cast<uint64_t>(h)));
    }
  }
  seeds.emplace_back("month-per-series.mru",
                     WriteRollup(11, storage::RollupLayout::kPerSeries, month));
  std::vector<RollupRow> part;
  for (uint64_t s = 1; s <= 12; ++s) part.push_back(Row(s * 7919, h0, static_cast<int>(s % 3), s));
  seeds.emplace_back("hour-part.mrp", WriteRollup(12, storage::RollupLayout::kPacked, part));
  seeds.emplace_back("single-row.mrp",
                     WriteRollup(13, storage::RollupLayout::kPacked, {Row(5, h0, 1, 3)}));
  seeds.emplace_back("empty.mrp", WriteRollup(14, storage::RollupLayout::kPacked, {}));
  return seeds;
}

TEST(RollupFuzzReplay, CorpusAndSeededMutations) {
  const auto seeds = WriterSeeds();
  const Decoded month = DecodeRollup(seeds[0].second);
  ASSERT_TRUE(month.status.ok()) << month.status.ToString();
  EXPECT_EQ(month.items.size(), 24u * 3 - 5);
  ReplayOptions o;
  o.name = "rollup";
  o.decode = DecodeRollup;
  o.oracle = Oracle::kSubset;
  Replay(o, seeds);
}

}  // namespace rollup_fuzz_replay_test
}  // namespace meterd::fuzz
