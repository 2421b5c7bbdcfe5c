// meterd — tests/integration/meterd_crash_test.cc
//
// kill -9 of the real meterd while a client streams batches over TCP, at random moments,
// then a restart on the same data directory: every sample the server acknowledged is there
// exactly once with its exact value, and nothing appears that was never sent. Iterations:
// METERD_SERVER_CRASH_ITERATIONS (default 8).
#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

constexpr int kSeries = 20;
constexpr int kSecondsPerBatch = 5;

uint64_t ValueAt(int series, int64_t ts) {
  return static_cast<uint64_t>(ts) * 100 + static_cast<uint64_t>(series);  // grows: a counter
}

using MeterdCrashTest = MeterdTest;

TEST_F(MeterdCrashTest, AcknowledgedSamplesSurviveKillMinus9DuringIngest) {
  const char* env = std::getenv("METERD_SERVER_CRASH_ITERATIONS");
  const int iterations = env ? std::atoi(env) : 8;
  std::vector<net::SeriesKey> keys;
  std::vector<uint64_t> ids;
  for (int s = 0; s < kSeries; ++s) {
    keys.push_back({"vm-c" + std::to_string(s), "vm.cpu_time_ns"});
    ids.push_back(net::SeriesIdOf(keys.back().resource, keys.back().metric));
  }
  ASSERT_TRUE(Admin()->DefineSeries(keys).ok());
  std::mt19937_64 rng(2026);
  // Every iteration writes its own time range, within the retention and not in the future.
  const int64_t base = UnixNow() - 20 * 86400;
  std::map<int64_t, bool> acked_seconds;  // first second of each acknowledged batch
  uint64_t total_acked = 0;
  for (int it = 0; it < iterations; ++it) {
    SCOPED_TRACE("iteration " + std::to_string(it));
    net::ClientOptions o = Options(server_.admin_key());
    o.reconnect_attempts = 0;
    net::Client client(o);
    ASSERT_TRUE(client.Connect().ok());
    const int64_t start = base + static_cast<int64_t>(it) * 20000;
    std::map<uint64_t, int64_t> batch_start;  // sequence -> first second
    client.set_ack_callback([&](const net::IngestAckInfo& a) {
      EXPECT_EQ(a.accepted, static_cast<uint32_t>(kSeries * kSecondsPerBatch));
      acked_seconds[batch_start.at(a.sequence)] = true;
      total_acked += a.accepted;
    });
    const auto kill_after = std::chrono::milliseconds(20 + rng() % 400);
    std::thread killer([&] {
      std::this_thread::sleep_for(kill_after);
      server_.Kill();
    });
    for (uint64_t seq = 1; seq <= 3000; ++seq) {
      net::IngestBatchData b;
      b.agent = "crash-" + std::to_string(it);
      b.sequence = seq;
      b.base_time = start + static_cast<int64_t>(seq - 1) * kSecondsPerBatch;
      batch_start[seq] = b.base_time;
      for (int k = 0; k < kSecondsPerBatch; ++k) {
        for (int s = 0; s < kSeries; ++s) {
          b.series.push_back(ids[s]);
          b.offsets.push_back(static_cast<uint32_t>(k));
          b.values.push_back(ValueAt(s, b.base_time + k));
        }
      }
      if (!client.SendBatch(seq, net::BuildIngestFrame(b)).ok()) break;
      // Paced so that the stream outlasts the longest kill delay: the kill lands mid-stream.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    (void)client.Drain(std::chrono::milliseconds(2000));
    killer.join();
    client.Close();
    StartServer(extra_, /*fresh=*/false);
  }
  // Everything present was sent (exact value for its second), and every acknowledged batch is
  // complete: kSeries x kSecondsPerBatch samples.
  auto rows = ExportAll(Admin().get(), base, base + static_cast<int64_t>(iterations) * 20000);
  std::map<int64_t, int> per_second;
  std::map<std::pair<std::string, int64_t>, int> seen;
  for (const auto& r : rows) {
    const int s = std::stoi(r.resource.substr(4));
    ASSERT_EQ(r.value, ValueAt(s, r.ts)) << r.resource << " @" << r.ts;
    const std::pair<std::string, int64_t> key(r.resource, r.ts);
    ASSERT_EQ(++seen[key], 1) << "duplicate " << r.resource << " @" << r.ts;
    ++per_second[r.ts];
  }
  uint64_t verified = 0;
  for (const auto& [first, ok] : acked_seconds) {
    for (int k = 0; k < kSecondsPerBatch; ++k) {
      ASSERT_EQ(per_second[first + k], kSeries) << "second " << first + k << " lost";
      verified += kSeries;
    }
  }
  EXPECT_EQ(verified, total_acked);
  EXPECT_GT(total_acked, 0u);
  EXPECT_LT(total_acked, static_cast<uint64_t>(iterations) * 3000 * kSeries * kSecondsPerBatch)
      << "every stream finished before its kill";
  std::printf("%d kills; %llu acknowledged samples verified, %zu samples present\n", iterations,
              static_cast<unsigned long long>(total_acked), rows.size());
}

}  // namespace
}  // namespace meterd::testing
