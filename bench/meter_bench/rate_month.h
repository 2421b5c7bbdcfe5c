// meterd — bench/meter_bench/rate_month.h
//
// The month of the rating workload (`meter-bench rate`, ../shared/ANCHORS.md "Rating"): a
// seeded, deterministic fleet of N VMs x 8 metrics, its hourly rollup rows as the downsampler
// would seal them, its tenancy and price book, the answer the rating must give, and the same
// month as CSV for the SQL peers (bench/peers/rate_peers.mjs).
//
//   fleet        N VMs "vm-%06zu", 20 per account "acct-%05zu" (or N spread evenly over a given
//                number of accounts, consecutive VMs together), accounts in 5 domains, one
//                project each; 12 plans (copper .. platinum sizes), 4 locations; 5% of the VMs
//                stop once or twice for 1..48 hours (at a minute of the hour)
//   metrics      vm.state (running / stopped seconds), vm.vcpus, vm.memory_bytes and
//                disk.size_bytes gauges held every whole hour at the plan's size, net.rx/tx
//                bytes and disk.read/write ops counters (a reset when a stopped VM starts)
//   price book   running hours at the plan's price capped at 672 h per VM per month, stopped
//                hours cheaper, vCPU h / RAM GiB·h / disk GiB·h per location, egress (tx) GB in
//                graduated tiers per account (first 1 TB, next 9 TB, rest), ingress GB and
//                million disk ops per unit; rounding half-even to whole micro-credits
//   expected     PriceMonth (engine/pricebook/pricing.h) over the generator's own exact line
//                quantities: the grand total and each account's total
//
// Every value is a pure function of (seed, VM, metric, hour) except the counters' running
// values, which chain hour to hour: NextHour must be called for hours 0, 1, ... in order.
// Thread-safety: one RateMonth per thread; the catalog it builds is immutable and shareable.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/pricebook/money.h"
#include "engine/pricebook/price_book.h"
#include "engine/registry/series_registry.h"
#include "engine/tenancy/tenancy.h"
#include "storage/base/result.h"
#include "storage/rollup.h"

namespace meterd::bench::rate {

using engine::pricebook::MicroCredits;

constexpr size_t kVmsPerAccount = 20;
constexpr size_t kRateMetrics = 8;
constexpr size_t kDomains = 5;
constexpr int64_t kCapHours = 672;

// The workload's metrics, in the order of their quantities below.
enum RateMetric : uint8_t {
  kState = 0,  // two quantities: running seconds, stopped seconds
  kVcpus,
  kMemory,
  kDisk,
  kRxBytes,
  kTxBytes,
  kReadOps,
  kWriteOps,
};
const char* RateMetricName(size_t metric);  // "vm.state", "vm.vcpus", ...

// Exact raw quantities of one VM's month, per priced quantity: running s, stopped s, then the
// three gauges' integrals (value x s) and the four counters' increases.
constexpr size_t kQuantities = kRateMetrics + 1;
using VmQuantities = std::array<unsigned __int128, kQuantities>;

struct RateMonthOptions {
  size_t vms = 10000;
  uint64_t seed = 42;
  int64_t month_start = 1793491200;  // 2026-11-01T00:00:00Z
  // Accounts the VMs are spread over (consecutive VMs in one account, as even as can be);
  // 0: kVmsPerAccount per account. REQUIRES: accounts <= vms.
  size_t accounts = 0;
  // Hours of the month that NextHour will be asked for (its first ones; 0: all): only their
  // running minutes are kept. Expected() needs them all.
  size_t hours = 0;
};

struct PlanSpec {
  const char* id;
  const char* name;
  const char* group;
  uint32_t vcpus;
  uint64_t memory_bytes;
  uint64_t disk_bytes;
  MicroCredits running_per_hour;
  MicroCredits stopped_per_hour;
};
struct LocationSpec {
  const char* id;
  const char* name;
  MicroCredits vcpu_hour;  // per vCPU·h
  MicroCredits ram_gib_hour;
  MicroCredits disk_gib_hour;
};
const std::vector<PlanSpec>& Plans();          // 12
const std::vector<LocationSpec>& Locations();  // 4

// One series of the month, in series-id order.
struct SeriesRef {
  uint64_t id;
  uint32_t vm;
  uint8_t metric;  // RateMetric
};

struct ExpectedCharges {
  MicroCredits total = 0;
  std::vector<MicroCredits> account_total;  // by account number
  size_t lines = 0;                         // priced lines with a nonzero quantity
  std::vector<uint64_t> line_counts;        // by account number: nonzero-quantity lines
};

class RateMonth {
 public:
  explicit RateMonth(const RateMonthOptions& options);

  size_t vms() const { return vms_.size(); }
  size_t accounts() const { return accounts_; }
  size_t hours() const { return hours_; }
  int64_t month_start() const { return options_.month_start; }
  int64_t month_end() const;
  uint64_t seed() const { return options_.seed; }
  const std::vector<SeriesRef>& series() const { return series_; }
  uint64_t rows() const { return static_cast<uint64_t>(series_.size()) * hours_; }

