// meterd — tests/engine/rating/rating_bench_test.cc
//
// The ANCHORS.md "Rating" workload through the RatingEngine, as DISABLED_ tests that print
// timings (run them by hand, Release build; they check answers, never times):
//
//   rating_test --gtest_also_run_disabled_tests --gtest_filter='*RatingBench*'
//
// One month (April 2026, 720 h) of hourly buckets for 10,000 VMs x 8 metrics = 57.6 M rows
// (running seconds, vCPU, RAM and disk gauges, net rx / tx bytes, disk read / write ops), in
// four month-style rollup files under $METERD_BENCH_DIR (default /tmp)/rating_bench, written
// once and reused. 500 accounts of 20 VMs, 12 plans, 4 locations; running hours per plan
// capped at 672 h; egress in graduated tiers per account (1 TB, next 9 TB, rest).
// METERD_BENCH_VMS overrides the fleet size (a multiple of 20).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>

#include "storage/io/file.h"
#include "tests/engine/rating/rating_fixture.h"

namespace meterd::engine::rating::testing {
namespace rating_bench_test {

constexpr int64_t kApr1 = kJan1 + 90 * kDay;  // 2026-04-01T00:00:00Z
constexpr int64_t kMay1 = kApr1 + 30 * kDay;
constexpr size_t kHours = 720;
constexpr size_t kFiles = 4;
constexpr size_t kPlans = 12, kLocations = 4, kVmsPerAccount = 20;

const char* const kMetricNames[8] = {"vm.state",        "vm.vcpus",      "vm.memory_bytes",
                                     "disk.size_bytes", "net.rx_bytes",  "net.tx_bytes",
                                     "disk.read_ops",   "disk.write_ops"};
const MetricKind kKinds[8] = {MetricKind::kState,   MetricKind::kGauge,   MetricKind::kGauge,
                              MetricKind::kGauge,   MetricKind::kCounter, MetricKind::kCounter,
                              MetricKind::kCounter, MetricKind::kCounter};

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  return x ^ (x >> 29);
}

std::string VmId(size_t vm) { return "vm-" + std::to_string(100000 + vm); }

struct VmProfile {
  std::vector<uint16_t> running;  // seconds running per hour
  uint64_t vcpus, memory, disk;
  double net[2], ops[2];
};

VmProfile Profile(size_t vm) {
  std::mt19937_64 rng(Mix(7, vm));
  VmProfile p;
  p.running.assign(kHours, 3600);
  if (rng() % 20 == 0) {  // 5% stop for 1..48 hours
    const size_t at = rng() % kHours, len = 1 + rng() % 48;
    p.running[at] = static_cast<uint16_t>(rng() % 3600);
    for (size_t h = at + 1; h < std::min(kHours, at + len); ++h) p.running[h] = 0;
  }
  static constexpr uint64_t kVcpus[] = {1, 2, 2, 4, 4, 8, 16};
  p.vcpus = kVcpus[rng() % 7];
  p.memory = p.vcpus * (uint64_t{1} << (rng() % 3)) * kGiB;
  p.disk = (20 + 10 * (rng() % 20)) * kGiB;
  const double level = std::exp(std::log(1e3) + (std::log(1e7) - std::log(1e3)) *
                                                    static_cast<double>(rng() % 1000000) / 1e6);
  p.net[0] = level;
  p.net[1] = level * (0.2 + static_cast<double>(rng() % 1000) / 1000.0);
  p.ops[0] = static_cast<double>(1 + rng() % 500);
  p.ops[1] = static_cast<double>(1 + rng() % 300);
  return p;
}

// One series' month of rows, and its raw quantity.
unsigned __int128 SeriesRows(uint64_t id, size_t metric, const VmProfile& p,
                             std::vector<RollupRow>* rows) {
  rows->clear();
  std::mt19937_64 rng(Mix(id, 11));
  unsigned __int128 total = 0;
  uint64_t cum = rng() % 1000000;
  for (size_t h = 0; h < kHours; ++h) {
    const int64_t hour = kApr1 + static_cast<int64_t>(h) * kH;
    const uint64_t run = p.running[h];
    RollupRow r;
    switch (metric) {
      case 0:
        r = StateRow(id, hour, run, 3600 - run);
        r.col[kColMin] = run > 0 ? 1 : 2;
        r.col[kColMax] = run < 3600 ? 2 : 1;
        r.col[kColLast] = run > 0 ? 1 : 2;
        total += run;
        break;
      case 1:
      case 2:
      case 3: {
        const uint64_t v = metric == 1 ? p.vcpus : metric == 2 ? p.memory : p.disk;
        r = GaugeRow(id, hour, v);
        r.col[kColSum] = DoubleToBits(static_cast<double>(v) * 3600);
        total += static_cast<unsigned __int128>(v) * 3600;
        break;
      }
      default: {
        const double base = metric < 6 ? p.net[metric - 4] : p.ops[metric - 6];
        const double diurnal = 1.0 + 0.5 * std::sin(static_cast<double>(h % 24) * 0.2618);
        const double noise = 0.5 + static_cast<double>(rng() % 1000) / 1000.0;
        const uint64_t inc =
            static_cast<uint64_t>(base * diurnal * noise * static_cast<double>(run));
        const uint64_t first = cum;
        cum += inc;
        r = CounterRow(id, hour, inc);
        r.col[kColMin] = first;
        r.col[kColMax] = r.col[kColLast] = cum;
        total += inc;
      }
    }
    r.col[kColFirstOffset] = 0;
    r.col[kColLastOffset] = 3599;
    rows->push_back(r);
  }
  return total;
}

struct Bench {
  size_t vms = 10000;
  std::vector<SeriesInfo> series;
  query::RollupView view;
  std::unique_ptr<RatingEngine> engine;
  unsigned __int128 quantity[8] = {};  // per metric, from the generator
  uint64_t rows = 0;
};

Bench* Data() {
  static Bench* b = [] {
    auto* d = new Bench;
    if (const char* v = std::getenv("METERD_BENCH_VMS")) d->vms = std::strtoul(v, nullptr, 10);
    const char* base = std::getenv("METERD_BENCH_DIR");
    const std::string dir =
        std::string(base ? base : "/tmp") + "/rating_bench-" + std::to_string(d->vms);
    struct Entry {
      uint64_t id;
      size_t vm, metric;
    };
    std::vector<Entry> entries;
    for (size_t vm = 0; vm < d->vms; ++vm) {
      for (size_t m = 0; m < 8; ++m) {
        d->series.push_back(Series(VmId(vm), kMetricNames[m], kKinds[m]));
        entries.push_back(Entry{d->series.back().id, vm, m});
      }
    }
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.id < b.id; });
    const bool cached = std::ifstream(dir + "/DONE").good();
    const auto t0 = std::chrono::steady_clock::now();
    if (!cached) {
      (void)storage::RemoveTree(dir);
      EXPECT_TRUE(storage::CreateDirIfMissing(dir).ok());
    }
    std::vector<RollupRow> rows;
    const size_t per_file = (entries.size() + kFiles - 1) / kFiles;
    for (size_t f = 0; f < kFiles; ++f) {
      const std::string path = dir + "/m202604-" + std::to_string(f) + ".mru";
      std::unique_ptr<RollupFileWriter> w;
      if (!cached) {
        auto c = RollupFileWriter::Create(path, 100 + f, RollupLayout::kPerSeries);
        EXPECT_TRUE(c.ok());
        w = std::move(c).value();
      }
      for (size_t i = f * per_file; i < std::min(entries.size(), (f + 1) * per_file); ++i) {
        const Entry& e = entries[i];
        d->quantity[e.metric] += SeriesRows(e.id, e.metric, Profile(e.vm), &rows);
        d->rows += rows.size();
        if (w) {
          EXPECT_TRUE(w->Add(rows.data(), rows.size()).ok());
        }
      }
      if (w) {
        EXPECT_TRUE(w->Finish().ok());
      }
      auto r = RollupFileReader::Open(path);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      d->view.files.files.push_back(std::shared_ptr<const RollupFileReader>(std::move(r).value()));
    }
    if (!cached) std::ofstream(dir + "/DONE") << "ok\n";
    d->view.sealed_before = d->view.files.sealed_before = kMay1;
    std::fprintf(stderr, "rating bench: %llu rows in %s (%s) in %.1f s\n",
                 static_cast<unsigned long long>(d->rows), dir.c_str(),
                 cached ? "cached" : "written",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    // Catalog: 500 accounts of 20 VMs, one project each; 12 plans in 3 groups; 4 locations.
    tenancy::TenancyData td;
    td.domains = {{"d", "Provider", ""}};
    for (size_t l = 0; l < kLocations; ++l) td.locations.push_back({"loc" + std::to_string(l), ""});
    td.plan_groups = {{"g0", ""}, {"g1", ""}, {"g2", ""}};
    for (size_t p = 0; p < kPlans; ++p) {
      tenancy::Plan plan;
      plan.id = "plan" + std::to_string(p);
      plan.name = "Plan " + std::to_string(p);
      plan.group = "g" + std::to_string(p % 3);
      td.plans.push_back(plan);
    }
    for (size_t a = 0; a < d->vms / kVmsPerAccount; ++a) {
      const std::string id = "acct-" + std::to_string(1000 + a);
      td.accounts.push_back({id, "d", id, "", false});
      td.projects.push_back({"proj-" + std::to_string(1000 + a), id, ""});
    }
    for (size_t vm = 0; vm < d->vms; ++vm) {
      tenancy::Resource r;
      r.id = VmId(vm);
      r.versions = {V(kApr1 - 30 * kDay, "proj-" + std::to_string(1000 + vm / kVmsPerAccount),
                      "plan" + std::to_string(Mix(vm, 3) % kPlans),
                      "loc" + std::to_string(Mix(vm, 5) % kLocations))};
      td.resources.push_back(r);
    }
    // docs/rating.md §6: per plan, per_unit products of the 7 metrics (running capped at
    // 672 h); one graduated egress product per account and month (1 TB, next 9 TB, rest).
    std::vector<Product> ps;
    for (size_t p = 0; p < kPlans; ++p) {
      const std::string plan = "plan" + std::to_string(p);
      const MicroCredits f = static_cast<MicroCredits>(p + 1);
      Product run = StateHours("running." + plan, 1 << 1, 10'000 + 7'919 * f);
      SetCap(&run, "672");
      std::vector<Product> mine = {
          run,
          PerUnit("vcpu." + plan, "vm.vcpus", MetricKind::kGauge, "h", 3600, 3'000 + 100 * f),
          PerUnit("ram." + plan, "vm.memory_bytes", MetricKind::kGauge, "GiB·h", 3600 * kGiB,
                  1'500 + 37 * f),
          PerUnit("disk." + plan, "disk.size_bytes", MetricKind::kGauge, "GB·h", 3600 * kGB,
                  130 + 3 * f),
          PerUnit("rx." + plan, "net.rx_bytes", MetricKind::kCounter, "GB", kGB, 900 + 11 * f),
          PerUnit("read.ops." + plan, "disk.read_ops", MetricKind::kCounter, "million ops",
                  1'000'000, 50'000 + 1'000 * f),
          PerUnit("write.ops." + plan, "disk.write_ops", MetricKind::kCounter, "million ops",
                  1'000'000, 60'000 + 1'000 * f)};
      for (Product& x : mine) {
        x.match.plan = plan;
        ps.push_back(x);
      }
    }
    Product egress = UsageProduct("net.tx", "net.tx_bytes", MetricKind::kCounter, "GB", kGB);
    egress.model = PriceModel::kGraduated;
    egress.tiers = Tiers({{"1000", 90'000}, {"10000", 70'000}, {"", 50'000}}, kGB);
    ps.push_back(egress);
    RatingOptions options;
    if (const char* t = std::getenv("METERD_BENCH_THREADS")) options.threads = std::atoi(t);
    d->engine =
        Engine(BuildTenancy(td), Book({Version(1, kApr1 - 60 * kDay, ps)}), d->series, {}, options);
    return d;
  }();
  return b;
}

double CpuMs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

TEST(RatingBench, DISABLED_FullMonthAllAccounts) {
  Bench& d = *Data();
  ASSERT_NE(d.engine, nullptr);
  RatingRequest req = Month(kApr1, kMay1);
  std::vector<double> ms;
  RatingResult r;
  const char* runs_env = std::getenv("METERD_BENCH_RUNS");
  const int runs = runs_env ? std::atoi(runs_env) : 7;
  std::vector<double> cpu;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = CpuMs();
    r = RateOk(*d.engine, d.view, req);
    cpu.push_back(CpuMs() - c0);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  // Answers: every row scanned once; per product group the generator's quantities.
  EXPECT_EQ(r.stats.rows_scanned, d.rows);
  // Only stopped seconds are unpriced (the workload prices running hours only).
  for (const UnratedUsage& u : r.unpriced) EXPECT_EQ(u.metric, "vm.state");
  EXPECT_TRUE(r.unattributed.empty());
  unsigned __int128 rx = 0;
  for (const GroupTotal& g : r.groups) {
    if (g.key == "net.tx") {
      EXPECT_EQ(g.raw_quantity, d.quantity[5]);
    }
    if (g.key.rfind("rx.", 0) == 0) rx += g.raw_quantity;
  }
  EXPECT_EQ(rx, d.quantity[4]);
  const double med = Median(ms);
  std::fprintf(stderr,
               "full month, %zu VMs: median %.1f ms [min %.1f, max %.1f] over %zu runs, "
               "%.0f M rows/s, %zu lines, grand total %lld micro-credits, threads %d, "
               "CPU %.1f ms (median, all threads)\n"
               "  last run: plan %.1f ms, scan %.1f ms, price %.1f ms; %zu meters, %zu slots, "
               "%llu blocks\n",
               d.vms, med, *std::min_element(ms.begin(), ms.end()),
               *std::max_element(ms.begin(), ms.end()), ms.size(),
               static_cast<double>(d.rows) / med / 1e3, r.lines.size(),
               static_cast<long long>(r.total), r.stats.threads, Median(cpu), r.stats.plan_ms,
               r.stats.scan_ms, r.stats.price_ms, r.stats.meters, r.stats.slots,
               static_cast<unsigned long long>(r.stats.blocks_read));
}

TEST(RatingBench, DISABLED_OneAccountMonth) {
  Bench& d = *Data();
  ASSERT_NE(d.engine, nullptr);
  std::vector<double> ms;
  RatingResult r;
  MicroCredits sum = 0;
  for (int i = 0; i < 200; ++i) {
    RatingRequest req = Month(kApr1, kMay1);
    req.scope = ScopeKind::kAccount;
    req.scope_id = "acct-" + std::to_string(1000 + (i * 37) % (d.vms / kVmsPerAccount));
    const auto t0 = std::chrono::steady_clock::now();
    r = RateOk(*d.engine, d.view, req);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    sum += r.total;
    EXPECT_EQ(r.stats.rows_scanned, kVmsPerAccount * 8 * kHours);
  }
  std::sort(ms.begin(), ms.end());
  std::fprintf(stderr,
               "one account (20 VMs, 115,200 rows): median %.3f ms, p99 %.3f ms, max %.3f ms; "
               "%zu lines; plan %.3f scan %.3f price %.3f ms\n",
               ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back(), r.lines.size(),
               r.stats.plan_ms, r.stats.scan_ms, r.stats.price_ms);
  (void)sum;
}

// The sum of the accounts' totals equals the fleet's total, to the micro-credit.
TEST(RatingBench, DISABLED_AccountsAddUpToFleet) {
  Bench& d = *Data();
  ASSERT_NE(d.engine, nullptr);
  const RatingResult all = RateOk(*d.engine, d.view, Month(kApr1, kMay1));
  __int128 sum = 0;
  for (size_t a = 0; a < d.vms / kVmsPerAccount; ++a) {
    RatingRequest req = Month(kApr1, kMay1);
    req.scope = ScopeKind::kAccount;
    req.scope_id = "acct-" + std::to_string(1000 + a);
    sum += RateOk(*d.engine, d.view, req).total;
  }
  EXPECT_EQ(static_cast<MicroCredits>(sum), all.total);
}

}  // namespace rating_bench_test
}  // namespace meterd::engine::rating::testing
