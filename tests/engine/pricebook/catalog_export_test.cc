// meterd — tests/engine/pricebook/catalog_export_test.cc: the catalog read back as the document
// `meterctl apply` reads, so that applying an export changes nothing.
#include "engine/pricebook/catalog_export.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/testing/temp_dir.h"

namespace meterd::engine::pricebook {
namespace catalog_export_test {

using tenancy::ChangeKind;
using tenancy::DocFormat;

// docs/examples/catalog.yaml of the source tree (an absolute path from CMake: __FILE__ is
// relative to the build directory under Ninja, and CTest runs tests from another directory).
std::string SampleCatalog() {
  std::ifstream in(std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What the sample creates: 2 locations, 2 plan groups, 6 plans, 2 domains, 2 accounts,
// 3 projects, 6 resources, 1 price book version, 2 subscriptions.
constexpr size_t kSampleEntities = 26;

class CatalogExportTest : public ::testing::Test {
 protected:
  static std::unique_ptr<BillingStore> OpenStore(const testing::TempDir& dir) {
    auto s = BillingStore::Open(dir.path());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  void SetUp() override {
    store_ = OpenStore(dir_);
    ASSERT_NE(store_, nullptr);
    auto r = store_->Apply(SampleCatalog(), DocFormat::kYaml);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  nlohmann::ordered_json Export(const ExportFilter& filter, bool with_metrics = true) {
    auto doc = ExportCatalog(store_->Current(), filter, with_metrics ? &metrics_ : nullptr);
    EXPECT_TRUE(doc.ok()) << doc.status().ToString();
    return doc.ok() ? std::move(doc).value() : nlohmann::ordered_json();
  }
  // Applies `doc` (as JSON text) to `store`; the report.
  static tenancy::ApplyReport Reapply(BillingStore* store, const nlohmann::ordered_json& doc) {
    std::vector<tenancy::DocError> errors;
    auto r = store->Apply(doc.dump(2), DocFormat::kJson, &errors);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : tenancy::ApplyReport();
  }

  testing::TempDir dir_;
  std::unique_ptr<BillingStore> store_;
  MetricCatalog metrics_;
};

TEST_F(CatalogExportTest, ExportOfEverythingReappliesUnchanged) {
  const nlohmann::ordered_json doc = Export({});
  ASSERT_TRUE(doc.is_object());
  // Every section, in the order apply reads them, after the schema.
  std::vector<std::string> keys;
  for (const auto& [k, v] : doc.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"schema", "locations", "plan_groups", "plans",
                                            "domains", "accounts", "projects", "resources",
                                            "price_books", "subscriptions"}));
  EXPECT_EQ(doc["schema"], "meterd/v1");
  EXPECT_EQ(doc["plans"].size(), 6u);
  EXPECT_EQ(doc["resources"].size(), 6u);
  EXPECT_EQ(doc["price_books"].size(), 1u);
  EXPECT_EQ(doc["price_books"][0]["products"].size(), 17u);

  const tenancy::ApplyReport rep = Reapply(store_.get(), doc);
  EXPECT_FALSE(rep.applied);
  EXPECT_FALSE(rep.changed());
  EXPECT_EQ(rep.Count(ChangeKind::kCreated), 0u);
  EXPECT_EQ(rep.Count(ChangeKind::kUpdated), 0u);
  EXPECT_EQ(rep.Count(ChangeKind::kUnchanged), kSampleEntities);
  for (const tenancy::ApplyChange& c : rep.changes) {
    EXPECT_EQ(c.kind, ChangeKind::kUnchanged) << c.entity << " " << c.id << ": " << c.detail;
  }
}

TEST_F(CatalogExportTest, ExportRecreatesTheCatalogInAnEmptyStore) {
  const nlohmann::ordered_json doc = Export({});
  testing::TempDir other;
  std::unique_ptr<BillingStore> copy = OpenStore(other);
  ASSERT_NE(copy, nullptr);
  const tenancy::ApplyReport rep = Reapply(copy.get(), doc);
  EXPECT_TRUE(rep.applied);
  EXPECT_EQ(rep.Count(ChangeKind::kCreated), kSampleEntities);
  // The copy exports the same document, and its price book is the same content.
  auto again = ExportCatalog(copy->Current(), {}, &metrics_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->dump(), doc.dump());
  EXPECT_TRUE(
      copy->Current().price_book->Latest()->SameContent(*store_->Current().price_book->Latest()));
}

TEST_F(CatalogExportTest, WithoutTheMetricCatalogEveryUsageProductCarriesItsDivisor) {
  const nlohmann::ordered_json doc = Export({}, /*with_metrics=*/false);
  const auto& products = doc["price_books"][0]["products"];
  for (const auto& p : products) {
    if (p["model"] != "subscription") {
      EXPECT_TRUE(p.contains("divisor")) << p.dump();
    }
  }
  EXPECT_FALSE(Reapply(store_.get(), doc).changed());
}

TEST_F(CatalogExportTest, ProductsAreWrittenAsTheDocumentWritesThem) {
  const nlohmann::ordered_json doc = Export({"price_books", "1"});
  ASSERT_EQ(doc["price_books"].size(), 1u);
  const auto& v = doc["price_books"][0];
  EXPECT_EQ(v["version"], 1);
  EXPECT_EQ(v["effective_from"], "2017-02-01T00:00:00Z");
  EXPECT_EQ(v["rounding"], "half_even");
  EXPECT_EQ(v["default_currency"], "GBP");
  EXPECT_EQ(v["currencies"][0]["code"], "EUR");  // sorted by code
  EXPECT_EQ(v["currencies"][0]["per_credit"], "1.1634");
  auto product = [&](const std::string& id) {
    for (const auto& p : v["products"]) {
      if (p["id"] == id) return p;
    }
    return nlohmann::ordered_json();
  };
  const auto copper = product("running.copper");
  EXPECT_EQ(copper["metric"], "vm.state");
  EXPECT_EQ(copper["states"], nlohmann::ordered_json::array({"running"}));
  EXPECT_EQ(copper["match"]["plan"], "copper");
  EXPECT_EQ(copper["unit"], "h");
  EXPECT_FALSE(copper.contains("divisor"));
  EXPECT_EQ(copper["price"], "2.2");
  EXPECT_EQ(copper["cap"], "672");
  EXPECT_EQ(product("stopped.any")["states"],
            nlohmann::ordered_json::array({"stopped", "allocated"}));
  const auto sent = product("net.sent");
  EXPECT_EQ(sent["model"], "graduated");
  EXPECT_EQ(sent["tiers"][0]["up_to"], "1000");
  EXPECT_EQ(sent["tiers"][1]["price"], "1.8");
  EXPECT_FALSE(sent["tiers"][2].contains("up_to"));  // the last tier takes the rest
  EXPECT_EQ(product("disk.write-ops")["package"]["size"], "10");
  EXPECT_EQ(product("net.received")["free"], "10");
  EXPECT_EQ(product("ip.address")["minimum"], "0.1");
  EXPECT_EQ(product("disk.large-sata-100")["price"], "0.0069");
  EXPECT_EQ(product("disk.large-sata-100")["unit"], "GB·h");
  const auto ddos = product("ddos");
  EXPECT_EQ(ddos["one_time_fee"], "150");
  EXPECT_EQ(ddos["monthly_fee"], "500");
  EXPECT_EQ(ddos["proration"], "hourly");
  EXPECT_FALSE(ddos.contains("metric"));
  EXPECT_FALSE(product("backup.daily").contains("one_time_fee"));
}

TEST_F(CatalogExportTest, OneEntityById) {
  const nlohmann::ordered_json plan = Export({"plans", "copper"});
  ASSERT_EQ(plan.size(), 2u);  // schema and plans only
  ASSERT_EQ(plan["plans"].size(), 1u);
  EXPECT_EQ(plan["plans"][0]["id"], "copper");
  EXPECT_EQ(plan["plans"][0]["group"], "standard");
  EXPECT_EQ(plan["plans"][0]["memory_bytes"], 536870912u);
  EXPECT_EQ(plan["plans"][0]["disk_bytes"], 10737418240u);

  const nlohmann::ordered_json account = Export({"accounts", "bu1user1"});
  ASSERT_EQ(account["accounts"].size(), 1u);
  EXPECT_EQ(account["accounts"][0]["domain"], "bu1.corporate.com");
  EXPECT_EQ(account["accounts"][0]["currency"], "GBP");
  EXPECT_EQ(account["accounts"][0]["allow_negative_balance"], false);

  // Both versions of the resize, each with every attribute (the second does not lean on the
  // first for its location).
  const nlohmann::ordered_json vm = Export({"resources", "vm-1001"});
  ASSERT_EQ(vm["resources"].size(), 1u);
  const auto& versions = vm["resources"][0]["versions"];
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0]["effective_from"], "2017-02-01T00:00:00Z");
  EXPECT_EQ(versions[0]["plan"], "copper");
  EXPECT_EQ(versions[1]["effective_from"], "2017-02-10T14:00:00Z");
  EXPECT_EQ(versions[1]["plan"], "silver");
  EXPECT_EQ(versions[1]["location"], "lon1");
  EXPECT_EQ(versions[1]["project"], "bu1user1-web");

  const nlohmann::ordered_json sub = Export({"subscriptions", "sub-bu1user1-ddos"});
  ASSERT_EQ(sub["subscriptions"].size(), 1u);
  EXPECT_EQ(sub["subscriptions"][0]["start"], "2017-02-01T00:00:00Z");
  EXPECT_FALSE(sub["subscriptions"][0].contains("end"));

  // Each applies alone and changes nothing.
  for (const auto* doc : {&plan, &account, &vm, &sub}) {
    const tenancy::ApplyReport rep = Reapply(store_.get(), *doc);
    EXPECT_FALSE(rep.changed());
    EXPECT_EQ(rep.Count(ChangeKind::kUnchanged), 1u);
  }
}

TEST_F(CatalogExportTest, UnknownIdsAndSectionsAreRefusedByName) {
  const BillingSnapshot snap = store_->Current();
  auto plan = ExportCatalog(snap, {"plans", "gold"});
  ASSERT_FALSE(plan.ok());
  EXPECT_TRUE(plan.status().IsNotFound());
  EXPECT_NE(plan.status().message().find("plan \"gold\""), std::string::npos);
  auto version = ExportCatalog(snap, {"price_books", "9"});
  ASSERT_FALSE(version.ok());
  EXPECT_TRUE(version.status().IsNotFound());
  EXPECT_NE(version.status().message().find("price book version \"9\""), std::string::npos);
  EXPECT_FALSE(ExportCatalog(snap, {"price_books", "one"}).ok());
  auto section = ExportCatalog(snap, {"planz", ""});
  ASSERT_FALSE(section.ok());
  EXPECT_TRUE(section.status().IsInvalidArgument());
  EXPECT_NE(section.status().message().find("\"planz\""), std::string::npos);
  EXPECT_NE(section.status().message().find("plan_groups"), std::string::npos);
  EXPECT_TRUE(ExportCatalog(snap, {"", "copper"}).status().IsInvalidArgument());
  EXPECT_TRUE(ExportCatalog(snap, {"all", ""}).ok());
}

// The corners the sample does not reach: a cleared attribute in a later resource version, a
// unit of one's own with its divisor, a second price book version, an ended subscription with a
// quantity and a description.
TEST_F(CatalogExportTest, CornersSurviveTheRoundTrip) {
  const std::string more = R"(
resources:
  - id: vm-1001
    versions:
      - effective_from: 2017-03-01T00:00:30Z
        plan: ""
        storage_tier: ""
price_books:
  - version: 2
    effective_from: 2017-03-01T00:00:00Z
    description: March
    rounding: up
    default_currency: GBP
    currencies:
      - {code: GBP, per_credit: "1", prefix: "£", suffix: "", minor_digits: 2}
      - {code: SEK, per_credit: "11.5", prefix: "", suffix: " kr", minor_digits: 0}
    products:
      - id: cpu.time
        metric: vm.cpu_time_ns
        unit: vCPU-seconds
        divisor: 1000000000
        price: "0.000001"
      - id: state.seven
        metric: vm.state
        states: ["7", running]
        match: {location: par1, storage_tier: ssd}
        unit: min
        price: "0.01"
        minimum: "0.5"
      - id: backup.daily
        name: BU1-EndUser-DailyBackup
        group: Subscriptions
        model: subscription
        monthly_fee: "13"
subscriptions:
  - id: sub-bu1user2-backup
    account: bu1user2
    product: backup.daily
    quantity: 3
    start: 2017-03-05T10:15:00Z
    end: 2017-04-01T00:00:00Z
    description: three copies
)";
  auto r = store_->Apply(more, DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->applied);

