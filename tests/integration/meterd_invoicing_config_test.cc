// meterd — tests/integration/meterd_invoicing_config_test.cc
//
// The catalog document's invoicing sections (docs/taxes-and-discounts.md) end to end on the
// real meterd and meterctl: `meterctl apply` of tax rates, tax settings, issuers, discounts,
// coupons and redemptions; `catalog export --section` reads each back; an export applies back
// unchanged and survives a restart; bad input is refused with its line and field and changes
// nothing; `profiles set --region` sets the customer's subdivision.
#include <nlohmann/json.hpp>

#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

constexpr const char* kInvoicing = R"(tax_rates:
  - country: GB
    name: VAT
    rate: "20"
    effective_from: 2011-01-04T00:00:00Z
  - country: CA
    region: BC
    name: PST
    rate: 7
    effective_from: 2013-04-01T00:00:00Z
tax_settings:
  - domain: "*"
    country: GB
invoice_issuers:
  - domain: "*"
    name: Example Cloud Ltd
    country: GB
  - domain: bu1.corporate.com
    name: Business Unit 1 Ltd
    number_prefix: BU1-
    credit_note_prefix: BU1CN-
discounts:
  - id: running-ten
    scope: group
    target: Running VM
    percent: 10
    domain: corporate.com
coupons:
  - id: WELCOME
    description: Welcome coupon
    amount: "5"
    duration_cycles: 3
coupon_redemptions:
  - account: bu1user1
    coupon: WELCOME
    redeemed_at: 2026-11-04T12:00:00Z
)";

class MeterdInvoicingConfigTest : public MeterdTest {
 protected:
  void SetUp() override {
    MeterdTest::SetUp();
    const std::string catalog = std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml";
    ASSERT_EQ(Meterctl("apply " + catalog).exit_code, 0);
  }
  nlohmann::json Section(const std::string& section, const std::string& id = "") {
    CommandResult r = Meterctl("catalog export --section " + section +
                               (id.empty() ? std::string() : " --id '" + id + "'"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json doc = nlohmann::json::parse(r.out, nullptr, false);
    return doc.is_object() ? doc[section] : nlohmann::json();
  }
};

// The sample next to docs/examples/catalog.yaml applies on top of it.
TEST_F(MeterdInvoicingConfigTest, ExampleApplies) {
  const std::string example = std::string(METERD_SOURCE_DIR) + "/docs/examples/invoicing.yaml";
  CommandResult r = Meterctl("--format json apply " + example);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["created"], 9) << r.out;
  EXPECT_EQ(Section("tax_settings", "*")[0]["vat_on_prepaid"], "usage");
}

TEST_F(MeterdInvoicingConfigTest, ApplyExportRestartAndRefuse) {
  CommandResult applied =
      Meterctl("--format json apply " + WriteFile("invoicing.yaml", kInvoicing));
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  const nlohmann::json rep = nlohmann::json::parse(applied.out);
  EXPECT_EQ(rep["created"], 8) << applied.out;

  EXPECT_EQ(Section("tax_rates", "CA"), nlohmann::json::parse(R"([{"country": "CA",
    "region": "BC", "name": "PST", "rate": "7", "effective_from": "2013-04-01T00:00:00Z"}])"));
  EXPECT_EQ(Section("invoice_issuers", "bu1.corporate.com")[0]["number_prefix"], "BU1-");
  EXPECT_EQ(Section("discounts", "running-ten")[0]["percent"], "10");
  EXPECT_EQ(Section("coupons", "WELCOME")[0]["amount"], "5");
  EXPECT_EQ(Section("coupon_redemptions", "bu1user1")[0]["redeemed_at"], "2026-11-04T12:00:00Z");

  // The whole export applies back unchanged.
  CommandResult exported = Meterctl("catalog export");
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  CommandResult reapplied =
      Meterctl("--format json apply " + WriteFile("export.json", exported.out));
  ASSERT_EQ(reapplied.exit_code, 0) << reapplied.err;
  EXPECT_FALSE(nlohmann::json::parse(reapplied.out)["applied"].get<bool>()) << reapplied.out;

  // Bad input: refused with line and field, nothing changes.
  CommandResult bad = Meterctl("apply " + WriteFile("bad.yaml", R"(tax_rates:
  - country: UK
    name: VAT
    rate: "20%"
    effective_from: 2011-01-04T00:00:00Z
coupon_redemptions:
  - account: bu1user2
    coupon: NOPE
    redeemed_at: 2026-11-04T12:00:00Z
discounts:
  - id: typo
    scope: group
    target: Runing VM
    percent: 5
    accounts: [bu1user2]
)"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("line 2: tax_rates[0].country \"UK\" is not an ISO 3166-1 alpha-2"),
            std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("line 4: tax_rates[0].rate must be a percentage"), std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("line 8: coupon_redemptions[0].coupon \"NOPE\" is not a known coupon"),
            std::string::npos)
      << bad.err;
  EXPECT_EQ(Section("tax_rates").size(), 2u);

  // Kept in billing.db across a restart.
  server_.Stop();
  StartServer({}, /*fresh=*/false);
  CommandResult after = Meterctl("catalog export");
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(nlohmann::json::parse(after.out), nlohmann::json::parse(exported.out));

  // The customer's region for regional taxes.
  CommandResult region =
      Meterctl("profiles set --account bu1user2 --country CA --region BC --time-zone UTC");
  ASSERT_EQ(region.exit_code, 0) << region.err;
  EXPECT_EQ(Section("billing_profiles", "bu1user2")[0]["region"], "BC");
}

}  // namespace
}  // namespace meterd::testing
