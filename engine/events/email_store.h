// meterd — engine/events/email_store.h
//
// EmailStore: the email channel's state in billing.db (docs/events.md, "Email notices").
//   - `email_start`: one row, written the first time the notifier starts: the largest event
//     id then. Email covers only later events, so turning a relay on for an old billing.db
//     does not mail its whole history.
//   - `email_deliveries`: append-only, one row per attempt to send one event's notice to one
//     recipient (UPDATE and DELETE are refused by triggers).
// Position: every event at or below a delivered row's event id was handled before it (the
// notifier goes in id order); the newest delivered event may still miss recipients, so the
// notifier resumes *at* it (Resume) and skips the recipients it already reached
// (DeliveredRecipients).
//
// Thread-safety: thread-safe (every call is one BillingDb transaction). REQUIRES for every
// member: the calling thread holds no Transaction on the same BillingDb.
// Ownership: the BillingDb outlives the store.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tenancy/billing_db.h"
#include "storage/base/result.h"

namespace meterd::engine::events {

// One attempt to send one event's notice to one recipient, as logged.
struct EmailDelivery {
  int64_t seq = 0;  // log order (assigned by the store)
  int64_t event_id = 0;
  std::string recipient;
  int64_t attempt = 0;     // 1, 2, ... per (event, recipient), across restarts
  int64_t started_at = 0;  // unix seconds
  int64_t duration_ms = 0;
  int smtp_status = 0;     // the relay's last SMTP reply code; 0 when none (connect error)
  std::string error;       // empty when delivered
  bool delivered = false;  // the relay accepted the message (250 after DATA)
};

class EmailStore {
 public:
  // Opens the store on `db`, creating `email_start` and `email_deliveries` (and the events
  // schema they refer to) on first use. REQUIRES: db outlives the store.
  static Result<std::unique_ptr<EmailStore>> Open(tenancy::BillingDb* db);

  // The email channel's floor: the row of `email_start`, written now (the largest event id)
  // when missing. Events at or below it are never mailed.
  Result<int64_t> Start();

  // The id after which reading resumes: max(floor, newest delivered event id - 1). Every
  // event below the newest delivered one was fully handled; that one may lack recipients.
  // REQUIRES: Start() was called once (else NotFound).
  Result<int64_t> Resume() const;

  // The recipients `event_id` has been delivered to (exact stored spelling).
  Result<std::vector<std::string>> DeliveredRecipients(int64_t event_id) const;
  // How many attempts are logged for (event, recipient).
  Result<int64_t> AttemptCount(int64_t event_id, std::string_view recipient) const;

  // Appends one attempt to the log (d.seq is ignored). Returns the assigned seq.
  Result<int64_t> RecordAttempt(const EmailDelivery& d);

  // Logged attempts, newest first, at most `limit`; `event_id` unset = every event.
  Result<std::vector<EmailDelivery>> Deliveries(std::optional<int64_t> event_id = std::nullopt,
                                                size_t limit = 100) const;

 private:
  explicit EmailStore(tenancy::BillingDb* db) : db_(db) {}
  tenancy::BillingDb* const db_;
};

}  // namespace meterd::engine::events
