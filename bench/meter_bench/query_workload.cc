// meterd — bench/meter_bench/query_workload.cc
#include "bench/meter_bench/query_workload.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <unordered_map>

#include "bench/meter_bench/bench_stats.h"
#include "bench/meter_bench/catalog_apply.h"
#include "bench/meter_bench/catalog_document.h"
#include "bench/meter_bench/rate_month.h"
#include "bench/meter_bench/server_process.h"
#include "engine/catalog.h"
#include "engine/pricebook/billing_store.h"
#include "engine/rating/rating_engine.h"
#include "engine/registry/series_registry.h"
#include "net/client/client.h"
#include "net/protocol/messages.h"
#include "storage/io/file.h"

namespace meterd::bench {
namespace {

namespace pb = engine::pricebook;
namespace rating = engine::rating;
namespace tn = engine::tenancy;
using rate::RateMonth;
using Clock = std::chrono::steady_clock;
using u128 = unsigned __int128;

// Written into the data directory once it is set up; --reuse keeps a directory whose file says
// the same.
constexpr const char* kQuerySetupFile = "meter-bench-query.json";

LatencySummary Summarize(std::vector<double> ms, double server_cpu_s) {
  LatencySummary s;
  std::sort(ms.begin(), ms.end());
  s.n = ms.size();
  if (ms.empty()) return s;
  s.p50 = Quantile(ms, 0.50);
  s.p90 = Quantile(ms, 0.90);
  s.p99 = Quantile(ms, 0.99);
  s.max = ms.back();
  s.mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  s.server_cpu_ms = server_cpu_s * 1e3 / static_cast<double>(ms.size());
  return s;
}

// Records the first failed check; returns `ok`.
bool Expect(bool ok, const std::string& what, QueryWorkloadResult* r) {
  if (!ok) {
    if (r->check_detail.empty()) r->check_detail = what;
    r->check = false;
  }
  return ok;
}

// A seeded permutation of 0..n-1.
std::string SetupText(const QueryWorkloadOptions& o) {
  return "{\"workload\":\"query\",\"vms\":" + std::to_string(o.vms) +
         ",\"seed\":" + std::to_string(o.seed) + ",\"month\":\"" + o.month + "\"}\n";
}

bool SetupMatches(const QueryWorkloadOptions& o) {
  std::ifstream in(o.dir + "/" + kQuerySetupFile);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  return text.str() == SetupText(o);
}

// Defines the month's series in the data directory's series registry, as an admin (owned by no
// hypervisor), and checks that the registry gives them the generator's kinds and types.
Status DefineSeries(const std::string& dir, const RateMonth& month) {
  engine::MetricCatalog metrics;
  METERD_ASSIGN_OR_RETURN(auto registry, engine::SeriesRegistry::Open(dir, &metrics));
  const std::vector<engine::SeriesInfo> series = month.Series();
  std::vector<engine::SeriesDefinition> defs;
  defs.reserve(series.size());
  for (const engine::SeriesInfo& s : series) defs.push_back({s.id, s.resource, s.metric});
  METERD_ASSIGN_OR_RETURN(const engine::DefineOutcome out, registry->Define(defs, "", true));
  if (out.refused != 0) {
    return Status::InvalidArgument(
        "series registry refused " + std::to_string(out.refused) +
        " definitions, the first: " + out.first_refusals[0].second.ToString());
  }
  if (out.defined != series.size()) {
    return Status::InvalidArgument("series registry: " + std::to_string(out.defined) +
                                   " defined, " + std::to_string(out.existing) +
                                   " existing, expected " + std::to_string(series.size()) +
                                   " new (the directory was not fresh)");
  }
  for (const engine::SeriesInfo& s : series) {
    engine::SeriesInfo info;
    if (!registry->Lookup(s.id, &info) || info.kind != s.kind || info.type != s.type) {
      return Status::InvalidArgument("series registry: " + s.resource + "|" + s.metric +
                                     " has another kind or type than the generator's");
    }
  }
  return Status::OK();
}

// What a ChargesRequest answered.
struct ChargesAnswer {
  int64_t total = 0;
  std::vector<std::pair<std::string, int64_t>> totals;  // key, amount
  size_t lines = 0;
  uint64_t unattributed = 0, unpriced = 0, rows_scanned = 0;
  bool provisional = false;
};

Status Charges(net::Client* client, int64_t from, int64_t to, wire::ChargeScope scope,
               const std::string& scope_id, ChargesAnswer* a) {
  *a = ChargesAnswer{};
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t id = client->NextRequestId();
  auto req = wire::CreateChargesRequest(fbb, id, from, to, scope, fbb.CreateString(scope_id),
                                        wire::ChargeGroupBy::Account, fbb.CreateString(""), 0);
  return client->Stream(
      net::FinishFrame(fbb, req), id, [&](const wire::Envelope& env, bool* last) -> Status {
        const auto* chunk = env.message_as_ChargesChunk();
        if (chunk == nullptr) return Status::Corruption("unexpected answer to ChargesRequest");
        *last = chunk->last();
        if (chunk->lines() != nullptr) a->lines += chunk->lines()->size();
        if (chunk->last()) {
          if (chunk->totals() != nullptr) {
            for (const auto* t : *chunk->totals()) {
              a->totals.emplace_back(std::string(net::View(t->key())), t->amount());
            }
          }
          a->total = chunk->total();
          a->unattributed = chunk->unattributed();
          a->unpriced = chunk->unpriced();
          a->rows_scanned = chunk->rows_scanned();
          a->provisional = chunk->provisional();
        }
        return Status::OK();
      });
}

// The month quantities of one VM as its usage lines give them (rate::VmQuantities order).
struct UsageAnswer {
  rate::VmQuantities q{};
  size_t lines = 0;
  uint64_t hours = 0;  // summed over the lines
  uint64_t provisional_hours = 0;
  uint64_t rows_scanned = 0;
  std::string unknown_metric;
};

Status Usage(net::Client* client, int64_t from, int64_t to, const std::string& resource,
             wire::Granularity granularity, UsageAnswer* a) {
  *a = UsageAnswer{};
  net::UsageQuery q;
  q.from = from;
  q.to = to;
  q.resource = resource;
  q.granularity = granularity;
  return client->Usage(q, [&](const wire::UsageChunk& chunk) {
    if (chunk.last()) a->rows_scanned = chunk.rows_scanned();
    if (chunk.lines() == nullptr) return;
    for (const auto* l : *chunk.lines()) {
      ++a->lines;
      a->hours += l->hours();
      a->provisional_hours += l->provisional_hours();
      const std::string_view metric = net::View(l->metric());
      size_t m = 0;
      while (m < rate::kRateMetrics && metric != rate::RateMetricName(m)) ++m;
      if (m == rate::kRateMetrics) {
        a->unknown_metric = std::string(metric);
        continue;
      }
      if (m == rate::kState) {
        const auto* s = l->state_seconds();
        if (s != nullptr && s->size() > 2) {
          a->q[0] += s->Get(1);  // running
          a->q[1] += s->Get(2);  // stopped
        }
      } else if (m == rate::kVcpus || m == rate::kMemory || m == rate::kDisk) {
        a->q[m + 1] += (static_cast<u128>(l->integral_hi()) << 64) | l->integral_lo();
      } else {
        a->q[m + 1] += (static_cast<u128>(l->increase_hi()) << 64) | l->increase_lo();
      }
    }
  });
}

bool SameQuantities(const rate::VmQuantities& a, const rate::VmQuantities& b, size_t* first) {
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k] != b[k]) {
      *first = k;
      return false;
    }
  }
  return true;
}

