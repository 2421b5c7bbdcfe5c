// meterd — engine/rating/rating_engine.cc: RatingEngine (engine/rating/rating_engine.h).
//
// Create indexes the catalog and the series once (series by id and in id order, series per
// resource, resources per account, the attribute class of every resource version,
// subscriptions per account). Rate borrows the engine's spare scratch arrays and runs, per
// call:
//   BuildPlan (rating_plan.cc) -> RunScan (query::rating::ScanRating on up to
//   options.threads threads) -> a second, small scan splitting unrated state usage per state
//   code -> Price (rating_price.cc).
#include "engine/rating/rating_engine.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "engine/rating/rating_internal.h"
#include "query/scan/period.h"
#include "storage/rollup.h"

namespace meterd::engine::rating {

using internal::CeilHour;
using internal::EngineData;
using internal::FloorHour;
using internal::kH;
using internal::kNone;
using internal::SeriesHot;
using internal::Work;

namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of the calling thread, in ms (the phases' CPU time: less sensitive than wall time
// to other work on the machine, and right while other requests run).
double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// The attributes a product match reads, of one resource version: versions of one class
// resolve every metric to the same products.
struct ClassKey {
  uint32_t plan, plan_group, location;
  std::string_view type, tier;
  bool operator==(const ClassKey&) const = default;
};

struct ClassKeyHash {
  size_t operator()(const ClassKey& k) const {
    size_t h = std::hash<std::string_view>()(k.type);
    auto mix = [&h](size_t v) { h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); };
    mix(k.plan);
    mix(k.plan_group);
    mix(k.location);
    mix(std::hash<std::string_view>()(k.tier));
    return h;
  }
};

// Builds the CSR `begin` (n + 1 entries) / `items` from (bucket, item) pairs in item order.
void BuildCsr(size_t n, const std::vector<std::pair<uint32_t, uint32_t>>& pairs,
              std::vector<uint32_t>* begin, std::vector<uint32_t>* items) {
  begin->assign(n + 1, 0);
  for (const auto& [b, i] : pairs) ++(*begin)[b + 1];
  for (size_t k = 0; k < n; ++k) (*begin)[k + 1] += (*begin)[k];
  items->assign(pairs.size(), 0);
  std::vector<uint32_t> fill(begin->begin(), begin->end() - 1);
  for (const auto& [b, i] : pairs) (*items)[fill[b]++] = i;
}

// Splits unrated state usage of several state codes per code: a small second scan over the
// hours those entries were routed.
Status SplitUnrated(const query::RollupView& view, Work* w) {
  std::vector<uint32_t> ids;
  for (uint32_t id = 0; id < w->unrated.size(); ++id) {
    const internal::UnratedInfo& u = w->unrated[id];
    if (w->engine->hot[u.series].kind == MetricKind::kState && __builtin_popcount(u.states) > 1 &&
        w->totals[u.slot].quantity != 0) {
      ids.push_back(id);
    }
  }
  if (ids.empty()) return Status::OK();
  std::vector<internal::UnratedRange> ranges;
  for (const internal::UnratedRange& r : w->unrated_ranges) {
    if (std::binary_search(ids.begin(), ids.end(), r.unrated)) ranges.push_back(r);
  }
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const auto& a, const auto& b) { return a.unrated < b.unrated; });
  query::rating::RatingPlan plan;
  plan.from = w->plan.from;
  plan.to = w->plan.to;
  size_t ri = 0;
  for (uint32_t id : ids) {
    const internal::UnratedInfo& u = w->unrated[id];
    const size_t r0 = ri;
    while (ri < ranges.size() && ranges[ri].unrated == id) ++ri;
    for (uint32_t c = 0; c < 8; ++c) {
      if (((u.states >> c) & 1) == 0) continue;
      query::rating::Meter m;
      m.series_id = w->engine->hot[u.series].id;
      m.quantity = query::rating::Quantity::kStateSeconds;
      m.state_mask = static_cast<uint8_t>(1u << c);
      m.first_route = static_cast<uint32_t>(plan.routes.size());
      for (size_t k = r0; k < ri; ++k) {
        query::rating::Route route{ranges[k].from, ranges[k].to, plan.slots, 0};
        if (!plan.routes.empty() && k > r0 && plan.routes.back().to == route.from) {
          plan.routes.back().to = route.to;  // adjacent pieces of one entry: one route
        } else {
          plan.routes.push_back(route);
        }
      }
      m.route_count = static_cast<uint32_t>(plan.routes.size()) - m.first_route;
      plan.meters.push_back(m);
      w->unrated_split.push_back(Work::SplitTotal{id, static_cast<uint8_t>(c), {}});
      ++plan.slots;
    }
  }
  // Unrated ids follow the plan's resource order, not series ids: sort the meters for the scan.
  std::stable_sort(plan.meters.begin(), plan.meters.end(),
                   [](const auto& a, const auto& b) { return a.series_id < b.series_id; });
  std::vector<query::rating::SlotTotals> totals(plan.slots);
  METERD_RETURN_IF_ERROR(
      query::rating::ScanRating(view, plan, 0, plan.meters.size(), totals.data(), nullptr));
  for (size_t i = 0; i < totals.size(); ++i) w->unrated_split[i].totals = totals[i];
  return Status::OK();
}

