// meterd — engine/invoicing/discounts.cc
#include "engine/invoicing/discounts.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>

namespace meterd::engine::invoicing {
namespace {

using tenancy::DiscountScope;

struct Entry {
  int level = 0;       // 0 product, 1 group, 2 account
  bool fixed = false;  // a fixed amount (after the percentages of its level)
  std::string target;
  int source = 0;  // 0 discount, 1 coupon
  std::string id;
  std::string description;
  uint32_t percent_ppm = 0;
  MicroCredits amount = 0;

  auto Key() const { return std::tie(level, fixed, target, source, id); }
};

int LevelOf(DiscountScope s) {
  switch (s) {
    case DiscountScope::kProduct:
      return 0;
    case DiscountScope::kGroup:
      return 1;
    case DiscountScope::kAccount:
      return 2;
  }
  return 2;
}

const char* LevelName(int level) {
  return level == 0 ? "product" : level == 1 ? "group" : "account";
}

std::string CouponDescription(const tenancy::Coupon& c, const CouponCycle& at) {
  std::string inner;
  if (c.percent_ppm != 0) inner = tenancy::FormatPercentPpm(c.percent_ppm) + " %";
  if (c.duration_cycles != 0) {
    if (!inner.empty()) inner += ", ";
    inner += "cycle " + std::to_string(at.index) + " of " + std::to_string(c.duration_cycles);
  }
  return inner.empty() ? c.description : c.description + " (" + inner + ")";
}

}  // namespace

Result<CouponCycle> CouponCycleOf(const tenancy::Coupon& coupon,
                                  const tenancy::CouponRedemption& redemption,
                                  const cycles::Cycle& cycle, const cycles::TimeZone& zone,
                                  int64_t period_start, int64_t period_end) {
  CouponCycle out;
  if (redemption.redeemed_at >= period_end) return out;  // not redeemed yet
  METERD_ASSIGN_OR_RETURN(cycles::Period p,
                          cycles::PeriodContaining(cycle, zone, redemption.redeemed_at));
  if (coupon.duration_cycles == 0) {
    out.applies = p.start < period_end;
    return out;
  }
  // Walk the coupon's cycles until the one that reaches the invoice period's start.
  uint32_t index = 1;
  while (p.end <= period_start) {
    if (index == coupon.duration_cycles) return out;  // its last cycle ended before
    METERD_ASSIGN_OR_RETURN(p, cycles::NextPeriod(cycle, zone, p));
    ++index;
  }
  out.applies = p.start < period_end;
  out.index = index;
  return out;
}

Result<std::vector<DiscountLine>> ComputeDiscounts(
    const DiscountCatalog& catalog, std::string_view account, const cycles::Cycle& cycle,
    const cycles::TimeZone& zone, int64_t period_start, int64_t period_end,
    const std::vector<InvoiceLine>& lines, pricebook::RoundingMode mode) {
  // 1. What is in force, in application order.
  std::vector<Entry> entries;
  for (const tenancy::Discount& d : catalog.discounts) {
    if (!d.AppliesTo(account)) continue;
    if (d.valid_from >= period_end || d.valid_until <= period_start) continue;
    Entry e;
    e.level = LevelOf(d.scope);
    e.fixed = d.percent_ppm == 0;
    e.target = d.scope == DiscountScope::kAccount ? std::string() : d.target;
    e.source = 0;
    e.id = d.id;
    e.description = d.description;
    e.percent_ppm = d.percent_ppm;
    e.amount = d.amount;
    entries.push_back(std::move(e));
  }
  for (const tenancy::CouponRedemption* r : catalog.RedemptionsOf(account)) {
    const tenancy::Coupon* c = catalog.FindCoupon(r->coupon);
    if (c == nullptr) {
      return Status::NotFound("account " + std::string(account) + " redeemed coupon " + r->coupon +
                              ", which is not in the catalog");
    }
    METERD_ASSIGN_OR_RETURN(CouponCycle at,
                            CouponCycleOf(*c, *r, cycle, zone, period_start, period_end));
    if (!at.applies) continue;
    Entry e;
    e.level = 2;
    e.fixed = c->percent_ppm == 0;
    e.source = 1;
    e.id = c->id;
    e.description = CouponDescription(*c, at);
    e.percent_ppm = c->percent_ppm;
    e.amount = c->amount;
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.Key() < b.Key(); });

  // 2. What remains of each (group, product) after product discounts, of each group after
  // group discounts, and of the whole.
  std::map<std::pair<std::string, std::string>, __int128> cells;
  __int128 total = 0;
  for (const InvoiceLine& l : lines) {
    cells[{l.group, l.product_id}] += l.amount.micro;
    total += l.amount.micro;
  }
  std::map<std::string, __int128, std::less<>> group_taken;

  std::vector<DiscountLine> out;
  for (const Entry& e : entries) {
    __int128 base = 0;
    if (e.level == 0) {
      for (const auto& [k, v] : cells) {
        if (k.second == e.target) base += v;
      }
    } else if (e.level == 1) {
      for (const auto& [k, v] : cells) {
        if (k.first == e.target) base += v;
      }
      base -= group_taken[e.target];
    } else {
      base = total;
    }
    // Never more than what remains of the whole invoice (credits on other lines count).
    base = std::min(base, total);
    if (base <= 0) continue;
    __int128 take = e.fixed ? std::min<__int128>(e.amount, base)
                            : pricebook::RoundDiv(base * e.percent_ppm, tenancy::kPpmWhole, mode);
    take = std::clamp<__int128>(take, 0, base);
    if (take == 0) continue;
    // Book it where later levels will see it.
    if (e.level == 0) {
      __int128 left = take;
      for (auto& [k, v] : cells) {
        if (k.second != e.target || v <= 0 || left == 0) continue;
        const __int128 part = std::min(v, left);
        v -= part;
        left -= part;
      }
    } else if (e.level == 1) {
      group_taken[e.target] += take;
    }
    total -= take;
    DiscountLine line;
    line.id = e.id;
    line.description = e.description;
    line.scope = LevelName(e.level);
    line.target = e.target;
    line.percent_ppm = e.percent_ppm;
    line.base = static_cast<MicroCredits>(base);
    line.amount.micro = static_cast<MicroCredits>(take);
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace meterd::engine::invoicing
