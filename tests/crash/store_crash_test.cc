// meterd — tests/crash/store_crash_test.cc
//
// kill -9 at random moments, then recovery: every batch reported durable is present exactly
// once with its exact values, and nothing that was never written appears. The data directory
// carries over from one iteration to the next, so recovery also recovers recovered state.
// Iterations: 30, or METERD_CRASH_ITERATIONS.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "storage/store.h"
#include "tests/crash/crash_workload.h"
#include "tests/testing/temp_dir.h"

namespace meterd::testing {
namespace store_crash_test {

struct ChildOutput {
  uint64_t max_attempted = 0;
  bool attempted_any = false;
  std::set<uint64_t> durable;
};

// Runs the child for `millis`, kills it with SIGKILL, and returns what it reported.
ChildOutput RunAndKill(const std::string& dir, uint64_t first_batch, int millis) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    const std::string first = std::to_string(first_batch);
    ::execl(METERD_CRASH_CHILD, METERD_CRASH_CHILD, dir.c_str(), first.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(fds[1]);
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  std::string buffer;
  auto drain = [&] {
    char chunk[4096];
    ssize_t n;
    while ((n = ::read(fds[0], chunk, sizeof(chunk))) > 0) buffer.append(chunk, n);
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
  while (std::chrono::steady_clock::now() < deadline) {
    drain();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::fcntl(fds[0], F_SETFL, 0);
  drain();
  ::close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status)) << "the child exited by itself, status " << status;

  ChildOutput out;
  size_t pos = 0;
  while (true) {
    const size_t end = buffer.find('\n', pos);
    if (end == std::string::npos) break;  // a torn last line is ignored
    const char kind = buffer[pos];
    const uint64_t k = std::strtoull(buffer.c_str() + pos + 2, nullptr, 10);
    if (kind == 'A') {
      out.max_attempted = std::max(out.max_attempted, k);
      out.attempted_any = true;
    } else if (kind == 'D') {
      out.durable.insert(k);
    }
    pos = end + 1;
  }
  return out;
}

TEST(StoreCrashTest, NothingAcknowledgedIsLostNothingCountedTwice) {
  int iterations = 30;
  if (const char* env = std::getenv("METERD_CRASH_ITERATIONS")) iterations = std::atoi(env);
  const uint64_t seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));

  TempDir dir;
  std::unordered_map<uint64_t, uint64_t> series_index;  // id -> j
  for (uint64_t j = 0; j < kCrashSeries; ++j) series_index[CrashSeriesId(j)] = j;
  std::set<uint64_t> durable;
  uint64_t next_batch = 0;
  uint64_t max_attempted = 0;
  bool any_attempted = false;
  for (int it = 0; it < iterations; ++it) {
    const int millis = 30 + static_cast<int>(rng() % 400);
    ChildOutput out = RunAndKill(dir.path(), next_batch, millis);
    durable.insert(out.durable.begin(), out.durable.end());
    if (out.attempted_any) {
      max_attempted = std::max(max_attempted, out.max_attempted);
      any_attempted = true;
      next_batch = out.max_attempted + 1;
    }

    storage::StoreOptions o;
    o.dir = dir.path();
    o.background_flush = false;
    o.flush_on_close = it % 3 == 0;  // sometimes leave the WAL for the next child to replay
    o.partition_seconds = 600;
    o.retention_seconds = 0;
    o.now = [] { return kCrashNow; };
    auto store = storage::Store::Open(o);
    ASSERT_TRUE(store.ok()) << "iteration " << it << ": " << store.status().ToString();
    for (const auto& d : (*store)->recovery_report().wal_damage) {
      // Torn tails are expected after kill -9; mid-file corruption is not.
      EXPECT_NE(d.find("torn tail"), std::string::npos) << d;
    }
    EXPECT_TRUE((*store)->recovery_report().segment_damage.empty());

    std::unordered_map<uint64_t, uint64_t> found_per_batch;
    uint64_t bad = 0;
    storage::ScanStats stats;
    ASSERT_TRUE((*store)
                    ->Scan(
                        storage::ScanRequest{},
                        [&](uint64_t id, storage::ValueType, std::span<const int64_t> ts,
                            std::span<const uint64_t> values) {
                          auto j = series_index.find(id);
                          if (j == series_index.end()) {
                            ++bad;
                            return;
                          }
                          for (size_t i = 0; i < ts.size(); ++i) {
                            const int64_t k = ts[i] - kCrashBase;
                            if (k < 0 || !any_attempted ||
                                static_cast<uint64_t>(k) > max_attempted ||
                                values[i] != CrashValue(static_cast<uint64_t>(k), j->second)) {
                              ++bad;
                              continue;
                            }
                            ++found_per_batch[static_cast<uint64_t>(k)];
                          }
                        },
                        &stats)
                    .ok());
    EXPECT_TRUE(stats.damaged.empty());
    ASSERT_EQ(bad, 0u) << "iteration " << it << ": samples that were never written";
    for (const auto& [k, n] : found_per_batch) {
      // A batch is logged in one WAL record: it survives whole or not at all.
      ASSERT_EQ(n, kCrashSeries) << "iteration " << it << ": batch " << k << " partial";
    }
    for (uint64_t k : durable) {
      ASSERT_EQ(found_per_batch.count(k), 1u)
          << "iteration " << it << ": durable batch " << k << " lost";
    }
    ASSERT_TRUE((*store)->Close().ok());
  }
  EXPECT_GT(durable.size(), 0u);
  RecordProperty("durable_batches", static_cast<int>(durable.size()));
}

}  // namespace store_crash_test
}  // namespace meterd::testing
