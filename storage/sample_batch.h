// meterd — storage/sample_batch.h
//
// A batch of samples in columnar form: the unit the store appends, the WAL logs, and the
// ingest protocol carries. A sample is (series id, unix second, 64-bit value); the value is
// either an exact integer (counters, states, integer levels: ValueType::kInt, stored as the
// uint64 bit pattern, arithmetic wrapping mod 2^64) or an IEEE-754 double (floating gauges:
// ValueType::kFloat, stored as its bit pattern so that NaN payloads and -0.0 survive).
//
// Thread-safety: a value type; not synchronised.
// Invariant: all four columns have the same length.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

namespace meterd::storage {

enum class ValueType : uint8_t { kInt = 1, kFloat = 2 };

inline uint64_t DoubleToBits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  return bits;
}
inline double BitsToDouble(uint64_t bits) {
  double v;
  std::memcpy(&v, &bits, 8);
  return v;
}

struct Sample {
  uint64_t series_id;
  int64_t ts;  // unix seconds
  uint64_t value_bits;
  ValueType type;

  bool operator==(const Sample&) const = default;
};

class SampleBatch {
 public:
  void Reserve(size_t n) {
    series_.reserve(n);
    ts_.reserve(n);
    values_.reserve(n);
    types_.reserve(n);
  }
  void Clear() {
    series_.clear();
    ts_.clear();
    values_.clear();
    types_.clear();
  }
  void Add(uint64_t series_id, int64_t ts, uint64_t value_bits, ValueType type) {
    series_.push_back(series_id);
    ts_.push_back(ts);
    values_.push_back(value_bits);
    types_.push_back(type);
  }
  void AddInt(uint64_t series_id, int64_t ts, uint64_t value) {
    Add(series_id, ts, value, ValueType::kInt);
  }
  void AddFloat(uint64_t series_id, int64_t ts, double value) {
    Add(series_id, ts, DoubleToBits(value), ValueType::kFloat);
  }
  void Add(const Sample& s) { Add(s.series_id, s.ts, s.value_bits, s.type); }

  size_t size() const { return series_.size(); }
  bool empty() const { return series_.empty(); }
  Sample at(size_t i) const { return Sample{series_[i], ts_[i], values_[i], types_[i]}; }

  const std::vector<uint64_t>& series() const { return series_; }
  const std::vector<int64_t>& timestamps() const { return ts_; }
  const std::vector<uint64_t>& values() const { return values_; }
  const std::vector<ValueType>& types() const { return types_; }

 private:
  std::vector<uint64_t> series_;
  std::vector<int64_t> ts_;
  std::vector<uint64_t> values_;
  std::vector<ValueType> types_;
};

}  // namespace meterd::storage