  const nlohmann::ordered_json doc = Export({});
  ASSERT_EQ(doc["resources"][1]["id"], "vm-1001");  // by id: ip-3001, vm-1001, ...
  ASSERT_EQ(doc["resources"][1]["versions"].size(), 3u);
  const auto& v3 = doc["resources"][1]["versions"][2];
  EXPECT_EQ(v3["effective_from"], "2017-03-01T00:00:30Z");
  EXPECT_EQ(v3["plan"], "");
  EXPECT_EQ(v3["storage_tier"], "");
  EXPECT_EQ(v3["location"], "lon1");
  const auto& v2 = doc["price_books"][1];
  EXPECT_EQ(v2["rounding"], "up");
  EXPECT_EQ(v2["currencies"][1]["suffix"], " kr");
  EXPECT_EQ(v2["products"][1]["id"], "cpu.time");
  EXPECT_EQ(v2["products"][1]["unit"], "vCPU·seconds");
  EXPECT_EQ(v2["products"][1]["divisor"], 1000000000u);
  EXPECT_EQ(v2["products"][2]["states"], nlohmann::ordered_json::array({"running", "7"}));
  const auto& sub = doc["subscriptions"][2];
  EXPECT_EQ(sub["id"], "sub-bu1user2-backup");
  EXPECT_EQ(sub["quantity"], 3);
  EXPECT_EQ(sub["end"], "2017-04-01T00:00:00Z");

  const tenancy::ApplyReport rep = Reapply(store_.get(), doc);
  EXPECT_FALSE(rep.changed());
  EXPECT_EQ(rep.Count(ChangeKind::kUnchanged), kSampleEntities + 2);

  testing::TempDir other;
  std::unique_ptr<BillingStore> copy = OpenStore(other);
  ASSERT_NE(copy, nullptr);
  EXPECT_TRUE(Reapply(copy.get(), doc).applied);
  auto again = ExportCatalog(copy->Current(), {}, &metrics_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->dump(), doc.dump());
}

}  // namespace catalog_export_test
}  // namespace meterd::engine::pricebook
