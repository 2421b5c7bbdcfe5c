// meterd — tests/integration/meterd_crash_test.cc
//
// kill -9 of the real meterd while a client streams batches over TCP, at random moments,
// then a restart on the same data directory: every sample the server acknowledged is there
// exactly once with its exact value, and nothing appears that was never sent. Iterations:
// METERD_SERVER_CRASH_ITERATIONS (default 8).
#include <atomic>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
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

// Issue 18: kill -9 while `meterctl backfill` writes revisions that are folded into the month
// files every 1,000 rows (rotation, month files, manifest, log deletion: the kill lands
// anywhere among them). A first import (v1) is acknowledged whole before the kills; each
// iteration kills the server during a second import (v2) of other values for the same buckets
// and restarts it. After every restart each bucket is exactly v1 or v2 (an acknowledged bucket
// is never lost, nothing is half applied or counted twice: one hourly row per bucket); once
// v2 finishes, every bucket is v2 and imported.
TEST_F(MeterdCrashTest, ImportedBucketsSurviveKillMinus9DuringFolds) {
  const char* env = std::getenv("METERD_SERVER_CRASH_ITERATIONS");
  const int iterations = env ? std::max(1, std::atoi(env) / 2) : 4;
  server_.Stop();
  StartServer({"--grace", "0", "--revision-buffer-rows", "1000"});
  // A sealed month well in the past (a fresh server seals everything older than a day).
  const time_t then = static_cast<time_t>(UnixNow() - 40 * 86400);
  std::tm tm{};
  gmtime_r(&then, &tm);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  const int64_t from = static_cast<int64_t>(timegm(&tm));
  constexpr int kVms = 60, kHours = 100;
  auto value = [](int version, int vm, int hour) {
    return static_cast<uint64_t>(version * 100000 + vm * 1000 + hour);
  };
  auto csv = [&](int version) {
    std::string out = "resource,metric,hour,value\n";
    for (int h = 0; h < kHours; ++h) {
      for (int vm = 0; vm < kVms; ++vm) {
        out += "vm-k" + std::to_string(vm) + ",net.tx_bytes," + std::to_string(from + h * 3600) +
               "," + std::to_string(value(version, vm, h)) + "\n";
      }
    }
    return out;
  };
  const std::string v1 = WriteFile("v1.csv", csv(1)), v2 = WriteFile("v2.csv", csv(2));
  const std::string range =
      "--from " + std::to_string(from) + " --to " + std::to_string(from + kHours * 3600);
  // Every bucket's version (1 or 2); fails on any other value or a missing or repeated bucket.
  auto versions = [&](std::map<int, int>* count) {
    CommandResult u = Meterctl("--format json usage --granularity hour " + range);
    ASSERT_EQ(u.exit_code, 0) << u.out << u.err;
    const nlohmann::json lines = nlohmann::json::parse(u.out, nullptr, false);
    ASSERT_TRUE(lines.is_array()) << u.out;
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& l : lines) {
      const std::string resource = l["resource"];
      const std::string period = l["period_start"];
      ASSERT_TRUE(seen.insert({resource, period}).second) << l.dump();
      const int vm = std::stoi(resource.substr(4));
      const std::string q = l["quantity"];
      const uint64_t got = std::stoull(q);
      ASSERT_EQ(l["hours"], 1) << l.dump();
      ASSERT_EQ(l["imported_hours"], 1) << l.dump();
      const int hour = static_cast<int>(got % 1000);
      ASSERT_TRUE(got == value(1, vm, hour) || got == value(2, vm, hour)) << l.dump();
      ++(*count)[static_cast<int>(got / 100000)];
    }
    ASSERT_EQ(seen.size(), static_cast<size_t>(kVms * kHours));
  };
  const auto t0 = std::chrono::steady_clock::now();
  CommandResult first = Meterctl("backfill " + v1);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  // Kills land within an import: at 10-90 % of the time a whole one took here (a fixed delay
  // misses them all on a fast machine).
  const auto import_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::mt19937_64 rng(18);
  int kills_mid_import = 0;
  for (int it = 0; it < iterations; ++it) {
    SCOPED_TRACE("iteration " + std::to_string(it));
    const auto kill_after = std::chrono::microseconds(
        import_us / 10 + static_cast<int64_t>(rng() % 800) * import_us / 1000);
    std::thread killer([&] {
      std::this_thread::sleep_for(kill_after);
      server_.Kill();
    });
    CommandResult second = Meterctl("backfill " + v2);
    killer.join();
    kills_mid_import += second.exit_code != 0;
    StartServer(extra_, /*fresh=*/false);
    std::map<int, int> count;
    versions(&count);
    if (HasFatalFailure()) return;
    // Back to v1 for the next kill, so that it lands among folds that change something.
    CommandResult back = Meterctl("backfill " + v1);
    ASSERT_EQ(back.exit_code, 0) << back.out << back.err;
  }
  CommandResult last = Meterctl("backfill " + v2);
  ASSERT_EQ(last.exit_code, 0) << last.out << last.err;
  server_.Stop();
  StartServer(extra_, /*fresh=*/false);
  std::map<int, int> count;
  versions(&count);
  EXPECT_EQ(count[2], kVms * kHours);
  EXPECT_GT(kills_mid_import, 0) << "every import finished before its kill";
}

}  // namespace
}  // namespace meterd::testing
