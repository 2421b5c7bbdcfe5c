// meterd — storage/head/head.cc
#include "storage/head/head.h"

#include <algorithm>

namespace meterd::storage {
namespace {
constexpr size_t kInitialSlots = 1024;
}  // namespace

Head::Head() : table_(kInitialSlots, Slot{0, kEmpty}) {
  memory_bytes_ = table_.capacity() * sizeof(Slot);
}

size_t Head::Probe(uint64_t key) const {
  const size_t mask = table_.size() - 1;
  size_t i = static_cast<size_t>(key) & mask;
  while (table_[i].index != kEmpty && table_[i].key != key) i = (i + 1) & mask;
  return i;
}

void Head::GrowTable() {
  std::vector<Slot> old = std::move(table_);
  table_.assign(old.size() * 2, Slot{0, kEmpty});
  for (const Slot& s : old) {
    if (s.index != kEmpty) table_[Probe(s.key)] = s;
  }
  memory_bytes_ += (table_.capacity() - old.capacity()) * sizeof(Slot);
}

bool Head::LookupType(uint64_t series_id, ValueType* type, uint32_t* chunk) const {
  const Slot& slot = table_[Probe(series_id)];
  if (slot.index == kEmpty) return false;
  *type = chunks_[slot.index].type();
  if (chunk != nullptr) *chunk = slot.index;
  return true;
}

void Head::InsertInto(uint32_t chunk, int64_t ts, uint64_t value_bits) {
  SeriesChunk& c = chunks_[chunk];
  memory_bytes_ =
      static_cast<size_t>(static_cast<int64_t>(memory_bytes_) + c.Append(ts, value_bits));
  ++samples_;
  min_ts_ = std::min(min_ts_, ts);
  max_ts_ = std::max(max_ts_, ts);
}

const SeriesChunk* Head::Find(uint64_t series_id) const {
  const Slot& slot = table_[Probe(series_id)];
  return slot.index == kEmpty ? nullptr : &chunks_[slot.index];
}

bool Head::Insert(uint64_t series_id, int64_t ts, uint64_t value_bits, ValueType type) {
  size_t i = Probe(series_id);
  if (table_[i].index == kEmpty) {
    if ((chunks_.size() + 1) * 2 > table_.size()) {
      GrowTable();
      i = Probe(series_id);
    }
    const size_t chunks_cap = chunks_.capacity(), ids_cap = ids_.capacity();
    table_[i] = Slot{series_id, static_cast<uint32_t>(chunks_.size())};
    chunks_.emplace_back(type);
    ids_.push_back(series_id);
    memory_bytes_ += (chunks_.capacity() - chunks_cap) * sizeof(SeriesChunk) +
                     (ids_.capacity() - ids_cap) * sizeof(uint64_t);
  }
  if (chunks_[table_[i].index].type() != type) return false;
  InsertInto(table_[i].index, ts, value_bits);
  return true;
}

std::vector<uint64_t> Head::SortedSeriesIds() const {
  std::vector<uint64_t> ids = ids_;
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool Head::Read(uint64_t series_id, int64_t from, int64_t to, ValueType* type,
                std::vector<int64_t>* ts, std::vector<uint64_t>* values) const {
  const SeriesChunk* chunk = Find(series_id);
  if (chunk == nullptr) return false;
  *type = chunk->type();
  chunk->Read(from, to, ts, values);
  return true;
}

}  // namespace meterd::storage
