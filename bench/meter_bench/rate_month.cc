// meterd — bench/meter_bench/rate_month.cc
#include "bench/meter_bench/rate_month.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>
#include <random>

#include "engine/pricebook/pricing.h"
#include "engine/pricebook/units.h"
#include "sim/fleet_sim.h"
#include "storage/base/calendar.h"
#include "storage/base/clock.h"
#include "storage/io/file.h"
#include "storage/sample_batch.h"

namespace meterd::bench::rate {
namespace {

namespace pb = engine::pricebook;
namespace tn = engine::tenancy;
using storage::RollupRow;
using u128 = unsigned __int128;
using namespace storage;  // kCol* names

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr int64_t kHourSeconds = 3600;
// Resources and the price book exist from 90 days before the month: nothing is unattributed.
constexpr int64_t kCatalogLeadSeconds = 90 * 86400;

// The metrics' numbers in the fleet simulator (their series ids are the simulator's).
constexpr size_t kSimMetric[kRateMetrics] = {0, 1, 2, 4, 9, 10, 7, 8};
constexpr const char* kMetricNames[kRateMetrics] = {
    "vm.state",     "vm.vcpus",     "vm.memory_bytes", "disk.size_bytes",
    "net.rx_bytes", "net.tx_bytes", "disk.read_ops",   "disk.write_ops"};
// 1000 + 500 sin(15° h), per mille: the diurnal traffic curve (integers, so the month is the
// same on every machine).
constexpr uint32_t kDiurnal[24] = {1000, 1129, 1250, 1354, 1433, 1483, 1500, 1483,
                                   1433, 1354, 1250, 1129, 1000, 871,  750,  646,
                                   567,  517,  500,  517,  567,  646,  750,  871};
// How common each plan is (small plans dominate a public cloud).
constexpr uint32_t kPlanWeight[12] = {14, 12, 12, 10, 10, 9, 8, 7, 6, 5, 4, 3};

// Egress tiers per account per month, in GB: first 1 TB, next 9 TB, the rest.
constexpr int64_t kEgressTierGb[2] = {1000, 10000};
constexpr MicroCredits kEgressPrice[3] = {89000, 67000, 43000};
constexpr MicroCredits kIngressPerGb = 9700;
constexpr MicroCredits kReadOpsPerMillion = 231000;
constexpr MicroCredits kWriteOpsPerMillion = 377000;

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 32);
}

// The quantity index of a metric's (first) quantity.
size_t QuantityOf(size_t metric) { return metric == kState ? 0 : metric + 1; }

// The product ids of a VM's nine quantities.
std::array<std::string, kQuantities> ProductIds(const PlanSpec& plan, const LocationSpec& loc) {
  return {std::string("running.") + plan.id,
          std::string("stopped.") + plan.id,
          std::string("vcpu.") + loc.id,
          std::string("ram.") + loc.id,
          std::string("disk.") + loc.id,
          "net.ingress",
          "net.egress",
          "disk.read_ops",
          "disk.write_ops"};
}

void Append(std::string* out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

std::string Text128(u128 v) { return pb::ToString128(v); }

}  // namespace

const char* RateMetricName(size_t metric) { return kMetricNames[metric]; }

const std::vector<PlanSpec>& Plans() {
  // Running and stopped prices per hour in micro-credits (0.0069 credits/h = 6900).
  static const std::vector<PlanSpec> plans = {
      {"copper.xs", "Copper XS - 1 vCPU, 512 MiB RAM", "copper", 1, 512 * kMiB, 10 * kGiB, 6900,
       1300},
      {"copper.s", "Copper S - 1 vCPU, 1 GiB RAM", "copper", 1, 1 * kGiB, 20 * kGiB, 11700, 2100},
      {"bronze.s", "Bronze S - 1 vCPU, 2 GiB RAM", "bronze", 1, 2 * kGiB, 20 * kGiB, 17300, 2900},
      {"bronze.m", "Bronze M - 2 vCPU, 2 GiB RAM", "bronze", 2, 2 * kGiB, 40 * kGiB, 25900, 4300},
      {"silver.s", "Silver S - 1 vCPU, 4 GiB RAM", "silver", 1, 4 * kGiB, 40 * kGiB, 31100, 5300},
      {"silver.m", "Silver M - 2 vCPU, 4 GiB RAM", "silver", 2, 4 * kGiB, 60 * kGiB, 43700, 7100},
      {"silver.l", "Silver L - 2 vCPU, 8 GiB RAM", "silver", 2, 8 * kGiB, 80 * kGiB, 62300, 9700},
      {"gold.m", "Gold M - 4 vCPU, 8 GiB RAM", "gold", 4, 8 * kGiB, 100 * kGiB, 88900, 13900},
      {"gold.l", "Gold L - 4 vCPU, 16 GiB RAM", "gold", 4, 16 * kGiB, 160 * kGiB, 131300, 19700},
      {"gold.xl", "Gold XL - 8 vCPU, 16 GiB RAM", "gold", 8, 16 * kGiB, 200 * kGiB, 176900, 25100},
      {"platinum.xl", "Platinum XL - 8 vCPU, 32 GiB RAM", "platinum", 8, 32 * kGiB, 320 * kGiB,
       263300, 37900},
      {"platinum.xxl", "Platinum XXL - 16 vCPU, 64 GiB RAM", "platinum", 16, 64 * kGiB, 640 * kGiB,
       521700, 73300},
  };
  return plans;
}

