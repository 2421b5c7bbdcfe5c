// meterd — engine/invoicing/topup_taxes.cc
#include "engine/invoicing/topup_taxes.h"

#include "engine/invoicing/issuer.h"
#include "engine/invoicing/taxes.h"

namespace meterd::engine::invoicing {

Result<std::vector<ledger::EntryTax>> TopUpTaxes(const tenancy::Tenancy& t,
                                                 std::string_view account, bool prepaid,
                                                 pricebook::MicroCredits amount, int64_t at,
                                                 pricebook::RoundingMode mode) {
  std::vector<ledger::EntryTax> out;
  const tenancy::Account* a = t.FindAccount(account);
  if (a == nullptr) return Status::NotFound("unknown account '" + std::string(account) + "'");
  if (t.tax_settings().empty() && t.tax_table().rates.empty()) return out;  // no taxes here
  const tenancy::TaxSettings& settings = t.TaxSettingsFor(a->domain);
  if (settings.vat_on_prepaid != tenancy::VatOnPrepaid::kTopup || !prepaid) return out;
  METERD_ASSIGN_OR_RETURN(TaxContext ctx, CustomerTaxContext(t, account, at));
  ctx.prepaid = false;  // the top-up is what is taxed: compute its lines
  METERD_ASSIGN_OR_RETURN(std::vector<TaxLine> lines,
                          ComputeTaxes(t.tax_table(), settings, ctx, amount, mode));
  out.reserve(lines.size());
  for (const TaxLine& l : lines) {
    out.push_back(ledger::EntryTax{l.name, l.country, l.region, l.rate_ppm, l.reverse_charge,
                                   l.base, l.amount.micro});
  }
  return out;
}

pricebook::MicroCredits TaxTotal(const std::vector<ledger::EntryTax>& taxes) {
  pricebook::MicroCredits total = 0;
  for (const ledger::EntryTax& x : taxes) total += x.amount;
  return total;
}

}  // namespace meterd::engine::invoicing
