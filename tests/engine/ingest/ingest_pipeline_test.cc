// meterd — tests/engine/ingest/ingest_pipeline_test.cc
#include "engine/ingest/ingest_pipeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace {

constexpr int64_t kNow = 1767225600;  // the injected clock

class IngestPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::StoreOptions o;
    o.dir = dir_.path() + "/store";
    o.now = [] { return kNow; };
    o.background_flush = false;
    auto store = storage::Store::Open(o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto reg = SeriesRegistry::Open(dir_.path(), &catalog_);
    ASSERT_TRUE(reg.ok());
    registry_ = std::move(reg).value();
    pipeline_ = std::make_unique<IngestPipeline>(store_.get(), registry_.get());
    Define("vm-1", "vm.cpu_time_ns", "hv-1");      // counter, int
    Define("vm-1", "vm.cpu_utilisation", "hv-1");  // gauge, float
    Define("vm-2", "vm.vcpus", "hv-2");            // another hypervisor's
  }
  void Define(const std::string& resource, const std::string& metric, const std::string& hv) {
    std::vector<SeriesDefinition> d = {{SeriesRegistry::IdOf(resource, metric), resource, metric}};
    ASSERT_EQ(registry_->Define(d, hv, false)->defined, 1u);
  }
  static uint64_t Id(const std::string& r, const std::string& m) {
    return SeriesRegistry::IdOf(r, m);
  }
  Principal Agent(const std::string& hv) {
    Principal p;
    p.key.id = "k-" + hv;
    p.key.role = Role::kAgent;
    p.key.hypervisor = hv;
    return p;
  }
  std::map<int64_t, uint64_t> Scan(uint64_t id) {
    std::map<int64_t, uint64_t> out;
    storage::ScanRequest req;
    req.series = {id};
    EXPECT_TRUE(store_
                    ->Scan(req,
                           [&](uint64_t, storage::ValueType, std::span<const int64_t> ts,
                               std::span<const uint64_t> v) {
                             for (size_t i = 0; i < ts.size(); ++i) out[ts[i]] = v[i];
                           })
                    .ok());
    return out;
  }
  Result<IngestOutcome> Send(const Principal& who, uint64_t seq, int64_t base,
                             std::vector<uint64_t> series, std::vector<uint32_t> offsets,
                             std::vector<uint64_t> values, std::string_view agent = "") {
    series_ = std::move(series);
    offsets_ = std::move(offsets);
    values_ = std::move(values);
    IngestRequest req{agent, seq, base, series_, offsets_, values_};
    auto r = pipeline_->Ingest(who, req, &cache_);
    if (r.ok() && r->lsn) EXPECT_TRUE(store_->WaitDurable(r->lsn).ok());
    return r;
  }

  testing::TempDir dir_;
  MetricCatalog catalog_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<SeriesRegistry> registry_;
  std::unique_ptr<IngestPipeline> pipeline_;
  IngestSessionCache cache_;
  std::vector<uint64_t> series_, values_;
  std::vector<uint32_t> offsets_;
};

TEST_F(IngestPipelineTest, GoodSamplesAreStoredAndScannedBack) {
  const uint64_t c = Id("vm-1", "vm.cpu_time_ns");
  auto out = Send(Agent("hv-1"), 1, kNow - 10, {c, c, c}, {0, 1, 2}, {100, 200, 300});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->accepted, 3u);
  EXPECT_EQ(out->rejected, 0u);
  EXPECT_EQ(Scan(c),
            (std::map<int64_t, uint64_t>{{kNow - 10, 100}, {kNow - 9, 200}, {kNow - 8, 300}}));
}

TEST_F(IngestPipelineTest, EachBadSampleIsRejectedWithItsReasonAndTheRestKept) {
  const uint64_t c = Id("vm-1", "vm.cpu_time_ns");
  const uint64_t g = Id("vm-1", "vm.cpu_utilisation");
  const uint64_t foreign = Id("vm-2", "vm.vcpus");
  const uint64_t undefined = Id("vm-9", "vm.vcpus");
  const int64_t base = kNow - 100;
  auto out = Send(Agent("hv-1"), 1, base, {c, undefined, foreign, c, g, g, c, c, c},
                  {0, 0, 0, 1, 1, 2, 2, 3, 100 + 700},
                  {1000, 1, 1, 1200, storage::DoubleToBits(NAN), storage::DoubleToBits(INFINITY),
                   900 /* noise */, 500 /* reset */, 600});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->accepted, 3u);  // c@0, c@1, c@3 (the reset)
  EXPECT_EQ(out->rejected, 6u);
  std::map<uint32_t, Status::Code> why;
  for (const auto& r : out->first_rejections) why[r.index] = r.reason.code();
  EXPECT_EQ(why[1], Status::Code::kNotFound);
  EXPECT_EQ(why[2], Status::Code::kPermissionDenied);
  EXPECT_EQ(why[4], Status::Code::kInvalidArgument);
  EXPECT_EQ(why[5], Status::Code::kInvalidArgument);
  EXPECT_EQ(why[6], Status::Code::kInvalidArgument);
  EXPECT_EQ(why[8], Status::Code::kOutOfRange);  // 700 s ahead of the clock
  EXPECT_EQ(Scan(c),
            (std::map<int64_t, uint64_t>{{base, 1000}, {base + 1, 1200}, {base + 3, 500}}));
}

