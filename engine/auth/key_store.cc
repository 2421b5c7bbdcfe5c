// meterd — engine/auth/key_store.cc
#include "engine/auth/key_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "storage/io/file.h"

namespace meterd::engine {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return Hex(digest, len);
}

Result<std::string> RandomHex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(bytes)) != 1) {
    return Status::IOError("keys: the system's random source failed");
  }
  return Hex(buf.data(), bytes);
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kAgent:
      return "agent";
    case Role::kBilling:
      return "billing";
    case Role::kAdmin:
      return "admin";
    case Role::kCustomer:
      return "customer";
  }
  return "?";
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "agent") return Role::kAgent;
  if (name == "billing") return Role::kBilling;
  if (name == "admin") return Role::kAdmin;
  if (name == "customer") return Role::kCustomer;
  return std::nullopt;
}

Result<std::unique_ptr<KeyStore>> KeyStore::Open(const std::string& dir,
                                                 std::string* bootstrap_key) {
  bootstrap_key->clear();
  std::unique_ptr<KeyStore> ks(new KeyStore(dir));
  METERD_RETURN_IF_ERROR(storage::CreateDirIfMissing(dir));
  const std::string path = dir + "/keys.json";
  if (!storage::FileExists(path)) {
    std::lock_guard lock(ks->mu_);
    KeyInfo info;
    METERD_ASSIGN_OR_RETURN(*bootstrap_key,
                            ks->CreateLocked(Role::kAdmin, "", "", "bootstrap admin", &info));
    // The bootstrap secret goes to admin.key, readable by the owner only; written before
    // keys.json so a crash in between leaves no unknown admin key behind.
    const std::string key_path = dir + "/admin.key";
    const std::string tmp = key_path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Status::FromErrno("keys: create " + tmp, errno);
    const std::string line = *bootstrap_key + "\n";
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                    ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!ok) return Status::FromErrno("keys: write " + tmp, err);
    METERD_RETURN_IF_ERROR(storage::RenameFile(tmp, key_path));
    METERD_RETURN_IF_ERROR(ks->SaveLocked());
    return ks;
  }
  std::string text;
  METERD_RETURN_IF_ERROR(storage::ReadWholeFile(path, &text));
  try {
    const auto doc = nlohmann::json::parse(text);
    // /1 has no customer keys and no "account"; /2 adds both (docs/format-registry.md).
    const std::string format = doc.at("format").get<std::string>();
    if (format != "meterd-keys/1" && format != "meterd-keys/2") {
      return Status::Corruption(path + ": unknown format " + doc.at("format").dump());
    }
    for (const auto& k : doc.at("keys")) {
      Entry e;
      e.info.id = k.at("id").get<std::string>();
      auto role = ParseRole(k.at("role").get<std::string>());
      if (!role) return Status::Corruption(path + ": bad role in key " + e.info.id);
      e.info.role = *role;
      e.info.hypervisor = k.value("hypervisor", "");
      e.info.account = k.value("account", "");
      if (e.info.role == Role::kCustomer && e.info.account.empty()) {
        return Status::Corruption(path + ": customer key " + e.info.id + " has no account");
      }
      e.info.name = k.value("name", "");
      e.info.created = k.value("created", int64_t{0});
      e.info.revoked = k.value("revoked", false);
      e.sha256_hex = k.at("sha256").get<std::string>();
      ks->keys_[e.info.id] = std::move(e);
    }
  } catch (const std::exception& ex) {
    return Status::Corruption(path + ": " + ex.what());
  }
  return ks;
}

Status KeyStore::SaveLocked() const {
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& [id, e] : keys_) {
    keys.push_back({{"id", id},
                    {"role", RoleName(e.info.role)},
                    {"hypervisor", e.info.hypervisor},
                    {"account", e.info.account},
                    {"name", e.info.name},
                    {"created", e.info.created},
                    {"revoked", e.info.revoked},
                    {"sha256", e.sha256_hex}});
  }
  nlohmann::json doc = {{"format", "meterd-keys/2"}, {"keys", keys}};
  return storage::WriteFileAtomic(dir_ + "/keys.json", doc.dump(2) + "\n");
}

Result<std::string> KeyStore::CreateLocked(Role role, std::string_view hypervisor,
                                           std::string_view account, std::string_view name,
                                           KeyInfo* info) {
  if (role == Role::kAgent && hypervisor.empty()) {
    return Status::InvalidArgument("an agent key needs --hypervisor");
  }
  if (role != Role::kAgent && !hypervisor.empty()) {
    return Status::InvalidArgument("only agent keys are bound to a hypervisor");
  }
  if (role == Role::kCustomer && account.empty()) {
    return Status::InvalidArgument("a customer key needs --account");
  }
  if (role != Role::kCustomer && !account.empty()) {
    return Status::InvalidArgument("only customer keys are bound to an account");
  }
  METERD_ASSIGN_OR_RETURN(std::string id, RandomHex(8));
  METERD_ASSIGN_OR_RETURN(std::string secret, RandomHex(32));
  const std::string key = "mk_" + id + "_" + secret;
  Entry e;
  e.info = KeyInfo{id,
                   role,
                   std::string(hypervisor),
                   std::string(account),
                   std::string(name),
                   std::time(nullptr),
                   false};
  e.sha256_hex = Sha256Hex(key);
  *info = e.info;
  keys_[id] = std::move(e);
  return key;
}

Result<std::string> KeyStore::Create(Role role, std::string_view hypervisor,
                                     std::string_view account, std::string_view name,
                                     KeyInfo* info) {
  std::lock_guard lock(mu_);
  METERD_ASSIGN_OR_RETURN(std::string key, CreateLocked(role, hypervisor, account, name, info));
  if (Status s = SaveLocked(); !s.ok()) {
    keys_.erase(info->id);
    return s;
  }
  return key;
}

Status KeyStore::Revoke(std::string_view id) {
  std::lock_guard lock(mu_);
  auto it = keys_.find(id);
  if (it == keys_.end()) return Status::NotFound("no key with id " + std::string(id));
  if (it->second.info.revoked) return Status::OK();
  it->second.info.revoked = true;
  if (Status s = SaveLocked(); !s.ok()) {
    it->second.info.revoked = false;
    return s;
  }
  revocations_.fetch_add(1, std::memory_order_acq_rel);
  return Status::OK();
}

bool KeyStore::IsActive(std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = keys_.find(id);
  return it != keys_.end() && !it->second.info.revoked;
}

std::vector<KeyInfo> KeyStore::List() const {
  std::lock_guard lock(mu_);
  std::vector<KeyInfo> out;
  for (const auto& [id, e] : keys_) out.push_back(e.info);
  return out;
}

Result<Principal> KeyStore::Authenticate(std::string_view key) const {
  const Status denied = Status::Unauthenticated("unknown or revoked API key");
  // mk_ + 16 hex + _ + 64 hex
  if (key.size() != 3 + 16 + 1 + 64 || key.substr(0, 3) != "mk_" || key[19] != '_') return denied;
  const std::string digest = Sha256Hex(key);
  std::lock_guard lock(mu_);
  auto it = keys_.find(key.substr(3, 16));
  if (it == keys_.end() || it->second.info.revoked) return denied;
  if (it->second.sha256_hex.size() != digest.size() ||
      CRYPTO_memcmp(digest.data(), it->second.sha256_hex.data(), digest.size()) != 0) {
    return denied;
  }
  return Principal{it->second.info};
}

}  // namespace meterd::engine
