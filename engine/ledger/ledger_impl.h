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

// A checkpoint of every account's balance is written once the entries since the last one
// reach this many per account (and at least kCheckpointMinEntries): about every 16 closed
// hours. Open then reads one checkpoint and at most that many entries per account after it;
// a checkpoint costs one row per account, appended in key order.
constexpr uint64_t kCheckpointEntriesPerAccount = 16;
constexpr uint64_t kCheckpointMinEntries = 256;

// billing.db's page cache while the ledger is open (PRAGMA cache_size, KiB). A closed hour
// appends to the right edge of its B-trees, so it needs few pages; the cap matters for the
// one-off migration to schema version 3 (indexes rebuilt over every entry) and for large
// reads. A cap, filled only as pages are read.
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
  uint32_t holds = 0;         // holds in force (Impl::holds): suspended whatever the balance

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
  AccountMap<Book> books;                                           // GUARDED_BY(mu)
  std::map<int64_t, AccountMap<MicroCredits>> billed;               // GUARDED_BY(mu)
  std::map<std::string, ScopeSettings, std::less<>> settings;       // GUARDED_BY(mu)
  std::optional<int64_t> next_hour, clock_start;                    // GUARDED_BY(mu)
  std::map<std::string, std::set<std::string>, std::less<>> holds;  // GUARDED_BY(mu)
  uint64_t entries_since_checkpoint = 0;                            // GUARDED_BY(write_mu)

  Status Load();
  // Writes a checkpoint (docs/ledger.md, "Checkpoints") when enough entries were written since
  // the last, in its own transaction: it is derived data, so a crash before it only makes the
  // next Open read more entries. REQUIRES: write_mu held; mu not held.
  Status MaybeCheckpoint(int64_t now);
  // MaybeCheckpoint after a change was committed: a failure is logged, not returned, since
  // the change itself stands (its caller must not retry it).
  void CheckpointAfterCommit(int64_t now);
  ResolvedSettings ResolveLocked(std::string_view account, const tenancy::Tenancy* tenancy) const;
  // Nothing is set below the global scope "*": every account resolves to the same settings.
  // REQUIRES: mu held.
  bool GlobalOnlyLocked() const {
    return settings.empty() || (settings.size() == 1 && settings.count("*") == 1);
  }
};

// Converts a ledger row read with kEntryColumns into an Entry.
constexpr std::string_view kEntryColumns =
    "id, account, kind, amount, at, hour, month, grant_id, reference, expires_at, currency, "
    "currency_amount, actor, reason, created_at";
Entry EntryFromRow(const tenancy::Statement& st);

}  // namespace meterd::engine::ledger
