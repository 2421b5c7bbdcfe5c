// meterd — engine/billing/billing_clock.h
//
// BillingClock: debits every closed hour exactly once per account (docs/ledger.md, "The
// billing clock"). For hour h of month M, with S = max(M, the clock's start):
//
//   prior(a)   = Rate([S, h))   the account's month-to-date rated amount before h, rated now
//   hour(a)    = Rate([h, h+1)) the change of that amount over h (usage lines and fees)
//   adjustment = prior(a) - billed(a, M)   (late data revised an hour already billed)
//
// and books adjustment, usage and fees of every account with the hour's row in one ledger
// transaction (Ledger::BookHour), so the watermark moves with the debits: after a crash the
// hour is either booked or not, and it is never booked twice. Because each debit is a change
// of the month-to-date amount, the month's debits and adjustments add up exactly to the
// month's rated charges, caps, tiers, minimums and once-per-line rounding included.
// prior(a) is rated only when the rater's revision mark moved since the last look (and once
// after start): otherwise it equals billed(a, M) by construction and the adjustment is 0. A
// moved mark is acted on at once, between hours too (Ledger::BookAdjustments, booked with the
// last hour booked): the current and the previous month are re-rated over the hours booked and
// each account's difference is one adjustment of its month, within a second of the revision
// rather than at the next hour.
//
// Month-to-date state. hour(a) is rated incrementally when the rater supports it
// (UsageRater::RateMonthToDate): the clock keeps the month's rating::MonthToDate (per line:
// usage runs and accrued amount), which holds exactly the hours booked of the month (from the
// month's start, even when the clock started later), so an hour costs its own rows plus the
// pricing groups it touches. The state is rebuilt by one scan of the month so far whenever the
// month-to-date is re-rated (a moved revision mark, a start: the scan that gives prior(a) also
// rebuilds it) and after any failure (a rating or a booking that failed may have left it ahead
// of the ledger: it is dropped, never trusted). It is kept with the ledger (KeepState, after
// hours were booked, in its own transaction: MonthToDate::Serialize with the rater's durable
// revision mark read before the hours were rated, never ahead of the watermark). A restarted
// clock loads it (TryRestore): when the rater's durable mark is the one kept (no revision since)
// and the state belongs to the current catalog (RestoreMonthToDate checks its fingerprint), the
// state is restored, the hours booked after it are added from their own rows, and the month so
// far is not re-rated; otherwise (logged) the restart re-rates the month once as before, which
// also rebuilds the state.
//
// The first hour billed is options.start when set, else the start of the month of the first
// closed hour the clock sees; it is recorded by the first booking and kept across restarts.
// Until a price book exists the rater fails and the clock waits (nothing is booked).
//
// Thread-safety: CloseDue is serialised internally; Start/Stop from one owner thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/billing/usage_rater.h"
#include "engine/ledger/ledger.h"

namespace meterd::engine::billing {

struct ClockOptions {
  int64_t start = 0;  // first hour to bill on a fresh ledger; 0 = month of the first closed hour
  // How often the thread looks for closed hours. An hour closes once an hour, so a second is
  // prompt enough and costs nothing when there is nothing to do.
  std::chrono::milliseconds interval{1000};
  // Hours booked per CloseDue call, so a long backlog (a server down for days) lets Stop
  // in between.
  int max_hours_per_call = 24;
  std::function<int64_t()> now;  // wall clock for created_at; default: system clock
  // Keep the month-to-date state with the ledger after hours were booked (the thread calls
  // KeepState after each CloseDue that booked any: every hour when caught up, once per
  // max_hours_per_call hours in a backlog). Only with a rater that has a durable revision mark.
  bool keep_state = true;
};

struct ClockStats {
  uint64_t hours_booked = 0;
  uint64_t entries = 0;
  uint64_t events = 0;
  std::optional<int64_t> next_hour;  // the next hour to book
  int64_t closed_before = 0;
  double last_hour_ms = 0;  // wall time of the last hour booked (rating + booking)
  double last_rate_ms = 0;  // of which rating
  std::string last_error;   // why the last attempt booked nothing (empty when fine)
  // Ratings of a month so far (the restart's and a revision's re-rating, a state rebuilt):
  // what keeping the state with the watermark saves a restart.
  uint64_t month_rescans = 0;
  uint64_t states_saved = 0;    // month-to-date states kept (KeepState)
  double last_keep_ms = 0;      // wall time of the last KeepState that kept one
  uint64_t state_bytes = 0;     // the size of the last one kept
  bool state_restored = false;  // this clock started from a kept state
  uint64_t hours_replayed = 0;  // hours added to a restored state from their rows
};

class BillingClock {
 public:
  // REQUIRES: ledger and rater outlive the clock.
  BillingClock(ledger::Ledger* ledger, UsageRater* rater, ClockOptions options = {});
  ~BillingClock();  // Stop()s

