// meterd — tests/fuzz/csv_fuzz_replay_test.cc
//
// The CSV fuzz target (csv_fuzz.cc) over its corpus (tests/fuzz/corpus/csv: ingest and
// backfill files in the forms csv_ingest.h and csv_backfill.h describe) and 2,000 seeded
// mutations in every build. CSV has no checksum: the checks are no crash, the sanitizers, the
// quoting round trip and the same answer for the same input.
#include <gtest/gtest.h>

#include <string>

#include "tests/fuzz/fuzz_replay.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {
namespace csv_fuzz_replay_test {

TEST(CsvFuzzReplay, CorpusAndSeededMutations) {
  const auto corpus = LoadCorpus("csv");
  ASSERT_GE(corpus.size(), 4u);
  // The valid files parse without a single refused row.
  for (const auto& [file, text] : corpus) {
    if (file.rfind("regress-", 0) == 0) continue;
    const Decoded d = DecodeCsv(text);
    ASSERT_TRUE(d.status.ok()) << file;
    for (const std::string& item : d.items) {
      EXPECT_EQ(item.find(" refused "), std::string::npos) << file << ": " << item;
    }
  }
  ReplayOptions o;
  o.name = "csv";
  o.decode = DecodeCsv;
  o.oracle = Oracle::kNone;
  Replay(o, {});
}

}  // namespace csv_fuzz_replay_test
}  // namespace meterd::fuzz
