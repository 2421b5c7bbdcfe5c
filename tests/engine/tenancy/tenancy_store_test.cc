// meterd — tests/engine/tenancy/tenancy_store_test.cc: apply, validation, durability.
#include "engine/tenancy/tenancy_store.h"

#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

namespace meterd::engine::tenancy {
namespace tenancy_store_test {

constexpr int64_t kFeb1 = 1485907200;       // 2017-02-01T00:00:00Z
constexpr int64_t kFeb10At14 = 1486735200;  // 2017-02-10T14:00:00Z

constexpr const char* kModel = R"(locations:
  - id: lon1
    name: London 1
plan_groups:
  - id: standard
plans:
  - id: copper
    group: standard
    vcpus: 1
    memory_bytes: 536870912
  - id: silver
    group: standard
    vcpus: 1
    memory_bytes: 4294967296
domains:
  - id: bu1.corporate.com
    parent: corporate.com
  - id: corporate.com
accounts:
  - id: bu1user1
    domain: bu1.corporate.com
    currency: GBP
projects:
  - id: web
    account: bu1user1
  - id: batch
    account: bu1user1
resources:
  - id: vm-1
    versions:
      - effective_from: 2017-02-01T00:00:00Z
        type: vm
        project: web
        location: lon1
        plan: copper
      - effective_from: 2017-02-10T14:00:00Z
        plan: silver
)";

class TenancyStoreTest : public ::testing::Test {
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
  void SetUp() override { Open(); }

  testing::TempDir dir_;
  std::unique_ptr<BillingDb> db_;
  std::unique_ptr<TenancyStore> store_;
};

TEST_F(TenancyStoreTest, ApplyCreatesThenIsIdempotent) {
  auto r1 = store_->Apply(kModel, DocFormat::kYaml);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_TRUE(r1->applied);
  EXPECT_EQ(r1->Count(ChangeKind::kCreated), 10u);  // 1 location, 1 group, 2 plans, 2 domains,
                                                    // 1 account, 2 projects, 1 resource
  EXPECT_EQ(r1->Count(ChangeKind::kUpdated), 0u);
  auto t = store_->Current();
  EXPECT_EQ(t->AttributesAt("vm-1", kFeb10At14 - 3600)->plan, "copper");
  EXPECT_EQ(t->AttributesAt("vm-1", kFeb10At14)->plan, "silver");
  // The second version inherited type, project and location.
  EXPECT_EQ(t->AttributesAt("vm-1", kFeb10At14)->project, "web");
  EXPECT_EQ(t->AttributesAt("vm-1", kFeb10At14)->location, "lon1");

  auto r2 = store_->Apply(kModel, DocFormat::kYaml);
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->applied);
  EXPECT_FALSE(r2->changed());
  EXPECT_EQ(r2->Count(ChangeKind::kUnchanged), 10u);
  EXPECT_EQ(r2->Summary(), "nothing changed (10 entities unchanged)");
  EXPECT_EQ(store_->Current(), t);  // the same snapshot: nothing was published
}

TEST_F(TenancyStoreTest, UpdatesAndNewVersionsAreReported) {
  ASSERT_TRUE(store_->Apply(kModel, DocFormat::kYaml).ok());
  // A partial document: rename the location, move vm-1 to batch on the 20th.
  auto r = store_->Apply(R"(locations:
  - id: lon1
    name: London One
resources:
  - id: vm-1
    versions:
      - effective_from: 2017-02-20T00:00:00Z
        project: batch
)",
                         DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Count(ChangeKind::kUpdated), 2u);
  EXPECT_EQ(r->changes[0].detail, "name");
  EXPECT_EQ(r->changes[1].detail, "+1 version 2017-02-20T00:00:00Z");
  auto t = store_->Current();
  ASSERT_EQ(t->Versions("vm-1").size(), 3u);
  const int64_t feb20 = kFeb1 + 19 * 86400;
  EXPECT_EQ(t->AttributesAt("vm-1", feb20)->project, "batch");
  EXPECT_EQ(t->AttributesAt("vm-1", feb20)->plan, "silver");  // inherited from the stored version
  EXPECT_EQ(t->AttributesAt("vm-1", feb20 - 3600)->project, "web");
}

