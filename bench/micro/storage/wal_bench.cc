// meterd — bench/micro/storage/wal_bench.cc
//
// WAL group-commit throughput against the real disk:
//   BM_WalAppendWindow/K/backend   one thread appends ~14 KB records (a 1,000-sample batch at
//                                  ~14 bytes/sample) keeping K records in flight: Append, and when
//                                  the window is full, WaitDurable the oldest. Models many agent
//                                  connections pipelining their batches.
//   BM_WalAppendThreads/K          the same with 4 appending threads sharing one writer.
// items_processed = samples (1,000 per record), bytes_processed = payload bytes; counters:
// syncs_per_s and records_per_sync. Release builds only. Data goes to $METERD_BENCH_DIR, else
// /var/tmp (not /tmp, which may be tmpfs and would hide the cost of fdatasync); removed after.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <string>

#include "storage/io/file.h"
#include "storage/wal.h"

namespace meterd::storage {
namespace {

constexpr int kSamplesPerRecord = 1000;
constexpr size_t kRecordBytes = 14 * kSamplesPerRecord;  // ~14 bytes per encoded sample

std::string MakeBenchDir() {
  const char* base = std::getenv("METERD_BENCH_DIR");
  const std::string root = base ? base : "/var/tmp";
  if (!CreateDirIfMissing(root).ok()) return std::string();
  std::string tmpl = root + "/meterd-wal-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return std::string();
  return tmpl;
}

std::string MakeRecord(uint64_t seed) {
  std::string r(kRecordBytes, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= r.size(); i += 8) {
    const uint64_t v = rng() & 0x00FF00FF00FF00FFull;  // compressible-looking, not constant
    std::memcpy(r.data() + i, &v, 8);
  }
  return r;
}

struct Shared {
  std::string dir;
  std::unique_ptr<WalWriter> wal;
  WalStats before;
};
Shared g_shared;  // set up and torn down by thread 0 (the loop start/end are barriers)

bool SetUp(benchmark::State& state, IoBackend backend) {
  g_shared.dir = MakeBenchDir();
  if (g_shared.dir.empty()) {
    state.SkipWithError("mkdtemp failed");
    return false;
  }
  WalOptions options;
  options.dir = g_shared.dir;
  options.backend = backend;
  auto w = WalWriter::Open(options, 1);
  if (!w.ok()) {
    state.SkipWithError(w.status().ToString().c_str());
    return false;
  }
  g_shared.wal = std::move(w).value();
  g_shared.before = g_shared.wal->stats();
  state.SetLabel(IoBackendName(g_shared.wal->backend()));
  return true;
}

void TearDown(benchmark::State& state) {
  if (!g_shared.wal->Close().ok()) state.SkipWithError("close failed");
  const WalStats after = g_shared.wal->stats();
  const double syncs = static_cast<double>(after.syncs - g_shared.before.syncs);
  const double records = static_cast<double>(after.records - g_shared.before.records);
  state.counters["syncs_per_s"] = benchmark::Counter(syncs, benchmark::Counter::kIsRate);
  state.counters["records_per_sync"] = syncs > 0 ? records / syncs : 0;
  g_shared.wal.reset();
  (void)RemoveTree(g_shared.dir);
}

// Appends with a window of `window` records in flight (Append; when full, WaitDurable the oldest).
// `wal` is read inside the loop: the loop's start is the barrier after thread 0's SetUp.
void AppendLoop(benchmark::State& state, const std::unique_ptr<WalWriter>& writer, size_t window) {
  const std::string record = MakeRecord(state.thread_index() + 1);
  std::deque<uint64_t> in_flight;
  WalWriter* wal = nullptr;
  for (auto _ : state) {
    if (wal == nullptr) wal = writer.get();
    auto lsn = wal->Append(record);
    if (!lsn.ok()) {
      state.SkipWithError(lsn.status().ToString().c_str());
      break;
    }
    in_flight.push_back(*lsn);
    if (in_flight.size() >= window) {
      if (!wal->WaitDurable(in_flight.front()).ok()) {
        state.SkipWithError("WaitDurable failed");
        break;
      }
      in_flight.pop_front();
    }
  }
  // The last <= window records are made durable by TearDown's Close(), after the timer: with
  // thousands of iterations that is well under 1 % of the run. (Waiting here instead would race
  // with thread 0 destroying the writer in the multi-threaded variant.)
  state.SetItemsProcessed(state.iterations() * kSamplesPerRecord);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kRecordBytes));
}

void BM_WalAppendWindow(benchmark::State& state) {
  const auto backend = static_cast<IoBackend>(state.range(1));
  if (!SetUp(state, backend)) return;
  AppendLoop(state, g_shared.wal, static_cast<size_t>(state.range(0)));
  TearDown(state);
}
BENCHMARK(BM_WalAppendWindow)
    ->ArgNames({"window", "backend"})
    ->ArgsProduct({{1, 16, 64, 256},
                   {static_cast<int>(IoBackend::kPosix), static_cast<int>(IoBackend::kIoUring)}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_WalAppendThreads(benchmark::State& state) {
  if (state.thread_index() == 0 && !SetUp(state, IoBackend::kAuto)) return;
  AppendLoop(state, g_shared.wal, static_cast<size_t>(state.range(0)));
  if (state.thread_index() == 0) TearDown(state);
}
BENCHMARK(BM_WalAppendThreads)
    ->ArgNames({"window"})
    ->Arg(16)
    ->Arg(64)
    ->Threads(4)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace meterd::storage
