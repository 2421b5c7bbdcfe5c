// meterd — engine/rating/rating_price.cc: Price (engine/rating/rating_internal.h).
//
// 1. Per group (one account's month of one product id): its lines in resource-id order, each
//    line's slots in time order, merged into slices per run of one price book version
//    (splitting or merging a slice at a position never changes PriceMonth's result: every
//    piece is priced exactly and the line rounds once), and pricebook::PriceMonth. When the
//    month has cuts (the window's start, project changes in the account, hour / day periods)
//    the group is priced once per cut over the usage before it (the *accrued* amounts; the
//    pricing after the last cut is the lines' final charge) and each part of a line gets
//    accrued(end) - accrued(start) (rating_engine.h, "Lines").
// 2. Output: lines sorted once by a packed (account, resource, product, month) key, each
//    emitted as its parts, each account's fees after its usage; then unrated usage, group
//    totals (dense accumulators per group key) and totals.
#include <algorithm>
#include <ctime>
#include <unordered_map>

#include "engine/pricebook/pricing.h"
#include "engine/rating/rating_internal.h"
#include "query/scan/period.h"

namespace meterd::engine::rating::internal {
namespace {

using pricebook::ChargePiece;
using pricebook::Currency;
using pricebook::LineCharge;
using pricebook::PriceBookVersion;
using pricebook::Product;
using pricebook::UsageSlice;
using query::rating::SlotTotals;

MicroCredits FirstPrice(const Product& p) {
  switch (p.model) {
    case pricebook::PriceModel::kPerUnit:
      return p.unit_price;
    case pricebook::PriceModel::kGraduated:
    case pricebook::PriceModel::kVolume:
      return p.tiers.empty() ? 0 : p.tiers.front().unit_price;
    case pricebook::PriceModel::kPackage:
      return p.package_price;
    case pricebook::PriceModel::kSubscription:
      return p.monthly_fee;
  }
  return 0;
}

// What one part of a line accumulated.
struct PartAcc {
  unsigned __int128 quantity = 0;
  uint32_t hours = 0, provisional = 0, revised = 0;
  uint64_t max_revision = 0;
  uint32_t slots = 0;
  uint32_t project = kNone;
  const PriceBookVersion* first_version = nullptr;
  const Product* first_product = nullptr;
  const PriceBookVersion* last_version = nullptr;
  uint32_t versions = 0;

  void Add(const SlotInfo& s, const SlotTotals& x) {
    if (slots++ == 0) {
      first_version = s.version;
      first_product = s.product;
      project = s.project;
    }
    // A line's slots come in time order, so distinct versions are runs.
    if (s.version != last_version) {
      last_version = s.version;
      ++versions;
    }
    quantity += x.quantity;
    hours += x.hours;
    provisional += x.provisional_hours;
    revised += x.revised_hours;
    max_revision = std::max(max_revision, x.max_revision);
  }
};

// Per group key (group_by): the totals being summed.
struct GroupAcc {
  __int128 amount = 0;
  int64_t minor = 0;
  size_t lines = 0;
  bool provisional = false;
  unsigned __int128 raw_quantity = 0;
  uint32_t first_line = kNone;  // an output line of the group (its labels)
  uint64_t key = 0;
};

class Pricer {
 public:
  Pricer(const Work& w, RatingResult* out) : w_(w), e_(*w.engine), t_(e_.tenancy()), out_(*out) {}
  Status Run();

 private:
  Status PriceGroup(uint32_t group);
  Status EmitLine(uint32_t line_id);
  Status EmitFees(uint32_t account);
  // Completes out_.lines.back() (display amounts) and adds it to its group.
  Status Finalize(uint32_t account, uint64_t group_key);
  void EmitUnrated();
  Status Finish();
  const Currency* LineCurrency(uint32_t account);
  size_t GroupKeyDomain() const;
  GroupAcc& AccOf(uint64_t key);

