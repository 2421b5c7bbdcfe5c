// meterd — tests/fuzz/catalog_fuzz_replay_test.cc
//
// The catalog fuzz target (catalog_fuzz.cc) over its corpus (tests/fuzz/corpus/catalog) and
// 2,000 seeded mutations in every build. The seeds are the sample document
// docs/examples/catalog.yaml, a small YAML document, the JSON that ExportCatalog writes for the
// sample once applied, and one price book version in the stored form EncodeVersion writes. A
// document has no checksum: the checks are no crash, the sanitizers, the stored form's round
// trip and the same answer for the same input.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "engine/pricebook/billing_store.h"
#include "engine/pricebook/book_document.h"
#include "engine/pricebook/catalog_export.h"
#include "tests/fuzz/fuzz_replay.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {
namespace catalog_fuzz_replay_test {

std::vector<Seed> WriterSeeds() {
  std::vector<Seed> seeds;
  std::ifstream in(std::string(METERD_FUZZ_CORPUS_DIR) + "/../../../docs/examples/catalog.yaml");
  const std::string sample((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(sample.empty());
  seeds.emplace_back("sample-catalog.yaml", sample);
  seeds.emplace_back("small.yaml",
                     "schema: meterd/v1\n"
                     "locations:\n  - id: lon1\n    name: London 1\n"
                     "plans:\n  - id: copper\n    name: Copper\n    vcpus: 1\n"
                     "    memory_bytes: 536870912\n"
                     "domains:\n  - id: root\n    name: Root\n"
                     "accounts:\n  - id: acme\n    name: ACME\n    domain: root\n");
  auto store = engine::pricebook::BillingStore::Open(FreshScratchDir("catalog-writer"));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return seeds;
  auto applied = (*store)->Apply(sample, engine::tenancy::DocFormat::kYaml);
  EXPECT_TRUE(applied.ok()) << applied.status().ToString();
  const engine::pricebook::BillingSnapshot snap = (*store)->Current();
  auto exported = engine::pricebook::ExportCatalog(snap, {});
  EXPECT_TRUE(exported.ok());
  if (exported.ok()) seeds.emplace_back("export.json", exported->dump(2) + "\n");
  if (!snap.price_book->versions().empty()) {
    seeds.emplace_back(
        "stored-version.json",
        engine::pricebook::EncodeVersion(snap.price_book->versions().front()).dump());
  }
  return seeds;
}

TEST(CatalogFuzzReplay, CorpusAndSeededMutations) {
  const auto seeds = WriterSeeds();
  ASSERT_EQ(seeds.size(), 4u);
  // The sample creates entities when applied to an empty store.
  const Decoded sample = DecodeCatalog(seeds[0].second);
  ASSERT_TRUE(sample.status.ok()) << sample.status.ToString();
  EXPECT_GT(sample.items.size(), 10u);
  ReplayOptions o;
  o.name = "catalog";
  o.decode = DecodeCatalog;
  o.oracle = Oracle::kNone;
  o.mutations = 1000;  // a dry-run apply of the sample document takes ~1 ms
  o.sanitizer_mutations = 500;
  Replay(o, seeds);
}

}  // namespace catalog_fuzz_replay_test
}  // namespace meterd::fuzz
