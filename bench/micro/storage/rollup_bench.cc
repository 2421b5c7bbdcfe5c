// meterd — bench/micro/storage/rollup_bench.cc: rollup file write and block decode.
//
//   BM_RollupWriteMonth      write a month file (kPerSeries) of realistic series: items are
//                            rows, bytes are file bytes; counter bytes_per_row
//   BM_RollupReadBlock/mask  ReadBlock over every block of that file (in memory, one core):
//                            0 = all columns, 1 = a usage scan's columns (count, integral,
//                            increase, state), 2 = constant columns only
//   BM_RollupWriteHourPart   write an hour part (kPacked) of the same series
//
// A realistic month block: 720 rows (hours) of one series, count = 3600 and held = 3600
// constant, the gauge's integral drifting slowly, the counter's increase varying every hour,
// the state columns constant. Release builds only. Files live under $METERD_BENCH_DIR (default
// /tmp).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "storage/io/file.h"
#include "storage/rollup.h"

namespace meterd::storage {
namespace {

constexpr int64_t kJan2026 = 1767225600;
constexpr size_t kSeries = 2000;
constexpr size_t kHours = 720;

std::string BenchPath(const std::string& name) {
  const char* base = std::getenv("METERD_BENCH_DIR");
  const std::string dir = std::string(base ? base : "/tmp") + "/meterd-rollup-bench";
  (void)CreateDirIfMissing(dir);
  return dir + "/" + name;
}

// Sorted by (series, hour).
std::vector<RollupRow> MonthRows(size_t series, size_t hours) {
  std::mt19937_64 rng(42);
  std::vector<RollupRow> rows;
  rows.reserve(series * hours);
  for (size_t s = 0; s < series; ++s) {
    const uint64_t id = 0x9E3779B97F4A7C15ull * (s + 1) >> 8;  // spread like XXH3 ids
    int64_t level = 1000 + static_cast<int64_t>(rng() % 10000);
    uint64_t counter = rng() % 1000000;
    for (size_t h = 0; h < hours; ++h) {
      RollupRow r;
      r.series_id = id;
      r.hour = kJan2026 + static_cast<int64_t>(h) * kSecondsPerHour;
      if (rng() % 8 == 0) level += static_cast<int64_t>(rng() % 5) - 2;  // drifts slowly
      const uint64_t increase = 3000 + rng() % 4000;
      counter += increase;
      r.col[kColCount] = 3600;
      r.col[kColHeld] = 3600;
      r.col[kColFirstOffset] = 0;
      r.col[kColLastOffset] = 3599;
      r.col[kColMin] = 0;
      r.col[kColMax] = 0;
      r.col[kColLast] = counter;
      r.col[kColIntegralLo] = static_cast<uint64_t>(level) * 3600;
      r.col[kColIncrease] = increase;
      r.col[kColState0 + 1] = 3600;  // running all hour
      rows.push_back(r);
    }
  }
  // Sorted by construction: ids increase with s.
  std::sort(rows.begin(), rows.end(), [](const RollupRow& a, const RollupRow& b) {
    return a.series_id != b.series_id ? a.series_id < b.series_id : a.hour < b.hour;
  });
  return rows;
}

const std::vector<RollupRow>& Rows() {
  static const std::vector<RollupRow> rows = MonthRows(kSeries, kHours);
  return rows;
}

void BM_RollupWriteMonth(benchmark::State& state) {
  const auto& rows = Rows();
  const std::string path = BenchPath("month.mru");
  uint64_t bytes = 0;
  for (auto _ : state) {
    auto w = RollupFileWriter::Create(path, 1, RollupLayout::kPerSeries);
    if (!w.ok() || !(*w)->Add(rows.data(), rows.size()).ok()) {
      state.SkipWithError("write failed");
      return;
    }
    auto info = (*w)->Finish();
    if (!info.ok()) {
      state.SkipWithError(info.status().ToString().c_str());
      return;
    }
    bytes = info->file_bytes;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["bytes_per_row"] = static_cast<double>(bytes) / static_cast<double>(rows.size());
  state.counters["file_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RollupWriteMonth)->Unit(benchmark::kMillisecond);

void BM_RollupWriteHourPart(benchmark::State& state) {
  std::vector<RollupRow> hour;
  for (size_t i = 0; i < Rows().size(); i += kHours) hour.push_back(Rows()[i]);
  const std::string path = BenchPath("hour.mrp");
  uint64_t bytes = 0;
  for (auto _ : state) {
    auto w = RollupFileWriter::Create(path, 2, RollupLayout::kPacked);
    if (!w.ok() || !(*w)->Add(hour.data(), hour.size()).ok()) {
      state.SkipWithError("write failed");
      return;
    }
    auto info = (*w)->Finish();
    if (!info.ok()) {
      state.SkipWithError(info.status().ToString().c_str());
      return;
    }
    bytes = info->file_bytes;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * hour.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["bytes_per_row"] = static_cast<double>(bytes) / static_cast<double>(hour.size());
}
BENCHMARK(BM_RollupWriteHourPart)->Unit(benchmark::kMillisecond);

void BM_RollupReadBlock(benchmark::State& state) {
  const std::string path = BenchPath("read.mru");
  {
    auto w = RollupFileWriter::Create(path, 3, RollupLayout::kPerSeries);
    if (!w.ok() || !(*w)->Add(Rows().data(), Rows().size()).ok() || !(*w)->Finish().ok()) {
      state.SkipWithError("write failed");
      return;
    }
  }
  auto r = RollupFileReader::Open(path);
  if (!r.ok()) {
    state.SkipWithError(r.status().ToString().c_str());
    return;
  }
  const RollupFileReader& reader = **r;
  ColumnMask mask = kAllColumns;
  if (state.range(0) == 1) {
    mask = ColumnBit(kColCount) | ColumnBit(kColIntegralLo) | ColumnBit(kColIntegralHi) |
           ColumnBit(kColIncrease);
    for (size_t s = 0; s < kStateSlots; ++s) mask |= 1u << (kColState0 + s);
  } else if (state.range(0) == 2) {
    mask = ColumnBit(kColCount) | ColumnBit(kColHeld);
  }
  RollupBlock block;
  uint64_t rows = 0, bytes = 0, check = 0;
  for (auto _ : state) {
    for (size_t b = 0; b < reader.blocks().size(); ++b) {
      if (!reader.ReadBlock(b, mask, &block).ok()) {
        state.SkipWithError("ReadBlock failed");
        return;
      }
      check += block.col[kColCount].at(block.rows - 1) + block.hour.at(0);
      rows += block.rows;
      bytes += reader.blocks()[b].size;
    }
  }
  benchmark::DoNotOptimize(check);
  // Expected: every row's count is 3600, and one pass reads every row of the file.
  if (rows != state.iterations() * Rows().size()) state.SkipWithError("row count mismatch");
  state.SetItemsProcessed(static_cast<int64_t>(rows));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["bytes_per_row"] =
      static_cast<double>(reader.info().file_bytes) / static_cast<double>(Rows().size());
}
BENCHMARK(BM_RollupReadBlock)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace meterd::storage
