// meterd — bench/meter_bench/rate_workload.cc
#include "bench/meter_bench/rate_workload.h"

#include <sys/resource.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "bench/meter_bench/bench_stats.h"
#include "bench/meter_bench/rate_month.h"
#include "bench/meter_bench/server_process.h"
#include "engine/rating/rating_engine.h"
#include "storage/base/clock.h"
#include "storage/io/file.h"
#include "storage/rollup.h"

namespace meterd::bench {
namespace {

namespace rating = engine::rating;
using rate::RateMonth;

// Written into the data directory once its month is sealed; --reuse keeps a directory whose
// file says the same.
constexpr const char* kRateSetupFile = "meter-bench-rate.json";

std::string SetupText(const RateWorkloadOptions& o) {
  return "{\"workload\":\"rate\",\"vms\":" + std::to_string(o.vms) +
         ",\"seed\":" + std::to_string(o.seed) + ",\"month\":\"" + o.month + "\"}\n";
}

bool SetupMatches(const RateWorkloadOptions& o) {
  std::ifstream in(o.dir + "/" + kRateSetupFile);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  return text.str() == SetupText(o);
}

double MsSinceNanos(int64_t t0) { return static_cast<double>(base::MonotonicNanos() - t0) / 1e6; }

// Minor page faults of the process so far (fresh memory touched: a large allocation that the
// allocator returned to the kernel faults again when the next run allocates it).
double MinorFaults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_minflt);
}

double Cv(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  double mean = 0, var = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (double x : v) var += (x - mean) * (x - mean);
  var /= static_cast<double>(v.size() - 1);
  return mean > 0 ? std::sqrt(var) / mean : 0;
}

rating::RatingRequest MonthRequest(const RateMonth& month) {
  rating::RatingRequest req;
  req.from = month.month_start();
  req.to = month.month_end();
  req.scope = rating::ScopeKind::kAll;
  req.group_by = rating::GroupBy::kAccount;  // the account totals of the output
  req.include_subscriptions = false;
  return req;
}

// Compares a rating with the generator's answer; the first difference in *detail.
bool Check(const rating::RatingResult& r, const rate::ExpectedCharges& e,
           const std::unordered_map<std::string_view, size_t>& account_index,
           const RateMonth& month, bool whole_fleet, std::string* detail) {
  auto fail = [&](const std::string& what) {
    if (detail->empty()) *detail = what;
    return false;
  };
  if (!r.stats.damaged.empty()) return fail("damaged rollup blocks: " + r.stats.damaged[0]);
  if (!r.unattributed.empty()) return fail("unattributed usage in the rating");
  if (!r.unpriced.empty()) return fail("unpriced usage in the rating");
  int64_t expected_total = 0;
  size_t expected_lines = 0;
  size_t nonzero = 0;
  for (const rating::ChargeLine& l : r.lines) nonzero += l.raw_quantity != 0 ? 1 : 0;
  for (const rating::GroupTotal& g : r.groups) {
    const auto it = account_index.find(g.key);
    if (it == account_index.end()) return fail("an account total for unknown account " + g.key);
    if (g.amount != e.account_total[it->second]) {
      return fail("account " + g.key + ": " + std::to_string(g.amount) + " micro-credits, " +
                  "expected " + std::to_string(e.account_total[it->second]));
    }
    expected_total += e.account_total[it->second];
    expected_lines += e.line_counts[it->second];
  }
  if (whole_fleet && r.groups.size() != month.accounts()) {
    return fail(std::to_string(r.groups.size()) + " account totals, expected " +
                std::to_string(month.accounts()));
  }
  if (r.total != expected_total) {
    return fail("grand total " + std::to_string(r.total) + " micro-credits, expected " +
                std::to_string(expected_total));
  }
  if (nonzero != expected_lines) {
    return fail(std::to_string(nonzero) + " lines with a nonzero quantity, expected " +
                std::to_string(expected_lines));
  }
  return true;
}

}  // namespace

