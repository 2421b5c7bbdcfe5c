// meterd — engine/ledger/ledger_impl.h
//
// Internals of the Ledger (engine/ledger/ledger.h), shared by its two files:
//   ledger_load.cc  Open: schema, and the in-memory state rebuilt from the tables;
//   ledger.cc       Post, BookHour, settings, reads.
//
// Thread-safety: `write_mu` serialises every change (one database transaction at a time);
// `mu` guards the in-memory state, taken exclusively only to publish a committed change, so
// balance reads never wait for the database.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/ledger/ledger.h"

namespace meterd::engine::ledger {

// Snapshot an account's balance every this many entries, so that Open sums at most this many
// entries per account on top of its latest snapshot (a year of hourly debits is ~9,000).
constexpr uint32_t kSnapshotEvery = 256;

// billing.db's page cache while the ledger is open (PRAGMA cache_size, KiB): an hour of
// 100,000 accounts dirties ~60,000 index pages (4 KiB) of ledger_entries_account and
// ledger_entries_month; they must fit, or SQLite spills them to the WAL again and again
// within the transaction. 512 MiB is a cap, filled only as pages are read.
constexpr int64_t kPageCacheKiB = 512 * 1024;

struct Grant {
  int64_t id = 0;
  MicroCredits remaining = 0;
  int64_t expires_at = 0;
};

// Maps keyed by account id that a string_view looks up without a copy.
struct AccountHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using AccountMap = std::unordered_map<std::string, V, AccountHash, std::equal_to<>>;

// One account's in-memory book.
struct Book {
  MicroCredits balance = 0;
  int64_t last_entry = 0;
  AccountState state = AccountState::kOk;
  std::vector<Grant> grants;  // unused rest > 0, by (expires_at, id)
  uint32_t since_snapshot = 0;

  MicroCredits GrantTotal() const {
    MicroCredits t = 0;
    for (const Grant& g : grants) t += g.remaining;
    return t;
  }
};

struct Ledger::Impl {
  tenancy::BillingDb* db = nullptr;
  events::EventLog* events = nullptr;
  TenancySource tenancy;

  std::mutex write_mu;  // serialises changes
  mutable std::shared_mutex mu;
  AccountMap<Book> books;                                      // GUARDED_BY(mu)
  std::map<int64_t, AccountMap<MicroCredits>> billed;          // GUARDED_BY(mu)
  std::map<std::string, ScopeSettings, std::less<>> settings;  // GUARDED_BY(mu)
  std::optional<int64_t> next_hour, clock_start;               // GUARDED_BY(mu)

  Status Load();
  ResolvedSettings ResolveLocked(std::string_view account, const tenancy::Tenancy* tenancy) const;
};

// Converts a ledger row read with kEntryColumns into an Entry.
constexpr std::string_view kEntryColumns =
    "id, account, kind, amount, at, hour, month, grant_id, reference, expires_at, currency, "
    "currency_amount, actor, reason, created_at";
Entry EntryFromRow(const tenancy::Statement& st);

}  // namespace meterd::engine::ledger