TEST_F(TenancyStoreTest, SurvivesReopen) {
  ASSERT_TRUE(store_->Apply(kModel, DocFormat::kYaml).ok());
  Open();
  auto t = store_->Current();
  EXPECT_EQ(t->plans().size(), 2u);
  EXPECT_EQ(t->FindPlan("silver")->memory_bytes, 4294967296u);
  EXPECT_EQ(t->FindDomain("bu1.corporate.com")->parent, "corporate.com");
  EXPECT_EQ(t->FindAccount("bu1user1")->currency, "GBP");
  EXPECT_EQ(t->AttributesAt("vm-1", kFeb10At14)->plan, "silver");
  EXPECT_EQ(t->AttributesAt("vm-1", kFeb1)->plan, "copper");
  auto again = store_->Apply(kModel, DocFormat::kYaml);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed());
}

TEST_F(TenancyStoreTest, ValidationErrorsNameLineAndFieldAndChangeNothing) {
  ASSERT_TRUE(store_->Apply(kModel, DocFormat::kYaml).ok());
  const auto before = store_->Current();
  std::vector<DocError> errors;
  auto r = store_->Apply(R"(locations:
  - id: par1
plans:
  - id: gold
    group: premium
    vcpus: -1
accounts:
  - id: acct2
    domain: corporate.com
    allow_negative_balance: maybe
resources:
  - id: vm-9
    versions:
      - effective_from: 2017-02-01T00:00:00Z
        type: vm
        project: nowhere
        colour: blue
)",
                         DocFormat::kYaml, &errors);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument());
  std::vector<std::string> lines;
  for (const DocError& e : errors) lines.push_back(e.ToString());
  const std::vector<std::string> expected = {
      "line 5: plans[0].group \"premium\" is not a known plan group",
      "line 6: plans[0].vcpus must be between 0 and 1048576, not -1",
      "line 10: accounts[0].allow_negative_balance must be true or false, not \"maybe\"",
      "line 17: resources[0].versions[0].colour is not a known field",
      "line 16: resources[0].versions[0].project \"nowhere\" is not a known project",
  };
  EXPECT_EQ(lines, expected);
  // The status lists the same errors, one per line.
  EXPECT_NE(r.status().message().find(expected[0]), std::string::npos);
  // All or nothing: par1 (valid on its own) was not created, even after a reopen.
  EXPECT_EQ(store_->Current(), before);
  Open();
  EXPECT_EQ(store_->Current()->FindLocation("par1"), nullptr);
  EXPECT_EQ(store_->Current()->accounts().size(), 1u);
}

TEST_F(TenancyStoreTest, VersionsAreAppendOnly) {
  ASSERT_TRUE(store_->Apply(kModel, DocFormat::kYaml).ok());
  std::vector<DocError> errors;
  auto r = store_->Apply(R"(resources:
  - id: vm-1
    versions:
      - effective_from: 2017-02-10T14:00:00Z
        plan: copper
)",
                         DocFormat::kYaml, &errors);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 4);
  EXPECT_EQ(errors[0].path, "resources[0].versions[0].effective_from");
  EXPECT_NE(errors[0].message.find("append-only"), std::string::npos);
  // The database refuses too, whoever writes to it.
  auto txn = db_->Begin();
  ASSERT_TRUE(txn.ok());
  EXPECT_FALSE(txn->Exec("UPDATE resource_versions SET plan = 'copper'").ok());
  EXPECT_FALSE(txn->Exec("DELETE FROM resource_versions").ok());
}

TEST_F(TenancyStoreTest, VersionsMustBeListedOldestFirst) {
  std::vector<DocError> errors;
  std::string doc = kModel;
  doc += R"(  - id: vm-2
    versions:
      - effective_from: 2017-02-05T00:00:00Z
        type: vm
        project: web
      - effective_from: 2017-02-04T00:00:00Z
        plan: copper
)";
  auto r = store_->Apply(doc, DocFormat::kYaml, &errors);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].ToString(),
            "line 43: resources[1].versions[1].effective_from must be later than "
            "versions[0].effective_from (versions are listed oldest first)");
}

