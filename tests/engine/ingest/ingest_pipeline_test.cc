// meterd — tests/engine/ingest/ingest_pipeline_test.cc
#include "engine/ingest/ingest_pipeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/downsample/bucket.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace ingest_pipeline_test {

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
                  {0, 0, 0, 1, 1, 2, 1, 3, 100 + 700},
                  {1000, 1, 1, 1200, storage::DoubleToBits(NAN), storage::DoubleToBits(INFINITY),
                   900 /* c@1 again, another value */, 500 /* reset */, 600});
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

// The hourly increase of one counter as the rollups compute it (engine/downsample/bucket.h)
// from what the store holds.
uint64_t HourIncrease(const std::map<int64_t, uint64_t>& raw) {
  std::vector<RawSample> samples;
  for (const auto& [ts, v] : raw) samples.push_back(RawSample{ts, v});
  const int64_t hour = storage::HourOf(samples.front().ts);
  const auto rows = ComputeBuckets(1, SeriesShape{MetricKind::kCounter, storage::ValueType::kInt},
                                   samples, 60, hour, samples.back().ts, hour, hour);
  return rows.empty() ? 0 : rows[0].col[storage::kColIncrease];
}

// Issue 17: one rule for counters (docs/metrics.md): any decrease is a reset, also a small one;
// ingest used to refuse a drop to above half of the previous value as "noise".
TEST_F(IngestPipelineTest, AnyCounterDecreaseIsAResetNeverRefused) {
  const uint64_t c = Id("vm-1", "vm.cpu_time_ns");
  const int64_t base = kNow - 100;
  auto out = Send(Agent("hv-1"), 1, base, {c, c, c, c}, {0, 1, 2, 3}, {1000, 900, 1100, 1099});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->accepted, 4u);
  EXPECT_EQ(out->rejected, 0u);
  EXPECT_EQ(Scan(c), (std::map<int64_t, uint64_t>{
                         {base, 1000}, {base + 1, 900}, {base + 2, 1100}, {base + 3, 1099}}));
  // Two resets: 900 + 200 + 1099.
  EXPECT_EQ(HourIncrease(Scan(c)), 900u + 200u + 1099u);
}

// Issue 17: a counter's stored second is never replaced by another value. Last write wins in
// the store, so a resend at the same second with a lower value used to replace the sample that
// carried an increase (0, 1000, then 5 at 1000's second: the hour's 1000 was lost). The check
// used to compare only with the newest sample (so an older second could be rewritten) and to
// skip a resend at the newest second altogether.
TEST_F(IngestPipelineTest, ACounterSecondIsNeverRewrittenWithAnotherValue) {
  const uint64_t c = Id("vm-1", "vm.cpu_time_ns");
  const int64_t base = kNow - 100;
  ASSERT_TRUE(Send(Agent("hv-1"), 1, base, {c, c}, {0, 1}, {0, 1000}).ok());
  // The newest second again, with another value: refused; with its own value: accepted.
  auto out = Send(Agent("hv-1"), 2, base, {c, c}, {1, 1}, {5, 1000});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->accepted, 1u);
  EXPECT_EQ(out->rejected, 1u);
  ASSERT_EQ(out->first_rejections.size(), 1u);
  EXPECT_EQ(out->first_rejections[0].index, 0u);
  EXPECT_EQ(out->first_rejections[0].reason.code(), Status::Code::kInvalidArgument);
  // An older second, with another value: refused too.
  out = Send(Agent("hv-1"), 3, base, {c, c}, {0, 2}, {7, 1010});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->accepted, 1u);
  EXPECT_EQ(out->rejected, 1u);
  EXPECT_EQ(Scan(c), (std::map<int64_t, uint64_t>{{base, 0}, {base + 1, 1000}, {base + 2, 1010}}));
  EXPECT_EQ(HourIncrease(Scan(c)), 1010u);
  EXPECT_EQ(pipeline_->counters().rejected, 2u);
}

