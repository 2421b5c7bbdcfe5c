// meterd — tests/engine/service/ingest_executor_test.cc: the ingest executor keeps each
// strand's order, runs a strand's queued tasks back to back within its turn's limits, lets
// other strands run while one task is stuck, and runs everything queued before it stops.
#include "engine/service/ingest_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace meterd::engine {
namespace ingest_executor_test {

// A latch a task waits on until the test opens it.
class Gate {
 public:
  void Wait() {
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  void AwaitWaiters(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return waiting_ >= n; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  bool open_ = false;
};

TEST(IngestExecutorTest, AStrandRunsItsTasksInOrderOneAtATime) {
  IngestExecutor exec(4);
  auto strand = exec.NewStrand();
  std::mutex mu;
  std::vector<int> order;
  std::atomic<int> running{0}, overlap{0};
  for (int i = 0; i < 500; ++i) {
    exec.Submit(strand, [&, i] {
      if (running.fetch_add(1) != 0) overlap.fetch_add(1);
      {
        std::lock_guard lock(mu);
        order.push_back(i);
      }
      running.fetch_sub(1);
    });
  }
  exec.Stop();
  ASSERT_EQ(order.size(), 500u);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(order[i], i);
  EXPECT_EQ(overlap.load(), 0);
}

// The order in which one pool thread runs tasks a1..a`a_tasks` (strand A) and b1, b2 (strand
// B), all queued while a task of a third strand holds the thread.
std::vector<std::string> TurnOrder(IngestExecutor::TurnLimits limits, int a_tasks) {
  IngestExecutor exec(1, limits);
  auto blocker = exec.NewStrand();
  auto a = exec.NewStrand();
  auto b = exec.NewStrand();
  Gate gate;
  std::mutex mu;
  std::vector<std::string> order;
  auto record = [&](std::string name) {
    return [&, name] {
      std::lock_guard lock(mu);
      order.push_back(name);
    };
  };
  exec.Submit(blocker, [&] { gate.Wait(); });
  gate.AwaitWaiters(1);
  for (int i = 1; i <= a_tasks; ++i) exec.Submit(a, record("a" + std::to_string(i)));
  exec.Submit(b, record("b1"));
  exec.Submit(b, record("b2"));
  gate.Open();
  exec.Stop();
  return order;
}

// A strand's queued batches run back to back (they touch the same series, still in cache), up
// to the turn's task count; then the next strand's turn.
TEST(IngestExecutorTest, ATurnRunsTheStrandsQueuedTasksUpToItsTaskCount) {
  // An hour of turn time: only the count ends A's turn (a loaded machine cannot end it).
  const IngestExecutor::TurnLimits limits{3, std::chrono::hours(1)};
  EXPECT_EQ(TurnOrder(limits, 5),
            (std::vector<std::string>{"a1", "a2", "a3", "b1", "b2", "a4", "a5"}));
  EXPECT_EQ(TurnOrder(limits, 2), (std::vector<std::string>{"a1", "a2", "b1", "b2"}));
}

TEST(IngestExecutorTest, ATurnEndsOnceItsTimeHasPassed) {
  // No turn time: every turn ends after its first task, so the strands alternate.
  const IngestExecutor::TurnLimits limits{100, std::chrono::microseconds(0)};
  EXPECT_EQ(TurnOrder(limits, 3), (std::vector<std::string>{"a1", "b1", "a2", "b2", "a3"}));
}

TEST(IngestExecutorTest, AStuckTaskHoldsOnlyItsOwnStrand) {
  IngestExecutor exec(2);
  auto stuck = exec.NewStrand();
  auto other = exec.NewStrand();
  Gate gate;
  std::atomic<bool> behind_ran{false};
  exec.Submit(stuck, [&] { gate.Wait(); });
  exec.Submit(stuck, [&] { behind_ran = true; });  // queued behind the stuck one
  gate.AwaitWaiters(1);
  // The other strand's tasks all run while the first task is provably still waiting.
  Gate done;
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) exec.Submit(other, [&] { ran.fetch_add(1); });
  exec.Submit(other, [&] { done.Open(); });
  done.Wait();
  EXPECT_EQ(ran.load(), 100);
  EXPECT_FALSE(behind_ran.load());
  // The last task of `other` may still be returning; then only the stuck one runs.
  while (exec.stats().running > 1) std::this_thread::yield();
  EXPECT_EQ(exec.stats().running, 1u);
  EXPECT_EQ(exec.stats().queued, 1u);
  gate.Open();
  exec.Stop();
  EXPECT_TRUE(behind_ran.load());
}

TEST(IngestExecutorTest, StopRunsEveryQueuedTaskAndLaterTasksRunInline) {
  std::atomic<int> ran{0};
  IngestExecutor exec(1);
  Gate gate;
  auto a = exec.NewStrand();
  auto b = exec.NewStrand();
  exec.Submit(a, [&] { gate.Wait(); });
  gate.AwaitWaiters(1);
  for (int i = 0; i < 10; ++i) {
    exec.Submit(a, [&] { ran.fetch_add(1); });
    exec.Submit(b, [&] { ran.fetch_add(1); });
  }
  EXPECT_EQ(exec.stats().queued, 20u);
  EXPECT_EQ(exec.stats().max_queued, 20u);
  gate.Open();
  exec.Stop();
  EXPECT_EQ(ran.load(), 20);
  exec.Submit(a, [&] { ran.fetch_add(1); });  // after Stop: runs here, never lost
  EXPECT_EQ(ran.load(), 21);
}

}  // namespace ingest_executor_test
}  // namespace meterd::engine
