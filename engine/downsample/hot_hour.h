// meterd — engine/downsample/hot_hour.h
//
// HotHour: the current hour of one in-order series, packed into one cache line. The
// downsampler's full per-series state (several hundred bytes: the open buckets' 23 columns
// each) is what made rollup maintenance expensive at ingest: three or four cache lines per
// sample, evicting the store head's own per-series data. The in-order path of the same hour —
// nearly every sample — needs only what is here: the newest sample (its value and its second
// of the hour, which is also where its hold has been credited to) and the columns a sample
// changes. Everything else of the bucket stays in the full row.
//
// Life cycle: Arm copies a bucket row and the series' newest sample in; Apply adds in-order
// samples of that hour with exactly the arithmetic of bucket.h (AddSampleStats + CreditHold,
// or AddCounterDelta), in the same order, so float sums and integrals come out bit for bit as
// the recomputation from raw gives them; WriteBack materialises the row and the newest sample.
//
// Invariants while armed: the series' newest sample is at hour + last_offset, its hold is
// credited up to that second (held_until == newest), and `row` (the caller's copy of the
// bucket) is stale in exactly the columns this struct mirrors. Counts, held seconds and state
// seconds of one hour never exceed 3600 (one sample per second), so 16 bits hold them; Arm
// refuses a row that does not fit (imported or damaged data), which just keeps the slow path.
//
// Thread-safety: plain data; the downsampler's mutex guards it.
#pragma once

#include <algorithm>
#include <cstdint>

#include "engine/catalog.h"
#include "storage/rollup.h"

namespace meterd::engine {

struct alignas(64) HotHour {
  static constexpr uint8_t kArmed = 1;
  static constexpr uint8_t kFloat = 2;
  // A row of the series waits in the downsampler's slow path: later rows must follow it there
  // (set by Defer, cleared by Disarm or Arm); the mirrored columns stay valid.
  static constexpr uint8_t kDeferred = 4;

  int64_t hour = 0;
  uint64_t last_value = 0;  // the newest sample's value (the bucket's last)
  uint64_t min = 0, max = 0;
  uint16_t count = 0;
  uint16_t last_offset = 0;  // the newest sample's second of the hour
  uint16_t held = 0;         // gauge / state: seconds credited
  MetricKind kind = MetricKind::kGauge;
  uint8_t flags = 0;
  union {
    struct {
      uint64_t integral_lo, integral_hi;  // float gauges: a double in lo
      uint64_t sum;                       // a double
    } gauge;
    struct {
      uint64_t increase;
      uint16_t resets;
      bool saturated;  // the increase reached 2^64 - 1 while armed (kRowIncreaseSaturated)
    } counter;
    uint16_t state[storage::kStateSlots];
  } u{};

  bool armed() const { return flags & kArmed; }
  void Disarm() { flags = 0; }
  void Defer() { flags |= kDeferred; }
  // Whether Apply takes a sample at `offset` = ts - hour (unsigned: earlier hours wrap high).
  bool Takes(uint64_t offset) const {
    return (flags & (kArmed | kDeferred)) == kArmed &&
           offset < static_cast<uint64_t>(storage::kSecondsPerHour) && offset > last_offset;
  }

  // Arms from `row`, the bucket of the series' newest sample `newest_ts` (whose hold is
  // credited up to itself). Returns false, leaving it disarmed, when a value does not fit.
  bool Arm(MetricKind k, storage::ValueType type, const storage::RollupRow& row, int64_t newest_ts,
           uint64_t newest_value);

  // Adds an in-order sample of this hour: offset = ts - hour, last_offset < offset < 3600.
  __attribute__((always_inline)) inline void Apply(uint16_t offset, uint64_t v, int64_t staleness);

