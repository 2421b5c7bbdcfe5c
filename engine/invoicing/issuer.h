// meterd — engine/invoicing/issuer.h
//
// Who issues a domain's invoices, as the invoice builder needs it: the printed Party (invoice.h),
// the number prefixes, the payment terms and the sequence's zero-padding, from the catalog's
// invoice_issuers section (docs/taxes-and-discounts.md, "invoice_issuers"), inherited down the
// domain tree to "*". Also the customer's side of the tax computation (TaxContext) from the
// account's billing profile.
//
// Invariants: an Issuer comes from exactly one invoice_issuers entry (`scope` says which);
// its two prefixes differ, so an invoice and a credit note never share a number.
//
// Thread-safety: pure functions over an immutable tenancy snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/invoicing/invoice.h"
#include "engine/invoicing/taxes.h"
#include "engine/tenancy/tenancy.h"
#include "storage/base/result.h"

namespace meterd::engine::invoicing {

struct Issuer {
  std::string scope;               // the invoice_issuers entry it comes from: "*" or a domain id
  Party party;                     // name, address, country, VAT number, email as printed
  std::string number_prefix;       // "INV-"
  std::string credit_note_prefix;  // "CN-"
  uint32_t payment_terms_days = 14;
  uint32_t sequence_width = 6;
};

// The issuer of `domain`'s invoices: its own entry, else its parent's, up to the top, else
// "*". NotFound naming the domain when there is none.
Result<Issuer> IssuerFor(const tenancy::Tenancy& tenancy, std::string_view domain);

// "<prefix><sequence zero-padded to sequence_width>": INV-000042, CN-000007. A sequence wider
// than the width is written whole. REQUIRES: sequence >= 1.
std::string DocumentNumber(const Issuer& issuer, InvoiceKind kind, int64_t sequence);

// issued_at + payment_terms_days days.
int64_t DueAt(const Issuer& issuer, int64_t issued_at);

// The customer of `account` for ComputeTaxes at instant `at`: the billing profile's country,
// region and VAT number (empty without a profile: ComputeTaxes then refuses naming the account).
// NotFound when the account is unknown. `prepaid` is left false: the ledger's settings say.
Result<TaxContext> CustomerTaxContext(const tenancy::Tenancy& tenancy, std::string_view account,
                                      int64_t at);

}  // namespace meterd::engine::invoicing