// The usage and fee lines of a month-to-date rating (RateMonthToDate): the usage change per
// account from AccrueMonth, the fees (and unrated usage) from Price over no usage lines.
Status PriceMonthToDate(Work* w, RatingResult* out) {
  const tenancy::Tenancy& t = w->engine->tenancy();
  std::vector<__int128> delta(t.accounts().size(), 0);
  METERD_RETURN_IF_ERROR(internal::AccrueMonth(*w, &delta, w->month_state->plan.get()));
  // Price without usage lines (their change is the delta): the fees and the unrated usage. The
  // lines and groups stay the plan's (kept for the next hour).
  std::vector<internal::LineInfo> lines = std::move(w->lines);
  std::vector<internal::GroupInfo> groups = std::move(w->groups);
  w->lines.clear();
  w->groups.clear();
  const Status priced = internal::Price(*w, out);
  w->lines = std::move(lines);
  w->groups = std::move(groups);
  METERD_RETURN_IF_ERROR(priced);
  out->groups.clear();
  __int128 total = out->total;
  for (uint32_t a = 0; a < delta.size(); ++a) {
    if (delta[a] == 0) continue;
    if (delta[a] > INT64_MAX || delta[a] < INT64_MIN) {
      return Status::OutOfRange("month-to-date rating: an account's change exceeds int64");
    }
    ChargeLine& cl = out->lines.emplace_back();
    cl.domain = t.accounts()[a].domain;
    cl.account = t.accounts()[a].id;
    cl.period_start = w->from;
    cl.period_end = w->to;
    cl.month_start = w->months[0];
    cl.amount = static_cast<MicroCredits>(delta[a]);
    cl.currency = out->currency;
    total += delta[a];
  }
  if (total > INT64_MAX || total < INT64_MIN) return Status::OutOfRange("total exceeds int64");
  out->total = static_cast<MicroCredits>(total);
  return Status::OK();
}

// What planning reads of `s`: its metric's index in `metrics` (sorted, holding it) and its
// resource's index in `t` (its id, or its agent id; kNone when unknown).
SeriesHot HotOf(const SeriesInfo& s, const std::vector<std::string>& metrics,
                const tenancy::Tenancy& t) {
  const uint32_t r = t.ResourceForSeries(s.resource);
  return SeriesHot{
      s.id,
      static_cast<uint32_t>(std::lower_bound(metrics.begin(), metrics.end(), s.metric) -
                            metrics.begin()),
      r == tenancy::kNone ? kNone : r, s.kind, s.type};
}

// EngineData's series order: (resource index, metric, id), unknown resources last.
bool SeriesOrder(const SeriesHot& a, const SeriesHot& b) {
  return std::tie(a.resource, a.metric, a.id) < std::tie(b.resource, b.metric, b.id);
}

// res_begin from hot (in SeriesOrder).
void CountSeriesPerResource(uint32_t nres, EngineData* d) {
  d->res_begin.assign(nres + 1, 0);
  for (const SeriesHot& h : d->hot) {
    if (h.resource != kNone) ++d->res_begin[h.resource + 1];
  }
  for (uint32_t r = 0; r < nres; ++r) d->res_begin[r + 1] += d->res_begin[r];
}

RatingRequest AccountsRequest(int64_t from, int64_t to) {
  RatingRequest req;
  req.from = from;
  req.to = to;
  req.scope = ScopeKind::kAll;
  req.group_by = GroupBy::kAccount;
  req.report_unpriced_metrics = false;
  return req;
}

}  // namespace

