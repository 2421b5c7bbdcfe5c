// meterd — engine/downsample/bucket.cc
#include "engine/downsample/bucket.h"

#include <algorithm>

namespace meterd::engine {

using storage::BitsToDouble;
using storage::DoubleToBits;
using storage::RollupRow;
using storage::ValueType;
using namespace storage;  // the kCol* column names

namespace {

double AsDouble(ValueType type, uint64_t v) {
  return type == ValueType::kFloat ? BitsToDouble(v) : static_cast<double>(v);
}

bool Less(ValueType type, uint64_t a, uint64_t b) {
  return type == ValueType::kFloat ? BitsToDouble(a) < BitsToDouble(b) : a < b;
}

// Credits `value` held over [from, to) to the buckets of the hours it spans, creating them.
// `rows` is ascending by hour and may already hold some of them.
void CreditRange(uint64_t series_id, const SeriesShape& shape, uint64_t value, int64_t from,
                 int64_t to, int64_t lo_hour, int64_t hi_hour, std::vector<RollupRow>* rows) {
  from = std::max(from, lo_hour);
  to = std::min(to, hi_hour + kSecondsPerHour);
  while (from < to) {
    const int64_t hour = HourOf(from);
    const int64_t end = std::min(to, hour + kSecondsPerHour);
    if (rows->empty() || rows->back().hour != hour) {
      RollupRow row;
      row.series_id = series_id;
      row.hour = hour;
      rows->push_back(row);
    }
    CreditHold(shape, value, end - from, &rows->back());
    from = end;
  }
}

RollupRow* RowFor(uint64_t series_id, int64_t hour, std::vector<RollupRow>* rows) {
  if (rows->empty() || rows->back().hour != hour) {
    RollupRow row;
    row.series_id = series_id;
    row.hour = hour;
    rows->push_back(row);
  }
  return &rows->back();
}

}  // namespace

void AddSampleStats(const SeriesShape& shape, int64_t ts, uint64_t value, RollupRow* row) {
  auto& c = row->col;
  const uint64_t offset = static_cast<uint64_t>(ts - row->hour);
  if (c[kColCount] == 0) {
    c[kColFirstOffset] = offset;
    c[kColMin] = c[kColMax] = value;
  } else {
    if (Less(shape.type, value, c[kColMin])) c[kColMin] = value;
    if (Less(shape.type, c[kColMax], value)) c[kColMax] = value;
  }
  ++c[kColCount];
  c[kColLastOffset] = offset;
  c[kColLast] = value;
  if (shape.kind == MetricKind::kGauge) {
    c[kColSum] = DoubleToBits(BitsToDouble(c[kColSum]) + AsDouble(shape.type, value));
  }
}

void CreditHold(const SeriesShape& shape, uint64_t value, int64_t seconds, RollupRow* row) {
  if (seconds <= 0) return;
  auto& c = row->col;
  const uint64_t secs = static_cast<uint64_t>(seconds);
  c[kColHeld] += secs;
  if (shape.kind == MetricKind::kState) {
    // The ingest pipeline refuses codes outside [0, kStateSlots).
    if (value < kStateSlots) c[kColState0 + value] += secs;
    return;
  }
  if (shape.type == ValueType::kFloat) {
    c[kColIntegralLo] = DoubleToBits(BitsToDouble(c[kColIntegralLo]) +
                                     BitsToDouble(value) * static_cast<double>(secs));
    return;
  }
  unsigned __int128 integral =
      (static_cast<unsigned __int128>(c[kColIntegralHi]) << 64) | c[kColIntegralLo];
  integral += static_cast<unsigned __int128>(value) * secs;
  c[kColIntegralLo] = static_cast<uint64_t>(integral);
  c[kColIntegralHi] = static_cast<uint64_t>(integral >> 64);
}

void AddCounterDelta(uint64_t prev, uint64_t cur, RollupRow* row) {
  bool reset = false;
  const uint64_t delta = CounterDelta(prev, cur, &reset);
  uint64_t& increase = row->col[kColIncrease];
  if (__builtin_add_overflow(increase, delta, &increase)) {
    increase = ~uint64_t{0};
    row->col[kColFlags] |= kRowIncreaseSaturated;
  }
  row->col[kColResets] += reset ? 1 : 0;
}

bool RowIsEmpty(const RollupRow& row) {
  return row.col[kColCount] == 0 && row.col[kColHeld] == 0 && row.col[kColIncrease] == 0;
}

bool SameBucket(const RollupRow& a, const RollupRow& b) {
  if (a.series_id != b.series_id || a.hour != b.hour) return false;
  for (size_t c = 0; c < kRollupColumns; ++c) {
    if (c == kColRevision || c == kColRevisedAt) continue;
    if (c == kColFlags) {
      constexpr uint64_t kIgnored = kRowRebuilt | kRowImportIdMask;
      if ((a.col[c] & ~kIgnored) != (b.col[c] & ~kIgnored)) return false;
      continue;
    }
    if (a.col[c] != b.col[c]) return false;
  }
  return true;
}

std::vector<RollupRow> ComputeBuckets(uint64_t series_id, const SeriesShape& shape,
                                      std::span<const RawSample> samples, int64_t staleness,
                                      int64_t sealed_before, int64_t series_last_ts,
                                      int64_t from_hour, int64_t to_hour) {
  std::vector<RollupRow> rows;
  const int64_t end = to_hour + kSecondsPerHour;
  for (size_t i = 0; i < samples.size(); ++i) {
    const RawSample& s = samples[i];
    if (s.ts >= end) break;
    if (s.ts >= from_hour) {
      RollupRow* row = RowFor(series_id, HourOf(s.ts), &rows);
      if (shape.kind == MetricKind::kCounter && i > 0) {
        AddCounterDelta(samples[i - 1].value, s.value, row);
      }
      AddSampleStats(shape, s.ts, s.value, row);
    }
    if (shape.kind == MetricKind::kCounter) continue;
    int64_t hold_end;
    if (i + 1 < samples.size()) {
      hold_end = std::min(samples[i + 1].ts, s.ts + staleness);
    } else if (s.ts < series_last_ts) {
      hold_end = s.ts + staleness;  // its successor lies beyond the window
    } else {
      hold_end = std::min(s.ts + staleness, std::max(s.ts, sealed_before));
    }
    // The hold starts in this sample's hour, which the row for it (if in range) already
    // opened; pieces in later hours append rows in ascending order.
    CreditRange(series_id, shape, s.value, s.ts, hold_end, from_hour, to_hour, &rows);
  }
  std::erase_if(rows, [](const RollupRow& r) { return RowIsEmpty(r); });
  return rows;
}

}  // namespace meterd::engine
