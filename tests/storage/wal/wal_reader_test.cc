// meterd — tests/storage/wal/wal_reader_test.cc
//
// ReplayWal on damaged logs: torn tails are cut, mid-file corruption is reported and skipped at
// block granularity, records of another file number fail, newer formats are refused, and random
// corruption never crashes nor delivers wrong bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "storage/base/coding.h"
#include "storage/wal.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_record.h"
#include "tests/storage/wal/wal_test_util.h"
#include "tests/testing/temp_dir.h"

namespace meterd::storage {
namespace wal_reader_test {

using testing_wal::Payload;
using testing_wal::ReplayAll;
using wal_format::kBlockSize;
using wal_format::kFileHeaderRecordSize;

// Writes `sizes` as records into file `number` (no rotation); returns the written length.
uint64_t WriteLog(const std::string& dir, uint64_t number, const std::vector<size_t>& sizes,
                  uint64_t first_id = 0) {
  WalOptions options;
  options.dir = dir;
  options.file_size = 4 << 20;
  auto w = WalWriter::Open(options, number);
  EXPECT_TRUE(w.ok());
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_TRUE((*w)->Append(Payload(first_id + i, sizes[i])).ok());
  }
  EXPECT_TRUE((*w)->Close().ok());
  return (*w)->stats().written_bytes;
}

std::string ReadFile(const std::string& path) {
  std::string data;
  EXPECT_TRUE(ReadWholeFile(path, &data).ok());
  return data;
}
void WriteFile(const std::string& path, std::string_view data) {
  auto f = OpenFile(path, OpenMode::kCreateTruncate, IoBackend::kPosix);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteAt(0, data).ok());
  ASSERT_TRUE((*f)->Close().ok());
}
void Poke(const std::string& path, uint64_t offset, std::string_view bytes) {
  auto f = OpenFile(path, OpenMode::kReadWrite, IoBackend::kPosix);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteAt(offset, bytes).ok());
  ASSERT_TRUE((*f)->Close().ok());
}

