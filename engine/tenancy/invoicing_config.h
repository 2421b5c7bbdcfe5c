// meterd — engine/tenancy/invoicing_config.h
//
// The invoicing part of the catalog document (docs/taxes-and-discounts.md): tax rates with
// effective dates, tax settings and invoice issuers per issuing domain, discounts, coupons and
// coupon redemptions. Decoded and validated here (errors name the line and the field path like
// every section), kept in billing.db (tenancy schema version 4), and held by the tenancy
// snapshot (Tenancy::tax_table(), TaxSettingsFor, IssuerFor, discount_catalog()). The
// arithmetic that uses them is engine/invoicing/taxes.h and discounts.h.
//
// Invariants of a built snapshot (Tenancy::Build checks them):
//   - tax rates are unique by (country, region, name, effective_from) and sorted by that key;
//     rate_ppm <= 1,000,000 (100 %);
//   - tax settings and issuers are unique by scope ("*" or a known domain), sorted by scope;
//   - discounts and coupons are unique by id and sorted by id; a discount has exactly one of
//     percent_ppm (1..1,000,000) and amount (> 0), a coupon too; valid_from < valid_until;
//   - a discount's applies_to is the sorted list of accounts it covers (its `accounts`, or
//     every account of its domain and the domains below it), derived at Build;
//   - redemptions are unique by (account, coupon), name known accounts and coupons, and are
//     sorted by (account, redeemed_at, coupon).
//
// Money is int64 micro-credits; percentages are parts per million of the base (20 % =
// 200000): a percent is written as decimal text with at most 4 decimals ("20", "7.5",
// "0.0001") and stored exactly, never through a double.
//
// Thread-safety: plain values; the functions are pure.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/base/result.h"

namespace meterd::engine::tenancy {

using MicroCreditsValue = int64_t;  // pricebook::MicroCredits (tenancy sits below pricebook)

constexpr uint32_t kPpmPerPercent = 10'000;
constexpr uint32_t kPpmWhole = 1'000'000;  // 100 %
constexpr int64_t kNoEndTime = std::numeric_limits<int64_t>::max();

// "20" -> 200000, "7.5" -> 75000, "0" -> 0; at most 4 decimals, 0..100. nullopt otherwise.
std::optional<uint32_t> ParsePercentPpm(std::string_view text);
// 200000 -> "20", 75000 -> "7.5", 1 -> "0.0001" (shortest exact text).
std::string FormatPercentPpm(uint32_t ppm);
// Credits as decimal text with at most 6 decimals ("5", "12.50", "0.000001") -> micro-credits;
// no sign, no exponent. nullopt when malformed or too large.
std::optional<int64_t> ParseCreditsMicro(std::string_view text);
// 12500000 -> "12.5" (shortest exact text).
std::string FormatCreditsMicro(int64_t micro);

// One tax of one country (or one subdivision of it) from an instant on.
struct TaxRate {
  std::string country;         // ISO 3166-1 alpha-2
  std::string region;          // subdivision code ("BC", "QC"); empty = the whole country
  std::string name;            // "VAT", "GST", "PST"
  uint32_t rate_ppm = 0;       // 200000 = 20 %; 0 is an explicit zero rate
  int64_t effective_from = 0;  // unix second; in force until the next rate of the same key
  bool compound = false;       // applies to the base plus the taxes before it
  bool operator==(const TaxRate&) const = default;
};

struct TaxTable {
  std::vector<TaxRate> rates;  // sorted by (country, region, name, effective_from)

