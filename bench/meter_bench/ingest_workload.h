// meterd — bench/meter_bench/ingest_workload.h
//
// The ingest workload of `meter-bench ingest`: durable ingest over loopback TCP, end to end.
// It starts a real meterd on a fresh data directory (or uses a running one), creates one agent key
// per simulated hypervisor, and has A agents — each its own connection and key, simulating V
// VMs — define their series and stream S seconds of per-second samples:
//   - rate 0 ("max"): every agent sends as fast as acknowledgements allow (a window of
//     batches in flight), as a fleet catching up; measures throughput. The samples are the last
//     S seconds, and the meterd it starts gets `--grace S+7200` (unless --meterd-arg sets one) so
//     that all of them are on time whatever the minute of the hour: the late-data path is not
//     what this measures;
//   - rate 1 ("1x"): every agent sends one batch per second at its own phase in the second,
//     like real agents; measures acknowledgement latency at that connection count;
//   - max rate with backlog_crosses_hour: a backlog crossing a closed hour, the same whatever
//     the minute of the hour. With m the seconds into the current hour when the run starts and
//     P the start of the previous hour, the S seconds replayed are [P - S/2, P + S - S/2) and
//     the meterd it starts gets `--grace m+1800`: hour P - 1h (the first half) is closed, so its
//     samples take the late-data path, and hour P (the second half) stays open for 30 minutes
//     more. S is at most 7200; --server refuses it (its grace is not the bench's to set).
// Frames are built before the clock starts, so the figures are the server's, plus the
// client's sending cost on the same two cores. Reported: the path the accepted samples took
// (late: the server's late-sample count, StatsReply.rollup_late_samples, over the run; live:
// the rest), samples/s (first send to last ack),
// acknowledgement latency percentiles, the server's peak RSS and CPU seconds, bytes on disk
// per sample after the server's final flush.
//
// Thread-safety: one workload at a time.
#pragma once

#include <cstdint>
#include <string>

#include <sys/types.h>

#include <vector>

#include "net/client/client.h"
#include "storage/base/status.h"

namespace meterd::bench {

struct IngestWorkloadOptions {
  size_t agents = 10;
  size_t vms_per_agent = 100;
  int64_t seconds = 600;
  double rate = 0;                // 0: as fast as possible; 1: real time
  int64_t seconds_per_batch = 1;  // seconds of samples in one batch (max rate)
  uint32_t window = 32;           // batches in flight per connection (max rate)
  size_t client_threads = 2;
  size_t server_io_threads = 0;          // 0: meterd's default (one per core)
  std::string meterd_path;               // the meterd binary to start
  std::vector<std::string> meterd_args;  // more flags for the meterd it starts
  // A running meterd instead (--server, with an admin key): CPU and RSS are read from /proc
  // when its pid is given; bytes on disk are not measured (it keeps running, unflushed).
  net::EndpointFlags endpoint;
  pid_t server_pid = 0;
  std::string dir = "/tmp/meter-bench-ingest";  // its data directory (recreated)
  uint64_t seed = 42;
  bool progress = true;
  bool backlog_crosses_hour = false;  // max rate: half the backlog in a closed hour (see above)
};

struct IngestWorkloadResult {
  uint64_t samples = 0;
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  uint64_t batches = 0;
  uint64_t reconnects = 0;
  // The path the accepted samples took, from the server's counters over the timed phase: late
  // (for a closed hour: recorded pending, then revisions) and live (the rest). -1: unknown (the
  // server has no rollups).
  int64_t late_samples = -1;
  int64_t live_samples = -1;
  int64_t grace_seconds = -1;  // the --grace the bench gave the meterd it started (-1: none)
  int64_t first_ts = 0;        // the first replayed second (unix)
  double seconds = 0;          // first send to last acknowledgement
  double p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
  uint64_t server_peak_rss = 0;
  double server_cpu_s = 0;  // during the timed phase
  double client_cpu_s = 0;
  uint64_t frame_bytes = 0;     // on the wire
  uint64_t disk_bytes = 0;      // segments after the final flush
  double shutdown_seconds = 0;  // SIGTERM to exit (drain, flush, sync)
};

Status RunIngestWorkload(const IngestWorkloadOptions& options, IngestWorkloadResult* result);

}  // namespace meterd::bench
