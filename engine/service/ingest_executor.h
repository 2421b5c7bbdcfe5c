// meterd — engine/service/ingest_executor.h
//
// IngestExecutor: a fixed pool of threads that runs ingest work (validation, the store append,
// the rollups' apply) off the server's io threads. An append can block: on the head's or the
// WAL's backpressure, on a revision-log fdatasync, on a raw rescan for out-of-order samples;
// on an io thread that stalled every other connection of that thread (pings, reads, Hellos).
//
// Work is submitted on a Strand, one per connection: a strand's tasks run one at a time, in
// submission order (a connection's batches are appended in the order they were sent), and
// strands take turns (a busy connection cannot starve the others of the pool). A turn runs the
// strand's queued tasks back to back, up to TurnLimits' count or time, not one: an agent's
// batches touch the same series (the head's chunk tails, the hash slots, the hot hours), which
// stay in cache from one batch to the next; one task per turn interleaved every connection's
// series, and with more series than the cache holds every batch missed on each of them (perf:
// 2.5x the CPU in the head's appends, 25% less ingest at max rate). A live agent waits at most
// one turn of each busier connection per pool thread.
//
// Bounded: a task holds its request's in-flight slot and frame bytes in the server's flow
// control until it answers (net/server/server.h), so a connection whose batches wait here stops
// being read at max_in_flight, and all of them at the buffer budget: a slow pool slows the
// connections by not reading them, and queued work is bounded by connections x max_in_flight.
// Nothing queued is dropped: Stop() runs every task submitted before it.
//
// Thread-safety: thread-safe. Tasks must not Submit to their own strand and wait for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace meterd::engine {

class IngestExecutor {
 public:
  class Strand;

  struct Stats {
    uint64_t submitted = 0;   // tasks ever submitted
    uint64_t queued = 0;      // submitted, not started
    uint64_t running = 0;     // started, not finished
    uint64_t max_queued = 0;  // the most ever queued at once
  };

  // A strand's turn ends after this many of its tasks, or once this long has passed since it
  // began (checked between tasks), or when it has no task queued (see above).
  struct TurnLimits {
    size_t tasks = 16;
    std::chrono::microseconds time{2000};
  };

  // Starts `threads` threads (at least 1), with the default TurnLimits.
  explicit IngestExecutor(size_t threads);
  IngestExecutor(size_t threads, TurnLimits turn);
  ~IngestExecutor();  // Stop()s
  IngestExecutor(const IngestExecutor&) = delete;
  IngestExecutor& operator=(const IngestExecutor&) = delete;

  std::shared_ptr<Strand> NewStrand();
  // Runs `task` on a pool thread after every task submitted earlier on `strand`. After Stop()
  // the task runs at once on the caller's thread (so it is never lost).
  void Submit(const std::shared_ptr<Strand>& strand, std::function<void()> task);
  // Runs every queued task, then joins the threads. Idempotent.
  void Stop();

  Stats stats() const;
  size_t threads() const { return threads_.size(); }

 private:
  void Work();

  const TurnLimits turn_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<std::shared_ptr<Strand>> ready_;  // GUARDED_BY(mu_): strands with a task to run
  bool stopping_ = false;                      // GUARDED_BY(mu_)
  Stats stats_;                                // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

// A connection's queue. Only the executor touches its members (under the executor's mutex).
class IngestExecutor::Strand {
 private:
  friend class IngestExecutor;
  std::deque<std::function<void()>> tasks;  // GUARDED_BY(IngestExecutor::mu_)
  bool scheduled = false;                   // GUARDED_BY(IngestExecutor::mu_): in ready_ or running
};

}  // namespace meterd::engine