namespace internal {

Status RunScan(const query::RollupView& view, int threads, Work* w, RatingStats* stats) {
  const query::rating::RatingPlan& plan = w->plan;
  w->totals.assign(plan.slots, query::rating::SlotTotals{});
  // Below this many meters (an account's few hundred) a thread costs more than it saves.
  constexpr size_t kMinMetersPerThread = 2048;
  size_t parts = static_cast<size_t>(std::max(1, threads));
  parts = std::min(parts, std::max<size_t>(1, plan.meters.size() / kMinMetersPerThread));
  std::vector<query::rating::RatingScanStats> part_stats(parts);
  std::vector<double> cpu_ms(parts, 0);
  // Every slot is fed by the meters of one series (a line belongs to one series; so does an
  // unrated entry) and SplitMeters never splits a series, so the threads write disjoint slots
  // of one array.
  const std::vector<size_t> cuts = query::rating::SplitMeters(plan, parts);
  std::vector<Status> status(parts);
  std::vector<std::thread> pool;
  for (size_t p = 1; p < parts; ++p) {
    pool.emplace_back([&, p] {
      const double cpu0 = ThreadCpuMs();
      status[p] = query::rating::ScanRating(view, plan, cuts[p], cuts[p + 1], w->totals.data(),
                                            &part_stats[p]);
      cpu_ms[p] = ThreadCpuMs() - cpu0;
    });
  }
  const double cpu0 = ThreadCpuMs();
  status[0] =
      query::rating::ScanRating(view, plan, cuts[0], cuts[1], w->totals.data(), &part_stats[0]);
  cpu_ms[0] = ThreadCpuMs() - cpu0;
  for (std::thread& t : pool) t.join();
  for (size_t p = 0; p < parts; ++p) {
    METERD_RETURN_IF_ERROR(status[p]);
    stats->rows_scanned += part_stats[p].rows_scanned;
    stats->blocks_read += part_stats[p].blocks_read;
    for (std::string& d : part_stats[p].damaged) stats->damaged.push_back(std::move(d));
    stats->scan_cpu_ms += cpu_ms[p];
  }
  stats->threads = static_cast<int>(parts);
  return Status::OK();
}

}  // namespace internal

struct RatingEngine::Impl {
  EngineData data;

  // Spare scratch arrays (internal::Buffers) of finished calls, so that a fleet-wide rating
  // does not fault in ~200 MB (50,000 VMs) of fresh memory every time. One set at most (a
  // call that finds none allocates its own, dropped at its end unless the pool is empty): the
  // memory kept is bounded by the largest rating's, for as long as the engine lives (one per
  // catalog snapshot).
  static constexpr size_t kSpare = 1;
  mutable std::mutex mu;
  mutable std::vector<std::unique_ptr<internal::Buffers>> spare;  // guarded by mu

  std::unique_ptr<internal::Buffers> Acquire() const {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!spare.empty()) {
        std::unique_ptr<internal::Buffers> b = std::move(spare.back());
        spare.pop_back();
        return b;
      }
    }
    return std::make_unique<internal::Buffers>();
  }
  void Release(std::unique_ptr<internal::Buffers> b) const {
    std::lock_guard<std::mutex> lock(mu);
    if (spare.size() < kSpare) spare.push_back(std::move(b));
  }
};

RatingEngine::RatingEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RatingEngine::~RatingEngine() = default;

const RatingCatalog& RatingEngine::catalog() const { return *impl_->data.catalog; }
size_t RatingEngine::series() const { return impl_->data.hot.size(); }