// Account `a`'s charges for the whole month, by account: what the replay rates.
rating::RatingRequest AccountMonth(const RateMonth& month, size_t a) {
  rating::RatingRequest req;
  req.from = month.month_start();
  req.to = month.month_end();
  req.scope = rating::ScopeKind::kAccount;
  req.scope_id = RateMonth::AccountId(a);
  req.group_by = rating::GroupBy::kAccount;
  return req;
}

// The server's charges path (MeterService::RunCharges) replayed in process on the stopped
// server's data directory, for `accounts` (each checked): series list, engine, Rate.
Status Replay(const QueryWorkloadOptions& o, const RateMonth& month, const tn::Tenancy& tenancy,
              const pb::PriceBook& book, const rate::ExpectedCharges& expected,
              const std::vector<size_t>& accounts, QueryWorkloadResult* r) {
  engine::MetricCatalog metrics;
  METERD_ASSIGN_OR_RETURN(auto billing, pb::BillingStore::Open(o.dir, &metrics));
  const pb::BillingSnapshot snap = billing->Current();
  r->catalog_equal = SameCatalog(snap, tenancy, book, &r->catalog_detail);
  Expect(r->catalog_equal, "the applied catalog differs from the in-code one: " + r->catalog_detail,
         r);
  METERD_ASSIGN_OR_RETURN(auto registry, engine::SeriesRegistry::Open(o.dir, &metrics));
  r->registry_series = registry->size();
  std::vector<std::string> damage;
  METERD_ASSIGN_OR_RETURN(const query::RollupView view, rating::OpenRollupView(o.dir, &damage));
  if (!damage.empty()) return Status::Corruption("damaged rollup file: " + damage[0]);
  std::vector<double> series_ms, create_ms, rate_ms, sum_ms;
  const size_t warmup = std::min<size_t>(3, accounts.size());
  for (size_t i = 0; i < accounts.size(); ++i) {
    const size_t a = accounts[i];
    const auto t0 = Clock::now();
    std::vector<engine::SeriesInfo> series = registry->Matching("", "");
    const auto t1 = Clock::now();
    rating::RatingCatalog catalog{
        snap.tenancy, snap.price_book,
        snap.subscriptions ? snap.subscriptions->subscriptions : std::vector<pb::Subscription>{}};
    auto engine = rating::RatingEngine::Create(std::move(catalog), std::move(series));
    if (!engine.ok()) return engine.status();
    const auto t2 = Clock::now();
    const rating::RatingRequest req = AccountMonth(month, a);
    auto res = engine.value()->Rate(view, req);
    if (!res.ok()) return res.status();
    const auto t3 = Clock::now();
    Expect(res->total == expected.account_total[a],
           "replay: account " + req.scope_id + " total " + std::to_string(res->total) +
               ", expected " + std::to_string(expected.account_total[a]),
           r);
    if (i < warmup) continue;
    auto ms = [](Clock::time_point x, Clock::time_point y) {
      return std::chrono::duration<double, std::milli>(y - x).count();
    };
    series_ms.push_back(ms(t0, t1));
    create_ms.push_back(ms(t1, t2));
    rate_ms.push_back(ms(t2, t3));
    sum_ms.push_back(ms(t0, t3));
  }
  // The fleet grown by its last 1,000 VMs: the engine of the series defined before them,
  // extended with theirs (the server's path when agents define new series), then one account.
  {
    std::vector<engine::SeriesInfo> all = registry->Since(0);  // definition order
    const size_t grown = std::min(all.size() / 2, size_t{1000} * rate::kRateMetrics);
    std::vector<engine::SeriesInfo> added(all.end() - static_cast<std::ptrdiff_t>(grown),
                                          all.end());
    all.resize(all.size() - grown);
    rating::RatingCatalog catalog{
        snap.tenancy, snap.price_book,
        snap.subscriptions ? snap.subscriptions->subscriptions : std::vector<pb::Subscription>{}};
    METERD_ASSIGN_OR_RETURN(auto base,
                            rating::RatingEngine::Create(std::move(catalog), std::move(all)));
    std::vector<double> extend_ms, extend_sum_ms;
    for (size_t i = 0; i < accounts.size(); ++i) {
      const size_t a = accounts[i];
      const auto t0 = Clock::now();
      METERD_ASSIGN_OR_RETURN(auto grown_engine, base->Extend(added));
      const auto t1 = Clock::now();
      const rating::RatingRequest req = AccountMonth(month, a);
      METERD_ASSIGN_OR_RETURN(const rating::RatingResult res, grown_engine->Rate(view, req));
      const auto t2 = Clock::now();
      Expect(res.total == expected.account_total[a],
             "replay (extended engine): account " + req.scope_id + " total " +
                 std::to_string(res.total) + ", expected " +
                 std::to_string(expected.account_total[a]),
             r);
      if (i < warmup) continue;
      extend_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      extend_sum_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
    }
    r->grown_series = grown;
    r->step_extend = Summarize(extend_ms, 0);
    r->step_extend_sum = Summarize(extend_sum_ms, 0);
  }
  r->breakdown_n = sum_ms.size();
  r->step_series = Summarize(series_ms, 0);
  r->step_create = Summarize(create_ms, 0);
  r->step_rate = Summarize(rate_ms, 0);
  r->step_sum = Summarize(sum_ms, 0);
  return Status::OK();
}