Status RunRateWorkload(const RateWorkloadOptions& o, RateWorkloadResult* result) {
  if (o.vms == 0 || o.runs < 1 || o.threads < 1) {
    return Status::InvalidArgument("rate: --vms, --runs and --threads must be positive");
  }
  METERD_ASSIGN_OR_RETURN(const int64_t month_start, rate::ParseMonth(o.month));
  rate::RateMonthOptions mo;
  mo.vms = o.vms;
  mo.seed = o.seed;
  mo.month_start = month_start;
  RateMonth month(mo);
  result->rows = month.rows();
  result->series = month.series().size();
  result->accounts = month.accounts();
  result->hours = month.hours();
  METERD_ASSIGN_OR_RETURN(auto tenancy, month.BuildTenancy());
  METERD_ASSIGN_OR_RETURN(auto book, RateMonth::BuildPriceBook(month_start));

  // 1. Write the month through the rollup store: a part per sealed hour, then the merge into
  //    the month file, as meterd's rollup clock does. (--reuse with a matching directory: the
  //    month is only regenerated, for the generator's answer.)
  std::unique_ptr<rate::CsvExport> csv;
  result->reused = o.reuse && o.export_csv.empty() && SetupMatches(o);
  if (result->reused) {
    if (o.progress)
      std::fprintf(stderr, "  rate: reusing %s; regenerating the month\n", o.dir.c_str());
    const int64_t t0 = base::MonotonicNanos();
    std::vector<storage::RollupRow> rows;
    for (size_t h = 0; h < month.hours(); ++h) month.NextHour(&rows);
    result->generate_seconds = MsSinceNanos(t0) / 1e3;
    result->rollup_bytes = DirBytes(o.dir + "/rollup");
  } else {
    METERD_RETURN_IF_ERROR(storage::RemoveTree(o.dir));
    METERD_RETURN_IF_ERROR(storage::CreateDirIfMissing(o.dir));
    if (!o.export_csv.empty()) {
      METERD_ASSIGN_OR_RETURN(csv, rate::CsvExport::Create(o.export_csv, month));
    }
    METERD_ASSIGN_OR_RETURN(const rate::SealedMonth sealed,
                            rate::SealMonth(&month, o.dir, csv.get(), o.progress));
    result->generate_seconds = sealed.generate_seconds;
    result->merge_seconds = sealed.merge_seconds;
    result->rollup_bytes = sealed.rollup_bytes;
    METERD_RETURN_IF_ERROR(storage::WriteFileAtomic(o.dir + "/" + kRateSetupFile, SetupText(o)));
  }
  METERD_ASSIGN_OR_RETURN(const rate::ExpectedCharges expected, month.Expected(*book));
  result->expected_total = expected.total;
  result->expected_lines = expected.lines;
  if (csv) {
    METERD_RETURN_IF_ERROR(csv->Finish(month, *book, expected));
    result->csv_bytes = csv->bytes();
    csv.reset();
  }

  // 2. Reopen from the files, as a restarted meterd would, and build the engine.
  int64_t t = base::MonotonicNanos();
  std::vector<std::string> damage;
  METERD_ASSIGN_OR_RETURN(const query::RollupView view, rating::OpenRollupView(o.dir, &damage));
  result->open_ms = MsSinceNanos(t);
  if (!damage.empty()) return Status::Corruption("rate: damaged rollup file: " + damage[0]);
  rating::RatingCatalog catalog;
  catalog.tenancy = tenancy;
  catalog.price_book = book;
  rating::RatingOptions ro;
  ro.threads = o.threads;
  t = base::MonotonicNanos();
  METERD_ASSIGN_OR_RETURN(auto engine,
                          rating::RatingEngine::Create(std::move(catalog), month.Series(), ro));
  result->create_ms = MsSinceNanos(t);
  std::unordered_map<std::string_view, size_t> account_index;
  for (size_t a = 0; a < tenancy->accounts().size(); ++a) {
    account_index[tenancy->accounts()[a].id] = a;  // ids are "acct-%05zu": position = number
  }
  for (size_t a = 0; a < month.accounts(); ++a) {
    if (tenancy->accounts()[a].id != RateMonth::AccountId(a)) {
      return Status::InvalidArgument("rate: account order is not the generator's");
    }
  }

  // 3. (a) The full month: one warm-up run, then `runs` timed runs, each checked.
  const rating::RatingRequest month_req = MonthRequest(month);
  result->check = true;
  {
    METERD_ASSIGN_OR_RETURN(auto warm, engine->Rate(view, month_req));
    result->check = Check(warm, expected, account_index, month, true, &result->check_detail);
  }
  std::vector<rating::RatingStats> stats;
  std::vector<double> faults;
  if (o.progress) std::fprintf(stderr, "  rate: full month, %d runs\n", o.runs);
  for (int run = 0; run < o.runs; ++run) {
    const double faults0 = MinorFaults();
    const double cpu0 = ProcessCpuMs();
    t = base::MonotonicNanos();
    auto r = engine->Rate(view, month_req);
    const double ms = MsSinceNanos(t);
    result->full_cpu_ms.push_back(ProcessCpuMs() - cpu0);
    faults.push_back(MinorFaults() - faults0);
    if (!r.ok()) return r.status();
    result->full_ms.push_back(ms);
    result->check =
        Check(*r, expected, account_index, month, true, &result->check_detail) && result->check;
    stats.push_back(r->stats);
    result->lines = r->lines.size();
    result->groups = r->groups.size();
    result->total = r->total;
    result->nonzero_lines = 0;
    for (const rating::ChargeLine& l : r->lines) result->nonzero_lines += l.raw_quantity != 0;
  }
  result->full_median_ms = Median(result->full_ms);
  result->full_cpu_median_ms = Median(result->full_cpu_ms);
  result->full_cv = Cv(result->full_ms);
  result->full_faults = Median(faults);
  {
    // The stats of the run closest to the median.
    size_t best = 0;
    for (size_t i = 1; i < result->full_ms.size(); ++i) {
      if (std::abs(result->full_ms[i] - result->full_median_ms) <
          std::abs(result->full_ms[best] - result->full_median_ms)) {
        best = i;
      }
    }
    const rating::RatingStats& s = stats[best];
    result->rows_scanned = s.rows_scanned;
    result->blocks_read = s.blocks_read;
    result->slots = s.slots;
    result->priced_lines = s.priced_lines;
    result->plan_ms = s.plan_ms;
    result->scan_ms = s.scan_ms;
    result->price_ms = s.price_ms;
    result->threads = s.threads;
    std::vector<double> plan_cpu, scan_cpu, price_cpu;
    for (const rating::RatingStats& x : stats) {
      plan_cpu.push_back(x.plan_cpu_ms);
      scan_cpu.push_back(x.scan_cpu_ms);
      price_cpu.push_back(x.price_cpu_ms);
    }
    result->plan_cpu_ms = Median(plan_cpu);
    result->scan_cpu_ms = Median(scan_cpu);
    result->price_cpu_ms = Median(price_cpu);
  }
  if (result->rows_scanned != month.rows() && result->check) {
    result->check = false;
    result->check_detail = "scanned " + std::to_string(result->rows_scanned) + " rows, expected " +
                           std::to_string(month.rows());
  }

  // (b) One account: a fixed one (the middle account), median of many runs; then each of up
  //     to account_samples accounts once, for the percentiles. Each result is checked.
  rating::RatingRequest acct_req = month_req;
  acct_req.scope = rating::ScopeKind::kAccount;
  const size_t fixed = month.accounts() / 2;
  acct_req.scope_id = RateMonth::AccountId(fixed);
  result->account = acct_req.scope_id;
  if (o.progress) std::fprintf(stderr, "  rate: one account\n");
  std::vector<double> fixed_ms;
  const int fixed_runs = std::max(o.runs, 51);
  for (int run = -2; run < fixed_runs; ++run) {  // two warm-up runs
    t = base::MonotonicNanos();
    auto r = engine->Rate(view, acct_req);
    const double ms = MsSinceNanos(t);
    if (!r.ok()) return r.status();
    if (run < 0) {
      result->check =
          Check(*r, expected, account_index, month, false, &result->check_detail) && result->check;
      result->account_rows = r->stats.rows_scanned;
      result->account_lines = r->lines.size() + r->groups.size();
      result->account_total = r->total;
      continue;
    }
    fixed_ms.push_back(ms);
  }
  result->account_median_ms = Median(fixed_ms);
  const size_t samples = std::min(o.account_samples, month.accounts());
  std::vector<double> acct_ms;
  for (size_t i = 0; i < samples; ++i) {
    const size_t a = samples == month.accounts() ? i : i * month.accounts() / samples;
    acct_req.scope_id = RateMonth::AccountId(a);
    t = base::MonotonicNanos();
    auto r = engine->Rate(view, acct_req);
    const double ms = MsSinceNanos(t);
    if (!r.ok()) return r.status();
    acct_ms.push_back(ms);
    result->check =
        Check(*r, expected, account_index, month, false, &result->check_detail) && result->check;
  }
  std::sort(acct_ms.begin(), acct_ms.end());
  result->accounts_timed = acct_ms.size();
  result->account_p50_ms = Quantile(acct_ms, 0.50);
  result->account_p99_ms = Quantile(acct_ms, 0.99);
  result->account_max_ms = acct_ms.empty() ? 0 : acct_ms.back();
  if (o.progress) std::fprintf(stderr, "  rate: done\n");
  return Status::OK();
}

