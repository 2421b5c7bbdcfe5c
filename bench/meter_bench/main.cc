// meterd — bench/meter_bench/main.cc: `meter-bench`, named whole workloads (db_bench style).
//
//   meter-bench demo  [--data-dir DIR] [--vms N] [--seconds S]   the storage demo, for people
//   meter-bench store [--data-dir DIR] [--vms N] [--seconds S]   the same run, as table + JSON
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "bench/meter_bench/store_workload.h"
#include "bench/sim/fleet_sim.h"

namespace {

using meterd::bench::StoreWorkloadOptions;
using meterd::bench::StoreWorkloadResult;

std::string Human(double v) {
  char buf[32];
  if (v >= 1e9) std::snprintf(buf, sizeof(buf), "%.2f G", v / 1e9);
  else if (v >= 1e6) std::snprintf(buf, sizeof(buf), "%.2f M", v / 1e6);
  else if (v >= 1e3) std::snprintf(buf, sizeof(buf), "%.1f K", v / 1e3);
  else std::snprintf(buf, sizeof(buf), "%.0f ", v);
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
  std::printf("  on disk               %sB = %.3f bytes/sample  (VictoriaMetrics: 1.71, Gorilla: 1.37)\n",
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
      static_cast<unsigned long long>(r.samples),
      static_cast<double>(r.samples) / r.ingest_seconds,
      static_cast<double>(r.segment_bytes) / static_cast<double>(r.samples),
      static_cast<unsigned long long>(r.segment_bytes),
      static_cast<double>(r.head_peak_bytes) / static_cast<double>(r.head_peak_samples),
      r.flush_seconds, r.reopen_seconds,
      static_cast<double>(r.scanned_samples) / r.scan_seconds,
      r.digest_matches ? "true" : "false", r.io_backend.c_str());
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
  CLI11_PARSE(app, argc, argv);

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
