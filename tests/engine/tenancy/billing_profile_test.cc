// meterd — tests/engine/tenancy/billing_profile_test.cc
//
// Billing profiles in the catalog document: apply, read back, survive a reopen, report what
// changed, refuse bad zones, countries, currencies and cycles with their line and field (all
// or nothing), and the tenancy schema's migrations from versions 2 and 3 to 4 (the region).
#include "engine/tenancy/billing_profile.h"

#include <gtest/gtest.h>

#include "engine/tenancy/tenancy_store.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::tenancy {
namespace billing_profile_test {

constexpr const char* kModel = R"(domains:
  - id: corporate.com
accounts:
  - id: acme
    domain: corporate.com
    currency: GBP
  - id: globex
    domain: corporate.com
)";

constexpr const char* kProfiles = R"(billing_profiles:
  - account: acme
    address: "1 Long Acre\nLondon WC2E 9LH"
    country: GB
    vat_number: GB123456789
    time_zone: Europe/London
    currency: GBP
    cycle: monthly_anchored
    anchor_day: 31
  - account: globex
    country: IN
    time_zone: Asia/Kolkata
    cycle: weekly
    week_start: sunday
)";

class BillingProfileTest : public ::testing::Test {
 protected:
  void Open() {
    store_.reset();
    db_.reset();
    auto db = BillingDb::Open(BillingDb::PathIn(dir_.path()));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto store = TenancyStore::Open(db_.get());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void SetUp() override {
    Open();
    ASSERT_TRUE(store_->Apply(kModel, DocFormat::kYaml).ok());
  }
  // The errors of a document that must be refused, as "line N: path message".
  std::vector<std::string> Refused(const std::string& doc) {
    std::vector<DocError> errors;
    auto r = store_->Apply(doc, DocFormat::kYaml, &errors);
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    }
    std::vector<std::string> out;
    for (const DocError& e : errors) out.push_back(e.ToString());
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<BillingDb> db_;
  std::unique_ptr<TenancyStore> store_;
};

TEST_F(BillingProfileTest, ApplyReadBackReopenAndIdempotence) {
  auto r = store_->Apply(kProfiles, DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->applied);
  EXPECT_EQ(r->Count(ChangeKind::kCreated), 2u);

  for (int pass = 0; pass < 2; ++pass) {
    const auto t = store_->Current();
    ASSERT_EQ(t->billing_profiles().size(), 2u);
    const BillingProfile* acme = t->FindBillingProfile("acme");
    ASSERT_NE(acme, nullptr);
    EXPECT_EQ(acme->address, "1 Long Acre\nLondon WC2E 9LH");
    EXPECT_EQ(acme->country, "GB");
    EXPECT_EQ(acme->vat_number, "GB123456789");
    EXPECT_EQ(acme->time_zone, "Europe/London");
    EXPECT_EQ(acme->currency, "GBP");
    EXPECT_EQ(acme->cycle.kind, cycles::CycleKind::kMonthlyAnchored);
    EXPECT_EQ(acme->cycle.anchor_day, 31u);
    const BillingProfile* globex = t->FindBillingProfile("globex");
    ASSERT_NE(globex, nullptr);
    EXPECT_EQ(globex->cycle.kind, cycles::CycleKind::kWeekly);
    EXPECT_EQ(globex->cycle.week_start, 0u);
    EXPECT_EQ(globex->address, "");
    EXPECT_EQ(t->FindBillingProfile("nobody"), nullptr);
    Open();  // the second pass reads billing.db afresh
  }

  auto again = store_->Apply(kProfiles, DocFormat::kYaml);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->applied);
  EXPECT_EQ(again->Count(ChangeKind::kUnchanged), 2u);

  // Declarative: what a profile leaves out takes its default; the report names each change.
  auto upd = store_->Apply(R"(billing_profiles:
  - account: globex
    country: IN
    time_zone: Asia/Kathmandu
)",
                           DocFormat::kYaml);
  ASSERT_TRUE(upd.ok()) << upd.status().ToString();
  EXPECT_EQ(upd->Count(ChangeKind::kUpdated), 1u);
  ASSERT_FALSE(upd->changes.empty());
  EXPECT_EQ(upd->changes[0].detail, "time_zone, cycle");
  const BillingProfile* g = store_->Current()->FindBillingProfile("globex");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->cycle, cycles::Cycle{});  // monthly
  EXPECT_EQ(g->time_zone, "Asia/Kathmandu");
}

