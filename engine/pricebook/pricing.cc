// meterd — engine/pricebook/pricing.cc
#include "engine/pricebook/pricing.h"

#include <algorithm>

#include "storage/base/calendar.h"

namespace meterd::engine::pricebook {
namespace {

using u128 = unsigned __int128;
using i128 = __int128;

constexpr u128 kI128Max = static_cast<u128>(~static_cast<u128>(0) >> 1);

// The part of [a, a + q) below `edge`.
u128 Below(u128 a, u128 q, u128 edge) {
  if (edge <= a) return 0;
  return std::min(q, edge - a);
}

// The part of [a, a + q) inside [lo, hi).
u128 Inside(u128 a, u128 q, u128 lo, u128 hi) {
  const u128 b = a + q;
  const u128 s = std::max(a, lo);
  const u128 e = std::min(b, hi);
  return e > s ? e - s : 0;
}

u128 CeilDiv(u128 a, u128 b) { return a / b + (a % b != 0 ? 1 : 0); }

// *acc += q x price; false on overflow.
bool MulAdd(i128* acc, u128 q, i128 price) {
  if (q > kI128Max) return false;
  i128 prod;
  if (__builtin_mul_overflow(static_cast<i128>(q), price, &prod)) return false;
  return !__builtin_add_overflow(*acc, prod, acc);
}

int64_t FloorHour(int64_t t) {
  const int64_t q = t / base::kSecondsPerHour;
  return (q - ((t % base::kSecondsPerHour) < 0 ? 1 : 0)) * base::kSecondsPerHour;
}

int64_t CeilHour(int64_t t) {
  const int64_t f = FloorHour(t);
  return f == t ? f : f + base::kSecondsPerHour;
}

void AddPiece(std::vector<ChargePiece>* pieces, uint32_t line, uint32_t tier, u128 q,
              MicroCredits price, i128 exact) {
  if (pieces == nullptr || q == 0) return;
  pieces->push_back(ChargePiece{line, tier, q, price, exact});
}

}  // namespace

Status PriceMonth(std::span<const UsageSlice> slices, std::vector<LineCharge>* lines,
                  std::vector<ChargePiece>* pieces) {
  const Status overflow = Status::OutOfRange("charge exceeds 128 bits");
  u128 total = 0;  // the account's month quantity (volume tiers)
  for (const UsageSlice& s : slices) {
    if (__builtin_add_overflow(total, s.quantity, &total)) return overflow;
  }
  u128 acc = 0;  // account position
  size_t i = 0;
  while (i < slices.size()) {
    const UsageSlice& first = slices[i];
    LineCharge lc;
    lc.line = first.line;
    lc.divisor = first.product->divisor;
    u128 pos = 0;  // line position
    for (; i < slices.size() && slices[i].line == first.line; ++i) {
      const UsageSlice& s = slices[i];
      const Product& p = *s.product;
      const u128 q = s.quantity;
      i128 exact = 0;
      switch (p.model) {
        case PriceModel::kPerUnit: {
          const u128 free = Below(acc, q, p.free_raw);
          const u128 capped = p.has_cap() ? Inside(pos, q, p.cap_raw, kUnbounded) : 0;
          const u128 billed = q - free - capped;
          if (!MulAdd(&exact, billed, p.unit_price)) return overflow;
          AddPiece(pieces, lc.line, ChargePiece::kFree, free, 0, 0);
          AddPiece(pieces, lc.line, ChargePiece::kNoTier, billed, p.unit_price, exact);
          AddPiece(pieces, lc.line, ChargePiece::kCapped, capped, 0, 0);
          lc.free += free;
          lc.capped += capped;
          lc.billed += billed;
          break;
        }
        case PriceModel::kGraduated: {
          const u128 free = Below(acc, q, p.free_raw);
          AddPiece(pieces, lc.line, ChargePiece::kFree, free, 0, 0);
          u128 lo = 0;
          for (size_t t = 0; t < p.tiers.size(); ++t) {
            const u128 hi = p.tiers[t].up_to_raw;
            // Billed positions: inside the tier and at or above the allowance.
            const u128 in = Inside(acc, q, std::max(lo, p.free_raw), std::max(hi, p.free_raw));
            if (in != 0) {
              i128 part = 0;
              if (!MulAdd(&part, in, p.tiers[t].unit_price)) return overflow;
              if (__builtin_add_overflow(exact, part, &exact)) return overflow;
              AddPiece(pieces, lc.line, static_cast<uint32_t>(t), in, p.tiers[t].unit_price, part);
            }
            lo = hi;
            if (hi == kUnbounded) break;
          }
          lc.free += free;
          lc.billed += q - free;
          break;
        }
        case PriceModel::kVolume: {
          size_t t = 0;
          while (t + 1 < p.tiers.size() && total > p.tiers[t].up_to_raw) ++t;
          if (!MulAdd(&exact, q, p.tiers[t].unit_price)) return overflow;
          AddPiece(pieces, lc.line, static_cast<uint32_t>(t), q, p.tiers[t].unit_price, exact);
          lc.billed += q;
          break;
        }
        case PriceModel::kPackage: {
          const u128 started =
              CeilDiv(pos + q, p.package_size_raw) - CeilDiv(pos, p.package_size_raw);
          i128 price;
          if (__builtin_mul_overflow(static_cast<i128>(p.package_price),
                                     static_cast<i128>(p.divisor), &price) ||
              !MulAdd(&exact, started, price)) {
            return overflow;
          }
          AddPiece(pieces, lc.line, ChargePiece::kNoTier, started, p.package_price, exact);
          lc.billed += q;
          break;
        }
        case PriceModel::kSubscription:
          return Status::InvalidArgument("product " + p.id + " is a subscription, not usage");
      }
      if (__builtin_add_overflow(lc.exact, exact, &lc.exact)) return overflow;
      lc.quantity += q;
      acc += q;
      pos += q;
    }
    // The minimum and the rounding mode of the line's first slice's version.
    i128 charged = lc.exact;
    const MicroCredits minimum = first.product->minimum;
    if (minimum > 0 && lc.billed > 0) {
      const i128 floor = static_cast<i128>(minimum) * static_cast<i128>(lc.divisor);
      if (charged < floor) {
        charged = floor;
        lc.minimum_applied = true;
      }
    }
    const i128 amount = RoundDiv(charged, lc.divisor, first.version->rounding);
    if (amount > INT64_MAX) return overflow;
    lc.amount = static_cast<MicroCredits>(amount);
    lines->push_back(lc);
  }
  return Status::OK();
}

Result<LineCharge> PriceLine(const PriceBookVersion& version, const Product& product,
                             unsigned __int128 quantity, std::vector<ChargePiece>* pieces) {
  const UsageSlice slice{0, &version, &product, quantity};
  std::vector<LineCharge> lines;
  METERD_RETURN_IF_ERROR(PriceMonth({&slice, 1}, &lines, pieces));
  return lines.front();
}

std::string FormatQuantity(unsigned __int128 raw, uint64_t divisor) {
  // raw / divisor with 6 decimals.
  const u128 scaled_num = raw * 1000000u;  // quantities stay far below 2^108
  const i128 rounded =
      RoundDiv(static_cast<i128>(scaled_num), static_cast<i128>(divisor), RoundingMode::kHalfEven);
  const bool exact = scaled_num % divisor == 0;
  std::string text = FormatCredits(rounded);  // the same fixed-point text, 6 decimals
  return exact ? text : "~" + text;
}

std::string ExplainLine(const Product& product, const LineCharge& line,
                        std::span<const ChargePiece> pieces) {
  std::string out;
  auto sep = [&] {
    if (!out.empty()) out += "; ";
  };
  const std::string unit = " " + product.unit;
  for (const ChargePiece& piece : pieces) {
    sep();
    if (piece.tier == ChargePiece::kFree) {
      out += FormatQuantity(piece.quantity, line.divisor) + unit + " free (allowance " +
             product.free.ToString() + unit + " per account per month)";
    } else if (piece.tier == ChargePiece::kCapped) {
      out += FormatQuantity(piece.quantity, line.divisor) + unit + " above the cap (" +
             product.cap.ToString() + unit + ") not charged";
    } else if (product.model == PriceModel::kPackage) {
      out += ToString128(piece.quantity) + " x package of " + product.package_size.ToString() +
             unit + " x " + FormatCredits(piece.unit_price) + " = " +
             FormatCredits(RoundDiv(piece.exact, line.divisor, RoundingMode::kHalfEven));
    } else {
      out += FormatQuantity(piece.quantity, line.divisor) + unit + " x " +
             FormatCredits(piece.unit_price);
      if (piece.tier != ChargePiece::kNoTier)
        out += " (tier " + std::to_string(piece.tier + 1) + ")";
      out += " = ";
      const bool exact = piece.exact % static_cast<i128>(line.divisor) == 0;
      out += (exact ? "" : "~") +
             FormatCredits(RoundDiv(piece.exact, line.divisor, RoundingMode::kHalfEven));
    }
  }
  if (line.minimum_applied) {
    sep();
    out += "minimum " + FormatCredits(product.minimum) + " applies";
  }
  sep();
  out += "= " + FormatCredits(line.amount) + " credits";
  return out;
}

// ---- Subscriptions ----

// The UTC calendar months of fees are storage/base/calendar.h's.
int64_t MonthStart(int64_t t) { return base::MonthStart(t); }

int64_t NextMonthStart(int64_t month_start) { return base::NextMonthStart(month_start); }

Status PriceSubscriptionMonth(const PriceBook& book, const Subscription& sub, int64_t month_start,
                              std::vector<FeeCharge>* out) {
  const int64_t month_end = NextMonthStart(month_start);
  const int64_t month_hours = (month_end - month_start) / base::kSecondsPerHour;
  if (MonthStart(sub.start) == month_start) {
    const PriceBookVersion* v = book.VersionAt(FloorHour(sub.start));
    const Product* p = v ? v->FindProduct(sub.product) : nullptr;
    if (p && p->model == PriceModel::kSubscription && p->one_time_fee > 0) {
      FeeCharge c;
      c.kind = FeeCharge::Kind::kOneTime;
      c.version = v;
      c.product = p;
      c.quantity = sub.quantity;
      c.month_hours = month_hours;
      c.exact = static_cast<i128>(p->one_time_fee) * sub.quantity;
      c.amount = static_cast<MicroCredits>(c.exact);
      out->push_back(c);
    }
  }
  // The hours of the month that overlap [start, end).
  const int64_t first = std::max(month_start, FloorHour(sub.start));
  const int64_t last = sub.end == kNoEnd ? month_end : std::min(month_end, CeilHour(sub.end));
  if (first >= last) return Status::OK();
  FeeCharge c;
  c.kind = FeeCharge::Kind::kMonthly;
  c.quantity = sub.quantity;
  c.month_hours = month_hours;
  c.active_hours = (last - first) / base::kSecondsPerHour;
  c.version = book.VersionAt(first);
  c.product = c.version ? c.version->FindProduct(sub.product) : nullptr;
  if (c.product == nullptr || c.product->model != PriceModel::kSubscription) {
    c.product = nullptr;
    c.unpriced = true;
    out->push_back(c);
    return Status::OK();
  }
  if (c.product->monthly_fee == 0 && c.product->proration == Proration::kNone) {
    return Status::OK();  // a one-time-only product
  }
  if (c.product->proration == Proration::kNone) {
    c.exact = static_cast<i128>(c.product->monthly_fee) * sub.quantity;
    c.amount = static_cast<MicroCredits>(c.exact);
  } else {
    c.denominator = month_hours;
    for (const PriceSegment& seg : book.Segments(first, last)) {
      const Product* p = seg.version->FindProduct(sub.product);
      if (p == nullptr || p->model != PriceModel::kSubscription) continue;
      const int64_t hours = (seg.to - seg.from) / base::kSecondsPerHour;
      c.exact += static_cast<i128>(p->monthly_fee) * sub.quantity * hours;
    }
    c.amount = static_cast<MicroCredits>(RoundDiv(c.exact, month_hours, c.version->rounding));
  }
  if (c.exact == 0) return Status::OK();
  out->push_back(c);
  return Status::OK();
}

// ---- Estimate ----

Result<Estimate> EstimatePlan(const PriceBook& book, const tenancy::Tenancy& tenancy,
                              const EstimateRequest& request) {
  if (request.hours < 1 || request.hours > 8784) {
    return Status::InvalidArgument("hours must be between 1 and 8784 (a leap year)");
  }
  Estimate est;
  est.hours = request.hours;
  est.version = request.at == 0 ? book.Latest() : book.VersionAt(request.at);
  if (est.version == nullptr) return Status::NotFound("no price book version is in force");
  est.plan = tenancy.FindPlan(request.plan);
  if (est.plan == nullptr) return Status::NotFound("plan " + request.plan + " is not a plan");
  if (tenancy.FindLocation(request.location) == nullptr) {
    return Status::NotFound("location " + request.location + " is not a location");
  }
  const MatchKey vm{"vm", est.plan->id, est.plan->group, request.location, request.storage_tier};
  const MatchKey disk{"volume", "", "", request.location, request.storage_tier};
  struct Component {
    const char* metric;
    uint32_t state;
    u128 per_hour;
    const MatchKey* key;
    const char* what;
  };
  const Component components[] = {
      {"vm.state", static_cast<uint32_t>(VmState::kRunning), base::kSecondsPerHour, &vm,
       "running hours"},
      {"vm.vcpus", 0, static_cast<u128>(est.plan->vcpus) * base::kSecondsPerHour, &vm, "vCPUs"},
      {"vm.memory_bytes", 0, static_cast<u128>(est.plan->memory_bytes) * base::kSecondsPerHour, &vm,
       "memory"},
      {"disk.size_bytes", 0, static_cast<u128>(est.plan->disk_bytes) * base::kSecondsPerHour, &disk,
       "root disk"},
  };
  for (const Component& c : components) {
    if (c.per_hour == 0) continue;
    const Product* p = est.version->Resolve(c.metric, c.state, *c.key);
    if (p == nullptr) {
      est.notes.push_back(std::string("no product prices the ") + c.what + " (" + c.metric +
                          ") of this plan in " + request.location);
      continue;
    }
    EstimateLine line;
    line.product = p;
    line.metric = c.metric;
    line.hourly_raw = c.per_hour;
    line.period_raw = c.per_hour * static_cast<u128>(request.hours);
    Product list = *p;  // the list rate: no allowance, no minimum
    list.free_raw = 0;
    list.minimum = 0;
    METERD_ASSIGN_OR_RETURN(LineCharge hourly, PriceLine(*est.version, list, line.hourly_raw));
    std::vector<ChargePiece> pieces;
    METERD_ASSIGN_OR_RETURN(LineCharge period,
                            PriceLine(*est.version, *p, line.period_raw, &pieces));
    line.hourly = hourly.amount;
    line.period = period.amount;
    line.explanation = FormatQuantity(line.hourly_raw, p->divisor) + " " + p->unit + "/h x " +
                       std::to_string(request.hours) + " h: " + ExplainLine(*p, period, pieces);
    est.hourly_total += line.hourly;
    est.period_total += line.period;
    est.lines.push_back(std::move(line));
  }
  return est;
}

}  // namespace meterd::engine::pricebook
