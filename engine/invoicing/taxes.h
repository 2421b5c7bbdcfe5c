// meterd — engine/invoicing/taxes.h
//
// The taxes of one invoice: which rates apply to a customer at an instant, and their amounts on
// the taxable base (docs/taxes-and-discounts.md, "Taxes"). Pure: the rate table, the issuing
// domain's tax settings and the customer come in as values (Tenancy::tax_table(),
// Tenancy::TaxSettingsFor(domain), the account's billing profile); nothing is read or stored.
//
// Arithmetic. The base is the invoice's subtotal after discounts (discounts come first, taxes
// apply to the discounted base). Each tax line's amount is base x rate rounded ONCE, to the
// micro-credit, with the price book version's rounding mode; a compound tax's base is the base
// plus the (rounded) amounts of the lines before it. Lines: the simple taxes in force (the
// country-wide ones, then the customer's region's, each by name), then the compound ones in
// the same order. tax_total = the exact sum of the lines.
//
// Invariants (property-tested): every simple line's amount is within 1 micro-credit of
// base x rate_ppm / 10^6 (exactly that when the rounding mode's result is exact); a compound
// line's is within 1 micro-credit of its own base x rate; an amount has the sign of its base;
// no rate is ever taken as 0 for lack of one (a missing rate is NotFound).
//
// Amount.minor is left 0: the invoice builder displays every amount in the invoice currency.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/invoicing/invoice.h"
#include "engine/pricebook/money.h"
#include "engine/tenancy/invoicing_config.h"
#include "storage/base/result.h"

namespace meterd::engine::invoicing {

using tenancy::TaxSettings;
using tenancy::TaxTable;

struct TaxContext {
  std::string account;           // for error messages
  std::string customer_country;  // ISO 3166-1 alpha-2 of the billing profile; required
  std::string customer_region;   // subdivision ("BC"); empty = none
  std::string customer_vat;      // VAT number; non-empty = a business customer
  int64_t at = 0;                // the instant whose rates apply: the period's end - 1 s
  // A prepaid account: with vat_on_prepaid = topup its usage invoices carry no tax line (the
  // tax was charged when the credit was bought).
  bool prepaid = false;
};

// Whether the invoice is reverse-charged: the settings have reverse_charge on, the customer
// has a VAT number and a country other than the issuer's.
bool IsReverseCharge(const TaxSettings& settings, const TaxContext& customer);

// The tax lines of an invoice on `base` micro-credits (after discounts; may be negative for a
// credit).
//  - vat_on_prepaid = topup and customer.prepaid: no line.
//  - reverse charge: one line {name of the customer country's first tax in force, else "VAT";
//    country = the customer's; rate 0; reverse_charge = true; base; amount 0}.
//  - otherwise the rates in force at customer.at for the customer's country and region.
// Errors: InvalidArgument naming the account when the customer has no country, or when the
// settings name no issuer country (no tax_settings for the domain nor "*"); NotFound naming the
// account and the country when no rate of that country is in force at `at` (an explicit 0 %
// rate is a rate); OutOfRange when an amount does not fit in 64 bits.
Result<std::vector<TaxLine>> ComputeTaxes(const TaxTable& table, const TaxSettings& settings,
                                          const TaxContext& customer, MicroCredits base,
                                          pricebook::RoundingMode mode);

// The remarks an invoice with these tax lines prints (Invoice::notes): the reverse-charge
// notice, or that VAT was charged on top-up; empty otherwise.
std::vector<std::string> TaxNotes(const TaxSettings& settings, const TaxContext& customer,
                                  const std::vector<TaxLine>& lines);

}  // namespace meterd::engine::invoicing
