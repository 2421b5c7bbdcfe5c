// meterd — engine/downsample/revision_buffer.cc
#include "engine/downsample/revision_buffer.h"

#include <algorithm>

namespace meterd::engine {
namespace {

size_t RevisionBufferHash(const RevisionBuffer::Key& key) {
  // Series ids are already hashes (SeriesRegistry::IdOf); mix in the hour number.
  uint64_t h = key.first ^ (static_cast<uint64_t>(key.second / 3600) * 0x9E3779B97F4A7C15ull);
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return static_cast<size_t>(h);
}

}  // namespace

size_t RevisionBuffer::Probe(const Key& key) const {
  // An entry is (slot + 1) << 32 | the hash's low 32 bits: most entries of another key are told
  // apart by the hash alone, without reading keys_ (a cache miss per probe at a fold's size).
  const size_t hash = RevisionBufferHash(key);
  const uint64_t tag = static_cast<uint32_t>(hash);
  const size_t mask = table_.size() - 1;
  size_t i = (hash >> 32) & mask;
  for (;;) {
    const uint64_t e = table_[i];
    if (e == 0 || ((e & 0xFFFFFFFFu) == tag && keys_[(e >> 32) - 1] == key)) return i;
    i = (i + 1) & mask;
  }
}

void RevisionBuffer::Grow() {
  table_.assign(std::max<size_t>(1024, table_.size() * 2), 0);
  for (uint32_t slot = 0; slot < keys_.size(); ++slot) {
    table_[Probe(keys_[slot])] =
        (uint64_t{slot} + 1) << 32 | static_cast<uint32_t>(RevisionBufferHash(keys_[slot]));
  }
}

void RevisionBuffer::Add(const storage::RollupRow& row) {
  if (2 * (keys_.size() + 1) > table_.size()) Grow();
  const Key key{row.series_id, row.hour};
  const size_t at = Probe(key);
  const uint32_t index = static_cast<uint32_t>(rows_.size());
  rows_.push_back(row);
  if (table_[at] == 0) {
    table_[at] =
        (uint64_t{keys_.size()} + 1) << 32 | static_cast<uint32_t>(RevisionBufferHash(key));
    keys_.push_back(key);
    latest_.push_back(index);
    prev_.push_back(kNone);
  } else {
    uint32_t& latest = latest_[(table_[at] >> 32) - 1];
    prev_.push_back(latest);
    latest = index;
  }
}

const storage::RollupRow* RevisionBuffer::Latest(const Key& key) const {
  if (keys_.empty()) return nullptr;
  const uint64_t e = table_[Probe(key)];
  return e == 0 ? nullptr : &rows_[latest_[(e >> 32) - 1]];
}

std::vector<storage::RollupRow> RevisionBuffer::All(const Key& key) const {
  std::vector<storage::RollupRow> out;
  if (keys_.empty()) return out;
  const uint64_t e = table_[Probe(key)];
  if (e == 0) return out;
  for (uint32_t i = latest_[(e >> 32) - 1]; i != kNone; i = prev_[i]) out.push_back(rows_[i]);
  std::reverse(out.begin(), out.end());
  return out;
}

std::span<const uint32_t> RevisionBuffer::Sorted() const {
  const size_t done = sorted_.size();
  if (done < keys_.size()) {
    for (size_t slot = done; slot < keys_.size(); ++slot) {
      sorted_.push_back(static_cast<uint32_t>(slot));
    }
    const auto by_key = [this](uint32_t a, uint32_t b) { return keys_[a] < keys_[b]; };
    const auto mid = sorted_.begin() + static_cast<ptrdiff_t>(done);
    // Slots arrive in a request's order, which is often already sorted (a fold's rows, a
    // file's rows): check before sorting.
    if (!std::is_sorted(mid, sorted_.end(), by_key)) std::sort(mid, sorted_.end(), by_key);
    if (done > 0 && by_key(*mid, *(mid - 1)))
      std::inplace_merge(sorted_.begin(), mid, sorted_.end(), by_key);
  }
  return sorted_;
}

size_t RevisionBuffer::LowerBound(const Key& key) const {
  const std::span<const uint32_t> s = Sorted();
  return static_cast<size_t>(
      std::lower_bound(s.begin(), s.end(), key,
                       [this](uint32_t slot, const Key& k) { return keys_[slot] < k; }) -
      s.begin());
}

void RevisionBuffer::Clear() {
  // The capacity is kept: the buffer fills to the same bound again (a fold's worth), and
  // reallocating it each time cost more in page faults than the rows' copies.
  rows_.clear();
  prev_.clear();
  keys_.clear();
  latest_.clear();
  sorted_.clear();
  std::fill(table_.begin(), table_.end(), 0);
}

}  // namespace meterd::engine