void PrintRateTable(std::FILE* out, const RateWorkloadOptions& o, const RateWorkloadResult& r) {
  const double rows_per_s = static_cast<double>(r.rows) / (r.full_median_ms / 1e3);
  std::fprintf(out,
               "\nmeterd rating — %zu VMs x 8 metrics, %zu accounts of %zu VMs, month %s (%zu h)\n",
               o.vms, r.accounts, rate::kVmsPerAccount, o.month.c_str(), r.hours);
  std::fprintf(out, "  bucket rows            %llu (%llu series) in one month file, %.2f B/row\n",
               static_cast<unsigned long long>(r.rows), static_cast<unsigned long long>(r.series),
               static_cast<double>(r.rollup_bytes) / static_cast<double>(r.rows));
  if (r.reused) {
    std::fprintf(out,
                 "  data directory         %s reused (month regenerated in memory in %.1f s)\n",
                 o.dir.c_str(), r.generate_seconds);
  } else {
    std::fprintf(out, "  generate + seal        %.1f s (%zu hour parts), merge %.1f s%s\n",
                 r.generate_seconds, r.hours, r.merge_seconds,
                 o.export_csv.empty() ? "" : ", with the CSV export");
  }
  if (!o.export_csv.empty()) {
    std::fprintf(out, "  CSV                    %s (%.2f GB of buckets)\n", o.export_csv.c_str(),
                 static_cast<double>(r.csv_bytes) / 1e9);
  }
  std::fprintf(out, "  reopen                 %.0f ms (read + verify the files), engine %.0f ms\n",
               r.open_ms, r.create_ms);
  std::fprintf(out, "\n  %-34s %12s %14s %12s\n", "rating", "ms (median)", "rows/s", "lines");
  std::fprintf(out, "  %-34s %12.1f %13.1fM %12zu\n", "full month, all accounts", r.full_median_ms,
               rows_per_s / 1e6, r.lines + r.groups);
  std::fprintf(out, "  %-34s %12.3f %13.1fM %12zu\n", ("one account (" + r.account + ")").c_str(),
               r.account_median_ms,
               static_cast<double>(r.account_rows) / (r.account_median_ms / 1e3) / 1e6,
               r.account_lines);
  std::fprintf(out, "  %-34s p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
               (std::to_string(r.accounts_timed) + " accounts, one rating each").c_str(),
               r.account_p50_ms, r.account_p99_ms, r.account_max_ms);
  std::fprintf(out, "\n  full-month runs        ");
  for (double ms : r.full_ms) std::fprintf(out, "%.1f ", ms);
  std::fprintf(out, "ms; CV %.1f%%%s; process CPU %.1f ms (median)\n", 100 * r.full_cv,
               r.full_cv > 0.05 ? "  (NOISY: above 5%)" : "", r.full_cpu_median_ms);
  std::fprintf(out,
               "  engine (median run)    plan %.1f ms, scan %.1f ms, price %.1f ms; %d threads, "
               "%llu blocks, %zu slots, %zu priced lines\n",
               r.plan_ms, r.scan_ms, r.price_ms, r.threads,
               static_cast<unsigned long long>(r.blocks_read), r.slots, r.priced_lines);
  std::fprintf(out,
               "  engine CPU (medians)   plan %.1f ms, scan %.1f ms, price %.1f ms (thread CPU "
               "clocks); %.0f minor page faults a run\n",
               r.plan_cpu_ms, r.scan_cpu_ms, r.price_cpu_ms, r.full_faults);
  std::fprintf(out,
               "  output                 %zu charge lines (%zu with a quantity) + %zu account "
               "totals\n",
               r.lines, r.nonzero_lines, r.groups);
  std::fprintf(out, "  grand total            %lld micro-credits\n",
               static_cast<long long>(r.total));
  std::fprintf(out, "  check                  %s\n",
               r.check ? "OK: every run's grand total, account totals and lines match the "
                         "generator's (PriceMonth over the exact line quantities)"
                       : ("FAILED: " + r.check_detail).c_str());
}