TEST_F(TenancyStoreTest, ProjectsAndAccountsNeverMove) {
  ASSERT_TRUE(store_->Apply(kModel, DocFormat::kYaml).ok());
  std::vector<DocError> errors;
  auto r = store_->Apply(R"(accounts:
  - id: other
    domain: corporate.com
projects:
  - id: web
    account: other
)",
                         DocFormat::kYaml, &errors);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 6);
  EXPECT_NE(errors[0].message.find("never moves to another account"), std::string::npos);
}

TEST_F(TenancyStoreTest, DomainCyclesAndDuplicatesAreRefused) {
  std::vector<DocError> errors;
  auto r = store_->Apply(R"(domains:
  - id: a
    parent: b
  - id: b
    parent: a
  - id: c
  - id: c
)",
                         DocFormat::kYaml, &errors);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].ToString(),
            "line 7: domains[3].id \"c\" appears twice in domains (first on line 6)");
  EXPECT_NE(errors[1].message.find("cycle"), std::string::npos);
}

TEST_F(TenancyStoreTest, JsonDocumentsApplyAndReportLines) {
  std::vector<DocError> errors;
  auto r = store_->Apply(R"({
  "locations": [{"id": "lon1"}],
  "plans": [
    {"id": "copper",
     "vcpus": "x"}
  ]
})",
                         DocFormat::kJson, &errors);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].ToString(), "line 5: plans[0].vcpus must be a whole number, not \"x\"");
  auto ok = store_->Apply(R"({"locations": [{"id": "lon1", "name": "London"}]})", DocFormat::kAuto);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(store_->Current()->FindLocation("lon1")->name, "London");
}

TEST_F(TenancyStoreTest, UnknownSectionsAndSchema) {
  std::vector<DocError> errors;
  auto r = store_->Apply("schema: meterd/v2\nplanz: []\n", DocFormat::kYaml, &errors);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].ToString(),
            "line 1: schema must be meterd/v1 (the format this meterd reads)");
  EXPECT_EQ(errors[1].ToString(), "line 2: planz is not a tenancy section");
}

TEST_F(TenancyStoreTest, DryRunWritesNothing) {
  auto r = store_->Apply(kModel, DocFormat::kYaml, nullptr, /*dry_run=*/true);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->changed());
  EXPECT_FALSE(r->applied);
  EXPECT_TRUE(store_->Current()->plans().empty());
}

TEST_F(TenancyStoreTest, BackdatedVersionIsAllowedAndSaysSo) {
  ASSERT_TRUE(store_->Apply(kModel, DocFormat::kYaml).ok());
  auto r = store_->Apply(R"(resources:
  - id: vm-1
    versions:
      - effective_from: 2017-02-05T00:00:00Z
        plan: silver
)",
                         DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->changes[0].detail.find("backdated"), std::string::npos);
  EXPECT_EQ(store_->Current()->AttributesAt("vm-1", kFeb1 + 4 * 86400)->plan, "silver");
  EXPECT_EQ(store_->Current()->Versions("vm-1").size(), 3u);
}

TEST_F(TenancyStoreTest, DeletionsAndAgentIdsApplyAndSurviveReopen) {
  ASSERT_TRUE(store_->Apply(kModel, DocFormat::kYaml).ok());
  auto r = store_->Apply(R"(resources:
  - id: vm-1
    agent_id: 6f1c0e2a-8d4b-4b0e-9a51-2c7d9e3f1a77
    versions:
      - effective_from: 2017-02-20T10:30:00Z
        deleted: true
)",
                         DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->changes.back().detail, "+1 version 2017-02-20T10:30:00Z, agent_id");
  const int64_t feb20 = kFeb1 + 19 * 86400;
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto t = store_->Current();
    EXPECT_TRUE(t->AttributesAt("vm-1", feb20 + 10 * 3600).ok());
    EXPECT_FALSE(t->AttributesAt("vm-1", feb20 + 11 * 3600).ok());
    EXPECT_EQ(t->ResourceForSeries("6f1c0e2a-8d4b-4b0e-9a51-2c7d9e3f1a77"), 0u);
    Open();
  }
  // Only the name or agent id of an existing resource may change without a version.
  auto rename = store_->Apply("resources:\n  - id: vm-1\n    name: web-1\n", DocFormat::kYaml);
  ASSERT_TRUE(rename.ok()) << rename.status().ToString();
  EXPECT_EQ(store_->Current()->FindResource("vm-1")->name, "web-1");
  EXPECT_FALSE(store_->Apply("resources:\n  - id: vm-new\n    name: x\n", DocFormat::kYaml).ok());
}