Result<std::unique_ptr<RatingEngine>> RatingEngine::Create(RatingCatalog catalog,
                                                           std::vector<SeriesInfo> series,
                                                           RatingOptions options) {
  if (catalog.tenancy == nullptr || catalog.price_book == nullptr) {
    return Status::InvalidArgument("rating engine: the catalog needs a tenancy and a price book");
  }
  auto impl = std::make_unique<Impl>();
  EngineData& d = impl->data;
  d.options = options;
  const tenancy::Tenancy& t = *catalog.tenancy;
  {
    std::vector<uint64_t> ids(series.size());
    for (size_t i = 0; i < series.size(); ++i) ids[i] = series[i].id;
    std::sort(ids.begin(), ids.end());
    for (size_t i = 1; i < ids.size(); ++i) {
      if (ids[i] == ids[i - 1]) {
        return Status::InvalidArgument("rating engine: series " + std::to_string(ids[i]) +
                                       " is listed twice");
      }
    }
  }
  const size_t n = series.size();
  if (n >= UINT32_MAX) return Status::InvalidArgument("rating engine: too many series");
  for (const SeriesInfo& s : series) d.metrics.push_back(s.metric);
  std::sort(d.metrics.begin(), d.metrics.end());
  d.metrics.erase(std::unique(d.metrics.begin(), d.metrics.end()), d.metrics.end());
  const uint32_t nres = static_cast<uint32_t>(t.resources().size());
  std::vector<SeriesHot> hot(n);
  for (size_t i = 0; i < n; ++i) hot[i] = HotOf(series[i], d.metrics, t);
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return SeriesOrder(hot[a], hot[b]); });
  auto block = std::make_shared<const std::vector<SeriesInfo>>(std::move(series));
  auto list = std::make_shared<SeriesList>();
  list->at.reserve(n);
  d.hot.reserve(n);
  for (uint32_t i : order) {
    list->at.push_back(&(*block)[i]);
    d.hot.push_back(hot[i]);
  }
  list->blocks.push_back(std::move(block));
  d.series = std::move(list);
  d.by_id.resize(n);
  for (uint32_t i = 0; i < n; ++i) d.by_id[i] = i;
  std::sort(d.by_id.begin(), d.by_id.end(),
            [&d](uint32_t a, uint32_t b) { return d.hot[a].id < d.hot[b].id; });
  {
    std::unordered_map<ClassKey, uint32_t, ClassKeyHash> classes;
    d.ver_begin.assign(nres + 1, 0);
    for (uint32_t r = 0; r < nres; ++r) {
      for (const tenancy::ResourceVersion& v : t.resources()[r].versions) {
        const ClassKey key{v.plan_index, v.plan_group_index, v.location_index, v.type,
                           v.storage_tier};
        d.ver_class.push_back(
            classes.try_emplace(key, static_cast<uint32_t>(classes.size())).first->second);
      }
      d.ver_begin[r + 1] = static_cast<uint32_t>(d.ver_class.size());
    }
    d.classes = static_cast<uint32_t>(classes.size());
  }
  for (const tenancy::Resource& r : t.resources()) {
    for (const tenancy::ResourceVersion& v : r.versions) {
      d.boundaries.push_back(v.first_hour);
      d.boundaries.push_back(v.end_hour);
    }
  }
  for (const pricebook::PriceBookVersion& v : catalog.price_book->versions()) {
    d.boundaries.push_back(v.effective_from);
  }
  std::sort(d.boundaries.begin(), d.boundaries.end());
  d.boundaries.erase(std::unique(d.boundaries.begin(), d.boundaries.end()), d.boundaries.end());
  d.multi_account.assign(nres, 0);
  CountSeriesPerResource(nres, &d);
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  pairs.clear();
  for (uint32_t r = 0; r < t.resources().size(); ++r) {
    uint32_t last = kNone;
    std::vector<uint32_t> seen;
    for (const tenancy::ResourceVersion& v : t.resources()[r].versions) {
      if (v.account_index == tenancy::kNone || v.account_index == last) continue;
      last = v.account_index;
      if (std::find(seen.begin(), seen.end(), last) != seen.end()) continue;
      seen.push_back(last);
      pairs.emplace_back(last, r);
    }
    if (seen.size() > 1) d.multi_account[r] = 1;
  }
  BuildCsr(t.accounts().size(), pairs, &d.acct_begin, &d.acct_resources);
  pairs.clear();
  for (uint32_t i = 0; i < catalog.subscriptions.size(); ++i) {
    const uint32_t a = t.AccountIndex(catalog.subscriptions[i].account);
    if (a != tenancy::kNone) pairs.emplace_back(a, i);
  }
  BuildCsr(t.accounts().size(), pairs, &d.sub_begin, &d.sub_index);
  d.catalog = std::make_shared<const RatingCatalog>(std::move(catalog));
  return std::unique_ptr<RatingEngine>(new RatingEngine(std::move(impl)));
}

