// meterd — tests/fuzz/wal_fuzz_replay_test.cc
//
// The WAL fuzz target (wal_fuzz.cc) over its corpus (tests/fuzz/corpus/wal) and 2,000 seeded
// mutations in every build. The seeds are written by WalWriter itself (and, for a skippable
// record, which WalWriter never writes, by the framing functions it uses). Every fragment is
// checksummed, so a damaged file may lose records but never yields one the intact file does not
// hold.
#include <gtest/gtest.h>

#include <string>

#include "storage/wal.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_record.h"
#include "tests/fuzz/fuzz_replay.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {
namespace wal_fuzz_replay_test {

namespace wf = storage::wal_format;

// A record of `size` bytes whose text names it and whose bytes are never zero (files are cut
// after their last non-zero byte: WalWriter preallocates with zeros).
std::string Payload(int id, size_t size) {
  std::string s = "record-" + std::to_string(id) + ":";
  uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(id + 1);
  while (s.size() < size) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    s.push_back(static_cast<char>(1 + x % 255));
  }
  s.resize(size);
  return s;
}

std::string WriteWal(const std::vector<std::string>& records) {
  const std::string dir = FreshScratchDir("wal-writer");
  storage::WalOptions options;
  options.dir = dir;
  options.file_size = 1 << 20;
  options.backend = storage::IoBackend::kPosix;
  auto w = storage::WalWriter::Open(options, kWalFuzzFileNumber);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return {};
  uint64_t last = 0;
  for (const std::string& r : records) {
    auto lsn = (*w)->Append(r);
    EXPECT_TRUE(lsn.ok());
    last = lsn.ok() ? *lsn : last;
  }
  if (last != 0) {
    EXPECT_TRUE((*w)->WaitDurable(last).ok());
  }
  EXPECT_TRUE((*w)->Close().ok());
  std::string data;
  EXPECT_TRUE(storage::ReadWholeFile(storage::WalFileName(dir, kWalFuzzFileNumber), &data).ok());
  while (!data.empty() && data.back() == '\0') data.pop_back();  // the preallocated zeros
  return data;
}

std::vector<Seed> WriterSeeds() {
  std::vector<Seed> seeds;
  seeds.emplace_back("no-records.wal", WriteWal({}));  // the writer leaves zeros only
  seeds.emplace_back("small-records.wal",
                     WriteWal({Payload(1, 1), Payload(2, 40), Payload(3, 700), Payload(4, 9)}));
  // FIRST, MIDDLE and LAST fragments: a record longer than two blocks.
  seeds.emplace_back(
      "fragmented.wal",
      WriteWal({Payload(5, 30), Payload(6, 2 * wf::kBlockSize + 100), Payload(7, 20)}));
  // A record ending 5 bytes before a block boundary: the next header starts in the next block
  // after a zero-filled tail. The file header record takes 27 bytes, a fragment header 11.
  const size_t to_tail = wf::kBlockSize - 5 - wf::kFileHeaderRecordSize - wf::kHeaderSize;
  seeds.emplace_back("block-tail.wal", WriteWal({Payload(8, to_tail), Payload(9, 50)}));
  // A skippable record (a newer writer's optional record) between two plain ones, framed by
  // the writer's own functions.
  const uint64_t seed = storage::wal::RecordSeed(kWalFuzzFileNumber);
  std::string s;
  storage::wal::AppendFragment(&s, seed, wf::kFileHeaderKind,
                               storage::wal::EncodeFileHeader(kWalFuzzFileNumber));
  uint64_t offset = s.size();
  offset = storage::wal::AppendRecord(&s, offset, seed, Payload(10, 60));
  offset = storage::wal::AppendRecord(&s, offset, seed, Payload(11, 80), wf::kSkippableBit);
  storage::wal::AppendRecord(&s, offset, seed, Payload(12, 25));
  seeds.emplace_back("skippable.wal", s);
  return seeds;
}

TEST(WalFuzzReplay, CorpusAndSeededMutations) {
  const auto seeds = WriterSeeds();
  // The writer seeds replay to exactly their records.
  const Decoded small = DecodeWal(seeds[1].second);
  ASSERT_TRUE(small.status.ok()) << small.status.ToString();
  EXPECT_EQ(small.items.size(), 4u);
  const Decoded frag = DecodeWal(seeds[2].second);
  ASSERT_EQ(frag.items.size(), 3u);
  EXPECT_EQ(frag.items[1], Payload(6, 2 * wf::kBlockSize + 100));
  EXPECT_EQ(DecodeWal(seeds[4].second).items.size(), 2u);  // the skippable one is skipped
  ReplayOptions o;
  o.name = "wal";
  o.decode = DecodeWal;
  o.oracle = Oracle::kSubset;
  Replay(o, seeds);
}

}  // namespace wal_fuzz_replay_test
}  // namespace meterd::fuzz
