// meterd — engine/events/outbox_follower.cc
#include "engine/events/outbox_follower.h"

#include <algorithm>
#include <deque>

namespace meterd::engine::events {

using std::chrono::milliseconds;

milliseconds BackoffDelay(const RetryPolicy& policy, int64_t attempt) {
  const milliseconds cap = std::max(policy.max_backoff, milliseconds(0));
  milliseconds delay = std::max(policy.initial_backoff, milliseconds(0));
  for (int64_t i = 1; i < attempt && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

OutboxFollower::OutboxFollower(EventLog* log, OutboxChannel* channel, FollowOptions options)
    : log_(log), channel_(channel), options_(std::move(options)), rng_(std::random_device{}()) {}

OutboxFollower::~OutboxFollower() {
  RequestStop();
  Join();
}

void OutboxFollower::Start() {
  thread_ = std::thread([this] { Run(); });
}

void OutboxFollower::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  channel_->Cancel();
}

void OutboxFollower::Join() {
  if (thread_.joinable()) thread_.join();
}

void OutboxFollower::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool OutboxFollower::Sleep(milliseconds delay, bool wake_on_event) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, delay, [&] { return stop_ || (wake_on_event && woken_); });
  return !stop_;
}

bool OutboxFollower::stopping() {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

milliseconds OutboxFollower::Jittered(milliseconds delay) {
  const double jitter = std::clamp(options_.retry.jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, jitter);
  return milliseconds(static_cast<int64_t>(static_cast<double>(delay.count()) * (1.0 - u(rng_))));
}

void OutboxFollower::Run() {
  const size_t page_size = std::max<size_t>(options_.page_size, 1);
  const std::string account = channel_->AccountFilter();
  // `scanned`: the last event id whose targets are known. `queue`: (event, target) pairs read
  // but not yet delivered, in order; everything up to `scanned` not in it has been handled.
  int64_t scanned = -1;  // unknown until recovered
  std::deque<Item> queue;
  int64_t attempts = 0;               // attempts made at queue.front()
  bool count_logged_attempts = true;  // queue.front() may have attempts from an earlier run
  int64_t storage_failures = 0;       // consecutive, for the storage retry delay
  auto storage_failed = [&] {
    channel_->StorageError();
    return Sleep(Jittered(BackoffDelay(options_.retry, ++storage_failures)), false);
  };

  while (!stopping()) {
    if (scanned < 0) {
      Result<int64_t> position = channel_->RecoverPosition();
      if (!position.ok()) {
        if (!storage_failed()) break;
        continue;
      }
      scanned = *position;
      storage_failures = 0;
    }

    if (queue.empty()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        woken_ = false;  // a Notify from here on wakes the wait below
      }
      Result<std::vector<Event>> page = log_->ReadAfter(scanned, page_size, account);
      if (!page.ok()) {
        if (!storage_failed()) break;
        continue;
      }
      if (page->empty()) {
        storage_failures = 0;
        Sleep(options_.poll_interval, /*wake_on_event=*/true);
        continue;
      }
      bool failed = false;
      for (Event& e : *page) {
        Result<std::vector<std::string>> targets = channel_->Targets(e);
        if (!targets.ok()) {
          failed = true;  // resume at this event: `scanned` stays below it
          break;
        }
        for (std::string& t : *targets) queue.push_back(Item{e, std::move(t)});
        scanned = e.id;
      }
      if (failed && !storage_failed()) break;
      if (!failed) storage_failures = 0;
      continue;  // back to the top: checks for stop, then delivers
    }

    const Item& item = queue.front();
    if (count_logged_attempts) {
      Result<int64_t> logged = channel_->LoggedAttempts(item.event, item.target);
      if (logged.ok()) {
        attempts = *logged;
      } else {
        channel_->StorageError();  // attempt numbers restart at 1; delivery is unaffected
      }
      count_logged_attempts = false;
    }
    ++attempts;
    if (channel_->Attempt(item.event, item.target, attempts)) {
      queue.pop_front();
      attempts = 0;
      count_logged_attempts = true;
      continue;
    }
    if (!Sleep(Jittered(BackoffDelay(options_.retry, attempts)), /*wake_on_event=*/false)) break;
  }
}

}  // namespace meterd::engine::events
