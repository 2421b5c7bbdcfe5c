// meterd — engine/events/webhook_dispatcher.cc
#include "engine/events/webhook_dispatcher.h"

#include <algorithm>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/events/http_client.h"
#include "engine/events/signature.h"
#include "storage/base/clock.h"

namespace meterd::engine::events {
namespace {

using std::chrono::milliseconds;

std::string JsonString(const std::string& s) {
  // Invalid UTF-8 is replaced (U+FFFD) rather than thrown about.
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string_view TrimJson(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string DeliveryBody(const Event& e) {
  std::string body = "{\"id\":" + std::to_string(e.id) + ",\"kind\":" + JsonString(e.kind) +
                     ",\"account\":" + JsonString(e.account) + ",\"at\":" + std::to_string(e.at) +
                     ",\"payload\":";
  const std::string_view payload = TrimJson(e.payload);
  const auto parsed = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_discarded() && parsed.is_object()) {
    body.append(payload);
  } else {
    body.append("{}");  // only a row written around EventLog::Append could get here
  }
  body.push_back('}');
  return body;
}

milliseconds BackoffDelay(const DispatcherOptions& options, int64_t attempt) {
  return BackoffDelay(RetryPolicy{options.initial_backoff, options.max_backoff, options.jitter},
                      attempt);
}

// ---- Worker: one webhook's queue, on its own thread (an OutboxFollower) ----

class WebhookDispatcher::Worker final : public OutboxChannel {
 public:
  Worker(WebhookDispatcher* dispatcher, Webhook webhook)
      : d_(dispatcher),
        webhook_(std::move(webhook)),
        client_(HttpClientOptions{dispatcher->options_.ca_file}),
        follower_(dispatcher->log_, this,
                  FollowOptions{
                      RetryPolicy{dispatcher->options_.initial_backoff,
                                  dispatcher->options_.max_backoff, dispatcher->options_.jitter},
                      dispatcher->options_.page_size, dispatcher->options_.poll_interval}) {}

  void Start() { follower_.Start(); }
  // Ends the worker soon: aborts the attempt in flight and any wait.
  void RequestStop() { follower_.RequestStop(); }
  void Join() { follower_.Join(); }
  // New events may exist (EventLog::Notify).
  void Wake() { follower_.Wake(); }

  // OutboxChannel:
  Result<int64_t> RecoverPosition() override { return d_->store_->DeliveredThrough(webhook_.id); }
  std::string AccountFilter() const override { return webhook_.account; }
  Result<std::vector<std::string>> Targets(const Event& e) override {
    if (!webhook_.Matches(e)) return std::vector<std::string>{};
    return std::vector<std::string>{webhook_.id};
  }
  Result<int64_t> LoggedAttempts(const Event& e, const std::string&) override {
    return d_->store_->AttemptCount(webhook_.id, e.id);
  }
  bool Attempt(const Event& e, const std::string& target, int64_t attempt) override;
  void Cancel() override { client_.Cancel(); }
  void StorageError() override {
    d_->counters_.storage_errors.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  WebhookDispatcher* const d_;
  const Webhook webhook_;
  HttpClient client_;
  OutboxFollower follower_;  // last: its thread uses the members above
};

bool WebhookDispatcher::Worker::Attempt(const Event& e, const std::string&, int64_t attempt) {
  const std::string body = DeliveryBody(e);
  Delivery d;
  d.event_id = e.id;
  d.webhook_id = webhook_.id;
  d.attempt = attempt;
  d.started_at = base::UnixSecondsNow();
  const auto start = std::chrono::steady_clock::now();

  HttpOutcome outcome;
  Result<Url> url = ParseUrl(webhook_.url);
  Result<std::string> signature = SignatureHeaderValue(webhook_.secret, d.started_at, body);
  if (!url.ok()) {
    outcome.error = "invalid url: " + url.status().ToString();
  } else if (!signature.ok()) {
    outcome.error = "cannot sign: " + signature.status().ToString();
  } else {
    HttpClient::Headers headers = {
        {"Content-Type", "application/json"},
        {std::string(kEventIdHeader), std::to_string(e.id)},
        {std::string(kSignatureHeader), *signature},
        {"User-Agent", "meterd"},
    };
    outcome = client_.Post(*url, headers, body, d_->options_.attempt_timeout);
  }
  d.duration_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count();
  d.http_status = outcome.status;
  d.error = outcome.error;
  d.delivered = outcome.ok();

  d_->counters_.attempts.fetch_add(1, std::memory_order_relaxed);
  if (d.delivered) {
    d_->counters_.delivered.fetch_add(1, std::memory_order_relaxed);
  } else {
    d_->counters_.failed_attempts.fetch_add(1, std::memory_order_relaxed);
  }
  // A failed log write loses only the record: a delivered event not logged is redelivered
  // after a restart (at least once), a failed attempt not logged is retried anyway.
  if (!d_->store_->RecordAttempt(d).ok()) StorageError();
  return d.delivered;
}

// ---- WebhookDispatcher ----

WebhookDispatcher::WebhookDispatcher(EventLog* log, WebhookStore* store, DispatcherOptions options)
    : log_(log), store_(store), options_(std::move(options)) {}

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

Status WebhookDispatcher::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_) return Status::InvalidArgument("webhook dispatcher is already running");
    running_ = true;
    stopping_ = false;
    refresh_ = false;
  }
  listener_ = log_->AddListener([this] { WakeWorkers(); });
  Status s = Reconcile();
  if (!s.ok()) {
    Stop();
    return s.WithContext("webhook dispatcher");
  }
  supervisor_ = std::thread([this] { Supervise(); });
  return Status::OK();
}

void WebhookDispatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  log_->RemoveListener(listener_);
  std::map<std::string, std::unique_ptr<Worker>> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers.swap(workers_);
  }
  for (auto& [id, w] : workers) w->RequestStop();
  for (auto& [id, w] : workers) w->Join();
  std::lock_guard<std::mutex> lock(mu_);
  running_ = false;
  stopping_ = false;
}

