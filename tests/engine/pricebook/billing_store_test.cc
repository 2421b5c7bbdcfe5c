// meterd — tests/engine/pricebook/billing_store_test.cc: the catalog document end to end.
#include "engine/pricebook/billing_store.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/testing/temp_dir.h"

namespace meterd::engine::pricebook {
namespace billing_store_test {

using tenancy::ChangeKind;
using tenancy::DocError;
using tenancy::DocFormat;

constexpr int64_t kFeb1 = 1485907200;   // 2017-02-01T00:00:00Z
constexpr int64_t kFeb15 = 1487116800;  // 2017-02-15T00:00:00Z

// docs/examples/catalog.yaml of the source tree (an absolute path from CMake: __FILE__ is
// relative to the build directory under Ninja, and CTest runs tests from another directory).
std::string SampleCatalog() {
  std::ifstream in(std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::vector<DocError>& errors) {
  std::vector<std::string> out;
  for (const DocError& e : errors) out.push_back(e.ToString());
  return out;
}

class BillingStoreTest : public ::testing::Test {
 protected:
  void Open() {
    store_.reset();
    auto s = BillingStore::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void SetUp() override {
    Open();
    sample_ = SampleCatalog();
    ASSERT_FALSE(sample_.empty());
  }
  void ApplySample() {
    auto r = store_->Apply(sample_, DocFormat::kYaml);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  testing::TempDir dir_;
  std::unique_ptr<BillingStore> store_;
  std::string sample_;
};

TEST_F(BillingStoreTest, SampleCatalogAppliesOnceThenChangesNothing) {
  auto r = store_->Apply(sample_, DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->applied);
  EXPECT_EQ(r->Count(ChangeKind::kUpdated), 0u);
  // 2 locations, 2 plan groups, 6 plans, 2 domains, 2 accounts, 3 projects, 6 resources,
  // 1 price book version, 2 subscriptions.
  EXPECT_EQ(r->Count(ChangeKind::kCreated), 26u);
  const BillingSnapshot snap = store_->Current();
  ASSERT_EQ(snap.price_book->versions().size(), 1u);
  const PriceBookVersion& v = *snap.price_book->Latest();
  EXPECT_EQ(v.effective_from, kFeb1);
  EXPECT_EQ(v.products.size(), 17u);
  EXPECT_EQ(v.FindProduct("running.copper")->unit_price, 2'200'000);
  EXPECT_EQ(v.FindProduct("running.copper")->cap_raw, 672u * 3600);
  EXPECT_EQ(v.FindProduct("disk.large-sata-100")->unit_price, 6'900);  // 0.0069 per GB·h
  EXPECT_EQ(v.FindProduct("disk.large-sata-100")->divisor, 3'600'000'000'000u);
  EXPECT_EQ(v.FindCurrency("EUR")->per_credit.units(), 1'163'400'000);
  EXPECT_EQ(snap.subscriptions->subscriptions.size(), 2u);
  // The resize at 14:00 on the 10th, through the snapshot the rating layer reads.
  EXPECT_EQ(snap.tenancy->AttributesAt("vm-1001", 1486735200 - 3600)->plan, "copper");
  EXPECT_EQ(snap.tenancy->AttributesAt("vm-1001", 1486735200)->plan, "silver");

  auto again = store_->Apply(sample_, DocFormat::kYaml);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed());
  EXPECT_FALSE(again->applied);
  EXPECT_EQ(again->Count(ChangeKind::kUnchanged), 26u);
  EXPECT_EQ(store_->Current().price_book, snap.price_book);  // nothing republished
}

TEST_F(BillingStoreTest, SurvivesReopenIdentically) {
  ApplySample();
  const BillingSnapshot before = store_->Current();
  Open();
  const BillingSnapshot after = store_->Current();
  ASSERT_EQ(after.price_book->versions().size(), 1u);
  EXPECT_TRUE(after.price_book->Latest()->SameContent(*before.price_book->Latest()));
  EXPECT_EQ(after.subscriptions->subscriptions, before.subscriptions->subscriptions);
  EXPECT_EQ(after.tenancy->resources().size(), 6u);
  auto again = store_->Apply(sample_, DocFormat::kYaml);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed());
}

TEST_F(BillingStoreTest, ResolvesTheSeedInvoiceProducts) {
  ApplySample();
  const BillingSnapshot snap = store_->Current();
  const PriceBookVersion& v = *snap.price_book->VersionAt(kFeb1);
  auto resolve = [&](const char* resource, int64_t hour, const char* metric, uint32_t state) {
    auto a = snap.tenancy->AttributesAt(resource, hour);
    EXPECT_TRUE(a.ok()) << resource;
    const Product* p = v.Resolve(
        metric, state, MatchKey{a->type, a->plan, a->plan_group, a->location, a->storage_tier});
    return p ? p->id : std::string("-");
  };
  EXPECT_EQ(resolve("vm-1001", kFeb1, "vm.state", 1), "running.copper");
  EXPECT_EQ(resolve("vm-1001", kFeb15, "vm.state", 1), "running.silver");
  EXPECT_EQ(resolve("vm-1001", kFeb1, "vm.state", 2), "stopped.any");  // no Copper stopped price
  EXPECT_EQ(resolve("vm-1002", kFeb1, "vm.state", 3), "stopped.bronze");
  EXPECT_EQ(resolve("vol-2001", kFeb1, "disk.size_bytes", 0), "disk.large-sata-100");
  EXPECT_EQ(resolve("vol-2002", kFeb1, "disk.size_bytes", 0), "disk.root");
  EXPECT_EQ(resolve("ip-3001", kFeb1, "ip.count", 0), "ip.address");
  EXPECT_EQ(resolve("vm-1001", kFeb1, "vm.vcpus", 0), "-");  // not priced in this book
}

TEST_F(BillingStoreTest, EstimateExplainsEachLine) {
  ApplySample();
  EstimateRequest req;
  req.plan = "copper";
  req.location = "lon1";
  req.storage_tier = "sata";
  auto est = store_->EstimateCost(req);
  ASSERT_TRUE(est.ok()) << est.status().ToString();
  // Running: 2.2 / h; 730 h capped at 672 h: 672 x 2.2 = 1478.4 credits.
  // Root disk: 10 GiB = 10,737,418,240 B = 10.73741824 GB, x 0.0038 = 0.040802189312 / h
  //   -> 40,802 µc for one hour; 730 h: 29,785,598.19776 -> 29,785,598 µc.
  ASSERT_EQ(est->lines.size(), 2u);
  EXPECT_EQ(est->lines[0].product->id, "running.copper");
  EXPECT_EQ(est->lines[0].hourly, 2'200'000);
  EXPECT_EQ(est->lines[0].period, 1'478'400'000);
  EXPECT_EQ(est->lines[1].product->id, "disk.root");
  EXPECT_EQ(est->lines[1].hourly, 40'802);
  EXPECT_EQ(est->lines[1].period, 29'785'598);
  EXPECT_EQ(est->hourly_total, 2'240'802);
  EXPECT_EQ(est->period_total, 1'508'185'598);
  EXPECT_EQ(est->notes.size(), 2u);  // vCPUs and memory have no product in this book
  EXPECT_EQ(est->lines[0].explanation,
            "1 h/h x 730 h: 672 h x 2.2 = 1478.4; 58 h above the cap (672 h) not charged; "
            "= 1478.4 credits");
  // In euros: 1508.185598 credits x 1.1634 = 1754.6231247... -> EUR 1,754.62.
  const Currency& eur = *est->version->FindCurrency("EUR");
  EXPECT_EQ(FormatMinor(ToMinorUnits(est->period_total, eur, est->version->rounding).value(), eur),
            "EUR 1,754.62");
  req.plan = "platinum";
  EXPECT_TRUE(store_->EstimateCost(req).status().IsNotFound());
}

TEST_F(BillingStoreTest, ErrorsNameLineAndFieldAndNothingChanges) {
  std::vector<DocError> errors;
  auto r = store_->Apply(R"(locations:
  - id: lon1
price_books:
  - version: 1
    effective_from: 2017-02-01T00:00:00Z
    default_currency: GBP
    currencies:
      - code: GBP
        per_credit: "1"
    products:
      - id: net.sent
        metric: net.tx_bytes
        unit: GB
        model: graduated
        tiers:
          - up_to: 1000
            price: "0.05"
          - up_to: 500
            price: "0.04"
          - price: "0.03"
      - id: running
        metric: vm.state
        states: [running, dancing]
        unit: GB
        price: "0.0000001"
      - id: ghost
        metric: vm.ghost
        unit: h
        price: "1"
)",
                         DocFormat::kYaml, &errors);
  ASSERT_FALSE(r.ok());
  const std::vector<std::string> expected = {
      "line 18: price_books[0].products[0].tiers[1].up_to must be greater than tiers[0].up_to "
      "(1000)",
      "line 23: price_books[0].products[1].states[1] \"dancing\" is not a state of vm.state "
      "(running, stopped, allocated, paused, suspended, deleted or 0-7)",
      "line 24: price_books[0].products[1].unit \"GB\" is not a billing unit of a state in state "
      "(one of: h, min, s; or give `divisor` for a unit of your own)",
      "line 25: price_books[0].products[1].price \"0.0000001\" has more than 6 decimal places: "
      "prices are whole micro-credits (per billing unit; use a larger unit for a smaller price)",
      "line 27: price_books[0].products[2].metric \"vm.ghost\" is not a known metric "
      "(docs/metrics.md)",
  };
  EXPECT_EQ(Lines(errors), expected);
  // All or nothing: the valid location was not created either.
  EXPECT_TRUE(store_->Current().tenancy->locations().empty());
  EXPECT_TRUE(store_->Current().price_book->empty());
  Open();
  EXPECT_TRUE(store_->Current().tenancy->locations().empty());
}

TEST_F(BillingStoreTest, ProductReferencesAndModelFieldsAreChecked) {
  std::vector<DocError> errors;
  auto r = store_->Apply(R"(price_books:
  - version: 1
    effective_from: 2017-02-01T00:30:00Z
    default_currency: EUR
    currencies:
      - code: GBP
        per_credit: "1"
    products:
      - id: a
        metric: vm.state
        states: [running]
        match: {plan: nope}
        unit: h
        price: "1"
        tiers: []
      - id: b
        metric: vm.state
        states: [running]
        unit: h
        price: "1"
      - id: c
        metric: vm.state
        states: [running]
        unit: h
        price: "2"
)",
                         DocFormat::kYaml, &errors);
  ASSERT_FALSE(r.ok());
  const std::vector<std::string> expected = {
      "line 3: price_books[0].effective_from must be a whole hour (prices change between hours)",
      "line 4: price_books[0].default_currency \"EUR\" is not one of the currencies",
      "line 15: price_books[0].products[0].tiers applies to graduated and volume products only, "
      "not per_unit",
      "line 12: price_books[0].products[0].match.plan \"nope\" is not a known plan",
      "line 21: price_books[0].products[2].match prices the same usage as product b (same "
      "metric, states and match): resolution would be ambiguous",
  };
  EXPECT_EQ(Lines(errors), expected);
}

TEST_F(BillingStoreTest, PriceBookVersionsAreAppendOnly) {
  ApplySample();
  // Changing version 1 in place is refused...
  std::string changed = sample_;
  const std::string from = "price: \"2.2\"";
  changed.replace(changed.find(from), from.size(), "price: \"2.0\"");
  std::vector<DocError> errors;
  auto r = store_->Apply(changed, DocFormat::kYaml, &errors);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("already stored with other content"), std::string::npos);
  EXPECT_NE(errors[0].message.find("publish the change as version 2"), std::string::npos);
  // ... and the same change as version 2 from the 15th is appended.
  std::string v2 = changed;
  v2.replace(v2.find("  - version: 1"), 14, "  - version: 2");
  v2.replace(v2.find("effective_from: 2017-02-01T00:00:00Z\n    description"), 36,
             "effective_from: 2017-02-15T00:00:00Z");
  // The tenancy and subscriptions in the file are unchanged; only the version is new.
  r = store_->Apply(v2, DocFormat::kYaml, &errors);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Count(ChangeKind::kCreated), 1u);
  const BillingSnapshot snap = store_->Current();
  ASSERT_EQ(snap.price_book->versions().size(), 2u);
  EXPECT_EQ(snap.price_book->VersionAt(kFeb15 - 3600)->FindProduct("running.copper")->unit_price,
            2'200'000);
  EXPECT_EQ(snap.price_book->VersionAt(kFeb15)->FindProduct("running.copper")->unit_price,
            2'000'000);
  // A version number that skips one.
  std::string v4 = v2;
  v4.replace(v4.find("  - version: 2"), 14, "  - version: 4");
  v4.replace(v4.find("effective_from: 2017-02-15T00:00:00Z"), 36,
             "effective_from: 2017-03-01T00:00:00Z");
  r = store_->Apply(v4, DocFormat::kYaml, &errors);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(errors.at(0).message, "must be 3, the next version number");
  // Versions survive a reopen; the database refuses to rewrite them.
  Open();
  EXPECT_EQ(store_->Current().price_book->versions().size(), 2u);
  auto txn = store_->db()->Begin();
  ASSERT_TRUE(txn.ok());
  EXPECT_FALSE(txn->Exec("UPDATE price_book_versions SET body = '{}'").ok());
  EXPECT_FALSE(txn->Exec("DELETE FROM price_book_versions").ok());
}

TEST_F(BillingStoreTest, SubscriptionsAreUpdatedByIdWithFixedAccountAndProduct) {
  ApplySample();
  auto r = store_->Apply(R"(subscriptions:
  - id: sub-bu1user1-backup
    account: bu1user1
    product: backup.daily
    start: 2017-02-01T00:00:00Z
    end: 2017-04-01T00:00:00Z
)",
                         DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_EQ(r->changes[0].kind, ChangeKind::kUpdated);
  EXPECT_EQ(r->changes[0].detail, "end");
  EXPECT_EQ(store_->Current().subscriptions->Find("sub-bu1user1-backup")->end, 1491004800);
  std::vector<DocError> errors;
  r = store_->Apply(R"(subscriptions:
  - id: sub-bu1user1-backup
    account: bu1user1
    product: ddos
    start: 2017-02-01T00:00:00Z
  - id: sub-x
    account: bu1user1
    product: running.copper
    start: 2017-02-01T00:00:00Z
  - id: sub-y
    account: nobody
    product: ddos
    start: 2016-01-01T00:00:00Z
)",
                    DocFormat::kYaml, &errors);
  ASSERT_FALSE(r.ok());
  const std::vector<std::string> expected = {
      "line 2: subscriptions[0] subscription sub-bu1user1-backup is of account bu1user1 to "
      "backup.daily; its account and product never change (end it and create another)",
      "line 8: subscriptions[1].product \"running.copper\" is not a subscription product of "
      "price book version 1 (in force at start)",
      "line 11: subscriptions[2].account \"nobody\" is not a known account",
      "line 13: subscriptions[2].start no price book version is in force at "
      "2016-01-01T00:00:00Z",
  };
  EXPECT_EQ(Lines(errors), expected);
}

TEST_F(BillingStoreTest, JsonDocument) {
  const char* doc = R"({
  "schema": "meterd/v1",
  "locations": [{"id": "lon1"}],
  "price_books": [{
    "version": 1,
    "effective_from": "2017-02-01T00:00:00Z",
    "default_currency": "GBP",
    "currencies": [{"code": "GBP", "per_credit": "1"}],
    "products": [
      {"id": "ip", "metric": "ip.count", "unit": "h", "price": 0.0012},
      {"id": "bad", "metric": "ip.count", "unit": "h", "price": 0.0012, "cap": -1}
    ]
  }]
})";
  std::vector<DocError> errors;
  auto r = store_->Apply(doc, DocFormat::kAuto, &errors);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Lines(errors), std::vector<std::string>{
                               "line 11: price_books[0].products[1].cap must be greater than 0"});
  std::string fixed = doc;
  fixed.erase(fixed.find(",\n      {\"id\": \"bad\""),
              fixed.find("\n    ]") - fixed.find(",\n      {\"id\": \"bad\""));
  r = store_->Apply(fixed, DocFormat::kAuto, &errors);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // The price was written as a JSON number and is still exact: 0.0012 = 1,200 µc.
  EXPECT_EQ(store_->Current().price_book->Latest()->FindProduct("ip")->unit_price, 1'200);
}

// Only applies that reach back to a closed hour count as changes of closed hours: a VM created
// or resized effective now does not make the billing clock re-rate the month.
TEST_F(BillingStoreTest, RetroChangesCountOnlyAppliesThatReachAClosedHour) {
  int64_t closed_before = kFeb15;
  ApplySample();
  const uint64_t before = store_->Current().retro_changes;
  EXPECT_EQ(before, 1u);  // unset: every apply counts
  store_->SetClosedBefore([&closed_before] { return closed_before; });
  auto apply = [&](const std::string& doc) {
    auto r = store_->Apply(doc, DocFormat::kYaml);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->applied);
  };
  auto vm = [](const std::string& id, const std::string& from, const std::string& plan) {
    return "resources:\n  - id: " + id + "\n    versions:\n      - effective_from: " + from +
           "\n        type: vm\n        project: bu1user1-web\n        location: lon1\n"
           "        plan: " +
           plan + "\n";
  };
  apply(vm("vm-now", "2017-02-15T00:30:00Z", "copper"));  // in the open hour
  EXPECT_EQ(store_->Current().retro_changes, before);
  apply(vm("vm-later", "2017-02-16T00:00:00Z", "copper"));
  EXPECT_EQ(store_->Current().retro_changes, before);
  apply(vm("vm-past", "2017-02-14T23:59:59Z", "copper"));  // its hour 23:00 is closed
  EXPECT_EQ(store_->Current().retro_changes, before + 1);
  // A resize effective in the open hour does not count; one back-dated into a closed hour does.
  apply(
      "resources:\n  - id: vm-now\n    versions:\n      - effective_from: "
      "2017-02-15T01:00:00Z\n        plan: silver\n");
  EXPECT_EQ(store_->Current().retro_changes, before + 1);
  closed_before = kFeb15 + 3 * 3600;
  apply(
      "resources:\n  - id: vm-now\n    versions:\n      - effective_from: "
      "2017-02-15T02:00:00Z\n        plan: bronze\n");
  EXPECT_EQ(store_->Current().retro_changes, before + 2);
  // An update of another entity may change any hour; a new one changes none.
  apply("accounts:\n  - id: bu1user1\n    domain: bu1.corporate.com\n    name: renamed\n");
  EXPECT_EQ(store_->Current().retro_changes, before + 3);
  apply("locations:\n  - id: ams9\n    name: Amsterdam 9\n");
  EXPECT_EQ(store_->Current().retro_changes, before + 3);
}

}  // namespace billing_store_test
}  // namespace meterd::engine::pricebook
