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

class Accruer {
 public:
  Accruer(const Work& w, std::vector<__int128>* delta, PlanCache* places)
      : w_(w), st_(*w.month_state), delta_(*delta), places_(places) {}

  // Accrues every group, finding (and, with places_, recording) their state groups and lines.
  Status Run() {
    if (places_ != nullptr) {
      places_->state_group.assign(w_.groups.size(), kNone);
      places_->state_line.assign(w_.lines.size(), kNone);
    }
    for (uint32_t g = 0; g < w_.groups.size(); ++g) METERD_RETURN_IF_ERROR(AccrueGroup(g));
    return Status::OK();
  }

  // Accrues groups [begin, end) at the places recorded (places_->state_group filled): the
  // state's maps and group list are only read, so disjoint ranges may run in parallel.
  Status RunKnown(uint32_t begin, uint32_t end) {
    // A cached plan's slots are in scan order, not in the groups': fetch a few groups ahead.
    constexpr uint32_t kAhead = 4;
    for (uint32_t g = begin; g < end; ++g) {
      if (g + kAhead < end) Prefetch(g + kAhead);
      METERD_RETURN_IF_ERROR(AccrueKnownGroup(g));
    }
    return Status::OK();
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

  static void AddSlot(MonthGroup& sg, MonthLine& line, const SlotInfo& s, unsigned __int128 q) {
    if (line.last.version == s.version) {
      line.last.quantity += q;
      return;
    }
    if (line.last.version != nullptr) {  // a new version: the last run becomes an earlier one
      sg.earlier.push_back(EarlierRun{line.last, line.earlier});
      line.earlier = static_cast<uint32_t>(sg.earlier.size() - 1);
    }
    line.last = MonthRun{s.version, s.product, q};
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
    }
    return PriceGroup(sg);
  }

  // Prefetches group gid's lines' first slots (their totals and infos) and state lines.
  void Prefetch(uint32_t gid) const {
    const GroupInfo& g = w_.groups[gid];
    const MonthGroup& sg = st_.groups[places_->state_group[gid]];
    for (uint32_t l = g.first_line; l != kNone; l = w_.lines[l].next_line) {
      __builtin_prefetch(&w_.totals[w_.lines[l].first_slot]);
      __builtin_prefetch(&w_.slots[w_.lines[l].first_slot]);
      __builtin_prefetch(&sg.lines[places_->state_line[l]], 1);
    }
  }

  // AccrueGroup of a group whose state group and lines are known (PlanCache): no lookups.
  Status AccrueKnownGroup(uint32_t gid) {
    const GroupInfo& g = w_.groups[gid];
    MonthGroup& sg = st_.groups[places_->state_group[gid]];
    for (uint32_t l = g.first_line; l != kNone; l = w_.lines[l].next_line) {
      const LineInfo& li = w_.lines[l];
      MonthLine& line = sg.lines[places_->state_line[l]];
      for (uint32_t s = li.first_slot; s != kNone; s = w_.slots[s].next) {
        AddSlot(sg, line, w_.slots[s], w_.totals[s].quantity);
      }
    }
    return PriceGroup(sg);
  }

  // Prices the state group over the month so far and adds the change of its amounts to its
  // account's delta.
  Status PriceGroup(MonthGroup& sg) {
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
};

}  // namespace

Status AccrueMonth(const Work& work, std::vector<__int128>* delta, PlanCache* places) {
  if (places == nullptr || places->state_group.empty()) return Accruer(work, delta, places).Run();
  const RatingOptions& options = work.engine->options;
  const size_t n = work.groups.size();
  const size_t parts = std::clamp<size_t>(n / std::max<size_t>(1, options.min_groups_per_thread), 1,
                                          static_cast<size_t>(std::max(1, options.threads)));
  // Each part its own deltas (an account's groups may fall on both sides of a cut), added up
  // after. The parts touch disjoint state groups and only read the state's maps.
  std::vector<std::vector<__int128>> deltas(parts - 1, std::vector<__int128>(delta->size(), 0));
  std::vector<Status> status(parts);
  std::vector<std::thread> pool;
  auto cut = [&](size_t p) { return static_cast<uint32_t>(n * p / parts); };
  for (size_t p = 1; p < parts; ++p) {
    pool.emplace_back(
        [&, p] { status[p] = Accruer(work, &deltas[p - 1], places).RunKnown(cut(p), cut(p + 1)); });
  }
  status[0] = Accruer(work, delta, places).RunKnown(cut(0), cut(1));
  for (std::thread& t : pool) t.join();
  for (const Status& st : status) METERD_RETURN_IF_ERROR(st);
  for (const std::vector<__int128>& d : deltas) {
    for (size_t a = 0; a < d.size(); ++a) (*delta)[a] += d[a];
  }
  return Status::OK();
}

}  // namespace internal
}  // namespace meterd::engine::rating
