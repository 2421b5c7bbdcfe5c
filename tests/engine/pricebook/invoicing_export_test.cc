// meterd — tests/engine/pricebook/invoicing_export_test.cc
//
// The invoicing sections (tax_rates, tax_settings, invoice_issuers, discounts, coupons,
// coupon_redemptions) through the whole catalog document (BillingStore, what `meterctl apply`
// sends) and read back (ExportCatalog): after billing_profiles and before price_books, absent
// when empty, an export applied back changes nothing and recreates the same catalog in an empty
// store, and the id filters.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/pricebook/billing_store.h"
#include "engine/pricebook/catalog_export.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::pricebook {
namespace invoicing_export_test {

using tenancy::ChangeKind;
using tenancy::DocFormat;

constexpr const char* kDocument = R"(schema: meterd/v1
domains:
  - id: root
  - id: reseller
    parent: root
accounts:
  - id: acme
    domain: reseller
  - id: globex
    domain: root
tax_rates:
  - country: CA
    region: BC
    name: PST
    rate: 7
    effective_from: 2013-04-01T00:00:00Z
  - country: CA
    name: GST
    rate: 5
    effective_from: 2008-01-01T00:00:00Z
  - country: GB
    name: VAT
    rate: "20"
    effective_from: 2011-01-04T00:00:00Z
    compound: false
tax_settings:
  - domain: "*"
    country: GB
invoice_issuers:
  - domain: "*"
    name: Example Cloud Ltd
    country: GB
    vat_number: GB123456789
  - domain: reseller
    name: Reseller Ltd
    number_prefix: R-
    credit_note_prefix: RC-
discounts:
  - id: loyal
    description: Loyalty
    scope: account
    percent: "2.5"
    accounts: [globex, acme]
  - id: storage
    scope: group
    target: Storage
    amount: "3"
    domain: reseller
    valid_from: 2026-01-01T00:00:00Z
coupons:
  - id: WELCOME
    description: Welcome coupon
    percent: 10
    duration_cycles: 3
coupon_redemptions:
  - account: acme
    coupon: WELCOME
    redeemed_at: 2026-11-04T12:00:00Z
price_books:
  - version: 1
    effective_from: 2026-01-01T00:00:00Z
    default_currency: GBP
    currencies:
      - {code: GBP, per_credit: "1", prefix: "GBP ", suffix: "", minor_digits: 2}
    products:
      - id: backup
        group: Storage
        model: subscription
        monthly_fee: "3"
)";

class InvoicingExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = BillingStore::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  static nlohmann::ordered_json Export(const BillingStore& store, const ExportFilter& filter) {
    auto doc = ExportCatalog(store.Current(), filter);
    EXPECT_TRUE(doc.ok()) << doc.status().ToString();
    return doc.ok() ? std::move(doc).value() : nlohmann::ordered_json();
  }
  static std::vector<std::string> Keys(const nlohmann::ordered_json& doc) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : doc.items()) keys.push_back(k);
    return keys;
  }

  testing::TempDir dir_;
  std::unique_ptr<BillingStore> store_;
};

TEST_F(InvoicingExportTest, SectionsAbsentWhenEmpty) {
  ASSERT_TRUE(store_->Apply("domains: [{id: root}]\n", DocFormat::kYaml).ok());
  EXPECT_EQ(Keys(Export(*store_, {})),
            (std::vector<std::string>{"schema", "locations", "plan_groups", "plans", "domains",
                                      "accounts", "projects", "resources", "price_books",
                                      "subscriptions"}));
}

