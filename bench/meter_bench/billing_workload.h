// meterd — bench/meter_bench/billing_workload.h
//
// `meter-bench billing`: the prepaid billing workload, in three flag-selected phases (each a
// table, and a JSON line with --json; medians over `runs`; every phase checks its answers and
// a difference fails the workload):
//
//   book     the ledger's write path alone. A fresh billing.db with a tenancy of `accounts`
//            accounts built in code, a top-up per account (`post_topups` of them through
//            Ledger::Post, one synced transaction each, timed; the rest, and every top-up of later
//            runs, seeded in one transaction of the rows Post writes), the ledger
//            reopened, then Ledger::BookHour of `hours` consecutive hours, one HourCharge per
//            account (a seeded random usage): ms per hour, entries/s, bytes written per hour.
//            Each run starts from a fresh billing.db. Checked: every balance (in memory, and
//            after a reopen) is its top-up minus what was booked; the month totals in billing.db.
//   clock    the whole billing clock with real rating. The month of `meter-bench rate`
//            (rate_month.h) for `vms` VMs sealed into <dir>/clock/rollup and merged into the
//            month file (with `days`: its first days only, left as hour parts); a UsageRater over
//            RatingEngine + the data directory's RollupView, each hour rated incrementally from
//            the clock's month-to-date state (RatingEngine::RateMonthToDate; `month_to_date`
//            false: every hour rated with the month so far scanned); BillingClock::CloseDue
//            driven hour by hour through the month (or `days`) on a Ledger in
//            <dir>/clock/billing.db (a top-up per account first). With `clock_hours`: only the
//            month's first hours, generated, sealed and booked (2 million VMs fit in memory).
//            The hours at day 1, 15 and 30 (with `days` or `clock_hours`: the first, middle
//            and last) are re-timed `runs` - 1 more times on
//            copies of billing.db taken just before them (reopened, then warmed by an untimed
//            read, write and CloseDue with nothing due, which re-rates the month so far as a
//            restarted clock does, rebuilding its state). Checked: each account's debits for the
//            month (or `days`) add up exactly to RatingEngine::Rate of it for that account (and,
//            for a whole month, to the generator's answer).
//   balance  the protocol. A real meterd (server_process.h) with a catalog document of
//            `accounts` accounts, a top-up per account of a seeded sample through PostEntry, then
//            BalanceRequest (provisional=false, one random account) in a closed loop on
//            `connections` connections for `seconds` per run: requests/s and client-side
//            latency p50 / p99 / p99.9. Every reply's balance is checked against what was posted.
//
// Thread-safety: one workload at a time per data directory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "storage/base/status.h"

namespace meterd::bench {

struct BillingWorkloadOptions {
  std::string phase = "all";                // book, clock, balance or all
  std::string dir = "meterd-data/billing";  // <dir>/book, <dir>/clock, <dir>/balance
  size_t accounts = 100000;                 // book and balance
  size_t vms = 10000;                       // clock: 20 per account
  int runs = 3;
  uint64_t seed = 42;
  std::string month = "2026-11";  // YYYY-MM (UTC): the hours booked (book, clock)
  bool progress = true;

  // book
  size_t hours = 24;          // consecutive hours booked per run (each run on a fresh billing.db)
  size_t post_topups = 1000;  // through Ledger::Post (timed); the rest seeded (0: all)

  // clock
  bool reuse = false;  // keep a <dir>/clock whose month was sealed with the same vms/seed/month
  int threads = 2;     // RatingOptions::threads
  // The clock's rater rates each hour incrementally (RatingEngine::RateMonthToDate); false:
  // NotSupported, so every hour is rated with the month so far scanned (the old path).
  bool month_to_date = true;
  // The clock through the month's first `days` days only (0: the whole month), sealed as
  // hour parts (unmerged, as a server holds the current day); checked against the rating of
  // those days (the generator's answer is for whole months).
  size_t days = 0;
  // The clock through the month's first `clock_hours` hours only (0: `days`), sealed as hour
  // parts: what a fleet too large for a day of rollups in memory (2 million VMs) can measure.
  // Every hour after the first reuses the clock's month-to-date state and plan, as every hour
  // but a start's does on a server.
  size_t clock_hours = 0;
  // Accounts the clock's VMs are spread over (rate_month.h; 0: 20 VMs per account).
  size_t clock_accounts = 0;
  // ClockOptions::keep_state: the clock keeps its month-to-date state with the ledger after
  // each hour (BillingClock::KeepState, timed apart); false: a reopened clock re-rates the
  // month so far (the timed restarts show it).
  bool keep_state = true;

