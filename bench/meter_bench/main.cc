// meterd — bench/meter_bench/main.cc: `meter-bench`, named whole workloads (db_bench style).
//
//   meter-bench demo  [--data-dir DIR] [--vms N] [--seconds S]   the storage demo, for people
//   meter-bench store [--data-dir DIR] [--vms N] [--seconds S]   the same run, as table + JSON
//   meter-bench ingest [--agents A] [--vms-per-agent V] [--seconds S] [--rate max|1x]
//                      [--backlog-crosses-hour]
//                                            durable ingest into a real meterd over loopback TCP
//   meter-bench rate --vms N [--seed S] [--month 2026-11] [--runs 5] [--data-dir DIR]
//                    [--reuse] [--export-csv DIR] [--threads T] [--json]
//                                            a month of rollups rated from the data directory
//   meter-bench query --vms N [--seed S] [--month 2026-11] [--data-dir DIR] [--reuse]
//                     [--accounts 500] [--usage 500] [--runs 3] [--breakdown 100] [--json]
//                                            the same month's charges and usage queried through
//                                            the binary protocol at a real meterd
//   meter-bench billing [--phase book|clock|balance|all] [--accounts 100000] [--vms 10000]
//                       [--runs 3] [--data-dir DIR] [--hours 24] [--days N]
//                       [--no-month-to-date] [--no-keep-state] [--connections 4] [--seconds
//                       10] [--json]
//                                            the prepaid billing workload: ledger writes, the
//                                            billing clock with real rating, balance queries
//   meter-bench soak [--kill-every S] [--cycles 1000] [--agents 4] [--series-per-agent 250]
//                    [--batch-seconds 2] [--window 32] [--data-dir DIR] [--json]
//                                            kill -9 of a real meterd under full ingest, cycle
//                                            after cycle; each cycle's data checked after the
//                                            restart (0 lost, 0 twice, 0 unsent)
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench/meter_bench/billing_workload.h"
#include "bench/meter_bench/connections_workload.h"
#include "bench/meter_bench/ingest_workload.h"
#include "bench/meter_bench/invoice_workload.h"
#include "bench/meter_bench/query_workload.h"
#include "bench/meter_bench/rate_workload.h"
#include "bench/meter_bench/soak_workload.h"
#include "bench/meter_bench/store_workload.h"
#include "sim/fleet_sim.h"