Result<std::unique_ptr<RatingEngine>> RatingEngine::Extend(std::vector<SeriesInfo> added) const {
  const EngineData& old = impl_->data;
  const tenancy::Tenancy& t = old.tenancy();
  const size_t n = old.hot.size(), m = added.size();
  if (n + m >= UINT32_MAX) return Status::InvalidArgument("rating engine: too many series");
  // The added series by id, each new.
  std::vector<uint32_t> add_by_id(m);
  for (uint32_t j = 0; j < m; ++j) add_by_id[j] = j;
  std::sort(add_by_id.begin(), add_by_id.end(),
            [&](uint32_t a, uint32_t b) { return added[a].id < added[b].id; });
  for (size_t k = 0; k < m; ++k) {
    const uint64_t id = added[add_by_id[k]].id;
    const bool twice = k > 0 && added[add_by_id[k - 1]].id == id;
    const auto known =
        std::lower_bound(old.by_id.begin(), old.by_id.end(), id,
                         [&](uint32_t i, uint64_t want) { return old.hot[i].id < want; });
    if (twice || (known != old.by_id.end() && old.hot[*known].id == id)) {
      return Status::InvalidArgument("rating engine: series " + std::to_string(id) +
                                     " is listed twice");
    }
  }
  auto impl = std::make_unique<Impl>();
  EngineData& d = impl->data;
  d.catalog = old.catalog;
  d.options = old.options;
  d.ver_begin = old.ver_begin;
  d.ver_class = old.ver_class;
  d.classes = old.classes;
  d.multi_account = old.multi_account;
  d.acct_begin = old.acct_begin;
  d.acct_resources = old.acct_resources;
  d.sub_begin = old.sub_begin;
  d.sub_index = old.sub_index;
  d.boundaries = old.boundaries;
  // Metric names: a new one shifts the indices after it.
  d.metrics = old.metrics;
  for (const SeriesInfo& s : added) d.metrics.push_back(s.metric);
  std::sort(d.metrics.begin(), d.metrics.end());
  d.metrics.erase(std::unique(d.metrics.begin(), d.metrics.end()), d.metrics.end());
  std::vector<uint32_t> metric_of(old.metrics.size());
  for (uint32_t i = 0; i < old.metrics.size(); ++i) {
    metric_of[i] = static_cast<uint32_t>(
        std::lower_bound(d.metrics.begin(), d.metrics.end(), old.metrics[i]) - d.metrics.begin());
  }
  std::vector<SeriesHot> add_hot(m);
  for (size_t j = 0; j < m; ++j) add_hot[j] = HotOf(added[j], d.metrics, t);
  std::vector<uint32_t> add_order(m);
  for (uint32_t j = 0; j < m; ++j) add_order[j] = j;
  std::sort(add_order.begin(), add_order.end(),
            [&](uint32_t a, uint32_t b) { return SeriesOrder(add_hot[a], add_hot[b]); });
  // Merge the two orders; remember where each series went, for by_id. The strings stay where
  // they are: the new list points into the old blocks and one new block.
  auto block = std::make_shared<const std::vector<SeriesInfo>>(std::move(added));
  auto series = std::make_shared<SeriesList>();
  series->blocks = old.series->blocks;
  series->blocks.push_back(block);
  series->at.reserve(n + m);
  d.hot.reserve(n + m);
  std::vector<uint32_t> old_at(n), add_at(m);
  size_t i = 0, k = 0;
  while (i < n || k < m) {
    SeriesHot from_old;
    if (i < n) {
      from_old = old.hot[i];
      from_old.metric = metric_of[from_old.metric];
    }
    if (k == m || (i < n && SeriesOrder(from_old, add_hot[add_order[k]]))) {
      old_at[i] = static_cast<uint32_t>(d.hot.size());
      d.hot.push_back(from_old);
      series->at.push_back(old.series->at[i]);
      ++i;
    } else {
      const uint32_t j = add_order[k++];
      add_at[j] = static_cast<uint32_t>(d.hot.size());
      d.hot.push_back(add_hot[j]);
      series->at.push_back(&(*block)[j]);
    }
  }
  d.series = std::move(series);
  // by_id: both lists are in id order; merge them.
  d.by_id.reserve(n + m);
  size_t a = 0, b = 0;
  while (a < n || b < m) {
    if (b == m || (a < n && old.hot[old.by_id[a]].id < add_hot[add_by_id[b]].id)) {
      d.by_id.push_back(old_at[old.by_id[a++]]);
    } else {
      d.by_id.push_back(add_at[add_by_id[b++]]);
    }
  }
  CountSeriesPerResource(static_cast<uint32_t>(t.resources().size()), &d);
  return std::unique_ptr<RatingEngine>(new RatingEngine(std::move(impl)));
}

Result<RatingResult> RatingEngine::Rate(const query::RollupView& view,
                                        const RatingRequest& request) const {
  return Rate(
      [&view](const std::vector<uint64_t>&, bool) -> const query::RollupView& { return view; },
      request);
}

