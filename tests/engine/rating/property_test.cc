// meterd — tests/engine/rating/property_test.cc
//
// The RatingEngine against a row-at-a-time reference, on random catalogs and random usage:
//   * tenancy: nested domains, accounts with display currencies, projects, plans, locations,
//     VMs and volumes with 1-4 effective-dated versions starting anywhere (mid-hour, before or
//     inside the month), changing plan, location and project (also into another account's
//     project), a resource the tenancy does not know;
//   * price book: 1-3 versions (the first possibly starting mid-month), products of every model
//     (per unit with caps, allowances and minimums, graduated and volume tiers, packages),
//     plan / plan group / location / storage tier matches, state products billing different
//     state codes, metrics left unpriced, random rounding modes; subscriptions;
//   * usage: rows of every kind written through RollupFileWriter into month files and packed
//     parts, revisions and open rows;
//   * requests: full months, windows starting or ending mid-month, two months, every scope,
//     every group-by, the versions in force or one explicit version, display currencies.
// The reference: for each served bucket row (open > revision > sealed file row), the
// attributes of its hour (Tenancy::AttributesAt) and the product of its hour's version
// (PriceBook::VersionAt + Resolve), one slice per (line, hour), PriceMonth per account,
// product and month; parts by accrual at the same cuts. Lines, totals and unrated usage must
// be equal to the micro-credit.
// Month-to-date (RateMonthToDate): on the same random catalogs, January and February rated in
// random steps (1 to 72 hours) from a state, each step's per-account usage and fees equal to
// a full Rate of the step (the month's earlier usage scanned), with random rebuilds of the
// state from the month's start (what the billing clock does after a revision or a start);
// most one-hour steps reuse the previous step's plan, shifted, and price on two threads.
// Month to date, hour by hour: every hour of January rated from the state, the running sum of
// each account's hourly changes equal to a from-scratch rating of the month so far, through a
// late revision of hours already rated (the state rebuilt from the month's start, as the
// clock does); the kept plan re-prices only the lines an hour changed, alone where the
// product prices a line on its own (per unit without allowance, packages) and the whole
// group otherwise (tiers, allowances), and all three paths must be taken.
// Extend: an engine built from part of the series and extended twice with the rest rates
// every request exactly as the reference (and as the engine built from all of them).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "engine/rating/rating_internal.h"
#include "query/scan/period.h"
#include "tests/engine/rating/rating_fixture.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::rating::testing {
namespace property_test {

using pricebook::PriceBook;
using pricebook::RoundingMode;
using pricebook::UsageSlice;
using tenancy::ResourceVersion;
using u128 = unsigned __int128;

std::string U128(u128 v) { return pricebook::ToString128(v); }

// ---- random catalog ----

struct Catalog {
  std::shared_ptr<const tenancy::Tenancy> tenancy;
  std::shared_ptr<const PriceBook> book;
  std::vector<pricebook::Subscription> subs;
  std::vector<SeriesInfo> series;
};

const char* kStatesMetric = "vm.state";

Catalog RandomCatalog(std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto chance = [&](int pct) { return static_cast<int>(rng() % 100) < pct; };
  Catalog c;
  tenancy::TenancyData td = BaseTenancy();
  td.domains.push_back({"d3", "Other", ""});
  const char* currencies[] = {"", "EUR", "GBP", "JPY"};
  td.accounts = {{"a1", "d1", "Account one", currencies[pick(4)], false},
                 {"a2", "d2", "Account two", currencies[pick(4)], false},
                 {"a3", "d3", "Account three", currencies[pick(4)], false}};
  td.projects = {{"p1", "a1", "P1"},
                 {"p2", "a1", "P2"},
                 {"p3", "a2", "P3"},
                 {"p4", "a3", "P4"},
                 {"p5", "a3", "P5"}};
  const char* plans[] = {"copper", "silver", "gold"};
  const char* locations[] = {"lon", "ams"};
  const char* projects[] = {"p1", "p2", "p3", "p4", "p5"};
  const size_t vms = 2 + pick(6), vols = pick(3);
  auto versions = [&](bool vm) {
    std::vector<ResourceVersion> out;
    int64_t t = kJan1 + static_cast<int64_t>(pick(20 * 24)) * kH - 10 * kDay;
    if (chance(40)) t += static_cast<int64_t>(pick(3600));  // mid-hour
    const size_t n = 1 + pick(4);
    std::string project = projects[pick(5)];
    for (size_t i = 0; i < n; ++i) {
      ResourceVersion v = V(t, project, vm ? plans[pick(3)] : "", locations[pick(2)],
                            vm ? "vm" : "volume", vm ? "" : (chance(50) ? "ssd" : "sata"));
      if (chance(40)) v.project = project = projects[pick(5)];
      out.push_back(v);
      t += static_cast<int64_t>(1 + pick(12 * 24)) * kH;
      if (chance(30)) t += static_cast<int64_t>(pick(3600)) - 1800;
      if (chance(10)) t = out.back().effective_from + 1 + static_cast<int64_t>(pick(1000));
    }
    return out;
  };
  for (size_t i = 0; i < vms; ++i) {
    tenancy::Resource r;
    r.id = "vm-" + std::to_string(10 + i);
    r.versions = versions(true);
    td.resources.push_back(r);
  }
  for (size_t i = 0; i < vols; ++i) {
    tenancy::Resource r;
    r.id = "vol-" + std::to_string(10 + i);
    r.versions = versions(false);
    td.resources.push_back(r);
  }
  c.tenancy = BuildTenancy(td);
  // Series: per VM, the metrics; per volume its size; and an unknown VM.
  for (size_t i = 0; i < vms + 1; ++i) {
    const std::string vm = i < vms ? "vm-" + std::to_string(10 + i) : "vm-unknown";
    c.series.push_back(Series(vm, kStatesMetric, MetricKind::kState));
    c.series.push_back(Series(vm, "vm.vcpus", MetricKind::kGauge));
    c.series.push_back(Series(vm, "vm.memory_bytes", MetricKind::kGauge));
    c.series.push_back(Series(vm, "net.tx_bytes", MetricKind::kCounter));
    c.series.push_back(Series(vm, "net.rx_bytes", MetricKind::kCounter));
    c.series.push_back(Series(vm, "disk.write_ops", MetricKind::kCounter));
    if (chance(50)) {
      c.series.push_back(Series(vm, "vm.cpu_utilisation", MetricKind::kGauge, ValueType::kFloat));
    }
  }
  for (size_t i = 0; i < vols; ++i) {
    c.series.push_back(
        Series("vol-" + std::to_string(10 + i), "disk.size_bytes", MetricKind::kGauge));
  }
  // Price book: product ids keep metric, unit, divisor, model and package size across versions.
  const bool ingress_package = chance(50);
  const bool ops_package = chance(30);
  auto price = [&](MicroCredits lo, MicroCredits hi) {
    return lo + static_cast<MicroCredits>(rng() % static_cast<uint64_t>(hi - lo + 1));
  };
  auto tiers = [&](uint64_t divisor, int64_t scale) {
    std::vector<std::pair<std::string, MicroCredits>> spec;
    int64_t edge = 0;
    const size_t n = 1 + pick(3);
    for (size_t i = 0; i < n; ++i) {
      edge += 1 + static_cast<int64_t>(pick(static_cast<size_t>(scale)));
      spec.push_back({std::to_string(edge) + (chance(30) ? ".5" : ""), price(1, 90'000)});
    }
    spec.push_back({"", price(0, 50'000)});
    return Tiers(spec, divisor);
  };
  auto make_version = [&](uint32_t number, int64_t from) {
    std::vector<Product> ps;
    Product run = StateHours("running", 1 << 1, price(100'000, 3'000'000));
    if (chance(50)) SetCap(&run, std::to_string(50 + pick(600)));
    if (chance(20)) run.minimum = price(1, 5'000'000);
    ps.push_back(run);
    if (chance(70)) {
      Product gold = StateHours("running.gold", 1 << 1, price(1'000'000, 9'000'000));
      gold.match.plan = "gold";
      ps.push_back(gold);
    }
    if (chance(50)) {
      Product hpc = StateHours("running.hpc", (1 << 1) | (1 << 4), price(100'000, 5'000'000));
      hpc.match.plan_group = "hpc";
      hpc.match.location = "ams";
      ps.push_back(hpc);
    }
    if (chance(80)) ps.push_back(StateHours("stopped", (1 << 2) | (1 << 3), price(0, 600'000)));
    if (chance(40)) {
      Product lon = StateHours("stopped.lon", 1 << 2, price(0, 600'000));
      lon.match.location = "lon";
      ps.push_back(lon);
    }
    if (chance(85)) {
      Product cpu = PerUnit("vcpu", "vm.vcpus", MetricKind::kGauge, "h", 3600, price(0, 900'000));
      if (chance(30)) cpu.minimum = price(1, 20'000'000);
      if (chance(30)) SetCap(&cpu, std::to_string(100 + pick(3000)));
      ps.push_back(cpu);
    }
    if (chance(85)) {
      Product mem =
          UsageProduct("memory", "vm.memory_bytes", MetricKind::kGauge, "GiB·h", 3600 * kGiB);
      mem.model = PriceModel::kGraduated;
      mem.tiers = tiers(3600 * kGiB, 3000);
      if (chance(40)) SetFree(&mem, std::to_string(pick(2000)));
      ps.push_back(mem);
    }
    if (chance(85)) {
      Product eg = UsageProduct("egress", "net.tx_bytes", MetricKind::kCounter, "GB", kGB);
      eg.model = PriceModel::kGraduated;
      eg.tiers = tiers(kGB, 500);
      if (chance(40)) SetFree(&eg, std::to_string(pick(300)));
      if (chance(20)) eg.minimum = price(1, 3'000'000);
      ps.push_back(eg);
    }
    if (chance(85)) {
      Product in = UsageProduct("ingress", "net.rx_bytes", MetricKind::kCounter, "GB", kGB);
      if (ingress_package) {
        SetPackage(&in, "50", price(1, 4'000'000));
      } else {
        in.model = PriceModel::kVolume;
        in.tiers = tiers(kGB, 800);
      }
      ps.push_back(in);
    }
    if (chance(70)) {
      Product ops = PerUnit("ops", "disk.write_ops", MetricKind::kCounter, "million ops", 1'000'000,
                            price(1, 300'000));
      if (ops_package) {
        SetPackage(&ops, "2", price(1, 400'000));
      } else if (chance(50)) {
        SetFree(&ops, std::to_string(pick(20)));
      }
      ps.push_back(ops);
    }
    if (chance(70)) {
      Product disk = PerUnit("disk", "disk.size_bytes", MetricKind::kGauge, "GB·h", 3600 * kGB,
                             price(1, 20'000));
      ps.push_back(disk);
      Product ssd = PerUnit("disk.ssd", "disk.size_bytes", MetricKind::kGauge, "GB·h", 3600 * kGB,
                            price(1, 40'000));
      ssd.match.storage_tier = "ssd";
      if (chance(30)) ssd.minimum = price(1, 2'000'000);
      ps.push_back(ssd);
    }
    if (chance(30)) {
      ps.push_back(PerUnit("cpu.util", "vm.cpu_utilisation", MetricKind::kGauge, "h", 3600,
                           price(1, 100'000)));
    }
    ps.push_back(Subscription("support", price(0, 50'000'000), price(0, 30'000'000)));
    ps.push_back(Subscription("backup", 0, price(1, 40'000'000), pricebook::Proration::kHourly));
    const RoundingMode modes[] = {RoundingMode::kHalfEven, RoundingMode::kHalfAwayFromZero,
                                  RoundingMode::kUp, RoundingMode::kDown};
    PriceBookVersion v = Version(number, from, ps, modes[pick(4)]);
    if (chance(30)) v.default_currency = "GBP";
    return v;
  };
  std::vector<PriceBookVersion> vs;
  int64_t t = chance(25) ? kJan1 + static_cast<int64_t>(pick(100)) * kH
                         : kJan1 - static_cast<int64_t>(pick(10)) * kDay;
  const size_t nv = 1 + pick(3);
  for (uint32_t i = 0; i < nv; ++i) {
    vs.push_back(make_version(i + 1, t));
    t += static_cast<int64_t>(1 + pick(25 * 24)) * kH;
  }
  c.book = Book(vs);
  // Subscriptions.
  const size_t nsubs = pick(4);
  for (size_t i = 0; i < nsubs; ++i) {
    pricebook::Subscription s;
    s.id = "sub-" + std::to_string(i);
    s.account = td.accounts[pick(3)].id;
    s.product = chance(50) ? "support" : "backup";
    s.quantity = static_cast<uint32_t>(1 + pick(3));
    s.start = kJan1 + static_cast<int64_t>(pick(40 * 24 * 3600)) - 5 * kDay;
    if (chance(40)) s.end = s.start + static_cast<int64_t>(pick(40 * 24 * 3600));
    c.subs.push_back(s);
  }
  return c;
}

// ---- random usage ----

struct Usage {
  std::vector<RollupRow> file_rows, revised, open;
  int64_t sealed_before = 0;
  query::RollupView view;
  // The row serving each (series, hour): open (2) > revision (1) > sealed file row (0).
  std::map<std::pair<uint64_t, int64_t>, std::pair<const RollupRow*, int>> serve;
};

RollupRow RandomRow(std::mt19937_64& rng, const SeriesInfo& s, int64_t hour) {
  RollupRow r;
  r.series_id = s.id;
  r.hour = hour;
  auto& c = r.col;
  c[kColCount] = 1 + rng() % 3600;
  if (s.kind == MetricKind::kState) {
    uint64_t left = 3600;
    for (int code : {1, 2, 3, 4, 0}) {
      if (rng() % 3 == 0) continue;
      const uint64_t sec = rng() % 2 ? left : rng() % (left + 1);
      c[kColState0 + code] = sec;
      left -= sec;
    }
  } else if (s.kind == MetricKind::kGauge) {
    const uint64_t held = rng() % 4 == 0 ? rng() % 3601 : 3600;
    c[kColHeld] = held;
    if (s.type == ValueType::kFloat) {
      c[kColIntegralLo] = DoubleToBits(static_cast<double>(rng() % 4000000) / 7.0);
    } else {
      uint64_t value = s.metric == "vm.vcpus" ? 1 + rng() % 8 : (1 + rng() % 64) * kGiB / 4;
      if (s.metric == "disk.size_bytes") value = (1 + rng() % 500) * kGB;
      const u128 integral = static_cast<u128>(value) * held;
      c[kColIntegralLo] = static_cast<uint64_t>(integral);
      c[kColIntegralHi] = static_cast<uint64_t>(integral >> 64);
    }
  } else {
    c[kColIncrease] = s.metric == "disk.write_ops" ? rng() % 3'000'000
                      : rng() % 5 == 0             ? rng() % 1000
                                                   : rng() % (400 * kGB);
  }
  if (rng() % 25 == 0) c[kColRevision] = 1 + rng() % 3;
  return r;
}

Usage RandomUsage(std::mt19937_64& rng, const Catalog& cat, const std::string& dir) {
  Usage u;
  const int64_t start = kJan1 - 3 * kDay, end = kMar1 + 2 * kDay;
  for (const SeriesInfo& s : cat.series) {
    const unsigned density = static_cast<unsigned>(rng() % 4);
    const bool steady = rng() % 3 == 0;
    const RollupRow base = RandomRow(rng, s, start);
    for (int64_t h = start; h < end; h += kH) {
      if (density < 3 && rng() % 4 > density) continue;
      RollupRow r = steady && rng() % 6 != 0 ? base : RandomRow(rng, s, h);
      r.hour = h;
      u.file_rows.push_back(r);
    }
  }
  SortRows(&u.file_rows);
  // Files: [start, c1) a month-style file, [c1, c2) one packed file, then parts of a day.
  const int64_t c1 = kJan1 + static_cast<int64_t>(rng() % (40 * 24)) * kH;
  const int64_t c2 = c1 + static_cast<int64_t>(rng() % (10 * 24)) * kH;
  std::vector<std::pair<int64_t, int64_t>> ranges = {{start, c1}, {c1, c2}};
  for (int64_t h = c2; h < end; h += 5 * kDay) ranges.push_back({h, std::min(end, h + 5 * kDay)});
  uint64_t id = 1;
  for (size_t i = 0; i < ranges.size(); ++i) {
    std::vector<RollupRow> rows;
    for (const RollupRow& r : u.file_rows) {
      if (r.hour >= ranges[i].first && r.hour < ranges[i].second) rows.push_back(r);
    }
    if (rows.empty()) continue;
    u.view.files.files.push_back(WriteRollupFile(
        dir + "/f" + std::to_string(id) + ".mru", id,
        i == 0 ? RollupLayout::kPerSeries : RollupLayout::kPacked, std::move(rows)));
    ++id;
  }
  u.sealed_before = end - static_cast<int64_t>(rng() % 48) * kH;
  u.view.sealed_before = u.view.files.sealed_before = u.sealed_before;
  std::set<std::pair<uint64_t, int64_t>> rev_keys, open_keys;
  for (size_t i = 0, n = rng() % 40; i < n; ++i) {
    const SeriesInfo& s = cat.series[rng() % cat.series.size()];
    const int64_t h =
        start + static_cast<int64_t>(rng() % static_cast<uint64_t>((end - start) / kH)) * kH;
    if (!rev_keys.insert({s.id, h}).second) continue;
    RollupRow r = RandomRow(rng, s, h);
    r.col[kColRevision] = 1 + rng() % 4;
    u.revised.push_back(r);
  }
  for (size_t i = 0, n = rng() % 40; i < n; ++i) {
    const SeriesInfo& s = cat.series[rng() % cat.series.size()];
    const int64_t h = u.sealed_before + static_cast<int64_t>(rng() % 3) * kH - kH;
    if (!open_keys.insert({s.id, h}).second) continue;
    RollupRow r = RandomRow(rng, s, h);
    r.col[kColRevision] = 0;
    u.open.push_back(r);
  }
  SortRows(&u.revised);
  SortRows(&u.open);
  u.view.revised = u.revised;
  u.view.open = u.open;
  return u;
}

void IndexServed(Usage* u) {
  for (const RollupRow& r : u->file_rows) {
    if (r.hour < u->sealed_before) u->serve[{r.series_id, r.hour}] = {&r, 0};
  }
  for (const RollupRow& r : u->revised) u->serve[{r.series_id, r.hour}] = {&r, 1};
  for (const RollupRow& r : u->open) u->serve[{r.series_id, r.hour}] = {&r, 2};
}

// ---- the reference ----

struct RefLineKey {
  std::string account, resource, product;
  int64_t month;
  auto operator<=>(const RefLineKey&) const = default;
};

struct RefHour {  // one line's hour
  const PriceBookVersion* version = nullptr;
  const Product* product = nullptr;
  u128 quantity = 0;
  std::string project;
  bool row = false;  // a served row fed it (else: the line was merely in force this hour)
  bool provisional = false, revised = false;
  uint64_t revision = 0;
};

struct OutLine {  // the fields compared
  std::string account, project, resource, product, sub;
  int64_t period_start = 0, period_end = 0;
  bool one_time = false;
  MicroCredits amount = 0, unit_price = 0;
  u128 quantity = 0, free = 0, capped = 0;
  uint32_t hours = 0, provisional = 0, revised = 0, version = 0, versions = 0;
  uint64_t max_revision = 0;
  bool minimum = false;
  int64_t minor = 0;
  std::string currency;

  auto Key() const {
    return std::tie(account, project, resource, product, period_start, sub, one_time);
  }
  std::string ToString() const {
    return account + "/" + project + "/" + resource + "/" + product + "/" + sub + " @" +
           std::to_string(period_start) + "-" + std::to_string(period_end) +
           (one_time ? " once" : "") + ": amount " + std::to_string(amount) + " q " +
           U128(quantity) + " h " + std::to_string(hours) + "/" + std::to_string(provisional) +
           "/" + std::to_string(revised) + " r" + std::to_string(max_revision) + " v" +
           std::to_string(version) + "x" + std::to_string(versions) + " up " +
           std::to_string(unit_price) + " free " + U128(free) + " capped " + U128(capped) +
           (minimum ? " min" : "") + " " + currency + " " + std::to_string(minor);
  }
};

using UnratedKey = std::tuple<uint64_t, int, uint32_t, std::string, std::string>;

struct RefResult {
  std::vector<OutLine> lines;
  std::map<UnratedKey, u128> unrated;
  MicroCredits total = 0;
};

u128 RefRowQuantity(const SeriesInfo& s, const RollupRow& r, uint32_t state) {
  const auto& c = r.col;
  if (s.kind == MetricKind::kState) return c[kColState0 + state];
  if (s.kind == MetricKind::kCounter) return c[kColIncrease];
  if (s.type == ValueType::kFloat) {
    const double x = storage::BitsToDouble(c[kColIntegralLo]);
    if (!(x > 0)) return 0;
    const double f = std::floor(x);
    uint64_t v = static_cast<uint64_t>(f);
    if (x - f > 0.5 || (x - f == 0.5 && (v & 1))) ++v;
    return v;
  }
  return (static_cast<u128>(c[kColIntegralHi]) << 64) | c[kColIntegralLo];
}

RefResult Reference(const Catalog& cat, const Usage& u, const RatingRequest& req) {
  const tenancy::Tenancy& t = *cat.tenancy;
  const PriceBook& book = *cat.book;
  RefResult out;
  auto floor_hour = [](int64_t x) { return query::scan::FloorDiv(x, kH) * kH; };
  const int64_t from = floor_hour(req.from);
  const int64_t to = floor_hour(req.to) == req.to ? req.to : floor_hour(req.to) + kH;
  const int64_t scan_from = pricebook::MonthStart(from);
  const uint32_t stride = req.group_by == GroupBy::kHour  ? 3600
                          : req.group_by == GroupBy::kDay ? 86400
                                                          : 0;
  const PriceBookVersion* fixed = req.price_version ? book.FindVersion(req.price_version) : nullptr;
  auto version_at = [&](int64_t h) { return fixed ? fixed : book.VersionAt(h); };
  // Scope.
  std::set<std::string> accounts;
  std::string filter_project, filter_resource;
  auto domain_within = [&](std::string d, const std::string& ancestor) {
    for (int i = 0; i < 10 && !d.empty(); ++i) {
      if (d == ancestor) return true;
      d = t.FindDomain(d)->parent;
    }
    return false;
  };
  for (const tenancy::Account& a : t.accounts()) {
    switch (req.scope) {
      case ScopeKind::kAll:
        accounts.insert(a.id);
        break;
      case ScopeKind::kDomain:
        if (domain_within(a.domain, req.scope_id)) accounts.insert(a.id);
        break;
      case ScopeKind::kAccount:
        if (a.id == req.scope_id) accounts.insert(a.id);
        break;
      case ScopeKind::kProject:
        if (a.id == t.FindProject(req.scope_id)->account) accounts.insert(a.id);
        break;
      case ScopeKind::kResource:
        for (int64_t h = scan_from; h < to; h += kH) {
          auto at = t.AttributesAt(req.scope_id, h);
          if (at.ok() && at->account == a.id) accounts.insert(a.id);
        }
        break;
    }
  }
  if (req.scope == ScopeKind::kProject) filter_project = req.scope_id;
  if (req.scope == ScopeKind::kResource) filter_resource = req.scope_id;
  // Resources whose unattributed hours the scope reports: any with a version in a scoped
  // account (all of them, and unknown ones, for kAll).
  auto unrated_scope = [&](const std::string& resource) {
    if (!filter_resource.empty()) return resource == filter_resource;
    if (req.scope == ScopeKind::kAll) return true;
    const tenancy::Resource* r = t.FindResource(resource);
    if (r == nullptr) return false;
    for (const ResourceVersion& v : r->versions) {
      if (accounts.count(std::string(t.FindProject(v.project)->account))) return true;
    }
    return false;
  };
  const auto& serve = u.serve;
  std::map<uint64_t, const SeriesInfo*> series;
  for (const SeriesInfo& s : cat.series) series[s.id] = &s;

  std::map<RefLineKey, std::map<int64_t, RefHour>> lines;
  auto add_unrated = [&](const SeriesInfo& s, UnratedUsage::Reason reason, uint32_t state,
                         const std::string& account, const std::string& project, u128 q) {
    if (q == 0) return;
    if (!filter_project.empty() && project != filter_project) return;
    if (!filter_resource.empty() && s.resource != filter_resource) return;
    out.unrated[{s.id, static_cast<int>(reason), state, account, project}] += q;
  };
  // Every (series, hour) of the scan: the attributes and products in force (so lines know
  // the hours they are in force without data), and the served row's quantities.
  for (const SeriesInfo& s : cat.series) {
    const bool state = s.kind == MetricKind::kState;
    for (int64_t h = scan_from; h < to; h += kH) {
      auto it = serve.find({s.id, h});
      const RollupRow* row = it == serve.end() ? nullptr : it->second.first;
      const int src = it == serve.end() ? -1 : it->second.second;
      auto at = t.AttributesAt(s.resource, h);
      if (!at.ok()) {
        if (row == nullptr || h < from || !unrated_scope(s.resource)) continue;
        const auto reason = t.FindResource(s.resource) == nullptr
                                ? UnratedUsage::Reason::kUnknownResource
                                : UnratedUsage::Reason::kBeforeFirstVersion;
        for (uint32_t c = 0; c < (state ? 8 : 1); ++c) {
          add_unrated(s, reason, c, "", "", RefRowQuantity(s, *row, c));
        }
        continue;
      }
      const std::string account(at->account), project(at->project);
      if (!accounts.count(account)) continue;
      const PriceBookVersion* v = version_at(h);
      if (v == nullptr) {
        if (row == nullptr || h < from) continue;
        for (uint32_t c = 0; c < (state ? 8 : 1); ++c) {
          add_unrated(s, UnratedUsage::Reason::kNoPriceBook, c, account, project,
                      RefRowQuantity(s, *row, c));
        }
        continue;
      }
      const pricebook::MatchKey key{at->type, at->plan, at->plan_group, at->location,
                                    at->storage_tier};
      for (uint32_t c = 0; c < (state ? 8 : 1); ++c) {
        const Product* p = v->Resolve(s.metric, c, key);
        const u128 q = row ? RefRowQuantity(s, *row, c) : 0;
        if (p == nullptr || p->kind != s.kind) {
          if (row != nullptr && h >= from) {
            add_unrated(s,
                        p == nullptr ? UnratedUsage::Reason::kNoProduct
                                     : UnratedUsage::Reason::kKindMismatch,
                        c, account, project, q);
          }
          continue;
        }
        RefHour& rh = lines[RefLineKey{account, s.resource, p->id, pricebook::MonthStart(h)}][h];
        rh.version = v;
        rh.product = p;
        rh.project = project;
        rh.quantity += q;
        if (row != nullptr) {
          rh.row = true;
          rh.provisional = src == 2;
          rh.revised = src == 1 || row->col[kColRevision] != 0;
          rh.revision = row->col[kColRevision];
        }
      }
    }
  }
  // Project changes within each account (hour by hour), for the cuts.
  std::map<std::string, std::set<int64_t>> moves;
  for (const tenancy::Resource& r : t.resources()) {
    for (int64_t h = scan_from + kH; h < to; h += kH) {
      auto a = t.AttributesAt(r.id, h - kH), b = t.AttributesAt(r.id, h);
      if (a.ok() && b.ok() && a->account == b->account && a->project != b->project) {
        moves[std::string(b->account)].insert(h);
      }
    }
  }
  // Price per (account, product, month); lines in resource order (the map's order).
  std::map<std::tuple<std::string, std::string, int64_t>, std::vector<const RefLineKey*>> groups;
  for (const auto& [k, hours] : lines) groups[{k.account, k.product, k.month}].push_back(&k);
  const PriceBookVersion* dv =
      fixed ? fixed : (book.VersionAt(to - kH) ? book.VersionAt(to - kH) : nullptr);
  if (dv == nullptr) {
    const auto segs = book.Segments(scan_from, to);
    if (!segs.empty()) dv = segs.back().version;
  }
  auto currency_of = [&](const std::string& account) -> const Currency* {
    if (!req.currency.empty()) return dv->FindCurrency(req.currency);
    return &dv->DisplayCurrency(t.FindAccount(account)->currency);
  };
  for (const auto& [gk, keys] : groups) {
    const auto& [account, product, ms] = gk;
    const int64_t end = std::min(pricebook::NextMonthStart(ms), to);
    std::set<int64_t> cutset;
    if (from > ms && from < end) cutset.insert(from);
    for (int64_t m : moves[account]) {
      if (m > ms && m < end) cutset.insert(m);
    }
    if (stride) {
      for (int64_t c = ms + stride; c < end; c += stride) cutset.insert(c);
    }
    const std::vector<int64_t> cuts(cutset.begin(), cutset.end());
    const size_t K = cuts.size();
    // accrued[line][k]: the line's amount over the hours before cut k (K: all).
    std::vector<std::vector<MicroCredits>> accrued(keys.size(),
                                                   std::vector<MicroCredits>(K + 1, 0));
    std::vector<pricebook::LineCharge> final_charges;
    std::vector<pricebook::ChargePiece> final_pieces;
    for (size_t k = 0; k <= K; ++k) {
      const int64_t limit = k < K ? cuts[k] : INT64_MAX;
      // The final pricing takes one slice per hour; the accruals (many, with group_by hour)
      // merge a line's consecutive hours of one version, to keep the test fast.
      std::vector<UsageSlice> slices;
      for (size_t li = 0; li < keys.size(); ++li) {
        const size_t first = slices.size();
        for (const auto& [h, rh] : lines.at(*keys[li])) {
          if (h >= limit) break;
          if (k < K && slices.size() > first && slices.back().version == rh.version) {
            slices.back().quantity += rh.quantity;
            continue;
          }
          slices.push_back(
              UsageSlice{static_cast<uint32_t>(li), rh.version, rh.product, rh.quantity});
        }
      }
      std::vector<pricebook::LineCharge> charges;
      std::vector<pricebook::ChargePiece> pieces;
      EXPECT_TRUE(pricebook::PriceMonth(slices, &charges, &pieces).ok());
      for (const auto& c : charges) accrued[c.line][k] = c.amount;
      if (k == K) {
        final_charges = charges;
        final_pieces = pieces;
      }
    }
    for (size_t li = 0; li < keys.size(); ++li) {
      const RefLineKey& key = *keys[li];
      if (!filter_resource.empty() && key.resource != filter_resource) continue;
      const auto& hours = lines.at(key);
      const pricebook::LineCharge& fc = final_charges[li];
      MicroCredits unit_price = -1;
      for (auto it = final_pieces.rbegin(); it != final_pieces.rend(); ++it) {
        if (it->line == li && it->tier != pricebook::ChargePiece::kFree &&
            it->tier != pricebook::ChargePiece::kCapped) {
          unit_price = it->unit_price;
          break;
        }
      }
      if (unit_price < 0) {
        const Product& p = *hours.rbegin()->second.product;
        unit_price = p.model == PriceModel::kPerUnit   ? p.unit_price
                     : p.model == PriceModel::kPackage ? p.package_price
                                                       : p.tiers.front().unit_price;
      }
      std::string project = hours.begin()->second.project;
      const PriceBookVersion* version = hours.begin()->second.version;
      const Product* prod = hours.begin()->second.product;
      for (size_t k = 0; k <= K; ++k) {
        const int64_t start = k == 0 ? ms : cuts[k - 1];
        const int64_t stop = k < K ? cuts[k] : end;
        OutLine o;
        std::set<const PriceBookVersion*> versions;
        bool any = false;
        for (auto it = hours.lower_bound(start); it != hours.end() && it->first < stop; ++it) {
          const RefHour& rh = it->second;
          if (!any) {
            project = rh.project;
            version = rh.version;
            prod = rh.product;
          }
          any = true;
          versions.insert(rh.version);
          if (!rh.row) continue;
          o.quantity += rh.quantity;
          ++o.hours;
          o.provisional += rh.provisional;
          o.revised += rh.revised;
          o.max_revision = std::max(o.max_revision, rh.revision);
        }
        o.amount = accrued[li][k] - (k == 0 ? 0 : accrued[li][k - 1]);
        if (o.quantity == 0 && o.amount == 0) continue;
        if (start < from) continue;
        if (!filter_project.empty() && project != filter_project) continue;
        o.account = account;
        o.project = project;
        o.resource = key.resource;
        o.product = prod->id;
        o.period_start = std::max(start, from);
        o.period_end = std::min(stop, to);
        o.unit_price = unit_price;
        o.version = version->version;
        o.versions = std::max<uint32_t>(1, static_cast<uint32_t>(versions.size()));
        o.free = fc.free;
        o.capped = fc.capped;
        o.minimum = fc.minimum_applied;
        const Currency* cur = currency_of(account);
        o.currency = cur->code;
        o.minor = *pricebook::ToMinorUnits(o.amount, *cur, dv->rounding);
        out.total += o.amount;
        out.lines.push_back(o);
      }
    }
  }
  // Fees.
  if (req.include_subscriptions &&
      (req.scope == ScopeKind::kAll || req.scope == ScopeKind::kDomain ||
       req.scope == ScopeKind::kAccount)) {
    std::shared_ptr<const PriceBook> fee_book = cat.book;
    if (fixed != nullptr) {
      PriceBookVersion copy = *fixed;
      copy.version = 1;
      copy.effective_from = -int64_t{1000} * 366 * kDay;
      fee_book = Book({copy});
    }
    for (const pricebook::Subscription& s : cat.subs) {
      if (!accounts.count(s.account)) continue;
      for (int64_t ms = scan_from; ms < to; ms = pricebook::NextMonthStart(ms)) {
        std::vector<pricebook::FeeCharge> charges;
        EXPECT_TRUE(pricebook::PriceSubscriptionMonth(*fee_book, s, ms, &charges).ok());
        for (const auto& c : charges) {
          const bool once = c.kind == pricebook::FeeCharge::Kind::kOneTime;
          const int64_t due = once ? floor_hour(s.start) : std::max(ms, floor_hour(s.start));
          if (due < from || due >= to || c.product == nullptr) continue;
          OutLine o;
          o.account = s.account;
          o.product = c.product->id;
          o.sub = s.id;
          o.one_time = once;
          o.period_start = stride ? query::scan::FloorDiv(due, stride) * stride : due;
          o.period_end = stride ? o.period_start + stride
                         : once ? due + kH
                                : pricebook::NextMonthStart(ms);
          o.amount = c.amount;
          o.quantity = c.quantity;
          o.unit_price = once ? c.product->one_time_fee : c.product->monthly_fee;
          o.version = req.price_version ? req.price_version : c.version->version;
          o.versions = 1;
          o.hours = static_cast<uint32_t>(c.active_hours);
          const Currency* cur = currency_of(s.account);
          o.currency = cur->code;
          o.minor = *pricebook::ToMinorUnits(o.amount, *cur, dv->rounding);
          out.total += o.amount;
          out.lines.push_back(o);
        }
      }
    }
  }
  std::sort(out.lines.begin(), out.lines.end(),
            [](const OutLine& a, const OutLine& b) { return a.Key() < b.Key(); });
  return out;
}

std::vector<OutLine> EngineLines(const RatingResult& r) {
  std::vector<OutLine> out;
  for (const ChargeLine& l : r.lines) {
    OutLine o;
    o.account = std::string(l.account);
    o.project = std::string(l.project);
    o.resource = std::string(l.resource);
    o.product = std::string(l.product_id);
    o.sub = std::string(l.subscription_id);
    o.one_time = l.one_time_fee;
    o.period_start = l.period_start;
    o.period_end = l.period_end;
    o.amount = l.amount;
    o.unit_price = l.unit_price;
    o.quantity = l.raw_quantity;
    o.hours = l.hours;
    o.provisional = l.provisional_hours;
    o.revised = l.revised_hours;
    o.max_revision = l.max_revision;
    o.version = l.price_version;
    o.versions = l.price_versions;
    o.free = l.line_free_raw;
    o.capped = l.line_capped_raw;
    o.minimum = l.minimum_applied;
    o.currency = l.currency ? l.currency->code : "";
    o.minor = l.display_minor;
    out.push_back(o);
  }
  std::sort(out.begin(), out.end(),
            [](const OutLine& a, const OutLine& b) { return a.Key() < b.Key(); });
  return out;
}

std::string DiffLines(const std::vector<OutLine>& got, const std::vector<OutLine>& want) {
  size_t i = 0, j = 0;
  std::string out;
  while ((i < got.size() || j < want.size()) && out.size() < 4000) {
    if (j == want.size() || (i < got.size() && got[i].Key() < want[j].Key())) {
      out += "  extra:   " + got[i++].ToString() + "\n";
    } else if (i == got.size() || want[j].Key() < got[i].Key()) {
      out += "  missing: " + want[j++].ToString() + "\n";
    } else {
      const std::string a = got[i++].ToString(), b = want[j++].ToString();
      if (a != b) out += "  got:  " + a + "\n  want: " + b + "\n";
    }
  }
  return out;
}

RatingRequest RandomRequest(std::mt19937_64& rng, const Catalog& cat) {
  RatingRequest req;
  switch (rng() % 6) {
    case 0:
    case 1:
      req.from = kJan1;
      req.to = kFeb1;
      break;
    case 2:  // starts mid-month, maybe mid-hour
      req.from = kJan1 + static_cast<int64_t>(rng() % (30 * 24)) * kH +
                 (rng() % 2 ? static_cast<int64_t>(rng() % 3600) : 0);
      req.to = kFeb1;
      break;
    case 3:  // ends mid-month
      req.from = kJan1;
      req.to = kJan1 + static_cast<int64_t>(1 + rng() % (30 * 24)) * kH;
      break;
    case 4:  // two months
      req.from = kJan1;
      req.to = kMar1;
      break;
    default:  // a random window across the month boundary
      req.from = kJan1 + static_cast<int64_t>(rng() % (40 * 24)) * kH;
      req.to = req.from + static_cast<int64_t>(1 + rng() % (20 * 24)) * kH;
  }
  const tenancy::Tenancy& t = *cat.tenancy;
  switch (rng() % 8) {
    case 0:
      req.scope = ScopeKind::kDomain;
      req.scope_id = rng() % 2 ? "d1" : "d2";
      break;
    case 1:
    case 2:
      req.scope = ScopeKind::kAccount;
      req.scope_id = t.accounts()[rng() % t.accounts().size()].id;
      break;
    case 3:
      req.scope = ScopeKind::kProject;
      req.scope_id = t.projects()[rng() % t.projects().size()].id;
      break;
    case 4:
      req.scope = ScopeKind::kResource;
      req.scope_id = t.resources()[rng() % t.resources().size()].id;
      break;
    default:
      req.scope = ScopeKind::kAll;
  }
  const GroupBy gb[] = {GroupBy::kProduct, GroupBy::kResource, GroupBy::kProject, GroupBy::kAccount,
                        GroupBy::kHour,    GroupBy::kDay,      GroupBy::kMonth};
  req.group_by = gb[rng() % 7];
  if (rng() % 4 == 0) {
    req.price_version = static_cast<uint32_t>(1 + rng() % cat.book->versions().size());
  }
  if (rng() % 4 == 0) req.currency = rng() % 2 ? "EUR" : "JPY";
  return req;
}

std::string Describe(const RatingRequest& r) {
  return "from " + std::to_string(r.from) + " to " + std::to_string(r.to) + " scope " +
         std::to_string(static_cast<int>(r.scope)) + ":" + r.scope_id + " group " +
         GroupByName(r.group_by) + " version " + std::to_string(r.price_version) + " currency " +
         r.currency;
}

TEST(RatingPropertyTest, VectorisedEqualsRowAtATimeReference) {
  ::meterd::testing::TempDir dir;
  size_t compared_lines = 0, compared_unrated = 0, nonzero = 0;
#ifdef NDEBUG
  constexpr uint64_t kSeeds = 30;
#else
  constexpr uint64_t kSeeds = 10;  // sanitizer builds: the same coverage, fewer catalogs
#endif
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937_64 rng(seed * 1000003);
    const Catalog cat = RandomCatalog(rng);
    const std::string sub = dir.path() + "/s" + std::to_string(seed);
    ASSERT_TRUE(storage::CreateDirIfMissing(sub).ok());
    Usage usage = RandomUsage(rng, cat, sub);
    IndexServed(&usage);
    RatingOptions options;
    options.threads = 1 + static_cast<int>(seed % 2);
    auto engine = Engine(cat.tenancy, cat.book, cat.series, cat.subs, options);
    ASSERT_NE(engine, nullptr);
    // The same engine grown from a random part of the series by two Extends (series defined
    // after it was built, possibly with metrics it had not seen): it must rate the same.
    std::vector<SeriesInfo> shuffled = cat.series;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const size_t cut1 = rng() % (shuffled.size() + 1);
    const size_t cut2 = cut1 + rng() % (shuffled.size() - cut1 + 1);
    auto part = [&](size_t b, size_t e) {
      return std::vector<SeriesInfo>(shuffled.begin() + static_cast<std::ptrdiff_t>(b),
                                     shuffled.begin() + static_cast<std::ptrdiff_t>(e));
    };
    std::unique_ptr<RatingEngine> extended =
        Engine(cat.tenancy, cat.book, part(0, cut1), cat.subs, options);
    ASSERT_NE(extended, nullptr);
    for (auto [b, e] : {std::pair{cut1, cut2}, std::pair{cut2, shuffled.size()}}) {
      auto next = extended->Extend(part(b, e));
      ASSERT_TRUE(next.ok()) << next.status().ToString();
      extended = std::move(next).value();
    }
    ASSERT_EQ(extended->series(), cat.series.size());
    for (int round = 0; round < 6; ++round) {
      const RatingRequest req = RandomRequest(rng, cat);
      auto got = engine->Rate(usage.view, req);
      ASSERT_TRUE(got.ok()) << got.status().ToString() << " seed " << seed;
      const RefResult want = Reference(cat, usage, req);
      const std::string diff = DiffLines(EngineLines(*got), want.lines);
      ASSERT_EQ(diff, "") << "seed " << seed << " round " << round << ": " << Describe(req);
      EXPECT_EQ(got->total, want.total);
      auto grown = extended->Rate(usage.view, req);
      ASSERT_TRUE(grown.ok()) << grown.status().ToString();
      ASSERT_EQ(DiffLines(EngineLines(*grown), want.lines), "")
          << "extended engine, seed " << seed << " round " << round << ": " << Describe(req);
      EXPECT_EQ(grown->total, want.total);
      EXPECT_EQ(grown->unattributed.size(), got->unattributed.size());
      EXPECT_EQ(grown->unpriced.size(), got->unpriced.size());
      compared_lines += want.lines.size();
      for (const OutLine& l : want.lines) nonzero += l.amount != 0;
      // Unrated usage, summed per (series, reason, state, account, project).
      std::map<UnratedKey, u128> unrated;
      for (const auto* list : {&got->unattributed, &got->unpriced}) {
        for (const UnratedUsage& x : *list) {
          if (x.series_id == 0) continue;  // fees without a product
          unrated[{x.series_id, static_cast<int>(x.reason), x.state, std::string(x.account),
                   std::string(x.project)}] += x.raw_quantity;
        }
      }
      ASSERT_EQ(unrated.size(), want.unrated.size())
          << "seed " << seed << " round " << round << ": " << Describe(req);
      for (const auto& [k, q] : want.unrated) {
        auto it = unrated.find(k);
        ASSERT_NE(it, unrated.end()) << "missing unrated series " << std::get<0>(k) << " reason "
                                     << std::get<1>(k) << " state " << std::get<2>(k);
        EXPECT_EQ(U128(it->second), U128(q));
      }
      compared_unrated += want.unrated.size();
      // Lines come out in the documented order: account, usage before fees, resource, ...
      for (size_t i = 1; i < got->lines.size(); ++i) {
        const ChargeLine &a = got->lines[i - 1], &b = got->lines[i];
        ASSERT_LE(a.account, b.account);
        if (a.account == b.account && !a.subscription && !b.subscription) {
          ASSERT_LE(a.resource, b.resource);
        }
        if (a.account == b.account) {
          ASSERT_LE(a.subscription, b.subscription);
        }
      }
      // Group totals add up to the total.
      MicroCredits groups = 0;
      for (const GroupTotal& g : got->groups) groups += g.amount;
      EXPECT_EQ(groups, got->total);
    }
  }
  // The test must exercise what it claims.
  EXPECT_GT(compared_lines, 60 * kSeeds);
  EXPECT_GT(nonzero, 30 * kSeeds);
  EXPECT_GT(compared_unrated, 6 * kSeeds);
}

// Issue 18: live buckets, late-data revisions and imported buckets in a random mix, written
// through the rollup store's own path: the live rows sealed and folded into month files, then
// rounds of revised and imported rows (a key revised again in a later round) folded by
// RollupStore::FoldRevisions, with merges in between, and a last round still buffered (the
// view's revised rows), plus open rows. The engine rates them all through its one vectorised
// scan of the month files; the lines and the total must equal the row-at-a-time reference over
// the rows a query must serve (the latest revision of each bucket) to the micro-credit.
TEST(RatingPropertyTest, FoldedImportedAndLateBucketsEqualTheReference) {
  ::meterd::testing::TempDir dir;
  size_t compared_lines = 0, folded = 0, imported = 0;
#ifdef NDEBUG
  constexpr uint64_t kSeeds = 12;
#else
  constexpr uint64_t kSeeds = 4;
#endif
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937_64 rng(seed * 7919 + 18);
    const Catalog cat = RandomCatalog(rng);
    const std::string sub = dir.path() + "/s" + std::to_string(seed);
    ASSERT_TRUE(storage::CreateDirIfMissing(sub).ok());
    const Usage base = RandomUsage(rng, cat, sub);
    const int64_t start = kJan1 - 3 * kDay;
    std::vector<std::string> damage;
    auto store = storage::RollupStore::Open(sub + "/store", &damage);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    // The live rows of sealed hours: the last hour sealed as a part (sealing everything before
    // it empty), the others folded in as the history of the months.
    const int64_t last = base.sealed_before - kH;
    std::vector<RollupRow> last_hour, history;
    std::map<std::pair<uint64_t, int64_t>, RollupRow> latest;  // what a query must serve
    std::set<std::pair<uint64_t, int64_t>> revised_keys;
    for (const RollupRow& r : base.file_rows) {
      if (r.hour >= base.sealed_before) continue;
      (r.hour == last ? last_hour : history).push_back(r);
      latest[{r.series_id, r.hour}] = r;
    }
    ASSERT_TRUE((*store)->SealHour(last, last_hour).ok());
    ASSERT_TRUE((*store)->FoldRevisions(history, 1).ok());
    query::RollupView view;
    for (int round = 0; round < 3; ++round) {
      std::map<std::pair<uint64_t, int64_t>, RollupRow> rows;
      for (size_t i = 0, n = 20 + rng() % 80; i < n; ++i) {
        const SeriesInfo& s = cat.series[rng() % cat.series.size()];
        const int64_t h =
            start +
            static_cast<int64_t>(rng() % static_cast<uint64_t>((base.sealed_before - start) / kH)) *
                kH;
        RollupRow r = RandomRow(rng, s, h);
        auto prev = latest.find({s.id, h});
        r.col[kColRevision] = (prev == latest.end() ? 0 : prev->second.col[kColRevision]) + 1;
        r.col[kColRevisedAt] = static_cast<uint64_t>(base.sealed_before + round);
        const unsigned origin = static_cast<unsigned>(rng() % 3);  // late, imported, rebuilt
        r.col[kColFlags] = origin == 1 ? kRowImported : origin == 2 ? kRowRebuilt : 0;
        imported += origin == 1;
        rows[{s.id, h}] = r;
      }
      std::vector<RollupRow> list;
      for (const auto& [key, r] : rows) {
        list.push_back(r);
        latest[key] = r;
        revised_keys.insert(key);
      }
      if (round < 2) {
        ASSERT_TRUE((*store)->FoldRevisions(list, 2 + round).ok());
        folded += list.size();
        if (rng() % 2) {
          ASSERT_TRUE((*store)->MergeParts(1).ok());
        }
      } else {
        view.revised = list;  // still buffered
      }
    }
    view.files = (*store)->Snapshot();
    view.open = base.open;
    view.sealed_before = base.sealed_before;
    Usage want_usage;
    for (const auto& [key, r] : latest) {
      want_usage.serve[key] = {&r, revised_keys.count(key) ? 1 : 0};
    }
    for (const RollupRow& r : base.open) want_usage.serve[{r.series_id, r.hour}] = {&r, 2};
    RatingOptions options;
    options.threads = 1 + static_cast<int>(seed % 2);
    auto engine = Engine(cat.tenancy, cat.book, cat.series, cat.subs, options);
    ASSERT_NE(engine, nullptr);
    for (int round = 0; round < 4; ++round) {
      const RatingRequest req = RandomRequest(rng, cat);
      auto got = engine->Rate(view, req);
      ASSERT_TRUE(got.ok()) << got.status().ToString() << " seed " << seed;
      const RefResult want = Reference(cat, want_usage, req);
      ASSERT_EQ(DiffLines(EngineLines(*got), want.lines), "")
          << "seed " << seed << " round " << round << ": " << Describe(req);
      EXPECT_EQ(got->total, want.total) << "seed " << seed;
      compared_lines += want.lines.size();
    }
  }
  EXPECT_GT(compared_lines, 30 * kSeeds);
  EXPECT_GT(folded, 40 * kSeeds);
  EXPECT_GT(imported, 10 * kSeeds);
}

// Per account: (usage, fees) of a rating's lines.
std::map<std::string, std::pair<MicroCredits, MicroCredits>> ByAccount(const RatingResult& r) {
  std::map<std::string, std::pair<MicroCredits, MicroCredits>> out;
  for (const ChargeLine& l : r.lines) {
    auto& v = out[std::string(l.account)];
    (l.subscription ? v.second : v.first) += l.amount;
  }
  for (auto it = out.begin(); it != out.end();) {
    it = it->second == std::pair<MicroCredits, MicroCredits>{0, 0} ? out.erase(it) : std::next(it);
  }
  return out;
}

TEST(RatingPropertyTest, MonthToDateEqualsFullRating) {
  ::meterd::testing::TempDir dir;
  size_t steps = 0, nonzero = 0, rebuilds = 0, reused = 0;
#ifdef NDEBUG
  constexpr uint64_t kSeeds = 40;
#else
  constexpr uint64_t kSeeds = 10;
#endif
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937_64 rng(seed * 7919 + 17);
    const Catalog cat = RandomCatalog(rng);
    const std::string sub = dir.path() + "/m" + std::to_string(seed);
    ASSERT_TRUE(storage::CreateDirIfMissing(sub).ok());
    Usage usage = RandomUsage(rng, cat, sub);
    RatingOptions options;
    options.threads = 1 + static_cast<int>(seed % 2);
    options.min_groups_per_thread = 1;  // the parallel pricing of a kept plan, on small fleets
    auto engine = Engine(cat.tenancy, cat.book, cat.series, cat.subs, options);
    ASSERT_NE(engine, nullptr);
    for (const int64_t month : {kJan1, kFeb1}) {
      const int64_t end = pricebook::NextMonthStart(month);
      MonthToDate state;
      state.Reset(month);
      for (int64_t t = month; t < end;) {
        const int64_t span = rng() % 4 == 0 ? 1 + static_cast<int64_t>(rng() % 72) : 1;
        const int64_t to = std::min(end, t + span * kH);
        auto got = engine->RateMonthToDate(usage.view, t, to, &state);
        ASSERT_TRUE(got.ok()) << got.status().ToString() << " seed " << seed;
        ASSERT_EQ(state.through(), to);
        reused += got->stats.plan_reused;
        RatingRequest req;
        req.from = t;
        req.to = to;
        req.group_by = GroupBy::kAccount;
        auto want = engine->Rate(usage.view, req);
        ASSERT_TRUE(want.ok()) << want.status().ToString();
        const auto g = ByAccount(*got), w = ByAccount(*want);
        ASSERT_EQ(g, w) << "seed " << seed << " window [" << t << ", " << to << ")";
        EXPECT_EQ(got->total, want->total);
        ++steps;
        nonzero += !w.empty();
        t = to;
        if (t < end && rng() % 10 == 0) {  // rebuilt from the month's start in one window
          MonthToDate fresh;
          fresh.Reset(month);
          ASSERT_TRUE(engine->RateMonthToDate(usage.view, month, t, &fresh).ok());
          state = std::move(fresh);
          ++rebuilds;
        }
      }
      // A state that does not end at the window is refused, and cleared.
      MonthToDate stale;
      stale.Reset(month);
      EXPECT_TRUE(engine->RateMonthToDate(usage.view, month + kH, month + 2 * kH, &stale)
                      .status()
                      .IsInvalidArgument());
      EXPECT_FALSE(stale.valid());
    }
  }
  EXPECT_GT(steps, 100 * kSeeds);
  EXPECT_GT(nonzero, 80 * kSeeds);
  EXPECT_GT(rebuilds, 8 * kSeeds);
  // Most one-hour windows follow one of the same length with nothing changed in between:
  // their plan is the previous one, shifted (PlanCache), and must rate the same.
  EXPECT_GT(reused, steps / 2);
}

TEST(RatingPropertyTest, MonthToDateHourByHourSumsToTheMonthRatedFromScratch) {
  ::meterd::testing::TempDir dir;
  size_t checks = 0, revisions = 0;
  internal::AccrualCounts counts;
#ifdef NDEBUG
  constexpr uint64_t kSeeds = 16;
#else
  constexpr uint64_t kSeeds = 4;
#endif
  // Usage per account (fees are prorated per window, so their sum over windows is not the
  // month's fee rounded once; MonthToDateEqualsFullRating checks them window by window).
  using PerAccount = std::map<std::string, MicroCredits>;
  auto usage_of = [](const RatingResult& r) {
    PerAccount out;
    for (const auto& [account, v] : ByAccount(r)) {
      if (v.first != 0) out[account] = v.first;
    }
    return out;
  };
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937_64 rng(seed * 104729 + 3);
    const Catalog cat = RandomCatalog(rng);
    const std::string sub = dir.path() + "/h" + std::to_string(seed);
    ASSERT_TRUE(storage::CreateDirIfMissing(sub).ok());
    const Usage usage = RandomUsage(rng, cat, sub);
    RatingOptions options;
    options.threads = 1 + static_cast<int>(seed % 2);
    options.min_groups_per_thread = 1;
    auto engine = Engine(cat.tenancy, cat.book, cat.series, cat.subs, options);
    ASSERT_NE(engine, nullptr);
    // The late data: new revisions of random (series, hour) of January, arriving after the hour
    // `late_at` was rated (the earlier hours among them revise hours already rated).
    query::RollupView late = usage.view;
    const int64_t late_at = kJan1 + static_cast<int64_t>(24 + rng() % (26 * 24)) * kH;
    std::set<std::pair<uint64_t, int64_t>> revised;
    for (const RollupRow& r : late.revised) revised.insert({r.series_id, r.hour});
    for (int i = 0; i < 30; ++i) {
      const SeriesInfo& s = cat.series[rng() % cat.series.size()];
      const int64_t h = kJan1 + static_cast<int64_t>(rng() % ((late_at - kJan1) / kH)) * kH;
      if (!revised.insert({s.id, h}).second) continue;
      RollupRow r = RandomRow(rng, s, h);
      r.col[kColRevision] = 5;
      late.revised.push_back(r);
    }
    SortRows(&late.revised);
    const query::RollupView* view = &usage.view;
    MonthToDate state;
    state.Reset(kJan1);
    PerAccount sum;  // the month so far, from the state's changes
    auto add = [&](const RatingResult& r) {
      for (const auto& [account, amount] : usage_of(r)) {
        if ((sum[account] += amount) == 0) sum.erase(account);
      }
    };
    for (int64_t t = kJan1; t < kFeb1; t += kH) {
      if (t == late_at) {  // the revision: the clock rebuilds the month so far in one window
        counts.Add(state.state()->accrual);
        view = &late;
        state.Reset(kJan1);
        sum.clear();
        auto rebuilt = engine->RateMonthToDate(*view, kJan1, t, &state);
        ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString() << " seed " << seed;
        add(*rebuilt);
        ++revisions;
      }
      auto got = engine->RateMonthToDate(*view, t, t + kH, &state);
      ASSERT_TRUE(got.ok()) << got.status().ToString() << " seed " << seed;
      add(*got);
      if (t + kH != kFeb1 && rng() % 8 != 0) continue;
      RatingRequest req;
      req.from = kJan1;
      req.to = t + kH;
      req.group_by = GroupBy::kAccount;
      auto want = engine->Rate(*view, req);
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      ASSERT_EQ(sum, usage_of(*want)) << "seed " << seed << " through " << t + kH;
      ++checks;
    }
    counts.Add(state.state()->accrual);
  }
  EXPECT_EQ(revisions, kSeeds);
  EXPECT_GT(checks, 50 * kSeeds);
  EXPECT_GT(counts.lines_priced_alone, 1000 * kSeeds);
  EXPECT_GT(counts.lines_unchanged, 100 * kSeeds);
  EXPECT_GT(counts.groups_priced, 1000 * kSeeds);
}

}  // namespace property_test
}  // namespace meterd::engine::rating::testing
