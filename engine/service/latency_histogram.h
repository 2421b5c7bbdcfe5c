// meterd — engine/service/latency_histogram.h
//
// LatencyHistogram: a fixed-bucket histogram of durations for /metrics (Prometheus'
// cumulative `_bucket{le=...}`, `_sum` and `_count`). Observe is a handful of relaxed atomic
// adds, cheap enough for every ingest acknowledgement; reading it is a copy of 20 counters.
// The bounds (seconds) run from 100 µs to 10 s, roughly 1-2.5-5 per decade, covering an
// fdatasync on a fast NVMe disk up to a disk that is stalling.
//
// Thread-safety: Observe and Snapshot from any thread. A snapshot taken while observations run
// may count one in `count` and not yet in its bucket (or the reverse); each value is exact.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace meterd::engine {

class LatencyHistogram {
 public:
  static constexpr std::array<double, 16> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                     1,      2.5,     5,      10};

  struct Snapshot {
    std::array<uint64_t, kBounds.size() + 1> buckets{};  // not cumulative; last = +Inf
    uint64_t count = 0;
    uint64_t sum_ns = 0;
  };

  void Observe(std::chrono::nanoseconds d) {
    const double s = std::chrono::duration<double>(d).count();
    size_t i = 0;
    while (i < kBounds.size() && s > kBounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(d.count() > 0 ? d.count() : 0),
                      std::memory_order_relaxed);
  }

  Snapshot Read() const {
    Snapshot out;
    for (size_t i = 0; i < out.buckets.size(); ++i) {
      out.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    }
    out.count = count_.load(std::memory_order_relaxed);
    out.sum_ns = sum_ns_.load(std::memory_order_relaxed);
    return out;
  }

  // Appends the Prometheus text of this histogram (HELP, TYPE, buckets, sum, count) to *out.
  void AppendPrometheus(const std::string& name, const std::string& help, std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace meterd::engine
