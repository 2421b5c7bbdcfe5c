// meterd — tests/fuzz/manifest_fuzz_replay_test.cc
//
// The manifest fuzz target (manifest_fuzz.cc) over its corpus (tests/fuzz/corpus/manifest) and
// 2,000 seeded mutations in every build. The seeds are encoded by EncodeManifest and
// EncodeRollupManifest, the functions the store and the rollup store write with. One checksum
// covers each whole manifest: any change must be refused.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/manifest/manifest.h"
#include "storage/rollup/rollup_format.h"
#include "storage/rollup/rollup_manifest.h"
#include "tests/fuzz/fuzz_replay.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {
namespace manifest_fuzz_replay_test {

std::vector<Seed> WriterSeeds() {
  std::vector<Seed> seeds;
  storage::Manifest fresh;
  seeds.emplace_back("store-empty.manifest", storage::EncodeManifest(fresh));
  storage::Manifest m;
  m.generation = 17;
  m.next_segment_id = 9;
  m.wal_min_number = 4;
  m.partition_seconds = 86400;
  for (uint64_t id = 5; id <= 8; ++id) {
    const int64_t start = 1767225600 + static_cast<int64_t>(id - 5) / 2 * 86400;
    m.segments.push_back(storage::SegmentRecord{id, start, start + 10, start + 3599, 1000 * id,
                                                10 + id, 12 + id, 4096 * id});
  }
  seeds.emplace_back("store-segments.manifest", storage::EncodeManifest(m));

  namespace rf = storage::rollup_format;
  storage::rollup::Manifest r;
  r.generation = 5;
  r.next_file_id = 7;
  const int64_t jan = 1767225600, feb = storage::rollup::NextMonthStart(jan);
  r.sealed_before = feb + 3 * 3600;
  r.files.push_back({3, rf::kKindMonth, jan, 2, 744 * 40, 1 << 20});
  r.files.push_back({4, rf::kKindPart, feb, 0, 40, 9000});
  r.files.push_back({5, rf::kKindPart, feb + 3600, 0, 41, 9100});
  r.files.push_back({6, rf::kKindPart, feb + 7200, 0, 41, 9100});
  seeds.emplace_back("rollup-files.manifest", storage::rollup::EncodeRollupManifest(r));
  seeds.emplace_back("rollup-empty.manifest",
                     storage::rollup::EncodeRollupManifest(storage::rollup::Manifest{}));
  return seeds;
}

TEST(ManifestFuzzReplay, CorpusAndSeededMutations) {
  const auto seeds = WriterSeeds();
  EXPECT_EQ(DecodeManifests(seeds[1].second).items.size(), 5u);
  EXPECT_EQ(DecodeManifests(seeds[2].second).items.size(), 5u);
  ReplayOptions o;
  o.name = "manifest";
  o.decode = DecodeManifests;
  o.oracle = Oracle::kWholeOrError;
  Replay(o, seeds);
}

}  // namespace manifest_fuzz_replay_test
}  // namespace meterd::fuzz
