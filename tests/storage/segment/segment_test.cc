// meterd — tests/storage/segment/segment_test.cc
#include "storage/segment.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "storage/io/file.h"
#include "tests/testing/temp_dir.h"

namespace meterd::storage {
namespace segment_test {

struct SeriesData {
  ValueType type;
  std::vector<int64_t> ts;
  std::vector<uint64_t> values;
};
using Data = std::map<uint64_t, SeriesData>;

Data RandomData(std::mt19937_64& rng, size_t series) {
  Data data;
  const size_t lengths[] = {1, 2, 8192, 8193, 20000, 3600, 17};
  for (size_t s = 0; s < series; ++s) {
    SeriesData d;
    d.type = rng() % 3 == 0 ? ValueType::kFloat : ValueType::kInt;
    const size_t n = lengths[rng() % std::size(lengths)];
    int64_t t = 1767225600 + static_cast<int64_t>(rng() % 1000);
    for (size_t i = 0; i < n; ++i) {
      t += rng() % 50 == 0 ? 1 + static_cast<int64_t>(rng() % 100000) : 1;
      d.ts.push_back(t);
      if (d.type == ValueType::kFloat) {
        const double specials[] = {std::nan(""), -0.0, std::numeric_limits<double>::infinity(),
                                   0.25 * static_cast<double>(i)};
        d.values.push_back(DoubleToBits(specials[rng() % 4]));
      } else {
        d.values.push_back(rng() % 4 == 0 ? rng() : i * 1000);
      }
    }
    data[rng()] = std::move(d);
  }
  return data;
}

std::string Write(const std::string& dir, const Data& data, uint64_t segment_id = 7) {
  char name[32];
  std::snprintf(name, sizeof(name), "/%016llu.seg", static_cast<unsigned long long>(segment_id));
  const std::string path = dir + name;
  auto w = SegmentWriter::Create(path, segment_id, 1767225600);
  EXPECT_TRUE(w.ok());
  for (const auto& [id, d] : data) {
    EXPECT_TRUE((*w)->AddSeries(id, d.type, d.ts.data(), d.values.data(), d.ts.size()).ok());
  }
  auto info = (*w)->Finish();
  EXPECT_TRUE(info.ok());
  return path;
}

// Reads every block and returns what verified; `bad` collects the failures.
Data ReadAll(const SegmentReader& r, std::vector<std::string>* bad) {
  Data out;
  DecodedBlock b;
  for (size_t i = 0; i < r.blocks().size(); ++i) {
    Status st = r.ReadBlock(i, &b);
    if (!st.ok()) {
      bad->push_back(st.ToString());
      continue;
    }
    SeriesData& d = out[b.series_id];
    d.type = b.type;
    d.ts.insert(d.ts.end(), b.ts.begin(), b.ts.end());
    d.values.insert(d.values.end(), b.values.begin(), b.values.end());
  }
  return out;
}

bool Same(const SeriesData& a, const SeriesData& b) {
  return a.type == b.type && a.ts == b.ts && a.values == b.values;
}

void Flip(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset)), 1);
  c = static_cast<char>(c ^ 0x10);
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
}

TEST(SegmentTest, RoundTripWithBlockSplittingAndTotals) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    testing::TempDir dir;
    std::mt19937_64 rng(seed);
    const Data data = RandomData(rng, 40);
    const std::string path = Write(dir.path(), data);
    auto r = SegmentReader::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE((*r)->salvaged());
    std::vector<std::string> bad;
    const Data back = ReadAll(**r, &bad);
    EXPECT_TRUE(bad.empty());
    ASSERT_EQ(back.size(), data.size());
    uint64_t samples = 0;
    for (const auto& [id, d] : data) {
      EXPECT_TRUE(Same(back.at(id), d)) << "seed " << seed << " series " << id;
      samples += d.ts.size();
      const size_t first = (*r)->LowerBound(id);
      ASSERT_LT(first, (*r)->blocks().size());
      EXPECT_EQ((*r)->blocks()[first].series_id, id);
    }
    EXPECT_EQ((*r)->info().samples, samples);
    EXPECT_EQ((*r)->info().series, data.size());
    for (const auto& b : (*r)->blocks()) EXPECT_LE(b.rows, kMaxBlockRows);
    EXPECT_EQ((*r)->LowerBound(0), 0u);
  }
}

TEST(SegmentTest, WriterRefusesBadInput) {
  testing::TempDir dir;
  auto w = SegmentWriter::Create(dir.path() + "/x.seg", 1, 0);
  ASSERT_TRUE(w.ok());
  int64_t ts[3] = {10, 11, 11};
  uint64_t v[3] = {1, 2, 3};
  EXPECT_TRUE((*w)->AddSeries(5, ValueType::kInt, ts, v, 0).IsInvalidArgument());
  EXPECT_TRUE((*w)->AddSeries(5, ValueType::kInt, ts, v, 3).IsInvalidArgument());  // ts repeat
  EXPECT_TRUE((*w)->AddSeries(5, ValueType::kInt, ts, v, 2).ok());
  EXPECT_TRUE((*w)->AddSeries(5, ValueType::kInt, ts, v, 2).IsInvalidArgument());  // id repeat
  EXPECT_TRUE((*w)->AddSeries(4, ValueType::kInt, ts, v, 2).IsInvalidArgument());  // id order
  EXPECT_TRUE((*w)->Finish().ok());
}

