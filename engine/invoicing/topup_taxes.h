// meterd — engine/invoicing/topup_taxes.h
//
// VAT on top-ups (docs/taxes-and-discounts.md, "vat_on_prepaid"): when the tax settings of a
// prepaid account's domain say `vat_on_prepaid: topup`, the tax on prepaid credit is due when
// it is bought. TopUpTaxes computes it on the credit bought, with the same rules as an
// invoice's taxes (the customer's country and region from the billing profile, the rates in
// force at the top-up, reverse charge, compound taxes, a missing rate refused naming the
// account); the ledger keeps the lines with the top-up entry (ledger::EntryTax, table
// `topup_taxes`), and that account's usage invoices then carry no tax line.
//
// Thread-safety: pure functions over an immutable tenancy snapshot.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/ledger/ledger.h"
#include "engine/pricebook/money.h"
#include "engine/tenancy/tenancy.h"
#include "storage/base/result.h"

namespace meterd::engine::invoicing {

// The taxes of a top-up of `amount` (> 0) micro-credits by `account` at instant `at`: empty
// when the catalog configures no tax (neither tax_settings nor tax_rates), when the account's
// settings say vat_on_prepaid: usage, or when the account is not prepaid. Errors as
// ComputeTaxes (a customer without a country, a country without a rate: InvalidArgument or
// NotFound naming the account); NotFound for an unknown account.
Result<std::vector<ledger::EntryTax>> TopUpTaxes(const tenancy::Tenancy& t,
                                                 std::string_view account, bool prepaid,
                                                 pricebook::MicroCredits amount, int64_t at,
                                                 pricebook::RoundingMode mode);

// The sum of the lines' amounts.
pricebook::MicroCredits TaxTotal(const std::vector<ledger::EntryTax>& taxes);

}  // namespace meterd::engine::invoicing