const std::vector<LocationSpec>& Locations() {
  static const std::vector<LocationSpec> locations = {
      {"lon1", "London 1", 3100, 1700, 130},
      {"par1", "Paris 1", 3300, 1900, 110},
      {"fra1", "Frankfurt 1", 2900, 1500, 150},
      {"ams1", "Amsterdam 1", 3700, 2300, 170},
  };
  return locations;
}

Result<int64_t> ParseMonth(const std::string& text) {
  int year = 0, month = 0;
  char tail = 0;
  if (text.size() != 7 || std::sscanf(text.c_str(), "%4d-%2d%c", &year, &month, &tail) != 2 ||
      year < 1970 || year > 9999 || month < 1 || month > 12) {
    return Status::InvalidArgument("--month: expected YYYY-MM (e.g. 2026-11), got \"" + text +
                                   "\"");
  }
  return base::DaysFromCivil(year, static_cast<unsigned>(month), 1) * 86400;
}

Result<SealedMonth> SealMonth(RateMonth* month, const std::string& dir, CsvExport* csv,
                              bool progress, size_t hours) {
  const bool whole = hours == 0 || hours >= month->hours();
  if (whole) hours = month->hours();
  auto seconds_since = [](int64_t t0) {
    return static_cast<double>(base::MonotonicNanos() - t0) / 1e9;
  };
  SealedMonth out;
  std::vector<std::string> damage;
  METERD_ASSIGN_OR_RETURN(auto store, storage::RollupStore::Open(dir, &damage));
  if (!damage.empty())
    return Status::Corruption("damaged rollup file in " + dir + ": " + damage[0]);
  std::vector<RollupRow> rows;
  const int64_t t0 = base::MonotonicNanos();
  uint64_t sealed_rows = 0;
  for (size_t h = 0; h < hours; ++h) {
    month->NextHour(&rows);
    if (csv != nullptr) METERD_RETURN_IF_ERROR(csv->AddHour(*month, rows));
    METERD_RETURN_IF_ERROR(store->SealHour(rows.front().hour, rows));
    sealed_rows += rows.size();
    if (progress && ((h + 1) % 24 == 0 || h + 1 == hours)) {
      std::fprintf(stderr, "\r  sealed hour %zu of %zu (%.1f s)   ", h + 1, hours,
                   seconds_since(t0));
    }
  }
  out.generate_seconds = seconds_since(t0);
  out.rows = sealed_rows;
  if (!whole) {
    const storage::RollupStoreStats st = store->stats();
    if (st.rows != sealed_rows) {
      return Status::InvalidArgument("the store holds " + std::to_string(st.rows) +
                                     " rows, sealed " + std::to_string(sealed_rows));
    }
    out.rollup_bytes = st.bytes;
    if (progress) std::fprintf(stderr, "\r%70s\r", "");
    return out;
  }
  if (progress) {
    std::fprintf(stderr, "\r  merging %zu hour parts into the month file   ", month->hours());
  }
  const int64_t t1 = base::MonotonicNanos();
  METERD_RETURN_IF_ERROR(store->MergeParts(1));
  out.merge_seconds = seconds_since(t1);
  if (progress) std::fprintf(stderr, "\r%70s\r", "");
  const storage::RollupStoreStats st = store->stats();
  if (st.month_files != 1 || st.part_files != 0 || st.rows != month->rows()) {
    return Status::InvalidArgument("the merge left " + std::to_string(st.month_files) +
                                   " month files and " + std::to_string(st.part_files) +
                                   " parts holding " + std::to_string(st.rows) + " rows");
  }
  out.rollup_bytes = st.bytes;
  return out;
}

