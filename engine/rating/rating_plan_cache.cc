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

namespace {

// Renumbers every slot s of `w` to new_id[s] (a permutation): routes, slots, lines, unrated.
// REQUIRES: no strided route.
void RenumberSlots(const std::vector<uint32_t>& new_id, Work* w) {
  const size_t n = w->slots.size();
  auto map = [&new_id](uint32_t s) { return s == kNone ? kNone : new_id[s]; };
  for (query::rating::Route& r : w->plan.routes) {
    // A strided route's slots would have to stay consecutive; a month-to-date plan (group_by
    // account) has none.
    METERD_CHECK(r.stride == 0, "RenumberSlots: a strided route");
    r.slot = new_id[r.slot];
  }
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

}  // namespace

void OrderSlotsForAccrual(Work* w) {
  const size_t n = w->slots.size();
  std::vector<uint32_t> new_id(n, kNone);
  uint32_t next = 0;
  for (const GroupInfo& g : w->groups) {
    for (uint32_t l = g.first_line; l != kNone; l = w->lines[l].next_line) {
      for (uint32_t s = w->lines[l].first_slot; s != kNone; s = w->slots[s].next) {
        if (new_id[s] == kNone) new_id[s] = next++;
      }
    }
  }
  for (uint32_t& id : new_id) {
    if (id == kNone) id = next++;  // unrated slots, and lines of no group (none today)
  }
  RenumberSlots(new_id, w);
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
