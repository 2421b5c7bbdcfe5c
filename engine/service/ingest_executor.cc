// meterd — engine/service/ingest_executor.cc
#include "engine/service/ingest_executor.h"

#include <algorithm>
#include <chrono>

namespace meterd::engine {

IngestExecutor::IngestExecutor(size_t threads) : IngestExecutor(threads, TurnLimits{}) {}

IngestExecutor::IngestExecutor(size_t threads, TurnLimits turn) : turn_(turn) {
  threads = std::max<size_t>(threads, 1);
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

IngestExecutor::~IngestExecutor() { Stop(); }

std::shared_ptr<IngestExecutor::Strand> IngestExecutor::NewStrand() {
  return std::make_shared<Strand>();
}

void IngestExecutor::Submit(const std::shared_ptr<Strand>& strand, std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      ++stats_.submitted;
      ++stats_.queued;
      stats_.max_queued = std::max(stats_.max_queued, stats_.queued);
      strand->tasks.push_back(std::move(task));
      if (!strand->scheduled) {
        strand->scheduled = true;
        ready_.push_back(strand);
        work_cv_.notify_one();
      }
      return;
    }
  }
  task();  // stopped: the server has drained, so nothing else runs on this strand
}

void IngestExecutor::Work() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
    if (ready_.empty()) return;  // stopping, and every queued task has run
    std::shared_ptr<Strand> strand = std::move(ready_.front());
    ready_.pop_front();
    // A turn: the strand's queued tasks back to back (TurnLimits).
    const auto turn_end = std::chrono::steady_clock::now() + turn_.time;
    for (size_t ran = 0;;) {
      std::function<void()> task = std::move(strand->tasks.front());
      strand->tasks.pop_front();
      --stats_.queued;
      ++stats_.running;
      lock.unlock();
      task();
      task = nullptr;  // release what it captured outside the lock
      const bool turn_over = ++ran >= turn_.tasks || std::chrono::steady_clock::now() >= turn_end;
      lock.lock();
      --stats_.running;
      if (strand->tasks.empty() || turn_over) break;
    }
    // The strand goes to the back, behind the other connections.
    if (strand->tasks.empty()) {
      strand->scheduled = false;
    } else {
      ready_.push_back(std::move(strand));
      work_cv_.notify_one();
    }
  }
}

void IngestExecutor::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

IngestExecutor::Stats IngestExecutor::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace meterd::engine