Result<RatingResult> RatingEngine::Rate(const ViewSource& source,
                                        const RatingRequest& request) const {
  return RateImpl(source, request, nullptr);
}

Result<RatingResult> RatingEngine::RateMonthToDate(const query::RollupView& view, int64_t from,
                                                   int64_t to, MonthToDate* state) const {
  return RateMonthToDate(
      [&view](const std::vector<uint64_t>&, bool) -> const query::RollupView& { return view; },
      from, to, state);
}

Status RatingEngine::RestoreMonthToDate(std::string_view bytes, MonthToDate* state) const {
  return internal::RestoreMonthState(impl_->data, bytes, state);
}

Result<RatingResult> RatingEngine::RateMonthToDate(const ViewSource& source, int64_t from,
                                                   int64_t to, MonthToDate* state) const {
  internal::MonthState& st = *state->state();
  const EngineData& d = impl_->data;
  const int64_t month = pricebook::MonthStart(from);
  if (from % kH != 0 || to % kH != 0 || from >= to || to > pricebook::NextMonthStart(month)) {
    state->Clear();
    return Status::InvalidArgument("month-to-date rating: not whole hours of one month");
  }
  if (!st.valid || st.month != month || st.through != from) {
    state->Clear();
    return Status::InvalidArgument("month-to-date rating: the state does not end at the window");
  }
  if (st.tenancy == nullptr) {
    st.tenancy = d.catalog->tenancy;
    st.book = d.catalog->price_book;
  } else if (st.tenancy != d.catalog->tenancy || st.book != d.catalog->price_book) {
    state->Clear();
    return Status::InvalidArgument("month-to-date rating: the state is of another catalog");
  }
  RatingRequest req = AccountsRequest(from, to);
  Result<RatingResult> r = RateImpl(source, req, &st);
  if (!r.ok()) {
    state->Clear();
    return r;
  }
  st.through = to;
  return r;
}

