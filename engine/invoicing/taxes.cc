// meterd — engine/invoicing/taxes.cc
#include "engine/invoicing/taxes.h"

#include <algorithm>

#include "engine/tenancy/document.h"

namespace meterd::engine::invoicing {

bool IsReverseCharge(const TaxSettings& settings, const TaxContext& customer) {
  return settings.reverse_charge && !customer.customer_vat.empty() &&
         !customer.customer_country.empty() && !settings.country.empty() &&
         customer.customer_country != settings.country;
}

Result<std::vector<TaxLine>> ComputeTaxes(const TaxTable& table, const TaxSettings& settings,
                                          const TaxContext& customer, MicroCredits base,
                                          pricebook::RoundingMode mode) {
  std::vector<TaxLine> lines;
  if (settings.vat_on_prepaid == tenancy::VatOnPrepaid::kTopup && customer.prepaid) return lines;
  if (customer.customer_country.empty()) {
    return Status::InvalidArgument("account " + customer.account +
                                   " has no country in its billing profile: its taxes cannot be "
                                   "computed (set billing_profiles[].country)");
  }
  if (settings.country.empty()) {
    return Status::InvalidArgument(
        "no tax_settings apply to the issuer of account " + customer.account +
        "'s invoices: add one for its domain or \"*\" (the issuer's country decides reverse "
        "charge)");
  }
  const std::vector<const tenancy::TaxRate*> rates =
      table.InForce(customer.customer_country, customer.customer_region, customer.at);
  if (IsReverseCharge(settings, customer)) {
    TaxLine line;
    line.name = rates.empty() ? "VAT" : rates.front()->name;
    line.country = customer.customer_country;
    line.reverse_charge = true;
    line.base = base;
    lines.push_back(std::move(line));
    return lines;
  }
  if (rates.empty()) {
    // Say why when the country has rates: they start later, or are other regions'.
    std::string why;
    for (const tenancy::TaxRate& r : table.rates) {
      if (r.country != customer.customer_country) continue;
      if (r.region.empty() || r.region == customer.customer_region) {
        why = " (its rates start later)";
        break;
      }
      why = " (it has rates for other regions only)";
    }
    return Status::NotFound(
        "no tax rate for country " + customer.customer_country +
        (customer.customer_region.empty() ? "" : " (region " + customer.customer_region + ")") +
        " of account " + customer.account + " is in force at " + tenancy::FormatTime(customer.at) +
        why + ": add it to tax_rates (rate \"0\" where no tax is due)");
  }
  std::vector<const tenancy::TaxRate*> ordered = rates;
  std::stable_partition(ordered.begin(), ordered.end(),
                        [](const tenancy::TaxRate* r) { return !r->compound; });
  __int128 taxes = 0;  // the rounded amounts so far
  for (const tenancy::TaxRate* r : ordered) {
    const __int128 taxable = r->compound ? __int128{base} + taxes : __int128{base};
    const __int128 amount = pricebook::RoundDiv(taxable * r->rate_ppm, tenancy::kPpmWhole, mode);
    if (taxable > INT64_MAX || taxable < INT64_MIN || amount > INT64_MAX || amount < INT64_MIN) {
      return Status::OutOfRange("the taxes of account " + customer.account +
                                " do not fit in 64-bit micro-credits");
    }
    TaxLine line;
    line.name = r->name;
    line.country = r->country;
    line.region = r->region;
    line.rate_ppm = r->rate_ppm;
    line.base = static_cast<MicroCredits>(taxable);
    line.amount.micro = static_cast<MicroCredits>(amount);
    taxes += amount;
    lines.push_back(std::move(line));
  }
  if (taxes + base > INT64_MAX || taxes + base < INT64_MIN) {
    return Status::OutOfRange("the taxes of account " + customer.account +
                              " do not fit in 64-bit micro-credits");
  }
  return lines;
}

std::vector<std::string> TaxNotes(const TaxSettings& settings, const TaxContext& customer,
                                  const std::vector<TaxLine>& lines) {
  std::vector<std::string> notes;
  for (const TaxLine& l : lines) {
    if (!l.reverse_charge) continue;
    notes.push_back("Reverse charge: " + l.name + " to be accounted for by the recipient (" +
                    customer.customer_vat + ")");
    return notes;
  }
  if (lines.empty() && settings.vat_on_prepaid == tenancy::VatOnPrepaid::kTopup &&
      customer.prepaid) {
    notes.push_back(
        "VAT was charged when the prepaid credit was bought; this invoice carries no VAT");
  }
  return notes;
}

}  // namespace meterd::engine::invoicing
