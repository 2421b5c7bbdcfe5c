// meterd — bench/meter_bench/store_workload.h
//
// The store workload shared by `meter-bench demo` and `meter-bench store`: stream a simulated
// fleet's per-second samples into a real store (durable appends, group commit, a window of
// batches in flight like many agent connections), flush, reopen (recovery), and scan everything
// back, checking the scanned samples against the generator's own count and digest.
//
// Thread-safety: one workload at a time per data directory.
#pragma once

#include <cstdint>
#include <string>

#include "storage/base/status.h"

namespace meterd::bench {

struct StoreWorkloadOptions {
  std::string dir;
  size_t vms = 1000;
  int64_t seconds = 3600;
  size_t batch_samples = 1000;
  size_t window = 64;  // batches in flight before waiting for the oldest to be durable
  uint64_t seed = 42;
  bool fresh = true;  // remove the directory first
  bool progress = true;
};

struct StoreWorkloadResult {
  uint64_t samples = 0;
  uint64_t series = 0;
  double ingest_seconds = 0;
  double flush_seconds = 0;
  double reopen_seconds = 0;
  double scan_seconds = 0;  // median of the scan runs
  uint64_t segment_bytes = 0;
  uint64_t segments = 0;
  uint64_t head_peak_bytes = 0;  // head memory accounted just before the final flush
  uint64_t head_peak_samples = 0;
  uint64_t scanned_samples = 0;
  bool digest_matches = false;
  std::string io_backend;
  uint64_t wal_syncs = 0;
};

Status RunStoreWorkload(const StoreWorkloadOptions& options, StoreWorkloadResult* result);

}  // namespace meterd::bench
