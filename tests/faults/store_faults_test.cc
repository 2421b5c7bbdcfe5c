// meterd — tests/faults/store_faults_test.cc: the store, its segments and the rollups under a
// full disk (ENOSPC) and a failing fdatasync (EIO), on the fault-injecting Env.
//   * Disk full: an ingest is refused with ResourceExhausted (never acknowledged), nothing
//     acknowledged is lost, and the store resumes by itself once space returns.
//   * EIO on fdatasync: the batch is never acknowledged and the WAL refuses every later batch
//     until a restart (a later sync's success says nothing about the failed bytes); a failed
//     segment or rollup sync publishes nothing, and a retry rewrites the file from memory.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/head/head.h"
#include "storage/rollup.h"
#include "storage/store.h"
#include "tests/testing/fault_env.h"
#include "tests/testing/temp_dir.h"

namespace meterd::testing {
namespace store_faults_test {

constexpr int64_t kT0 = 1767225600;  // 2026-01-01

storage::SampleBatch MakeBatch(int b) {
  storage::SampleBatch batch;
  for (uint64_t s = 1; s <= 4; ++s) {
    for (int64_t i = 0; i < 60; ++i) {
      const int64_t ts = kT0 + b * 60 + i;
      batch.AddInt(s, ts, static_cast<uint64_t>(ts) * s);
    }
  }
  return batch;
}

class StoreFaultsTest : public ::testing::Test {
 protected:
  storage::StoreOptions Options() {
    storage::StoreOptions o;
    o.dir = dir_.path() + "/store";
    o.env = &env_;
    o.background_flush = false;
    o.wal_file_size = 64 << 10;  // rotates every few batches
    o.retention_seconds = 0;
    o.now = [] { return kT0 + 86400; };
    return o;
  }
  void Open() {
    auto store = storage::Store::Open(Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  // Every sample of the acknowledged batches is in the store with its value.
  void ExpectAcknowledgedPresent() {
    std::map<std::pair<uint64_t, int64_t>, uint64_t> got;
    Status s = store_->Scan(storage::ScanRequest{},
                            [&](uint64_t id, storage::ValueType, std::span<const int64_t> ts,
                                std::span<const uint64_t> v) {
                              for (size_t i = 0; i < ts.size(); ++i) got[{id, ts[i]}] = v[i];
                            });
    ASSERT_TRUE(s.ok()) << s.ToString();
    size_t missing = 0;
    for (int b : acked_) {
      const storage::SampleBatch batch = MakeBatch(b);
      for (size_t j = 0; j < batch.size(); ++j) {
        auto it = got.find({batch.series()[j], batch.timestamps()[j]});
        if (it == got.end() || it->second != batch.values()[j]) ++missing;
      }
    }
    EXPECT_EQ(missing, 0u) << "acknowledged samples lost";
  }
  // Appends batch b and waits for its sync; records it as acknowledged when that succeeds.
  Status Ingest(int b) {
    auto r = store_->AppendDurable(MakeBatch(b));
    if (r.ok()) acked_.push_back(b);
    return r.status();
  }

  // Closes the store, cuts the power, reopens: everything acknowledged is still there.
  void ExpectAcknowledgedAfterPowerLoss() {
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
    ASSERT_TRUE(env_.SimulatePowerLoss().ok());
    Open();
    ExpectAcknowledgedPresent();
  }
  // Three rows of hour kT0, for sealing.
  static std::vector<storage::RollupRow> HourRows() {
    std::vector<storage::RollupRow> rows(3);
    for (size_t i = 0; i < rows.size(); ++i) {
      rows[i].series_id = i + 1;
      rows[i].hour = kT0;
      rows[i].col[storage::kColCount] = 3600;
    }
    return rows;
  }
  // Reopens the rollups after a power loss: hour kT0 is sealed with `rows`, nothing damaged.
  void ExpectSealedAfterPowerLoss(size_t rows) {
    std::vector<std::string> damage;
    ASSERT_TRUE(env_.SimulatePowerLoss().ok());
    auto reopened = storage::RollupStore::Open(dir_.path(), &damage, &env_);
    ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
    EXPECT_EQ((*reopened)->sealed_before(), kT0 + 3600);
    EXPECT_EQ((*reopened)->stats().rows, rows);
    EXPECT_TRUE(damage.empty());
  }

  TempDir dir_;
  FaultEnv env_{storage::Env::Default(), dir_.path()};
  std::unique_ptr<storage::Store> store_;
  std::vector<int> acked_;
};

TEST_F(StoreFaultsTest, DiskFullRefusesWithResourceExhaustedAndResumesWhenSpaceReturns) {
  Open();
  for (int b = 0; b < 5; ++b) ASSERT_TRUE(Ingest(b).ok());

  // The disk fills up: every write, preallocation and file creation fails with ENOSPC.
  ErrorRule full;
  full.ops = kOpWrite | kOpPreallocate | kOpCreate;
  full.err = ENOSPC;
  env_.AddErrorRule(full);
  Status refused = Ingest(5);
  EXPECT_TRUE(refused.IsResourceExhausted()) << refused.ToString();
  // Later batches are refused at once, with the same clear code, and nothing reaches the head.
  const uint64_t head_before = store_->stats().head_samples;
  for (int b = 6; b < 9; ++b) {
    Status s = Ingest(b);
    EXPECT_TRUE(s.IsResourceExhausted()) << s.ToString();
  }
  EXPECT_EQ(store_->stats().head_samples, head_before);
  // A flush cannot rotate the WAL either; it fails without losing anything.
  EXPECT_FALSE(store_->Flush().ok());

  // Space returns: the store resumes by itself (the WAL opens a new file within a second).
  env_.ClearErrorRules();
  Status resumed;
  for (int i = 0; i < 40; ++i) {
    resumed = Ingest(9);
    if (resumed.ok()) break;
    ASSERT_TRUE(resumed.IsResourceExhausted()) << resumed.ToString();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(resumed.ok()) << "the store did not resume: " << resumed.ToString();
  for (int b = 10; b < 20; ++b) ASSERT_TRUE(Ingest(b).ok());
  ASSERT_TRUE(store_->Flush().ok());
  ExpectAcknowledgedPresent();

  // After a power loss, everything acknowledged is still there.
  ExpectAcknowledgedAfterPowerLoss();
}

TEST_F(StoreFaultsTest, EioOnWalSyncIsNeverAcknowledgedAndLaterWritesAreRefused) {
  Open();
  for (int b = 0; b < 3; ++b) ASSERT_TRUE(Ingest(b).ok());
  ErrorRule eio;
  eio.ops = kOpSync;
  eio.err = EIO;
  eio.path_contains = "/wal/";
  eio.times = 1;  // one failed fdatasync; the next one would succeed
  env_.AddErrorRule(eio);
  Status failed = Ingest(3);
  EXPECT_TRUE(failed.IsIOError()) << failed.ToString();
  // The next sync would succeed, but it would not prove the failed bytes durable: refused.
  for (int b = 4; b < 6; ++b) {
    Status s = Ingest(b);
    EXPECT_TRUE(s.IsIOError()) << s.ToString();
    EXPECT_NE(s.ToString().find("WAL failed earlier"), std::string::npos) << s.ToString();
  }
  (void)store_->Close();
  store_.reset();
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  Open();  // a restart: the WAL works again
  ExpectAcknowledgedPresent();
  ASSERT_TRUE(Ingest(6).ok());
}

TEST_F(StoreFaultsTest, EioOnSegmentSyncPublishesNothingAndARetryRewritesTheSegment) {
  Open();
  for (int b = 0; b < 6; ++b) ASSERT_TRUE(Ingest(b).ok());
  ErrorRule eio;
  eio.ops = kOpSync;
  eio.err = EIO;
  eio.path_contains = "/segments/";
  eio.times = 1;
  env_.AddErrorRule(eio);
  Status s = store_->Flush();
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_EQ(store_->stats().segments, 0u);  // nothing published
  ASSERT_TRUE(store_->Flush().ok());        // rewritten from the frozen head, synced
  EXPECT_EQ(store_->stats().segments, 1u);
  ExpectAcknowledgedAfterPowerLoss();
}

TEST_F(StoreFaultsTest, FailedRollupSyncSealsNothingAndARetrySeals) {
  std::vector<std::string> damage;
  auto rollups = storage::RollupStore::Open(dir_.path(), &damage, &env_);
  ASSERT_TRUE(rollups.ok()) << rollups.status().ToString();
  const std::vector<storage::RollupRow> rows = HourRows();
  for (int err : {EIO, ENOSPC}) {
    ErrorRule rule;
    rule.ops = err == EIO ? kOpSync : kOpWrite;
    rule.err = err;
    rule.path_contains = ".mrp";
    rule.times = 1;
    env_.AddErrorRule(rule);
    Status s = (*rollups)->SealHour(kT0, rows);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ((*rollups)->sealed_before(), 0) << "an hour sealed on a failed write or sync";
    env_.ClearErrorRules();
  }
  ASSERT_TRUE((*rollups)->SealHour(kT0, rows).ok());
  EXPECT_EQ((*rollups)->sealed_before(), kT0 + 3600);
  rollups->reset();
  ExpectSealedAfterPowerLoss(rows.size());
}

TEST_F(StoreFaultsTest, DiskFullDuringAFlushIsResourceExhaustedAndPublishesNothing) {
  Open();
  for (int b = 0; b < 6; ++b) ASSERT_TRUE(Ingest(b).ok());
  ErrorRule full;
  full.ops = kOpWrite | kOpPreallocate | kOpCreate;
  full.err = ENOSPC;
  full.path_contains = "/segments/";
  env_.AddErrorRule(full);
  Status s = store_->Flush();
  EXPECT_TRUE(s.IsResourceExhausted()) << s.ToString();
  EXPECT_EQ(store_->stats().segments, 0u);
  env_.ClearErrorRules();
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(store_->stats().segments, 1u);
  ExpectAcknowledgedAfterPowerLoss();
}

TEST_F(StoreFaultsTest, DiskFullDuringABackgroundFlushIsResourceExhaustedAndRetriedByItself) {
  storage::StoreOptions o = Options();
  o.background_flush = true;
  // Every append asks the flusher for a flush (an empty head is under budget).
  o.head_memory_budget = storage::Head().memory_bytes() + 1;
  o.flush_interval_seconds = 1 << 30;  // ... and only that: no flush by age
  o.wal_file_size = 16 << 20;          // the WAL never rotates by size here
  auto opened = storage::Store::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(opened).value();
  ASSERT_TRUE(Ingest(0).ok());
  for (int i = 0; i < 200 && store_->stats().flushes < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(store_->stats().flushes, 1u);

  // The disk fills up: a flush cannot create the next WAL file, so it fails before freezing
  // the head. The append after the one that asked for that flush waits for it and is refused
  // as ResourceExhausted (a full disk), not Busy, so the client retries it.
  ErrorRule full;
  full.ops = kOpCreate;
  full.err = ENOSPC;
  full.path_contains = "/wal/";
  env_.AddErrorRule(full);
  (void)Ingest(1);  // logged in the current WAL file; its flush fails
  Status refused = Ingest(2);
  EXPECT_TRUE(refused.IsResourceExhausted()) << refused.ToString();
  EXPECT_EQ(store_->stats().flushes, 1u);

  // Space returns; nobody calls Flush or appends: the flusher retries by itself.
  env_.ClearErrorRules();
  for (int i = 0; i < 500 && store_->stats().flushes < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(store_->stats().flushes, 2u) << "the flusher did not retry once space returned";
  for (int b = 10; b < 13; ++b) ASSERT_TRUE(Ingest(b).ok());
  ExpectAcknowledgedAfterPowerLoss();
}

TEST_F(StoreFaultsTest, DiskFullDuringASealIsResourceExhaustedAndASealLaterSucceeds) {
  std::vector<std::string> damage;
  auto rollups = storage::RollupStore::Open(dir_.path(), &damage, &env_);
  ASSERT_TRUE(rollups.ok()) << rollups.status().ToString();
  const std::vector<storage::RollupRow> rows = HourRows();
  // The part file, then the manifest that would publish it, hit a full disk.
  for (const char* where : {".mrp", "ROLLUP.tmp"}) {
    ErrorRule full;
    full.ops = kOpWrite | kOpPreallocate | kOpCreate;
    full.err = ENOSPC;
    full.path_contains = where;
    env_.AddErrorRule(full);
    Status s = (*rollups)->SealHour(kT0, rows);
    EXPECT_TRUE(s.IsResourceExhausted()) << where << ": " << s.ToString();
    EXPECT_EQ((*rollups)->sealed_before(), 0) << where;
    env_.ClearErrorRules();
  }
  // Space returns: the same seal (the rollup clock's next tick) succeeds, no reopen needed.
  Status sealed = (*rollups)->SealHour(kT0, rows);
  ASSERT_TRUE(sealed.ok()) << sealed.ToString();
  EXPECT_EQ((*rollups)->sealed_before(), kT0 + 3600);
  rollups->reset();
  ExpectSealedAfterPowerLoss(rows.size());
}

// A real file system filled to the last byte: a 4 MiB tmpfs mounted by the test (root only;
// skipped where mounting is not permitted), no fault injection.
class SmallFilesystem {
 public:
  SmallFilesystem() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp ? tmp : "/tmp") + "/meterd-smallfs-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return;
    path_ = tmpl;
    if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=4m") != 0) {
      error_ = std::string("mount -t tmpfs: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~SmallFilesystem() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string error_;
  bool mounted_ = false;
};

// Fills the file system holding `path` to the last byte (a write of one more byte fails).
uint64_t FillUp(const std::string& path) {
  auto f = storage::OpenFile(path, storage::OpenMode::kCreateTruncate, storage::IoBackend::kPosix);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  if (!f.ok()) return 0;
  uint64_t size = 0;
  for (size_t chunk = 64 << 10; chunk >= 1; chunk /= 2) {
    const std::string data(chunk, 'x');
    while ((*f)->WriteAt(size, data).ok()) size += chunk;
  }
  EXPECT_TRUE((*f)->WriteAt(size, "x").IsNoSpace());
  EXPECT_TRUE((*f)->Close().ok());
  return size;
}

TEST(SmallFilesystemTest, AFullTmpfsRefusesIngestLosesNothingAndResumesWhenSpaceReturns) {
  SmallFilesystem fs;
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a small tmpfs here (" << fs.error() << ")";
  storage::StoreOptions o;
  o.dir = fs.path() + "/store";
  o.background_flush = false;
  o.wal_file_size = 256 << 10;
  o.retention_seconds = 0;
  o.now = [] { return kT0 + 86400; };
  auto opened = storage::Store::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<storage::Store> store = std::move(opened).value();
  std::vector<int> acked;
  int b = 0;
  for (; b < 5; ++b) {
    ASSERT_TRUE(store->AppendDurable(MakeBatch(b)).ok());
    acked.push_back(b);
  }
  const uint64_t filled = FillUp(fs.path() + "/filler");
  EXPECT_GT(filled, 0u);
  // The current WAL file was preallocated: ingest goes on until it is full, then the next file
  // cannot be created and ingest is refused with ResourceExhausted.
  Status refused;
  for (int i = 0; i < 200 && refused.ok(); ++i, ++b) {
    auto r = store->AppendDurable(MakeBatch(b));
    if (r.ok()) {
      acked.push_back(b);
    } else {
      refused = r.status();
    }
  }
  ASSERT_TRUE(refused.IsResourceExhausted()) << refused.ToString();
  Status again = store->AppendDurable(MakeBatch(b++)).status();
  EXPECT_TRUE(again.IsResourceExhausted()) << again.ToString();

  // Space returns: the store resumes by itself.
  ASSERT_EQ(::unlink((fs.path() + "/filler").c_str()), 0);
  Status resumed;
  for (int i = 0; i < 40; ++i) {
    auto r = store->AppendDurable(MakeBatch(b));
    resumed = r.status();
    if (r.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(resumed.ok()) << resumed.ToString();
  acked.push_back(b++);
  ASSERT_TRUE(store->Close().ok());
  store.reset();

  opened = storage::Store::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store = std::move(opened).value();
  std::map<std::pair<uint64_t, int64_t>, uint64_t> got;
  ASSERT_TRUE(store
                  ->Scan(storage::ScanRequest{},
                         [&](uint64_t id, storage::ValueType, std::span<const int64_t> ts,
                             std::span<const uint64_t> v) {
                           for (size_t i = 0; i < ts.size(); ++i) got[{id, ts[i]}] = v[i];
                         })
                  .ok());
  size_t missing = 0;
  for (int a : acked) {
    const storage::SampleBatch batch = MakeBatch(a);
    for (size_t j = 0; j < batch.size(); ++j) {
      auto it = got.find({batch.series()[j], batch.timestamps()[j]});
      if (it == got.end() || it->second != batch.values()[j]) ++missing;
    }
  }
  EXPECT_EQ(missing, 0u);
  std::printf("[ small fs ] filled %llu bytes; %zu batches acknowledged\n",
              static_cast<unsigned long long>(filled), acked.size());
}

}  // namespace store_faults_test
}  // namespace meterd::testing