// The timed phases against the running server.
Status QueryServer(const QueryWorkloadOptions& o, const RateMonth& month,
                   const rate::ExpectedCharges& expected, const std::vector<std::string>& docs,
                   ServerProcess* server, QueryWorkloadResult* r) {
  net::ClientOptions co;
  co.port = server->port();
  co.api_key = server->admin_key();
  co.client_name = "meter-bench query";
  co.request_timeout = std::chrono::milliseconds(300000);  // a full month at 50k VMs, cold
  co.reconnect_attempts = 0;
  net::Client client(co);
  METERD_RETURN_IF_ERROR(client.Connect());

  // The catalog.
  if (o.progress) std::fprintf(stderr, "  query: applying %zu catalog documents\n", docs.size());
  auto t = Clock::now();
  CatalogApplyTotals applied;
  METERD_RETURN_IF_ERROR(ApplyCatalogDocuments(&client, docs, &applied));
  r->documents = applied.documents;
  r->document_bytes = applied.document_bytes;
  r->created = applied.created;
  r->updated = applied.updated;
  r->unchanged = applied.unchanged;
  r->apply_seconds = MsSince(t) / 1e3;
  if (r->reused) {
    Expect(r->created == 0 && r->updated == 0,
           "re-applying the catalog changed something (created " + std::to_string(r->created) +
               ", updated " + std::to_string(r->updated) + ")",
           r);
  }
  if (!r->reused) {
    METERD_RETURN_IF_ERROR(storage::WriteFileAtomic(o.dir + "/" + kQuerySetupFile, SetupText(o)));
  }

  const int64_t from = month.month_start(), to = month.month_end();
  const pid_t pid = server->pid();
  std::unordered_map<std::string, size_t> account_index;
  for (size_t a = 0; a < month.accounts(); ++a) account_index[RateMonth::AccountId(a)] = a;

  auto check_full = [&](const ChargesAnswer& c, const char* what) {
    const std::string w = std::string(what) + ": ";
    Expect(c.unattributed == 0 && c.unpriced == 0 && !c.provisional,
           w + "unattributed, unpriced or provisional usage", r);
    Expect(c.total == expected.total,
           w + "grand total " + std::to_string(c.total) + " micro-credits, expected " +
               std::to_string(expected.total),
           r);
    Expect(c.totals.size() == month.accounts(),
           w + std::to_string(c.totals.size()) + " account totals, expected " +
               std::to_string(month.accounts()),
           r);
    for (const auto& [key, amount] : c.totals) {
      const auto it = account_index.find(key);
      if (!Expect(it != account_index.end(), w + "a total for unknown account " + key, r)) break;
      if (!Expect(amount == expected.account_total[it->second],
                  w + "account " + key + ": " + std::to_string(amount) + ", expected " +
                      std::to_string(expected.account_total[it->second]),
                  r)) {
        break;
      }
    }
    Expect(c.lines == expected.lines,
           w + std::to_string(c.lines) + " lines, expected " + std::to_string(expected.lines), r);
    Expect(c.rows_scanned == month.rows(),
           w + "scanned " + std::to_string(c.rows_scanned) + " rows, expected " +
               std::to_string(month.rows()),
           r);
  };
  auto check_account = [&](const ChargesAnswer& c, size_t a) {
    const std::string w = "account " + RateMonth::AccountId(a) + ": ";
    Expect(c.unattributed == 0 && c.unpriced == 0 && !c.provisional,
           w + "unattributed, unpriced or provisional usage", r);
    Expect(c.total == expected.account_total[a] && c.totals.size() == 1 &&
               c.totals[0].first == RateMonth::AccountId(a) &&
               c.totals[0].second == expected.account_total[a],
           w + "total " + std::to_string(c.total) + " micro-credits, expected " +
               std::to_string(expected.account_total[a]),
           r);
    Expect(
        c.lines == expected.line_counts[a],
        w + std::to_string(c.lines) + " lines, expected " + std::to_string(expected.line_counts[a]),
        r);
  };

  // Warm-up: the whole month once (every rollup block read), checked.
  if (o.progress) std::fprintf(stderr, "  query: warm-up, full month\n");
  ChargesAnswer full;
  METERD_RETURN_IF_ERROR(Charges(&client, from, to, wire::ChargeScope::All, "", &full));
  check_full(full, "full month (warm-up)");

  // (a) One account's month, a different account per request.
  const std::vector<size_t> account_perm = Permutation(month.accounts(), o.seed ^ 0xACC0);
  const size_t n_accounts = o.account_requests;  // past month.accounts(), the sample repeats
  if (o.progress) {
    std::fprintf(stderr, "  query: %zu one-account charges requests\n", n_accounts);
  }
  for (size_t i = 0; i < o.warmup_requests; ++i) {
    const size_t a = account_perm[(n_accounts + i) % account_perm.size()];
    ChargesAnswer c;
    METERD_RETURN_IF_ERROR(
        Charges(&client, from, to, wire::ChargeScope::Account, RateMonth::AccountId(a), &c));
    check_account(c, a);
  }
  {
    std::vector<double> ms;
    const double cpu0 = ProcessCpuSeconds(pid);
    for (size_t i = 0; i < n_accounts; ++i) {
      const size_t a = account_perm[i % account_perm.size()];
      const std::string id = RateMonth::AccountId(a);
      ChargesAnswer c;
      t = Clock::now();
      METERD_RETURN_IF_ERROR(Charges(&client, from, to, wire::ChargeScope::Account, id, &c));
      ms.push_back(MsSince(t));
      check_account(c, a);
      if (i == 0) r->account_rows = c.rows_scanned;
    }
    r->account = Summarize(std::move(ms), ProcessCpuSeconds(pid) - cpu0);
  }

  // (b) One VM's month of usage, by month and by hour.
  const std::vector<size_t> vm_perm = Permutation(month.vms(), o.seed ^ 0x05A6E);
  const size_t n_vms = o.usage_requests;  // past month.vms(), the sample repeats
  for (const wire::Granularity g : {wire::Granularity::Month, wire::Granularity::Hour}) {
    const bool by_month = g == wire::Granularity::Month;
    if (o.progress) {
      std::fprintf(stderr, "  query: %zu one-VM usage requests by %s\n", n_vms,
                   by_month ? "month" : "hour");
    }
    const size_t lines_expected = rate::kRateMetrics * (by_month ? 1 : month.hours());
    auto check_usage = [&](const UsageAnswer& u, size_t vm) {
      const std::string w = std::string("usage by ") + (by_month ? "month" : "hour") + " of " +
                            RateMonth::ResourceId(vm) + ": ";
      size_t k = 0;
      Expect(u.unknown_metric.empty(), w + "a line of metric " + u.unknown_metric, r);
      Expect(u.lines == lines_expected && u.hours == rate::kRateMetrics * month.hours() &&
                 u.provisional_hours == 0,
             w + std::to_string(u.lines) + " lines of " + std::to_string(u.hours) + " hours (" +
                 std::to_string(u.provisional_hours) + " provisional), expected " +
                 std::to_string(lines_expected) + " lines of " +
                 std::to_string(rate::kRateMetrics * month.hours()) + " hours",
             r);
      Expect(SameQuantities(u.q, month.quantities(vm), &k),
             w + "quantity " + std::to_string(k) + " is " + pb::ToString128(u.q[k]) +
                 ", the generator's " + pb::ToString128(month.quantities(vm)[k]),
             r);
    };
    for (size_t i = 0; i < o.warmup_requests; ++i) {
      const size_t vm = vm_perm[(n_vms + i) % vm_perm.size()];
      UsageAnswer u;
      METERD_RETURN_IF_ERROR(Usage(&client, from, to, RateMonth::ResourceId(vm), g, &u));
      check_usage(u, vm);
    }
    std::vector<double> ms;
    const double cpu0 = ProcessCpuSeconds(pid);
    for (size_t i = 0; i < n_vms; ++i) {
      const size_t vm = vm_perm[i % vm_perm.size()];
      const std::string id = RateMonth::ResourceId(vm);
      UsageAnswer u;
      t = Clock::now();
      METERD_RETURN_IF_ERROR(Usage(&client, from, to, id, g, &u));
      ms.push_back(MsSince(t));
      check_usage(u, vm);
      if (i == 0 && by_month) r->usage_rows = u.rows_scanned;
    }
    (by_month ? r->usage_month : r->usage_hour) =
        Summarize(std::move(ms), ProcessCpuSeconds(pid) - cpu0);
  }

  // (c) Every account's month.
  if (o.progress) std::fprintf(stderr, "  query: %d full-month charges requests\n", o.full_runs);
  std::vector<double> cpu_ms;
  for (int run = 0; run < o.full_runs; ++run) {
    const double cpu0 = ProcessCpuSeconds(pid);
    t = Clock::now();
    METERD_RETURN_IF_ERROR(Charges(&client, from, to, wire::ChargeScope::All, "", &full));
    r->full_ms.push_back(MsSince(t));
    cpu_ms.push_back((ProcessCpuSeconds(pid) - cpu0) * 1e3);
    check_full(full, "full month");
  }
  r->full_median_ms = Median(r->full_ms);
  r->full_server_cpu_ms = Median(cpu_ms);
  r->full_rows_scanned = full.rows_scanned;
  r->full_lines = full.lines;
  r->full_totals = full.totals.size();
  r->total = full.total;
  r->server_rss_bytes = ProcessStatusKiB(pid, "VmRSS:") * 1024;
  r->server_peak_rss_bytes = ProcessStatusKiB(pid, "VmHWM:") * 1024;
  client.Close();
  return Status::OK();
}

}  // namespace