  static std::string ResourceId(size_t vm);
  static std::string AccountId(size_t account);
  static std::string DomainId(size_t domain);
  static std::string ProjectId(size_t account);
  size_t AccountOf(size_t vm) const;
  size_t FirstVmOf(size_t account) const;  // account's VMs are [FirstVmOf(a), FirstVmOf(a + 1))
  const PlanSpec& PlanOf(size_t vm) const { return Plans()[vms_[vm].plan]; }
  const LocationSpec& LocationOf(size_t vm) const { return Locations()[vms_[vm].location]; }

  // The rows of the next hour (0, 1, ...) for every series, sorted by series id, into *rows
  // (replaced); the generator adds them to its quantities. REQUIRES: next_hour() < hours().
  void NextHour(std::vector<storage::RollupRow>* rows);
  size_t next_hour() const { return next_hour_; }
  // The exact month quantities of a VM so far.
  const VmQuantities& quantities(size_t vm) const { return quantities_[vm]; }

  // The catalog of the month: every VM a resource from before the month, in its account's
  // project, location and plan; one price book version from before the month.
  Result<std::shared_ptr<const engine::tenancy::Tenancy>> BuildTenancy() const;
  static Result<std::shared_ptr<const engine::pricebook::PriceBook>> BuildPriceBook(
      int64_t effective_from);
  std::vector<engine::SeriesInfo> Series() const;

  // What the rating must give, from quantities() (call after the last hour).
  Result<ExpectedCharges> Expected(const engine::pricebook::PriceBook& book) const;

 private:
  struct Vm {
    uint8_t plan = 0;
    uint8_t location = 0;
    double net_rate[2] = {0, 0};  // rx, tx bytes per running second
    double ops_rate[2] = {0, 0};  // read, write ops per running second
    uint32_t io_duty = 0;         // per mille of hours with disk I/O
  };
  uint32_t RunningSeconds(size_t vm, size_t hour) const;

  RateMonthOptions options_;
  size_t accounts_ = 0;
  size_t hours_ = 0;       // of the month
  size_t kept_hours_ = 0;  // of running_minutes_ per VM
  size_t next_hour_ = 0;
  std::vector<Vm> vms_;
  std::vector<uint8_t> running_minutes_;  // vm x hour: minutes running (60: the whole hour)
  std::vector<SeriesRef> series_;
  std::vector<uint64_t> counter_value_;  // per series (index into series_): the last value
  std::vector<VmQuantities> quantities_;
};

// The month as CSV, for SQL engines (bench/peers/README.md describes the files):
//   buckets.csv    resource,metric,hour,value,stopped_seconds   in ingestion (hour) order; value
//                  is the raw quantity (vm.state: running seconds; gauges: the integral, value x
//                  seconds; counters: the increase), stopped_seconds vm.state's stopped seconds
//   resources.csv  resource,account,domain,project,plan,location
//   prices.csv     metric,part,plan,location,product,model,divisor,unit_price_micro,cap_raw:
//                  the product every (metric, part, plan, location) resolves to
//   tiers.csv      product,tier,lo_raw,hi_raw,unit_price_micro   (the last hi_raw is 2^63 - 1)
//   plans.csv      the plans with their prices, for people
//   expected_accounts.csv  account,amount   what the rating must give, per account
//   meta.json      the parameters and the expected grand total
class CsvExport {
 public:
  static Result<std::unique_ptr<CsvExport>> Create(const std::string& dir, const RateMonth& month);
  ~CsvExport();
  // Appends one hour's rows (as NextHour produced them).
  Status AddHour(const RateMonth& month, const std::vector<storage::RollupRow>& rows);
  // Writes the catalog files and meta.json, closes buckets.csv.
  Status Finish(const RateMonth& month, const engine::pricebook::PriceBook& book,
                const ExpectedCharges& expected);
  uint64_t bytes() const { return bytes_; }

 private:
  CsvExport() = default;
  std::string dir_;
  std::FILE* buckets_ = nullptr;
  std::string buffer_;
  std::vector<std::string> resource_ids_;  // by VM
  uint64_t bytes_ = 0;
};

// "2026-11" -> the unix second of its first instant (UTC). InvalidArgument otherwise.
Result<int64_t> ParseMonth(const std::string& text);

// What SealMonth did.
struct SealedMonth {
  double generate_seconds = 0;  // generating and sealing the hours (and the CSV, if asked)
  double merge_seconds = 0;     // merging the hour parts into the month file
  uint64_t rollup_bytes = 0;    // of the rollup files
  uint64_t rows = 0;            // rollup rows sealed
};

// Writes every hour of `month` through the real rollup store of the data directory `dir`
// (<dir>/rollup, created if missing): RollupStore::SealHour for each hour, then MergeParts into
// the month file, exactly as meterd's rollup clock seals and merges. `csv` (optional) receives
// every hour as well; progress goes to stderr. Checks that one month file with month->rows()
// rows is left. REQUIRES: month->next_hour() == 0, and no hour of the month sealed in `dir`.
// `hours` (0: the whole month) seals only the month's first `hours` hours and leaves them as
// hour parts, unmerged (as a server holds the current day), checking their row count.
Result<SealedMonth> SealMonth(RateMonth* month, const std::string& dir, CsvExport* csv,
                              bool progress, size_t hours = 0);

}  // namespace meterd::bench::rate