TEST(SegmentTest, EachDamagedBlockIsReportedAndTheOthersRead) {
  testing::TempDir dir;
  std::mt19937_64 rng(11);
  const Data data = RandomData(rng, 12);
  const std::string clean = Write(dir.path(), data);
  auto reader = SegmentReader::Open(clean);
  ASSERT_TRUE(reader.ok());
  const std::vector<SegmentBlockInfo> blocks = (*reader)->blocks();
  std::string bytes;
  ASSERT_TRUE(ReadWholeFile(clean, &bytes).ok());
  for (size_t victim = 0; victim < blocks.size(); ++victim) {
    const std::string path = dir.path() + "/0000000000000007.seg";
    ASSERT_TRUE(WriteFileAtomic(path, bytes).ok());
    const uint64_t at = blocks[victim].offset + rng() % blocks[victim].size;
    Flip(path, at);
    auto r = SegmentReader::Open(path);
    ASSERT_TRUE(r.ok());
    DecodedBlock b;
    for (size_t i = 0; i < blocks.size(); ++i) {
      Status st = (*r)->ReadBlock(i, &b);
      if (i == victim) {
        ASSERT_TRUE(st.IsCorruption()) << "block " << i << " flipped at " << at;
        EXPECT_NE(st.ToString().find("offset " + std::to_string(blocks[i].offset)),
                  std::string::npos);
      } else {
        ASSERT_TRUE(st.ok()) << st.ToString();
      }
    }
  }
}

TEST(SegmentTest, DamagedIndexOrFooterIsSalvaged) {
  testing::TempDir dir;
  std::mt19937_64 rng(12);
  const Data data = RandomData(rng, 10);
  const std::string path = Write(dir.path(), data);
  std::string bytes;
  ASSERT_TRUE(ReadWholeFile(path, &bytes).ok());
  auto clean = SegmentReader::Open(path);
  ASSERT_TRUE(clean.ok());
  const uint64_t data_end = (*clean)->blocks().back().offset + (*clean)->blocks().back().size;
  for (int trial = 0; trial < 20; ++trial) {
    ASSERT_TRUE(WriteFileAtomic(path, bytes).ok());
    Flip(path, data_end + rng() % (bytes.size() - data_end));  // index or footer
    auto r = SegmentReader::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE((*r)->salvaged());
    EXPECT_FALSE((*r)->damage().empty());
    std::vector<std::string> bad;
    const Data back = ReadAll(**r, &bad);
    EXPECT_TRUE(bad.empty());
    ASSERT_EQ(back.size(), data.size());
    for (const auto& [id, d] : data) EXPECT_TRUE(Same(back.at(id), d));
  }
}

TEST(SegmentTest, TruncationsNeverCrashAndKeepCompleteBlocks) {
  testing::TempDir dir;
  std::mt19937_64 rng(13);
  const Data data = RandomData(rng, 8);
  const std::string path = Write(dir.path(), data);
  std::string bytes;
  ASSERT_TRUE(ReadWholeFile(path, &bytes).ok());
  for (int trial = 0; trial < 30; ++trial) {
    const size_t cut = rng() % bytes.size();
    ASSERT_TRUE(WriteFileAtomic(path, bytes.substr(0, cut)).ok());
    auto r = SegmentReader::Open(path);
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsCorruption());
      continue;
    }
    std::vector<std::string> bad;
    const Data back = ReadAll(**r, &bad);
    EXPECT_TRUE(bad.empty());
    for (const auto& [id, d] : back) {
      // Salvaged blocks are whole blocks: each kept series is a prefix of the original.
      const SeriesData& orig = data.at(id);
      ASSERT_LE(d.ts.size(), orig.ts.size());
      EXPECT_TRUE(std::equal(d.ts.begin(), d.ts.end(), orig.ts.begin()));
      EXPECT_TRUE(std::equal(d.values.begin(), d.values.end(), orig.values.begin()));
    }
  }
}

TEST(SegmentTest, ABlockInTheWrongPlaceOrSegmentFailsItsChecksum) {
  testing::TempDir dir;
  std::mt19937_64 rng(14);
  const Data data = RandomData(rng, 3);
  const std::string path7 = Write(dir.path(), data, 7);
  std::string bytes;
  ASSERT_TRUE(ReadWholeFile(path7, &bytes).ok());
  // The same bytes under another segment id: the footer names 7, the seed for 8 differs.
  const std::string path8 = dir.path() + "/0000000000000008.seg";
  std::string moved = bytes;
  moved.replace(moved.size() - 96 + 16, 8, std::string("\x08\0\0\0\0\0\0\0", 8));  // footer id
  ASSERT_TRUE(WriteFileAtomic(path8, moved).ok());
  // The footer checksum fails, so the reader salvages with the id of the file name (8); every
  // block was sealed with id 7, so none verifies and nothing is served.
  EXPECT_TRUE(SegmentReader::Open(path8).status().IsCorruption());
  // The same blocks shifted 16 bytes further into the file: sealed for other offsets.
  ASSERT_TRUE(WriteFileAtomic(path7, std::string(16, 'x') + bytes).ok());
  EXPECT_TRUE(SegmentReader::Open(path7).status().IsCorruption());
  // Garbage is refused without a crash.
  std::string garbage(5000, '\0');
  for (char& c : garbage) c = static_cast<char>(rng());
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/g.seg", garbage).ok());
  auto g = SegmentReader::Open(dir.path() + "/g.seg");
  EXPECT_FALSE(g.ok());
}

}  // namespace segment_test
}  // namespace meterd::storage
