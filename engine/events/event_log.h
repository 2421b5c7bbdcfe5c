// meterd — engine/events/event_log.h
//
// EventLog: the transactional outbox of billing events, table `events` in billing.db
// (docs/events.md). The ledger appends an event inside the same SQLite transaction as the
// ledger entries that caused it (Append), so an event exists if and only if its cause was
// committed; after the commit it calls Notify(), which wakes readers. Readers (the webhook
// dispatcher, protocol subscribers) page through events in id order (ReadAfter) and block
// for new ones (WaitAfter) or register a listener that Notify() calls.
//
// Invariants:
//   1. Append-only: triggers refuse UPDATE and DELETE on `events`.
//   2. Ids come from SQLite AUTOINCREMENT: strictly increasing, never reused, even after a
//      rollback or a deletion attempt. BillingDb serialises every writer on one connection,
//      so ids are also in commit order: once a reader has seen id N, no event with a smaller
//      id can appear later. A reader's position is therefore just the last id it handled.
//   3. `payload` is a JSON object (validated by Append; stored byte for byte as given).
//
// Thread-safety: thread-safe. Append runs inside the caller's Transaction; every other
// member that touches the database (Open, Notify, ReadAfter) begins its own short
// transaction. REQUIRES for those: the calling thread holds no Transaction on the same
// BillingDb (it would deadlock).
// Ownership: the BillingDb outlives the EventLog; the EventLog outlives its listeners' owners'
// use of it (RemoveListener before destroying what a listener refers to).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tenancy/billing_db.h"
#include "storage/base/result.h"

namespace meterd::engine::events {

struct Event {
  int64_t id = 0;           // assigned by Append: strictly increasing, never reused (AUTOINCREMENT)
  std::string account;      // may be empty for fleet-wide events
  std::string kind;         // "low_balance", "negative", "suspend", "resume", ...
  int64_t at = 0;           // unix seconds (the billing time it refers to)
  std::string payload;      // a JSON object (text), e.g. {"balance":"-1.500000","threshold":"0"}
  int64_t recorded_at = 0;  // unix seconds (wall clock) of the Append; filled by ReadAfter
};

// The event kinds the ledger emits today. Any kind matching [a-z][a-z0-9_.]{0,63} is accepted.
inline constexpr std::string_view kKindLowBalance = "low_balance";
inline constexpr std::string_view kKindNegative = "negative";
inline constexpr std::string_view kKindSuspend = "suspend";
inline constexpr std::string_view kKindResume = "resume";

class EventLog {
 public:
  // Opens the log on `db`, creating table `events` (and its triggers) on first use.
  // REQUIRES: db outlives the log; the calling thread holds no Transaction.
  static Result<std::unique_ptr<EventLog>> Open(tenancy::BillingDb* db);
  // Creates the `events` schema inside `txn` when missing (Open does this; exposed so that
  // another module can create its tables and this one in one transaction).
  static Status CreateSchema(tenancy::Transaction& txn);

  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Inside the caller's open transaction: inserts the event (e.id and e.recorded_at are
  // ignored), returns its id. The caller commits, then calls Notify(). InvalidArgument when
  // the kind is malformed or the payload is not a JSON object (an empty payload means {}).
  static Result<int64_t> Append(tenancy::Transaction& txn, const Event& e);
  // Whether `kind` is a well-formed kind: [a-z][a-z0-9_.]{0,63}.
  static bool ValidKind(std::string_view kind);

  // After the caller's commit: refreshes LastId() from the database, wakes WaitAfter waiters
  // and calls every listener. Cheap (one indexed read); never waits for a reader.
  // REQUIRES: the calling thread holds no Transaction.
  void Notify();

  // Events with id > after_id, ascending, at most `limit`; account empty = all accounts.
  Result<std::vector<Event>> ReadAfter(int64_t after_id, size_t limit,
                                       std::string_view account = {});

  // The largest event id this log knows to be committed: read at Open, refreshed by Notify()
  // and by ReadAfter. An event appended without a Notify() may be newer.
  int64_t LastId() const;

  // Blocks until an event with id > after_id may exist (LastId() > after_id, or a Notify()
  // since the call began), the timeout passes, or Stop(); returns false on stop (at once when
  // already stopped), true otherwise. A true return is a hint: ReadAfter tells what exists.
  bool WaitAfter(int64_t after_id, std::chrono::milliseconds timeout);

  // Wakes every WaitAfter waiter, which then returns false, as do all later calls.
  void Stop();

  // Registers `fn`, called on the notifying thread after every Notify(). `fn` must be quick,
  // must not block and must not call into this EventLog. Returns a handle for RemoveListener.
  int AddListener(std::function<void()> fn);
  // After return, the listener is not running and will not run again.
  void RemoveListener(int handle);

 private:
  explicit EventLog(tenancy::BillingDb* db) : db_(db) {}
  Result<int64_t> ReadLastId();

  tenancy::BillingDb* const db_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t last_id_ = 0;      // GUARDED_BY(mu_)
  uint64_t generation_ = 0;  // GUARDED_BY(mu_): bumped by every Notify()
  bool stopped_ = false;     // GUARDED_BY(mu_)

  std::mutex listeners_mu_;  // held while listeners run, so RemoveListener waits for them
  std::map<int, std::function<void()>> listeners_;  // GUARDED_BY(listeners_mu_)
  int next_listener_ = 1;                           // GUARDED_BY(listeners_mu_)
};

}  // namespace meterd::engine::events