void WebhookDispatcher::Refresh() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    refresh_ = true;
  }
  cv_.notify_all();
}

DispatcherStats WebhookDispatcher::Stats() const {
  DispatcherStats s;
  s.attempts = counters_.attempts.load(std::memory_order_relaxed);
  s.delivered = counters_.delivered.load(std::memory_order_relaxed);
  s.failed_attempts = counters_.failed_attempts.load(std::memory_order_relaxed);
  s.storage_errors = counters_.storage_errors.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  s.webhooks = workers_.size();
  return s;
}

Status WebhookDispatcher::Reconcile() {
  Result<std::vector<Webhook>> active = store_->ActiveForDelivery();
  if (!active.ok()) {
    counters_.storage_errors.fetch_add(1, std::memory_order_relaxed);
    return active.status();
  }
  std::set<std::string> ids;
  for (const Webhook& w : *active) ids.insert(w.id);
  std::vector<std::unique_ptr<Worker>> retired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::OK();
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (ids.count(it->first) == 0) {
        retired.push_back(std::move(it->second));
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    for (Webhook& w : *active) {
      if (workers_.count(w.id) != 0) continue;
      std::string id = w.id;
      auto worker = std::make_unique<Worker>(this, std::move(w));
      worker->Start();
      workers_.emplace(std::move(id), std::move(worker));
    }
  }
  // Outside mu_: joining may wait for an attempt to notice its cancellation.
  for (auto& w : retired) w->RequestStop();
  for (auto& w : retired) w->Join();
  return Status::OK();
}

void WebhookDispatcher::Supervise() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.refresh_interval, [&] { return stopping_ || refresh_; });
    if (stopping_) break;
    refresh_ = false;
    lock.unlock();
    (void)Reconcile();  // a failure is counted; the next round tries again
    lock.lock();
  }
}

void WebhookDispatcher::WakeWorkers() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, w] : workers_) w->Wake();
}

}  // namespace meterd::engine::events
