// meterd — engine/events/webhook_dispatcher.h
//
// WebhookDispatcher: delivers the event log to every active webhook by HTTP POST
// (docs/events.md, "Delivery").
//
// Semantics, per webhook:
//   1. In order: matching events are delivered in id order; event N+1 is not sent before
//      event N got a 2xx answer.
//   2. At least once: an attempt that gets no 2xx answer (another status, a connect or TLS
//      error, or no answer within attempt_timeout) is retried after a backoff that doubles
//      from initial_backoff up to max_backoff, each delay shortened by a random fraction of up
//      to `jitter`. There is no last attempt: the queue waits until the receiver recovers or
//      the webhook is removed. Every attempt is logged in webhook_deliveries.
//   3. Restartable: at Start each webhook's position is recovered from the delivery log (the
//      last event with a delivered attempt), so a stop, a crash or kill -9 between the
//      receiver's 2xx and the log write redelivers that event; nothing is skipped. Receivers
//      de-duplicate on X-Meterd-Event-Id.
//   4. Isolated: one worker thread (an OutboxFollower, engine/events/outbox_follower.h) per
//      active webhook, each with its own HTTP client; a receiver that is down, slow or failing
//      delays only its own webhook's queue. Memory per worker is bounded by page_size events.
//
// Thread-safety: Start, Stop and the destructor from one thread at a time; Refresh and
// Stats from any thread. The dispatcher never holds the BillingDb mutex during network I/O
// and never blocks EventLog::Append or EventLog::Notify (its Notify listener only sets flags).
// REQUIRES for Start and Stop: the calling thread holds no Transaction.
// Ownership: `log` and `store` outlive the dispatcher.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/events/event_log.h"
#include "engine/events/outbox_follower.h"
#include "engine/events/webhook_store.h"
#include "storage/base/result.h"

namespace meterd::engine::events {

struct DispatcherOptions {
  // The whole of one attempt: resolve, connect, TLS, send, response header. Five seconds is
  // generous for a receiver that only has to store the event and answer.
  std::chrono::milliseconds attempt_timeout{5000};
  // Retry delays: initial_backoff after the first failed attempt, doubling up to max_backoff
  // (1 s, 2 s, 4 s, ... 256 s, then 300 s); each one shortened by up to `jitter` (a fraction,
  // 0..1) so that webhooks failing together do not retry in lockstep.
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{300000};
  double jitter = 0.2;
  // Events read per page (the bound on each worker's queue).
  size_t page_size = 256;
  // An idle worker re-reads the log this often even without EventLog::Notify (a missed
  // Notify, or events appended by another process, are then late by at most this much).
  std::chrono::milliseconds poll_interval{1000};
  // How often the webhook list is re-read to start and stop workers (Refresh() does it now).
  std::chrono::milliseconds refresh_interval{5000};
  // A PEM file of CA certificates trusted for https:// besides the system store.
  std::string ca_file;
};

struct DispatcherStats {
  uint64_t attempts = 0;         // delivery attempts made
  uint64_t delivered = 0;        // attempts answered 2xx
  uint64_t failed_attempts = 0;  // attempts that will be retried
  uint64_t storage_errors = 0;   // billing.db reads or log writes that failed (retried)
  size_t webhooks = 0;           // workers running
};

// The request body of an event's delivery, exactly as sent:
//   {"id":<id>,"kind":"<kind>","account":"<account>","at":<at>,"payload":<payload>}
// (payload verbatim, surrounding whitespace trimmed; {} if it is not a JSON object).
std::string DeliveryBody(const Event& e);

// The retry delay after failed attempt `attempt` (1-based), before jitter (the RetryPolicy of
// the options' backoff fields).
std::chrono::milliseconds BackoffDelay(const DispatcherOptions& options, int64_t attempt);

class WebhookDispatcher {
 public:
  // REQUIRES: log and store outlive the dispatcher.
  WebhookDispatcher(EventLog* log, WebhookStore* store, DispatcherOptions options = {});
  ~WebhookDispatcher();  // Stop()
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  // Reads the active webhooks, starts one worker per webhook (each recovers its position
  // from the delivery log) and the thread that follows Add and Remove. InvalidArgument when
  // already running; the store's error when the webhook list cannot be read.
  Status Start();
  // Stops every worker: an attempt in flight is aborted (and logged as "cancelled"), a
  // backoff wait ends. Returns when all threads have exited. A stopped dispatcher may be
  // started again. No-op when not running.
  void Stop();
  // Re-reads the webhook list soon (after WebhookStore::Add or Remove); does not block.
  void Refresh();

  DispatcherStats Stats() const;

 private:
  class Worker;
  struct Counters {
    std::atomic<uint64_t> attempts{0};
    std::atomic<uint64_t> delivered{0};
    std::atomic<uint64_t> failed_attempts{0};
    std::atomic<uint64_t> storage_errors{0};
  };

  Status Reconcile();  // starts workers for new webhooks, stops those of removed ones
  void Supervise();    // the supervisor thread: Reconcile every refresh_interval or on Refresh
  void WakeWorkers();  // the EventLog listener

  EventLog* const log_;
  WebhookStore* const store_;
  const DispatcherOptions options_;
  Counters counters_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;                                    // GUARDED_BY(mu_)
  bool stopping_ = false;                                   // GUARDED_BY(mu_)
  bool refresh_ = false;                                    // GUARDED_BY(mu_)
  std::map<std::string, std::unique_ptr<Worker>> workers_;  // GUARDED_BY(mu_); by webhook id
  std::thread supervisor_;
  int listener_ = 0;
};

}  // namespace meterd::engine::events