size_t RateMonth::AccountOf(size_t vm) const {
  if (options_.accounts == 0) return vm / kVmsPerAccount;
  // The last account a with FirstVmOf(a) = floor(a * vms / accounts) <= vm.
  return ((vm + 1) * accounts_ - 1) / vms_.size();
}

size_t RateMonth::FirstVmOf(size_t account) const {
  if (options_.accounts == 0) return std::min(vms_.size(), account * kVmsPerAccount);
  return account * vms_.size() / accounts_;
}

RateMonth::RateMonth(const RateMonthOptions& options) : options_(options) {
  accounts_ = options.accounts != 0 ? std::min(options.accounts, options.vms)
                                    : (options.vms + kVmsPerAccount - 1) / kVmsPerAccount;
  hours_ = static_cast<size_t>((pb::NextMonthStart(options.month_start) - options.month_start) /
                               kHourSeconds);
  vms_.resize(options.vms);
  // Only the hours that will be generated are kept (2 million VMs x a month = 1.4 GB); the
  // stops are drawn over the whole month either way, so the hours kept do not depend on it.
  kept_hours_ = options.hours == 0 ? hours_ : std::min(hours_, options.hours);
  running_minutes_.assign(options.vms * kept_hours_, 60);
  uint32_t weight_sum = 0;
  for (uint32_t w : kPlanWeight) weight_sum += w;
  for (size_t v = 0; v < options.vms; ++v) {
    std::mt19937_64 rng(Mix(options.seed, v));
    Vm& vm = vms_[v];
    uint32_t pick = static_cast<uint32_t>(rng() % weight_sum);
    while (pick >= kPlanWeight[vm.plan]) pick -= kPlanWeight[vm.plan++];
    // Most of an account's VMs are in its home location.
    const uint64_t home = Mix(options.seed ^ 0x10CA7104, AccountOf(v)) % Locations().size();
    vm.location = static_cast<uint8_t>(rng() % 5 < 4 ? home : rng() % Locations().size());
    // Traffic: log-uniform-ish levels from 1 KB/s to ~8 MB/s, egress 20..120% of ingress.
    const double level =
        static_cast<double>((uint64_t{1000} << (rng() % 13)) * (1000 + rng() % 1000) / 1000);
    vm.net_rate[0] = level;
    vm.net_rate[1] = level * static_cast<double>(200 + rng() % 1000) / 1000.0;
    vm.ops_rate[0] = static_cast<double>(1 + rng() % 500);
    vm.ops_rate[1] = static_cast<double>(1 + rng() % 300);
    vm.io_duty = static_cast<uint32_t>(200 + rng() % 800);
    if (rng() % 20 == 0) {  // 5% of the VMs stop once or twice for 1..48 hours
      uint8_t* minutes = &running_minutes_[v * kept_hours_];
      const size_t stops = 1 + rng() % 2;
      for (size_t s = 0; s < stops; ++s) {
        const size_t at = rng() % hours_, len = 1 + rng() % 48;
        const uint8_t stop_minute = static_cast<uint8_t>(rng() % 60);
        if (at < kept_hours_) minutes[at] = std::min(minutes[at], stop_minute);
        for (size_t h = at + 1; h < std::min(kept_hours_, at + len); ++h) minutes[h] = 0;
        if (at + len < hours_) {
          const uint8_t start_minute = static_cast<uint8_t>(rng() % 60);  // restart
          if (at + len < kept_hours_) minutes[at + len] = start_minute;
        }
      }
    }
  }
  series_.reserve(options.vms * kRateMetrics);
  for (size_t v = 0; v < options.vms; ++v) {
    for (size_t m = 0; m < kRateMetrics; ++m) {
      series_.push_back(SeriesRef{sim::SeriesId(v, kSimMetric[m]), static_cast<uint32_t>(v),
                                  static_cast<uint8_t>(m)});
    }
  }
  std::sort(series_.begin(), series_.end(),
            [](const SeriesRef& a, const SeriesRef& b) { return a.id < b.id; });
  for (size_t i = 1; i < series_.size(); ++i) {
    METERD_CHECK(series_[i].id != series_[i - 1].id, "rate workload: series id collision");
  }
  counter_value_.resize(series_.size());
  for (size_t i = 0; i < series_.size(); ++i) {
    counter_value_[i] = Mix(series_[i].id, options.seed) % 1000000;
  }
  quantities_.assign(options.vms, VmQuantities{});
}

