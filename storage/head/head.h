// meterd — storage/head/head.h
//
// Head: the in-memory, compressed part of the store — every sample logged to the WAL since the
// last flush, one SeriesChunk per series, found through an open-addressing table keyed by the
// series id (ids are already XXH3 hashes, so the low bits index directly).
//
// Thread-safety: not synchronised. The Store mutates the live head under its mutex; once frozen
// (moved to the flushing slot) a head is only read, and const methods may then run from any
// number of threads.
// Invariants:
//   1. memory_bytes() accounts every heap byte the head holds (chunks, side lists, table),
//      so the store's budget is a real bound.
//   2. A series keeps the value type of its first sample; Insert refuses another type.
#pragma once

#include <cstdint>
#include <vector>

#include "storage/head/series_chunk.h"
#include "storage/sample_batch.h"

namespace meterd::storage {

class Head {
 public:
  Head();

  // Type of `series_id` if present; false if the head has no such series. With `chunk`, also
  // the series' chunk number, which stays valid until the head is destroyed (for InsertInto).
  bool LookupType(uint64_t series_id, ValueType* type, uint32_t* chunk = nullptr) const;
  // Adds a sample. Returns false (and stores nothing) if the series holds another value type.
  bool Insert(uint64_t series_id, int64_t ts, uint64_t value_bits, ValueType type);
  // Adds a sample to the series whose chunk number LookupType gave, without looking it up
  // again. REQUIRES: the sample is of the chunk's type.
  void InsertInto(uint32_t chunk, int64_t ts, uint64_t value_bits);

  size_t memory_bytes() const { return memory_bytes_; }
  uint64_t samples() const { return samples_; }
  size_t series_count() const { return chunks_.size(); }
  bool empty() const { return samples_ == 0; }
  int64_t min_ts() const { return min_ts_; }
  int64_t max_ts() const { return max_ts_; }

  // Series ids in ascending order.
  std::vector<uint64_t> SortedSeriesIds() const;
  // Appends the samples of `series_id` in [from, to) (sorted, one per second, latest write wins).
  // Returns false if the series is absent.
  bool Read(uint64_t series_id, int64_t from, int64_t to, ValueType* type, std::vector<int64_t>* ts,
            std::vector<uint64_t>* values) const;
  const SeriesChunk* Find(uint64_t series_id) const;

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  struct Slot {
    uint64_t key;
    uint32_t index;  // into chunks_, or kEmpty
  };
  size_t Probe(uint64_t key) const;  // slot holding key, or the empty slot where it would go
  void GrowTable();

  std::vector<Slot> table_;  // power-of-two size, load factor <= 1/2
  std::vector<SeriesChunk> chunks_;
  std::vector<uint64_t> ids_;  // ids_[i] is the series of chunks_[i]
  size_t memory_bytes_ = 0;
  uint64_t samples_ = 0;
  int64_t min_ts_ = INT64_MAX, max_ts_ = INT64_MIN;
};

}  // namespace meterd::storage