  const Work& w_;
  const EngineData& e_;
  const tenancy::Tenancy& t_;
  RatingResult& out_;
  std::vector<LineResult>& results_ = w_.scratch->results;    // per line
  std::vector<MicroCredits>& accrued_ = w_.scratch->accrued;  // see LineResult::accrued
  std::vector<std::vector<ChargePiece>> pieces_of_;           // per line (explain only)
  std::vector<int64_t> cuts_;                                 // all groups' cuts, flat
  std::vector<uint32_t> cut_begin_;                           // per group + 1: its cuts in cuts_
  // The display currency of the last account asked (lines come account by account).
  uint32_t currency_account_ = kNone;
  const Currency* account_currency_ = nullptr;
  // The group totals, in order of first use; found by key in a dense table over the key
  // domain for a fleet-wide request, else in a hash map (one account's request then touches
  // nothing sized by the fleet).
  std::vector<GroupAcc> group_acc_;
  std::vector<uint32_t> acc_dense_;
  std::unordered_map<uint64_t, uint32_t> acc_hash_;
  std::unordered_map<std::string_view, uint32_t> fee_product_key_;
  std::vector<const Product*> fee_products_;  // by fee product key - product_ids.size()
  const Currency* totals_currency_ = nullptr;
  // Per group scratch.
  std::vector<uint32_t> line_ids_;
  std::vector<int64_t> group_cuts_;
  std::vector<UsageSlice> slices_;
  std::vector<LineCharge> charges_;
  std::vector<ChargePiece> pieces_;
  std::vector<std::vector<UsageSlice>> runs_;
  std::vector<uint32_t> cursor_;
  std::vector<PartAcc> parts_;
  std::vector<pricebook::FeeCharge> fee_charges_;
};

const Currency* Pricer::LineCurrency(uint32_t account) {
  const PriceBookVersion* dv = w_.display_version;
  if (dv == nullptr) return nullptr;
  if (!w_.request.currency.empty()) return dv->FindCurrency(w_.request.currency);
  if (account != currency_account_) {
    account_currency_ = &dv->DisplayCurrency(t_.accounts()[account].currency);
    currency_account_ = account;
  }
  return account_currency_;
}

GroupAcc& Pricer::AccOf(uint64_t key) {
  uint32_t* index;
  if (!acc_dense_.empty()) {
    index = &acc_dense_[key];
  } else {
    index = &acc_hash_.try_emplace(key, kNone).first->second;
  }
  if (*index == kNone) {
    *index = static_cast<uint32_t>(group_acc_.size());
    group_acc_.emplace_back().key = key;
  }
  return group_acc_[*index];
}

Status Pricer::PriceGroup(uint32_t gid) {
  const GroupInfo& g = w_.groups[gid];
  // Lines in resource-id order (pricing.h); a resource has one line per group.
  line_ids_.clear();
  for (uint32_t l = g.first_line; l != kNone; l = w_.lines[l].next_line) line_ids_.push_back(l);
  // (Created in resource order, but for resources planned out of order: insertion sort.)
  for (size_t i = 1; i < line_ids_.size(); ++i) {
    for (size_t j = i;
         j > 0 && w_.lines[line_ids_[j]].resource < w_.lines[line_ids_[j - 1]].resource; --j) {
      std::swap(line_ids_[j], line_ids_[j - 1]);
    }
  }
  const int64_t ms = w_.months[g.month];
  const int64_t end = std::min(w_.month_ends[g.month], w_.to);
  // Cuts of this account's month.
  group_cuts_.clear();
  if (w_.from > ms && w_.from < end) group_cuts_.push_back(w_.from);
  for (int64_t c : w_.CutsOf(g.account)) {
    if (c > ms && c < end) group_cuts_.push_back(c);
  }
  if (w_.stride != 0) {
    const int64_t s = w_.stride;
    for (int64_t c = (query::scan::FloorDiv(ms, s) + 1) * s; c < end; c += s) {
      group_cuts_.push_back(c);
    }
  }
  std::sort(group_cuts_.begin(), group_cuts_.end());
  group_cuts_.erase(std::unique(group_cuts_.begin(), group_cuts_.end()), group_cuts_.end());
  cuts_.insert(cuts_.end(), group_cuts_.begin(), group_cuts_.end());
  cut_begin_[gid + 1] = static_cast<uint32_t>(cuts_.size());
  const size_t nl = line_ids_.size();
  const size_t intervals = group_cuts_.size() + 1;
  for (size_t li = 0; li < nl; ++li) {
    results_[line_ids_[li]].accrued = static_cast<uint32_t>(accrued_.size() + li * intervals);
  }
  const size_t base = accrued_.size();
  accrued_.resize(base + nl * intervals, 0);

  if (runs_.size() < nl) runs_.resize(nl);
  for (size_t li = 0; li < nl; ++li) runs_[li].clear();
  auto add_slot = [&](size_t li, uint32_t s) {
    const SlotInfo& si = w_.slots[s];
    std::vector<UsageSlice>& runs = runs_[li];
    if (runs.empty() || runs.back().version != si.version) {
      runs.push_back(UsageSlice{static_cast<uint32_t>(li), si.version, si.product, 0});
    }
    runs.back().quantity += w_.totals[s].quantity;
  };
  // The unit price is the line's last billed piece's. Only tiers, or a line with slices of
  // several versions, need the pieces to tell it; otherwise it is the product's price.
  bool need_pieces = w_.request.explain;
  auto price_runs = [&](bool last) -> Status {
    slices_.clear();
    for (size_t li = 0; li < nl; ++li) {
      slices_.insert(slices_.end(), runs_[li].begin(), runs_[li].end());
      if (last && !need_pieces) {
        const Product& p = *runs_[li].front().product;
        need_pieces = runs_[li].size() > 1 || p.model == pricebook::PriceModel::kGraduated ||
                      p.model == pricebook::PriceModel::kVolume;
      }
    }
    charges_.clear();
    pieces_.clear();
    return pricebook::PriceMonth(slices_, &charges_, last && need_pieces ? &pieces_ : nullptr);
  };
  if (intervals == 1) {
    for (size_t li = 0; li < nl; ++li) {
      for (uint32_t s = w_.lines[line_ids_[li]].first_slot; s != kNone; s = w_.slots[s].next) {
        add_slot(li, s);
      }
    }
    METERD_RETURN_IF_ERROR(price_runs(true));
    for (const LineCharge& c : charges_) accrued_[base + c.line] = c.amount;
  } else {
    cursor_.resize(nl);
    for (size_t li = 0; li < nl; ++li) cursor_[li] = w_.lines[line_ids_[li]].first_slot;
    for (size_t k = 0; k < intervals; ++k) {
      const int64_t cut = k + 1 < intervals ? group_cuts_[k] : INT64_MAX;
      bool changed = false;
      for (size_t li = 0; li < nl; ++li) {
        uint32_t& s = cursor_[li];
        while (s != kNone && w_.slots[s].from < cut) {
          add_slot(li, s);
          s = w_.slots[s].next;
          changed = true;
        }
      }
      const bool last = k + 1 == intervals;
      if (changed || last) {
        METERD_RETURN_IF_ERROR(price_runs(last));
        for (const LineCharge& c : charges_) accrued_[base + c.line * intervals + k] = c.amount;
      } else if (k > 0) {  // nothing new before this cut: the same amounts
        for (size_t li = 0; li < nl; ++li) {
          accrued_[base + li * intervals + k] = accrued_[base + li * intervals + k - 1];
        }
      }
    }
  }
  // charges_ / pieces_ hold the final pricing, one charge per line in order (every line has a
  // slot, so a slice).
  size_t p = 0;
  for (size_t li = 0; li < nl; ++li) {
    const LineCharge& c = charges_[li];
    LineResult& r = results_[line_ids_[li]];
    r.free = c.free;
    r.capped = c.capped;
    r.minimum_applied = c.minimum_applied;
    const size_t p0 = p;
    while (p < pieces_.size() && pieces_[p].line == li) ++p;
    r.unit_price = FirstPrice(*w_.slots[w_.lines[line_ids_[li]].last_slot].product);
    for (size_t i = p; i-- > p0;) {
      if (pieces_[i].tier != ChargePiece::kFree && pieces_[i].tier != ChargePiece::kCapped) {
        r.unit_price = pieces_[i].unit_price;
        break;
      }
    }
    if (w_.request.explain) {
      pieces_of_[line_ids_[li]].assign(pieces_.begin() + p0, pieces_.begin() + p);
    }
  }
  return Status::OK();
}

Status Pricer::Finalize(uint32_t account, uint64_t group_key) {
  ChargeLine& cl = out_.lines.back();
  cl.currency = LineCurrency(account);
  if (cl.currency != nullptr) {
    METERD_ASSIGN_OR_RETURN(
        cl.display_minor,
        pricebook::ToMinorUnits(cl.amount, *cl.currency, w_.display_version->rounding));
  }
  int64_t minor = 0;
  if (totals_currency_ != nullptr) {
    if (cl.currency == totals_currency_) {
      minor = cl.display_minor;
    } else {
      METERD_ASSIGN_OR_RETURN(minor, pricebook::ToMinorUnits(cl.amount, *totals_currency_,
                                                             w_.display_version->rounding));
    }
  }
  GroupAcc& g = AccOf(group_key);
  g.amount += cl.amount;
  g.minor += minor;
  ++g.lines;
  g.provisional |= cl.provisional;
  g.raw_quantity += cl.raw_quantity;
  if (g.first_line == kNone) g.first_line = static_cast<uint32_t>(out_.lines.size() - 1);
  return Status::OK();
}

// The dense group key of a line (see GroupKeyDomain).
size_t Pricer::GroupKeyDomain() const {
  switch (w_.request.group_by) {
    case GroupBy::kProduct:
      return w_.product_ids.size() + e_.catalog->subscriptions.size() + 1;
    case GroupBy::kResource:
      return t_.resources().size() + 1;  // + fees
    case GroupBy::kProject:
      return t_.projects().size() + 1;  // + fees
    case GroupBy::kAccount:
      return t_.accounts().size();
    case GroupBy::kHour:
    case GroupBy::kDay:
      return static_cast<size_t>((w_.to - w_.scan_from) / w_.stride) + 1;
    case GroupBy::kMonth:
      return w_.months.size();
  }
  return 1;
}

Status Pricer::EmitLine(uint32_t line_id) {
  const LineInfo& line = w_.lines[line_id];
  if (w_.filter_resource != kNone && line.resource != w_.filter_resource) return Status::OK();
  const LineResult& res = results_[line_id];
  const uint32_t gid = line.group;
  const int64_t* cuts = cuts_.data() + cut_begin_[gid];
  const size_t ncuts = cut_begin_[gid + 1] - cut_begin_[gid];
  const size_t intervals = ncuts + 1;
  const MicroCredits* accrued = accrued_.data() + res.accrued;
  const int64_t ms = w_.months[line.month];
  const int64_t end = std::min(w_.month_ends[line.month], w_.to);
  parts_.assign(intervals, PartAcc{});
  size_t k = 0;
  for (uint32_t s = line.first_slot; s != kNone; s = w_.slots[s].next) {
    const SlotInfo& si = w_.slots[s];
    while (k < ncuts && cuts[k] <= si.from) ++k;  // slots ascend and never straddle a cut
    parts_[k].Add(si, w_.totals[s]);
  }
  const tenancy::Resource& resource = t_.resources()[line.resource];
  const tenancy::Account& acct = t_.accounts()[line.account];
  const SlotInfo& first = w_.slots[line.first_slot];
  uint32_t project = first.project;
  const PriceBookVersion* version = first.version;
  const Product* product = first.product;
  for (k = 0; k < intervals; ++k) {
    const PartAcc& part = parts_[k];
    const MicroCredits amount = accrued[k] - (k == 0 ? 0 : accrued[k - 1]);
    if (part.slots != 0) {
      project = part.project;
      version = part.first_version;
      product = part.first_product;
    }
    if (part.quantity == 0 && amount == 0) continue;  // nothing used, nothing charged
    const int64_t start = k == 0 ? ms : cuts[k - 1];
    if (start < w_.from) continue;  // before the window: counted, not shown
    if (w_.filter_project != kNone && project != w_.filter_project) continue;
    const int64_t stop = k < ncuts ? cuts[k] : end;
    ChargeLine& cl = out_.lines.emplace_back();  // built in place: a line is ~330 bytes
    cl.domain = acct.domain;
    cl.account = acct.id;
    cl.project = t_.projects()[project].id;
    cl.resource = resource.id;
    cl.resource_name = resource.name;
    cl.product_id = product->id;
    cl.product_name = product->name;
    cl.group = product->group;
    cl.unit = product->unit;
    cl.metric = product->metric;
    cl.period_start = std::max(start, w_.from);
    cl.period_end = std::min(stop, w_.to);
    cl.month_start = ms;
    cl.raw_quantity = part.quantity;
    cl.divisor = product->divisor;
    cl.unit_price = res.unit_price;
    cl.amount = amount;
    cl.price_version = version->version;
    cl.price_versions = std::max<uint32_t>(1, part.versions);
    cl.hours = part.hours;
    cl.provisional_hours = part.provisional;
    cl.revised_hours = part.revised;
    cl.max_revision = part.max_revision;
    cl.provisional = part.provisional > 0;
    cl.revised = part.revised > 0;
    cl.minimum_applied = res.minimum_applied;
    cl.line_free_raw = res.free;
    cl.line_capped_raw = res.capped;
    if (w_.request.explain) cl.pieces = pieces_of_[line_id];
    uint64_t key = 0;
    switch (w_.request.group_by) {
      case GroupBy::kProduct:
        key = line.product_key;
        break;
      case GroupBy::kResource:
        key = line.resource;
        break;
      case GroupBy::kProject:
        key = project;
        break;
      case GroupBy::kAccount:
        key = line.account;
        break;
      case GroupBy::kHour:
      case GroupBy::kDay:
        key = static_cast<uint64_t>((cl.period_start - w_.scan_from) / w_.stride);
        break;
      case GroupBy::kMonth:
        key = line.month;
        break;
    }
    METERD_RETURN_IF_ERROR(Finalize(line.account, key));
  }
  return Status::OK();
}

Status Pricer::EmitFees(uint32_t a) {
  const RatingRequest& req = w_.request;
  const auto& subs = e_.catalog->subscriptions;
  const tenancy::Account& acct = t_.accounts()[a];
  for (uint32_t i = e_.sub_begin[a]; i < e_.sub_begin[a + 1]; ++i) {
    const pricebook::Subscription& sub = subs[e_.sub_index[i]];
    for (uint32_t m = 0; m < w_.months.size(); ++m) {
      const int64_t ms = w_.months[m];
      fee_charges_.clear();
      METERD_RETURN_IF_ERROR(
          pricebook::PriceSubscriptionMonth(*w_.fee_book, sub, ms, &fee_charges_));
      for (const pricebook::FeeCharge& c : fee_charges_) {
        const bool one_time = c.kind == pricebook::FeeCharge::Kind::kOneTime;
        const int64_t due = one_time ? FloorHour(sub.start) : std::max(ms, FloorHour(sub.start));
        if (due < w_.from || due >= w_.to) continue;
        if (c.unpriced || c.product == nullptr) {
          UnratedUsage u;
          u.reason = UnratedUsage::Reason::kNoProduct;
          u.metric = sub.product;
          u.account = acct.id;
          u.raw_quantity = sub.quantity;
          u.first_hour = u.last_hour = due;
          out_.unpriced.push_back(u);
          continue;
        }
        // Under an explicit version the fee was priced by a one-version copy of it: point
        // the line at the catalog's own product (the copy dies with the call).
        const Product* product = c.product;
        if (req.price_version != 0) product = w_.display_version->FindProduct(c.product->id);
        ChargeLine& cl = out_.lines.emplace_back();
        cl.domain = acct.domain;
        cl.account = acct.id;
        cl.product_id = product->id;
        cl.product_name = product->name;
        cl.group = product->group;
        cl.unit = one_time ? std::string_view("one-time") : std::string_view(product->unit);
        cl.subscription = true;
        cl.one_time_fee = one_time;
        cl.subscription_id = sub.id;
        cl.month_start = ms;
        cl.period_start = due;
        cl.period_end = one_time ? due + kH : w_.month_ends[m];
        if (w_.stride != 0) {
          cl.period_start = query::scan::FloorDiv(due, w_.stride) * w_.stride;
          cl.period_end = cl.period_start + w_.stride;
        }
        cl.raw_quantity = c.quantity;
        cl.divisor = 1;
        cl.unit_price = one_time ? product->one_time_fee : product->monthly_fee;
        cl.amount = c.amount;
        cl.price_version = req.price_version != 0 ? req.price_version : c.version->version;
        cl.hours = static_cast<uint32_t>(c.active_hours);
        uint64_t key = 0;
        switch (req.group_by) {
          case GroupBy::kProduct: {
            auto [it, inserted] = fee_product_key_.try_emplace(
                product->id, static_cast<uint32_t>(w_.product_ids.size() + fee_products_.size()));
            if (inserted) fee_products_.push_back(product);
            key = it->second;
            break;
          }
          case GroupBy::kResource:
            key = t_.resources().size();
            break;
          case GroupBy::kProject:
            key = t_.projects().size();
            break;
          case GroupBy::kAccount:
            key = a;
            break;
          case GroupBy::kHour:
          case GroupBy::kDay:
            key = static_cast<uint64_t>((cl.period_start - w_.scan_from) / w_.stride);
            break;
          case GroupBy::kMonth:
            key = m;
            break;
        }
        METERD_RETURN_IF_ERROR(Finalize(a, key));
      }
    }
  }
  return Status::OK();
}

void Pricer::EmitUnrated() {
  size_t split = 0;
  for (uint32_t id = 0; id < w_.unrated.size(); ++id) {
    const UnratedInfo& u = w_.unrated[id];
    const SlotTotals& x = w_.totals[u.slot];
    while (split < w_.unrated_split.size() && w_.unrated_split[split].unrated < id) ++split;
    if (x.quantity == 0) continue;  // hours with nothing to bill: nothing to report
    const SeriesInfo& s = (*e_.series)[u.series];
    const uint32_t r = e_.hot[u.series].resource;
    if (w_.filter_resource != kNone && r != w_.filter_resource) continue;
    if (w_.filter_project != kNone && u.project != w_.filter_project) continue;
    UnratedUsage base;
    base.reason = u.reason;
    base.resource = s.resource;
    base.metric = s.metric;
    base.series_id = s.id;
    base.kind = s.kind;
    base.account = u.account == kNone ? std::string_view() : t_.accounts()[u.account].id;
    base.project = u.project == kNone ? std::string_view() : t_.projects()[u.project].id;
    base.raw_quantity = x.quantity;
    base.hours = x.hours;
    base.provisional_hours = x.provisional_hours;
    base.first_hour = x.first_hour;
    base.last_hour = x.last_hour;
    std::vector<UnratedUsage>& dst = (u.reason == UnratedUsage::Reason::kUnknownResource ||
                                      u.reason == UnratedUsage::Reason::kBeforeFirstVersion ||
                                      u.reason == UnratedUsage::Reason::kAfterDeletion)
                                         ? out_.unattributed
                                         : out_.unpriced;
    if (s.kind == MetricKind::kState && __builtin_popcount(u.states) == 1) {
      base.state = static_cast<uint32_t>(__builtin_ctz(u.states));
    }
    bool any = false;
    for (size_t j = split; j < w_.unrated_split.size() && w_.unrated_split[j].unrated == id; ++j) {
      const auto& st = w_.unrated_split[j];
      if (st.totals.quantity == 0) continue;
      UnratedUsage v = base;
      v.state = st.state;
      v.raw_quantity = st.totals.quantity;
      dst.push_back(v);
      any = true;
    }
    if (!any) dst.push_back(base);
  }
}

std::string PeriodLabel(GroupBy g, int64_t t) {
  const time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  if (g == GroupBy::kHour) {
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:00Z", &tm);
  } else if (g == GroupBy::kDay) {
    strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  } else {
    strftime(buf, sizeof buf, "%Y-%m", &tm);
  }
  return buf;
}

Status Pricer::Finish() {
  const GroupBy gb = w_.request.group_by;
  __int128 total = 0;
  int64_t total_minor = 0;
  for (const GroupAcc& a : group_acc_) {
    const uint64_t key = a.key;
    if (a.amount > INT64_MAX || a.amount < INT64_MIN) {
      return Status::OutOfRange("group total exceeds int64");
    }
    total += a.amount;
    total_minor += a.minor;
    out_.provisional |= a.provisional;
    const ChargeLine& l = out_.lines[a.first_line];
    GroupTotal g;
    switch (gb) {
      case GroupBy::kProduct:
        g.key = std::string(l.product_id);
        g.label = std::string(l.product_name);
        g.raw_quantity = a.raw_quantity;
        g.unit = std::string(l.unit);
        g.quantity = pricebook::FormatQuantity(a.raw_quantity, l.divisor);
        break;
      case GroupBy::kResource:
        g.key = std::string(l.resource);
        g.label = l.subscription ? "subscriptions" : std::string(l.resource_name);
        break;
      case GroupBy::kProject:
        g.key = std::string(l.project);
        g.label = l.subscription ? "subscriptions" : t_.projects()[key].name;
        break;
      case GroupBy::kAccount:
        g.key = std::string(l.account);
        g.label = t_.accounts()[key].name;
        break;
      case GroupBy::kHour:
      case GroupBy::kDay:
        g.key = g.label = PeriodLabel(gb, w_.scan_from + static_cast<int64_t>(key) * w_.stride);
        break;
      case GroupBy::kMonth:
        g.key = g.label = PeriodLabel(gb, w_.months[key]);
        break;
    }
    g.amount = static_cast<MicroCredits>(a.amount);
    g.lines = a.lines;
    g.provisional = a.provisional;
    g.display_minor = a.minor;
    if (totals_currency_ != nullptr) g.display = pricebook::FormatMinor(a.minor, *totals_currency_);
    out_.groups.push_back(std::move(g));
  }
  std::sort(out_.groups.begin(), out_.groups.end(),
            [](const GroupTotal& a, const GroupTotal& b) { return a.key < b.key; });
  if (total > INT64_MAX || total < INT64_MIN) return Status::OutOfRange("total exceeds int64");
  out_.total = static_cast<MicroCredits>(total);
  out_.total_minor = total_minor;
  out_.currency = totals_currency_;
  if (totals_currency_ != nullptr) {
    out_.total_display = pricebook::FormatMinor(total_minor, *totals_currency_);
  }
  return Status::OK();
}

Status Pricer::Run() {
  const PriceBookVersion* dv = w_.display_version;
  if (dv != nullptr) {
    totals_currency_ = w_.request.currency.empty() ? &dv->DefaultCurrency()
                                                   : dv->FindCurrency(w_.request.currency);
  }
  if (w_.request.scope == ScopeKind::kAll) acc_dense_.assign(GroupKeyDomain(), kNone);
  // 1. Price every group.
  results_.clear();
  results_.resize(w_.lines.size());
  if (w_.request.explain) pieces_of_.resize(w_.lines.size());
  accrued_.clear();
  accrued_.reserve(w_.lines.size());
  cut_begin_.assign(w_.groups.size() + 1, 0);
  for (uint32_t g = 0; g < w_.groups.size(); ++g) METERD_RETURN_IF_ERROR(PriceGroup(g));
  // 2. The output order: (account, resource, product id, month); fees after each account's
  // usage. Product keys are ranked by id; the key packs 20 + 24 + 12 + 8 bits when the
  // catalog fits (it nearly always does), else a comparator sort.
  std::vector<uint32_t> by_id(w_.product_ids.size());
  for (uint32_t i = 0; i < by_id.size(); ++i) by_id[i] = i;
  std::sort(by_id.begin(), by_id.end(),
            [&](uint32_t a, uint32_t b) { return w_.product_ids[a] < w_.product_ids[b]; });
  std::vector<uint32_t> rank(by_id.size());
  for (uint32_t r = 0; r < by_id.size(); ++r) rank[by_id[r]] = r;
  const size_t nlines = w_.lines.size();
  std::vector<uint32_t>& order = w_.scratch->order;
  order.assign(nlines, 0);
  const bool packed = t_.accounts().size() < (1u << 20) && t_.resources().size() < (1u << 24) &&
                      rank.size() < (1u << 12) && w_.months.size() < (1u << 8);
  if (packed) {
    std::vector<std::pair<uint64_t, uint32_t>>& keys = w_.scratch->keys;
    keys.resize(nlines);
    for (uint32_t i = 0; i < nlines; ++i) {
      const LineInfo& l = w_.lines[i];
      keys[i] = {(static_cast<uint64_t>(l.account) << 44) |
                     (static_cast<uint64_t>(l.resource) << 20) |
                     (static_cast<uint64_t>(rank[l.product_key]) << 8) | l.month,
                 i};
    }
    // Lines are created nearly in this order (rating_plan.cc: only a resource's products
    // need reordering): an insertion sort, unless it would move too much.
    size_t moves = 0;
    for (size_t i = 1; i < nlines && moves <= 16 * nlines; ++i) {
      for (size_t j = i; j > 0 && keys[j] < keys[j - 1]; --j, ++moves)
        std::swap(keys[j], keys[j - 1]);
    }
    if (moves > 16 * nlines) std::sort(keys.begin(), keys.end());
    for (uint32_t i = 0; i < nlines; ++i) order[i] = keys[i].second;
  } else {
    for (uint32_t i = 0; i < nlines; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      const LineInfo &x = w_.lines[a], &y = w_.lines[b];
      return std::tie(x.account, x.resource, rank[x.product_key], x.month) <
             std::tie(y.account, y.resource, rank[y.product_key], y.month);
    });
  }
  // 3. Emit, account by account: usage lines, then fees.
  const bool fees = w_.request.include_subscriptions && w_.fee_book != nullptr &&
                    w_.request.scope != ScopeKind::kProject &&
                    w_.request.scope != ScopeKind::kResource;
  out_.lines.reserve(nlines + nlines / 8);
  size_t i = 0;
  for (uint32_t a : w_.scope_accounts) {
    for (; i < nlines && w_.lines[order[i]].account == a; ++i) {
      METERD_RETURN_IF_ERROR(EmitLine(order[i]));
    }
    if (fees) METERD_RETURN_IF_ERROR(EmitFees(a));
  }
  EmitUnrated();
  return Finish();
}

}  // namespace

Status Price(const Work& work, RatingResult* out) { return Pricer(work, out).Run(); }

}  // namespace meterd::engine::rating::internal
