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
  auto fail = [this](const Status& st) {
    std::lock_guard s(stats_mu_);
    stats_.last_error = st.ToString();
    return st;
  };
  if (!restore_tried_) {
    restore_tried_ = true;
    if (ledger_->NextHour()) TryRestore(*next);
  }
  // Revisions of hours already booked first, so that each hour below is booked against
  // up-to-date month-to-date amounts.
  if (Status st = BookRevisions(*start); !st.ok()) return fail(st);
  int booked = 0;
  while (booked < options_.max_hours_per_call && *next + kHour <= closed_before) {
    if (Status st = BookOne(*next, *start); !st.ok()) return fail(st);
    ++booked;
    *next += kHour;
  }
  std::lock_guard s(stats_mu_);
  stats_.next_hour = next;
  stats_.last_error.clear();
  return booked;
}

void BillingClock::AdjustmentsFrom(int64_t month, const ChargesByAccount& rated,
                                   std::vector<ledger::HourCharge>* out) {
  std::set<std::string> accounts;
  for (const auto& [a, c] : rated) accounts.insert(a);
  for (std::string& a : ledger_->BilledAccounts(month)) accounts.insert(std::move(a));
  for (const std::string& a : accounts) {
    auto r = rated.find(a);
    const MicroCredits diff =
        (r == rated.end() ? 0 : r->second.total()) - ledger_->Billed(a, month);
    if (diff == 0) continue;
    ledger::HourCharge c;
    c.account = a;
    c.month = month;
    c.adjustment = diff;
    out->push_back(std::move(c));
  }
}

Status BillingClock::AddAdjustments(int64_t month, int64_t from, int64_t to,
                                    std::vector<ledger::HourCharge>* out) {
  if (from >= to) return Status::OK();
  {
    std::lock_guard s(stats_mu_);
    ++stats_.month_rescans;
  }
  METERD_ASSIGN_OR_RETURN(ChargesByAccount rated, rater_->Rate(from, to, ""));
  AdjustmentsFrom(month, rated, out);
  return Status::OK();
}

Result<ChargesByAccount> BillingClock::RateState(int64_t from, int64_t to) {
  if (!state_supported_) return Status::NotSupported("no month-to-date rating");
  Result<ChargesByAccount> r = rater_->RateMonthToDate(from, to, &state_);
  if (!r.ok()) {
    state_.Clear();
    if (r.status().code() == Status::Code::kNotSupported) state_supported_ = false;
  }
  return r;
}

Result<ChargesByAccount> BillingClock::RebuildState(int64_t month, int64_t from, int64_t until) {
  state_.Reset(month);
  if (month < from || from < until) {
    std::lock_guard s(stats_mu_);
    ++stats_.month_rescans;
  }
  if (month < from) METERD_RETURN_IF_ERROR(RateState(month, from).status());
  if (from < until) return RateState(from, until);
  return ChargesByAccount{};
}

Status BillingClock::AddMonthAdjustments(int64_t until, int64_t start,
                                         std::vector<ledger::HourCharge>* out) {
  const int64_t month = pricebook::MonthStart(until - 1);
  const int64_t from = std::max(month, start);
  bool done = false;
  // Within the month: the re-rating of the month so far also rebuilds the state (one scan).
  if (state_supported_ && pricebook::MonthStart(until) == month && from < until) {
    Result<ChargesByAccount> rated = RebuildState(month, from, until);
    if (rated.ok()) {
      AdjustmentsFrom(month, *rated, out);
      done = true;
    } else if (rated.status().code() != Status::Code::kNotSupported) {
      return rated.status();
    }
  }
  if (!done) METERD_RETURN_IF_ERROR(AddAdjustments(month, from, until, out));
  if (start < month) {
    const int64_t prev = pricebook::MonthStart(month - 1);
    METERD_RETURN_IF_ERROR(AddAdjustments(prev, std::max(prev, start), month, out));
  }
  return Status::OK();
}