Result<RatingResult> RatingEngine::RateImpl(const ViewSource& source, const RatingRequest& request,
                                            internal::MonthState* month_state) const {
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = ThreadCpuMs();
  const EngineData& d = impl_->data;
  // Lends the call's Work spare arrays of the engine (Impl::spare) for the call: the Work's
  // large vectors are swapped with them (cleared, capacity kept), and back at the end.
  class ScratchLease {
   public:
    ScratchLease(const Impl& owner, Work* w) : owner_(owner), w_(*w), b_(owner.Acquire()) {
      Swap();
      w_.plan.meters.clear();
      w_.plan.routes.clear();
      w_.slots.clear();
      w_.lines.clear();
      w_.totals.clear();
      w_.scratch = b_.get();
    }
    ~ScratchLease() {
      Swap();
      w_.scratch = nullptr;
      owner_.Release(std::move(b_));
    }
    ScratchLease(const ScratchLease&) = delete;
    ScratchLease& operator=(const ScratchLease&) = delete;

   private:
    void Swap() {
      w_.plan.meters.swap(b_->meters);
      w_.plan.routes.swap(b_->routes);
      w_.slots.swap(b_->slots);
      w_.lines.swap(b_->lines);
      w_.totals.swap(b_->totals);
    }
    const Impl& owner_;
    Work& w_;
    std::unique_ptr<internal::Buffers> b_;
  };
  Work w;
  const ScratchLease lease(*impl_, &w);
  w.engine = &d;
  w.request = request;
  w.from = FloorHour(request.from);
  w.to = CeilHour(request.to);
  if (w.from >= w.to) return Status::InvalidArgument("rating: the period is empty");
  w.month_state = month_state;
  // Month-to-date: the state holds the month's hours before `from`: only the window is scanned.
  w.scan_from = month_state != nullptr ? w.from : pricebook::MonthStart(w.from);
  for (int64_t m = pricebook::MonthStart(w.from); m < w.to; m = pricebook::NextMonthStart(m)) {
    w.months.push_back(m);
    w.month_ends.push_back(pricebook::NextMonthStart(m));
  }
  if (request.group_by == GroupBy::kHour) w.stride = 3600;
  if (request.group_by == GroupBy::kDay) w.stride = 86400;
  const pricebook::PriceBook& book = d.book();
  std::shared_ptr<const pricebook::PriceBook> one_version;
  if (request.price_version != 0) {
    const pricebook::PriceBookVersion* v = book.FindVersion(request.price_version);
    if (v == nullptr) {
      return Status::InvalidArgument("rating: no price book version " +
                                     std::to_string(request.price_version));
    }
    w.segments.push_back(pricebook::PriceSegment{v, w.scan_from, w.to});
    w.display_version = v;
    // Fees under this version alone: a one-version book in force since long before.
    pricebook::PriceBookVersion copy = *v;
    copy.version = 1;
    copy.effective_from =
        FloorHour(std::min<int64_t>(w.scan_from, v->effective_from)) - int64_t{100} * 366 * 86400;
    METERD_ASSIGN_OR_RETURN(one_version, pricebook::PriceBook::Build({std::move(copy)}));
    w.fee_book = one_version;
  } else {
    w.segments = book.Segments(w.scan_from, w.to);
    w.display_version = book.VersionAt(w.to - kH);
    if (w.display_version == nullptr && !w.segments.empty()) {
      w.display_version = w.segments.back().version;
    }
    w.fee_book = d.catalog->price_book;
  }
  // (With no version in force at all nothing is priced, and the currency cannot be checked.)
  if (!request.currency.empty() && w.display_version != nullptr &&
      w.display_version->FindCurrency(request.currency) == nullptr) {
    return Status::InvalidArgument("rating: unknown currency " + request.currency);
  }
  // Month-to-date: the plan of the state's last window, shifted, when nothing changed since
  // (PlanCache); a plan built here is kept for the next window.
  bool reused = false;
  if (month_state != nullptr) {
    internal::PlanCache* kept = month_state->plan.get();
    if (kept != nullptr && internal::PlanReusable(*kept, d, w.from, w.to)) {
      internal::TakePlan(kept, &w);
      reused = true;
      // Renumbered at its first reuse, not when built: a plan used once (the first hour after
      // a start or a revision) does not pay for it.
      if (!kept->scan_ordered) {
        internal::OrderSlotsForScan(&w);
        kept->scan_ordered = true;
      }
    } else {
      month_state->plan = std::make_unique<internal::PlanCache>();
    }
  }
  if (!reused) METERD_RETURN_IF_ERROR(internal::BuildPlan(&w));
  RatingResult result;
  RatingStats& stats = result.stats;
  stats.plan_ms = MsSince(t0);
  stats.plan_cpu_ms = ThreadCpuMs() - cpu0;
  const auto t1 = std::chrono::steady_clock::now();
  // The series the plan reads: its meters are sorted by series id (a series' meters adjacent).
  const bool all = request.scope == ScopeKind::kAll;
  std::vector<uint64_t> ids;
  if (!all) {
    ids.reserve(w.plan.meters.size());
    for (const query::rating::Meter& m : w.plan.meters) {
      if (ids.empty() || ids.back() != m.series_id) ids.push_back(m.series_id);
    }
  }
  const query::RollupView& view = source(ids, all);
  METERD_RETURN_IF_ERROR(internal::RunScan(view, d.options.threads, &w, &stats));
  const double split_cpu0 = ThreadCpuMs();
  METERD_RETURN_IF_ERROR(SplitUnrated(view, &w));
  stats.scan_cpu_ms += ThreadCpuMs() - split_cpu0;
  stats.scan_ms = MsSince(t1);
  const auto t2 = std::chrono::steady_clock::now();
  const double price_cpu0 = ThreadCpuMs();
  result.catalog = d.catalog;
  result.series = d.series;
  result.from = w.from;
  result.to = w.to;
  if (month_state != nullptr) {
    METERD_RETURN_IF_ERROR(PriceMonthToDate(&w, &result));
  } else {
    METERD_RETURN_IF_ERROR(internal::Price(w, &result));
  }
  stats.price_ms = MsSince(t2);
  stats.price_cpu_ms = ThreadCpuMs() - price_cpu0;
  stats.series = w.series_in_plan;
  stats.skipped_series = w.skipped_series;
  stats.meters = w.plan.meters.size();
  stats.slots = w.slots.size();
  stats.priced_lines = w.lines.size();
  stats.plan_reused = reused;
  if (month_state != nullptr) internal::KeepPlan(&w, month_state->plan.get());
  return result;
}

Result<ReRateResult> RatingEngine::ReRate(const query::RollupView& view,
                                          const RatingRequest& request, uint32_t version) const {
  return ReRate(
      [&view](const std::vector<uint64_t>&, bool) -> const query::RollupView& { return view; },
      request, version);
}

