// meterd — tests/fuzz/segment_fuzz_replay_test.cc
//
// The segment fuzz target (segment_fuzz.cc) over its corpus (tests/fuzz/corpus/segment) and
// 2,000 seeded mutations in every build. The seeds are written by SegmentWriter. Every block
// and the index carry a checksum seeded with the segment id and their offset, so a damaged file
// may lose blocks but never yields a row the intact file does not hold.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "storage/io/file.h"
#include "storage/sample_batch.h"
#include "storage/segment.h"
#include "tests/fuzz/fuzz_replay.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {
namespace segment_fuzz_replay_test {

struct Series {
  uint64_t id;
  storage::ValueType type;
  std::vector<int64_t> ts;
  std::vector<uint64_t> values;
};

std::string WriteSegment(const std::vector<Series>& series) {
  const std::string dir = FreshScratchDir("segment-writer");
  char name[32];
  std::snprintf(name, sizeof(name), "/%016" PRIu64 ".seg", kSegmentFuzzId);
  const std::string path = dir + name;
  auto w =
      storage::SegmentWriter::Create(path, kSegmentFuzzId, 1767225600, storage::IoBackend::kPosix);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return {};
  for (const Series& s : series) {
    EXPECT_TRUE((*w)->AddSeries(s.id, s.type, s.ts.data(), s.values.data(), s.ts.size()).ok());
  }
  EXPECT_TRUE((*w)->Finish().ok());
  std::string data;
  EXPECT_TRUE(storage::ReadWholeFile(path, &data).ok());
  return data;
}

Series Make(uint64_t id, storage::ValueType type, size_t n, int64_t t0, int64_t step,
            uint64_t (*value)(size_t)) {
  Series s{id, type, {}, {}};
  for (size_t i = 0; i < n; ++i) {
    s.ts.push_back(t0 + static_cast<int64_t>(i) * step +
                   (step > 1 ? static_cast<int64_t>(i % 3) : 0));
    s.values.push_back(value(i));
  }
  return s;
}

std::vector<Seed> WriterSeeds() {
  using storage::ValueType;
  const int64_t t0 = 1767225600;
  std::vector<Seed> seeds;
  seeds.emplace_back(
      "single-row.seg",
      WriteSegment({Make(42, ValueType::kInt, 1, t0, 1, [](size_t) -> uint64_t { return 4; })}));
  seeds.emplace_back(
      "int-columns.seg",
      WriteSegment(
          {Make(1, ValueType::kInt, 10, t0, 10, [](size_t) -> uint64_t { return 2; }),
           Make(2, ValueType::kInt, 60, t0, 10, [](size_t i) -> uint64_t { return 1000 + 37 * i; }),
           Make(3, ValueType::kInt, 200, t0, 30,
                [](size_t i) -> uint64_t { return (i * 2654435761u) % 100000; }),
           Make(4, ValueType::kInt, 50, t0, 60,
                [](size_t i) -> uint64_t { return i % 10 == 0 ? i : 0; })}));
  seeds.emplace_back(
      "float-columns.seg",
      WriteSegment({Make(10, ValueType::kFloat, 40, t0, 10,
                         [](size_t i) { return storage::DoubleToBits(0.25 * double(i % 7)); }),
                    Make(11, ValueType::kFloat, 40, t0, 10,
                         [](size_t i) { return storage::DoubleToBits(std::sin(double(i))); }),
                    Make(12, ValueType::kFloat, 3, t0, 1, [](size_t i) {
                      return storage::DoubleToBits(i == 0 ? -0.0 : i == 1 ? INFINITY : 1e300);
                    })}));
  // One series over two blocks (kMaxBlockRows + 5 rows).
  seeds.emplace_back("two-blocks.seg",
                     WriteSegment({Make(5, ValueType::kInt, storage::kMaxBlockRows + 5, t0, 1,
                                        [](size_t i) -> uint64_t { return i / 100; })}));
  return seeds;
}

TEST(SegmentFuzzReplay, CorpusAndSeededMutations) {
  const auto seeds = WriterSeeds();
  const Decoded two = DecodeSegment(seeds[3].second);
  ASSERT_TRUE(two.status.ok()) << two.status.ToString();
  EXPECT_EQ(two.items.size(), storage::kMaxBlockRows + 5);
  ReplayOptions o;
  o.name = "segment";
  o.decode = DecodeSegment;
  o.oracle = Oracle::kSubset;
  o.sanitizer_mutations = 300;  // a 8,197-row seed decodes slowly at -O0 with ASan
  Replay(o, seeds);
}

}  // namespace segment_fuzz_replay_test
}  // namespace meterd::fuzz