Status BillingClock::BookRevisions(int64_t start) {
  const std::optional<int64_t> next = ledger_->NextHour();
  if (!next) return Status::OK();  // nothing booked: nothing to revise
  // Read the mark before rating: a revision that lands during the rating moves it again, so
  // the next call looks again.
  const uint64_t mark = rater_->RevisionMark();
  if (checked_revisions_ && *checked_revisions_ == mark) return Status::OK();
  state_durable_.reset();  // the state may be rebuilt below: not kept until the next hour
  ledger::HourBooking booking;
  booking.hour = *next - kHour;  // booked with the last hour booked
  booking.now = Now();
  METERD_RETURN_IF_ERROR(AddMonthAdjustments(*next, start, &booking.charges));
  if (!booking.charges.empty()) {
    METERD_ASSIGN_OR_RETURN(ledger::BookReport rep, ledger_->BookAdjustments(booking));
    std::lock_guard s(stats_mu_);
    stats_.entries += rep.entries;
    stats_.events += rep.events;
    spdlog::info("event=billing_revision hour={} accounts={} adjustments={} events={}",
                 booking.hour, rep.accounts, pricebook::FormatCredits(rep.adjustments), rep.events);
  }
  checked_revisions_ = mark;
  return Status::OK();
}

Status BillingClock::BookOne(int64_t hour, int64_t start) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t month = pricebook::MonthStart(hour);
  const uint64_t mark = rater_->RevisionMark();
  // Read after the mark: a revision between the two moves this one too, so the state kept
  // with this hour is never trusted for data it may not hold.
  const std::optional<std::string> durable = rater_->DurableRevisionMark();
  ledger::HourBooking booking;
  booking.hour = hour;
  booking.now = Now();
  // Unchanged since the last booking (BookRevisions just ran): the month-to-date amount before
  // this hour is what the clock has billed, by construction, so it need not be rated again.
  // The first hour a clock books, or a revision that landed since, rates it.
  if (!checked_revisions_ || *checked_revisions_ != mark) {
    METERD_RETURN_IF_ERROR(AddMonthAdjustments(hour, start, &booking.charges));
  }
  ChargesByAccount now_hour;
  bool rated = false;
  if (state_supported_) {
    // The state must hold exactly the month's hours before this one; else (a new month, a
    // failure, a catalog the state does not belong to) it is rebuilt first.
    for (int attempt = 0; attempt < 2 && !rated; ++attempt) {
      if (!state_.valid() || state_.month() != month || state_.through() != hour) {
        if (hour == month) {
          state_.Reset(month);
        } else {
          Result<ChargesByAccount> r = RebuildState(month, std::max(month, start), hour);
          if (!r.ok() && r.status().code() == Status::Code::kNotSupported) break;
          METERD_RETURN_IF_ERROR(r.status());
        }
      }
      Result<ChargesByAccount> r = RateState(hour, hour + kHour);
      if (r.ok()) {
        now_hour = std::move(*r);
        rated = true;
      } else if (r.status().code() == Status::Code::kNotSupported) {
        break;
      } else if (r.status().code() != Status::Code::kInvalidArgument || attempt == 1) {
        return r.status();  // (InvalidArgument: a state of another catalog, rebuilt once)
      }
    }
  }
  if (!rated) {
    METERD_ASSIGN_OR_RETURN(now_hour, rater_->Rate(hour, hour + kHour, ""));
  }
  for (const auto& [a, c] : now_hour) {
    if (c.usage == 0 && c.fees == 0) continue;
    ledger::HourCharge charge;
    charge.account = a;
    charge.month = month;
    charge.usage = c.usage;
    charge.fees = c.fees;
    booking.charges.push_back(std::move(charge));
  }
  const auto t1 = std::chrono::steady_clock::now();
  Result<ledger::BookReport> booked = ledger_->BookHour(booking);
  if (!booked.ok()) {
    state_.Clear();  // it holds an hour the ledger did not book
    return booked.status();
  }
  const ledger::BookReport& rep = *booked;
  checked_revisions_ = mark;
  // The state now holds the hours booked, rated after `durable` was read (KeepState).
  state_durable_ = rated ? durable : std::nullopt;
  state_dirty_ = true;
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

