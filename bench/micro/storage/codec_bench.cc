// meterd — bench/micro/storage/codec_bench.cc
//
// Encode and decode cost per row of each column codec on the data shapes the store sees, and
// the bytes per row each shape costs. Blocks of 3,600 rows: one series-hour at 1 s cadence.
// Release builds only.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "storage/codec.h"
#include "storage/sample_batch.h"

namespace meterd::storage {
namespace {

constexpr size_t kRows = 3600;

enum Shape : int64_t {
  kConstant,
  kTimestamps,
  kSteadyCounter,
  kBurstyCounter,
  kNetCounter,
  kDecimalGauge,
  kRandomDouble,
};
const char* kShapeNames[] = {"constant",    "timestamps_1s", "steady_counter", "bursty_counter",
                             "net_counter", "decimal_gauge", "random_double"};

bool IsFloat(int64_t shape) { return shape == kDecimalGauge || shape == kRandomDouble; }

std::vector<uint64_t> Make(int64_t shape) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> v(kRows);
  uint64_t x = 1ull << 40;
  double g = 40;
  for (size_t i = 0; i < kRows; ++i) {
    switch (shape) {
      case kConstant:
        v[i] = 8ull << 30;
        break;
      case kTimestamps:
        v[i] = 1767225600 + i;
        break;
      case kSteadyCounter:
        x += 2000000000 + rng() % 20000000;
        v[i] = x;
        break;  // CPU ns
      case kBurstyCounter:
        x += rng() % 10 == 0 ? 4096 * (1 + rng() % 64) : 0;
        v[i] = x;
        break;
      case kNetCounter:
        x += 2000 + rng() % 3000;
        v[i] = x;
        break;
      case kDecimalGauge:
        g = std::round((g + static_cast<double>(static_cast<int>(rng() % 11) - 5) / 100) * 100) /
            100;
        v[i] = DoubleToBits(g);
        break;
      default:
        v[i] = DoubleToBits(static_cast<double>(rng()) / 3.7);
        break;
    }
  }
  return v;
}

ColumnPlan Analyze(int64_t shape, const std::vector<uint64_t>& v) {
  return IsFloat(shape) ? AnalyzeFloatColumn(v.data(), v.size())
                        : AnalyzeIntColumn(v.data(), v.size());
}

void Encode(int64_t shape, const std::vector<uint64_t>& v, const ColumnPlan& p, std::string* out) {
  if (IsFloat(shape)) {
    EncodeFloatColumn(v.data(), v.size(), p, out);
  } else {
    EncodeIntColumn(v.data(), v.size(), p, out);
  }
}

void BM_Encode(benchmark::State& state) {
  const int64_t shape = state.range(0);
  const auto v = Make(shape);
  std::string out;
  for (auto _ : state) {
    out.clear();
    Encode(shape, v, Analyze(shape, v), &out);  // analyze is part of encoding a block
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(std::string(kShapeNames[shape]) + " " +
                 ColumnEncodingName(Analyze(shape, v).encoding));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kRows));
  state.counters["bytes_per_row"] = static_cast<double>(out.size()) / kRows;
}

void BM_Decode(benchmark::State& state) {
  const int64_t shape = state.range(0);
  const auto v = Make(shape);
  std::string enc;
  Encode(shape, v, Analyze(shape, v), &enc);
  std::vector<uint64_t> out(kRows);
  for (auto _ : state) {
    Status st = IsFloat(shape) ? DecodeFloatColumn(enc, kRows, out.data())
                               : DecodeIntColumn(enc, kRows, out.data());
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
    benchmark::DoNotOptimize(out.data());
  }
  if (out != v) state.SkipWithError("decode mismatch");
  state.SetLabel(std::string(kShapeNames[shape]) + " " +
                 ColumnEncodingName(Analyze(shape, v).encoding));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kRows));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * enc.size()));
  state.counters["bytes_per_row"] = static_cast<double>(enc.size()) / kRows;
}

BENCHMARK(BM_Encode)->DenseRange(kConstant, kRandomDouble);
BENCHMARK(BM_Decode)->DenseRange(kConstant, kRandomDouble);

}  // namespace
}  // namespace meterd::storage
