// meterd — engine/invoicing/discounts.h
//
// The discounts of one invoice (docs/taxes-and-discounts.md, "Discounts"): which discounts and
// coupon redemptions are in force for an account in a period of its billing cycle, and what each
// takes off the invoice's lines. Pure: the catalog comes in as a value
// (Tenancy::discount_catalog()), nothing is read or stored.
//
// In force. A discount applies to a period when the account is one of its accounts (or in its
// domain) and [valid_from, valid_until) overlaps the period; it then applies to the whole
// period (no proration; a fixed amount is per cycle). A coupon redeemed at instant r with
// duration_cycles N applies to the N periods of the account's cycle starting with the period
// containing r (cycles::PeriodContaining / NextPeriod in the account's zone); N = 0: every
// period from that one on.
//
// Order. Product discounts, then group discounts, then account discounts and coupons; at each
// level percentages before fixed amounts; then by target, discounts before coupons, then id.
// Each applies to what the ones before it left: a product discount to its product's lines, a
// group discount to its group's lines less the product discounts taken from them, an account
// discount or coupon to the whole subtotal less every discount before it. Two percentages on
// the same base compound (10 % then 10 % take 19 %).
//
// Arithmetic. A base below 0 counts as 0: a discount never takes a base below 0 and never adds
// to the invoice. A product or group base is also capped at what remains of the whole
// subtotal, so credits on other lines (a negative adjustment) keep the discount total within
// the subtotal. A percentage is base x percent rounded ONCE per line to the micro-credit with
// the price book version's rounding mode; a fixed amount is capped at the remaining base. A
// discount that takes nothing (base 0, or a percentage that rounds to 0) gives no line. Taxes
// apply to the subtotal less the discount total (taxes.h).
//
// Invariants (property-tested): every line's amount is > 0 and <= its base; a percentage's
// amount is within 1 micro-credit of base x percent_ppm / 10^6; the discount total never
// exceeds max(0, subtotal); the lines are in the order above.
//
// Amount.minor is left 0: the invoice builder displays every amount in the invoice currency.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/cycles/billing_cycle.h"
#include "engine/invoicing/invoice.h"
#include "engine/pricebook/money.h"
#include "engine/tenancy/invoicing_config.h"
#include "storage/base/result.h"

namespace meterd::engine::invoicing {

using tenancy::DiscountCatalog;

// Where period [period_start, period_end) stands among a redeemed coupon's cycles.
struct CouponCycle {
  bool applies = false;
  uint32_t index = 0;  // 1-based cycle of the coupon when it applies; 0 for a forever coupon
};
// OutOfRange/InvalidArgument from the cycle computations (a zone's range, a bad cycle).
Result<CouponCycle> CouponCycleOf(const tenancy::Coupon& coupon,
                                  const tenancy::CouponRedemption& redemption,
                                  const cycles::Cycle& cycle, const cycles::TimeZone& zone,
                                  int64_t period_start, int64_t period_end);

// The discount lines of `account`'s invoice for period [period_start, period_end) of its cycle
// over `lines` (their group, product_id and amount.micro), in the order above.
Result<std::vector<DiscountLine>> ComputeDiscounts(
    const DiscountCatalog& catalog, std::string_view account, const cycles::Cycle& cycle,
    const cycles::TimeZone& zone, int64_t period_start, int64_t period_end,
    const std::vector<InvoiceLine>& lines, pricebook::RoundingMode mode);

}  // namespace meterd::engine::invoicing