TEST_F(InvoicingExportTest, ApplyExportRoundTrip) {
  auto r = store_->Apply(kDocument, DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const nlohmann::ordered_json doc = Export(*store_, {});
  EXPECT_EQ(Keys(doc),
            (std::vector<std::string>{"schema", "locations", "plan_groups", "plans", "domains",
                                      "accounts", "projects", "resources", "tax_rates",
                                      "tax_settings", "invoice_issuers", "discounts", "coupons",
                                      "coupon_redemptions", "price_books", "subscriptions"}));
  // Exact text: rates and amounts are decimal strings, defaults written for settings and
  // issuers, left out elsewhere.
  EXPECT_EQ(doc["tax_rates"].dump(),
            R"([{"country":"CA","name":"GST","rate":"5","effective_from":"2008-01-01T00:00:00Z"},)"
            R"({"country":"CA","region":"BC","name":"PST","rate":"7","effective_from":)"
            R"("2013-04-01T00:00:00Z"},{"country":"GB","name":"VAT","rate":"20",)"
            R"("effective_from":"2011-01-04T00:00:00Z"}])");
  EXPECT_EQ(doc["tax_settings"].dump(),
            R"([{"domain":"*","country":"GB","reverse_charge":true,"vat_on_prepaid":"usage"}])");
  EXPECT_EQ(doc["invoice_issuers"][1].dump(),
            R"({"domain":"reseller","name":"Reseller Ltd","number_prefix":"R-",)"
            R"("credit_note_prefix":"RC-","payment_terms_days":14,"sequence_width":6})");
  EXPECT_EQ(doc["discounts"].dump(),
            R"([{"id":"loyal","description":"Loyalty","scope":"account","percent":"2.5",)"
            R"("accounts":["globex","acme"]},{"id":"storage","scope":"group","target":"Storage",)"
            R"("amount":"3","domain":"reseller","valid_from":"2026-01-01T00:00:00Z"}])");
  EXPECT_EQ(doc["coupons"].dump(),
            R"([{"id":"WELCOME","description":"Welcome coupon","percent":"10",)"
            R"("duration_cycles":3}])");
  EXPECT_EQ(doc["coupon_redemptions"].dump(),
            R"([{"account":"acme","coupon":"WELCOME","redeemed_at":"2026-11-04T12:00:00Z"}])");

  // Applied back: nothing changes.
  auto again = store_->Apply(doc.dump(), DocFormat::kJson);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->changed());

  // Applied to an empty store: the same catalog.
  testing::TempDir other_dir;
  auto other = BillingStore::Open(other_dir.path());
  ASSERT_TRUE(other.ok());
  auto fresh = (*other)->Apply(doc.dump(), DocFormat::kJson);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(Export(**other, {}), doc);
}

TEST_F(InvoicingExportTest, IdFilters) {
  ASSERT_TRUE(store_->Apply(kDocument, DocFormat::kYaml).ok());
  EXPECT_EQ(Export(*store_, {"tax_rates", "CA"})["tax_rates"].size(), 2u);
  EXPECT_EQ(Export(*store_, {"invoice_issuers", "reseller"})["invoice_issuers"][0]["name"],
            "Reseller Ltd");
  EXPECT_EQ(Export(*store_, {"discounts", "storage"})["discounts"][0]["id"], "storage");
  EXPECT_EQ(Export(*store_, {"coupon_redemptions", "acme"})["coupon_redemptions"].size(), 1u);
  auto none = ExportCatalog(store_->Current(), {"tax_rates", "US"});
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsNotFound());
  EXPECT_EQ(none.status().message(), "country \"US\" has no tax rate");
  auto coupon = ExportCatalog(store_->Current(), {"coupons", "NOPE"});
  ASSERT_FALSE(coupon.ok());
  EXPECT_EQ(coupon.status().message(), "coupon \"NOPE\" is not in the catalog");
}

TEST_F(InvoicingExportTest, DiscountTargetsAreProductsAndGroupsOfThePriceBook) {
  ASSERT_TRUE(store_->Apply(kDocument, DocFormat::kYaml).ok());
  auto r = store_->Apply(R"(discounts:
  - id: typo
    scope: group
    target: Storge
    percent: 5
    accounts: [acme]
  - id: ghost
    scope: product
    target: nothing
    percent: 5
    accounts: [acme]
  - id: fine
    scope: product
    target: backup
    percent: 5
    accounts: [acme]
)",
                         DocFormat::kYaml);
  ASSERT_FALSE(r.ok());
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find("line 4: discounts[0].target \"Storge\" is not a product group of the price "
                     "book"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("line 9: discounts[1].target \"nothing\" is not a product of the price book"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find("discounts[2]"), std::string::npos) << msg;
}

TEST_F(InvoicingExportTest, UnknownSectionListsTheInvoicingSections) {
  auto r = store_->Apply("taxes: []\n", DocFormat::kYaml);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 1: taxes is not a section (locations, plan_groups, "
                                      "plans, domains, accounts, projects, resources, "
                                      "billing_profiles, tax_rates, tax_settings, "
                                      "invoice_issuers, discounts, coupons, coupon_redemptions, "
                                      "price_books, subscriptions)"),
            std::string::npos)
      << r.status().message();
}

}  // namespace invoicing_export_test
}  // namespace meterd::engine::pricebook
