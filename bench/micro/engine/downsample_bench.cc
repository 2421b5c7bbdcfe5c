// meterd — bench/micro/engine/downsample_bench.cc
//
// What hourly rollup maintenance costs per sample, next to the store append it rides on. The
// fleet simulator's per-second data (sim/fleet_sim.h: VMs x 13 metrics) is cut into one
// batch per agent-second (kVmsPerAgent VMs per hypervisor agent) and fed, in time order:
//   BM_StoreAppend            Store::Append of every batch, no downsampler; WaitDurable at the
//                             end so the WAL's group commits are inside the measurement
//   BM_StoreAppendAndRollup   the same plus what IngestPipeline::Ingest does for rollups: the
//                             closing watermark, the late-sample scan, Downsampler::Apply
//   BM_RollupApply            Downsampler::Apply alone on the same batches (the store is only
//                             opened, empty)
// One iteration is one second of the whole fleet; items_processed = samples, so the output
// reads samples/s. The target: (AppendAndRollup / Append) - 1 < 10 %, from the medians
// of --benchmark_repetitions=3 --benchmark_report_aggregates_only=true.
// Every sample is in order and in an open hour (the clock is injected and no hour closes), as
// in steady state; each measured run starts with a warm-up second outside the timing, so the
// downsampler's one-off first look at each counter's previous value is not counted.
// Release builds only. Data lives under $METERD_BENCH_DIR (default /tmp).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/downsample/downsampler.h"
#include "engine/registry/series_registry.h"
#include "sim/fleet_sim.h"
#include "storage/io/file.h"
#include "storage/store.h"

namespace meterd::engine {
namespace {

using storage::SampleBatch;

// A hypervisor agent's share of the fleet: 25 VMs x 13 metrics = 325 samples a batch.
constexpr size_t kVmsPerAgent = 25;
// 2026-01-01T00:10:00Z. A run at the default size (at most 462 s of data) crosses no hour
// boundary: steady state inside an hour.
constexpr int64_t kStart = 1767225600 + 600;

std::string BenchDir(const std::string& name) {
  const char* base = std::getenv("METERD_BENCH_DIR");
  const std::string root = std::string(base != nullptr ? base : "/tmp") + "/meterd-ds-bench";
  (void)storage::CreateDirIfMissing(root);
  const std::string dir = root + "/" + name;
  (void)storage::RemoveTree(dir);
  (void)storage::CreateDirIfMissing(dir);
  return dir;
}

// Seconds of data a run measures: about $METERD_BENCH_SAMPLES samples (default 6 M), whatever
// the fleet size, and at least 20 s.
int64_t MeasuredSeconds(size_t vms) {
  const char* env = std::getenv("METERD_BENCH_SAMPLES");
  const int64_t samples = env != nullptr ? std::atoll(env) : 6'000'000;
  return std::max<int64_t>(20, samples / static_cast<int64_t>(13 * vms));
}

// `seconds` of a fleet of `vms` VMs: batches[s] are the agent batches of second s.
struct FleetData {
  size_t vms = 0;
  std::vector<std::vector<SampleBatch>> seconds;
  uint64_t samples = 0;  // excluding the warm-up second 0
};

const FleetData& Fleet(size_t vms) {
  static std::map<size_t, FleetData>* cache = new std::map<size_t, FleetData>;
  FleetData& f = (*cache)[vms];
  if (!f.seconds.empty()) return f;
  f.vms = vms;
  const int64_t seconds = 1 + MeasuredSeconds(vms);  // +1: the warm-up second
  sim::FleetOptions o;
  o.vms = vms;
  o.start_ts = kStart;
  sim::FleetSimulator simulator(o);
  SampleBatch second;
  const size_t per_batch = kVmsPerAgent * sim::kMetricsPerVm;
  for (int64_t s = 0; s < seconds; ++s) {
    second.Clear();
    simulator.Step(&second);
    std::vector<SampleBatch> batches;
    for (size_t i = 0; i < second.size(); i += per_batch) {
      SampleBatch b;
      b.Reserve(per_batch);
      for (size_t j = i; j < std::min(second.size(), i + per_batch); ++j) b.Add(second.at(j));
      batches.push_back(std::move(b));
    }
    if (s > 0) f.samples += second.size();
    f.seconds.push_back(std::move(batches));
  }
  return f;
}

// A store, a series registry with the fleet defined, and (optionally) a downsampler, in a fresh
// directory, on a clock fixed just after the data.
struct Engine {
  ~Engine() {
    ds.reset();
    if (store) (void)store->Close();
    store.reset();
    registry.reset();
    if (!dir.empty()) (void)storage::RemoveTree(dir);
  }

  std::string dir;
  int64_t now = 0;
  MetricCatalog catalog;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<SeriesRegistry> registry;
  std::unique_ptr<Downsampler> ds;
  // Per batch, its rows' series slots (the ingest pipeline's per-session cache holds these).
  std::vector<std::vector<std::vector<SeriesSlot>>> slots;

