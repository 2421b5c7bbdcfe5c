// meterd — bench/micro/storage/store_bench.cc
//
// Whole-store micro-benchmarks on the fleet simulator's data, against the real disk:
//   BM_StoreAppendDurable   durable appends of 1,000-sample batches (WAL group commit + head),
//                           a window of batches in flight as many agent connections would have
//   BM_StoreFullScan        decode every sample of flushed segments (warm page cache), one core
//   BM_StoreBytesPerSample  bytes on disk per sample after flush (a counter; time is the flush)
// Release builds only. Data lives under $METERD_BENCH_DIR or ./meterd-bench-data (not /tmp,
// which may be tmpfs and would hide the cost of fdatasync).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <deque>
#include <memory>
#include <string>

#include "sim/fleet_sim.h"
#include "storage/base/clock.h"
#include "storage/io/file.h"
#include "storage/store.h"

namespace meterd::storage {
namespace {

std::string BenchDir(const std::string& name) {
  const char* base = std::getenv("METERD_BENCH_DIR");
  std::string dir = std::string(base ? base : "meterd-bench-data") + "/" + name;
  (void)RemoveTree(dir);
  (void)CreateDirIfMissing(base ? base : "meterd-bench-data");
  return dir;
}

StoreOptions BenchOptions(const std::string& dir) {
  StoreOptions o;
  o.dir = dir;
  o.background_flush = false;
  o.retention_seconds = 0;
  o.head_memory_budget = size_t{4} << 30;
  return o;
}

// Pre-generated 1,000-sample batches of `vms` simulated VMs over `seconds`.
std::vector<SampleBatch> FleetBatches(size_t vms, int64_t seconds, int64_t start) {
  sim::FleetOptions fleet;
  fleet.vms = vms;
  fleet.start_ts = start;
  sim::FleetSimulator simulator(fleet);
  std::vector<SampleBatch> batches;
  SampleBatch second;
  for (int64_t t = 0; t < seconds; ++t) {
    second.Clear();
    simulator.Step(&second);
    for (size_t i = 0; i < second.size(); i += 1000) {
      SampleBatch b;
      for (size_t j = i; j < std::min(second.size(), i + 1000); ++j) b.Add(second.at(j));
      batches.push_back(std::move(b));
    }
  }
  return batches;
}

void BM_StoreAppendDurable(benchmark::State& state) {
  const size_t window = static_cast<size_t>(state.range(0));
  const int64_t start = (base::UnixSecondsNow() - 7200) / 3600 * 3600;
  const auto batches = FleetBatches(770, 600, start);  // 10,010 series x 10 min = 6 M samples
  const std::string dir = BenchDir("append");
  auto store = Store::Open(BenchOptions(dir));
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return;
  }
  uint64_t samples = 0;
  size_t next = 0;
  std::deque<uint64_t> in_flight;
  for (auto _ : state) {
    const SampleBatch& b = batches[next++ % batches.size()];
    auto r = (*store)->Append(b);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
    samples += b.size();
    in_flight.push_back(r->lsn);
    if (in_flight.size() > window) {
      (void)(*store)->WaitDurable(in_flight.front());
      in_flight.pop_front();
    }
  }
  if (!in_flight.empty()) (void)(*store)->WaitDurable(in_flight.back());
  state.SetItemsProcessed(static_cast<int64_t>(samples));
  state.counters["io_uring"] = std::string((*store)->stats().io_backend) == "io_uring" ? 1.0 : 0.0;
  store->reset();
  (void)RemoveTree(dir);
}
BENCHMARK(BM_StoreAppendDurable)
    ->Arg(16)
    ->Arg(64)
    ->Arg(256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// A store of 1,000 VMs x 1 hour (46.8 M samples), built once and shared by the scan benchmark.
struct ScanFixture {
  std::string dir;
  std::unique_ptr<Store> store;
  uint64_t samples = 0;
  uint64_t bytes = 0;
  double flush_seconds = 0;
};
ScanFixture& Fixture() {
  static ScanFixture* fixture = [] {
    auto* f = new ScanFixture;
    f->dir = BenchDir("scan");
    auto store = Store::Open(BenchOptions(f->dir));
    const int64_t start = (base::UnixSecondsNow() - 2 * 3600) / 3600 * 3600;
    sim::FleetOptions fleet;
    fleet.vms = 1000;
    fleet.start_ts = start;
    sim::FleetSimulator simulator(fleet);
    SampleBatch second;
    for (int t = 0; t < 3600; ++t) {
      second.Clear();
      simulator.Step(&second);
      f->samples += second.size();
      (void)(*store)->Append(second);
    }
    const int64_t started = base::MonotonicNanos();
    (void)(*store)->Flush();
    f->flush_seconds = static_cast<double>(base::MonotonicNanos() - started) / 1e9;
    f->bytes = (*store)->stats().segment_bytes;
    f->store = std::move(*store);
    return f;
  }();
  return *fixture;
}

void BM_StoreFullScan(benchmark::State& state) {
  ScanFixture& f = Fixture();
  uint64_t scanned = 0;
  for (auto _ : state) {
    uint64_t sum = 0;
    Status st = f.store->Scan(ScanRequest{}, [&](uint64_t, ValueType, std::span<const int64_t> ts,
                                                 std::span<const uint64_t> v) {
      scanned += ts.size();
      sum += v.empty() ? 0 : v.back();
    });
    benchmark::DoNotOptimize(sum);
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(scanned));
  state.counters["bytes_per_sample"] =
      static_cast<double>(f.bytes) / static_cast<double>(f.samples);
}
BENCHMARK(BM_StoreFullScan)->Unit(benchmark::kMillisecond);

void BM_StoreBytesPerSample(benchmark::State& state) {
  ScanFixture& f = Fixture();
  for (auto _ : state) benchmark::DoNotOptimize(f.bytes);
  state.counters["samples"] = static_cast<double>(f.samples);
  state.counters["segment_bytes"] = static_cast<double>(f.bytes);
  state.counters["bytes_per_sample"] =
      static_cast<double>(f.bytes) / static_cast<double>(f.samples);
  state.counters["flush_s"] = f.flush_seconds;
}
BENCHMARK(BM_StoreBytesPerSample)->Iterations(1);

}  // namespace
}  // namespace meterd::storage
