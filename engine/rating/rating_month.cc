// meterd — engine/rating/rating_month.cc: MonthToDate (month_to_date.h) and AccrueMonth
// (rating_internal.h), the incremental pricing of RatingEngine::RateMonthToDate.
//
// Per group of the window's plan (one account's month of one product id): its lines' scanned
// slot totals are added to the state's lines (found by resource in the group's sorted lines,
// a new line inserted in order), each slot to the line's last run when its version is the
// run's, else as a new run; then the whole state group goes through pricebook::PriceMonth,
// exactly as Price would price the group over the month so far (lines in resource order, runs
// in time order), and the change of the group's amounts is the account's change. Groups the
// window does not touch keep their amounts: PriceMonth is a function of the group's runs.
//
// With a kept plan (AccrueMonth's `places` filled) an hour does less: a line the hour adds no
// usage and no run to keeps its amount (same runs, same PriceMonth), and in a group whose
// products all price a line on its own scale (LinePricedAlone: per unit without an allowance,
// with or without a cap or minimum; packages) only the lines the hour changed are re-priced,
// each by PriceMonth of its own runs, which is its charge in the group's PriceMonth: those
// models read no account position (pricing.h). Other groups (allowances, graduated and volume
// tiers) are priced whole when any of their lines changed.
#include <algorithm>
#include <thread>

#include "engine/pricebook/pricing.h"
#include "engine/rating/rating_internal.h"
#include "storage/base/check.h"

namespace meterd::engine::rating {

MonthToDate::MonthToDate() : state_(std::make_unique<internal::MonthState>()) {}
MonthToDate::~MonthToDate() = default;
MonthToDate::MonthToDate(MonthToDate&&) noexcept = default;
MonthToDate& MonthToDate::operator=(MonthToDate&&) noexcept = default;

void MonthToDate::Reset(int64_t month_start) {
  state_ = std::make_unique<internal::MonthState>();
  state_->valid = true;
  state_->month = state_->through = month_start;
}

void MonthToDate::Clear() { state_ = std::make_unique<internal::MonthState>(); }
bool MonthToDate::valid() const { return state_->valid; }
int64_t MonthToDate::month() const { return state_->month; }
int64_t MonthToDate::through() const { return state_->through; }
size_t MonthToDate::lines() const { return state_->lines; }
size_t MonthToDate::groups() const { return state_->groups.size(); }

namespace internal {
namespace {

using pricebook::LineCharge;
using pricebook::UsageSlice;

// Whether PriceMonth prices a line of product `p` from that line's own slices alone: per unit
// without a free allowance (the allowance is on the account's scale; the cap and the minimum
// are the line's) and packages (the line's position). Graduated and volume tiers and
// allowances read the account's position or total, so their lines depend on each other.
bool MonthLinePricedAlone(const pricebook::Product& p) {
  switch (p.model) {
    case pricebook::PriceModel::kPerUnit:
      return p.free_raw == 0;
    case pricebook::PriceModel::kPackage:
      return true;
    default:
      return false;
  }
}

class Accruer {
 public:
  Accruer(const Work& w, std::vector<__int128>* delta, PlanCache* places)
      : w_(w), st_(*w.month_state), delta_(*delta), places_(places) {}

  // Accrues every group, finding (and, with places_, recording) their state groups and lines.
  Status Run() {
    if (places_ != nullptr) {
      places_->state_group.assign(w_.groups.size(), kNone);
      places_->state_line.assign(w_.lines.size(), kNone);
      places_->group_alone.assign(w_.groups.size(), 0);
      places_->accrual.clear();  // built at the plan's first reuse (BuildWalk)
      places_->accrual_begin.clear();
    }
    for (uint32_t g = 0; g < w_.groups.size(); ++g) METERD_RETURN_IF_ERROR(AccrueGroup(g));
    return Status::OK();
  }

  const AccrualCounts& counts() const { return counts_; }

