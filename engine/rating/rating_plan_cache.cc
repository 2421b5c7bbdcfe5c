// meterd — engine/rating/rating_plan_cache.cc: the plan a month-to-date rating keeps for the
// next hour (PlanCache, rating_internal.h) and the slot order that makes it worth keeping.
//
// A one-hour plan holds only routes, slots and unrated ranges clipped to its window (pieces
// are cut at the window start, routes and unrated ranges clipped to it): when no resource or
// price book version begins or ends in (from, to + d], the plan of [from + d, to + d) is the
// same plan with every one of those times moved by d. Planning a 2-million-series fleet costs
// far more than that shift.
#include <algorithm>

#include "engine/rating/rating_internal.h"
#include "storage/base/check.h"

namespace meterd::engine::rating::internal {

void OrderSlotsForScan(Work* w) {
  const size_t n = w->slots.size();
  std::vector<uint32_t> new_id(n, kNone);
  uint32_t next = 0;
  for (query::rating::Route& r : w->plan.routes) {  // in scan order: meters by series id
    const uint32_t k = query::rating::RouteSlots(r);
    for (uint32_t i = 0; i < k; ++i) {
      if (new_id[r.slot + i] == kNone) new_id[r.slot + i] = next++;
    }
    // A route's slots stay consecutive: a strided route's slots are its own (only unrated
    // slots, of stride 0, are shared between routes).
    METERD_DCHECK(k == 1 || new_id[r.slot + k - 1] == new_id[r.slot] + k - 1,
                  "OrderSlotsForScan: a route's slots must stay consecutive");
    r.slot = new_id[r.slot];
  }
  for (uint32_t& id : new_id) {
    if (id == kNone) id = next++;  // a slot no route feeds (none today): kept, at the end
  }
  auto map = [&new_id](uint32_t s) { return s == kNone ? kNone : new_id[s]; };
  std::vector<SlotInfo> slots(n);
  for (size_t i = 0; i < n; ++i) {
    SlotInfo s = w->slots[i];
    s.next = map(s.next);
    slots[new_id[i]] = s;
  }
  w->slots.swap(slots);
  for (LineInfo& l : w->lines) {
    l.first_slot = map(l.first_slot);
    l.last_slot = map(l.last_slot);
  }
  for (UnratedInfo& u : w->unrated) u.slot = map(u.slot);
}

bool PlanReusable(const PlanCache& cache, const EngineData& d, int64_t from, int64_t to) {
  if (cache.series == nullptr || cache.series != d.series || from < cache.from ||
      to - from != cache.to - cache.from) {
    return false;
  }
  const auto it = std::upper_bound(d.boundaries.begin(), d.boundaries.end(), cache.from);
  return it == d.boundaries.end() || *it > to;
}

void TakePlan(PlanCache* c, Work* w) {
  static_cast<PlanOutput&>(*w) = std::move(c->planned);
  const int64_t d = w->from - c->from;
  if (d != 0) {
    for (query::rating::Route& r : w->plan.routes) {
      r.from += d;
      r.to += d;
    }
    for (SlotInfo& s : w->slots) {
      s.from += d;
      s.to += d;
    }
    for (UnratedRange& u : w->unrated_ranges) {
      u.from += d;
      u.to += d;
    }
  }
  w->plan.from = w->scan_from;
  w->plan.to = w->to;
}

void KeepPlan(Work* w, PlanCache* c) {
  c->series = w->engine->series;
  c->from = w->from;
  c->to = w->to;
  c->planned = std::move(static_cast<PlanOutput&>(*w));
}

}  // namespace meterd::engine::rating::internal
