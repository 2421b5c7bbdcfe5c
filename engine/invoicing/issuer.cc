// meterd — engine/invoicing/issuer.cc
#include "engine/invoicing/issuer.h"

namespace meterd::engine::invoicing {

Result<Issuer> IssuerFor(const tenancy::Tenancy& tenancy, std::string_view domain) {
  const tenancy::InvoiceIssuer* s = tenancy.IssuerFor(domain);
  if (s == nullptr) {
    return Status::NotFound("no invoice issuer for domain " + std::string(domain) +
                            ": add an invoice_issuers entry for it, a parent domain or \"*\"");
  }
  Issuer out;
  out.scope = s->scope;
  out.party = Party{s->name, s->address, s->country, s->vat_number, s->email};
  out.number_prefix = s->number_prefix;
  out.credit_note_prefix = s->credit_note_prefix;
  out.payment_terms_days = s->payment_terms_days;
  out.sequence_width = s->sequence_width;
  return out;
}

std::string DocumentNumber(const Issuer& issuer, InvoiceKind kind, int64_t sequence) {
  std::string digits = std::to_string(sequence);
  if (digits.size() < issuer.sequence_width) {
    digits.insert(0, issuer.sequence_width - digits.size(), '0');
  }
  return (kind == InvoiceKind::kCreditNote ? issuer.credit_note_prefix : issuer.number_prefix) +
         digits;
}

int64_t DueAt(const Issuer& issuer, int64_t issued_at) {
  return issued_at + int64_t{issuer.payment_terms_days} * 86400;
}

Result<TaxContext> CustomerTaxContext(const tenancy::Tenancy& tenancy, std::string_view account,
                                      int64_t at) {
  if (tenancy.FindAccount(account) == nullptr) {
    return Status::NotFound("account " + std::string(account) + " is not in the catalog");
  }
  TaxContext c;
  c.account = std::string(account);
  c.at = at;
  if (const tenancy::BillingProfile* p = tenancy.FindBillingProfile(account)) {
    c.customer_country = p->country;
    c.customer_region = p->region;
    c.customer_vat = p->vat_number;
  }
  return c;
}

}  // namespace meterd::engine::invoicing