int64_t RateMonth::month_end() const {
  return options_.month_start + static_cast<int64_t>(hours_) * kHourSeconds;
}

uint32_t RateMonth::RunningSeconds(size_t vm, size_t hour) const {
  return uint32_t{running_minutes_[vm * kept_hours_ + hour]} * 60;
}

std::string RateMonth::ResourceId(size_t vm) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "vm-%06zu", vm);  // the fleet simulator's resource names
  return buf;
}

std::string RateMonth::AccountId(size_t account) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "acct-%05zu", account);
  return buf;
}

std::string RateMonth::DomainId(size_t domain) { return "reseller-" + std::to_string(domain); }

std::string RateMonth::ProjectId(size_t account) { return AccountId(account) + "-default"; }

void RateMonth::NextHour(std::vector<RollupRow>* rows) {
  METERD_CHECK(next_hour_ < kept_hours_, "rate workload: NextHour past the hours generated");
  const size_t h = next_hour_++;
  const int64_t hour = options_.month_start + static_cast<int64_t>(h) * kHourSeconds;
  rows->resize(series_.size());
  for (size_t i = 0; i < series_.size(); ++i) {
    const SeriesRef& s = series_[i];
    const Vm& vm = vms_[s.vm];
    const PlanSpec& plan = Plans()[vm.plan];
    VmQuantities& q = quantities_[s.vm];
    RollupRow& r = (*rows)[i];
    r.series_id = s.id;
    r.hour = hour;
    r.col.fill(0);
    auto& c = r.col;
    // Per-second agents: 3600 samples an hour (a stopped VM's agent keeps reporting).
    c[kColCount] = 3600;
    c[kColFirstOffset] = 0;
    c[kColLastOffset] = 3599;
    const uint64_t run = RunningSeconds(s.vm, h);
    const bool was_stopped = h > 0 && RunningSeconds(s.vm, h - 1) == 0;
    switch (s.metric) {
      case kState: {
        c[kColHeld] = 3600;
        c[kColState0 + 1] = run;
        c[kColState0 + 2] = 3600 - run;
        c[kColMin] = run > 0 ? 1 : 2;
        c[kColMax] = run < 3600 ? 2 : 1;
        c[kColLast] = (run == 3600 || (was_stopped && run > 0)) ? 1 : 2;
        q[0] += run;
        q[1] += 3600 - run;
        break;
      }
      case kVcpus:
      case kMemory:
      case kDisk: {
        const uint64_t v = s.metric == kVcpus    ? plan.vcpus
                           : s.metric == kMemory ? plan.memory_bytes
                                                 : plan.disk_bytes;
        const u128 integral = static_cast<u128>(v) * 3600;
        c[kColHeld] = 3600;
        c[kColSum] = storage::DoubleToBits(static_cast<double>(v) * 3600.0);
        c[kColMin] = c[kColMax] = c[kColLast] = v;
        c[kColIntegralLo] = static_cast<uint64_t>(integral);
        c[kColIntegralHi] = static_cast<uint64_t>(integral >> 64);
        q[QuantityOf(s.metric)] += integral;
        break;
      }
      default: {
        // Diurnal traffic with noise; disk I/O only in some hours; a stopped VM's counters are
        // flat, and restart from 0 when it starts again (libvirt's do).
        const bool net = s.metric == kRxBytes || s.metric == kTxBytes;
        const double rate =
            net ? vm.net_rate[s.metric - kRxBytes] : vm.ops_rate[s.metric - kReadOps];
        const uint64_t noise = 500 + Mix(s.id ^ options_.seed, h) % 1000;  // per mille
        const bool active = net || Mix(s.id, h ^ 0xD15C) % 1000 < vm.io_duty;
        const uint64_t inc = active ? static_cast<uint64_t>(rate * static_cast<double>(run)) *
                                          kDiurnal[(hour / kHourSeconds) % 24] / 1000 * noise / 1000
                                    : 0;
        uint64_t& cum = counter_value_[i];
        const bool reset = was_stopped && run > 0;
        if (reset) cum = 0;
        const uint64_t first = cum + (run > 0 ? inc / 3600 : 0);
        cum += inc;
        c[kColMin] = reset ? 0 : first;
        c[kColMax] = c[kColLast] = cum;
        c[kColIncrease] = inc;
        c[kColResets] = reset ? 1 : 0;
        q[QuantityOf(s.metric)] += inc;
        break;
      }
    }
  }
}