TEST_F(IngestPipelineTest, SamplesOlderThanRetentionAreRejected) {
  const uint64_t c = Id("vm-1", "vm.cpu_time_ns");
  auto out = Send(Agent("hv-1"), 1, kNow - 40 * 86400, {c}, {0}, {1});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->rejected, 1u);
  EXPECT_EQ(out->first_rejections.at(0).reason.code(), Status::Code::kOutOfRange);
}

TEST_F(IngestPipelineTest, AResentBatchIsNotStoredTwice) {
  const uint64_t c = Id("vm-1", "vm.cpu_time_ns");
  auto first = Send(Agent("hv-1"), 7, kNow - 5, {c, c}, {0, 1}, {10, 20});
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->duplicate);
  auto again = Send(Agent("hv-1"), 7, kNow - 5, {c, c}, {0, 1}, {10, 99});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->accepted, 2u);
  EXPECT_EQ(again->lsn, first->lsn);
  EXPECT_EQ(Scan(c)[kNow - 4], 20u);
  EXPECT_EQ(pipeline_->counters().duplicate_batches, 1u);
}

TEST_F(IngestPipelineTest, WholeBatchRefusals) {
  const uint64_t c = Id("vm-1", "vm.cpu_time_ns");
  Principal billing;
  billing.key.role = Role::kBilling;
  EXPECT_EQ(Send(billing, 1, kNow, {c}, {0}, {1}).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(Send(Agent("hv-1"), 1, kNow, {c}, {0}, {1}, "hv-2").status().code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(Send(Agent("hv-1"), 1, kNow, {c, c}, {0}, {1, 2}).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_TRUE(Scan(c).empty());
}

TEST_F(IngestPipelineTest, TheSessionCacheSeesSeriesDefinedLater) {
  const uint64_t c = Id("vm-1", "vm.cpu_time_ns");
  const uint64_t later = Id("vm-1", "net.rx_bytes");
  auto out = Send(Agent("hv-1"), 1, kNow - 10, {c, later}, {0, 0}, {1, 1});
  EXPECT_EQ(out->rejected, 1u);  // not defined yet
  Define("vm-1", "net.rx_bytes", "hv-1");
  out = Send(Agent("hv-1"), 2, kNow - 9, {c, later}, {0, 0}, {2, 2});  // same series column
  EXPECT_EQ(out->accepted, 2u);
}

// Issue 17: a shutdown racing an ingest. The store closed under the batch used to answer
// InvalidArgument, which the service turns into a final refusal in the acknowledgement, and the
// client dropped the batch. Unavailable is retried: the client reconnects and resends, and the
// restarted server stores the batch.
TEST_F(IngestPipelineTest, ABatchMeetingAClosedStoreIsRetriedNotLost) {
  const uint64_t c = Id("vm-1", "vm.cpu_time_ns");
  ASSERT_TRUE(store_->Close().ok());  // shutdown: the store closes while the batch comes in
  auto refused = Send(Agent("hv-1"), 1, kNow - 10, {c, c}, {0, 1}, {100, 200});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kUnavailable) << refused.status().ToString();
  EXPECT_FALSE(IsFinalIngestRefusal(refused.status())) << "the client would drop the batch";

  // The restart: same directory, new store and pipeline; the client resends sequence 1.
  pipeline_.reset();
  store_.reset();
  storage::StoreOptions o;
  o.dir = dir_.path() + "/store";
  o.now = [] { return kNow; };
  o.background_flush = false;
  auto reopened = storage::Store::Open(o);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  store_ = std::move(reopened).value();
  pipeline_ = std::make_unique<IngestPipeline>(store_.get(), registry_.get());
  cache_ = IngestSessionCache{};
  auto resent = Send(Agent("hv-1"), 1, kNow - 10, {c, c}, {0, 1}, {100, 200});
  ASSERT_TRUE(resent.ok()) << resent.status().ToString();
  EXPECT_FALSE(resent->duplicate);
  EXPECT_EQ(resent->accepted, 2u);
  EXPECT_EQ(Scan(c), (std::map<int64_t, uint64_t>{{kNow - 10, 100}, {kNow - 9, 200}}));
}

TEST(IngestRefusalTest, OnlyBadRequestsAreFinal) {
  EXPECT_TRUE(IsFinalIngestRefusal(Status::InvalidArgument("columns differ")));
  EXPECT_TRUE(IsFinalIngestRefusal(Status::PermissionDenied("billing key")));
  EXPECT_FALSE(IsFinalIngestRefusal(Status::Unavailable("store is closed")));
  EXPECT_FALSE(IsFinalIngestRefusal(Status::IOError("WAL failed earlier")));
  EXPECT_FALSE(IsFinalIngestRefusal(Status::Busy("head is full")));
}

}  // namespace
}  // namespace meterd::engine
