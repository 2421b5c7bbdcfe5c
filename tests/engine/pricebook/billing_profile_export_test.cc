// meterd — tests/engine/pricebook/billing_profile_export_test.cc
//
// Billing profiles in the catalog read back (ExportCatalog): the section comes after resources
// when there is a profile and not at all when there is none (a catalog without profiles exports
// as before), each profile writes its zone and cycle and only the fields that are set, an
// export applied back changes nothing, and one account's profile is found by id.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/pricebook/billing_store.h"
#include "engine/pricebook/catalog_export.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::pricebook {
namespace billing_profile_export_test {

using tenancy::DocFormat;

constexpr const char* kAccounts = R"(domains:
  - id: root
accounts:
  - id: acme
    domain: root
  - id: globex
    domain: root
)";

class BillingProfileExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = BillingStore::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->Apply(kAccounts, DocFormat::kYaml).ok());
  }
  nlohmann::ordered_json Export(const ExportFilter& filter) {
    auto doc = ExportCatalog(store_->Current(), filter);
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

TEST_F(BillingProfileExportTest, SectionOnlyWhenThereIsAProfile) {
  const std::vector<std::string> without = Keys(Export({}));
  EXPECT_EQ(std::count(without.begin(), without.end(), "billing_profiles"), 0);
  EXPECT_EQ(Export({"billing_profiles", ""})["billing_profiles"], nlohmann::ordered_json::array());

  auto r = store_->Apply(R"(billing_profiles:
  - account: globex
    country: IN
    time_zone: Asia/Kolkata
    cycle: weekly
    week_start: sunday
  - account: acme
    address: "1 Long Acre\nLondon"
    country: GB
    vat_number: GB123456789
    currency: GBP
    cycle: monthly_anchored
    anchor_day: 30
)",
                         DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  const nlohmann::ordered_json doc = Export({});
  EXPECT_EQ(Keys(doc),
            (std::vector<std::string>{"schema", "locations", "plan_groups", "plans", "domains",
                                      "accounts", "projects", "resources", "billing_profiles",
                                      "price_books", "subscriptions"}));
  // By account, fields in document order; defaults left out but the zone and the cycle.
  const auto& profiles = doc["billing_profiles"];
  ASSERT_EQ(profiles.size(), 2u);
  EXPECT_EQ(profiles[0].dump(),
            R"({"account":"acme","address":"1 Long Acre\nLondon","country":"GB",)"
            R"("vat_number":"GB123456789","time_zone":"UTC","currency":"GBP",)"
            R"("cycle":"monthly_anchored","anchor_day":30})");
  EXPECT_EQ(profiles[1].dump(),
            R"({"account":"globex","country":"IN","time_zone":"Asia/Kolkata","cycle":"weekly",)"
            R"("week_start":"sunday"})");

  // Applied back: nothing changes.
  auto again = store_->Apply(doc.dump(2), DocFormat::kJson);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->applied);
  EXPECT_FALSE(again->changed());

  // One account's, by id; an account without one, by name.
  EXPECT_EQ(Export({"billing_profiles", "globex"})["billing_profiles"][0], profiles[1]);
  ASSERT_TRUE(store_
                  ->Apply(R"(accounts:
  - id: initech
    domain: root
)",
                          DocFormat::kYaml)
                  .ok());
  auto none = ExportCatalog(store_->Current(), {"billing_profiles", "initech"});
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsNotFound());
  EXPECT_EQ(none.status().message(), "account \"initech\" has no billing profile");
  auto unknown = ExportCatalog(store_->Current(), {"billing_profiles", "nobody"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "account \"nobody\" has no billing profile (it is not an account)");
}

}  // namespace billing_profile_export_test
}  // namespace meterd::engine::pricebook
