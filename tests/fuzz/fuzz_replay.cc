// meterd — tests/fuzz/fuzz_replay.cc
#include "tests/fuzz/fuzz_replay.h"
#include "tests/fuzz/fuzz_targets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace meterd::fuzz {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif
#else
constexpr bool kSanitizerBuild = false;
#endif

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool IsRegression(const std::string& file) { return file.rfind("regress-", 0) == 0; }

}  // namespace

std::vector<Seed> LoadCorpus(const std::string& name) {
  namespace fs = std::filesystem;
  std::vector<Seed> out;
  const fs::path dir = fs::path(METERD_FUZZ_CORPUS_DIR) / name;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) {
      out.emplace_back(e.path().filename().string(), ReadAll(e.path().string()));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Mutate(std::mt19937_64& rng, const std::string& input) {
  std::string s = input;
  auto pos = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  const int rounds = 1 + static_cast<int>(rng() % 3 == 0);  // a third get two mutations
  for (int round = 0; round < rounds; ++round) {
    switch (rng() % 7) {
      case 0: {  // flip 1..4 bits
        if (s.empty()) break;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) s[pos(s.size())] ^= static_cast<char>(1u << (rng() % 8));
        break;
      }
      case 1:  // truncate
        s.resize(pos(s.size() + 1));
        break;
      case 2: {  // insert 1..16 random bytes
        std::string add(1 + rng() % 16, '\0');
        for (char& c : add) c = static_cast<char>(rng());
        s.insert(pos(s.size() + 1), add);
        break;
      }
      case 3: {  // delete a range
        if (s.empty()) break;
        const size_t at = pos(s.size());
        s.erase(at, 1 + pos(std::min<size_t>(64, s.size() - at)));
        break;
      }
      case 4: {  // overwrite 1..8 bytes with boundary values
        static constexpr unsigned char kValues[] = {0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE, '\n', ','};
        if (s.empty()) break;
        const size_t at = pos(s.size());
        const size_t n = std::min<size_t>(1 + rng() % 8, s.size() - at);
        for (size_t i = 0; i < n; ++i) s[at + i] = static_cast<char>(kValues[rng() % 8]);
        break;
      }
      case 5: {  // copy a chunk of the input somewhere else in it
        if (s.empty()) break;
        const size_t from = pos(s.size());
        const std::string chunk = s.substr(from, 1 + pos(std::min<size_t>(256, s.size() - from)));
        s.insert(pos(s.size() + 1), chunk);
        break;
      }
      default: {  // overwrite a random byte with a random value
        if (s.empty()) break;
        s[pos(s.size())] = static_cast<char>(rng());
        break;
      }
    }
  }
  return s;
}

void Replay(const ReplayOptions& o, const std::vector<Seed>& writer_seeds) {
  if (const char* out = std::getenv("METERD_FUZZ_WRITE_CORPUS"); out != nullptr && *out != '\0') {
    const std::filesystem::path dir = std::filesystem::path(out) / o.name;
    std::filesystem::create_directories(dir);
    for (const auto& [file, bytes] : writer_seeds) {
      std::ofstream(dir / file, std::ios::binary | std::ios::trunc) << bytes;
    }
  }
  const std::vector<Seed> corpus = LoadCorpus(o.name);
  ASSERT_FALSE(corpus.empty()) << "no corpus in " << METERD_FUZZ_CORPUS_DIR << "/" << o.name;

  // 1. Valid seeds decode; crash repros come back.
  std::vector<Seed> valid;
  for (const Seed& s : corpus) {
    const Decoded d = o.decode(s.second);
    EXPECT_EQ(
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.second.data()), s.second.size()),
        0);
    if (IsRegression(s.first)) continue;
    EXPECT_TRUE(d.status.ok()) << o.name << "/" << s.first << ": " << d.status.ToString();
    valid.push_back(s);
  }
  for (const Seed& s : writer_seeds) {
    const Decoded d = o.decode(s.second);
    EXPECT_TRUE(d.status.ok()) << "writer seed " << s.first << ": " << d.status.ToString();
    valid.push_back(s);
  }
  ASSERT_FALSE(valid.empty());

  // 2 and 3. Seeded mutations.
  std::vector<Decoded> intact;
  for (const Seed& s : valid) intact.push_back(o.decode(s.second));
  std::mt19937_64 rng(o.prng_seed);
  int errors = 0, changed = 0;
  const int mutations = kSanitizerBuild ? o.sanitizer_mutations : o.mutations;
  for (int i = 0; i < mutations; ++i) {
    const size_t k = static_cast<size_t>(rng() % valid.size());
    const std::string& original = valid[k].second;
    const std::string m = Mutate(rng, original);
    ASSERT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(m.data()), m.size()), 0);
    const Decoded d = o.decode(m);
    if (m == original) continue;
    ++changed;
    errors += d.status.ok() ? 0 : 1;
    const std::string where = o.name + "/" + valid[k].first + ", mutation " + std::to_string(i);
    switch (o.oracle) {
      case Oracle::kNone: {
        const Decoded again = o.decode(m);  // same input, same answer
        ASSERT_EQ(again.status.ToString(), d.status.ToString()) << where;
        ASSERT_EQ(again.items, d.items) << where;
        break;
      }
      case Oracle::kSubset: {
        const std::multiset<std::string> known(intact[k].items.begin(), intact[k].items.end());
        for (const std::string& item : d.items) {
          ASSERT_TRUE(known.count(item) > 0) << where << " yielded an item the intact input "
                                             << "does not hold: " << item.substr(0, 200);
        }
        break;
      }
      case Oracle::kWholeOrError:
        ASSERT_FALSE(d.status.ok()) << where << ": a changed input decoded without an error";
        break;
    }
  }
  // Sanity: the mutations did damage something.
  EXPECT_GT(changed, mutations / 2) << o.name;
  std::printf("[ replay ] %s: %zu seeds, %d mutations, %d changed, %d decoded with an error\n",
              o.name.c_str(), valid.size(), mutations, changed, errors);
}

}  // namespace meterd::fuzz
