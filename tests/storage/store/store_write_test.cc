// meterd — tests/storage/store/store_write_test.cc
//
// The order of Store::Append (storage/store/store_write.cc): a batch is logged before it reaches
// the head, a failed WAL refuses every later append, and a closed store answers Unavailable (a
// code the ingest path retries) rather than a refusal.
#include <gtest/gtest.h>

#include <map>

#include "storage/io/file.h"
#include "storage/store.h"
#include "storage/wal.h"
#include "tests/testing/temp_dir.h"

namespace meterd::storage {
namespace store_write_test {

constexpr int64_t kNow = 1767225600;  // the injected clock

StoreOptions TestOptions(const std::string& dir) {
  StoreOptions o;
  o.dir = dir;
  o.background_flush = false;
  o.flush_on_close = false;
  o.retention_seconds = 0;
  o.wal_file_size = 64 << 10;  // two 32 KiB blocks: a large batch does not fit after a small one
  o.now = [] { return kNow; };
  return o;
}

// Series id -> its samples (time -> value), as a scan returns them.
std::map<uint64_t, std::map<int64_t, uint64_t>> ScanAll(Store* store) {
  std::map<uint64_t, std::map<int64_t, uint64_t>> out;
  Status st = store->Scan(ScanRequest{}, [&](uint64_t id, ValueType, std::span<const int64_t> ts,
                                             std::span<const uint64_t> v) {
    for (size_t i = 0; i < ts.size(); ++i) out[id][ts[i]] = v[i];
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

// Makes the WAL fail at its next file switch: like WalWriterTest.IoErrorFailsTheWriter, the
// next file number is taken, so opening it fails inside the sync thread (no fault layer yet).
void BlockNextWalFile(const std::string& store_dir) {
  auto files = ListWalFiles(store_dir + "/wal");
  ASSERT_TRUE(files.ok());
  ASSERT_FALSE(files->empty());
  auto f = OpenFile(WalFileName(store_dir + "/wal", files->back() + 1), OpenMode::kCreateTruncate);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->Close().ok());
}

// Issue 17: the head used to take a batch before its WAL append, so after a WAL failure every
// later batch still landed in the head unlogged and scans (exports) served samples that a
// restart does not have.
TEST(StoreWriteTest, AfterAWalFailureNoLaterBatchReachesTheHead) {
  testing::TempDir dir;
  auto opened = Store::Open(TestOptions(dir.path()));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;

  SampleBatch durable;
  durable.AddInt(1, kNow - 10, 100);
  ASSERT_TRUE(store.AppendDurable(durable).ok());

  // A batch larger than what is left of the 64 KiB file: the WAL switches files and fails.
  BlockNextWalFile(dir.path());
  SampleBatch big;
  for (int i = 0; i < 8000; ++i) big.AddInt(2, kNow - 8000 + i, 0x0123456789abcdefull + i);
  auto failing = store.Append(big);
  ASSERT_TRUE(failing.ok()) << failing.status().ToString();  // queued; the sync fails
  EXPECT_FALSE(store.WaitDurable(failing->lsn).ok());

  // Every later append is refused, says why, and leaves nothing behind for reads.
  for (int attempt = 0; attempt < 3; ++attempt) {
    SampleBatch later;
    later.AddInt(3, kNow - 5 + attempt, 7);
    auto r = store.Append(later);
    ASSERT_FALSE(r.ok()) << "a store with a failed WAL accepted a batch";
    EXPECT_TRUE(r.status().IsIOError()) << r.status().ToString();
    EXPECT_NE(r.status().message().find("WAL failed earlier"), std::string_view::npos)
        << r.status().ToString();
  }
  EXPECT_EQ(ScanAll(&store).count(3), 0u) << "samples of a refused batch are served";
  EXPECT_EQ(store.stats().appended_samples, 1u + big.size());  // the refused ones not counted
  EXPECT_FALSE(store.Close().ok());

  // A restart has what was durable, and nothing that a read could have seen and lost.
  auto reopened = Store::Open(TestOptions(dir.path()));
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto after = ScanAll(reopened->get());
  EXPECT_EQ(after[1].size(), 1u);
  EXPECT_EQ(after.count(3), 0u);
}

// The type check still happens before the record is logged: a sample whose series holds another
// type is refused, and the WAL holds exactly what the head accepted (a restart agrees).
TEST(StoreWriteTest, TypeChangesAreRefusedBeforeLogging) {
  testing::TempDir dir;
  {
    auto store = Store::Open(TestOptions(dir.path()));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    SampleBatch first;
    first.AddInt(1, kNow - 10, 5);
    ASSERT_TRUE((*store)->AppendDurable(first).ok());
    SampleBatch mixed;
    mixed.AddFloat(1, kNow - 9, 1.5);  // series 1 is int in the head
    mixed.AddInt(1, kNow - 8, 6);
    mixed.AddFloat(2, kNow - 9, 2.5);  // series 2 is new: its first row sets the type
    mixed.AddInt(2, kNow - 8, 7);      // refused
    mixed.AddFloat(2, kNow - 7, 3.5);
    auto r = (*store)->AppendDurable(mixed);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->accepted, 3u);
    EXPECT_EQ(r->rejected, 2u);
    ASSERT_EQ(r->first_rejections.size(), 2u);
    EXPECT_EQ(r->first_rejections[0].index, 0u);
    EXPECT_EQ(r->first_rejections[1].index, 3u);
    EXPECT_TRUE(r->first_rejections[0].reason.IsInvalidArgument());
  }
  auto store = Store::Open(TestOptions(dir.path()));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->recovery_report().wal_samples, 4u);  // 1 + the 3 accepted
  auto got = ScanAll(store->get());
  EXPECT_EQ(got[1], (std::map<int64_t, uint64_t>{{kNow - 10, 5}, {kNow - 8, 6}}));
  EXPECT_EQ(got[2].size(), 2u);
}

// Issue 17: a closed store answered InvalidArgument, which the ingest path turns into a final
// refusal that the client drops. Unavailable is retried.
TEST(StoreWriteTest, AClosedStoreIsUnavailable) {
  testing::TempDir dir;
  auto store = Store::Open(TestOptions(dir.path()));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Close().ok());
  SampleBatch b;
  b.AddInt(1, kNow - 1, 1);
  auto r = (*store)->Append(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable) << r.status().ToString();
}

}  // namespace store_write_test
}  // namespace meterd::storage
