// meterd — engine/events/email_notifier.h
//
// EmailNotifier: mails billing events to the accounts' notify_email addresses through one
// SMTP relay (docs/events.md, "Email notices"). It follows the event outbox with an
// OutboxFollower, like each webhook worker does.
//
// Semantics:
//   1. Which events: kinds in `kinds` (default low_balance and negative) of an account, with
//      an id above the channel's floor (EmailStore::Start: events before email was first
//      turned on are never mailed).
//   2. To whom: RecipientSource(account), asked when the event is read (meterd resolves the
//      notify_email setting: account, its domains, '*'). No recipient: no email, no log row.
//   3. One message per event per recipient (FormatNotice), sent in id order, one at a time.
//   4. At least once: a failed send (no connection, TLS, AUTH, a 4xx/5xx reply, the timeout)
//      is retried after BackoffDelay(retry, k) less jitter, without a last attempt. Every
//      attempt is logged in email_deliveries. After a restart the notifier resumes at the
//      newest delivered event and skips the recipients it already reached, so a crash
//      between the relay's 250 and the log row sends that one message again (same
//      Message-ID), and nothing is skipped.
//   5. Never in the billing path: no transaction is open during SMTP I/O; the EventLog
//      listener only wakes the follower.
//
// Thread-safety: Start, Stop and the destructor from one thread at a time; Stats from any
// thread. REQUIRES for Start and Stop: the calling thread holds no Transaction.
// Ownership: `log` and `store` outlive the notifier; `recipients` may be called on the
// notifier's thread until Stop returns.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/events/email_message.h"
#include "engine/events/email_store.h"
#include "engine/events/event_log.h"
#include "engine/events/outbox_follower.h"
#include "engine/events/smtp_client.h"
#include "storage/base/result.h"

namespace meterd::engine::events {

// The file to attach to an event's notice (an issued invoice's PDF), nullopt for none. Called
// on the notifier's thread, without a transaction; an error fails the attempt (logged with
// "attachment: <error>", retried like a refused send).
using AttachmentSource = std::function<Result<std::optional<EmailAttachment>>(const Event& e)>;

struct EmailOptions {
  SmtpOptions smtp;  // the relay
  std::string from;  // the envelope sender and From header; a valid address
  std::vector<std::string> kinds = {std::string(kKindLowBalance), std::string(kKindNegative)};
  // Same defaults as webhooks: 1 s doubling to 5 min, 20 % jitter.
  RetryPolicy retry;
  size_t page_size = 256;
  std::chrono::milliseconds poll_interval{1000};
  AttachmentSource attachments;  // empty: no attachments
};

// An account's recipients (valid addresses); empty = nobody to mail.
using RecipientSource = std::function<std::vector<std::string>(std::string_view account)>;

struct EmailStats {
  uint64_t attempts = 0;         // sends attempted
  uint64_t delivered = 0;        // sends the relay accepted
  uint64_t failed_attempts = 0;  // sends that will be retried
  uint64_t storage_errors = 0;   // billing.db reads or log writes that failed (retried)
};

class EmailNotifier final : private OutboxChannel {
 public:
  // REQUIRES: log and store outlive the notifier.
  EmailNotifier(EventLog* log, EmailStore* store, RecipientSource recipients, EmailOptions options);
  ~EmailNotifier() override;  // Stop()

  // Validates the options (InvalidArgument: the relay URL, the From address, a kind), records
  // the channel's floor on first use and starts following the log. InvalidArgument when
  // already running.
  Status Start();
  // Aborts a send in flight (logged as "cancelled") and ends every wait; returns when the
  // thread has exited. A stopped notifier may be started again. No-op when not running.
  void Stop();

  EmailStats Stats() const;

 private:
  // OutboxChannel, on the follower's thread:
  Result<int64_t> RecoverPosition() override;
  Result<std::vector<std::string>> Targets(const Event& e) override;
  Result<int64_t> LoggedAttempts(const Event& e, const std::string& recipient) override;
  bool Attempt(const Event& e, const std::string& recipient, int64_t attempt) override;
  void Cancel() override;
  void StorageError() override;

  EventLog* const log_;
  EmailStore* const store_;
  const RecipientSource recipients_;
  const EmailOptions options_;

  std::atomic<uint64_t> attempts_{0}, delivered_{0}, failed_attempts_{0}, storage_errors_{0};
  // Between Start and Stop (a cancelled client is done: each Start makes a new one).
  std::unique_ptr<SmtpClient> client_;
  std::unique_ptr<OutboxFollower> follower_;
  int listener_ = 0;
  // The attachment of the event being sent, made once for all its recipients and attempts
  // (the follower's thread only).
  int64_t attachment_event_ = 0;
  std::optional<EmailAttachment> attachment_;
};

}  // namespace meterd::engine::events
