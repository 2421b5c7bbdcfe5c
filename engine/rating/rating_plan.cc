// meterd — engine/rating/rating_plan.cc: BuildPlan (engine/rating/rating_internal.h).
//
// Resources are visited account by account (in scope, ascending), each resource once, and its
// series in (metric) order, so that lines and slots are created nearly in output order (the
// pricing then walks memory in order). For every series:
//   hours of an unknown resource, or before its first version    -> an unattributed slot;
//   hours of a version that deletes the resource                 -> an unattributed slot;
//   each resource version whose account is in scope, cut by the price book's segments
//   (hours before the first version -> an unpriced slot), by months, by the window's start
//   and by the account's project changes (rating_engine.h, "Lines"): one *piece* per cut;
//   per piece, the product(s) resolved once per (price version x attributes x metric) through
//   a per-call cache (PriceBookVersion::Resolve; for a state metric once per state code, the
//   codes of one product forming one meter's state mask) -> a route into a fresh slot (or one
//   slot per hour / day with group_by hour / day) of the line (account, resource, product,
//   month); codes with no product -> an unpriced slot.
// Lines join their group (account, product, month) as they are created; a line's slots are
// created, and chained, in time order. Last, the meters (and their routes) are put in series-id
// order for the scan: a fleet-wide plan gathers them along EngineData::by_id (the id order
// known since Create), a narrower one sorts its own series.
#include <algorithm>
#include <functional>

#include "engine/pricebook/pricing.h"
#include "engine/rating/rating_internal.h"
#include "query/scan/period.h"

namespace meterd::engine::rating::internal {
namespace {

using pricebook::MatchKey;
using pricebook::PriceBookVersion;
using pricebook::Product;
using query::rating::Meter;
using query::rating::Quantity;
using query::rating::Route;
using tenancy::ResourceVersion;

constexpr uint8_t kAllStates = 0xFF;  // state codes 0..7

// How one (price version, resource attributes, metric) resolves.
struct Resolution {
  struct Target {
    const Product* product;
    uint32_t product_key;
    uint8_t mask;  // state codes it bills here (state series); 0 otherwise
  };
  Target targets[8];
  uint8_t n = 0;
  uint8_t unpriced = 0;  // state codes (state series) or 1 (others) with no product
  uint8_t mismatch = 0;  // ... whose product is of another metric kind
};

class PlanBuilder {
 public:
  explicit PlanBuilder(Work* w) : w_(*w), e_(*w->engine), t_(e_.tenancy()) {}
  Status Build();

 private:
  Status ResolveScope(std::vector<uint32_t>* resources, bool* all);
  void CollectCuts(const std::vector<uint32_t>& resources);
  Status PlanSeries(uint32_t series);
  Status PlanVersion(uint32_t series, uint32_t resource, const ResourceVersion& v, uint32_t cls,
                     int64_t va, int64_t vb);
  Status PlanPiece(uint32_t series, uint32_t resource, const ResourceVersion& v,
                   const PriceBookVersion* pv, const Resolution& res, uint32_t month, int64_t a,
                   int64_t b);
  const Resolution& Resolve(uint32_t segment, uint32_t series, const ResourceVersion& v,
                            uint32_t cls);
  uint32_t LocalAccount(uint32_t account) const;
  uint32_t ProductKey(std::string_view id);
  uint32_t LineOf(uint32_t account, uint32_t resource, uint32_t product_key, uint32_t month,
                  uint32_t series);
  Status AddPricedRoute(uint32_t line, uint8_t mask, uint32_t project, const PriceBookVersion* pv,
                        const Product* product, int64_t a, int64_t b);
  void AddUnratedRoute(uint32_t series, UnratedUsage::Reason reason, uint8_t states,
                       uint32_t account, uint32_t project, int64_t a, int64_t b);
  bool MetricPriced(uint32_t metric);
  void EmitMeters(uint32_t series);
  void OrderMetersById(bool all);

