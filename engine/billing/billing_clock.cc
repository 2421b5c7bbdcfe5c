// meterd — engine/billing/billing_clock.cc
#include "engine/billing/billing_clock.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "engine/pricebook/pricing.h"
#include "engine/tenancy/tenancy.h"

namespace meterd::engine::billing {

using tenancy::kHour;

BillingClock::BillingClock(ledger::Ledger* ledger, UsageRater* rater, ClockOptions options)
    : ledger_(ledger), rater_(rater), options_(std::move(options)) {}

BillingClock::~BillingClock() { Stop(); }

int64_t BillingClock::Now() const {
  if (options_.now) return options_.now();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<int> BillingClock::CloseDue() {
  std::lock_guard lock(close_mu_);
  const int64_t closed_before = rater_->ClosedBefore();
  std::optional<int64_t> next = ledger_->NextHour();
  std::optional<int64_t> start = ledger_->ClockStart();
  if (!next) {
    if (closed_before < kHour) return 0;  // nothing closed yet
    const int64_t first = options_.start > 0 ? options_.start / kHour * kHour
                                             : pricebook::MonthStart(closed_before - kHour);
    next = first;
    start = first;
  }
  {
    std::lock_guard s(stats_mu_);
    stats_.closed_before = closed_before;
    stats_.next_hour = next;
  }
  int booked = 0;
  while (booked < options_.max_hours_per_call && *next + kHour <= closed_before) {
    Status st = BookOne(*next, *start);
    if (!st.ok()) {
      std::lock_guard s(stats_mu_);
      stats_.last_error = st.ToString();
      return st;
    }
    ++booked;
    *next += kHour;
  }
  std::lock_guard s(stats_mu_);
  stats_.next_hour = next;
  if (booked > 0) stats_.last_error.clear();
  return booked;
}

Status BillingClock::BookOne(int64_t hour, int64_t start) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t month = pricebook::MonthStart(hour);
  const int64_t from = std::max(month, start);
  // Read the revision mark before rating: a revision that lands during the rating moves it
  // again, so the next call re-checks the previous month.
  const uint64_t mark = rater_->RevisionMark();
  ChargesByAccount prior;
  if (from < hour) {
    METERD_ASSIGN_OR_RETURN(prior, rater_->Rate(from, hour, ""));
  }
  METERD_ASSIGN_OR_RETURN(ChargesByAccount now_hour, rater_->Rate(hour, hour + kHour, ""));
  ledger::HourBooking booking;
  booking.hour = hour;
  booking.now = Now();
  std::set<std::string> accounts;
  for (const auto& [a, c] : prior) accounts.insert(a);
  for (const auto& [a, c] : now_hour) accounts.insert(a);
  for (std::string& a : ledger_->BilledAccounts(month)) accounts.insert(std::move(a));
  for (const std::string& a : accounts) {
    ledger::HourCharge c;
    c.account = a;
    c.month = month;
    auto p = prior.find(a);
    c.adjustment = (p == prior.end() ? 0 : p->second.total()) - ledger_->Billed(a, month);
    auto h = now_hour.find(a);
    if (h != now_hour.end()) {
      c.usage = h->second.usage;
      c.fees = h->second.fees;
    }
    if (c.adjustment != 0 || c.usage != 0 || c.fees != 0) booking.charges.push_back(c);
  }
  // The previous month, when its hours may have been revised since it was last checked.
  const int64_t prev = pricebook::MonthStart(month - 1);
  if (start < month && (!checked_revisions_ || *checked_revisions_ != mark)) {
    const int64_t prev_from = std::max(prev, start);
    METERD_ASSIGN_OR_RETURN(ChargesByAccount last, rater_->Rate(prev_from, month, ""));
    std::set<std::string> prev_accounts;
    for (const auto& [a, c] : last) prev_accounts.insert(a);
    for (std::string& a : ledger_->BilledAccounts(prev)) prev_accounts.insert(std::move(a));
    for (const std::string& a : prev_accounts) {
      auto l = last.find(a);
      const MicroCredits diff =
          (l == last.end() ? 0 : l->second.total()) - ledger_->Billed(a, prev);
      if (diff == 0) continue;
      ledger::HourCharge c;
      c.account = a;
      c.month = prev;
      c.adjustment = diff;
      booking.charges.push_back(c);
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  METERD_ASSIGN_OR_RETURN(ledger::BookReport rep, ledger_->BookHour(booking));
  checked_revisions_ = mark;
  const auto t2 = std::chrono::steady_clock::now();
  std::lock_guard s(stats_mu_);
  ++stats_.hours_booked;
  stats_.next_hour = hour + kHour;
  stats_.entries += rep.entries;
  stats_.events += rep.events;
  stats_.last_rate_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  stats_.last_hour_ms = std::chrono::duration<double, std::milli>(t2 - t0).count();
  spdlog::info(
      "event=billing_hour hour={} accounts={} entries={} usage={} fees={} adjustments={} "
      "events={} rate_ms={:.1f} total_ms={:.1f}",
      hour, rep.accounts, rep.entries, pricebook::FormatCredits(rep.usage),
      pricebook::FormatCredits(rep.fees), pricebook::FormatCredits(rep.adjustments), rep.events,
      stats_.last_rate_ms, stats_.last_hour_ms);
  return Status::OK();
}

void BillingClock::Start() {
  {
    std::lock_guard lock(run_mu_);
    if (thread_.joinable()) return;
    stopping_ = false;
  }
  thread_ = std::thread([this] {
    std::unique_lock lock(run_mu_);
    std::string waiting;  // the reason last logged: a clock waiting for a price book logs once
    while (!stopping_) {
      lock.unlock();
      Result<int> r = CloseDue();
      const std::string reason = r.ok() ? "" : r.status().ToString();
      if (reason != waiting && !reason.empty()) {
        spdlog::warn("event=billing_clock_wait reason=\"{}\"", reason);
      }
      waiting = reason;
      lock.lock();
      // A full batch means a backlog: go on at once.
      if (r.ok() && r.value() >= options_.max_hours_per_call) continue;
      run_cv_.wait_for(lock, options_.interval, [this] { return stopping_; });
    }
  });
}

void BillingClock::Stop() {
  {
    std::lock_guard lock(run_mu_);
    stopping_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ClockStats BillingClock::stats() const {
  std::lock_guard s(stats_mu_);
  return stats_;
}

}  // namespace meterd::engine::billing