Result<std::shared_ptr<const tn::Tenancy>> RateMonth::BuildTenancy() const {
  tn::TenancyData d;
  for (size_t i = 0; i < kDomains; ++i) {
    d.domains.push_back({DomainId(i), "Reseller " + std::to_string(i), ""});
  }
  for (size_t a = 0; a < accounts(); ++a) {
    tn::Account acct;
    acct.id = AccountId(a);
    acct.domain = DomainId(a % kDomains);
    acct.name = "Account " + std::to_string(a);
    d.accounts.push_back(std::move(acct));
    d.projects.push_back({ProjectId(a), AccountId(a), "default"});
  }
  for (const LocationSpec& l : Locations()) d.locations.push_back({l.id, l.name});
  for (const PlanSpec& p : Plans()) {
    if (std::none_of(d.plan_groups.begin(), d.plan_groups.end(),
                     [&](const tn::PlanGroup& g) { return g.id == p.group; })) {
      d.plan_groups.push_back({p.group, std::string(p.group) + " offerings"});
    }
    tn::Plan plan;
    plan.id = p.id;
    plan.name = p.name;
    plan.group = p.group;
    plan.vcpus = p.vcpus;
    plan.memory_bytes = p.memory_bytes;
    plan.disk_bytes = p.disk_bytes;
    d.plans.push_back(std::move(plan));
  }
  d.resources.reserve(vms());
  for (size_t v = 0; v < vms(); ++v) {
    tn::Resource r;
    r.id = ResourceId(v);
    tn::ResourceVersion version;
    version.effective_from = options_.month_start - kCatalogLeadSeconds;
    version.type = "vm";
    version.project = ProjectId(AccountOf(v));
    version.location = LocationOf(v).id;
    version.plan = PlanOf(v).id;
    version.storage_tier = "ssd";
    r.versions.push_back(std::move(version));
    d.resources.push_back(std::move(r));
  }
  return tn::Tenancy::Build(std::move(d));
}