  // balance
  std::string meterd_path;
  std::vector<std::string> meterd_args;
  size_t connections = 4;
  double seconds = 10;           // per run
  size_t balance_topups = 2000;  // accounts topped up through PostEntry (0: all)
  size_t accounts_per_document = 25000;
};

// ms figures of repeated measurements.
struct Spread {
  size_t n = 0;
  double median = 0, p99 = 0, max = 0, min = 0;
};

struct BookPhaseResult {
  size_t accounts = 0, hours_per_run = 0;
  // Top-ups.
  size_t posted = 0;  // through Ledger::Post
  Spread post_ms;
  double post_per_s = 0;
  size_t seeded = 0;  // in one transaction
  double seed_ms = 0;
  double open_ms = 0;    // Ledger::Open with every top-up (balances loaded)
  double reopen_ms = 0;  // Ledger::Open after the runs (the check)
  // BookHour, per run: each hour's ms.
  std::vector<std::vector<double>> hour_ms;
  std::vector<double> run_median_ms, run_max_ms;
  std::vector<double> run_first_ms, run_last_ms;  // the run's first and last hour
  std::vector<double> run_written_mb;  // bytes written by the process per hour (median), MB
  double median_ms = 0;                // median of the runs' medians
  double max_ms = 0;                   // of every hour
  size_t entries_per_hour = 0;
  double entries_per_s = 0;  // entries_per_hour / median_ms
  uint64_t db_bytes = 0;     // billing.db + WAL after the runs
  bool check = false;
  std::string check_detail;
};

struct ClockPhaseResult {
  size_t vms = 0, accounts = 0, hours = 0;
  uint64_t rows = 0;
  bool reused = false;
  double generate_seconds = 0, merge_seconds = 0;
  double open_ms = 0, create_ms = 0;
  double topup_ms = 0;  // a Ledger::Post per account
  // The month booked hour by hour (one pass): CloseDue's ms, and of it the rater's calls.
  std::vector<double> hour_ms, rate_ms;
  // Of rate_ms, the month-to-date rating's own phases (RatingStats: plan, scan, price).
  std::vector<double> plan_ms, scan_ms, price_ms;
  std::vector<double> book_cpu_ms;  // process CPU of CloseDue minus that of its ratings
  std::vector<double> written_mb;   // bytes written by the process during CloseDue, MB
  double month_seconds = 0;         // sum of hour_ms
  size_t entries = 0;
  uint64_t state_bytes = 0;      // the last month-to-date state kept with an hour
  std::vector<double> keep_ms;   // BillingClock::KeepState after each hour of the one pass
  uint64_t restart_rescans = 0;  // months so far rated by the timed restarts (0: state restored)
  // The timed hours (day 1 00:00, day 15 12:00, the month's last hour): `runs` measurements
  // each (the pass above, then copies of billing.db taken before the hour).
  struct TimedHour {
    std::string label;
    size_t index = 0;  // hour of the month
    std::vector<double> ms, rate_ms, book_cpu_ms;
    double median_ms = 0, median_rate_ms = 0, median_book_ms = 0, median_book_cpu_ms = 0;
    // Re-timed runs: the reopened clock's first CloseDue, with nothing due (its re-rating of
    // the month so far, BookRevisions), before the timed one.
    std::vector<double> restart_ms;
    double median_restart_ms = 0;
  };
  std::vector<TimedHour> timed;
  uint64_t rss_before_clock = 0;  // process RSS once the rollups, engine and ledger are open
  uint64_t peak_rss = 0;          // the process's peak RSS (getrusage) after the phase
  int64_t month_total = 0;        // rated
  int64_t billed_total = 0;
  size_t accounts_checked = 0;
  bool check = false;
  std::string check_detail;
};

struct BalancePhaseResult {
  size_t accounts = 0;
  pid_t server_pid = 0;
  double start_seconds = 0, stop_seconds = 0;
  size_t documents = 0;
  uint64_t document_bytes = 0;
  double apply_seconds = 0;
  uint32_t created = 0;
  size_t topups = 0;
  double topup_seconds = 0;
  Spread topup_ms;
  // Per run.
  std::vector<double> run_rps, run_p50, run_p99, run_p999, run_max;
  std::vector<uint64_t> run_requests;
  double rps = 0, p50 = 0, p99 = 0, p999 = 0, max = 0;  // medians of the runs (max: of all)
  double p99_with_entries = 0, p99_without = 0;         // all runs pooled
  uint64_t requests = 0;
  double server_cpu_us = 0;  // server CPU per request (all runs)
  double client_cpu_us = 0;  // this process's CPU per request
  uint64_t server_rss_bytes = 0;
  bool check = false;
  std::string check_detail;
};

Status RunBookPhase(const BillingWorkloadOptions& options, BookPhaseResult* result);
Status RunClockPhase(const BillingWorkloadOptions& options, ClockPhaseResult* result);
Status RunBalancePhase(const BillingWorkloadOptions& options, BalancePhaseResult* result);

// The tables (to `out`) and the JSON lines (to stdout).
void PrintBookTable(std::FILE* out, const BillingWorkloadOptions& o, const BookPhaseResult& r);
void PrintBookJson(const BillingWorkloadOptions& o, const BookPhaseResult& r);
void PrintClockTable(std::FILE* out, const BillingWorkloadOptions& o, const ClockPhaseResult& r);
void PrintClockJson(const BillingWorkloadOptions& o, const ClockPhaseResult& r);
void PrintBalanceTable(std::FILE* out, const BillingWorkloadOptions& o,
                       const BalancePhaseResult& r);
void PrintBalanceJson(const BillingWorkloadOptions& o, const BalancePhaseResult& r);

}  // namespace meterd::bench