  // Accrues groups [begin, end) at the places recorded (places_->state_group and accrual
  // filled): the state's maps and group list are only read, so disjoint ranges may run in
  // parallel.
  Status RunKnown(uint32_t begin, uint32_t end) {
    // The walk's slots are in scan order, not the groups': their totals and infos are fetched
    // kAhead entries ahead (each a cache miss otherwise, ~85% of the accrual's time).
    constexpr uint32_t kAhead = 16;
    const std::vector<PlanCache::AccrualEntry>& walk = places_->accrual;
    const uint32_t walk_end = places_->accrual_begin[end];
    const uint32_t first = places_->accrual_begin[begin];
    for (uint32_t p = first; p < first + kAhead && p < walk_end; ++p) Prefetch(walk[p].slot);
    for (uint32_t g = begin; g < end; ++g) {
      METERD_RETURN_IF_ERROR(AccrueKnownGroup(g, walk_end));
    }
    return Status::OK();
  }

  // Builds places->accrual from state_line (PlanCache). REQUIRES: state_line filled, and the
  // work's slots numbered as they will stay.
  static void BuildWalk(const Work& w, PlanCache* places) {
    places->accrual.clear();
    places->accrual.reserve(w.slots.size());
    places->accrual_begin.assign(w.groups.size() + 1, 0);
    for (uint32_t g = 0; g < w.groups.size(); ++g) {
      places->accrual_begin[g] = static_cast<uint32_t>(places->accrual.size());
      for (uint32_t l = w.groups[g].first_line; l != kNone; l = w.lines[l].next_line) {
        for (uint32_t s = w.lines[l].first_slot; s != kNone; s = w.slots[s].next) {
          places->accrual.push_back(PlanCache::AccrualEntry{s, places->state_line[l]});
        }
      }
    }
    places->accrual_begin[w.groups.size()] = static_cast<uint32_t>(places->accrual.size());
  }

 private:
  MonthGroup& GroupOf(const GroupInfo& g) {
    const std::string_view product = w_.product_ids[g.product_key];
    const uint32_t ord =
        st_.product_ord.try_emplace(product, static_cast<uint32_t>(st_.product_ord.size()))
            .first->second;
    const uint64_t key = (static_cast<uint64_t>(g.account) << 32) | ord;
    auto [it, inserted] = st_.group_of.try_emplace(key, static_cast<uint32_t>(st_.groups.size()));
    if (inserted) st_.groups.emplace_back().account = g.account;
    return st_.groups[it->second];
  }

  // The state line of `resource` in `sg` (inserted in resource order when new).
  MonthLine& LineOf(MonthGroup& sg, uint32_t resource, size_t* hint) {
    std::vector<MonthLine>& lines = sg.lines;
    // The window's lines come mostly in resource order: try the hint first.
    size_t i = *hint;
    if (!(i < lines.size() && lines[i].resource == resource)) {
      i = static_cast<size_t>(
          std::lower_bound(lines.begin(), lines.end(), resource,
                           [](const MonthLine& l, uint32_t r) { return l.resource < r; }) -
          lines.begin());
      if (i == lines.size() || lines[i].resource != resource) {
        MonthLine fresh;
        fresh.resource = resource;
        lines.insert(lines.begin() + static_cast<ptrdiff_t>(i), fresh);
        ++st_.lines;
      }
    }
    *hint = i + 1;
    return lines[i];
  }

  // Adds q to the line's run of s's version: false when that changed nothing (q == 0 added to
  // the last run, which is already of that version).
  static bool AddSlot(MonthGroup& sg, MonthLine& line, const SlotInfo& s, unsigned __int128 q) {
    if (line.last.version == s.version) {
      line.last.quantity += q;
      return q != 0;
    }
    if (line.last.version != nullptr) {  // a new version: the last run becomes an earlier one
      sg.earlier.push_back(EarlierRun{line.last, line.earlier});
      line.earlier = static_cast<uint32_t>(sg.earlier.size() - 1);
    }
    line.last = MonthRun{s.version, s.product, q};
    return true;
  }

  // Whether every run of the group prices its line alone (MonthLinePricedAlone).
  static bool GroupPricedAlone(const MonthGroup& sg) {
    for (const MonthLine& line : sg.lines) {
      if (line.last.product != nullptr && !MonthLinePricedAlone(*line.last.product)) return false;
    }
    for (const EarlierRun& e : sg.earlier) {
      if (!MonthLinePricedAlone(*e.run.product)) return false;
    }
    return true;
  }