  // The row with this struct's columns written in (the other columns from `row`).
  void WriteBack(storage::RollupRow* row) const;
  int64_t newest_ts() const { return hour + last_offset; }
};
static_assert(sizeof(HotHour) == 64, "one cache line");

inline bool HotHour::Arm(MetricKind k, storage::ValueType type, const storage::RollupRow& row,
                         int64_t newest_ts, uint64_t newest_value) {
  using namespace storage;
  flags = 0;
  const auto& c = row.col;
  const int64_t offset = newest_ts - row.hour;
  constexpr uint64_t kMax = kSecondsPerHour;
  if (offset < 0 || offset >= kSecondsPerHour || c[kColCount] == 0 || c[kColCount] > kMax ||
      c[kColHeld] > kMax || c[kColLastOffset] != static_cast<uint64_t>(offset)) {
    return false;
  }
  hour = row.hour;
  last_value = newest_value;
  min = c[kColMin];
  max = c[kColMax];
  count = static_cast<uint16_t>(c[kColCount]);
  last_offset = static_cast<uint16_t>(offset);
  held = static_cast<uint16_t>(c[kColHeld]);
  kind = k;
  switch (k) {
    case MetricKind::kCounter:
      if (c[kColResets] > kMax) return false;
      u.counter.increase = c[kColIncrease];
      u.counter.resets = static_cast<uint16_t>(c[kColResets]);
      u.counter.saturated = false;  // a flag already in the row stays there (WriteBack ORs)
      break;
    case MetricKind::kGauge:
      u.gauge.integral_lo = c[kColIntegralLo];
      u.gauge.integral_hi = c[kColIntegralHi];
      u.gauge.sum = c[kColSum];
      break;
    case MetricKind::kState:
      for (size_t s = 0; s < kStateSlots; ++s) {
        if (c[kColState0 + s] > kMax) return false;
        u.state[s] = static_cast<uint16_t>(c[kColState0 + s]);
      }
      break;
  }
  flags = kArmed | (type == ValueType::kFloat ? kFloat : 0);
  return true;
}

inline void HotHour::Apply(uint16_t offset, uint64_t v, int64_t staleness) {
  using namespace storage;
  const bool is_float = flags & kFloat;
  switch (kind) {
    case MetricKind::kCounter: {
      // As AddCounterDelta (bucket.h): saturate, never wrap.
      const bool reset = v < last_value;
      if (__builtin_add_overflow(u.counter.increase, reset ? v : v - last_value,
                                 &u.counter.increase)) {
        u.counter.increase = ~uint64_t{0};
        u.counter.saturated = true;
      }
      u.counter.resets += reset ? 1 : 0;
      break;
    }
    case MetricKind::kGauge:
    case MetricKind::kState: {
      // The newest sample holds from its second (held_until) for at most `staleness`.
      const uint16_t secs =
          static_cast<uint16_t>(std::min<int64_t>(offset - last_offset, staleness));
      held += secs;
      if (kind == MetricKind::kState) {
        if (last_value < kStateSlots) u.state[last_value] += secs;
        break;  // a state's sum column stays 0
      }
      if (is_float) {
        u.gauge.integral_lo = DoubleToBits(BitsToDouble(u.gauge.integral_lo) +
                                           BitsToDouble(last_value) * static_cast<double>(secs));
        u.gauge.sum = DoubleToBits(BitsToDouble(u.gauge.sum) + BitsToDouble(v));
      } else {
        unsigned __int128 integral =
            (static_cast<unsigned __int128>(u.gauge.integral_hi) << 64) | u.gauge.integral_lo;
        integral += static_cast<unsigned __int128>(last_value) * secs;
        u.gauge.integral_lo = static_cast<uint64_t>(integral);
        u.gauge.integral_hi = static_cast<uint64_t>(integral >> 64);
        u.gauge.sum = DoubleToBits(BitsToDouble(u.gauge.sum) + static_cast<double>(v));
      }
      break;
    }
  }
  if (is_float) {
    const double d = BitsToDouble(v);
    if (d < BitsToDouble(min)) min = v;
    if (BitsToDouble(max) < d) max = v;
  } else {
    min = std::min(min, v);
    max = std::max(max, v);
  }
  ++count;
  last_offset = offset;
  last_value = v;
}

inline void HotHour::WriteBack(storage::RollupRow* row) const {
  using namespace storage;
  auto& c = row->col;
  c[kColCount] = count;
  c[kColLastOffset] = last_offset;
  c[kColLast] = last_value;
  c[kColMin] = min;
  c[kColMax] = max;
  c[kColHeld] = held;
  switch (kind) {
    case MetricKind::kCounter:
      c[kColIncrease] = u.counter.increase;
      c[kColResets] = u.counter.resets;
      if (u.counter.saturated) c[kColFlags] |= kRowIncreaseSaturated;
      break;
    case MetricKind::kGauge:
      c[kColIntegralLo] = u.gauge.integral_lo;
      c[kColIntegralHi] = u.gauge.integral_hi;
      c[kColSum] = u.gauge.sum;
      break;
    case MetricKind::kState:
      for (size_t s = 0; s < kStateSlots; ++s) c[kColState0 + s] = u.state[s];
      break;
  }
}

}  // namespace meterd::engine
