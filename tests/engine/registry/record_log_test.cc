// meterd — tests/engine/registry/record_log_test.cc
#include "engine/registry/record_log.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "storage/io/file.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace record_log_test {

std::vector<std::string> Replay(const std::string& path, std::string* damage) {
  std::vector<std::string> out;
  auto log = RecordLog::Open(
      path,
      [&](std::string_view r) {
        out.emplace_back(r);
        return Status::OK();
      },
      damage);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  return out;
}

std::string ReadAll(const std::string& path) {
  std::string s;
  EXPECT_TRUE(storage::ReadWholeFile(path, &s).ok());
  return s;
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

TEST(RecordLogTest, RecordsComeBackInOrderAfterReopen) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/x.log";
  std::string damage;
  {
    auto log = RecordLog::Open(
        path, [](std::string_view) { return Status::OK(); }, &damage);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE(log.value()->Append({"one", "", std::string(1000, 'z')}).ok());
    ASSERT_TRUE(log.value()->Append({"four"}).ok());
  }
  auto got = Replay(path, &damage);
  EXPECT_TRUE(damage.empty()) << damage;
  EXPECT_EQ(got, (std::vector<std::string>{"one", "", std::string(1000, 'z'), "four"}));
  EXPECT_EQ(ReadAll(path).substr(0, 8), "MTRLOG01");
}

TEST(RecordLogTest, ATornTailIsCutAndAppendsContinueAfterIt) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/x.log";
  std::string damage;
  {
    auto log = RecordLog::Open(
        path, [](std::string_view) { return Status::OK(); }, &damage);
    ASSERT_TRUE(log.value()->Append({"kept"}).ok());
    ASSERT_TRUE(log.value()->Append({"torn-record"}).ok());
  }
  std::string data = ReadAll(path);
  const size_t good = 8 + 12 + 4;
  WriteAll(path, data.substr(0, data.size() - 3));  // a crash mid-append
  {
    std::vector<std::string> got;
    auto log = RecordLog::Open(
        path,
        [&](std::string_view r) {
          got.emplace_back(r);
          return Status::OK();
        },
        &damage);
    ASSERT_TRUE(log.ok());
    EXPECT_EQ(got, std::vector<std::string>{"kept"});
    EXPECT_NE(damage.find("offset " + std::to_string(good)), std::string::npos) << damage;
    EXPECT_EQ(ReadAll(path).size(), good);
    ASSERT_TRUE(log.value()->Append({"after"}).ok());
  }
  EXPECT_EQ(Replay(path, &damage), (std::vector<std::string>{"kept", "after"}));
  EXPECT_TRUE(damage.empty());
}

TEST(RecordLogTest, AFlippedByteLosesOnlyItsRecordAndIsCountedAndQuarantined) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/x.log";
  std::string damage;
  {
    auto log = RecordLog::Open(
        path, [](std::string_view) { return Status::OK(); }, &damage);
    ASSERT_TRUE(log.value()->Append({"aaaa", "bbbb", "cccc"}).ok());
  }
  std::string data = ReadAll(path);
  data[8 + 16 + 12 + 1] ^= 0x40;  // inside "bbbb"
  WriteAll(path, data);
  std::vector<std::string> got;
  RecordLogReport report;
  auto log = RecordLog::Open(
      path,
      [&](std::string_view r) {
        got.emplace_back(r);
        return Status::OK();
      },
      &report);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(got, (std::vector<std::string>{"aaaa", "cccc"}));
  EXPECT_EQ(report.records, 2u);
  EXPECT_EQ(report.damaged_ranges, 1u);
  EXPECT_EQ(report.damaged_bytes, 16u);
  EXPECT_EQ(report.torn_tail_bytes, 0u);
  EXPECT_EQ(report.refused_records, 0u);
  EXPECT_FALSE(report.clean());
  EXPECT_NE(report.detail.find("checksum mismatch"), std::string::npos) << report.detail;
  EXPECT_NE(report.detail.find(report.quarantine), std::string::npos) << report.detail;
  EXPECT_EQ(ReadAll(report.quarantine), data);   // the file as found
  EXPECT_EQ(ReadAll(path).size(), 8 + 2 * 16u);  // rewritten without the damage
  EXPECT_EQ(log.value()->size(), 8 + 2 * 16u);
}

TEST(RecordLogTest, ARecordTheReplayRefusesIsSkippedCountedAndKept) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/x.log";
  std::string damage;
  {
    auto log = RecordLog::Open(
        path, [](std::string_view) { return Status::OK(); }, &damage);
    ASSERT_TRUE(log.value()->Append({"good", "bad!", "good"}).ok());
  }
  const std::string before = ReadAll(path);
  auto replay = [](std::string_view r) {
    return r == "bad!" ? Status::Corruption("not readable") : Status::OK();
  };
  RecordLogReport report;
  auto log = RecordLog::Open(path, replay, &report);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(report.records, 2u);
  EXPECT_EQ(report.refused_records, 1u);
  EXPECT_EQ(report.damaged_ranges, 0u);
  EXPECT_NE(report.detail.find("at offset 24: record refused: Corruption: not readable"),
            std::string::npos)
      << report.detail;
  EXPECT_EQ(ReadAll(path), before);  // a newer reader may know it: the bytes stay
  // Any other error still fails Open.
  auto failed = RecordLog::Open(
      path, [](std::string_view) { return Status::IOError("disk"); }, &report);
  EXPECT_EQ(failed.status().code(), Status::Code::kIOError);
}

TEST(RecordLogTest, AFileWithoutTheMagicIsRefused) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/x.log";
  WriteAll(path, "NOTALOG!garbage");
  std::string damage;
  auto log = RecordLog::Open(
      path, [](std::string_view) { return Status::OK(); }, &damage);
  EXPECT_EQ(log.status().code(), Status::Code::kCorruption);
}

TEST(RecordLogTest, PropertyAnyTruncationKeepsExactlyTheWholeRecordsBeforeIt) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/x.log";
  std::mt19937_64 rng(11);
  std::vector<std::string> written;
  std::string damage;
  {
    auto log = RecordLog::Open(
        path, [](std::string_view) { return Status::OK(); }, &damage);
    for (int i = 0; i < 40; ++i) {
      std::string r(rng() % 200, '\0');
      for (auto& c : r) c = static_cast<char>(rng());
      written.push_back(r);
      ASSERT_TRUE(log.value()->Append({r}).ok());
    }
  }
  const std::string full = ReadAll(path);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t cut = 8 + rng() % (full.size() - 8 + 1);
    WriteAll(path, full.substr(0, cut));
    auto got = Replay(path, &damage);
    size_t end = 8, whole = 0;
    while (whole < written.size() && end + 12 + written[whole].size() <= cut) {
      end += 12 + written[whole].size();
      ++whole;
    }
    ASSERT_EQ(got.size(), whole) << "cut at " << cut;
    for (size_t i = 0; i < whole; ++i) ASSERT_EQ(got[i], written[i]);
    EXPECT_EQ(damage.empty(), end == cut) << "cut at " << cut;
  }
}

}  // namespace record_log_test
}  // namespace meterd::engine