  Status AccrueGroup(uint32_t gid) {
    const GroupInfo& g = w_.groups[gid];
    MonthGroup& sg = GroupOf(g);
    size_t hint = 0;
    // Lines of a group are linked in creation order, which is resource order but for
    // resources planned out of order (LineOf finds them either way).
    for (uint32_t l = g.first_line; l != kNone; l = w_.lines[l].next_line) {
      const LineInfo& li = w_.lines[l];
      MonthLine& line = LineOf(sg, li.resource, &hint);
      for (uint32_t s = li.first_slot; s != kNone; s = w_.slots[s].next) {
        AddSlot(sg, line, w_.slots[s], w_.totals[s].quantity);
      }
    }
    if (places_ != nullptr) {  // the group's lines are all in sg now: remember where
      places_->state_group[gid] = static_cast<uint32_t>(&sg - st_.groups.data());
      hint = 0;
      for (uint32_t l = g.first_line; l != kNone; l = w_.lines[l].next_line) {
        places_->state_line[l] =
            static_cast<uint32_t>(&LineOf(sg, w_.lines[l].resource, &hint) - sg.lines.data());
      }
      places_->group_alone[gid] = GroupPricedAlone(sg) ? 1 : 0;
    }
    return PriceGroup(sg);
  }

  void Prefetch(uint32_t slot) const {
    __builtin_prefetch(&w_.totals[slot]);
    __builtin_prefetch(&w_.slots[slot]);
  }

  // AccrueGroup of a group whose state group and lines are known (PlanCache): no lookups, and
  // only what the hour changed is priced again (the file's comment). `walk_end`: the end of
  // the walk this thread prefetches in.
  Status AccrueKnownGroup(uint32_t gid, uint32_t walk_end) {
    constexpr uint32_t kAhead = 16;
    const std::vector<PlanCache::AccrualEntry>& walk = places_->accrual;
    MonthGroup& sg = st_.groups[places_->state_group[gid]];
    const bool alone = places_->group_alone[gid] != 0;
    bool changed = false;
    __int128 change = 0;
    const uint32_t end = places_->accrual_begin[gid + 1];
    for (uint32_t p = places_->accrual_begin[gid]; p < end;) {
      const uint32_t i = walk[p].line;
      MonthLine& line = sg.lines[i];
      bool line_changed = false;
      for (; p < end && walk[p].line == i; ++p) {
        if (p + kAhead < walk_end) Prefetch(walk[p + kAhead].slot);
        const uint32_t s = walk[p].slot;
        line_changed |= AddSlot(sg, line, w_.slots[s], w_.totals[s].quantity);
      }
      if (!line_changed) {
        ++counts_.lines_unchanged;
        continue;
      }
      changed = true;
      if (alone) {
        MicroCredits amount = 0;
        METERD_RETURN_IF_ERROR(PriceLineAlone(sg, i, &amount));
        change += static_cast<__int128>(amount) - line.amount;
        line.amount = amount;
        ++counts_.lines_priced_alone;
      }
    }
    if (alone) {
      delta_[sg.account] += change;
      return Status::OK();
    }
    return changed ? PriceGroup(sg) : Status::OK();
  }

  // PriceMonth of line i of sg on its own (REQUIRES: its runs' products MonthLinePricedAlone):
  // its charge in the group's PriceMonth.
  Status PriceLineAlone(const MonthGroup& sg, uint32_t i, MicroCredits* amount) {
    const MonthLine& line = sg.lines[i];
    charges_.clear();
    if (line.earlier == kNone) {  // the common line: one run
      const UsageSlice one{i, line.last.version, line.last.product, line.last.quantity};
      METERD_RETURN_IF_ERROR(pricebook::PriceMonth({&one, 1}, &charges_, nullptr));
    } else {
      slices_.clear();
      for (uint32_t e = line.earlier; e != kNone; e = sg.earlier[e].prev) {
        const MonthRun& r = sg.earlier[e].run;
        slices_.push_back(UsageSlice{i, r.version, r.product, r.quantity});
      }
      std::reverse(slices_.begin(), slices_.end());
      slices_.push_back(UsageSlice{i, line.last.version, line.last.product, line.last.quantity});
      METERD_RETURN_IF_ERROR(pricebook::PriceMonth(slices_, &charges_, nullptr));
    }
    METERD_CHECK(charges_.size() == 1, "PriceMonth: one charge for one line");
    *amount = charges_.front().amount;
    return Status::OK();
  }