TEST(WalReaderTest, ListWalFilesIgnoresOtherNames) {
  testing::TempDir dir;
  for (const char* name : {"0000000000000003.wal", "0000000000000001.wal", "12.wal", "x.wal",
                           "0000000000000002.wal.tmp", "000000000000000a.wal", "MANIFEST"}) {
    WriteFile(dir.path() + "/" + name, "");
  }
  auto files = ListWalFiles(dir.path());
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(*files, (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(WalFileName("/d", 42), "/d/0000000000000042.wal");
}

TEST(WalReaderTest, EmptyAndZeroFilesAreClean) {
  testing::TempDir dir;
  WriteFile(WalFileName(dir.path(), 1), "");
  WriteFile(WalFileName(dir.path(), 2), std::string(100000, '\0'));
  {  // opened but never written: preallocated zeros only
    WalOptions options;
    options.dir = dir.path();
    options.file_size = 1 << 20;
    auto w = WalWriter::Open(options, 3);
    ASSERT_TRUE(w.ok());
  }
  auto got = ReplayAll(dir.path());
  EXPECT_TRUE(got.records.empty());
  EXPECT_TRUE(got.result.damage.empty());
  EXPECT_EQ(got.result.file_numbers, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(WalReaderTest, TruncatedLastRecordIsCutAsTornTail) {
  for (size_t last_size : {size_t{50}, size_t{100000}}) {  // FULL, and FIRST/MIDDLE/LAST
    testing::TempDir dir;
    std::vector<size_t> sizes = {10, 2000, 40000, 5, last_size};
    const uint64_t end = WriteLog(dir.path(), 1, sizes);
    const std::string path = WalFileName(dir.path(), 1);
    auto f = OpenFile(path, OpenMode::kReadWrite, IoBackend::kPosix);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Truncate(end - 7).ok());
    ASSERT_TRUE((*f)->Close().ok());

    auto got = ReplayAll(dir.path());
    ASSERT_EQ(got.records.size(), sizes.size() - 1);
    for (size_t i = 0; i + 1 < sizes.size(); ++i)
      EXPECT_EQ(got.records[i].second, Payload(i, sizes[i]));
    ASSERT_EQ(got.result.damage.size(), 1u);
    const WalDamage& d = got.result.damage[0];
    EXPECT_TRUE(d.torn_tail);
    EXPECT_EQ(d.file, path);
    EXPECT_EQ(d.offset + d.bytes, end - 7);
    EXPECT_EQ(*FileSize(path), d.offset);  // cut at the end of the last good record

    auto again = ReplayAll(dir.path());
    EXPECT_EQ(again.records.size(), sizes.size() - 1);
    EXPECT_TRUE(again.result.damage.empty());
  }
}

TEST(WalReaderTest, GarbageOverLastRecordIsCutAsTornTail) {
  testing::TempDir dir;
  std::vector<size_t> sizes = {300, 300, 70000};
  const uint64_t end = WriteLog(dir.path(), 4, sizes);
  const std::string path = WalFileName(dir.path(), 4);
  Poke(path, end - 4, "\xde\xad\xbe\xef");
  auto got = ReplayAll(dir.path());
  ASSERT_EQ(got.records.size(), 2u);
  ASSERT_EQ(got.result.damage.size(), 1u);
  EXPECT_TRUE(got.result.damage[0].torn_tail);
  EXPECT_NE(got.result.damage[0].reason.find("checksum"), std::string::npos)
      << got.result.damage[0].reason;
  EXPECT_EQ(*FileSize(path), got.result.damage[0].offset);
  auto again = ReplayAll(dir.path());
  EXPECT_EQ(again.records.size(), 2u);
  EXPECT_TRUE(again.result.damage.empty());
}

TEST(WalReaderTest, MidFileCorruptionSkipsOneBlockAndReportsIt) {
  testing::TempDir dir;
  std::vector<size_t> sizes;
  for (int i = 0; i < 300; ++i) sizes.push_back(700 + (i * 37) % 900);
  sizes[60] = 40000;  // one record spanning blocks
  WriteLog(dir.path(), 9, sizes);
  // Where each record starts and ends (the framing is deterministic).
  std::vector<uint64_t> start, end;
  uint64_t off = kFileHeaderRecordSize;
  for (size_t s : sizes) {
    start.push_back(off);
    off += wal::FramedSize(off, s);
    end.push_back(off);
  }
  const uint64_t flip = kBlockSize + 5000;  // inside block 1
  size_t bad = 0;
  while (end[bad] <= flip) ++bad;
  const std::string path = WalFileName(dir.path(), 9);
  std::string byte = ReadFile(path).substr(flip, 1);
  byte[0] = static_cast<char>(byte[0] ^ 0x10);
  Poke(path, flip, byte);

  auto got = ReplayAll(dir.path());
  std::set<uint64_t> delivered;
  for (const auto& [file, rec] : got.records) {
    const uint64_t id = base::DecodeFixed64(rec.data());
    ASSERT_EQ(rec, Payload(id, sizes[id]));
    delivered.insert(id);
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    const bool expect = end[i] <= start[bad] || start[i] >= 2 * kBlockSize;
    EXPECT_EQ(delivered.count(i) == 1, expect) << "record " << i;
  }
  EXPECT_EQ(delivered.count(bad), 0u);
  ASSERT_GE(got.result.damage.size(), 1u);
  const WalDamage& d = got.result.damage[0];
  EXPECT_FALSE(d.torn_tail);
  EXPECT_EQ(d.file, path);
  EXPECT_LE(d.offset, flip);
  EXPECT_GT(d.offset + d.bytes, flip);
  for (const WalDamage& x : got.result.damage) EXPECT_FALSE(x.torn_tail);
  // Nothing was cut: a second replay sees the same damage and the same records.
  auto again = ReplayAll(dir.path());
  EXPECT_EQ(again.records.size(), got.records.size());
  EXPECT_EQ(again.result.damage.size(), got.result.damage.size());
}

TEST(WalReaderTest, ZeroedRangeInTheMiddleIsDamageNotTheEnd) {
  testing::TempDir dir;
  std::vector<size_t> sizes(200, 1000);
  WriteLog(dir.path(), 1, sizes);
  const std::string path = WalFileName(dir.path(), 1);
  Poke(path, kBlockSize, std::string(4096, '\0'));  // a lost sector at the start of block 1
  auto got = ReplayAll(dir.path());
  ASSERT_GE(got.result.damage.size(), 1u);
  EXPECT_FALSE(got.result.damage[0].torn_tail);
  EXPECT_GT(got.records.size(), 150u);  // blocks 2.. still delivered
  EXPECT_EQ(base::DecodeFixed64(got.records.back().second.data()), 199u);
}

TEST(WalReaderTest, RecordsCopiedToAnotherFileNumberFail) {
  testing::TempDir dir;
  WriteLog(dir.path(), 5, {100, 200, 50000});
  const std::string data = ReadFile(WalFileName(dir.path(), 5));
  ASSERT_TRUE(RemoveFile(WalFileName(dir.path(), 5)).ok());
  WriteFile(WalFileName(dir.path(), 6), data);
  auto got = ReplayAll(dir.path());
  EXPECT_TRUE(got.records.empty());
  ASSERT_EQ(got.result.damage.size(), 1u);
  EXPECT_NE(got.result.damage[0].reason.find("checksum"), std::string::npos);
}

TEST(WalReaderTest, NewerVersionOrUnknownTypeIsRefusedAndSkippableIsSkipped) {
  const uint64_t seed = wal::RecordSeed(1);
  auto header = [&](uint8_t version) {
    std::string h = wal::EncodeFileHeader(1);
    h[wal_format::kVersionOffset] = static_cast<char>(version);
    std::string out;
    wal::AppendFragment(&out, seed, wal_format::kFileHeaderKind, h);
    return out;
  };
  {
    testing::TempDir dir;
    std::string data = header(2);
    wal::AppendRecord(&data, data.size(), seed, "r");
    WriteFile(WalFileName(dir.path(), 1), data);
    auto r = ReplayWal(dir.path(), 0, [](uint64_t, std::string_view) { return Status::OK(); });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kNotSupported);
    EXPECT_EQ(*FileSize(WalFileName(dir.path(), 1)), data.size());  // nothing cut
  }
  {
    testing::TempDir dir;
    std::string data = header(1);
    wal::AppendFragment(&data, seed, 9, "from the future");
    WriteFile(WalFileName(dir.path(), 1), data);
    auto r = ReplayWal(dir.path(), 0, [](uint64_t, std::string_view) { return Status::OK(); });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kNotSupported);
  }
  {
    testing::TempDir dir;
    std::string data = header(1);
    wal::AppendRecord(&data, data.size(), seed, "a");
    wal::AppendFragment(&data, seed, 9 | wal_format::kSkippableBit, "optional");
    wal::AppendRecord(&data, data.size(), seed, std::string(70000, 'x'), wal_format::kSkippableBit);
    wal::AppendRecord(&data, data.size(), seed, "b");
    WriteFile(WalFileName(dir.path(), 1), data);
    auto got = ReplayAll(dir.path());
    ASSERT_EQ(got.records.size(), 2u);
    EXPECT_EQ(got.records[0].second, "a");
    EXPECT_EQ(got.records[1].second, "b");
    EXPECT_TRUE(got.result.damage.empty());
  }
}

TEST(WalReaderTest, CallbackErrorStopsReplay) {
  testing::TempDir dir;
  WriteLog(dir.path(), 1, {1, 2, 3});
  int calls = 0;
  auto r = ReplayWal(dir.path(), 0, [&](uint64_t, std::string_view) {
    return ++calls == 2 ? Status::Busy("stop") : Status::OK();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsBusy());
  EXPECT_EQ(calls, 2);
}

// Random flips, zeroed ranges, garbage and truncations over a multi-file log: replay never
// crashes, delivers only original records, in their original order, and a second replay finds
// no torn tail left.
TEST(WalReaderTest, RandomCorruptionNeverDeliversWrongBytes) {
  testing::TempDir pristine;
  std::vector<size_t> sizes;
  std::mt19937_64 rng(42);
  for (int i = 0; i < 120; ++i) {
    sizes.push_back(rng() % 4 == 0 ? 8 + rng() % 60000 : 8 + rng() % 2000);
  }
  {
    WalOptions options;
    options.dir = pristine.path();
    options.file_size = 128 << 10;
    auto w = WalWriter::Open(options, 1);
    ASSERT_TRUE(w.ok());
    for (size_t i = 0; i < sizes.size(); ++i) {
      ASSERT_TRUE((*w)->Append(Payload(i, sizes[i])).ok());
    }
    ASSERT_TRUE((*w)->Close().ok());
  }
  auto numbers = ListWalFiles(pristine.path());
  ASSERT_TRUE(numbers.ok());
  ASSERT_GE(numbers->size(), 3u);
  std::map<uint64_t, std::string> files;
  for (uint64_t n : *numbers) files[n] = ReadFile(WalFileName(pristine.path(), n));

  for (int iter = 0; iter < 150; ++iter) {
    testing::TempDir dir;
    for (auto [n, data] : files) {
      const size_t used = std::max<size_t>(1, data.find_last_not_of('\0') + 1);
      const int kind = static_cast<int>(rng() % 5);
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && rng() % 2 == 0; ++e) {
        const size_t at = rng() % used;
        switch (kind) {
          case 0:
            data[at] = static_cast<char>(data[at] ^ (1 << (rng() % 8)));
            break;
          case 1:
            std::memset(data.data() + at, 0, std::min<size_t>(data.size() - at, rng() % 5000));
            break;
          case 2:
            for (size_t k = at; k < std::min(data.size(), at + rng() % 300); ++k) {
              data[k] = static_cast<char>(rng());
            }
            break;
          case 3:
            data.resize(at);
            break;
          default:
            break;
        }
        if (data.size() <= at) break;
      }
      WriteFile(WalFileName(dir.path(), n), data);
    }
    auto got = ReplayAll(dir.path());
    int64_t prev = -1;
    for (const auto& [file, rec] : got.records) {
      ASSERT_GE(rec.size(), 8u);
      const uint64_t id = base::DecodeFixed64(rec.data());
      ASSERT_LT(id, sizes.size());
      ASSERT_EQ(rec, Payload(id, sizes[id])) << "iteration " << iter;
      ASSERT_GT(static_cast<int64_t>(id), prev);
      prev = static_cast<int64_t>(id);
    }
    auto again = ReplayAll(dir.path());
    EXPECT_EQ(again.records.size(), got.records.size());
    for (const WalDamage& d : again.result.damage) EXPECT_FALSE(d.torn_tail);
  }
}

}  // namespace wal_reader_test
}  // namespace meterd::storage