  // Books every closed hour not booked yet, oldest first, at most max_hours_per_call.
  // Returns the number booked; an error when rating or booking failed (nothing of that hour
  // is booked; the next call tries again).
  Result<int> CloseDue();

  // A thread calling CloseDue every options.interval.
  void Start();
  void Stop();

  ClockStats stats() const;

  // Keeps the month-to-date state with the ledger when it holds exactly the hours booked and
  // changed since it was last kept (options.keep_state, a rater with a durable revision mark):
  // its own transaction, after the hours' (Ledger::KeepClockState). Returns whether one was
  // kept; an error when writing it failed (the state stays in memory; the next call tries
  // again). The thread calls it after each CloseDue that booked hours.
  Result<bool> KeepState();

 private:
  Status BookOne(int64_t hour, int64_t start);
  // Books, between hours, the adjustments of hours already booked whose rating moved (the
  // rater's revision mark changed since the last look).
  Status BookRevisions(int64_t start);
  // Appends one adjustment per account of `month` whose rating of [from, to) differs from what
  // the clock billed for the month.
  Status AddAdjustments(int64_t month, int64_t from, int64_t to,
                        std::vector<ledger::HourCharge>* out);
  // AddAdjustments for the month of the hours before `until` (from max(month, start)) and, when
  // the clock started before that month, the previous month.
  Status AddMonthAdjustments(int64_t until, int64_t start, std::vector<ledger::HourCharge>* out);
  // Rate([from, until)) per account from a rebuilt state of `month`: the state is Reset,
  // fed [month, from) (discarded) and [from, until). REQUIRES: month <= from <= until, all in
  // one month. NotSupported when the rater has no month-to-date rating.
  Result<ChargesByAccount> RebuildState(int64_t month, int64_t from, int64_t until);
  // rater_->RateMonthToDate on state_, remembering NotSupported.
  Result<ChargesByAccount> RateState(int64_t from, int64_t to);
  // The adjustments of `month` given its rating `rated` of the hours billed.
  void AdjustmentsFrom(int64_t month, const ChargesByAccount& rated,
                       std::vector<ledger::HourCharge>* out);
  int64_t Now() const;
  // At the first look after a start: the kept month-to-date state, when it can be trusted
  // (above); sets checked_revisions_ then, so the month so far is not re-rated.
  void TryRestore(int64_t next);

  ledger::Ledger* ledger_;
  UsageRater* rater_;
  ClockOptions options_;
  std::mutex close_mu_;                        // serialises CloseDue
  std::optional<uint64_t> checked_revisions_;  // GUARDED_BY(close_mu_)
  rating::MonthToDate state_;                  // GUARDED_BY(close_mu_)
  bool state_supported_ = true;                // GUARDED_BY(close_mu_)
  bool restore_tried_ = false;                 // GUARDED_BY(close_mu_)
  // The durable revision mark read before the state's hours were rated (BookOne); nullopt when
  // the state was rebuilt since (not kept until the next hour booked).
  std::optional<std::string> state_durable_;  // GUARDED_BY(close_mu_)
  bool state_dirty_ = false;                  // GUARDED_BY(close_mu_) changed since kept
  mutable std::mutex stats_mu_;
  ClockStats stats_;  // GUARDED_BY(stats_mu_)
  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stopping_ = false;  // GUARDED_BY(run_mu_)
  std::thread thread_;
};

}  // namespace meterd::engine::billing