// The same within one batch: the first value of a second stays.
TEST_F(IngestPipelineTest, ACounterSecondTwiceInOneBatchKeepsTheFirstValue) {
  const uint64_t c = Id("vm-1", "vm.cpu_time_ns");
  const int64_t base = kNow - 100;
  auto out =
      Send(Agent("hv-1"), 1, base, {c, c, c, c, c}, {0, 1, 1, 1, 2}, {0, 1000, 5, 1000, 1200});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->accepted, 4u);
  EXPECT_EQ(out->rejected, 1u);
  ASSERT_EQ(out->first_rejections.size(), 1u);
  EXPECT_EQ(out->first_rejections[0].index, 2u);
  EXPECT_EQ(Scan(c), (std::map<int64_t, uint64_t>{{base, 0}, {base + 1, 1000}, {base + 2, 1200}}));
}

// What decides is the store, not what this process has seen: after a restart (a new pipeline
// on the same store) a rewrite is refused just the same, and a sample older than the newest
// stored one is checked against the store too.
TEST_F(IngestPipelineTest, ACounterSecondIsNeverRewrittenAfterARestart) {
  const uint64_t c = Id("vm-1", "vm.cpu_time_ns");
  const int64_t base = kNow - 100;
  ASSERT_TRUE(Send(Agent("hv-1"), 1, base, {c, c, c}, {0, 1, 5}, {0, 1000, 1500}).ok());
  pipeline_ = std::make_unique<IngestPipeline>(store_.get(), registry_.get());
  cache_ = IngestSessionCache{};
  auto out = Send(Agent("hv-1"), 1, base, {c, c, c, c}, {1, 0, 3, 5}, {5, 0, 1200, 1500});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->accepted, 3u);  // 0@0 and 1500@5 (their own values), 1200@3 (new)
  EXPECT_EQ(out->rejected, 1u);
  ASSERT_EQ(out->first_rejections.size(), 1u);
  EXPECT_EQ(out->first_rejections[0].index, 0u);
  // The newest stored second (5) is known now: 1400 there is refused, 1600 later is taken.
  out = Send(Agent("hv-1"), 2, base, {c, c}, {5, 6}, {1400, 1600});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->accepted, 1u);
  EXPECT_EQ(out->rejected, 1u);
  EXPECT_EQ(
      Scan(c),
      (std::map<int64_t, uint64_t>{
          {base, 0}, {base + 1, 1000}, {base + 3, 1200}, {base + 5, 1500}, {base + 6, 1600}}));
  EXPECT_EQ(HourIncrease(Scan(c)), 1600u);
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

// A batch whose WAL group never became durable (a full disk, a failed fdatasync) was never
// acknowledged: the service forgets it, and its resend is appended again (a new lsn to wait
// for), not answered with the lost group's lsn. Forgetting with another lsn changes nothing.
TEST_F(IngestPipelineTest, AForgottenBatchIsAppendedAgainOnResend) {
  const uint64_t c = Id("vm-1", "vm.cpu_time_ns");
  auto first = Send(Agent("hv-1"), 7, kNow - 5, {c, c}, {0, 1}, {10, 20});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->dedup_agent, "hv-1");
  pipeline_->Forget(first->dedup_agent, 7, first->lsn + 1);  // not its lsn: kept
  auto dup = Send(Agent("hv-1"), 7, kNow - 5, {c, c}, {0, 1}, {10, 20});
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->duplicate);
  pipeline_->Forget(first->dedup_agent, 7, first->lsn);
  auto resent = Send(Agent("hv-1"), 7, kNow - 5, {c, c}, {0, 1}, {10, 20});
  ASSERT_TRUE(resent.ok());
  EXPECT_FALSE(resent->duplicate);
  EXPECT_GT(resent->lsn, first->lsn);
  EXPECT_EQ(resent->accepted, 2u);
  EXPECT_EQ(Scan(c)[kNow - 4], 20u);
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
  EXPECT_FALSE(IsFinalIngestRefusal(Status::ResourceExhausted("the disk is full")));
}

}  // namespace ingest_pipeline_test
}  // namespace meterd::engine
