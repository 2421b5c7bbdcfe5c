// meterd — engine/tenancy/invoicing_config.cc
#include "engine/tenancy/invoicing_config.h"

#include <algorithm>
#include <tuple>

namespace meterd::engine::tenancy {
namespace {

// Digits "I[.F]" with at most `max_frac` fractional digits -> value x 10^max_frac.
std::optional<int64_t> ParseScaled(std::string_view s, int max_frac) {
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  size_t i = 0;
  bool digits = false;
  constexpr int64_t kLimit = INT64_MAX / 10 - 10;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    if (v > kLimit) return std::nullopt;
    v = v * 10 + (s[i] - '0');
    digits = true;
  }
  int frac = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (frac == max_frac) return std::nullopt;
      if (v > kLimit) return std::nullopt;
      v = v * 10 + (s[i] - '0');
      ++frac;
      digits = true;
    }
  }
  if (i != s.size() || !digits) return std::nullopt;
  for (; frac < max_frac; ++frac) {
    if (v > kLimit) return std::nullopt;
    v *= 10;
  }
  return v;
}

std::string FormatScaled(int64_t v, int scale) {
  const bool negative = v < 0;
  uint64_t u = negative ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  uint64_t pow = 1;
  for (int i = 0; i < scale; ++i) pow *= 10;
  std::string out = std::to_string(u / pow);
  uint64_t frac = u % pow;
  if (frac != 0) {
    std::string f = std::to_string(frac);
    f.insert(0, static_cast<size_t>(scale) - f.size(), '0');
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return negative ? "-" + out : out;
}

}  // namespace

std::optional<uint32_t> ParsePercentPpm(std::string_view text) {
  std::optional<int64_t> v = ParseScaled(text, 4);
  if (!v || *v > kPpmWhole) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

std::string FormatPercentPpm(uint32_t ppm) { return FormatScaled(ppm, 4); }

std::optional<int64_t> ParseCreditsMicro(std::string_view text) { return ParseScaled(text, 6); }

std::string FormatCreditsMicro(int64_t micro) { return FormatScaled(micro, 6); }

std::vector<const TaxRate*> TaxTable::InForce(std::string_view country, std::string_view region,
                                              int64_t at) const {
  std::vector<const TaxRate*> out;
  auto it = std::lower_bound(rates.begin(), rates.end(), country,
                             [](const TaxRate& r, std::string_view c) { return r.country < c; });
  // Rates of one (region, name) are consecutive, oldest first: keep the last one in force.
  for (; it != rates.end() && it->country == country; ++it) {
    if (!it->region.empty() && it->region != region) continue;
    if (it->effective_from > at) continue;
    if (!out.empty() && out.back()->region == it->region && out.back()->name == it->name) {
      out.back() = &*it;
    } else {
      out.push_back(&*it);
    }
  }
  // Sorted by (region, name) already: "" sorts before any region.
  return out;
}

const char* VatOnPrepaidName(VatOnPrepaid v) {
  return v == VatOnPrepaid::kTopup ? "topup" : "usage";
}

std::optional<VatOnPrepaid> ParseVatOnPrepaid(std::string_view name) {
  if (name == "usage") return VatOnPrepaid::kUsage;
  if (name == "topup") return VatOnPrepaid::kTopup;
  return std::nullopt;
}

const char* DiscountScopeName(DiscountScope s) {
  switch (s) {
    case DiscountScope::kProduct:
      return "product";
    case DiscountScope::kGroup:
      return "group";
    case DiscountScope::kAccount:
      return "account";
  }
  return "account";
}

std::optional<DiscountScope> ParseDiscountScope(std::string_view name) {
  if (name == "product") return DiscountScope::kProduct;
  if (name == "group") return DiscountScope::kGroup;
  if (name == "account") return DiscountScope::kAccount;
  return std::nullopt;
}

bool Discount::AppliesTo(std::string_view account) const {
  return std::binary_search(applies_to.begin(), applies_to.end(), account,
                            [](std::string_view a, std::string_view b) { return a < b; });
}

const Discount* DiscountCatalog::FindDiscount(std::string_view id) const {
  auto it = std::lower_bound(discounts.begin(), discounts.end(), id,
                             [](const Discount& d, std::string_view k) { return d.id < k; });
  return it != discounts.end() && it->id == id ? &*it : nullptr;
}

const Coupon* DiscountCatalog::FindCoupon(std::string_view id) const {
  auto it = std::lower_bound(coupons.begin(), coupons.end(), id,
                             [](const Coupon& c, std::string_view k) { return c.id < k; });
  return it != coupons.end() && it->id == id ? &*it : nullptr;
}

std::vector<const CouponRedemption*> DiscountCatalog::RedemptionsOf(
    std::string_view account) const {
  std::vector<const CouponRedemption*> out;
  auto it =
      std::lower_bound(redemptions.begin(), redemptions.end(), account,
                       [](const CouponRedemption& r, std::string_view a) { return r.account < a; });
  for (; it != redemptions.end() && it->account == account; ++it) out.push_back(&*it);
  return out;
}

Status ValidateTaxRegion(std::string_view region) {
  bool ok = region.size() <= 3;
  for (char c : region) ok = ok && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
  if (ok) return Status::OK();
  return Status::InvalidArgument("\"" + std::string(region) +
                                 "\" is not a subdivision code (1-3 of A-Z and 0-9: the part "
                                 "after the country in ISO 3166-2, e.g. BC for CA-BC)");
}

Status ValidateTaxName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 32;
  for (unsigned char c : name) ok = ok && c >= ' ' && c != 0x7f;
  if (ok) return Status::OK();
  return Status::InvalidArgument("\"" + std::string(name) +
                                 "\" is not a tax name (1-32 printable characters, e.g. VAT)");
}

Status ValidateEmail(std::string_view email) {
  if (email.empty()) return Status::OK();
  const size_t at = email.find('@');
  bool ok = email.size() <= 254 && at != std::string_view::npos && at > 0 &&
            at + 1 < email.size() && email.find('@', at + 1) == std::string_view::npos &&
            email.find('.', at + 1) != std::string_view::npos;
  for (unsigned char c : email) ok = ok && c > ' ' && c < 0x7f && c != ',' && c != '<' && c != '>';
  if (ok) return Status::OK();
  return Status::InvalidArgument("\"" + std::string(email) +
                                 "\" is not an email address (one address: name@example.com)");
}

Status ValidateNumberPrefix(std::string_view prefix) {
  bool ok = prefix.size() <= 16;
  for (char c : prefix) {
    ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '/' || c == '_' || c == '.');
  }
  if (ok) return Status::OK();
  return Status::InvalidArgument("\"" + std::string(prefix) +
                                 "\" is not a number prefix (at most 16 of letters, digits and "
                                 "- / _ .)");
}

}  // namespace meterd::engine::tenancy
