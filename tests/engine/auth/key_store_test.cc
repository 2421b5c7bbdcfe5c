// meterd — tests/engine/auth/key_store_test.cc
#include "engine/auth/key_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "storage/io/file.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace key_store_test {

TEST(KeyStoreTest, AFreshDirectoryGetsOneAdminKeyInAPrivateFile) {
  testing::TempDir dir;
  std::string bootstrap;
  auto ks = KeyStore::Open(dir.path(), &bootstrap);
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  ASSERT_EQ(bootstrap.size(), 84u);
  EXPECT_EQ(bootstrap.substr(0, 3), "mk_");
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/admin.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string file;
  ASSERT_TRUE(storage::ReadWholeFile(dir.path() + "/admin.key", &file).ok());
  EXPECT_EQ(file, bootstrap + "\n");
  auto who = ks.value()->Authenticate(bootstrap);
  ASSERT_TRUE(who.ok());
  EXPECT_TRUE(who->is_admin());
  // Reopening creates nothing new.
  std::string again;
  auto ks2 = KeyStore::Open(dir.path(), &again);
  ASSERT_TRUE(ks2.ok());
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(ks2.value()->List().size(), 1u);
  EXPECT_TRUE(ks2.value()->Authenticate(bootstrap).ok());
}

TEST(KeyStoreTest, KeysAreStoredOnlyAsHashes) {
  testing::TempDir dir;
  std::string bootstrap;
  auto ks = KeyStore::Open(dir.path(), &bootstrap);
  KeyInfo info;
  auto agent = ks.value()->Create(Role::kAgent, "hv-7", "", "rack 7", &info);
  ASSERT_TRUE(agent.ok());
  std::string json;
  ASSERT_TRUE(storage::ReadWholeFile(dir.path() + "/keys.json", &json).ok());
  EXPECT_EQ(json.find(agent.value().substr(20)), std::string::npos);  // the secret
  EXPECT_EQ(json.find(bootstrap.substr(20)), std::string::npos);
  EXPECT_NE(json.find("meterd-keys/2"), std::string::npos);
  EXPECT_NE(json.find("hv-7"), std::string::npos);
}

TEST(KeyStoreTest, AuthenticateRolesAndRevocation) {
  testing::TempDir dir;
  std::string bootstrap;
  auto ks = std::move(KeyStore::Open(dir.path(), &bootstrap)).value();
  KeyInfo info;
  EXPECT_EQ(ks->Create(Role::kAgent, "", "", "", &info).status().code(),
            Status::Code::kInvalidArgument);  // an agent key needs its hypervisor
  auto agent = ks->Create(Role::kAgent, "hv-1", "", "", &info);
  ASSERT_TRUE(agent.ok());
  auto who = ks->Authenticate(agent.value());
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->key.role, Role::kAgent);
  EXPECT_EQ(who->key.hypervisor, "hv-1");
  // Wrong secret, malformed, unknown: one answer for all.
  std::string wrong = agent.value();
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  for (const std::string& bad : {wrong, std::string("mk_short"), std::string(""),
                                 "mk_0000000000000000_" + std::string(64, '0')}) {
    EXPECT_EQ(ks->Authenticate(bad).status().code(), Status::Code::kUnauthenticated) << bad;
  }
  const uint64_t before = ks->revocations();
  EXPECT_TRUE(ks->IsActive(info.id));
  ASSERT_TRUE(ks->Revoke(info.id).ok());
  EXPECT_GT(ks->revocations(), before);
  EXPECT_FALSE(ks->IsActive(info.id));
  EXPECT_EQ(ks->Authenticate(agent.value()).status().code(), Status::Code::kUnauthenticated);
  EXPECT_EQ(ks->Revoke("0000000000000000").code(), Status::Code::kNotFound);
  // Revocation is durable.
  std::string none;
  auto reopened = std::move(KeyStore::Open(dir.path(), &none)).value();
  EXPECT_EQ(reopened->Authenticate(agent.value()).status().code(), Status::Code::kUnauthenticated);
  EXPECT_TRUE(reopened->Authenticate(bootstrap).ok());
}

TEST(KeyStoreTest, RoleNamesRoundTrip) {
  for (Role r : {Role::kAgent, Role::kBilling, Role::kAdmin, Role::kCustomer}) {
    EXPECT_EQ(ParseRole(RoleName(r)), r);
  }
  EXPECT_FALSE(ParseRole("root").has_value());
}

// A customer key is bound to one account, kept across a reopen; the binding is checked both
// ways (a customer key needs an account, no other role takes one).
TEST(KeyStoreTest, CustomerKeysAreBoundToOneAccount) {
  testing::TempDir dir;
  std::string bootstrap;
  auto ks = std::move(KeyStore::Open(dir.path(), &bootstrap)).value();
  KeyInfo info;
  EXPECT_EQ(ks->Create(Role::kCustomer, "", "", "portal", &info).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ks->Create(Role::kBilling, "", "acct-1", "", &info).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ks->Create(Role::kCustomer, "hv-1", "acct-1", "", &info).status().code(),
            Status::Code::kInvalidArgument);
  auto key = ks->Create(Role::kCustomer, "", "acct-1", "portal", &info);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(info.account, "acct-1");
  std::string none;
  auto reopened = std::move(KeyStore::Open(dir.path(), &none)).value();
  auto who = reopened->Authenticate(key.value());
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->key.role, Role::kCustomer);
  EXPECT_EQ(who->key.account, "acct-1");
  EXPECT_FALSE(who->is_admin());
}

// A keys.json written by a meterd before customer keys ("meterd-keys/1", no "account") still
// opens; a customer key without its account is refused as damage, not taken unbound.
TEST(KeyStoreTest, ReadsVersion1AndRefusesAnUnboundCustomerKey) {
  testing::TempDir dir;
  const std::string v1 =
      R"({"format": "meterd-keys/1", "keys": [{"id": "00000000000000aa", "role": "billing",
          "hypervisor": "", "name": "", "created": 1, "revoked": false, "sha256": "00"}]})";
  ASSERT_TRUE(storage::WriteFileAtomic(dir.path() + "/keys.json", v1).ok());
  std::string none;
  auto ks = KeyStore::Open(dir.path(), &none);
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  ASSERT_EQ(ks.value()->List().size(), 1u);
  EXPECT_EQ(ks.value()->List()[0].account, "");
  const std::string bad =
      R"({"format": "meterd-keys/2", "keys": [{"id": "00000000000000ab", "role": "customer",
          "hypervisor": "", "account": "", "name": "", "created": 1, "revoked": false,
          "sha256": "00"}]})";
  ASSERT_TRUE(storage::WriteFileAtomic(dir.path() + "/keys.json", bad).ok());
  EXPECT_EQ(KeyStore::Open(dir.path(), &none).status().code(), Status::Code::kCorruption);
}

}  // namespace key_store_test
}  // namespace meterd::engine
