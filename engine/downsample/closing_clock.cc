// meterd — engine/downsample/closing_clock.cc
#include "engine/downsample/closing_clock.h"

namespace meterd::engine {

int64_t ClosingClock::Advance(int64_t wall_seconds, int64_t monotonic_nanos) {
  constexpr int64_t kNanos = 1'000'000'000;
  if (!started_) {
    started_ = true;
    time_ = wall_seconds;
    monotonic_nanos_ = monotonic_nanos;
    return time_;
  }
  // Whole seconds elapsed; the remainder is carried to the next tick, so ticks shorter than a
  // second still add up to real time.
  const int64_t elapsed = std::max<int64_t>(0, monotonic_nanos - monotonic_nanos_) / kNanos;
  monotonic_nanos_ += elapsed * kNanos;
  const int64_t reachable = std::max(time_ + elapsed, newest_sample_);
  time_ = std::max(time_, std::min(wall_seconds, reachable));
  return time_;
}

}  // namespace meterd::engine
