// meterd — tests/storage/head/head_test.cc
#include "storage/head/head.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace meterd::storage {
namespace head_test {

TEST(HeadTest, ManySeriesRoundTripAndSortedIds) {
  Head head;
  std::mt19937_64 rng(7);
  std::map<uint64_t, std::map<int64_t, uint64_t>> ref;
  std::vector<uint64_t> ids(5000);
  for (auto& id : ids) id = rng();
  ids[0] = 0;  // id 0 is a valid series id
  for (int t = 0; t < 40; ++t) {
    for (uint64_t id : ids) {
      uint64_t v = rng() % 100;
      ASSERT_TRUE(head.Insert(id, 1000 + t, v, ValueType::kInt));
      ref[id][1000 + t] = v;
    }
  }
  EXPECT_EQ(head.series_count(), ids.size());
  EXPECT_EQ(head.samples(), ids.size() * 40);
  auto sorted = head.SortedSeriesIds();
  ASSERT_EQ(sorted.size(), ref.size());
  size_t i = 0;
  for (const auto& [id, series] : ref) {
    ASSERT_EQ(sorted[i++], id);
    ValueType type;
    std::vector<int64_t> ts;
    std::vector<uint64_t> values;
    ASSERT_TRUE(head.Read(id, 0, INT64_MAX, &type, &ts, &values));
    ASSERT_EQ(ts.size(), series.size());
    size_t j = 0;
    for (const auto& [t, v] : series) {
      EXPECT_EQ(ts[j], t);
      EXPECT_EQ(values[j], v);
      ++j;
    }
  }
  EXPECT_FALSE(head.Find(12345) != nullptr && ref.count(12345) == 0);
}

TEST(HeadTest, RefusesAnotherValueType) {
  Head head;
  ASSERT_TRUE(head.Insert(1, 10, 5, ValueType::kInt));
  EXPECT_FALSE(head.Insert(1, 11, DoubleToBits(1.5), ValueType::kFloat));
  EXPECT_EQ(head.samples(), 1u);
  ValueType type;
  ASSERT_TRUE(head.LookupType(1, &type));
  EXPECT_EQ(type, ValueType::kInt);
}

TEST(HeadTest, MemoryUnderThreeBytesPerSampleForFleetLikeData) {
  // 2,000 series x 1 hour of per-second samples: levels, steady and bursty counters.
  Head head;
  std::mt19937_64 rng(3);
  std::vector<uint64_t> value(2000, 0);
  for (int t = 0; t < 3600; ++t) {
    for (uint64_t s = 0; s < value.size(); ++s) {
      switch (s % 4) {
        case 0:
          break;  // a held level
        case 1:
          value[s] += 1000000000 + rng() % 50000000;
          break;  // CPU ns
        case 2:
          value[s] += (rng() % 10 == 0) ? rng() % 65536 : 0;
          break;  // bursty I/O
        case 3:
          value[s] += 300 + rng() % 200;
          break;  // network bytes
      }
      head.Insert(s * 0x9E3779B97F4A7C15ull, 1700000000 + t, value[s], ValueType::kInt);
    }
  }
  const double per_sample = static_cast<double>(head.memory_bytes()) / head.samples();
  RecordProperty("bytes_per_sample", std::to_string(per_sample));
  EXPECT_LT(per_sample, 3.0);
}

}  // namespace head_test
}  // namespace meterd::storage