  // Prices the state group over the month so far and adds the change of its amounts to its
  // account's delta.
  Status PriceGroup(MonthGroup& sg) {
    ++counts_.groups_priced;
    slices_.clear();
    for (uint32_t i = 0; i < sg.lines.size(); ++i) {
      const MonthLine& line = sg.lines[i];
      const size_t first = slices_.size();
      for (uint32_t e = line.earlier; e != kNone; e = sg.earlier[e].prev) {
        const MonthRun& r = sg.earlier[e].run;
        slices_.push_back(UsageSlice{i, r.version, r.product, r.quantity});
      }
      std::reverse(slices_.begin() + static_cast<ptrdiff_t>(first), slices_.end());
      slices_.push_back(UsageSlice{i, line.last.version, line.last.product, line.last.quantity});
    }
    charges_.clear();
    METERD_RETURN_IF_ERROR(pricebook::PriceMonth(slices_, &charges_, nullptr));
    METERD_CHECK(charges_.size() == sg.lines.size(), "PriceMonth: one charge per line");
    __int128 change = 0;
    for (const LineCharge& c : charges_) {
      MonthLine& line = sg.lines[c.line];
      change += static_cast<__int128>(c.amount) - line.amount;
      line.amount = c.amount;
    }
    delta_[sg.account] += change;
    return Status::OK();
  }

  const Work& w_;
  MonthState& st_;
  std::vector<__int128>& delta_;
  PlanCache* places_;  // may be null
  std::vector<UsageSlice> slices_;
  std::vector<LineCharge> charges_;
  AccrualCounts counts_;
};

}  // namespace

Status AccrueMonth(const Work& work, std::vector<__int128>* delta, PlanCache* places) {
  if (places == nullptr || places->state_group.empty()) {
    Accruer accruer(work, delta, places);
    METERD_RETURN_IF_ERROR(accruer.Run());
    work.month_state->accrual.Add(accruer.counts());
    return Status::OK();
  }
  if (places->accrual_begin.size() != work.groups.size() + 1) Accruer::BuildWalk(work, places);
  const RatingOptions& options = work.engine->options;
  const size_t n = work.groups.size();
  const size_t parts = std::clamp<size_t>(n / std::max<size_t>(1, options.min_groups_per_thread), 1,
                                          static_cast<size_t>(std::max(1, options.threads)));
  // Each part its own deltas (an account's groups may fall on both sides of a cut), added up
  // after. The parts touch disjoint state groups and only read the state's maps.
  std::vector<std::vector<__int128>> deltas(parts - 1, std::vector<__int128>(delta->size(), 0));
  std::vector<Status> status(parts);
  std::vector<AccrualCounts> counts(parts);
  std::vector<std::thread> pool;
  auto cut = [&](size_t p) { return static_cast<uint32_t>(n * p / parts); };
  auto run = [&](size_t p, std::vector<__int128>* part_delta) {
    Accruer accruer(work, part_delta, places);
    status[p] = accruer.RunKnown(cut(p), cut(p + 1));
    counts[p] = accruer.counts();
  };
  for (size_t p = 1; p < parts; ++p) pool.emplace_back([&, p] { run(p, &deltas[p - 1]); });
  run(0, delta);
  for (std::thread& t : pool) t.join();
  for (const Status& st : status) METERD_RETURN_IF_ERROR(st);
  for (const AccrualCounts& c : counts) work.month_state->accrual.Add(c);
  for (const std::vector<__int128>& d : deltas) {
    for (size_t a = 0; a < d.size(); ++a) (*delta)[a] += d[a];
  }
  return Status::OK();
}

}  // namespace internal
}  // namespace meterd::engine::rating
