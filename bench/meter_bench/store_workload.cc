// meterd — bench/meter_bench/store_workload.cc
#include "bench/meter_bench/store_workload.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <vector>

#include "sim/fleet_sim.h"
#include "storage/base/checksum.h"
#include "storage/base/clock.h"
#include "storage/io/file.h"
#include "storage/store.h"

namespace meterd::bench {
namespace {

using storage::SampleBatch;
using storage::Store;
using storage::StoreOptions;

double Seconds(int64_t since_ns) {
  return static_cast<double>(base::MonotonicNanos() - since_ns) / 1e9;
}

// Order-independent digest of a set of samples: the sum of a hash of each (series, ts, value).
uint64_t SampleHash(uint64_t series, int64_t ts, uint64_t value) {
  const uint64_t words[3] = {series, static_cast<uint64_t>(ts), value};
  return base::Checksum64(words, sizeof(words));
}

StoreOptions MakeOptions(const std::string& dir) {
  StoreOptions o;
  o.dir = dir;
  // The workload flushes explicitly at the end, so bytes per sample are measured on segments
  // holding the whole run; a budget large enough not to flush midway.
  o.head_memory_budget = size_t{4} << 30;
  o.background_flush = false;
  o.retention_seconds = 0;
  return o;
}

}  // namespace

Status RunStoreWorkload(const StoreWorkloadOptions& opt, StoreWorkloadResult* result) {
  if (opt.fresh) METERD_RETURN_IF_ERROR(storage::RemoveTree(opt.dir));
  sim::FleetOptions fleet;
  fleet.seed = opt.seed;
  fleet.vms = opt.vms;
  // The run ends at the current hour, so no sample is in the future or past retention.
  const int64_t now = base::UnixSecondsNow();
  fleet.start_ts = (now - opt.seconds) / 3600 * 3600;
  sim::FleetSimulator simulator(fleet);
  result->series = simulator.series();

  uint64_t digest = 0, samples = 0;
  {
    METERD_ASSIGN_OR_RETURN(auto store, Store::Open(MakeOptions(opt.dir)));
    SampleBatch second, batch;
    std::deque<uint64_t> in_flight;
    const int64_t started = base::MonotonicNanos();
    int64_t last_progress = started;
    for (int64_t t = 0; t < opt.seconds; ++t) {
      second.Clear();
      simulator.Step(&second);
      for (size_t i = 0; i < second.size(); ++i) {
        const storage::Sample x = second.at(i);
        digest += SampleHash(x.series_id, x.ts, x.value_bits);
      }
      samples += second.size();
      for (size_t begin = 0; begin < second.size(); begin += opt.batch_samples) {
        batch.Clear();
        const size_t end = std::min(second.size(), begin + opt.batch_samples);
        for (size_t i = begin; i < end; ++i) batch.Add(second.at(i));
        METERD_ASSIGN_OR_RETURN(auto appended, store->Append(batch));
        if (appended.rejected) {
          return Status::InvalidArgument("workload: the store rejected a generated sample: " +
                                         appended.first_rejections[0].reason.ToString());
        }
        in_flight.push_back(appended.lsn);
        if (in_flight.size() > opt.window) {
          METERD_RETURN_IF_ERROR(store->WaitDurable(in_flight.front()));
          in_flight.pop_front();
        }
      }
      if (opt.progress && base::MonotonicNanos() - last_progress > 1000000000) {
        last_progress = base::MonotonicNanos();
        std::fprintf(stderr, "\r  ingest: %5.1f%%  %.2f M samples/s   ",
                     100.0 * static_cast<double>(t + 1) / static_cast<double>(opt.seconds),
                     static_cast<double>(samples) / Seconds(started) / 1e6);
      }
    }
    if (!in_flight.empty()) METERD_RETURN_IF_ERROR(store->WaitDurable(in_flight.back()));
    result->ingest_seconds = Seconds(started);
    if (opt.progress) std::fprintf(stderr, "\r%60s\r", "");
    const storage::StoreStats before = store->stats();
    result->head_peak_bytes = before.head_memory_bytes;
    result->head_peak_samples = before.head_samples;
    result->io_backend = before.io_backend;

    const int64_t flush_started = base::MonotonicNanos();
    METERD_RETURN_IF_ERROR(store->Flush());
    result->flush_seconds = Seconds(flush_started);
    METERD_RETURN_IF_ERROR(store->Close());
  }
  result->samples = samples;

  // Reopen: recovery reads the manifest and verifies every segment footer.
  const int64_t reopen_started = base::MonotonicNanos();
  METERD_ASSIGN_OR_RETURN(auto store, Store::Open(MakeOptions(opt.dir)));
  result->reopen_seconds = Seconds(reopen_started);
  const storage::StoreStats stats = store->stats();
  result->segment_bytes = stats.segment_bytes;
  result->segments = stats.segments;

  // Scan everything back, three times; the first run also checks every sample.
  std::vector<double> scan_times;
  for (int run = 0; run < 3; ++run) {
    uint64_t scanned = 0, scan_digest = 0;
    const bool check = run == 0;
    const int64_t scan_started = base::MonotonicNanos();
    storage::ScanStats scan_stats;
    METERD_RETURN_IF_ERROR(store->Scan(
        storage::ScanRequest{},
        [&](uint64_t id, storage::ValueType, std::span<const int64_t> ts,
            std::span<const uint64_t> values) {
          scanned += ts.size();
          if (check) {
            for (size_t i = 0; i < ts.size(); ++i) scan_digest += SampleHash(id, ts[i], values[i]);
          }
        },
        &scan_stats));
    scan_times.push_back(Seconds(scan_started));
    if (check) {
      result->scanned_samples = scanned;
      result->digest_matches =
          scanned == samples && scan_digest == digest && scan_stats.damaged.empty();
    }
  }
  std::sort(scan_times.begin(), scan_times.end());
  result->scan_seconds = scan_times[1];
  return store->Close();
}

}  // namespace meterd::bench
