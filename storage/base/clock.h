// meterd — storage/base/clock.h
//
// Time sources. Unix seconds for sample timestamps and retention; a monotonic clock for
// latencies. Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>

namespace meterd::base {

inline int64_t UnixSecondsNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
inline int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace meterd::base
