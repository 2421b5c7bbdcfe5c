// meterd — bench/meter_bench/rate_workload.h
//
// `meter-bench rate`: the rating workload of ../shared/ANCHORS.md ("Rating"). Generates a
// month of hourly buckets for N VMs x 8 metrics (bench/meter_bench/rate_month.h), writes them
// through the real rollup store of a data directory (RollupStore::SealHour for every hour,
// then RollupStore::MergeParts into the month file, exactly as meterd seals and merges), builds
// the tenancy and price book in code, reopens the files (engine::rating::OpenRollupView, warm
// page cache) and times the RatingEngine:
//   (a) the full month of every account (median of `runs`, coefficient of variation flagged
//       above 5%);
//   (b) one fixed account's month (median), and one rating of each of up to
//       `account_samples` accounts (p50 / p99 / max).
// Every run is checked against the generator's own answer (PriceMonth over the exact line
// quantities): the grand total, each account's total and the number of nonzero lines; a
// mismatch fails the workload. --export-csv writes the same month and catalog for SQL peers.
// --reuse keeps a data directory an earlier run wrote with the same vms / seed / month (its
// meter-bench-rate.json says so): the month is then regenerated in memory only, for the check.
//
// Thread-safety: one workload at a time per data directory.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "storage/base/status.h"

namespace meterd::bench {

struct RateWorkloadOptions {
  size_t vms = 10000;
  uint64_t seed = 42;
  std::string month = "2026-11";  // YYYY-MM, UTC
  int runs = 5;
  std::string dir = "meterd-data/rate";  // recreated (unless `reuse` finds it written)
  bool reuse = false;                    // keep a directory written with the same month
  std::string export_csv;                // empty: no CSV
  int threads = 2;                       // RatingOptions::threads
  size_t account_samples = 500;          // accounts rated once each for the p99
  bool progress = true;
};

struct RateWorkloadResult {
  // The data.
  uint64_t rows = 0;
  uint64_t series = 0;
  size_t accounts = 0;
  size_t hours = 0;
  bool reused = false;          // the data directory was kept (--reuse)
  double generate_seconds = 0;  // generating and sealing the hours (and the CSV, if asked);
                                // reused: regenerating the month in memory
  double merge_seconds = 0;     // merging the hour parts into the month file
  uint64_t rollup_bytes = 0;
  uint64_t csv_bytes = 0;
  double open_ms = 0;    // OpenRollupView: reads and verifies the files
  double create_ms = 0;  // RatingEngine::Create

  // (a) Full month, every account.
  std::vector<double> full_ms;  // each run
  double full_median_ms = 0;
  double full_cv = 0;               // standard deviation / mean of the runs
  std::vector<double> full_cpu_ms;  // process CPU time of each run (every thread)
  double full_cpu_median_ms = 0;
  double full_faults = 0;  // minor page faults of a run (median)
  uint64_t rows_scanned = 0;
  uint64_t blocks_read = 0;
  size_t slots = 0;
  size_t priced_lines = 0;
  double plan_ms = 0, scan_ms = 0, price_ms = 0;              // of the median run
  double plan_cpu_ms = 0, scan_cpu_ms = 0, price_cpu_ms = 0;  // CPU time, median of the runs
  int threads = 0;
  size_t lines = 0;          // ChargeLines
  size_t nonzero_lines = 0;  // of which with a nonzero quantity
  size_t groups = 0;         // account totals
  int64_t total = 0;         // micro-credits

  // (b) One account.
  std::string account;  // the fixed account
  uint64_t account_rows = 0;
  size_t account_lines = 0;
  int64_t account_total = 0;
  double account_median_ms = 0;
  size_t accounts_timed = 0;
  double account_p50_ms = 0, account_p99_ms = 0, account_max_ms = 0;

  // The check.
  int64_t expected_total = 0;
  size_t expected_lines = 0;
  bool check = false;
  std::string check_detail;  // the first difference when the check fails
};

Status RunRateWorkload(const RateWorkloadOptions& options, RateWorkloadResult* result);

// The table (to `out`) and the JSON line (to stdout) of a run.
void PrintRateTable(std::FILE* out, const RateWorkloadOptions& o, const RateWorkloadResult& r);
void PrintRateJson(const RateWorkloadOptions& o, const RateWorkloadResult& r);

}  // namespace meterd::bench
