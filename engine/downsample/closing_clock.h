// meterd — engine/downsample/closing_clock.h
//
// ClosingClock: the time by which the downsampler closes hours (hour h closes when this time
// reaches h + 1 h + grace; docs/rollup.md, "A clock that steps"). It follows the wall clock
// but is safe against one that steps (NTP, an operator, a VM resumed from a snapshot). At each
// tick, with `elapsed` the monotonic time since the previous tick and `newest` the newest
// timestamp of a sample accepted so far (the agents' clocks):
//
//   closing = max(closing, min(wall, max(closing + elapsed, newest)))
//
// Invariants:
//   1. It never moves back: after a backward step nothing closes until the wall clock passes
//      the closing time again, so no hour closes twice.
//   2. It is never ahead of the wall clock: no hour closes earlier than the plain rule says.
//   3. It runs no faster than real time unless accepted samples are already further on: a
//      forward step of the wall clock alone closes nothing early while agents still send
//      on-time data, and a forward correction of a clock that was behind is caught up with as
//      soon as on-time samples arrive.
// The first tick takes the wall clock as it reads (there is no earlier reading to compare).
//
// Thread-safety: not synchronised; the Downsampler calls it under its mutex.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

namespace meterd::engine {

class ClosingClock {
 public:
  // A sample with this timestamp was accepted (evidence of how far the agents' clocks are).
  void NoteSample(int64_t ts) { newest_sample_ = std::max(newest_sample_, ts); }
  // Moves the closing time on by this tick's readings (wall: unix seconds; monotonic:
  // nanoseconds of a clock that never steps) and returns it.
  int64_t Advance(int64_t wall_seconds, int64_t monotonic_nanos);
  int64_t time() const { return time_; }

 private:
  bool started_ = false;
  int64_t time_ = 0;             // unix seconds: the closing time
  int64_t monotonic_nanos_ = 0;  // the monotonic reading time_ has been advanced to
  int64_t newest_sample_ = std::numeric_limits<int64_t>::min();
};

}  // namespace meterd::engine
