// meterd — engine/events/email_notifier.cc
#include "engine/events/email_notifier.h"

#include <algorithm>

#include "engine/events/email_address.h"
#include "engine/events/email_message.h"
#include "storage/base/clock.h"

namespace meterd::engine::events {
namespace {}  // namespace

EmailNotifier::EmailNotifier(EventLog* log, EmailStore* store, RecipientSource recipients,
                             EmailOptions options)
    : log_(log), store_(store), recipients_(std::move(recipients)), options_(std::move(options)) {}

EmailNotifier::~EmailNotifier() { Stop(); }

Status EmailNotifier::Start() {
  if (follower_) return Status::InvalidArgument("email notifier is already running");
  METERD_RETURN_IF_ERROR(ValidateSmtpUrl(options_.smtp.url));
  if (!ValidAddress(options_.from)) {
    return Status::InvalidArgument("email sender '" + options_.from + "' is not an address");
  }
  for (const std::string& k : options_.kinds) {
    if (!EventLog::ValidKind(k)) {
      return Status::InvalidArgument("email kinds: '" + k + "' is not an event kind");
    }
  }
  Result<int64_t> floor = store_->Start();
  if (!floor.ok()) return floor.status().WithContext("email notifier");
  client_ = std::make_unique<SmtpClient>(options_.smtp);
  follower_ = std::make_unique<OutboxFollower>(
      log_, static_cast<OutboxChannel*>(this),
      FollowOptions{options_.retry, options_.page_size, options_.poll_interval});
  OutboxFollower* follower = follower_.get();
  listener_ = log_->AddListener([follower] { follower->Wake(); });
  follower_->Start();
  return Status::OK();
}

void EmailNotifier::Stop() {
  if (!follower_) return;
  log_->RemoveListener(listener_);  // after return the listener no longer runs
  follower_->RequestStop();
  follower_->Join();
  follower_.reset();
  client_.reset();
}

EmailStats EmailNotifier::Stats() const {
  EmailStats s;
  s.attempts = attempts_.load(std::memory_order_relaxed);
  s.delivered = delivered_.load(std::memory_order_relaxed);
  s.failed_attempts = failed_attempts_.load(std::memory_order_relaxed);
  s.storage_errors = storage_errors_.load(std::memory_order_relaxed);
  return s;
}

Result<int64_t> EmailNotifier::RecoverPosition() { return store_->Resume(); }

Result<std::vector<std::string>> EmailNotifier::Targets(const Event& e) {
  std::vector<std::string> out;
  if (e.account.empty() ||
      std::find(options_.kinds.begin(), options_.kinds.end(), e.kind) == options_.kinds.end()) {
    return out;
  }
  for (std::string& r : recipients_(e.account)) {
    // The source hands out validated addresses; checked again because they go on the wire.
    if (ValidAddress(r) && std::find(out.begin(), out.end(), r) == out.end()) {
      out.push_back(std::move(r));
    }
  }
  if (out.empty()) return out;
  // Recipients reached before a restart (only the newest delivered event can have any).
  METERD_ASSIGN_OR_RETURN(std::vector<std::string> done, store_->DeliveredRecipients(e.id));
  std::erase_if(out, [&](const std::string& r) {
    return std::find(done.begin(), done.end(), r) != done.end();
  });
  return out;
}

Result<int64_t> EmailNotifier::LoggedAttempts(const Event& e, const std::string& recipient) {
  return store_->AttemptCount(e.id, recipient);
}

bool EmailNotifier::Attempt(const Event& e, const std::string& recipient, int64_t attempt) {
  EmailDelivery d;
  d.event_id = e.id;
  d.recipient = recipient;
  d.attempt = attempt;
  d.started_at = base::UnixSecondsNow();
  const auto start = std::chrono::steady_clock::now();
  SmtpOutcome outcome;
  if (options_.attachments && attachment_event_ != e.id) {
    Result<std::optional<EmailAttachment>> a = options_.attachments(e);
    if (a.ok()) {
      attachment_ = std::move(a).value();
      attachment_event_ = e.id;
    } else {
      outcome.error = "attachment: " + a.status().ToString();
    }
  }
  if (outcome.error.empty()) {
    const EmailAttachment* file =
        attachment_event_ == e.id && attachment_ ? &*attachment_ : nullptr;
    outcome =
        client_->Send(options_.from, recipient, FormatNotice(e, options_.from, recipient, file));
  }
  d.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  d.smtp_status = outcome.status;
  d.error = outcome.error;
  d.delivered = outcome.ok();
  attempts_.fetch_add(1, std::memory_order_relaxed);
  (d.delivered ? delivered_ : failed_attempts_).fetch_add(1, std::memory_order_relaxed);
  // A failed log write loses only the record: a delivered message not logged is sent again
  // after a restart (at least once), a failed attempt not logged is retried anyway.
  if (!store_->RecordAttempt(d).ok()) StorageError();
  return d.delivered;
}

void EmailNotifier::Cancel() {
  if (client_) client_->Cancel();
}

void EmailNotifier::StorageError() { storage_errors_.fetch_add(1, std::memory_order_relaxed); }

}  // namespace meterd::engine::events