Result<ReRateResult> RatingEngine::ReRate(const ViewSource& view, const RatingRequest& request,
                                          uint32_t version) const {
  if (version == 0) return Status::InvalidArgument("re-rate: a price book version is required");
  RatingRequest a = request;
  a.price_version = 0;
  RatingRequest b = request;
  b.price_version = version;
  ReRateResult out;
  out.version = version;
  METERD_ASSIGN_OR_RETURN(out.actual, Rate(view, a));
  METERD_ASSIGN_OR_RETURN(out.rerated, Rate(view, b));
  using Key = std::tuple<std::string_view, std::string_view, std::string_view, std::string_view,
                         int64_t, std::string_view, bool>;
  auto key_of = [](const ChargeLine& l) {
    return Key{l.account,      l.project,         l.resource,    l.product_id,
               l.period_start, l.subscription_id, l.one_time_fee};
  };
  std::map<Key, ReRateLine> lines;
  auto add = [&](const ChargeLine& l, bool rerated) {
    ReRateLine& r = lines[key_of(l)];
    r.account = l.account;
    r.project = l.project;
    r.resource = l.resource;
    r.product_id = l.product_id;
    r.product_name = l.product_name;
    r.group = l.group;
    r.unit = l.unit;
    r.divisor = l.divisor;
    r.subscription_id = l.subscription_id;
    r.one_time_fee = l.one_time_fee;
    r.period_start = l.period_start;
    r.period_end = l.period_end;
    if (rerated) {
      r.rerated += l.amount;
    } else {
      r.raw_quantity += l.raw_quantity;
      r.actual += l.amount;
    }
  };
  for (const ChargeLine& l : out.actual.lines) add(l, false);
  for (const ChargeLine& l : out.rerated.lines) add(l, true);
  for (auto& [k, r] : lines) {
    r.difference = r.rerated - r.actual;
    out.lines.push_back(r);
  }
  out.actual_total = out.actual.total;
  out.rerated_total = out.rerated.total;
  out.difference = out.rerated_total - out.actual_total;
  return out;
}

Result<query::RollupView> OpenRollupView(const std::string& data_dir,
                                         std::vector<std::string>* damage) {
  std::vector<std::string> local;
  METERD_ASSIGN_OR_RETURN(auto store,
                          storage::RollupStore::Open(data_dir, damage ? damage : &local));
  query::RollupView view;
  view.files = store->Snapshot();
  view.sealed_before = view.files.sealed_before;
  return view;
}

std::string QuantityText(const ChargeLine& line) {
  return pricebook::FormatQuantity(line.raw_quantity, line.divisor);
}
std::string QuantityText(const ReRateLine& line) {
  return pricebook::FormatQuantity(line.raw_quantity, line.divisor);
}
std::string DisplayText(const ChargeLine& line) {
  if (line.currency == nullptr) return pricebook::FormatCredits(line.amount);
  return pricebook::FormatMinor(line.display_minor, *line.currency);
}
std::string UnitPriceText(const ChargeLine& line) {
  if (line.currency == nullptr) return pricebook::FormatCredits(line.unit_price);
  return pricebook::FormatUnitPrice(line.unit_price, *line.currency);
}

const char* GroupByName(GroupBy g) {
  switch (g) {
    case GroupBy::kProduct:
      return "product";
    case GroupBy::kResource:
      return "resource";
    case GroupBy::kProject:
      return "project";
    case GroupBy::kAccount:
      return "account";
    case GroupBy::kHour:
      return "hour";
    case GroupBy::kDay:
      return "day";
    case GroupBy::kMonth:
      return "month";
  }
  return "?";
}

std::optional<GroupBy> ParseGroupBy(std::string_view name) {
  for (GroupBy g : {GroupBy::kProduct, GroupBy::kResource, GroupBy::kProject, GroupBy::kAccount,
                    GroupBy::kHour, GroupBy::kDay, GroupBy::kMonth}) {
    if (name == GroupByName(g)) return g;
  }
  return std::nullopt;
}

const char* ReasonName(UnratedUsage::Reason r) {
  switch (r) {
    case UnratedUsage::Reason::kUnknownResource:
      return "unknown_resource";
    case UnratedUsage::Reason::kBeforeFirstVersion:
      return "before_first_version";
    case UnratedUsage::Reason::kNoProduct:
      return "no_product";
    case UnratedUsage::Reason::kNoPriceBook:
      return "no_price_book";
    case UnratedUsage::Reason::kKindMismatch:
      return "kind_mismatch";
    case UnratedUsage::Reason::kAfterDeletion:
      return "after_deletion";
  }
  return "?";
}

}  // namespace meterd::engine::rating
