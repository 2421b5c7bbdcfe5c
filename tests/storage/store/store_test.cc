// meterd — tests/storage/store/store_test.cc
#include "storage/store.h"
#include "storage/wal.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "sim/fleet_sim.h"
#include "tests/testing/temp_dir.h"

namespace meterd::storage {
namespace store_test {

using Series = std::map<int64_t, uint64_t>;
using Contents = std::map<uint64_t, Series>;
constexpr int64_t kNow = 1767225600 + 30 * 86400;  // the injected clock

StoreOptions TestOptions(const std::string& dir) {
  StoreOptions o;
  o.dir = dir;
  o.background_flush = false;
  o.retention_seconds = 0;
  o.wal_file_size = 1 << 20;
  o.now = [] { return kNow; };
  return o;
}

Contents ScanAll(Store* store, int64_t from = INT64_MIN, int64_t to = INT64_MAX,
                 ScanStats* stats = nullptr) {
  Contents out;
  uint64_t last_id = 0;
  bool first = true;
  Status st = store->Scan(
      ScanRequest{{}, from, to},
      [&](uint64_t id, ValueType, std::span<const int64_t> ts, std::span<const uint64_t> v) {
        EXPECT_TRUE(first || id >= last_id) << "series out of order";
        first = false;
        last_id = id;
        Series& s = out[id];
        for (size_t i = 0; i < ts.size(); ++i) {
          EXPECT_TRUE(s.empty() || ts[i] > s.rbegin()->first) << "time out of order or duplicate";
          s[ts[i]] = v[i];
        }
      },
      stats);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

TEST(StoreTest, AppendFlushReopenScan) {
  testing::TempDir dir;
  Contents expected;
  {
    auto store = Store::Open(TestOptions(dir.path()));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    SampleBatch batch;
    for (int t = 0; t < 100; ++t) {
      for (uint64_t s = 1; s <= 50; ++s) {
        const int64_t ts = kNow - 86400 * 4 + t * 3000;  // spans several daily partitions
        if (s % 5 == 0) {
          batch.AddFloat(s, ts, t * 0.25);
          expected[s][ts] = DoubleToBits(t * 0.25);
        } else {
          batch.AddInt(s, ts, s * 1000 + t);
          expected[s][ts] = s * 1000 + t;
        }
      }
    }
    auto r = (*store)->AppendDurable(batch);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->accepted, batch.size());
    EXPECT_EQ(ScanAll(store->get()), expected);  // from the head
    ASSERT_TRUE((*store)->Flush().ok());
    EXPECT_GT((*store)->stats().segments, 1u);  // one per partition touched
    EXPECT_EQ((*store)->stats().head_samples, 0u);
    EXPECT_EQ(ScanAll(store->get()), expected);  // from segments
  }
  auto store = Store::Open(TestOptions(dir.path()));
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(ScanAll(store->get()), expected);
  // A time range and a series subset.
  const int64_t from = kNow - 86400 * 4 + 3000 * 10, to = kNow - 86400 * 4 + 3000 * 20;
  Contents sub;
  ASSERT_TRUE((*store)
                  ->Scan(ScanRequest{{7, 10}, from, to},
                         [&](uint64_t id, ValueType, std::span<const int64_t> ts,
                             std::span<const uint64_t> v) {
                           for (size_t i = 0; i < ts.size(); ++i) sub[id][ts[i]] = v[i];
                         })
                  .ok());
  ASSERT_EQ(sub.size(), 2u);
  EXPECT_EQ(sub[7].size(), 10u);
  EXPECT_EQ(sub[7].begin()->first, from);
}

TEST(StoreTest, LastWriteWinsAcrossHeadAndSegments) {
  testing::TempDir dir;
  auto store = Store::Open(TestOptions(dir.path()));
  ASSERT_TRUE(store.ok());
  auto put = [&](int64_t ts, uint64_t v) {
    SampleBatch b;
    b.AddInt(9, ts, v);
    ASSERT_TRUE((*store)->AppendDurable(b).ok());
  };
  put(kNow - 100, 1);
  put(kNow - 99, 2);
  ASSERT_TRUE((*store)->Flush().ok());
  put(kNow - 100, 3);  // rewrites a flushed second: the head wins
  ASSERT_TRUE((*store)->Flush().ok());
  put(kNow - 99, 4);  // the newer segment and then the head win
  put(kNow - 99, 5);
  Contents c = ScanAll(store->get());
  EXPECT_EQ(c[9], (Series{{kNow - 100, 3}, {kNow - 99, 5}}));
  ASSERT_TRUE((*store)->Flush().ok());
  c = ScanAll(store->get());
  EXPECT_EQ(c[9], (Series{{kNow - 100, 3}, {kNow - 99, 5}}));
}

TEST(StoreTest, BadSamplesAreRejectedAndCountedTheRestKept) {
  testing::TempDir dir;
  StoreOptions o = TestOptions(dir.path());
  o.retention_seconds = 7 * 86400;
  auto store = Store::Open(o);
  ASSERT_TRUE(store.ok());
  SampleBatch b;
  b.AddInt(1, kNow, 1);               // kept
  b.AddInt(1, kNow + 3600, 2);        // far future
  b.AddInt(2, kNow - 30 * 86400, 3);  // older than retention
  b.AddInt(3, kNow - 5, 4);           // kept
  b.AddFloat(3, kNow - 4, 0.5);       // series 3 is an integer series
  auto r = (*store)->AppendDurable(b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 2u);
  EXPECT_EQ(r->rejected, 3u);
  ASSERT_EQ(r->first_rejections.size(), 3u);
  EXPECT_TRUE(r->first_rejections[0].reason.IsOutOfRange());
  EXPECT_EQ(r->first_rejections[0].index, 1u);
  EXPECT_TRUE(r->first_rejections[2].reason.IsInvalidArgument());
  EXPECT_EQ((*store)->stats().rejected_samples, 3u);
  Contents c = ScanAll(store->get());
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c[3], (Series{{kNow - 5, 4}}));
}

TEST(StoreTest, RetentionDropsWholeOldPartitions) {
  testing::TempDir dir;
  StoreOptions o = TestOptions(dir.path());
  int64_t now = kNow;
  o.now = [&] { return now; };
  o.retention_seconds = 2 * 86400;
  auto store = Store::Open(o);
  ASSERT_TRUE(store.ok());
  SampleBatch b;
  for (int d = 0; d < 2; ++d) b.AddInt(1, kNow - 86400 - d * 86400 + 10, static_cast<uint64_t>(d));
  ASSERT_TRUE((*store)->AppendDurable(b).ok());
  ASSERT_TRUE((*store)->Flush().ok());
  EXPECT_EQ((*store)->stats().segments, 2u);
  now = kNow + 86400;  // the older partition has now ended more than 2 days ago
  ASSERT_TRUE((*store)->EnforceRetention().ok());
  EXPECT_EQ((*store)->stats().segments, 1u);
  EXPECT_EQ((*store)->stats().partitions_dropped, 1u);
  EXPECT_EQ(ScanAll(store->get())[1].size(), 1u);
}

TEST(StoreTest, UnflushedHeadIsReplayedFromTheWal) {
  testing::TempDir dir;
  StoreOptions o = TestOptions(dir.path());
  o.flush_on_close = false;
  Contents expected;
  {
    auto store = Store::Open(o);
    ASSERT_TRUE(store.ok());
    SampleBatch b;
    for (int i = 0; i < 5000; ++i) {
      b.AddInt(static_cast<uint64_t>(i % 37), kNow - 5000 + i, static_cast<uint64_t>(i));
      expected[static_cast<uint64_t>(i % 37)][kNow - 5000 + i] = static_cast<uint64_t>(i);
    }
    ASSERT_TRUE((*store)->AppendDurable(b).ok());
  }
  auto store = Store::Open(o);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->recovery_report().wal_samples, 5000u);
  EXPECT_EQ(ScanAll(store->get()), expected);
}