  Status Open(const std::string& name, const FleetData& fleet, bool with_downsampler) {
    dir = BenchDir(name);
    now = kStart + static_cast<int64_t>(fleet.seconds.size());
    storage::StoreOptions so;
    so.dir = dir + "/store";
    so.background_flush = false;
    so.retention_seconds = 0;
    so.head_memory_budget = size_t{4} << 30;  // no flush inside the measurement
    so.now = [this] { return now; };
    METERD_ASSIGN_OR_RETURN(store, storage::Store::Open(so));
    METERD_ASSIGN_OR_RETURN(registry, SeriesRegistry::Open(dir, &catalog));
    std::vector<std::string> resources;
    std::vector<SeriesDefinition> defs;
    resources.reserve(fleet.vms);
    for (size_t vm = 0; vm < fleet.vms; ++vm) {
      std::string key = sim::SeriesKey(vm, 0);
      resources.push_back(key.substr(0, key.find('|')));
    }
    for (size_t vm = 0; vm < fleet.vms; ++vm) {
      for (size_t m = 0; m < sim::kMetricsPerVm; ++m) {
        defs.push_back({sim::SeriesId(vm, m), resources[vm], sim::kVmMetrics[m].name});
      }
    }
    METERD_ASSIGN_OR_RETURN(DefineOutcome defined, registry->Define(defs, "", true));
    if (defined.refused != 0) {
      return Status::InvalidArgument("series refused: " +
                                     defined.first_refusals.front().second.ToString());
    }
    slots.clear();
    for (const auto& second : fleet.seconds) {
      auto& per_second = slots.emplace_back();
      for (const SampleBatch& b : second) {
        auto& s = per_second.emplace_back(b.size());
        registry->LookupMany(b.series(), s.data());
      }
    }
    if (with_downsampler) {
      DownsampleOptions o;
      o.now = [this] { return now; };
      o.initial_lookback_seconds = now - kStart;  // the data's hour is the first open one
      std::vector<std::string> report;
      METERD_ASSIGN_OR_RETURN(ds, Downsampler::Open(dir, o, store.get(), registry.get(), &report));
    }
    return Status::OK();
  }
};

enum class Mode { kAppend, kAppendAndRollup, kApplyOnly };

// The rollup part of IngestPipeline::Ingest for one accepted batch.
Status Rollup(Downsampler* ds, const SampleBatch& b, const std::vector<SeriesSlot>& slots,
              std::vector<LateSample>* late, uint64_t lsn) {
  const int64_t closing = ds->closing_before();
  late->clear();
  // As the pipeline: a request whose base time (here the batch's one second) is in an open
  // hour has no late sample.
  const int64_t* times = b.timestamps().data();
  if (!b.empty() && times[0] < closing) {
    for (size_t j = 0; j < b.size(); ++j) {
      if (times[j] < closing) late->push_back(LateSample{b.series()[j], times[j]});
    }
  }
  uint64_t late_id = 0;
  if (!late->empty()) {
    METERD_ASSIGN_OR_RETURN(late_id, ds->MarkLate(*late));
  }
  return ds->Apply(b, slots, false, late_id, lsn);
}

void RunFleet(benchmark::State& state, Mode mode) {
  const FleetData& fleet = Fleet(static_cast<size_t>(state.range(0)));
  Engine e;
  static int run = 0;
  Status s = e.Open("run" + std::to_string(run++), fleet, mode != Mode::kAppend);
  if (!s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return;
  }
  std::vector<LateSample> late;
  uint64_t lsn = 0;
  auto feed = [&](size_t second) -> Status {
    const auto& batches = fleet.seconds[second];
    for (size_t i = 0; i < batches.size(); ++i) {
      const SampleBatch& b = batches[i];
      if (mode == Mode::kApplyOnly) {
        METERD_RETURN_IF_ERROR(e.ds->Apply(b, e.slots[second][i], false, 0, ++lsn));
        continue;
      }
      METERD_ASSIGN_OR_RETURN(storage::AppendResult r, e.store->Append(b));
      lsn = r.lsn;
      if (mode == Mode::kAppendAndRollup) {
        METERD_RETURN_IF_ERROR(Rollup(e.ds.get(), b, e.slots[second][i], &late, r.lsn));
      }
    }
    return Status::OK();
  };
  // Warm-up: second 0, outside the timing.
  s = feed(0);
  if (s.ok() && mode != Mode::kApplyOnly) s = e.store->WaitDurable(lsn);
  if (!s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return;
  }
  size_t second = 1;
  for (auto _ : state) {
    s = feed(second++);
    if (second == fleet.seconds.size() && s.ok() && mode != Mode::kApplyOnly) {
      s = e.store->WaitDurable(lsn);  // the last iteration waits for the WAL to catch up
    }
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(fleet.samples));
  state.counters["samples_per_second_of_fleet"] =
      static_cast<double>(fleet.samples) / static_cast<double>(fleet.seconds.size() - 1);
  if (e.ds) {
    const DownsampleStats st = e.ds->stats();
    state.counters["in_order"] = static_cast<double>(st.in_order_samples);
    state.counters["out_of_order"] = static_cast<double>(st.out_of_order_samples);
    state.counters["open_buckets"] = static_cast<double>(st.open_buckets);
  }
}

void BM_StoreAppend(benchmark::State& state) { RunFleet(state, Mode::kAppend); }
void BM_StoreAppendAndRollup(benchmark::State& state) { RunFleet(state, Mode::kAppendAndRollup); }
void BM_RollupApply(benchmark::State& state) { RunFleet(state, Mode::kApplyOnly); }

}  // namespace

// Registered by hand: Iterations differ per argument.
static void RegisterAll() {
  // 100 VMs: every per-series structure fits in the caches; 1,000 and 10,000: they do not.
  for (int64_t vms : {100, 1000, 10000}) {
    const int64_t seconds = MeasuredSeconds(static_cast<size_t>(vms));
    for (auto [name, fn] : {std::pair{"BM_StoreAppend", &BM_StoreAppend},
                            std::pair{"BM_StoreAppendAndRollup", &BM_StoreAppendAndRollup},
                            std::pair{"BM_RollupApply", &BM_RollupApply}}) {
      benchmark::RegisterBenchmark(name, fn)->Arg(vms)->Iterations(seconds)->UseRealTime()->Unit(
          benchmark::kMillisecond);
    }
  }
}
static const int kRegistered = (RegisterAll(), 0);

}  // namespace meterd::engine