Status RunQueryWorkload(const QueryWorkloadOptions& o, QueryWorkloadResult* r) {
  if (o.vms == 0 || o.full_runs < 1 || o.account_requests == 0 || o.usage_requests == 0) {
    return Status::InvalidArgument("query: --vms, --runs, --accounts and --usage must be positive");
  }
  METERD_ASSIGN_OR_RETURN(const int64_t month_start, rate::ParseMonth(o.month));
  rate::RateMonthOptions mo;
  mo.vms = o.vms;
  mo.seed = o.seed;
  mo.month_start = month_start;
  RateMonth month(mo);
  if (month.month_end() > static_cast<int64_t>(std::time(nullptr))) {
    return Status::InvalidArgument("query: month " + o.month +
                                   " is not over; the server would hold its hours open");
  }
  r->rows = month.rows();
  r->series = month.series().size();
  r->accounts = month.accounts();
  r->hours = month.hours();
  METERD_ASSIGN_OR_RETURN(auto tenancy, month.BuildTenancy());
  METERD_ASSIGN_OR_RETURN(auto book, RateMonth::BuildPriceBook(month_start));
  METERD_ASSIGN_OR_RETURN(const std::vector<std::string> docs, CatalogDocuments(*tenancy, *book));

  // 1. The data directory.
  r->reused = o.reuse && SetupMatches(o);
  if (r->reused) {
    if (o.progress)
      std::fprintf(stderr, "  query: reusing %s; regenerating the month\n", o.dir.c_str());
    const auto t0 = Clock::now();
    std::vector<storage::RollupRow> rows;
    for (size_t h = 0; h < month.hours(); ++h) month.NextHour(&rows);
    r->generate_seconds = MsSince(t0) / 1e3;
    r->rollup_bytes = DirBytes(o.dir + "/rollup");
  } else {
    METERD_RETURN_IF_ERROR(storage::RemoveTree(o.dir));
    METERD_RETURN_IF_ERROR(storage::CreateDirIfMissing(o.dir));
    std::remove((o.dir + ".log").c_str());  // the server's log (ServerProcess appends)
    METERD_ASSIGN_OR_RETURN(const rate::SealedMonth sealed,
                            rate::SealMonth(&month, o.dir, nullptr, o.progress));
    r->generate_seconds = sealed.generate_seconds;
    r->merge_seconds = sealed.merge_seconds;
    r->rollup_bytes = sealed.rollup_bytes;
    const auto t0 = Clock::now();
    METERD_RETURN_IF_ERROR(DefineSeries(o.dir, month));
    r->define_seconds = MsSince(t0) / 1e3;
  }
  METERD_ASSIGN_OR_RETURN(const rate::ExpectedCharges expected, month.Expected(*book));
  r->expected_total = expected.total;
  r->expected_lines = expected.lines;
  r->check = true;

  // 2.-3. The server: started on the directory, always stopped before returning.
  Status st;
  {
    ServerProcess server;
    server.set_start_timeout(std::chrono::seconds(o.start_timeout_s));
    if (o.progress) std::fprintf(stderr, "  query: starting meterd on %s\n", o.dir.c_str());
    const auto t0 = Clock::now();
    st = server.Start(o.meterd_path, o.dir, o.meterd_args, /*fresh=*/false);
    r->start_seconds = MsSince(t0) / 1e3;
    if (st.ok()) {
      r->server_pid = server.pid();
      r->port = server.port();
      st = QueryServer(o, month, expected, docs, &server, r);
    }
    r->stop_seconds = server.Stop();
  }
  METERD_RETURN_IF_ERROR(st);

  // 4. The server's charges path, replayed in process.
  if (o.breakdown_accounts > 0) {
    if (o.progress) {
      std::fprintf(stderr, "  query: replaying the server's charges path for %zu accounts\n",
                   o.breakdown_accounts);
    }
    std::vector<size_t> accounts = Permutation(month.accounts(), o.seed ^ 0xACC0);
    accounts.resize(std::min(accounts.size(), o.breakdown_accounts + 3));  // 3 warm-ups
    METERD_RETURN_IF_ERROR(Replay(o, month, *tenancy, *book, expected, accounts, r));
  }
  return Status::OK();
}