// A store closed without a flush (as by a crash) with nothing logged leaves no WAL file behind
// at its next open: repeated crashes of an idle server do not pile up preallocated files. A
// store with logged samples keeps its files until they are flushed.
TEST(StoreTest, EmptyWalFilesDoNotPileUpAcrossCrashes) {
  testing::TempDir dir;
  StoreOptions o = TestOptions(dir.path());
  o.flush_on_close = false;
  for (int i = 0; i < 5; ++i) {
    auto store = Store::Open(o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
  }
  auto files = ListWalFiles(dir.path() + "/wal");
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->size(), 1u);  // the open store's own
  {
    auto store = Store::Open(o);
    ASSERT_TRUE(store.ok());
    SampleBatch b;
    b.AddInt(7, kNow - 10, 42);
    ASSERT_TRUE((*store)->AppendDurable(b).ok());
  }
  for (int i = 0; i < 3; ++i) {
    auto store = Store::Open(o);
    ASSERT_TRUE(store.ok());
    EXPECT_EQ((*store)->recovery_report().wal_samples, 1u);
  }
  auto store = Store::Open(o);
  ASSERT_TRUE(store.ok());
  Contents expected;
  expected[7][kNow - 10] = 42;
  EXPECT_EQ(ScanAll(store->get()), expected);
}

