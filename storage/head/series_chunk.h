// meterd — storage/head/series_chunk.h
//
// SeriesChunk: one series' samples in the head, compressed as they arrive (Gorilla-style):
// timestamps as delta-of-delta in unary-prefixed buckets (1 bit for a regular second), integer
// values as delta-of-delta buckets (1 bit for a level that holds or a counter growing steadily),
// floats as Gorilla XOR. Samples that do not extend the chunk in time (out of order, or a
// rewrite of a second already held) go to a small side list and win over the chunk on read.
//
// Thread-safety: none; the owning Head is externally synchronised.
// Invariants:
//   1. Chunk timestamps strictly increase.
//   2. For equal timestamps, the later write wins: a side-list entry is always newer than a
//      chunk entry with the same second (the chunk only accepts seconds beyond its last), and
//      among side-list entries insertion order decides.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "storage/codec/bit_stream.h"
#include "storage/codec/gorilla.h"
#include "storage/sample_batch.h"

namespace meterd::storage {

class SeriesChunk {
 public:
  explicit SeriesChunk(ValueType type) : type_(type) {}

  ValueType type() const { return type_; }
  // Appends a sample. Returns the change in heap bytes held (for the head's memory account).
  int64_t Append(int64_t ts, uint64_t value_bits);
  uint64_t samples() const { return count_ + (late_ ? late_->size() : 0); }
  int64_t min_ts() const { return min_ts_; }
  int64_t max_ts() const { return max_ts_; }
  size_t heap_bytes() const;

  // Appends to ts/values the samples in [from, to), sorted by time, one per second with the
  // latest write for each second.
  void Read(int64_t from, int64_t to, std::vector<int64_t>* ts,
            std::vector<uint64_t>* values) const;

 private:
  struct LateSample {
    int64_t ts;
    uint64_t value;
  };
  void AppendInOrder(int64_t ts, uint64_t value);

  ValueType type_;
  codec::GorillaWindow window_;  // float: the Gorilla window of the last '11' XOR
  uint32_t count_ = 0;           // samples in the bit stream
  int64_t first_ts_ = 0, last_ts_ = 0, last_ts_delta_ = 0;
  uint64_t first_value_ = 0, last_value_ = 0, last_value_delta_ = 0;
  int64_t min_ts_ = INT64_MAX, max_ts_ = INT64_MIN;
  BitWriter bits_;
  std::unique_ptr<std::vector<LateSample>> late_;  // allocated on the first late sample
};

}  // namespace meterd::storage
