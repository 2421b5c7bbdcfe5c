// meterd — engine/ingest/rollup_clock.h
//
// RollupClock: the background thread that keeps rollups moving. Once per tick it closes the
// hours whose grace has passed (under the ingest lock; "passed" by the downsampler's closing
// clock, which a step of the wall clock does not fool: engine/downsample/closing_clock.h),
// resolves late batches whose WAL group is durable into revisions, seals closed hours into
// parts, and merges parts into month files.
// A failed step is logged through `on_error` and retried at the next tick; nothing is lost,
// since raw data and pending records stay on disk until a step succeeds.
//
// Thread-safety: Start and Stop from one thread; RunOnce may also be called directly (tests,
// shutdown) and is serialised with the thread's ticks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "engine/downsample/downsampler.h"
#include "engine/ingest/ingest_pipeline.h"

namespace meterd::engine {

class RollupClock {
 public:
  RollupClock(IngestPipeline* ingest, Downsampler* downsampler,
              std::function<void(const std::string&)> on_error)
      : ingest_(ingest), downsampler_(downsampler), on_error_(std::move(on_error)) {}
  ~RollupClock() { Stop(); }

  // A second is fine grained enough: late revisions appear within a second of their sync and
  // an hour is sealed within a second of its grace ending; a tick with nothing to do costs a
  // few mutex acquisitions.
  void Start(std::chrono::milliseconds tick = std::chrono::milliseconds(1000));
  void Stop();
  // One pass of close, resolve, seal, merge. Returns the first error (all steps are tried).
  Status RunOnce();
  // Runs `fn` between passes: no hour is closed, sealed or merged meanwhile (an online
  // backup's point in time). Returns what `fn` returns.
  Status WhilePaused(const std::function<Status()>& fn) {
    std::lock_guard run(run_mu_);
    return fn();
  }

 private:
  IngestPipeline* ingest_;
  Downsampler* downsampler_;
  std::function<void(const std::string&)> on_error_;
  std::mutex run_mu_;  // serialises RunOnce
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace meterd::engine