TEST_F(TenancyStoreTest, BadDeletionsAreRefusedWithTheirLine) {
  ASSERT_TRUE(store_->Apply(kModel, DocFormat::kYaml).ok());
  std::vector<DocError> errors;
  auto attrs = store_->Apply(R"(resources:
  - id: vm-1
    versions:
      - effective_from: 2017-02-20T00:00:00Z
        deleted: true
        plan: copper
)",
                             DocFormat::kYaml, &errors);
  ASSERT_FALSE(attrs.ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("takes no attributes"), std::string::npos);
  errors.clear();
  auto first = store_->Apply(R"(resources:
  - id: vm-9
    versions:
      - effective_from: 2017-02-20T00:00:00Z
        deleted: true
)",
                             DocFormat::kYaml, &errors);
  ASSERT_FALSE(first.ok());
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].message.find("first version cannot be a deletion"), std::string::npos)
      << errors[0].message;
  ASSERT_TRUE(store_
                  ->Apply("resources:\n  - id: vm-1\n    versions:\n      - effective_from: "
                          "2017-02-20T00:00:00Z\n        deleted: true\n",
                          DocFormat::kYaml)
                  .ok());
  errors.clear();
  auto again = store_->Apply(
      "resources:\n  - id: vm-1\n    versions:\n      - effective_from: "
      "2017-02-21T00:00:00Z\n        deleted: true\n",
      DocFormat::kYaml, &errors);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(errors.at(0).message.find("already deleted"), std::string::npos);
}

TEST_F(TenancyStoreTest, SchemaVersionOneIsMigrated) {
  // A billing.db written by the previous meterd: its resources tables without agent_id and
  // deleted, and the tenancy module at version 1.
  store_.reset();
  db_.reset();
  testing::TempDir old_dir;
  {
    auto db = BillingDb::Open(BillingDb::PathIn(old_dir.path()));
    ASSERT_TRUE(db.ok());
    auto txn = (*db)->Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(txn->Exec(R"sql(
CREATE TABLE projects (id TEXT PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE resources (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE resource_versions (resource TEXT NOT NULL, effective_from INTEGER NOT NULL,
  type TEXT NOT NULL, project TEXT NOT NULL, location TEXT, plan TEXT,
  storage_tier TEXT NOT NULL, PRIMARY KEY (resource, effective_from)) WITHOUT ROWID;
CREATE TABLE domains (id TEXT PRIMARY KEY, name TEXT NOT NULL, parent TEXT);
CREATE TABLE accounts (id TEXT PRIMARY KEY, domain TEXT NOT NULL, name TEXT NOT NULL,
  currency TEXT NOT NULL, allow_negative_balance INTEGER NOT NULL);
INSERT INTO domains VALUES('d', 'D', NULL);
INSERT INTO accounts VALUES('a', 'd', 'A', '', 0);
INSERT INTO projects VALUES('p', 'a', 'P');
INSERT INTO resources VALUES('vm-old', 'old');
INSERT INTO resource_versions VALUES('vm-old', 1485907200, 'vm', 'p', NULL, NULL, '');
)sql")
                    .ok());
    ASSERT_TRUE(BillingDb::SetSchemaVersion(*txn, "tenancy", 1).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  auto db = BillingDb::Open(BillingDb::PathIn(old_dir.path()));
  ASSERT_TRUE(db.ok());
  auto store = TenancyStore::Open(db->get());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto t = (*store)->Current();
  ASSERT_NE(t->FindResource("vm-old"), nullptr);
  EXPECT_EQ(t->FindResource("vm-old")->agent_id, "");
  EXPECT_FALSE(t->FindResource("vm-old")->versions[0].deleted);
  auto txn = (*db)->Begin();
  ASSERT_TRUE(txn.ok());
  // Straight to the current version (4: billing_profiles and the invoicing tables), in the
  // same transaction.
  EXPECT_EQ(BillingDb::SchemaVersion(*txn, "tenancy").value(), 4);
}

}  // namespace tenancy_store_test
}  // namespace meterd::engine::tenancy