namespace {

using meterd::bench::StoreWorkloadOptions;
using meterd::bench::StoreWorkloadResult;

std::string Human(double v) {
  char buf[32];
  if (v >= 1e9)
    std::snprintf(buf, sizeof(buf), "%.2f G", v / 1e9);
  else if (v >= 1e6)
    std::snprintf(buf, sizeof(buf), "%.2f M", v / 1e6);
  else if (v >= 1e3)
    std::snprintf(buf, sizeof(buf), "%.1f K", v / 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%.0f ", v);
  return buf;
}

void PrintDemo(const StoreWorkloadOptions& o, const StoreWorkloadResult& r) {
  const double bps = static_cast<double>(r.segment_bytes) / static_cast<double>(r.samples);
  std::printf("\nmeterd storage demo — %zu VMs x %zu metrics, %lld s of per-second samples\n",
              o.vms, meterd::sim::kMetricsPerVm, static_cast<long long>(o.seconds));
  std::printf("  data directory        %s\n", o.dir.c_str());
  std::printf("  series                %s\n", Human(static_cast<double>(r.series)).c_str());
  std::printf("  samples written       %sbatches of %zu, acknowledged only after fdatasync (%s)\n",
              (Human(static_cast<double>(r.samples)) + ", ").c_str(), o.batch_samples,
              r.io_backend.c_str());
  std::printf("  ingest                %.2f s  = %ssamples/s durable\n", r.ingest_seconds,
              Human(static_cast<double>(r.samples) / r.ingest_seconds).c_str());
  std::printf("  head before flush     %.2f bytes/sample in memory (%sB)\n",
              static_cast<double>(r.head_peak_bytes) / static_cast<double>(r.head_peak_samples),
              Human(static_cast<double>(r.head_peak_bytes)).c_str());
  std::printf("  flush to segments     %.2f s, %llu segment file(s)\n", r.flush_seconds,
              static_cast<unsigned long long>(r.segments));
  std::printf(
      "  on disk               %sB = %.3f bytes/sample  (VictoriaMetrics: 1.71, Gorilla: 1.37)\n",
      Human(static_cast<double>(r.segment_bytes)).c_str(), bps);
  std::printf("  reopen (recovery)     %.3f s\n", r.reopen_seconds);
  std::printf("  full scan             %.3f s  = %ssamples/s decoded\n", r.scan_seconds,
              Human(static_cast<double>(r.scanned_samples) / r.scan_seconds).c_str());
  std::printf("  check                 %s: %llu samples scanned back, digest %s\n",
              r.digest_matches ? "OK" : "FAILED",
              static_cast<unsigned long long>(r.scanned_samples),
              r.digest_matches ? "matches the generator's" : "DIFFERS from the generator's");
}

void PrintJson(const StoreWorkloadOptions& o, const StoreWorkloadResult& r) {
  std::printf(
      "{\"workload\":\"store\",\"vms\":%zu,\"seconds\":%lld,\"series\":%llu,\"samples\":%llu,"
      "\"ingest_samples_per_s\":%.0f,\"bytes_per_sample\":%.4f,\"segment_bytes\":%llu,"
      "\"head_bytes_per_sample\":%.3f,\"flush_s\":%.3f,\"reopen_s\":%.3f,"
      "\"scan_samples_per_s\":%.0f,\"check\":%s,\"io\":\"%s\"}\n",
      o.vms, static_cast<long long>(o.seconds), static_cast<unsigned long long>(r.series),
      static_cast<unsigned long long>(r.samples), static_cast<double>(r.samples) / r.ingest_seconds,
      static_cast<double>(r.segment_bytes) / static_cast<double>(r.samples),
      static_cast<unsigned long long>(r.segment_bytes),
      static_cast<double>(r.head_peak_bytes) / static_cast<double>(r.head_peak_samples),
      r.flush_seconds, r.reopen_seconds, static_cast<double>(r.scanned_samples) / r.scan_seconds,
      r.digest_matches ? "true" : "false", r.io_backend.c_str());
}

void PrintIngest(const meterd::bench::IngestWorkloadOptions& o,
                 const meterd::bench::IngestWorkloadResult& r) {
  const double rate = static_cast<double>(r.accepted) / r.seconds;
  std::printf("\nmeterd ingest — %zu agents x %zu VMs x %zu metrics, %lld s of samples, rate %s\n",
              o.agents, o.vms_per_agent, meterd::sim::kMetricsPerVm,
              static_cast<long long>(o.seconds), o.rate > 0 ? "1x (one batch/s per agent)" : "max");
  std::printf("  connections           %zu (one agent key each), %zu client threads\n", o.agents,
              o.client_threads);
  std::printf("  samples               %s in %llu batches (%.1f bytes/sample on the wire)\n",
              Human(static_cast<double>(r.samples)).c_str(),
              static_cast<unsigned long long>(r.batches),
              static_cast<double>(r.frame_bytes) / static_cast<double>(r.samples));
  std::printf("  accepted / rejected   %llu / %llu%s\n",
              static_cast<unsigned long long>(r.accepted),
              static_cast<unsigned long long>(r.rejected),
              r.accepted == r.samples ? "  (every sample acknowledged durable)" : "  (MISSING)");
  if (o.backlog_crosses_hour && o.rate <= 0) {
    std::printf(
        "  backlog               %lld s from %lld: its first half in a closed hour "
        "(meterd --grace %lld)\n",
        static_cast<long long>(o.seconds), static_cast<long long>(r.first_ts),
        static_cast<long long>(r.grace_seconds));
  }
  if (r.late_samples >= 0) {
    std::printf("  path taken            live %llu, late %llu (%.1f %% late)\n",
                static_cast<unsigned long long>(r.live_samples),
                static_cast<unsigned long long>(r.late_samples),
                r.accepted == 0 ? 0.0
                                : 100.0 * static_cast<double>(r.late_samples) /
                                      static_cast<double>(r.accepted));
  }
  std::printf("  durable ingest        %.2f s = %ssamples/s\n", r.seconds, Human(rate).c_str());
  std::printf("  ack latency           p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
              r.p50_ms, r.p99_ms, r.p999_ms, r.max_ms);
  if (r.server_cpu_s >= 0) {
    std::printf("  server CPU            %.2f s = %.3f s per million samples\n", r.server_cpu_s,
                r.server_cpu_s / (static_cast<double>(r.samples) / 1e6));
  } else {
    std::printf("  server CPU            n/a (give --server-pid)\n");
  }
  std::printf("  client CPU            %.2f s (same machine)\n", r.client_cpu_s);
  std::printf("  server peak RSS       %.1f MiB\n",
              static_cast<double>(r.server_peak_rss) / 1048576.0);
  if (o.endpoint.server.empty()) {
    std::printf("  on disk               %.3f bytes/sample in segments after the final flush\n",
                static_cast<double>(r.disk_bytes) / static_cast<double>(r.samples));
  } else {
    std::printf("  on disk               n/a (the running server has not flushed)\n");
  }
  std::printf("  graceful stop         %.2f s (drain, flush, sync)\n", r.shutdown_seconds);
  std::printf("  reconnects            %llu\n", static_cast<unsigned long long>(r.reconnects));
  std::printf(
      "{\"workload\":\"ingest\",\"agents\":%zu,\"vms_per_agent\":%zu,\"seconds\":%lld,"
      "\"rate\":%g,\"samples\":%llu,\"accepted\":%llu,\"rejected\":%llu,"
      "\"samples_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
      "\"max_ms\":%.3f,\"server_cpu_s_per_M\":%.4f,\"client_cpu_s\":%.2f,"
      "\"server_peak_rss_bytes\":%llu,\"bytes_per_sample\":%.4f,\"wire_bytes_per_sample\":%.2f,"
      "\"backlog_crosses_hour\":%s,\"grace_s\":%lld,\"live_samples\":%lld,"
      "\"late_samples\":%lld}\n",
      o.agents, o.vms_per_agent, static_cast<long long>(o.seconds), o.rate,
      static_cast<unsigned long long>(r.samples), static_cast<unsigned long long>(r.accepted),
      static_cast<unsigned long long>(r.rejected), rate, r.p50_ms, r.p99_ms, r.p999_ms, r.max_ms,
      r.server_cpu_s / (static_cast<double>(r.samples) / 1e6), r.client_cpu_s,
      static_cast<unsigned long long>(r.server_peak_rss),
      static_cast<double>(r.disk_bytes) / static_cast<double>(r.samples),
      static_cast<double>(r.frame_bytes) / static_cast<double>(r.samples),
      o.backlog_crosses_hour && o.rate <= 0 ? "true" : "false",
      static_cast<long long>(r.grace_seconds), static_cast<long long>(r.live_samples),
      static_cast<long long>(r.late_samples));
}

std::string SiblingBinary(const char* name) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(name) : (self.parent_path() / name).string();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"meter-bench: meterd's workloads and capacity planning"};
  app.require_subcommand(1);
  StoreWorkloadOptions options;
  options.dir = "meterd-data/demo";
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--data-dir", options.dir, "data directory (recreated)");
    cmd->add_option("--vms", options.vms, "simulated VMs (13 series each)");
    cmd->add_option("--seconds", options.seconds, "seconds of per-second samples");
    cmd->add_option("--batch", options.batch_samples, "samples per appended batch");
    cmd->add_option("--window", options.window, "batches in flight (agent connections)");
    cmd->add_option("--seed", options.seed, "simulator seed");
  };
  CLI::App* demo = app.add_subcommand("demo", "write a simulated fleet, reopen, scan, report");
  add_common(demo);
  CLI::App* store = app.add_subcommand("store", "the storage workload, as a table and JSON");
  add_common(store);
  meterd::bench::IngestWorkloadOptions ingest_options;
  ingest_options.meterd_path = SiblingBinary("meterd");
  std::string rate = "max";
  CLI::App* ingest =
      app.add_subcommand("ingest", "durable ingest into a real meterd over loopback TCP");
  ingest->add_option("--agents", ingest_options.agents, "agent connections")->capture_default_str();
  ingest
      ->add_option("--vms-per-agent", ingest_options.vms_per_agent,
                   "VMs per agent (13 series each)")
      ->capture_default_str();
  ingest->add_option("--seconds", ingest_options.seconds, "seconds of samples per VM")
      ->capture_default_str();
  ingest->add_option("--rate", rate, "max (as fast as acknowledged) or 1x (one batch/s per agent)")
      ->check(CLI::IsMember({"max", "1x"}))
      ->capture_default_str();
  ingest
      ->add_option("--batch-seconds", ingest_options.seconds_per_batch,
                   "seconds of samples per batch at max rate")
      ->capture_default_str();
  ingest->add_flag("--backlog-crosses-hour", ingest_options.backlog_crosses_hour,
                   "max rate: replay S seconds whose first half lies in a closed hour (late "
                   "data) and the rest in an open one, whatever the minute; sets meterd's "
                   "--grace");
  ingest->add_option("--window", ingest_options.window, "batches in flight per connection")
      ->capture_default_str();
  ingest->add_option("--client-threads", ingest_options.client_threads, "sending threads")
      ->capture_default_str();
  ingest->add_option("--server-io-threads", ingest_options.server_io_threads,
                     "meterd --io-threads (0: its default)");
  ingest->add_option("--data-dir", ingest_options.dir, "meterd's data directory (recreated)")
      ->capture_default_str();
  ingest->add_option("--meterd", ingest_options.meterd_path, "the meterd binary")
      ->capture_default_str();
  ingest->add_option(
      "--meterd-arg", ingest_options.meterd_args,
      "a flag for the meterd it starts (repeatable), e.g. --meterd-arg=--head-memory-mib=64");
  ingest->add_option("--server", ingest_options.endpoint.server,
                     "use a running meterd HOST:PORT instead of starting one (needs an admin key)");
  ingest->add_option("--key", ingest_options.endpoint.key, "admin key for --server");
  ingest->add_option("--key-file", ingest_options.endpoint.key_file, "admin key file for --server");
  ingest->add_option("--server-pid", ingest_options.server_pid,
                     "pid of the --server process, to read its CPU and RSS");
  meterd::bench::ConnectionsWorkloadOptions conn_options;
  conn_options.meterd_path = ingest_options.meterd_path;
  CLI::App* conns =
      app.add_subcommand("connections", "server memory with many idle authenticated connections");
  conns->add_option("--connections", conn_options.connections, "connections to hold open")
      ->capture_default_str();
  conns->add_option("--hold", conn_options.hold_seconds, "seconds to hold them idle")
      ->capture_default_str();
  conns->add_option("--meterd", conn_options.meterd_path, "the meterd binary");
  meterd::bench::RateWorkloadOptions rate_options;
  bool rate_json = false;
  CLI::App* rate_cmd = app.add_subcommand(
      "rate", "a month of hourly rollups for N VMs, rated from the data directory's files");
  rate_cmd->add_option("--vms", rate_options.vms, "VMs (8 metrics each, 20 per account)")
      ->capture_default_str();
  rate_cmd->add_option("--seed", rate_options.seed, "generator seed")->capture_default_str();
  rate_cmd->add_option("--month", rate_options.month, "the month rated, YYYY-MM (UTC)")
      ->capture_default_str();
  rate_cmd->add_option("--runs", rate_options.runs, "timed full-month runs (the median is shown)")
      ->capture_default_str();
  rate_cmd
      ->add_option("--data-dir", rate_options.dir,
                   "data directory (recreated, unless --reuse finds its month written)")
      ->capture_default_str();
  rate_cmd->add_flag("--reuse", rate_options.reuse,
                     "keep a data directory written by an earlier run with the same --vms, "
                     "--seed and --month (the month is regenerated in memory for the check)");
  rate_cmd->add_option("--export-csv", rate_options.export_csv,
                       "also write the month and its catalog as CSV here (bench/peers/README.md)");
  rate_cmd->add_option("--threads", rate_options.threads, "rating threads")->capture_default_str();
  rate_cmd
      ->add_option("--accounts", rate_options.account_samples,
                   "accounts rated one by one for the one-account percentiles")
      ->capture_default_str();
  rate_cmd->add_flag("--json", rate_json,
                     "print only the JSON line on stdout (the table on stderr)");
  meterd::bench::QueryWorkloadOptions query_options;
  query_options.meterd_path = ingest_options.meterd_path;
  bool query_json = false;
  CLI::App* query_cmd = app.add_subcommand(
      "query", "the rating month's charges and usage through the binary protocol at a real meterd");
  query_cmd->add_option("--vms", query_options.vms, "VMs (8 metrics each, 20 per account)")
      ->capture_default_str();
  query_cmd->add_option("--seed", query_options.seed, "generator seed")->capture_default_str();
  query_cmd->add_option("--month", query_options.month, "the month, YYYY-MM (UTC), over")
      ->capture_default_str();
  query_cmd
      ->add_option("--data-dir", query_options.dir,
                   "meterd's data directory (recreated, unless --reuse finds it set up)")
      ->capture_default_str();
  query_cmd->add_flag("--reuse", query_options.reuse,
                      "keep a data directory set up by an earlier run with the same --vms, "
                      "--seed and --month");
  query_cmd
      ->add_option("--accounts", query_options.account_requests,
                   "one-account charges requests (distinct accounts of a seeded sample)")
      ->capture_default_str();
  query_cmd
      ->add_option("--usage", query_options.usage_requests,
                   "one-VM usage requests per granularity (month, hour)")
      ->capture_default_str();
  query_cmd->add_option("--warmup", query_options.warmup_requests, "untimed requests of each kind")
      ->capture_default_str();
  query_cmd->add_option("--runs", query_options.full_runs, "full-month charges requests (median)")
      ->capture_default_str();
  query_cmd
      ->add_option("--breakdown", query_options.breakdown_accounts,
                   "accounts for the in-process replay of the server's charges path (0: none)")
      ->capture_default_str();
  query_cmd->add_option("--meterd", query_options.meterd_path, "the meterd binary")
      ->capture_default_str();
  query_cmd->add_option("--meterd-arg", query_options.meterd_args,
                        "a flag for the meterd it starts (repeatable)");
  query_cmd
      ->add_option("--start-timeout", query_options.start_timeout_s,
                   "seconds meterd may take to open the directory")
      ->capture_default_str();
  query_cmd->add_flag("--json", query_json,
                      "print only the JSON line on stdout (the table on stderr)");
  meterd::bench::BillingWorkloadOptions billing_options;
  billing_options.meterd_path = ingest_options.meterd_path;
  bool billing_json = false;
  CLI::App* billing_cmd = app.add_subcommand(
      "billing", "the prepaid billing workload: ledger writes, the billing clock, balance queries");
  billing_cmd
      ->add_option("--phase", billing_options.phase,
                   "book (Ledger::BookHour), clock (BillingClock with real rating), balance "
                   "(BalanceRequest at a real meterd) or all")
      ->check(CLI::IsMember({"book", "clock", "balance", "all"}))
      ->capture_default_str();
  billing_cmd
      ->add_option("--data-dir", billing_options.dir,
                   "data directory (phases recreate "
                   "their subdirectories)")
      ->capture_default_str();
  billing_cmd->add_option("--accounts", billing_options.accounts, "accounts (book, balance)")
      ->capture_default_str();
  billing_cmd->add_option("--vms", billing_options.vms, "VMs of the clock's month (20 per account)")
      ->capture_default_str();
  billing_cmd->add_option("--runs", billing_options.runs, "runs (medians are shown)")
      ->capture_default_str();
  billing_cmd->add_option("--seed", billing_options.seed, "generator seed")->capture_default_str();
  billing_cmd->add_option("--month", billing_options.month, "the month billed, YYYY-MM (UTC)")
      ->capture_default_str();
  billing_cmd->add_option("--hours", billing_options.hours, "book: hours booked per run")
      ->capture_default_str();
  billing_cmd
      ->add_option(
          "--post-topups", billing_options.post_topups,
          "book: top-ups through Ledger::Post (timed), the rest seeded in one transaction (0: all)")
      ->capture_default_str();
  billing_cmd->add_flag("--reuse", billing_options.reuse,
                        "clock: keep rollups sealed by an earlier run with the same --vms, --seed "
                        "and --month");
  billing_cmd->add_option("--threads", billing_options.threads, "clock: rating threads")
      ->capture_default_str();
  billing_cmd
      ->add_option("--days", billing_options.days,
                   "clock: run through the month's first N days only (0: the whole month)")
      ->capture_default_str();
  billing_cmd
      ->add_option("--clock-hours", billing_options.clock_hours,
                   "clock: run through the month's first N hours only, generated and sealed as "
                   "hour parts (0: --days); for fleets too large for a day of rollups in memory")
      ->capture_default_str();
  billing_cmd
      ->add_option("--clock-accounts", billing_options.clock_accounts,
                   "clock: accounts the VMs are spread over (0: 20 VMs per account)")
      ->capture_default_str();
  bool billing_full_rate = false;
  billing_cmd->add_flag("--no-month-to-date", billing_full_rate,
                        "clock: rate every hour with the month so far scanned (no month-to-date "
                        "state)");
  bool billing_no_keep = false;
  billing_cmd->add_flag("--no-keep-state", billing_no_keep,
                        "clock: do not keep the month-to-date state with the ledger (a "
                        "restarted clock then re-rates the month so far)");
  billing_cmd->add_option("--meterd", billing_options.meterd_path, "balance: the meterd binary")
      ->capture_default_str();
  billing_cmd->add_option("--meterd-arg", billing_options.meterd_args,
                          "balance: a flag for the meterd it starts (repeatable)");
  billing_cmd->add_option("--connections", billing_options.connections, "balance: connections")
      ->capture_default_str();
  billing_cmd->add_option("--seconds", billing_options.seconds, "balance: seconds per run")
      ->capture_default_str();
  billing_cmd
      ->add_option("--balance-topups", billing_options.balance_topups,
                   "balance: accounts topped up through PostEntry (0: all)")
      ->capture_default_str();
  billing_cmd->add_flag("--json", billing_json,
                        "print only the JSON lines on stdout (the tables on stderr)");
  meterd::bench::InvoiceWorkloadOptions invoice_options;
  bool invoice_json = false;
  CLI::App* invoice_cmd = app.add_subcommand(
      "invoices", "a month's invoice run and issue for a fleet (and PDFs), in process");
  invoice_cmd->add_option("--data-dir", invoice_options.dir, "data directory (recreated)")
      ->capture_default_str();
  invoice_cmd->add_option("--accounts", invoice_options.accounts, "accounts")
      ->capture_default_str();
  invoice_cmd->add_option("--vms-per-account", invoice_options.vms_per_account, "VMs per account")
      ->capture_default_str();
  invoice_cmd->add_flag("--pdf", invoice_options.pdf, "also render every invoice as a PDF");
  invoice_cmd->add_option("--threads", invoice_options.threads, "PDF threads")
      ->capture_default_str();
  invoice_cmd->add_option("--seed", invoice_options.seed, "generator seed")->capture_default_str();
  invoice_cmd->add_option("--month", invoice_options.month, "the month invoiced, YYYY-MM (UTC)")
      ->capture_default_str();
  invoice_cmd->add_flag("--json", invoice_json,
                        "print only the JSON line on stdout (the table on stderr)");
  meterd::bench::SoakWorkloadOptions soak_options;
  soak_options.meterd_path = ingest_options.meterd_path;
  bool soak_json = false;
  CLI::App* soak_cmd = app.add_subcommand(
      "soak", "kill -9 of a real meterd under full ingest, cycle after cycle, each cycle checked");
  soak_cmd
      ->add_option("--kill-every", soak_options.kill_every_s,
                   "mean seconds of ingest before each kill -9 (each delay uniform in [S/2, 3S/2])")
      ->capture_default_str();
  soak_cmd->add_option("--cycles", soak_options.cycles, "kill -9 + restart + check cycles")
      ->capture_default_str();
  soak_cmd->add_option("--agents", soak_options.agents, "connections streaming at full rate")
      ->capture_default_str();
  soak_cmd->add_option("--series-per-agent", soak_options.series_per_agent, "series per agent")
      ->capture_default_str();
  soak_cmd
      ->add_option("--batch-seconds", soak_options.seconds_per_batch,
                   "seconds of samples per batch (every series of the agent each second)")
      ->capture_default_str();
  soak_cmd->add_option("--window", soak_options.window, "batches in flight per connection")
      ->capture_default_str();
  soak_cmd
      ->add_option("--retention-days", soak_options.retention_days,
                   "meterd's --retention-days; the cycles' time ranges fit inside it")
      ->capture_default_str();
  soak_cmd->add_option("--data-dir", soak_options.dir, "meterd's data directory (recreated)")
      ->capture_default_str();
  soak_cmd->add_option("--meterd", soak_options.meterd_path, "the meterd binary")
      ->capture_default_str();
  soak_cmd->add_option("--meterd-arg", soak_options.meterd_args,
                       "a flag for the meterd it starts (repeatable)");
  soak_cmd->add_option("--seed", soak_options.seed, "seed of the kill delays")
      ->capture_default_str();
  soak_cmd
      ->add_option("--progress-every", soak_options.progress_every,
                   "a progress line on stderr every N cycles (0: none)")
      ->capture_default_str();
  soak_cmd
      ->add_option("--start-timeout", soak_options.start_timeout_s,
                   "seconds one restart (the recovery) may take before the soak fails")
      ->capture_default_str();
  soak_cmd->add_flag("--json", soak_json,
                     "print only the JSON line on stdout (the table on stderr)");
  CLI11_PARSE(app, argc, argv);

  if (soak_cmd->parsed()) {
    meterd::bench::SoakWorkloadResult r;
    meterd::Status st = meterd::bench::RunSoakWorkload(soak_options, &r);
    if (!st.ok()) {
      std::fprintf(stderr, "meter-bench: %s (after %llu cycles)\n", st.ToString().c_str(),
                   static_cast<unsigned long long>(r.cycles));
      return 1;
    }
    std::FILE* out = soak_json ? stderr : stdout;
    const bool clean = r.lost == 0 && r.twice == 0 && r.unsent == 0;
    std::fprintf(out, "\nmeterd soak — kill -9 every %.2f s (mean) under full ingest\n",
                 soak_options.kill_every_s);
    std::fprintf(
        out, "  cycles                %llu kill -9 + restart + check (%llu killed mid-stream)\n",
        static_cast<unsigned long long>(r.cycles),
        static_cast<unsigned long long>(r.kills_mid_stream));
    std::fprintf(out,
                 "  load                  %zu agents x %zu series, batches of %lld s, window %u\n",
                 soak_options.agents, soak_options.series_per_agent,
                 static_cast<long long>(soak_options.seconds_per_batch), soak_options.window);
    std::fprintf(out, "  batches               %llu sent, %llu acknowledged (%llu partial acks)\n",
                 static_cast<unsigned long long>(r.batches_sent),
                 static_cast<unsigned long long>(r.batches_acked),
                 static_cast<unsigned long long>(r.partial_acks));
    std::fprintf(out, "  samples               %llu acknowledged, %llu present after restarts\n",
                 static_cast<unsigned long long>(r.samples_acked),
                 static_cast<unsigned long long>(r.samples_present));
    std::fprintf(out, "  ingest                %.2f M samples/s acknowledged while up\n",
                 static_cast<double>(r.samples_acked) / r.ingest_seconds / 1e6);
    std::fprintf(out, "  restart               mean %.3f s, max %.3f s\n",
                 r.restart_seconds_sum / static_cast<double>(std::max<uint64_t>(r.cycles, 1)),
                 r.restart_seconds_max);
    std::fprintf(out, "  check                 %s: %llu lost, %llu twice, %llu unsent (%.0f s)\n",
                 clean ? "OK" : "FAILED", static_cast<unsigned long long>(r.lost),
                 static_cast<unsigned long long>(r.twice),
                 static_cast<unsigned long long>(r.unsent), r.wall_seconds);
    std::fflush(out);
    std::printf(
        "{\"workload\":\"soak\",\"cycles\":%llu,\"kill_every_s\":%g,\"kills_mid_stream\":%llu,"
        "\"batches_sent\":%llu,\"batches_acked\":%llu,\"samples_acked\":%llu,"
        "\"samples_present\":%llu,\"lost\":%llu,\"twice\":%llu,\"unsent\":%llu,"
        "\"partial_acks\":%llu,\"restart_max_s\":%.3f,\"wall_s\":%.0f}\n",
        static_cast<unsigned long long>(r.cycles), soak_options.kill_every_s,
        static_cast<unsigned long long>(r.kills_mid_stream),
        static_cast<unsigned long long>(r.batches_sent),
        static_cast<unsigned long long>(r.batches_acked),
        static_cast<unsigned long long>(r.samples_acked),
        static_cast<unsigned long long>(r.samples_present), static_cast<unsigned long long>(r.lost),
        static_cast<unsigned long long>(r.twice), static_cast<unsigned long long>(r.unsent),
        static_cast<unsigned long long>(r.partial_acks), r.restart_seconds_max, r.wall_seconds);
    return clean && r.partial_acks == 0 ? 0 : 2;
  }

  if (invoice_cmd->parsed()) {
    meterd::bench::InvoiceWorkloadResult r;
    meterd::Status st = meterd::bench::RunInvoiceWorkload(invoice_options, &r);
    if (!st.ok()) {
      std::fprintf(stderr, "meter-bench: %s\n", st.ToString().c_str());
      return 1;
    }
    meterd::bench::PrintInvoiceTable(invoice_json ? stderr : stdout, invoice_options, r);
    std::fflush(stderr);
    if (invoice_json) meterd::bench::PrintInvoiceJson(invoice_options, r);
    return r.check ? 0 : 2;
  }

  if (billing_cmd->parsed()) {
    billing_options.month_to_date = !billing_full_rate;
    billing_options.keep_state = !billing_no_keep;
    const std::string& phase = billing_options.phase;
    std::FILE* table = billing_json ? stderr : stdout;
    bool ok = true;
    auto fail = [](const meterd::Status& st) {
      std::fprintf(stderr, "meter-bench: %s\n", st.ToString().c_str());
      return 1;
    };
    if (phase == "book" || phase == "all") {
      meterd::bench::BookPhaseResult r;
      meterd::Status st = meterd::bench::RunBookPhase(billing_options, &r);
      if (!st.ok()) return fail(st);
      meterd::bench::PrintBookTable(table, billing_options, r);
      std::fflush(table);
      if (billing_json) meterd::bench::PrintBookJson(billing_options, r);
      std::fflush(stdout);
      ok = ok && r.check;
    }
    if (phase == "clock" || phase == "all") {
      meterd::bench::ClockPhaseResult r;
      meterd::Status st = meterd::bench::RunClockPhase(billing_options, &r);
      if (!st.ok()) return fail(st);
      meterd::bench::PrintClockTable(table, billing_options, r);
      std::fflush(table);
      if (billing_json) meterd::bench::PrintClockJson(billing_options, r);
      std::fflush(stdout);
      ok = ok && r.check;
    }
    if (phase == "balance" || phase == "all") {
      meterd::bench::BalancePhaseResult r;
      meterd::Status st = meterd::bench::RunBalancePhase(billing_options, &r);
      if (!st.ok()) return fail(st);
      meterd::bench::PrintBalanceTable(table, billing_options, r);
      std::fflush(table);
      if (billing_json) meterd::bench::PrintBalanceJson(billing_options, r);
      std::fflush(stdout);
      ok = ok && r.check;
    }
    return ok ? 0 : 2;
  }

  if (query_cmd->parsed()) {
    meterd::bench::QueryWorkloadResult r;
    meterd::Status st = meterd::bench::RunQueryWorkload(query_options, &r);
    if (!st.ok()) {
      std::fprintf(stderr, "meter-bench: %s\n", st.ToString().c_str());
      return 1;
    }
    meterd::bench::PrintQueryTable(query_json ? stderr : stdout, query_options, r);
    std::fflush(stderr);
    meterd::bench::PrintQueryJson(query_options, r);
    return r.check ? 0 : 2;
  }

  if (rate_cmd->parsed()) {
    meterd::bench::RateWorkloadResult r;
    meterd::Status st = meterd::bench::RunRateWorkload(rate_options, &r);
    if (!st.ok()) {
      std::fprintf(stderr, "meter-bench: %s\n", st.ToString().c_str());
      return 1;
    }
    meterd::bench::PrintRateTable(rate_json ? stderr : stdout, rate_options, r);
    std::fflush(stderr);
    meterd::bench::PrintRateJson(rate_options, r);
    return r.check ? 0 : 2;
  }

  if (conns->parsed()) {
    meterd::bench::ConnectionsWorkloadResult r;
    meterd::Status st = meterd::bench::RunConnectionsWorkload(conn_options, &r);
    if (!st.ok()) {
      std::fprintf(stderr, "meter-bench: %s\n", st.ToString().c_str());
      return 1;
    }
    const double mib = 1048576.0;
    std::printf("\nmeterd idle connections — %zu authenticated connections held %lld s\n", r.opened,
                static_cast<long long>(conn_options.hold_seconds));
    std::printf("  opened in             %.2f s (Hello handshake each)\n", r.connect_seconds);
    std::printf("  server RSS            %.1f MiB before, %.1f MiB with all open (peak %.1f MiB)\n",
                static_cast<double>(r.rss_before) / mib, static_cast<double>(r.rss_open) / mib,
                static_cast<double>(r.peak_rss) / mib);
    std::printf("  per connection        %.1f KiB\n",
                static_cast<double>(r.rss_open - std::min(r.rss_open, r.rss_before)) / 1024.0 /
                    static_cast<double>(std::max<size_t>(1, r.opened)));
    std::printf("  pings answered        %zu of %zu after the hold\n", r.answered, r.opened);
    std::printf(
        "{\"workload\":\"connections\",\"connections\":%zu,\"answered\":%zu,"
        "\"connect_s\":%.3f,\"rss_before_bytes\":%llu,\"rss_open_bytes\":%llu,"
        "\"peak_rss_bytes\":%llu}\n",
        r.opened, r.answered, r.connect_seconds, static_cast<unsigned long long>(r.rss_before),
        static_cast<unsigned long long>(r.rss_open), static_cast<unsigned long long>(r.peak_rss));
    return r.answered == r.opened ? 0 : 2;
  }

  if (ingest->parsed()) {
    ingest_options.rate = rate == "1x" ? 1.0 : 0.0;
    meterd::bench::IngestWorkloadResult r;
    meterd::Status st = meterd::bench::RunIngestWorkload(ingest_options, &r);
    if (!st.ok()) {
      std::fprintf(stderr, "meter-bench: %s\n", st.ToString().c_str());
      return 1;
    }
    PrintIngest(ingest_options, r);
    return r.accepted == r.samples ? 0 : 2;
  }

  options.progress = true;
  StoreWorkloadResult result;
  meterd::Status st = meterd::bench::RunStoreWorkload(options, &result);
  if (!st.ok()) {
    std::fprintf(stderr, "meter-bench: %s\n", st.ToString().c_str());
    return 1;
  }
  PrintDemo(options, result);
  if (store->parsed()) PrintJson(options, result);
  return result.digest_matches ? 0 : 2;
}