TEST_F(BillingProfileTest, BadValuesAreRefusedWithLineAndFieldAndChangeNothing) {
  ASSERT_TRUE(store_->Apply(kProfiles, DocFormat::kYaml).ok());
  const auto before = store_->Current();
  const std::vector<std::string> errors = Refused(R"(billing_profiles:
  - account: acme
    country: UK
    time_zone: Europe/Londres
    currency: EURO
    vat_number: gb 123
  - account: globex
    country: de
    cycle: monthly_anchored
  - account: globex
    cycle: fortnightly
  - account: initech
  - account: acme
    cycle: monthly
    anchor_day: 15
    week_start: monday
    colour: blue
)");
  auto has = [&](const std::string& text) {
    for (const std::string& e : errors) {
      if (e.find(text) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(
      has("line 3: billing_profiles[0].country \"UK\" is not an ISO 3166-1 alpha-2 "
          "country code (e.g. GB, DE, IN); the United Kingdom is GB"));
  EXPECT_TRUE(has("line 4: billing_profiles[0].time_zone unknown time zone \"Europe/Londres\""));
  EXPECT_TRUE(has("line 5: billing_profiles[0].currency \"EURO\" is not an ISO 4217 currency"));
  EXPECT_TRUE(has("line 6: billing_profiles[0].vat_number VAT number \"gb 123\""));
  EXPECT_TRUE(
      has("line 8: billing_profiles[1].country \"de\" is not an ISO 3166-1 alpha-2 "
          "country code (e.g. GB, DE, IN); codes are upper case"));
  EXPECT_TRUE(has("billing_profiles[1].anchor_day is required for the monthly_anchored cycle"));
  EXPECT_TRUE(has("billing_profiles[2].account \"globex\" has a second profile"));
  EXPECT_TRUE(has("line 11: billing_profiles[2].cycle \"fortnightly\" is not a cycle"));
  EXPECT_TRUE(has("line 12: billing_profiles[3].account \"initech\" is not a known account"));
  EXPECT_TRUE(has("billing_profiles[4].account \"acme\" has a second profile"));
  EXPECT_TRUE(has("line 15: billing_profiles[4].anchor_day is only for the monthly_anchored"));
  EXPECT_TRUE(has("line 16: billing_profiles[4].week_start is only for the weekly cycle"));
  EXPECT_TRUE(has("line 17: billing_profiles[4].colour is not a known field"));
  EXPECT_EQ(store_->Current(), before);
  Open();
  EXPECT_EQ(store_->Current()->FindBillingProfile("acme")->time_zone, "Europe/London");
}

TEST(BillingProfileValidationTest, Fields) {
  EXPECT_TRUE(ValidateCountry("").ok());
  EXPECT_TRUE(ValidateCountry("GB").ok());
  EXPECT_TRUE(ValidateCountry("NP").ok());
  EXPECT_FALSE(ValidateCountry("ZZ").ok());
  EXPECT_FALSE(ValidateCountry("GBR").ok());
  EXPECT_TRUE(ValidateCurrency("").ok());
  EXPECT_TRUE(ValidateCurrency("INR").ok());
  EXPECT_FALSE(ValidateCurrency("inr").ok());
  EXPECT_FALSE(ValidateCurrency("ABC").ok());
  EXPECT_TRUE(ValidateTimeZone("Australia/Adelaide").ok());
  EXPECT_FALSE(ValidateTimeZone("Australia/Adelaid").ok());
  EXPECT_TRUE(ValidateVatNumber("DE 123456789").ok());
  EXPECT_FALSE(ValidateVatNumber(std::string(33, '1')).ok());
  EXPECT_TRUE(ValidateAddress("a\nb").ok());
  EXPECT_FALSE(ValidateAddress("a\tb").ok());
  EXPECT_FALSE(ValidateAddress(std::string(1025, 'a')).ok());
  EXPECT_FALSE(
      ValidateProfileCycle(cycles::Cycle{cycles::CycleKind::kMonthly, /*anchor_day=*/5}).ok());
  EXPECT_TRUE(ValidateProfileCycle(cycles::Cycle{cycles::CycleKind::kMonthlyAnchored, 5}).ok());
  EXPECT_FALSE(ValidateProfileCycle(cycles::Cycle{cycles::CycleKind::kDaily, 1, 0}).ok());
  BillingProfile p;
  p.account = "a";
  EXPECT_TRUE(ValidateBillingProfile(p).ok());  // the defaults: UTC, monthly
}

// A billing.db at tenancy version 2 (before billing_profiles) opens at the current version (4:
// billing_profiles, then the invoicing tables) with the table added and every existing row as
// it was.
TEST_F(BillingProfileTest, SchemaVersionTwoIsMigrated) {
  {
    auto txn = db_->Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(txn->Exec("DROP TABLE billing_profiles").ok());
    ASSERT_TRUE(BillingDb::SetSchemaVersion(*txn, "tenancy", 2).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  Open();
  {
    auto txn = db_->Begin();
    ASSERT_TRUE(txn.ok());
    EXPECT_EQ(BillingDb::SchemaVersion(*txn, "tenancy").value(), 4);
  }
  EXPECT_EQ(store_->Current()->accounts().size(), 2u);
  EXPECT_TRUE(store_->Current()->billing_profiles().empty());
  auto r = store_->Apply(kProfiles, DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Open();
  EXPECT_EQ(store_->Current()->billing_profiles().size(), 2u);

  // A database from a newer meterd is refused, not misread.
  {
    auto txn = db_->Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(BillingDb::SetSchemaVersion(*txn, "tenancy", 5).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  auto newer = TenancyStore::Open(db_.get());
  EXPECT_FALSE(newer.ok());
}

// A region (for regional taxes: docs/taxes-and-discounts.md) is a field like the others.
TEST_F(BillingProfileTest, RegionAppliesAndIsValidated) {
  auto r = store_->Apply(R"(billing_profiles:
  - account: acme
    country: CA
    region: BC
)",
                         DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Open();
  EXPECT_EQ(store_->Current()->FindBillingProfile("acme")->region, "BC");
  auto changed = store_->Apply(R"(billing_profiles:
  - account: acme
    country: CA
    region: QC
)",
                               DocFormat::kYaml);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->changes[0].detail, "region");
  const std::vector<std::string> errors = Refused(R"(billing_profiles:
  - account: acme
    country: CA
    region: british-columbia
  - account: globex
    region: BC
)");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].rfind("line 4: billing_profiles[0].region \"british-columbia\" is not a "
                            "subdivision code",
                            0),
            0u)
      << errors[0];
  EXPECT_EQ(errors[1],
            "line 6: billing_profiles[1].region needs a country (a region is a subdivision of it)");
}

// A billing.db at tenancy version 3 (profiles without a region) gets the column at version 4,
// every profile reading an empty region.
TEST_F(BillingProfileTest, SchemaVersionThreeGetsRegion) {
  ASSERT_TRUE(store_->Apply(kProfiles, DocFormat::kYaml).ok());
  {
    auto txn = db_->Begin();
    ASSERT_TRUE(txn.ok());
    // The version-3 table: the same columns without region.
    ASSERT_TRUE(txn->Exec(R"sql(
CREATE TABLE old_profiles AS SELECT account, address, country, vat_number, time_zone, currency,
  cycle, anchor_day, week_start FROM billing_profiles;
DROP TABLE billing_profiles;
CREATE TABLE billing_profiles (
  account TEXT PRIMARY KEY REFERENCES accounts(id) DEFERRABLE INITIALLY DEFERRED,
  address TEXT NOT NULL, country TEXT NOT NULL, vat_number TEXT NOT NULL,
  time_zone TEXT NOT NULL, currency TEXT NOT NULL,
  cycle TEXT NOT NULL, anchor_day INTEGER NOT NULL, week_start INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO billing_profiles SELECT * FROM old_profiles;
DROP TABLE old_profiles;
)sql")
                    .ok());
    ASSERT_TRUE(BillingDb::SetSchemaVersion(*txn, "tenancy", 3).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  Open();
  {
    auto txn = db_->Begin();
    ASSERT_TRUE(txn.ok());
    EXPECT_EQ(BillingDb::SchemaVersion(*txn, "tenancy").value(), 4);
  }
  ASSERT_EQ(store_->Current()->billing_profiles().size(), 2u);
  EXPECT_EQ(store_->Current()->FindBillingProfile("acme")->region, "");
  EXPECT_EQ(store_->Current()->FindBillingProfile("acme")->vat_number, "GB123456789");
  auto again = store_->Apply(kProfiles, DocFormat::kYaml);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed());
}

}  // namespace billing_profile_test
}  // namespace meterd::engine::tenancy
