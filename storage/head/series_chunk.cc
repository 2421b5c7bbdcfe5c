// meterd — storage/head/series_chunk.cc
#include "storage/head/series_chunk.h"

#include <algorithm>

#include "storage/base/check.h"
#include "storage/base/coding.h"
#include "storage/codec/gorilla.h"

namespace meterd::storage {
namespace {

// Bucket widths for zigzag(delta-of-delta), after a unary prefix of 0..4 ones. Timestamps: a
// regular cadence is bucket 0 (1 bit); jitter and short gaps fit 7 or 12 bits. Integer values:
// a held level or a steady counter is 1 bit; byte counters' jitter fits 16 or 32 bits.
constexpr int kTsWidths[4] = {7, 12, 20, 64};
constexpr int kValueWidths[4] = {8, 16, 32, 64};

void WriteBucketed(BitWriter* w, uint64_t zz, const int (&widths)[4]) {
  if (zz == 0) {
    w->Write(0, 1);
    return;
  }
  for (int b = 0; b < 3; ++b) {
    if (zz < (uint64_t{1} << widths[b])) {
      const int prefix_len = b + 2;  // b+1 ones then a zero
      const uint64_t prefix = (uint64_t{1} << (b + 1)) - 1;
      w->Write(prefix | (zz << prefix_len), prefix_len + widths[b]);
      return;
    }
  }
  w->Write(0xF, 4);  // four ones, no terminator
  w->Write(zz, 64);
}

uint64_t ReadBucketed(BitReader* r, const int (&widths)[4]) {
  const int ones = r->ReadUnary(4);
  if (ones == 0) return 0;
  return r->Read(widths[ones - 1]);
}

}  // namespace

int64_t SeriesChunk::Append(int64_t ts, uint64_t value_bits) {
  const size_t before = heap_bytes();
  min_ts_ = std::min(min_ts_, ts);
  max_ts_ = std::max(max_ts_, ts);
  if (count_ > 0 && ts <= last_ts_) {
    if (!late_) late_ = std::make_unique<std::vector<LateSample>>();
    late_->push_back(LateSample{ts, value_bits});
  } else {
    AppendInOrder(ts, value_bits);
  }
  return static_cast<int64_t>(heap_bytes()) - static_cast<int64_t>(before);
}

void SeriesChunk::AppendInOrder(int64_t ts, uint64_t value) {
  if (count_ == 0) {
    first_ts_ = last_ts_ = ts;
    first_value_ = last_value_ = value;
    count_ = 1;
    return;
  }
  const int64_t delta = ts - last_ts_;
  WriteBucketed(&bits_, base::ZigZagEncode(delta - last_ts_delta_), kTsWidths);
  last_ts_delta_ = delta;
  last_ts_ = ts;

  if (type_ == ValueType::kInt) {
    const uint64_t vdelta = value - last_value_;  // wraps mod 2^64: counters at the edge are fine
    WriteBucketed(&bits_, base::ZigZagEncode(static_cast<int64_t>(vdelta - last_value_delta_)),
                  kValueWidths);
    last_value_delta_ = vdelta;
  } else {
    codec::GorillaAppend(&bits_, last_value_, value, &window_);
  }
  last_value_ = value;
  ++count_;
}

size_t SeriesChunk::heap_bytes() const {
  return bits_.capacity_bytes() +
         (late_ ? sizeof(*late_) + late_->capacity() * sizeof(LateSample) : 0);
}

void SeriesChunk::Read(int64_t from, int64_t to, std::vector<int64_t>* ts,
                       std::vector<uint64_t>* values) const {
  if (samples() == 0 || max_ts_ < from || min_ts_ >= to) return;
  const size_t base = ts->size();
  // Decode the in-order chunk.
  if (count_ > 0) {
    BitReader r(bits_.words().data(), bits_.size_bits());
    int64_t t = first_ts_, tdelta = 0;
    uint64_t v = first_value_, vdelta = 0;
    codec::GorillaWindow window;
    for (uint32_t i = 0; i < count_; ++i) {
      if (i > 0) {
        tdelta += base::ZigZagDecode(ReadBucketed(&r, kTsWidths));
        t += tdelta;
        if (type_ == ValueType::kInt) {
          vdelta += static_cast<uint64_t>(base::ZigZagDecode(ReadBucketed(&r, kValueWidths)));
          v += vdelta;
        } else {
          // The stream was written by this chunk, in memory: it cannot be malformed.
          const bool ok = codec::GorillaRead(&r, v, &window, &v);
          METERD_DCHECK(ok, "head chunk: malformed Gorilla stream");
          (void)ok;
        }
      }
      if (t >= to) break;
      if (t >= from) {
        ts->push_back(t);
        values->push_back(v);
      }
    }
  }
  if (!late_) return;
  // Merge the late samples: newest write per second wins, and they win over the chunk.
  std::vector<LateSample> late;
  late.reserve(late_->size());
  for (const LateSample& s : *late_) {
    if (s.ts >= from && s.ts < to) late.push_back(s);
  }
  if (late.empty()) return;
  std::stable_sort(late.begin(), late.end(),
                   [](const LateSample& a, const LateSample& b) { return a.ts < b.ts; });
  std::vector<int64_t> out_ts;
  std::vector<uint64_t> out_values;
  out_ts.reserve(ts->size() - base + late.size());
  out_values.reserve(out_ts.capacity());
  size_t i = base, j = 0;
  while (i < ts->size() || j < late.size()) {
    if (j < late.size() && (i == ts->size() || late[j].ts <= (*ts)[i])) {
      // Take the last late entry of this second; it also replaces a chunk entry of it.
      const int64_t second = late[j].ts;
      while (j + 1 < late.size() && late[j + 1].ts == second) ++j;
      if (i < ts->size() && (*ts)[i] == second) ++i;
      out_ts.push_back(second);
      out_values.push_back(late[j].value);
      ++j;
    } else {
      out_ts.push_back((*ts)[i]);
      out_values.push_back((*values)[i]);
      ++i;
    }
  }
  ts->resize(base);
  values->resize(base);
  ts->insert(ts->end(), out_ts.begin(), out_ts.end());
  values->insert(values->end(), out_values.begin(), out_values.end());
}

}  // namespace meterd::storage