void PrintRateJson(const RateWorkloadOptions& o, const RateWorkloadResult& r) {
  std::string runs;
  for (double ms : r.full_ms) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%.3f", runs.empty() ? "" : ",", ms);
    runs += buf;
  }
  std::printf(
      "{\"workload\":\"rate\",\"vms\":%zu,\"accounts\":%zu,\"seed\":%llu,\"month\":\"%s\","
      "\"rows\":%llu,\"threads\":%d,\"full_month_ms\":%.3f,\"full_month_runs_ms\":[%s],"
      "\"full_month_cv\":%.4f,\"full_month_cpu_ms\":%.3f,\"rows_per_s\":%.0f,\"plan_ms\":%.3f,"
      "\"scan_ms\":%.3f,"
      "\"price_ms\":%.3f,\"plan_cpu_ms\":%.3f,\"scan_cpu_ms\":%.3f,\"price_cpu_ms\":%.3f,"
      "\"account\":\"%s\",\"account_rows\":%llu,\"account_ms\":%.4f,"
      "\"account_p50_ms\":%.4f,\"account_p99_ms\":%.4f,\"account_max_ms\":%.4f,"
      "\"accounts_timed\":%zu,\"lines\":%zu,\"nonzero_lines\":%zu,\"account_totals\":%zu,"
      "\"output_lines\":%zu,\"grand_total_micro\":%lld,\"expected_total_micro\":%lld,"
      "\"rollup_bytes\":%llu,\"reused\":%s,\"generate_s\":%.2f,\"merge_s\":%.2f,\"check\":%s}\n",
      o.vms, r.accounts, static_cast<unsigned long long>(o.seed), o.month.c_str(),
      static_cast<unsigned long long>(r.rows), r.threads, r.full_median_ms, runs.c_str(), r.full_cv,
      r.full_cpu_median_ms, static_cast<double>(r.rows) / (r.full_median_ms / 1e3), r.plan_ms,
      r.scan_ms, r.price_ms, r.plan_cpu_ms, r.scan_cpu_ms, r.price_cpu_ms, r.account.c_str(),
      static_cast<unsigned long long>(r.account_rows), r.account_median_ms, r.account_p50_ms,
      r.account_p99_ms, r.account_max_ms, r.accounts_timed, r.lines, r.nonzero_lines, r.groups,
      r.lines + r.groups, static_cast<long long>(r.total), static_cast<long long>(r.expected_total),
      static_cast<unsigned long long>(r.rollup_bytes), r.reused ? "true" : "false",
      r.generate_seconds, r.merge_seconds, r.check ? "true" : "false");
}

}  // namespace meterd::bench
