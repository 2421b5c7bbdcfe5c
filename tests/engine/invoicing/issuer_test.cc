// meterd — tests/engine/invoicing/issuer_test.cc: the issuer of a domain's invoices (inherited
// to subdomains, "*" by default), document numbers, due dates and the customer's tax context.
#include "engine/invoicing/issuer.h"

#include <gtest/gtest.h>

namespace meterd::engine::invoicing {
namespace issuer_test {

std::shared_ptr<const tenancy::Tenancy> Model(bool with_default) {
  tenancy::TenancyData d;
  d.domains = {{"root", "Root", ""},
               {"reseller", "Reseller", "root"},
               {"sub", "Sub", "reseller"},
               {"other", "Other", ""}};
  d.accounts = {{"acme", "sub", "Acme", "", false}, {"globex", "other", "Globex", "", false}};
  tenancy::BillingProfile p;
  p.account = "acme";
  p.country = "DE";
  p.region = "BY";
  p.vat_number = "DE123456789";
  d.billing_profiles = {p};
  tenancy::InvoiceIssuer reseller;
  reseller.scope = "reseller";
  reseller.name = "Reseller GmbH";
  reseller.address = "Hauptstr. 1\nBerlin";
  reseller.country = "DE";
  reseller.vat_number = "DE999";
  reseller.email = "billing@reseller.example";
  reseller.number_prefix = "R-";
  reseller.credit_note_prefix = "RC-";
  reseller.payment_terms_days = 30;
  reseller.sequence_width = 4;
  d.invoice_issuers = {reseller};
  if (with_default) {
    tenancy::InvoiceIssuer star;
    star.name = "Example Cloud Ltd";
    d.invoice_issuers.push_back(star);
  }
  auto t = tenancy::Tenancy::Build(std::move(d));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

TEST(IssuerTest, InheritedBySubdomainsWithDefault) {
  auto t = Model(true);
  auto sub = IssuerFor(*t, "sub");
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  EXPECT_EQ(sub->scope, "reseller");
  EXPECT_EQ(sub->party, (Party{"Reseller GmbH", "Hauptstr. 1\nBerlin", "DE", "DE999",
                               "billing@reseller.example"}));
  EXPECT_EQ(sub->payment_terms_days, 30u);
  auto other = IssuerFor(*t, "other");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->scope, "*");
  EXPECT_EQ(other->party.name, "Example Cloud Ltd");
  EXPECT_EQ(other->number_prefix, "INV-");
  EXPECT_EQ(other->payment_terms_days, 14u);
  auto none = IssuerFor(*Model(false), "other");
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsNotFound());
  EXPECT_NE(none.status().message().find("other"), std::string::npos);
}

TEST(IssuerTest, NumbersAndDueDates) {
  auto t = Model(true);
  const Issuer r = *IssuerFor(*t, "reseller");
  EXPECT_EQ(DocumentNumber(r, InvoiceKind::kInvoice, 42), "R-0042");
  EXPECT_EQ(DocumentNumber(r, InvoiceKind::kCreditNote, 7), "RC-0007");
  EXPECT_EQ(DocumentNumber(r, InvoiceKind::kInvoice, 123456), "R-123456");
  const Issuer star = *IssuerFor(*t, "other");
  EXPECT_EQ(DocumentNumber(star, InvoiceKind::kInvoice, 1), "INV-000001");
  EXPECT_EQ(DueAt(r, 1'000'000), 1'000'000 + 30 * 86400);
}

TEST(IssuerTest, CustomerTaxContextFromTheBillingProfile) {
  auto t = Model(true);
  auto acme = CustomerTaxContext(*t, "acme", 123);
  ASSERT_TRUE(acme.ok());
  EXPECT_EQ(acme->account, "acme");
  EXPECT_EQ(acme->customer_country, "DE");
  EXPECT_EQ(acme->customer_region, "BY");
  EXPECT_EQ(acme->customer_vat, "DE123456789");
  EXPECT_EQ(acme->at, 123);
  auto globex = CustomerTaxContext(*t, "globex", 123);
  ASSERT_TRUE(globex.ok());
  EXPECT_EQ(globex->customer_country, "");  // no profile: ComputeTaxes refuses, naming it
  EXPECT_TRUE(CustomerTaxContext(*t, "nobody", 0).status().IsNotFound());
}

}  // namespace issuer_test
}  // namespace meterd::engine::invoicing