void PrintQueryTable(std::FILE* out, const QueryWorkloadOptions& o, const QueryWorkloadResult& r) {
  const double mib = 1048576.0;
  std::fprintf(out,
               "\nmeterd billing queries through the binary protocol — %zu VMs x 8 metrics, %zu "
               "accounts of %zu VMs, month %s (%zu h)\n",
               o.vms, r.accounts, rate::kVmsPerAccount, o.month.c_str(), r.hours);
  std::fprintf(out, "  bucket rows            %llu (%llu series) in %s/rollup, %.2f B/row\n",
               static_cast<unsigned long long>(r.rows), static_cast<unsigned long long>(r.series),
               o.dir.c_str(), static_cast<double>(r.rollup_bytes) / static_cast<double>(r.rows));
  if (r.reused) {
    std::fprintf(out, "  data directory         reused (month regenerated in memory in %.1f s)\n",
                 r.generate_seconds);
  } else {
    std::fprintf(out,
                 "  generate + seal        %.1f s, merge %.1f s, series registry %.1f s (admin "
                 "definitions)\n",
                 r.generate_seconds, r.merge_seconds, r.define_seconds);
  }
  std::fprintf(out, "  meterd                 pid %d on 127.0.0.1:%u, listening after %.2f s\n",
               static_cast<int>(r.server_pid), r.port, r.start_seconds);
  std::fprintf(out,
               "  catalog                ApplyCatalog x %zu (%.1f MB JSON) in %.2f s: created "
               "%u, updated %u, unchanged %u\n",
               r.documents, static_cast<double>(r.document_bytes) / 1e6, r.apply_seconds, r.created,
               r.updated, r.unchanged);
  std::fprintf(out, "  server memory          RSS %.0f MiB after the queries, peak %.0f MiB\n",
               static_cast<double>(r.server_rss_bytes) / mib,
               static_cast<double>(r.server_peak_rss_bytes) / mib);

  std::fprintf(out, "\n  %-44s %5s %9s %9s %9s %9s %12s\n", "request (sequential, one connection)",
               "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "server CPU");
  auto row = [&](const std::string& name, const LatencySummary& s) {
    std::fprintf(out, "  %-44s %5zu %9.3f %9.3f %9.3f %9.3f %9.3f ms\n", name.c_str(), s.n, s.p50,
                 s.p90, s.p99, s.max, s.server_cpu_ms);
  };
  row("ChargesRequest, one account's month", r.account);
  row("UsageRequest, one VM's month, by month", r.usage_month);
  row("UsageRequest, one VM's month, by hour", r.usage_hour);
  std::fprintf(out,
               "  (rows scanned: %llu for one account, %llu for one VM; one VM by hour: %zu "
               "lines)\n",
               static_cast<unsigned long long>(r.account_rows),
               static_cast<unsigned long long>(r.usage_rows), rate::kRateMetrics * r.hours);

  std::fprintf(out, "\n  full month, all accounts (ChargesRequest scope all, group by account)\n");
  std::fprintf(out, "    runs                 ");
  for (double ms : r.full_ms) std::fprintf(out, "%.1f ", ms);
  std::fprintf(out, "ms\n");
  std::fprintf(out,
               "    median               %.1f ms round trip = %.1f M rows/s; server CPU %.1f ms\n",
               r.full_median_ms, static_cast<double>(r.rows) / (r.full_median_ms / 1e3) / 1e6,
               r.full_server_cpu_ms);
  std::fprintf(out, "    answer               %zu charge lines + %zu account totals, %llu rows\n",
               r.full_lines, r.full_totals, static_cast<unsigned long long>(r.full_rows_scanned));
  std::fprintf(out, "    grand total          %lld micro-credits (expected %lld)\n",
               static_cast<long long>(r.total), static_cast<long long>(r.expected_total));

  if (r.breakdown_n > 0) {
    std::fprintf(out,
                 "\n  server charges path replayed in process (RunCharges, %zu accounts, %zu "
                 "series in the registry)\n",
                 r.breakdown_n, r.registry_series);
    std::fprintf(out, "    %-42s %9s %9s %9s\n", "step", "p50 ms", "p99 ms", "mean ms");
    auto step = [&](const char* name, const LatencySummary& s) {
      std::fprintf(out, "    %-42s %9.3f %9.3f %9.3f\n", name, s.p50, s.p99, s.mean);
    };
    step("SeriesRegistry::Matching(\"\", \"\")", r.step_series);
    step("RatingEngine::Create (every series)", r.step_create);
    step("RatingEngine::Rate (one account)", r.step_rate);
    step("sum", r.step_sum);
    const std::string grown =
        "RatingEngine::Extend (+" + std::to_string(r.grown_series) + " series)";
    step(grown.c_str(), r.step_extend);
    step("  + RatingEngine::Rate (one account)", r.step_extend_sum);
    std::fprintf(out, "    applied catalog        %s\n",
                 r.catalog_equal ? "equal to the in-code one (every entity and product)"
                                 : ("DIFFERS: " + r.catalog_detail).c_str());
  }
  if (r.breakdown_n == 0) {
    std::fprintf(
        out, "\n  (no in-process replay: --breakdown 0; the applied catalog was not compared)\n");
  }
  std::fprintf(out, "\n  server stop            %.2f s\n", r.stop_seconds);
  std::fprintf(out, "  check                  %s\n",
               r.check ? "OK: every answer matches the generator's (account totals, grand total, "
                         "lines, each VM's usage quantities)"
                       : ("FAILED: " + r.check_detail).c_str());
}

void PrintQueryJson(const QueryWorkloadOptions& o, const QueryWorkloadResult& r) {
  std::string runs;
  for (double ms : r.full_ms) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%.3f", runs.empty() ? "" : ",", ms);
    runs += buf;
  }
  auto lat = [](const LatencySummary& s) {
    char buf[200];
    std::snprintf(buf, sizeof(buf),
                  "{\"n\":%zu,\"p50_ms\":%.4f,\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f,"
                  "\"mean_ms\":%.4f,\"server_cpu_ms\":%.4f}",
                  s.n, s.p50, s.p90, s.p99, s.max, s.mean, s.server_cpu_ms);
    return std::string(buf);
  };
  std::printf(
      "{\"workload\":\"query\",\"vms\":%zu,\"accounts\":%zu,\"seed\":%llu,\"month\":\"%s\","
      "\"rows\":%llu,\"reused\":%s,\"start_s\":%.3f,\"apply_s\":%.3f,"
      "\"account_charges\":%s,\"account_rows\":%llu,\"usage_month\":%s,\"usage_hour\":%s,"
      "\"usage_rows\":%llu,"
      "\"full_month_ms\":%.3f,\"full_month_runs_ms\":[%s],\"full_month_server_cpu_ms\":%.3f,"
      "\"rows_per_s\":%.0f,\"full_lines\":%zu,\"grand_total_micro\":%lld,"
      "\"expected_total_micro\":%lld,\"breakdown\":{\"n\":%zu,\"series\":%s,\"create\":%s,"
      "\"rate\":%s,\"sum\":%s,\"grown_series\":%zu,\"extend\":%s,\"extend_sum\":%s},\"catalog_"
      "equal\":%s,\"server_rss_bytes\":%llu,"
      "\"server_peak_rss_bytes\":%llu,\"rollup_bytes\":%llu,\"check\":%s}\n",
      o.vms, r.accounts, static_cast<unsigned long long>(o.seed), o.month.c_str(),
      static_cast<unsigned long long>(r.rows), r.reused ? "true" : "false", r.start_seconds,
      r.apply_seconds, lat(r.account).c_str(), static_cast<unsigned long long>(r.account_rows),
      lat(r.usage_month).c_str(), lat(r.usage_hour).c_str(),
      static_cast<unsigned long long>(r.usage_rows), r.full_median_ms, runs.c_str(),
      r.full_server_cpu_ms, static_cast<double>(r.rows) / (r.full_median_ms / 1e3), r.full_lines,
      static_cast<long long>(r.total), static_cast<long long>(r.expected_total), r.breakdown_n,
      lat(r.step_series).c_str(), lat(r.step_create).c_str(), lat(r.step_rate).c_str(),
      lat(r.step_sum).c_str(), r.grown_series, lat(r.step_extend).c_str(),
      lat(r.step_extend_sum).c_str(),
      r.breakdown_n == 0 ? "null" : (r.catalog_equal ? "true" : "false"),  // null: not compared
      static_cast<unsigned long long>(r.server_rss_bytes),
      static_cast<unsigned long long>(r.server_peak_rss_bytes),
      static_cast<unsigned long long>(r.rollup_bytes), r.check ? "true" : "false");
}

}  // namespace meterd::bench