Result<bool> BillingClock::KeepState() {
  std::lock_guard lock(close_mu_);
  const std::optional<int64_t> next = ledger_->NextHour();
  // Only a state that holds exactly the hours booked, rated by BookOne after reading the
  // durable mark it is kept with (a state rebuilt between hours has no such mark).
  if (!options_.keep_state || !state_dirty_ || !state_durable_ || !state_supported_ ||
      !state_.valid() || !next || state_.through() != *next) {
    return false;
  }
  const auto t0 = std::chrono::steady_clock::now();
  ledger::ClockState keep;
  keep.month = state_.month();
  keep.through = state_.through();
  keep.revision_mark = *state_durable_;
  keep.data = state_.Serialize();
  if (Status st = ledger_->KeepClockState(keep, Now()); !st.ok()) {
    spdlog::warn("event=billing_state_keep_failed through={} error=\"{}\"", keep.through,
                 st.ToString());
    return st;
  }
  state_dirty_ = false;
  std::lock_guard s(stats_mu_);
  ++stats_.states_saved;
  stats_.state_bytes = keep.data.size();
  stats_.last_keep_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return true;
}

void BillingClock::TryRestore(int64_t next) {
  if (!state_supported_ || !options_.keep_state) return;
  // The in-memory mark first: a revision after it moves the durable one, read second.
  const uint64_t mark = rater_->RevisionMark();
  const std::optional<std::string> durable = rater_->DurableRevisionMark();
  if (!durable) return;  // nothing kept can be trusted: the month is re-rated as before
  Result<std::optional<ledger::ClockState>> kept = ledger_->LoadClockState();
  auto discard = [&](const std::string& why) {
    state_.Clear();
    spdlog::info("event=billing_state_discarded next_hour={} reason=\"{}\"", next, why);
  };
  if (!kept.ok()) return discard("unreadable: " + kept.status().ToString());
  if (!kept->has_value()) return discard("none kept");
  const ledger::ClockState& st = **kept;
  if (st.revision_mark != *durable) return discard("usage was revised since it was kept");
  if (st.through > next || st.month > pricebook::MonthStart(next)) {
    return discard("it is ahead of the watermark");
  }
  const int64_t month = pricebook::MonthStart(next);
  uint64_t replayed = 0;
  // Restored even when it is of an earlier month: that checks it belongs to this catalog.
  Status restored = rater_->RestoreMonthToDate(st.data, &state_);
  if (!restored.ok()) {
    if (restored.code() == Status::Code::kNotSupported) return;
    return discard(restored.ToString());
  }
  if (st.month == month || st.through == month) {
    if (st.month != month) state_.Reset(month);  // the last month's, complete: this one's is empty
    // The hours booked after it was kept, from their own rows.
    if (std::max(st.through, month) < next) {
      const int64_t from = std::max(st.through, month);
      Result<ChargesByAccount> r = RateState(from, next);
      if (!r.ok()) return discard("adding the hours after it: " + r.status().ToString());
      replayed = static_cast<uint64_t>((next - from) / kHour);
    }
  } else {
    // Kept in an earlier month: no revision since, but the state of this month's hours booked
    // so far (if any) is rebuilt from them by BookOne.
    state_.Clear();
  }
  checked_revisions_ = mark;
  {
    std::lock_guard s(stats_mu_);
    stats_.state_restored = true;
    stats_.hours_replayed += replayed;
  }
  spdlog::info(
      "event=billing_state_restored next_hour={} month={} through={} groups={} lines={} "
      "replayed_hours={} bytes={}",
      next, st.month, st.through, state_.groups(), state_.lines(), replayed, st.data.size());
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
      // Hours were booked: keep the month-to-date state with them (outside their
      // transactions; a failure is logged and the next booking tries again).
      if (r.ok() && r.value() > 0) (void)KeepState();
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
