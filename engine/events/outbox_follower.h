// meterd — engine/events/outbox_follower.h
//
// OutboxFollower: the delivery loop shared by the event channels (webhooks, email). One
// thread follows the event log for one OutboxChannel and hands it every event it wants, in id
// order, retrying each (event, target) until the channel reports it delivered.
//
// The loop (docs/events.md, "Delivery"):
//   1. Recovers its position from the channel (the channel's delivery log).
//   2. Reads events after it in pages of `page_size`; asks the channel for each event's
//      targets (a webhook: itself or nothing; email: the recipients not yet delivered to).
//      An event with no target is passed over without a log row.
//   3. Attempts the oldest (event, target) until delivered, waiting BackoffDelay(k), less a
//      random fraction of up to `jitter`, after failed attempt k. Attempt numbers continue
//      the channel's logged count, so they run on across restarts.
//   4. Idle: sleeps until Wake() (EventLog::Notify) or poll_interval.
// A storage failure (position, page, targets) is reported to the channel and retried with the
// same backoff; nothing is skipped. Memory: one page of events (times their targets).
//
// Thread-safety: Start, Join and the destructor from one thread; RequestStop and Wake from
// any thread. The channel's methods run on the follower's thread, except Cancel (from
// RequestStop's caller). No lock of the follower is held while the channel works.
// Ownership: `log` and `channel` outlive the follower.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/events/event_log.h"
#include "storage/base/result.h"

namespace meterd::engine::events {

struct RetryPolicy {
  // initial_backoff after the first failed attempt, doubling up to max_backoff; each delay is
  // shortened by a random fraction of up to `jitter` (0..1) so that channels that fail
  // together do not retry in lockstep.
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{300000};
  double jitter = 0.2;
};

// The retry delay after failed attempt `attempt` (1-based), before jitter.
std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, int64_t attempt);

struct FollowOptions {
  RetryPolicy retry;
  size_t page_size = 256;                         // events read per page
  std::chrono::milliseconds poll_interval{1000};  // idle re-read without a Wake()
};

// What a follower delivers to. Implemented by the webhook dispatcher's workers and by the
// email notifier.
class OutboxChannel {
 public:
  virtual ~OutboxChannel() = default;
  // The id after which delivery resumes: every event at or below it has been handled.
  virtual Result<int64_t> RecoverPosition() = 0;
  // Only this account's events are read (SQL filter); empty = every account.
  virtual std::string AccountFilter() const { return {}; }
  // The targets `e` still has to reach, in delivery order; empty = pass it over.
  virtual Result<std::vector<std::string>> Targets(const Event& e) = 0;
  // How many attempts at (e, target) the channel has logged.
  virtual Result<int64_t> LoggedAttempts(const Event& e, const std::string& target) = 0;
  // One attempt, logged by the channel; true when delivered.
  virtual bool Attempt(const Event& e, const std::string& target, int64_t attempt) = 0;
  // Called from another thread: abort the attempt in flight, if any (RequestStop).
  virtual void Cancel() = 0;
  // A read of billing.db failed (it will be retried); for the channel's counters.
  virtual void StorageError() = 0;
};

class OutboxFollower {
 public:
  // REQUIRES: log and channel outlive the follower.
  OutboxFollower(EventLog* log, OutboxChannel* channel, FollowOptions options);
  ~OutboxFollower();  // RequestStop(), Join()
  OutboxFollower(const OutboxFollower&) = delete;
  OutboxFollower& operator=(const OutboxFollower&) = delete;

  void Start();        // starts the thread
  void RequestStop();  // ends the loop soon: aborts the attempt in flight and any wait
  void Join();         // waits for the thread
  void Wake();         // new events may exist (EventLog::Notify)

 private:
  struct Item {
    Event event;
    std::string target;
  };
  void Run();
  // Waits `delay`, or less when stopped (returns false) or, with wake_on_event, when woken.
  bool Sleep(std::chrono::milliseconds delay, bool wake_on_event);
  bool stopping();
  std::chrono::milliseconds Jittered(std::chrono::milliseconds delay);

  EventLog* const log_;
  OutboxChannel* const channel_;
  const FollowOptions options_;
  std::mt19937_64 rng_;  // only the follower's thread
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // GUARDED_BY(mu_)
  bool woken_ = false;  // GUARDED_BY(mu_)
};

}  // namespace meterd::engine::events
