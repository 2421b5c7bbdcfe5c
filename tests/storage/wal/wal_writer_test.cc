// meterd — tests/storage/wal/wal_writer_test.cc
//
// WalWriter: round trips through real files (both I/O backends), rotation, group commit under
// concurrency, backpressure, durability callbacks, and the failed state.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "storage/wal.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_record.h"
#include "tests/storage/wal/wal_test_util.h"
#include "tests/testing/temp_dir.h"

namespace meterd::storage {
namespace wal_writer_test {

using testing_wal::Payload;
using testing_wal::ReplayAll;
using wal_format::kBlockSize;
using wal_format::kFileHeaderRecordSize;
using wal_format::kHeaderSize;

// Sizes that hit every framing edge, computed from the offsets the writer will use: records
// that end exactly at a block end, leave exactly a header's room, leave a tail too small for a
// header, straddle blocks by a few bytes, and span many blocks.
std::vector<size_t> EdgeSizes() {
  std::vector<size_t> sizes = {0, 1, 0, 7};
  uint64_t offset = kFileHeaderRecordSize;
  for (size_t s : sizes) offset += wal::FramedSize(offset, s);
  auto add = [&](size_t s) {
    sizes.push_back(s);
    offset += wal::FramedSize(offset, s);
  };
  auto room = [&] { return kBlockSize - offset % kBlockSize; };  // bytes left in this block
  add(room() - kHeaderSize);                                     // fills the block exactly
  add(room() - kHeaderSize - kHeaderSize);  // leaves exactly one header's room...
  add(0);                                   // ...taken by an empty record
  add(room() - kHeaderSize - 5);            // leaves 5 bytes: zero-filled tail
  add(3);
  add(room() - kHeaderSize - kHeaderSize);  // leaves a header's room, then a record that
  add(100);                                 // starts as an empty FIRST fragment
  for (size_t s : {kBlockSize - 3, kBlockSize, kBlockSize + 3, kBlockSize - kHeaderSize,
                   kBlockSize - kHeaderSize + 1, size_t{1} << 20}) {
    add(s);
  }
  for (int i = 0; i < 500; ++i) add(static_cast<size_t>(i % 97));
  return sizes;
}

class WalRoundTripTest : public ::testing::TestWithParam<IoBackend> {};

TEST_P(WalRoundTripTest, EveryRecordComesBackInOrder) {
  testing::TempDir dir;
  WalOptions options;
  options.dir = dir.path();
  options.file_size = 4 << 20;
  options.backend = GetParam();
  auto w = WalWriter::Open(options, 7);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  WalWriter& wal = **w;
  std::printf("requested %s, got %s\n", IoBackendName(GetParam()), IoBackendName(wal.backend()));
  if (GetParam() == IoBackend::kPosix) {
    EXPECT_EQ(wal.backend(), IoBackend::kPosix);
  }

  const std::vector<size_t> sizes = EdgeSizes();
  std::vector<std::string> expected;
  std::mutex cb_mu;
  std::vector<uint64_t> callback_lsns;
  bool callback_before_durable = false;
  uint64_t prev_durable = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    expected.push_back(Payload(i, sizes[i]));
    auto lsn = wal.Append(expected.back());
    ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
    ASSERT_EQ(*lsn, i + 1);
    if (i % 10 == 0) {
      wal.OnDurable(*lsn, [&, lsn = *lsn](const Status& s) {
        EXPECT_TRUE(s.ok());
        std::lock_guard<std::mutex> l(cb_mu);
        if (wal.durable_lsn() < lsn) callback_before_durable = true;
        callback_lsns.push_back(lsn);
      });
    }
    const uint64_t d = wal.durable_lsn();
    EXPECT_GE(d, prev_durable);
    prev_durable = d;
    if (i % 50 == 0) {
      ASSERT_TRUE(wal.WaitDurable(*lsn).ok());
    }
  }
  ASSERT_TRUE(wal.WaitDurable(sizes.size()).ok());
  EXPECT_EQ(wal.durable_lsn(), sizes.size());
  EXPECT_EQ(wal.last_lsn(), sizes.size());
  WalStats st = wal.stats();
  EXPECT_EQ(st.records, sizes.size());
  EXPECT_EQ(st.durable_lsn, sizes.size());
  EXPECT_GT(st.syncs, 0u);
  EXPECT_GT(st.written_bytes, st.payload_bytes);
  ASSERT_TRUE(wal.Close().ok());
  ASSERT_TRUE(wal.Close().ok());  // idempotent
  {
    std::lock_guard<std::mutex> l(cb_mu);
    EXPECT_FALSE(callback_before_durable);
    ASSERT_EQ(callback_lsns.size(), (sizes.size() + 9) / 10);
    for (size_t i = 1; i < callback_lsns.size(); ++i)
      EXPECT_LT(callback_lsns[i - 1], callback_lsns[i]);
  }