  Work& w_;
  const EngineData& e_;
  const tenancy::Tenancy& t_;
  // Resolutions are cached per (attribute class, price segment, metric and kind), the class
  // of each resource version known since Create (EngineData::ver_class): in a dense table
  // when classes x segments x metrics is small, else a hash map.
  std::vector<uint32_t> resolution_dense_;
  std::unordered_map<uint64_t, uint32_t> resolution_index_;
  std::vector<Resolution> resolutions_;
  std::unordered_map<std::string_view, uint32_t> product_keys_;
  // The group of (account, month, product key): a dense table when the scope's accounts x
  // months x products is small (max_products_ is an upper bound on the product keys; accounts
  // numbered by LocalAccount), else a hash map.
  size_t max_products_ = 0;
  std::vector<uint32_t> group_dense_;
  std::unordered_map<uint64_t, uint32_t> group_hash_;
  std::vector<int8_t> metric_priced_;  // per metric: -1 unknown, 0 no, 1 yes
  // Per series being planned.
  struct TmpRoute {
    uint8_t mask;
    Route route;
  };
  std::vector<TmpRoute> tmp_routes_;
  struct LocalLine {
    uint32_t account, product_key, month, line;
  };
  std::vector<LocalLine> local_lines_;
  std::vector<uint32_t> local_unrated_;  // unrated ids created for the current series
  // The series planned (with a meter), in plan order, to be put in series-id order.
  std::vector<PlannedSeries>& planned_ = w_.scratch->planned;
};

Status PlanBuilder::ResolveScope(std::vector<uint32_t>* resources, bool* all) {
  const RatingRequest& req = w_.request;
  const size_t na = t_.accounts().size();
  w_.account_in_scope.assign(na, 0);
  *all = false;
  uint32_t extra = kNone;   // a resource planned for its unattributed hours
  uint32_t single = kNone;  // kAccount, kProject: the account
  switch (req.scope) {
    case ScopeKind::kAll:
      std::fill(w_.account_in_scope.begin(), w_.account_in_scope.end(), 1);
      *all = true;
      break;
    case ScopeKind::kDomain: {
      const uint32_t d = t_.DomainIndex(req.scope_id);
      if (d == tenancy::kNone) return Status::InvalidArgument("unknown domain " + req.scope_id);
      for (uint32_t a = 0; a < na; ++a) {
        const uint32_t ad = t_.DomainIndex(t_.accounts()[a].domain);
        if (ad != tenancy::kNone && t_.DomainWithin(ad, d)) w_.account_in_scope[a] = 1;
      }
      break;
    }
    case ScopeKind::kAccount: {
      const uint32_t a = t_.AccountIndex(req.scope_id);
      if (a == tenancy::kNone) return Status::InvalidArgument("unknown account " + req.scope_id);
      w_.account_in_scope[a] = 1;
      single = a;
      break;
    }
    case ScopeKind::kProject: {
      const uint32_t p = t_.ProjectIndex(req.scope_id);
      if (p == tenancy::kNone) return Status::InvalidArgument("unknown project " + req.scope_id);
      const uint32_t a = t_.AccountIndex(t_.projects()[p].account);
      if (a == tenancy::kNone) return Status::InvalidArgument("project without an account");
      w_.account_in_scope[a] = 1;
      single = a;
      w_.filter_project = p;
      break;
    }
    case ScopeKind::kResource: {
      const uint32_t r = t_.ResourceIndex(req.scope_id);
      if (r == tenancy::kNone) return Status::InvalidArgument("unknown resource " + req.scope_id);
      // Every account the resource is in during the window's months: their tiers need all
      // their usage.
      for (const ResourceVersion& v : t_.resources()[r].versions) {
        if (v.first_hour >= v.end_hour || v.end_hour <= w_.scan_from || v.first_hour >= w_.to) {
          continue;
        }
        if (v.account_index != tenancy::kNone) w_.account_in_scope[v.account_index] = 1;
      }
      extra = r;
      w_.filter_resource = r;
      break;
    }
  }
  // Account-major, resources ascending within an account: lines and slots are then created
  // nearly in output order, so pricing walks memory in order. A resource in several accounts
  // is planned once, at its first in scope (only such resources need a look at their other
  // accounts: no per-request array over the fleet's resources).
  auto first_in_scope = [&](uint32_t r) {  // r's first account in scope, or kNone
    uint32_t first = kNone;
    for (const ResourceVersion& v : t_.resources()[r].versions) {
      if (v.account_index != tenancy::kNone && w_.account_in_scope[v.account_index]) {
        first = std::min(first, v.account_index);
      }
    }
    return first;
  };
  if (*all) {
    w_.scope_accounts.resize(na);
    for (uint32_t a = 0; a < na; ++a) w_.scope_accounts[a] = a;
  } else if (req.scope == ScopeKind::kAccount || req.scope == ScopeKind::kProject) {
    w_.scope_accounts.push_back(single);  // one account: no walk over the fleet's
  } else {
    for (uint32_t a = 0; a < na; ++a) {
      if (w_.account_in_scope[a]) w_.scope_accounts.push_back(a);
    }
  }
  for (uint32_t a : w_.scope_accounts) {
    for (uint32_t i = e_.acct_begin[a]; i < e_.acct_begin[a + 1]; ++i) {
      const uint32_t r = e_.acct_resources[i];
      if (e_.multi_account[r] && first_in_scope(r) != a) continue;
      resources->push_back(r);
    }
  }
  if (extra != kNone && first_in_scope(extra) == kNone) resources->push_back(extra);
  return Status::OK();
}

void PlanBuilder::CollectCuts(const std::vector<uint32_t>& resources) {
  std::vector<std::pair<uint32_t, int64_t>> cuts;  // (account, hour)
  for (uint32_t r : resources) {
    const ResourceVersion* prev = nullptr;
    for (const ResourceVersion& v : t_.resources()[r].versions) {
      if (v.first_hour >= v.end_hour) continue;
      if (prev != nullptr && v.account_index != tenancy::kNone &&
          prev->account_index == v.account_index && prev->project_index != v.project_index &&
          v.first_hour > w_.scan_from && v.first_hour < w_.to &&
          w_.account_in_scope[v.account_index]) {
        cuts.emplace_back(v.account_index, v.first_hour);
      }
      prev = &v;
    }
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  for (const auto& [a, hour] : cuts) {
    if (w_.account_cuts.empty() || w_.account_cuts.back().first != a) {
      w_.account_cuts.emplace_back(a, std::vector<int64_t>());
    }
    w_.account_cuts.back().second.push_back(hour);
  }
}

uint32_t PlanBuilder::LocalAccount(uint32_t account) const {
  if (w_.request.scope == ScopeKind::kAll) return account;
  const auto& s = w_.scope_accounts;
  return static_cast<uint32_t>(std::lower_bound(s.begin(), s.end(), account) - s.begin());
}

uint32_t PlanBuilder::ProductKey(std::string_view id) {
  auto [it, inserted] = product_keys_.try_emplace(id, static_cast<uint32_t>(w_.product_ids.size()));
  if (inserted) w_.product_ids.push_back(id);
  return it->second;
}

const Resolution& PlanBuilder::Resolve(uint32_t segment, uint32_t series, const ResourceVersion& v,
                                       uint32_t cls) {
  const SeriesHot& s = e_.hot[series];
  const std::string& metric = e_.metrics[s.metric];
  const PriceBookVersion* pv = w_.segments[segment].version;
  uint32_t* index;
  if (!resolution_dense_.empty()) {
    index = &resolution_dense_[((static_cast<size_t>(cls) * w_.segments.size() + segment) *
                                    e_.metrics.size() +
                                s.metric) *
                                   4 +
                               static_cast<size_t>(s.kind)];
  } else {
    const uint64_t key = (static_cast<uint64_t>(cls) << 32) |
                         (static_cast<uint64_t>(segment) << 24) |
                         (static_cast<uint64_t>(s.metric) << 2) | static_cast<uint64_t>(s.kind);
    index = &resolution_index_.try_emplace(key, kNone).first->second;
  }
  if (*index != kNone) return resolutions_[*index];
  *index = static_cast<uint32_t>(resolutions_.size());
  const std::string_view plan_group = v.plan_group_index == tenancy::kNone
                                          ? std::string_view()
                                          : t_.plan_groups()[v.plan_group_index].id;
  Resolution res;
  const MatchKey mk{v.type, v.plan, plan_group, v.location, v.storage_tier};
  auto add = [&](const Product* p, uint8_t bit) {
    for (uint8_t i = 0; i < res.n; ++i) {
      if (res.targets[i].product == p) {
        res.targets[i].mask |= bit;
        return;
      }
    }
    res.targets[res.n++] = Resolution::Target{p, ProductKey(p->id), bit};
  };
  if (s.kind == MetricKind::kState) {
    for (uint32_t c = 0; c < 8; ++c) {
      const uint8_t bit = static_cast<uint8_t>(1u << c);
      const Product* p = pv->Resolve(metric, c, mk);
      if (p == nullptr) {
        res.unpriced |= bit;
      } else if (p->kind != MetricKind::kState) {
        res.mismatch |= bit;
      } else {
        add(p, bit);
      }
    }
  } else {
    const Product* p = pv->Resolve(metric, 0, mk);
    if (p == nullptr) {
      res.unpriced = 1;
    } else if (p->kind != s.kind) {
      res.mismatch = 1;
    } else {
      add(p, 0);
    }
  }
  resolutions_.push_back(res);
  return resolutions_.back();
}

bool PlanBuilder::MetricPriced(uint32_t metric) {
  int8_t& known = metric_priced_[metric];
  if (known < 0) {
    known = 0;
    for (const pricebook::PriceSegment& seg : w_.segments) {
      if (!seg.version->ProductsOf(e_.metrics[metric]).empty()) known = 1;
    }
  }
  return known == 1;
}

uint32_t PlanBuilder::LineOf(uint32_t account, uint32_t resource, uint32_t product_key,
                             uint32_t month, uint32_t series) {
  for (const LocalLine& l : local_lines_) {
    if (l.account == account && l.product_key == product_key && l.month == month) return l.line;
  }
  const uint32_t line = static_cast<uint32_t>(w_.lines.size());
  LineInfo li;
  li.account = account;
  li.resource = resource;
  li.product_key = product_key;
  li.month = month;
  li.series = series;
  const size_t am = static_cast<size_t>(LocalAccount(account)) * w_.months.size() + month;
  uint32_t* slot;
  if (!group_dense_.empty()) {
    slot = &group_dense_[am * max_products_ + product_key];
  } else {
    slot = &group_hash_.try_emplace((static_cast<uint64_t>(am) << 24) | product_key, kNone)
                .first->second;
  }
  uint32_t gi = *slot;
  if (gi == kNone) {
    gi = *slot = static_cast<uint32_t>(w_.groups.size());
    GroupInfo g;
    g.account = account;
    g.product_key = product_key;
    g.month = month;
    w_.groups.push_back(g);
  }
  GroupInfo& g = w_.groups[gi];
  li.group = gi;
  if (g.last_line == kNone) {
    g.first_line = line;
  } else {
    w_.lines[g.last_line].next_line = line;
  }
  g.last_line = line;
  ++g.lines;
  w_.lines.push_back(li);
  local_lines_.push_back(LocalLine{account, product_key, month, line});
  return line;
}

Status PlanBuilder::AddPricedRoute(uint32_t line, uint8_t mask, uint32_t project,
                                   const PriceBookVersion* pv, const Product* product, int64_t a,
                                   int64_t b) {
  Route route{a, b, static_cast<uint32_t>(w_.slots.size()), w_.stride};
  const uint32_t n = query::rating::RouteSlots(route);
  if (w_.slots.size() + n > e_.options.max_slots) {
    return Status::Busy("rating needs more than " + std::to_string(e_.options.max_slots) +
                        " accumulators: narrow the scope, the period or the group-by");
  }
  LineInfo& li = w_.lines[line];
  for (uint32_t k = 0; k < n; ++k) {
    SlotInfo s;
    s.owner = line;
    s.project = project;
    s.version = pv;
    s.product = product;
    s.priced = true;
    if (w_.stride == 0) {
      s.from = a;
      s.to = b;
    } else {
      const int64_t ps = (query::scan::FloorDiv(a, w_.stride) + k) * w_.stride;
      s.from = std::max(a, ps);
      s.to = std::min(b, ps + static_cast<int64_t>(w_.stride));
    }
    const uint32_t id = static_cast<uint32_t>(w_.slots.size());
    if (li.last_slot == kNone) {
      li.first_slot = id;
    } else {
      w_.slots[li.last_slot].next = id;
    }
    li.last_slot = id;
    w_.slots.push_back(s);
  }
  tmp_routes_.push_back(TmpRoute{mask, route});
  return Status::OK();
}

void PlanBuilder::AddUnratedRoute(uint32_t series, UnratedUsage::Reason reason, uint8_t states,
                                  uint32_t account, uint32_t project, int64_t a, int64_t b) {
  a = std::max(a, w_.from);  // only the window's hours are reported
  if (a >= b) return;
  uint32_t id = kNone;
  for (uint32_t u : local_unrated_) {
    const UnratedInfo& x = w_.unrated[u];
    if (x.reason == reason && x.states == states && x.account == account && x.project == project) {
      id = u;
      break;
    }
  }
  if (id == kNone) {
    id = static_cast<uint32_t>(w_.unrated.size());
    UnratedInfo u;
    u.series = series;
    u.reason = reason;
    u.states = states;
    u.account = account;
    u.project = project;
    u.slot = static_cast<uint32_t>(w_.slots.size());
    SlotInfo s;
    s.owner = id;
    s.project = project;
    s.from = a;
    s.to = b;
    w_.slots.push_back(s);
    w_.unrated.push_back(u);
    local_unrated_.push_back(id);
  }
  // Routes of one meter must not touch: extend the previous route to this slot if adjacent.
  const uint8_t mask = e_.hot[series].kind == MetricKind::kState ? states : 0;
  for (auto it = tmp_routes_.rbegin(); it != tmp_routes_.rend(); ++it) {
    if (it->mask != mask) continue;
    if (it->route.slot == w_.unrated[id].slot && it->route.stride == 0 && it->route.to == a) {
      it->route.to = b;
      w_.unrated_ranges.push_back(UnratedRange{id, a, b});
      return;
    }
    break;
  }
  tmp_routes_.push_back(TmpRoute{mask, Route{a, b, w_.unrated[id].slot, 0}});
  w_.unrated_ranges.push_back(UnratedRange{id, a, b});
}

Status PlanBuilder::PlanPiece(uint32_t series, uint32_t resource, const ResourceVersion& v,
                              const PriceBookVersion* pv, const Resolution& res, uint32_t month,
                              int64_t a, int64_t b) {
  for (uint8_t i = 0; i < res.n; ++i) {
    const Resolution::Target& t = res.targets[i];
    const uint32_t line = LineOf(v.account_index, resource, t.product_key, month, series);
    METERD_RETURN_IF_ERROR(AddPricedRoute(line, t.mask, v.project_index, pv, t.product, a, b));
  }
  const bool state = e_.hot[series].kind == MetricKind::kState;
  if (res.unpriced != 0) {
    AddUnratedRoute(series, UnratedUsage::Reason::kNoProduct, state ? res.unpriced : 0,
                    v.account_index, v.project_index, a, b);
  }
  if (res.mismatch != 0) {
    AddUnratedRoute(series, UnratedUsage::Reason::kKindMismatch, state ? res.mismatch : 0,
                    v.account_index, v.project_index, a, b);
  }
  return Status::OK();
}

Status PlanBuilder::PlanVersion(uint32_t series, uint32_t resource, const ResourceVersion& v,
                                uint32_t cls, int64_t va, int64_t vb) {
  const bool state = e_.hot[series].kind == MetricKind::kState;
  const std::vector<int64_t>& acct_cuts = w_.CutsOf(v.account_index);
  int64_t covered = va;  // hours before `covered` are handled
  for (uint32_t si = 0; si < w_.segments.size(); ++si) {
    const pricebook::PriceSegment& seg = w_.segments[si];
    const int64_t sa = std::max(va, seg.from), sb = std::min(vb, seg.to);
    if (sa >= sb) continue;
    if (sa > covered) {  // hours no price book version prices
      AddUnratedRoute(series, UnratedUsage::Reason::kNoPriceBook, state ? kAllStates : 0,
                      v.account_index, v.project_index, covered, sa);
    }
    covered = sb;
    const Resolution& res = Resolve(si, series, v, cls);
    // Cut [sa, sb) at months, the window start and the account's project changes.
    int64_t a = sa;
    uint32_t m = static_cast<uint32_t>(std::upper_bound(w_.months.begin(), w_.months.end(), a) -
                                       w_.months.begin() - 1);
    auto cut_it = std::upper_bound(acct_cuts.begin(), acct_cuts.end(), a);
    while (a < sb) {
      int64_t b = sb;
      if (m + 1 < w_.months.size()) b = std::min(b, w_.months[m + 1]);
      if (w_.from > a) b = std::min(b, w_.from);
      if (cut_it != acct_cuts.end()) b = std::min(b, *cut_it);
      METERD_RETURN_IF_ERROR(PlanPiece(series, resource, v, seg.version, res, m, a, b));
      a = b;
      if (m + 1 < w_.months.size() && a >= w_.months[m + 1]) ++m;
      while (cut_it != acct_cuts.end() && *cut_it <= a) ++cut_it;
    }
  }
  if (covered < vb) {
    AddUnratedRoute(series, UnratedUsage::Reason::kNoPriceBook, state ? kAllStates : 0,
                    v.account_index, v.project_index, covered, vb);
  }
  return Status::OK();
}

Status PlanBuilder::PlanSeries(uint32_t series) {
  const SeriesHot& s = e_.hot[series];
  const uint32_t r = s.resource;
  const bool state = s.kind == MetricKind::kState;
  tmp_routes_.clear();
  local_lines_.clear();
  local_unrated_.clear();
  if (!w_.request.report_unpriced_metrics && !MetricPriced(s.metric)) {
    ++w_.skipped_series;
    return Status::OK();
  }
  ++w_.series_in_plan;
  if (r == kNone) {
    AddUnratedRoute(series, UnratedUsage::Reason::kUnknownResource, state ? kAllStates : 0, kNone,
                    kNone, w_.from, w_.to);
  } else {
    const auto& versions = t_.resources()[r].versions;
    int64_t first = tenancy::kForever;
    for (const ResourceVersion& v : versions) {
      if (v.first_hour < v.end_hour) first = std::min(first, v.first_hour);
    }
    AddUnratedRoute(series, UnratedUsage::Reason::kBeforeFirstVersion, state ? kAllStates : 0,
                    kNone, kNone, w_.from, std::min(w_.to, first));
    const uint32_t* classes = e_.ver_class.data() + e_.ver_begin[r];
    for (size_t vi = 0; vi < versions.size(); ++vi) {
      const ResourceVersion& v = versions[vi];
      if (v.deleted) {  // the resource is gone: what still arrives is nobody's
        const int64_t da = std::max(v.first_hour, w_.from), db = std::min(v.end_hour, w_.to);
        if (da < db) {
          AddUnratedRoute(series, UnratedUsage::Reason::kAfterDeletion, state ? kAllStates : 0,
                          kNone, kNone, da, db);
        }
        continue;
      }
      const int64_t va = std::max(v.first_hour, w_.scan_from), vb = std::min(v.end_hour, w_.to);
      if (va >= vb || v.account_index == tenancy::kNone || !w_.account_in_scope[v.account_index]) {
        continue;
      }
      METERD_RETURN_IF_ERROR(PlanVersion(series, r, v, classes[vi], va, vb));
    }
  }
  EmitMeters(series);
  return Status::OK();
}

void PlanBuilder::EmitMeters(uint32_t series) {
  if (tmp_routes_.empty()) return;
  const SeriesHot& s = e_.hot[series];
  // By mask, keeping time order within a mask (insertion sort: a handful of routes).
  for (size_t i = 1; i < tmp_routes_.size(); ++i) {
    for (size_t j = i; j > 0 && tmp_routes_[j].mask < tmp_routes_[j - 1].mask; --j) {
      std::swap(tmp_routes_[j], tmp_routes_[j - 1]);
    }
  }
  auto& plan = w_.plan;
  planned_.push_back(PlannedSeries{series, static_cast<uint32_t>(plan.meters.size()), 0,
                                   static_cast<uint32_t>(plan.routes.size()), 0});
  size_t i = 0;
  while (i < tmp_routes_.size()) {
    Meter m;
    m.series_id = s.id;
    m.type = s.type;
    m.quantity = s.kind == MetricKind::kState   ? Quantity::kStateSeconds
                 : s.kind == MetricKind::kGauge ? Quantity::kGaugeIntegral
                                                : Quantity::kCounterIncrease;
    m.state_mask = tmp_routes_[i].mask;
    m.first_route = static_cast<uint32_t>(plan.routes.size());
    size_t j = i;
    for (; j < tmp_routes_.size() && tmp_routes_[j].mask == tmp_routes_[i].mask; ++j) {
      plan.routes.push_back(tmp_routes_[j].route);
    }
    m.route_count = static_cast<uint32_t>(j - i);
    plan.meters.push_back(m);
    i = j;
  }
  PlannedSeries& p = planned_.back();
  p.meter_count = static_cast<uint32_t>(plan.meters.size()) - p.meter_begin;
  p.route_count = static_cast<uint32_t>(plan.routes.size()) - p.route_begin;
}

// Puts the plan's meters in series-id order (a series' meters stay together, in emission
// order), and their routes with them, so that the scan reads both sequentially. A fleet-wide
// plan has every series: it follows EngineData::by_id, the id order known since Create (a
// gather: its loads are independent, so their cache misses overlap); a narrower scope sorts
// its own series only.
void PlanBuilder::OrderMetersById(bool all) {
  query::rating::RatingPlan& plan = w_.plan;
  std::vector<uint32_t>& order = w_.scratch->order;  // indices into planned_, in id order
  order.clear();
  if (all) {
    std::vector<uint32_t>& at = w_.scratch->at;  // series -> planned_ index
    at.assign(e_.hot.size(), kNone);
    for (uint32_t i = 0; i < planned_.size(); ++i) at[planned_[i].series] = i;
    for (uint32_t series : e_.by_id) {
      if (at[series] != kNone) order.push_back(at[series]);
    }
  } else {
    for (uint32_t i = 0; i < planned_.size(); ++i) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return e_.hot[planned_[a].series].id < e_.hot[planned_[b].series].id;
    });
  }
  bool sorted = true;
  for (size_t i = 0; i < order.size() && sorted; ++i) sorted = order[i] == i;
  if (sorted) return;
  // The gather's loads are random (a fleet's meters and routes are tens of MB): prefetch
  // each series' entry, then its meters and routes, a few series ahead, so that their cache
  // misses overlap instead of following one another.
  std::vector<Meter>& meters = w_.scratch->meters_spare;
  std::vector<Route>& routes = w_.scratch->routes_spare;
  meters.resize(plan.meters.size());
  routes.resize(plan.routes.size());
  constexpr size_t kAhead = 8;
  const size_t n = order.size();
  for (size_t k = 0; k < std::min(n, 2 * kAhead); ++k) __builtin_prefetch(&planned_[order[k]]);
  uint32_t mo = 0, ro = 0;
  for (size_t k = 0; k < n; ++k) {
    if (k + 2 * kAhead < n) __builtin_prefetch(&planned_[order[k + 2 * kAhead]]);
    if (k + kAhead < n) {
      const PlannedSeries& q = planned_[order[k + kAhead]];
      __builtin_prefetch(&plan.meters[q.meter_begin]);
      __builtin_prefetch(&plan.routes[q.route_begin]);
    }
    const PlannedSeries& p = planned_[order[k]];
    for (uint32_t i = 0; i < p.meter_count; ++i) {
      Meter m = plan.meters[p.meter_begin + i];
      m.first_route = m.first_route - p.route_begin + ro;
      meters[mo + i] = m;
    }
    std::copy_n(plan.routes.begin() + p.route_begin, p.route_count, routes.begin() + ro);
    mo += p.meter_count;
    ro += p.route_count;
  }
  plan.meters.swap(meters);
  plan.routes.swap(routes);
}

Status PlanBuilder::Build() {
  planned_.clear();
  std::vector<uint32_t> resources;
  bool all = false;
  METERD_RETURN_IF_ERROR(ResolveScope(&resources, &all));
  CollectCuts(resources);
  if (w_.segments.size() > 255) {
    return Status::InvalidArgument("rating: more than 255 price book versions in one period");
  }
  metric_priced_.assign(e_.metrics.size(), -1);
  for (const pricebook::PriceSegment& seg : w_.segments)
    max_products_ += seg.version->products.size();
  // 4 M entries (16 MB) at most; a fleet of 10,000 accounts x 100 products is 1 M. Only the
  // scope's accounts: one account's request fills a few hundred entries, whatever the fleet.
  const size_t cells = w_.scope_accounts.size() * w_.months.size() * max_products_;
  if (cells <= (size_t{4} << 20)) group_dense_.assign(cells, kNone);
  const size_t resolution_cells = size_t{e_.classes} * w_.segments.size() * e_.metrics.size() * 4;
  if (resolution_cells <= (size_t{1} << 16)) resolution_dense_.assign(resolution_cells, kNone);
  // The scope's series, resource by resource in the order above; then (scope all) the
  // series of resources the tenancy does not know.
  const size_t n = all ? e_.hot.size() : resources.size() * 8;
  w_.plan.meters.reserve(n + n / 4);
  w_.plan.routes.reserve(n + n / 4);
  w_.slots.reserve(n + n / 4);
  w_.lines.reserve(n);
  for (uint32_t r : resources) {
    for (uint32_t i = e_.res_begin[r]; i < e_.res_begin[r + 1]; ++i) {
      METERD_RETURN_IF_ERROR(PlanSeries(i));
    }
  }
  if (all) {
    for (uint32_t i = e_.res_begin.back(); i < e_.hot.size(); ++i) {
      METERD_RETURN_IF_ERROR(PlanSeries(i));
    }
  }
  // The scan wants meters by series id.
  OrderMetersById(all);
  if (w_.product_ids.size() >= (1u << 20) || w_.months.size() >= (1u << 12)) {
    return Status::InvalidArgument("rating: too many products or months in one request");
  }
  w_.plan.slots = static_cast<uint32_t>(w_.slots.size());
  w_.plan.from = w_.scan_from;
  w_.plan.to = w_.to;
  return Status::OK();
}

}  // namespace

const std::vector<int64_t>& Work::CutsOf(uint32_t account) const {
  static const std::vector<int64_t> kNoCuts;
  const auto it = std::lower_bound(account_cuts.begin(), account_cuts.end(), account,
                                   [](const auto& x, uint32_t a) { return x.first < a; });
  return it != account_cuts.end() && it->first == account ? it->second : kNoCuts;
}

Status BuildPlan(Work* work) { return PlanBuilder(work).Build(); }

}  // namespace meterd::engine::rating::internal
