// meterd — bench/meter_bench/query_workload.h
//
// `meter-bench query`: billing queries through the binary protocol at a real meterd, over the
// month of the rating workload (../shared/ANCHORS.md "Rating"; issue 5: one VM's month of usage
// under 1 ms at the server; issue 6: one account's month of charges under 2 ms p99, and the
// same at 5x the fleet with full-month rating growing no faster than the data).
//
//   1. Data. The month of `meter-bench rate` for N VMs (rate_month.h, the same generator and
//      seed) sealed and merged by the real rollup store into <dir>/rollup (rate::SealMonth);
//      its series defined in <dir>'s series registry (SeriesRegistry::Define, as an admin:
//      owned by no hypervisor), exactly as meterd persists them.
//   2. Server. A real meterd (server_process.h) started on that directory on 127.0.0.1; the
//      catalog (tenancy and price book, built in code by rate_month.h) applied over the
//      protocol with ApplyCatalog (catalog_document.h: a head document, then the resources in
//      chunks).
//   3. Timed, sequential, one connection (admin key), warm cache, each request's round trip at
//      the client (it upper-bounds the server's time; the server's CPU per request is read
//      from /proc as well):
//        (a) ChargesRequest, scope account, group by account, the whole month: one request per
//            account of a seeded sample (`account_requests`, distinct accounts while there are
//            enough; more requests than accounts go round the sample again);
//        (b) UsageRequest, scope resource, the whole month, granularity month, then hour: one
//            request per VM of a seeded sample (`usage_requests`, likewise);
//        (c) ChargesRequest of every account's month (median of `full_runs`).
//      Every answer is checked against the generator's own figures: account totals, grand
//      total and line counts (PriceMonth over the exact quantities, as `meter-bench rate`
//      checks), and each VM's usage quantities (running/stopped seconds, gauge integrals,
//      counter increases) hour by hour summed and per month. A difference fails the workload.
//   4. Breakdown (after the server stopped, `breakdown_accounts` > 0): the server's charges
//      path (engine/service/meter_service_billing.cc, RunCharges) replayed in process on the
//      same data directory, step by step, for a sample of accounts: the series list
//      (SeriesRegistry::Matching), RatingEngine::Create, Rate. The applied catalog
//      (billing.db) is also compared with the in-code one, product by product.
//
// With `reuse`, a directory this workload set up before with the same (vms, seed, month) is
// kept: the month is regenerated in memory for the expected figures but not written again,
// and the catalog is re-applied (it must come back unchanged).
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

struct QueryWorkloadOptions {
  size_t vms = 10000;
  uint64_t seed = 42;
  std::string month = "2026-11";          // YYYY-MM, UTC; must be over
  std::string dir = "meterd-data/query";  // meterd's data directory (recreated unless reuse)
  bool reuse = false;
  std::string meterd_path;               // the meterd binary
  std::vector<std::string> meterd_args;  // more flags for it
  int start_timeout_s = 300;             // opening 288 M rows takes a while
  size_t account_requests = 500;
  size_t usage_requests = 500;
  size_t warmup_requests = 20;  // of each kind, untimed
  int full_runs = 3;
  size_t breakdown_accounts = 100;  // 0: no in-process replay
  bool progress = true;
};

// Latencies of one request kind, in ms.
struct LatencySummary {
  size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
  double server_cpu_ms = 0;  // server CPU per request (utime + stime over the phase / n)
};

struct QueryWorkloadResult {
  // The data.
  uint64_t rows = 0;
  uint64_t series = 0;
  size_t accounts = 0;
  size_t hours = 0;
  bool reused = false;
  double generate_seconds = 0;  // generating and sealing (or, reused, regenerating in memory)
  double merge_seconds = 0;
  double define_seconds = 0;  // the series registry
  uint64_t rollup_bytes = 0;
  // The server.
  pid_t server_pid = 0;
  uint16_t port = 0;
  double start_seconds = 0;  // spawn to listening
  uint64_t server_rss_bytes = 0;
  uint64_t server_peak_rss_bytes = 0;
  double stop_seconds = 0;
  // The catalog.
  size_t documents = 0;
  uint64_t document_bytes = 0;
  double apply_seconds = 0;
  uint32_t created = 0, updated = 0, unchanged = 0;

  // (a), (b), (c)
  LatencySummary account;
  uint64_t account_rows = 0;  // rows scanned by one account's request (the first)
  LatencySummary usage_month, usage_hour;
  uint64_t usage_rows = 0;  // rows scanned by one VM's request (the first, by month)
  std::vector<double> full_ms;
  double full_median_ms = 0;
  double full_server_cpu_ms = 0;  // median run
  uint64_t full_rows_scanned = 0;
  size_t full_lines = 0;
  size_t full_totals = 0;
  int64_t total = 0;
  int64_t expected_total = 0;
  size_t expected_lines = 0;

  // (4) In-process replay of RunCharges, ms per step.
  size_t breakdown_n = 0;
  LatencySummary step_series, step_create, step_rate, step_sum;
  // The fleet grown by its last 1,000 VMs (their series defined last): the engine of the rest
  // extended with them (RatingEngine::Extend, what the server does when series are added), then
  // one account rated; grown_series is how many were added.
  LatencySummary step_extend, step_extend_sum;
  size_t grown_series = 0;
  size_t registry_series = 0;
  bool catalog_equal = false;
  std::string catalog_detail;

  bool check = false;
  std::string check_detail;  // the first difference when the check fails
};

Status RunQueryWorkload(const QueryWorkloadOptions& options, QueryWorkloadResult* result);

// The table (to `out`) and the JSON line (to stdout) of a run.
void PrintQueryTable(std::FILE* out, const QueryWorkloadOptions& o, const QueryWorkloadResult& r);
void PrintQueryJson(const QueryWorkloadOptions& o, const QueryWorkloadResult& r);

}  // namespace meterd::bench