TEST(StoreTest, SecondOpenOfTheSameDirectoryIsRefused) {
  testing::TempDir dir;
  auto a = Store::Open(TestOptions(dir.path()));
  ASSERT_TRUE(a.ok());
  auto b = Store::Open(TestOptions(dir.path()));
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(b.status().IsBusy());
}

TEST(StoreTest, HeadMemoryStaysBoundedUnderBackgroundFlush) {
  testing::TempDir dir;
  StoreOptions o = TestOptions(dir.path());
  o.background_flush = true;
  o.head_memory_budget = 256 << 10;
  auto store = Store::Open(o);
  ASSERT_TRUE(store.ok());
  sim::FleetOptions fleet;
  fleet.vms = 50;
  fleet.start_ts = kNow - 2000;
  sim::FleetSimulator simulator(fleet);
  uint64_t peak = 0, total = 0;
  for (int t = 0; t < 1500; ++t) {
    SampleBatch b;
    simulator.Step(&b);
    total += b.size();
    ASSERT_TRUE((*store)->Append(b).ok());
    peak = std::max<uint64_t>(peak, (*store)->stats().head_memory_bytes);
  }
  // Live head under the budget plus one batch, and at most one head flushing.
  EXPECT_LT(peak, 2 * o.head_memory_budget + (64 << 10));
  uint64_t scanned = 0;
  ASSERT_TRUE((*store)
                  ->Scan(ScanRequest{}, [&](uint64_t, ValueType, std::span<const int64_t> ts,
                                            std::span<const uint64_t>) { scanned += ts.size(); })
                  .ok());
  EXPECT_EQ(scanned, total);
  EXPECT_GT((*store)->stats().flushes, 0u);
}

// Property: random appends (late, duplicate, out of order, both value types), flushes and
// reopens against a last-write-wins reference.
TEST(StoreTest, RandomOperationsMatchReference) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    testing::TempDir dir;
    std::mt19937_64 rng(seed);
    Contents ref;
    std::map<uint64_t, ValueType> types;
    StoreOptions o = TestOptions(dir.path());
    o.partition_seconds = 3600;
    o.flush_on_close = seed % 2 == 0;
    auto store = Store::Open(o);
    ASSERT_TRUE(store.ok());
    for (int op = 0; op < 60; ++op) {
      const int kind = static_cast<int>(rng() % 10);
      if (kind == 0) {
        ASSERT_TRUE((*store)->Flush().ok());
      } else if (kind == 1) {
        store->reset();
        store = Store::Open(o);
        ASSERT_TRUE(store.ok()) << store.status().ToString();
      } else {
        SampleBatch b;
        const int n = 1 + static_cast<int>(rng() % 400);
        for (int i = 0; i < n; ++i) {
          const uint64_t id = rng() % 40;
          if (!types.count(id)) types[id] = id % 3 == 0 ? ValueType::kFloat : ValueType::kInt;
          const int64_t ts = kNow - 20000 + static_cast<int64_t>(rng() % 20000);
          const uint64_t v = types[id] == ValueType::kFloat
                                 ? DoubleToBits(static_cast<double>(rng() % 1000) / 8)
                                 : rng() % 5000;
          b.Add(id, ts, v, types[id]);
          ref[id][ts] = v;
        }
        auto r = (*store)->AppendDurable(b);
        ASSERT_TRUE(r.ok());
        ASSERT_EQ(r->rejected, 0u);
      }
    }
    ASSERT_EQ(ScanAll(store->get()), ref) << "seed " << seed;
  }
}

}  // namespace store_test
}  // namespace meterd::storage
