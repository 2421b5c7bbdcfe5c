// meterd — bench/meter_bench/soak_workload.h
//
// The soak of `meter-bench soak`: kill -9 of the real meterd, over and over, under full ingest.
// Each cycle starts meterd on the same data directory (a recovery, except the first), has A
// agent connections stream batches as fast as they are acknowledged (a window of batches in
// flight each), kills the server with SIGKILL after a random delay around --kill-every
// (uniform in [S/2, 3S/2], so that kills land everywhere: mid-append, mid-flush, mid-seal),
// then restarts it and checks that cycle's data through an export:
//   - lost:   a sample of an acknowledged batch that is not there;
//   - twice:  a (series, second) exported more than once;
//   - unsent: a sample with a value never sent for its second, or at a second no batch covered.
// A sent but unacknowledged batch may be there or not (whole or in part: it was never
// promised). Every cycle writes its own time range (in the past, inside the retention), so a
// cycle's export holds that cycle's batches only; series stay defined across cycles.
//
// Thread-safety: one workload at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/base/status.h"

namespace meterd::bench {

struct SoakWorkloadOptions {
  size_t cycles = 1000;
  double kill_every_s = 1.0;  // mean seconds from a cycle's first batch to its kill
  size_t agents = 4;          // connections streaming at once
  size_t series_per_agent = 250;
  int64_t seconds_per_batch = 2;  // a batch: every series of its agent for this many seconds
  uint32_t window = 32;           // batches in flight per connection
  int retention_days = 35;        // the meterd's --retention-days; the cycles' ranges fit in it
  std::string meterd_path;
  std::vector<std::string> meterd_args;
  std::string dir = "/tmp/meter-bench-soak";  // meterd's data directory (recreated once)
  uint64_t seed = 17;
  size_t progress_every = 50;  // a progress line every N cycles (0: none)
  int start_timeout_s = 120;   // how long one restart (recovery) may take before the soak fails
};

struct SoakWorkloadResult {
  uint64_t cycles = 0;            // kill -9 + restart + check, completed
  uint64_t kills_mid_stream = 0;  // kills that landed while every agent was still sending
  uint64_t batches_sent = 0;
  uint64_t batches_acked = 0;
  uint64_t samples_acked = 0;    // samples of acknowledged batches (each checked)
  uint64_t samples_present = 0;  // exported after the restarts
  uint64_t lost = 0;
  uint64_t twice = 0;
  uint64_t unsent = 0;
  uint64_t partial_acks = 0;       // acknowledgements that did not accept the whole batch
  double ingest_seconds = 0;       // summed over cycles: first send to kill
  double restart_seconds_max = 0;  // the slowest recovery (start to listening)
  double restart_seconds_sum = 0;
  double wall_seconds = 0;
};

Status RunSoakWorkload(const SoakWorkloadOptions& options, SoakWorkloadResult* result);

}  // namespace meterd::bench
