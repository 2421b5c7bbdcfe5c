// meterd — engine/downsample/revision_buffer.h: revised and imported bucket rows logged but not
// yet folded into the month files (Downsampler, docs/rollup.md "Revisions").
//
// Flat storage instead of a tree of rows: every revision is appended to one vector (arrival
// order); a (series, hour) key gets a slot, found through an open-addressing hash table, which
// names the key's latest row; each row links to the key's previous revision. Readers that need
// (series, hour) order (a fold, a View) use Sorted(): the slots sorted by key, kept sorted
// lazily: slots added since the last call are sorted and merged in at the next one, so a fold
// of n rows sorts them once and a View between two import requests merges one request's keys.
//
// Memory: about 200 bytes a row (the row and its link) and 40 a key (key, latest row, sorted
// position, two 8-byte hash entries at a load factor of at most 1/2). Clear keeps the capacity (the
// buffer fills to the same bound again), so it is held at the most the buffer ever held.
//
// Invariants: Latest(k) is the row added last for k; Sorted() lists every key once, ascending.
// Thread-safety: not synchronised (the Downsampler's lock guards it; Sorted() is const but
// updates the lazy order, which the same lock covers).
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "storage/rollup.h"

namespace meterd::engine {

class RevisionBuffer {
 public:
  using Key = std::pair<uint64_t, int64_t>;  // (series, hour)

  void Add(const storage::RollupRow& row);
  // The latest row of `key`, or nullptr. Valid until the next Add or Clear.
  const storage::RollupRow* Latest(const Key& key) const;
  // Every revision of `key`, oldest first (empty when none is buffered).
  std::vector<storage::RollupRow> All(const Key& key) const;

  // The key slots in ascending key order; KeyOf / LatestOf read them. Valid until the next Add.
  std::span<const uint32_t> Sorted() const;
  const Key& KeyOf(uint32_t slot) const { return keys_[slot]; }
  const storage::RollupRow& LatestOf(uint32_t slot) const { return rows_[latest_[slot]]; }
  // The position in Sorted() of the first key >= `key`.
  size_t LowerBound(const Key& key) const;

  size_t rows() const { return rows_.size(); }
  size_t keys() const { return keys_.size(); }
  bool empty() const { return rows_.empty(); }
  void Clear();

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  // The table position holding `key`'s slot, or the empty position where it would go.
  size_t Probe(const Key& key) const;
  void Grow();

  std::vector<storage::RollupRow> rows_;
  std::vector<uint32_t> prev_;    // per row: the same key's previous row, or kNone
  std::vector<Key> keys_;         // per slot
  std::vector<uint32_t> latest_;  // per slot: its latest row
  // (slot + 1) << 32 | the low 32 bits of the key's hash; 0: empty. Size a power of two.
  std::vector<uint64_t> table_;
  mutable std::vector<uint32_t> sorted_;  // slots [0, sorted_.size()) in key order
};

}  // namespace meterd::engine