Result<std::shared_ptr<const pb::PriceBook>> RateMonth::BuildPriceBook(int64_t month_start) {
  pb::PriceBookVersion v;
  v.version = 1;
  v.effective_from = month_start - kCatalogLeadSeconds;
  v.description = "meter-bench rate list prices";
  v.rounding = pb::RoundingMode::kHalfEven;
  v.default_currency = "CR";
  pb::Currency credit;
  credit.code = "CR";
  credit.per_credit = pb::Decimal::FromInt(1);
  credit.suffix = " cr";
  credit.minor_digits = 4;
  v.currencies.push_back(credit);

  using engine::MetricKind;
  // A product of `metric` in `unit`, its divisor resolved the way a catalog document's is.
  auto product = [](std::string id, std::string name, std::string group, std::string metric,
                    MetricKind kind, std::string_view metric_unit,
                    std::string_view unit) -> Result<pb::Product> {
    pb::Product p;
    p.id = std::move(id);
    p.name = std::move(name);
    p.group = std::move(group);
    p.metric = std::move(metric);
    p.kind = kind;
    METERD_ASSIGN_OR_RETURN(pb::BillingUnit u, pb::ResolveUnit(kind, metric_unit, unit));
    p.unit = u.name;
    p.divisor = u.divisor;
    return p;
  };
  for (const PlanSpec& plan : Plans()) {
    METERD_ASSIGN_OR_RETURN(pb::Product running,
                            product(std::string("running.") + plan.id, plan.name, "Running VM",
                                    "vm.state", MetricKind::kState, "state", "h"));
    running.state_mask = 1u << 1;  // running
    running.match.plan = plan.id;
    running.unit_price = plan.running_per_hour;
    running.cap = pb::Decimal::FromInt(kCapHours);
    running.cap_raw = static_cast<u128>(kCapHours) * running.divisor;
    v.products.push_back(std::move(running));
    METERD_ASSIGN_OR_RETURN(pb::Product stopped,
                            product(std::string("stopped.") + plan.id, plan.name, "Stopped VM",
                                    "vm.state", MetricKind::kState, "state", "h"));
    stopped.state_mask = (1u << 2) | (1u << 3);  // stopped, allocated
    stopped.match.plan = plan.id;
    stopped.unit_price = plan.stopped_per_hour;
    v.products.push_back(std::move(stopped));
  }
  for (const LocationSpec& loc : Locations()) {
    struct Def {
      const char* prefix;
      const char* name;
      const char* group;
      const char* metric;
      const char* metric_unit;
      const char* unit;
      MicroCredits price;
    };
    const Def defs[] = {
        {"vcpu.", "vCPU", "Compute", "vm.vcpus", "vcpus", "h", loc.vcpu_hour},
        {"ram.", "RAM", "Compute", "vm.memory_bytes", "bytes", "GiB·h", loc.ram_gib_hour},
        {"disk.", "Disk", "Storage", "disk.size_bytes", "bytes", "GiB·h", loc.disk_gib_hour},
    };
    for (const Def& d : defs) {
      METERD_ASSIGN_OR_RETURN(
          pb::Product p,
          product(d.prefix + std::string(loc.id), std::string(d.name) + ", " + loc.name, d.group,
                  d.metric, MetricKind::kGauge, d.metric_unit, d.unit));
      p.match.location = loc.id;
      p.match.resource_type = "vm";
      p.unit_price = d.price;
      v.products.push_back(std::move(p));
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(pb::Product egress,
                            product("net.egress", "Bytes sent", "Network", "net.tx_bytes",
                                    MetricKind::kCounter, "bytes", "GB"));
    egress.model = pb::PriceModel::kGraduated;
    for (size_t t = 0; t < 3; ++t) {
      pb::Tier tier;
      if (t < 2) {
        tier.up_to = pb::Decimal::FromInt(kEgressTierGb[t]);
        tier.up_to_raw = static_cast<u128>(kEgressTierGb[t]) * egress.divisor;
      }
      tier.unit_price = kEgressPrice[t];
      egress.tiers.push_back(tier);
    }
    v.products.push_back(std::move(egress));
    METERD_ASSIGN_OR_RETURN(pb::Product ingress,
                            product("net.ingress", "Bytes received", "Network", "net.rx_bytes",
                                    MetricKind::kCounter, "bytes", "GB"));
    ingress.unit_price = kIngressPerGb;
    v.products.push_back(std::move(ingress));
    METERD_ASSIGN_OR_RETURN(pb::Product reads,
                            product("disk.read_ops", "Disk read operations", "Storage",
                                    "disk.read_ops", MetricKind::kCounter, "ops", "million ops"));
    reads.unit_price = kReadOpsPerMillion;
    v.products.push_back(std::move(reads));
    METERD_ASSIGN_OR_RETURN(pb::Product writes,
                            product("disk.write_ops", "Disk write operations", "Storage",
                                    "disk.write_ops", MetricKind::kCounter, "ops", "million ops"));
    writes.unit_price = kWriteOpsPerMillion;
    v.products.push_back(std::move(writes));
  }
  std::vector<pb::PriceBookVersion> versions;
  versions.push_back(std::move(v));
  return pb::PriceBook::Build(std::move(versions));
}

std::vector<engine::SeriesInfo> RateMonth::Series() const {
  std::vector<engine::SeriesInfo> out;
  out.reserve(series_.size());
  for (const SeriesRef& s : series_) {
    engine::SeriesInfo info;
    info.id = s.id;
    info.resource = ResourceId(s.vm);
    info.metric = kMetricNames[s.metric];
    info.type = ValueType::kInt;
    info.kind = s.metric == kState ? engine::MetricKind::kState
                : (s.metric == kVcpus || s.metric == kMemory || s.metric == kDisk)
                    ? engine::MetricKind::kGauge
                    : engine::MetricKind::kCounter;
    out.push_back(std::move(info));
  }
  return out;
}

Result<ExpectedCharges> RateMonth::Expected(const pb::PriceBook& book) const {
  const pb::PriceBookVersion* version = book.VersionAt(month_start());
  if (version == nullptr) return Status::InvalidArgument("no price book version for the month");
  ExpectedCharges e;
  e.account_total.assign(accounts(), 0);
  e.line_counts.assign(accounts(), 0);
  struct Pending {
    const pb::Product* product;
    std::vector<pb::UsageSlice> slices;
  };
  for (size_t a = 0; a < accounts(); ++a) {
    // Per product id, the account's lines in resource-id order (VM numbers ascending, as the
    // ids are zero-padded).
    std::vector<std::pair<std::string, Pending>> groups;
    const size_t first = FirstVmOf(a), end = FirstVmOf(a + 1);
    for (size_t vm = first; vm < end; ++vm) {
      const auto ids = ProductIds(PlanOf(vm), LocationOf(vm));
      for (size_t k = 0; k < kQuantities; ++k) {
        auto it = std::find_if(groups.begin(), groups.end(),
                               [&](const auto& g) { return g.first == ids[k]; });
        if (it == groups.end()) {
          const pb::Product* p = version->FindProduct(ids[k]);
          if (p == nullptr) return Status::InvalidArgument("rate workload: no product " + ids[k]);
          groups.push_back({ids[k], Pending{p, {}}});
          it = std::prev(groups.end());
        }
        const uint32_t line = static_cast<uint32_t>(vm * kQuantities + k);
        it->second.slices.push_back(
            pb::UsageSlice{line, version, it->second.product, quantities_[vm][k]});
        if (quantities_[vm][k] != 0) ++e.line_counts[a];
      }
    }
    std::vector<pb::LineCharge> lines;
    for (auto& [id, g] : groups) {
      lines.clear();
      METERD_RETURN_IF_ERROR(pb::PriceMonth(g.slices, &lines));
      for (const pb::LineCharge& l : lines) e.account_total[a] += l.amount;
    }
    e.total += e.account_total[a];
    e.lines += e.line_counts[a];
  }
  return e;
}

// ---- CSV ----

Result<std::unique_ptr<CsvExport>> CsvExport::Create(const std::string& dir,
                                                     const RateMonth& month) {
  METERD_RETURN_IF_ERROR(storage::CreateDirIfMissing(dir));
  std::unique_ptr<CsvExport> e(new CsvExport());
  e->dir_ = dir;
  const std::string path = dir + "/buckets.csv";
  e->buckets_ = std::fopen(path.c_str(), "w");
  if (e->buckets_ == nullptr) {
    return Status::IOError("cannot create " + path + ": " + std::strerror(errno));
  }
  e->buffer_ = "resource,metric,hour,value,stopped_seconds\n";
  for (size_t v = 0; v < month.vms(); ++v) e->resource_ids_.push_back(RateMonth::ResourceId(v));
  return e;
}

CsvExport::~CsvExport() {
  if (buckets_ != nullptr) std::fclose(buckets_);
}

Status CsvExport::AddHour(const RateMonth& month, const std::vector<RollupRow>& rows) {
  const auto& series = month.series();
  for (size_t i = 0; i < rows.size(); ++i) {
    const RollupRow& r = rows[i];
    const SeriesRef& s = series[i];
    buffer_ += resource_ids_[s.vm];
    buffer_ += ',';
    buffer_ += kMetricNames[s.metric];
    buffer_ += ',';
    Append(&buffer_, static_cast<uint64_t>(r.hour));
    buffer_ += ',';
    switch (s.metric) {
      case kState:
        Append(&buffer_, r.col[kColState0 + 1]);
        buffer_ += ',';
        Append(&buffer_, r.col[kColState0 + 2]);
        break;
      case kVcpus:
      case kMemory:
      case kDisk:
        if (r.col[kColIntegralHi] != 0)
          return Status::InvalidArgument("integral above 2^64 in a row");
        Append(&buffer_, r.col[kColIntegralLo]);
        buffer_ += ",0";
        break;
      default:
        Append(&buffer_, r.col[kColIncrease]);
        buffer_ += ",0";
        break;
    }
    buffer_ += '\n';
    if (buffer_.size() > (size_t{1} << 20)) {
      if (std::fwrite(buffer_.data(), 1, buffer_.size(), buckets_) != buffer_.size()) {
        return Status::IOError("writing " + dir_ + "/buckets.csv: " + std::strerror(errno));
      }
      bytes_ += buffer_.size();
      buffer_.clear();
    }
  }
  return Status::OK();
}

Status CsvExport::Finish(const RateMonth& month, const pb::PriceBook& book,
                         const ExpectedCharges& expected) {
  if (std::fwrite(buffer_.data(), 1, buffer_.size(), buckets_) != buffer_.size() ||
      std::fclose(buckets_) != 0) {
    buckets_ = nullptr;
    return Status::IOError("writing " + dir_ + "/buckets.csv: " + std::strerror(errno));
  }
  buckets_ = nullptr;
  bytes_ += buffer_.size();
  buffer_.clear();
  buffer_.shrink_to_fit();

  auto write = [&](const std::string& name, const std::string& text) {
    return storage::WriteFileAtomic(dir_ + "/" + name, text);
  };
  std::string s = "resource,account,domain,project,plan,location\n";
  for (size_t v = 0; v < month.vms(); ++v) {
    const size_t a = month.AccountOf(v);
    s += resource_ids_[v] + "," + RateMonth::AccountId(a) + "," +
         RateMonth::DomainId(a % kDomains) + "," + RateMonth::ProjectId(a) + "," +
         month.PlanOf(v).id + "," + month.LocationOf(v).id + "\n";
  }
  METERD_RETURN_IF_ERROR(write("resources.csv", s));

  // The products each (metric, part, plan, location) resolves to, as meterd resolves them.
  const pb::PriceBookVersion* version = book.VersionAt(month.month_start());
  s = "metric,part,plan,location,product,model,divisor,unit_price_micro,cap_raw\n";
  std::string tiers = "product,tier,lo_raw,hi_raw,unit_price_micro\n";
  std::vector<const pb::Product*> graduated;
  for (const PlanSpec& plan : Plans()) {
    for (const LocationSpec& loc : Locations()) {
      const pb::MatchKey key{"vm", plan.id, plan.group, loc.id, "ssd"};
      for (size_t m = 0; m < kRateMetrics; ++m) {
        const int parts = m == kState ? 2 : 1;
        for (int part = 0; part < parts; ++part) {
          const pb::Product* p = version->Resolve(kMetricNames[m], m == kState ? 1 + part : 0, key);
          if (p == nullptr)
            return Status::InvalidArgument("no product resolves " + std::string(kMetricNames[m]));
          if (p->model != pb::PriceModel::kPerUnit && p->model != pb::PriceModel::kGraduated) {
            return Status::InvalidArgument("rate workload: unexpected price model");
          }
          s += std::string(kMetricNames[m]) + "," +
               (m == kState ? (part == 0 ? "running" : "stopped") : "value") + "," + plan.id + "," +
               loc.id + "," + p->id + "," + pb::PriceModelName(p->model) + "," +
               std::to_string(p->divisor) + "," + std::to_string(p->unit_price) + "," +
               Text128(p->cap_raw) + "\n";
          if (p->model == pb::PriceModel::kGraduated &&
              std::find(graduated.begin(), graduated.end(), p) == graduated.end()) {
            graduated.push_back(p);
            u128 from = 0;
            for (size_t t = 0; t < p->tiers.size(); ++t) {
              const u128 up_to = p->tiers[t].up_to_raw == pb::kUnbounded
                                     ? static_cast<u128>(INT64_MAX)
                                     : p->tiers[t].up_to_raw;
              tiers += p->id + "," + std::to_string(t) + "," + Text128(from) + "," +
                       Text128(up_to) + "," + std::to_string(p->tiers[t].unit_price) + "\n";
              from = up_to;
            }
          }
        }
      }
    }
  }
  METERD_RETURN_IF_ERROR(write("prices.csv", s));
  METERD_RETURN_IF_ERROR(write("tiers.csv", tiers));

  s = "plan,name,group,vcpus,memory_bytes,disk_bytes,running_per_hour_micro,"
      "stopped_per_hour_micro,cap_hours\n";
  for (const PlanSpec& p : Plans()) {
    s += std::string(p.id) + ",\"" + p.name + "\"," + p.group + "," + std::to_string(p.vcpus) +
         "," + std::to_string(p.memory_bytes) + "," + std::to_string(p.disk_bytes) + "," +
         std::to_string(p.running_per_hour) + "," + std::to_string(p.stopped_per_hour) + "," +
         std::to_string(kCapHours) + "\n";
  }
  METERD_RETURN_IF_ERROR(write("plans.csv", s));

  s = "account,amount,lines\n";
  for (size_t a = 0; a < month.accounts(); ++a) {
    s += RateMonth::AccountId(a) + "," + std::to_string(expected.account_total[a]) + "," +
         std::to_string(expected.line_counts[a]) + "\n";
  }
  METERD_RETURN_IF_ERROR(write("expected_accounts.csv", s));

  const std::time_t start = static_cast<std::time_t>(month.month_start());
  std::tm tm{};
  gmtime_r(&start, &tm);
  char meta[640];
  std::snprintf(
      meta, sizeof(meta),
      "{\"workload\":\"rate\",\"month\":\"%04d-%02d\",\"vms\":%zu,\"accounts\":%zu,"
      "\"seed\":%llu,"
      "\"month_start\":%lld,\"hours\":%zu,\"rows\":%llu,\"expected_total\":%lld,"
      "\"expected_lines\":%zu,\"rounding\":\"half_even\",\"cap_hours\":%lld}\n",
      tm.tm_year + 1900, tm.tm_mon + 1, month.vms(), month.accounts(),
      static_cast<unsigned long long>(month.seed()), static_cast<long long>(month.month_start()),
      month.hours(), static_cast<unsigned long long>(month.rows()),
      static_cast<long long>(expected.total), expected.lines, static_cast<long long>(kCapHours));
  return write("meta.json", meta);
}

}  // namespace meterd::bench::rate
