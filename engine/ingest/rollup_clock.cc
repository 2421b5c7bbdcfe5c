// meterd — engine/ingest/rollup_clock.cc
#include "engine/ingest/rollup_clock.h"

namespace meterd::engine {

void RollupClock::Start(std::chrono::milliseconds tick) {
  thread_ = std::thread([this, tick] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      Status s = RunOnce();
      if (!s.ok() && on_error_) on_error_(s.ToString());
      lock.lock();
      cv_.wait_for(lock, tick, [this] { return stopping_; });
    }
  });
}

void RollupClock::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status RollupClock::RunOnce() {
  std::lock_guard run(run_mu_);
  Status first;
  auto note = [&first](Status s) {
    if (!s.ok() && first.ok()) first = std::move(s);
  };
  ingest_->CloseDue();
  note(downsampler_->ProcessLate());
  Result<int> sealed = downsampler_->SealDue();
  if (!sealed.ok()) note(sealed.status());
  // Late samples for the hours just sealed were queued while they were closed but unsealed.
  note(downsampler_->ProcessLate());
  note(downsampler_->MergeParts());
  return first;
}

}  // namespace meterd::engine