  auto got = ReplayAll(dir.path());
  EXPECT_TRUE(got.result.damage.empty());
  ASSERT_EQ(got.records.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(got.records[i].first, 7u);
    ASSERT_EQ(got.records[i].second, expected[i]) << "record " << i;
  }
  EXPECT_EQ(got.result.file_numbers, std::vector<uint64_t>{7});
  EXPECT_EQ(got.result.records, expected.size());
}

INSTANTIATE_TEST_SUITE_P(Backends, WalRoundTripTest,
                         ::testing::Values(IoBackend::kPosix, IoBackend::kIoUring),
                         [](const auto& info) { return std::string(IoBackendName(info.param)); });

TEST(WalWriterTest, RotationKeepsOrderAcrossFiles) {
  testing::TempDir dir;
  WalOptions options;
  options.dir = dir.path();
  options.file_size = 64 << 10;  // a few records per file: many size-driven rotations
  auto w = WalWriter::Open(options, 1);
  ASSERT_TRUE(w.ok());
  WalWriter& wal = **w;
  std::mt19937_64 rng(3);
  std::vector<std::string> expected;
  std::vector<uint64_t> min_file;  // the Rotate() number the record must be at or above
  uint64_t floor = 1;
  std::vector<std::pair<size_t, uint64_t>> rotations;  // (records before, returned number)
  for (int i = 0; i < 400; ++i) {
    if (i % 37 == 36) {
      auto n = wal.Rotate();
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      EXPECT_GT(*n, floor);
      EXPECT_EQ(wal.current_file_number(), *n);
      floor = *n;
      rotations.emplace_back(expected.size(), *n);
    }
    size_t size = rng() % 3 == 0 ? rng() % 100000 : rng() % 3000;
    expected.push_back(Payload(i, size));
    min_file.push_back(floor);
    ASSERT_TRUE(wal.Append(expected.back()).ok());
  }
  ASSERT_TRUE(wal.Close().ok());
  auto got = ReplayAll(dir.path());
  EXPECT_TRUE(got.result.damage.empty());
  ASSERT_EQ(got.records.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(got.records[i].second, expected[i]);
    EXPECT_GE(got.records[i].first, min_file[i]);
    if (i > 0) {
      EXPECT_GE(got.records[i].first, got.records[i - 1].first);
    }
  }
  // Every record appended before Rotate() returned n lives in a file below n.
  for (const auto& [before, number] : rotations) {
    for (size_t i = 0; i < before; ++i) ASSERT_LT(got.records[i].first, number);
  }
  EXPECT_GT(got.result.file_numbers.size(), 20u);
  // Only the files the writer made, each at least preallocated (records larger than a file
  // grow it).
  auto files = ListWalFiles(dir.path());
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(*files, got.result.file_numbers);
  // A replay from a later number skips the files below it.
  auto tail = ReplayAll(dir.path(), rotations.back().second);
  EXPECT_EQ(tail.records.size(), expected.size() - rotations.back().first);
}

// The sync observer (meterd's meterd_wal_sync_seconds) is told of the group write + sync that
// made records durable, each a real duration: with every record waited for before the next is
// appended, one call per record at most and at least one.
TEST(WalWriterTest, TheSyncObserverTimesEveryGroupSync) {
  testing::TempDir dir;
  WalOptions options;
  options.dir = dir.path();
  std::atomic<uint64_t> calls{0}, zero{0};
  options.sync_observer = [&](std::chrono::nanoseconds d) {
    calls.fetch_add(1);
    if (d.count() <= 0) zero.fetch_add(1);
  };
  auto w = WalWriter::Open(options, 1);
  ASSERT_TRUE(w.ok());
  WalWriter& wal = **w;
  for (int i = 0; i < 5; ++i) {
    auto lsn = wal.Append(Payload(i, 100));
    ASSERT_TRUE(lsn.ok());
    ASSERT_TRUE(wal.WaitDurable(*lsn).ok());
  }
  EXPECT_GE(calls.load(), 1u);
  EXPECT_LE(calls.load(), 5u);  // one per group; each record waited for, so at most one each
  EXPECT_EQ(zero.load(), 0u);
  ASSERT_TRUE(wal.Close().ok());
}

TEST(WalWriterTest, ConcurrentAppendersGroupCommit) {
  testing::TempDir dir;
  WalOptions options;
  options.dir = dir.path();
  options.file_size = 1 << 20;
  auto w = WalWriter::Open(options, 1);
  ASSERT_TRUE(w.ok());
  WalWriter& wal = **w;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1500;
  std::vector<std::thread> threads;
  std::atomic<bool> ok{true};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string rec = Payload(static_cast<uint64_t>(t) << 32 | static_cast<uint64_t>(i),
                                  8 + (i * 31 + t) % 700);
        auto lsn = wal.Append(rec);
        if (!lsn.ok()) ok = false;
        if (lsn.ok() && i % 100 == 99 && !wal.WaitDurable(*lsn).ok()) ok = false;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(ok);
  ASSERT_TRUE(wal.Close().ok());
  const WalStats st = wal.stats();
  EXPECT_EQ(st.records, uint64_t{kThreads} * kPerThread);
  EXPECT_LT(st.syncs, st.records) << "no group commit";
  std::printf("records %llu, syncs %llu\n", static_cast<unsigned long long>(st.records),
              static_cast<unsigned long long>(st.syncs));

  auto got = ReplayAll(dir.path());
  EXPECT_TRUE(got.result.damage.empty());
  ASSERT_EQ(got.records.size(), size_t{kThreads} * kPerThread);
  std::vector<int64_t> next(kThreads, 0);
  for (const auto& [file, rec] : got.records) {
    const uint64_t id = base::DecodeFixed64(rec.data());
    const int t = static_cast<int>(id >> 32);
    const int i = static_cast<int>(id & 0xFFFFFFFF);
    ASSERT_LT(t, kThreads);
    ASSERT_EQ(i, next[t]) << "thread " << t << " out of order or duplicated";
    ASSERT_EQ(rec, Payload(id, 8 + (i * 31 + t) % 700));
    ++next[t];
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kPerThread);
}

TEST(WalWriterTest, BackpressureBoundsPendingBytes) {
  testing::TempDir dir;
  WalOptions options;
  options.dir = dir.path();
  options.file_size = 1 << 20;
  options.max_pending_bytes = 2000;
  auto w = WalWriter::Open(options, 1);
  ASSERT_TRUE(w.ok());
  WalWriter& wal = **w;
  constexpr size_t kMaxRecord = 5000;
  std::vector<std::thread> threads;
  std::atomic<int> appended{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (wal.Append(Payload(t * 1000 + i, (i * 997 + t * 13) % kMaxRecord)).ok()) ++appended;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(appended.load(), 800);
  ASSERT_TRUE(wal.Close().ok());
  EXPECT_LE(wal.TEST_pending_high_water(), options.max_pending_bytes + kMaxRecord);
  EXPECT_GT(wal.TEST_pending_high_water(), 0u);
  EXPECT_EQ(ReplayAll(dir.path()).records.size(), 800u);
}

TEST(WalWriterTest, OnDurableRunsImmediatelyWhenAlreadyDurable) {
  testing::TempDir dir;
  WalOptions options;
  options.dir = dir.path();
  options.file_size = 1 << 20;
  auto w = WalWriter::Open(options, 1);
  ASSERT_TRUE(w.ok());
  auto lsn = (*w)->Append("x");
  ASSERT_TRUE(lsn.ok());
  ASSERT_TRUE((*w)->WaitDurable(*lsn).ok());
  bool ran = false;
  (*w)->OnDurable(*lsn, [&](const Status& s) {
    EXPECT_TRUE(s.ok());
    ran = true;
  });
  EXPECT_TRUE(ran);                                              // on this thread, before returning
  EXPECT_TRUE((*w)->WaitDurable(*lsn + 1).IsInvalidArgument());  // never assigned
  ASSERT_TRUE((*w)->Close().ok());
  EXPECT_FALSE((*w)->Append("late").ok());
  EXPECT_FALSE((*w)->Rotate().ok());
  // Callbacks registered after Close for LSNs never written get an error, not silence.
  Status late;
  (*w)->OnDurable(*lsn + 1, [&](const Status& s) { late = s; });
  EXPECT_FALSE(late.ok());
}

TEST(WalWriterTest, RefusesToOverwriteAnExistingFile) {
  testing::TempDir dir;
  WalOptions options;
  options.dir = dir.path();
  options.file_size = 1 << 20;
  {
    auto w = WalWriter::Open(options, 3);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append("keep me").ok());
  }
  EXPECT_FALSE(WalWriter::Open(options, 3).ok());
  auto got = ReplayAll(dir.path());
  ASSERT_EQ(got.records.size(), 1u);
  EXPECT_EQ(got.records[0].second, "keep me");
}

TEST(WalWriterTest, IoErrorFailsTheWriter) {
  testing::TempDir dir;
  WalOptions options;
  options.dir = dir.path();
  options.file_size = 1 << 20;
  auto w = WalWriter::Open(options, 1);
  ASSERT_TRUE(w.ok());
  WalWriter& wal = **w;
  // File 2 already exists, so the rotation to it fails inside the sync thread.
  {
    auto f = OpenFile(WalFileName(dir.path(), 2), OpenMode::kCreateTruncate);
    ASSERT_TRUE(f.ok());
  }
  auto lsn = wal.Append("before");
  ASSERT_TRUE(lsn.ok());
  Status cb;
  bool cb_ran = false;
  wal.OnDurable(*lsn + 100, [&](const Status& s) {
    cb = s;
    cb_ran = true;
  });
  auto rotated = wal.Rotate();
  EXPECT_FALSE(rotated.ok());
  EXPECT_FALSE(wal.Append("after").ok());
  EXPECT_FALSE(wal.Rotate().ok());
  EXPECT_FALSE(wal.Close().ok());
  EXPECT_FALSE(wal.Close().ok());  // the error sticks
  EXPECT_TRUE(cb_ran);
  EXPECT_FALSE(cb.ok());
}

}  // namespace wal_writer_test
}  // namespace meterd::storage
