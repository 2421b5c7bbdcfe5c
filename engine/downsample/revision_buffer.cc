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
  const size_t mask = table_.size() - 1;
  size_t i = RevisionBufferHash(key) & mask;
  while (table_[i] != kNone && keys_[table_[i]] != key) i = (i + 1) & mask;
  return i;
}

void RevisionBuffer::Grow() {
  table_.assign(std::max<size_t>(1024, table_.size() * 2), kNone);
  for (uint32_t slot = 0; slot < keys_.size(); ++slot) table_[Probe(keys_[slot])] = slot;
}

void RevisionBuffer::Add(const storage::RollupRow& row) {
  if (2 * (keys_.size() + 1) > table_.size()) Grow();
  const Key key{row.series_id, row.hour};
  const size_t at = Probe(key);
  const uint32_t index = static_cast<uint32_t>(rows_.size());
  rows_.push_back(row);
  if (table_[at] == kNone) {
    table_[at] = static_cast<uint32_t>(keys_.size());
    keys_.push_back(key);
    latest_.push_back(index);
    prev_.push_back(kNone);
  } else {
    uint32_t& latest = latest_[table_[at]];
    prev_.push_back(latest);
    latest = index;
  }
}

const storage::RollupRow* RevisionBuffer::Latest(const Key& key) const {
  if (keys_.empty()) return nullptr;
  const uint32_t slot = table_[Probe(key)];
  return slot == kNone ? nullptr : &rows_[latest_[slot]];
}

std::vector<storage::RollupRow> RevisionBuffer::All(const Key& key) const {
  std::vector<storage::RollupRow> out;
  if (keys_.empty()) return out;
  const uint32_t slot = table_[Probe(key)];
  if (slot == kNone) return out;
  for (uint32_t i = latest_[slot]; i != kNone; i = prev_[i]) out.push_back(rows_[i]);
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
  std::fill(table_.begin(), table_.end(), kNone);
}

}  // namespace meterd::engine