  // The rates in force at `at` for a customer in (country, region): for each
  // (region, name) with region empty or equal to `region`, the one with the latest
  // effective_from <= at. Order: country-wide before regional, then by name.
  std::vector<const TaxRate*> InForce(std::string_view country, std::string_view region,
                                      int64_t at) const;
};

// When VAT is charged on prepaid credit.
enum class VatOnPrepaid : uint8_t {
  kUsage = 1,  // on the usage invoice (the default): taxes apply to the discounted base
  kTopup = 2,  // when credit is bought: usage invoices of prepaid accounts carry no tax line
};
const char* VatOnPrepaidName(VatOnPrepaid v);  // "usage", "topup"
std::optional<VatOnPrepaid> ParseVatOnPrepaid(std::string_view name);

// Tax settings of an issuing domain ("*" = every domain without its own).
struct TaxSettings {
  std::string scope = "*";     // "*" or a domain id; empty in the defaults TaxSettingsFor returns
  std::string country;         // the issuer's country (ISO 3166-1 alpha-2)
  bool reverse_charge = true;  // B2B cross-border customers with a VAT number: reverse charge
  VatOnPrepaid vat_on_prepaid = VatOnPrepaid::kUsage;
  bool operator==(const TaxSettings&) const = default;
};

// Who issues a domain's invoices ("*" = every domain without its own; subdomains inherit).
struct InvoiceIssuer {
  std::string scope = "*";
  std::string name;     // legal name, required
  std::string address;  // lines separated by '\n'
  std::string country;  // ISO 3166-1 alpha-2
  std::string vat_number;
  std::string email;
  std::string number_prefix = "INV-";
  std::string credit_note_prefix = "CN-";
  uint32_t payment_terms_days = 14;
  uint32_t sequence_width = 6;  // zero-padding of the sequence: 42 -> "000042"
  bool operator==(const InvoiceIssuer&) const = default;
};

enum class DiscountScope : uint8_t { kProduct = 1, kGroup = 2, kAccount = 3 };
const char* DiscountScopeName(DiscountScope s);  // "product", "group", "account"
std::optional<DiscountScope> ParseDiscountScope(std::string_view name);

struct Discount {
  std::string id;
  std::string description;
  DiscountScope scope = DiscountScope::kAccount;
  std::string target;                 // product id or group name; empty for an account discount
  uint32_t percent_ppm = 0;           // exactly one of percent_ppm and amount is non-zero
  int64_t amount = 0;                 // micro-credits per cycle
  std::vector<std::string> accounts;  // the accounts it applies to, or empty with `domain`
  std::string domain;                 // every account of this domain and those below it
  int64_t valid_from = 0;
  int64_t valid_until = kNoEndTime;  // exclusive
  // Derived by Tenancy::Build (ignored on input and in comparisons of declared fields).
  std::vector<std::string> applies_to;  // sorted accounts

  bool SameDeclared(const Discount& o) const {
    return id == o.id && description == o.description && scope == o.scope && target == o.target &&
           percent_ppm == o.percent_ppm && amount == o.amount && accounts == o.accounts &&
           domain == o.domain && valid_from == o.valid_from && valid_until == o.valid_until;
  }
  bool AppliesTo(std::string_view account) const;
};

struct Coupon {
  std::string id;
  std::string description;
  uint32_t percent_ppm = 0;      // exactly one of percent_ppm and amount is non-zero
  int64_t amount = 0;            // micro-credits per cycle
  uint32_t duration_cycles = 1;  // >= 1, or 0 = forever
  bool operator==(const Coupon&) const = default;
};

struct CouponRedemption {
  std::string account;
  std::string coupon;
  int64_t redeemed_at = 0;
  bool operator==(const CouponRedemption&) const = default;
};

struct DiscountCatalog {
  std::vector<Discount> discounts;            // sorted by id
  std::vector<Coupon> coupons;                // sorted by id
  std::vector<CouponRedemption> redemptions;  // sorted by (account, redeemed_at, coupon)

  const Discount* FindDiscount(std::string_view id) const;
  const Coupon* FindCoupon(std::string_view id) const;
  // An account's redemptions, oldest first.
  std::vector<const CouponRedemption*> RedemptionsOf(std::string_view account) const;
};

// Validation of single values; InvalidArgument saying what is expected (the caller adds the
// field path). Percent and amount: exactly one, checked by the decoder.
Status ValidateTaxRegion(std::string_view region);     // empty, or 1-3 of A-Z 0-9
Status ValidateTaxName(std::string_view name);         // 1-32 printable characters
Status ValidateEmail(std::string_view email);          // empty or one address local@domain
Status ValidateNumberPrefix(std::string_view prefix);  // 0-16 of A-Z a-z 0-9 - / _ .

}  // namespace meterd::engine::tenancy
