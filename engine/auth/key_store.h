// meterd — engine/auth/key_store.h
//
// API keys and their roles. A key is "mk_<id>_<secret>": <id> (16 hex digits) names the key
// in listings and revocations, <secret> is 32 random bytes in hex. The server keeps only the
// SHA-256 of the whole key (keys.json, docs/format-registry.md), so a stolen data directory
// yields no usable key. Roles:
//   agent   ingest for the hypervisor the key is bound to (and define its series/resources)
//   billing queries (export, stats, usage)
//   admin   everything, including keys and the metric catalog
//   customer reads of the one account the key is bound to: its usage, charges, balance and
//           invoices (a self-service portal); anything else is refused (MeterService)
// A fresh directory gets a first admin key, written to DIR/admin.key with mode 0600.
//
// Thread-safety: thread-safe (one mutex; authentication happens once per connection).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/base/result.h"

namespace meterd::engine {

enum class Role : uint8_t { kAgent = 1, kBilling = 2, kAdmin = 3, kCustomer = 4 };
const char* RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

struct KeyInfo {
  std::string id;
  Role role = Role::kAgent;
  std::string hypervisor;  // agent keys only
  std::string account;     // customer keys only
  std::string name;
  int64_t created = 0;  // unix seconds
  bool revoked = false;
};

struct Principal {
  KeyInfo key;
  bool is_admin() const { return key.role == Role::kAdmin; }
};

class KeyStore {
 public:
  // Opens DIR/keys.json, creating it with a first admin key when missing; that key's secret is
  // then in *bootstrap_key (and in DIR/admin.key, mode 0600).
  static Result<std::unique_ptr<KeyStore>> Open(const std::string& dir, std::string* bootstrap_key);

  // Creates a key; returns the whole secret key (shown once). Agent keys need a hypervisor and
  // customer keys an account; other roles take neither.
  Result<std::string> Create(Role role, std::string_view hypervisor, std::string_view account,
                             std::string_view name, KeyInfo* info);
  Status Revoke(std::string_view id);
  std::vector<KeyInfo> List() const;
  // Unauthenticated for an unknown, malformed or revoked key (one message for all three, so a
  // caller learns nothing about which keys exist).
  Result<Principal> Authenticate(std::string_view key) const;
  // Whether the key with this id is still valid (not revoked, not removed).
  bool IsActive(std::string_view id) const;
  // Bumped by every revocation: sessions recheck their key when it changes, so a revoked key
  // stops working on open connections too.
  uint64_t revocations() const { return revocations_.load(std::memory_order_acquire); }

 private:
  struct Entry {
    KeyInfo info;
    std::string sha256_hex;
  };
  explicit KeyStore(std::string dir) : dir_(std::move(dir)) {}
  Status SaveLocked() const;
  Result<std::string> CreateLocked(Role role, std::string_view hypervisor, std::string_view account,
                                   std::string_view name, KeyInfo* info);

  std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> keys_;  // GUARDED_BY(mu_) by id
  std::atomic<uint64_t> revocations_{0};
};

}  // namespace meterd::engine
