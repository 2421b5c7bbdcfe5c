// meterd — engine/ledger/ledger_load.cc: the ledger's schema, the in-memory state rebuilt
// from its tables at Open, and the checkpoints that keep that rebuild short.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "engine/ledger/ledger_impl.h"
#include "engine/ledger/ledger_schema.h"
#include "engine/pricebook/pricing.h"

namespace meterd::engine::ledger {

using tenancy::Statement;
using tenancy::Transaction;

Entry EntryFromRow(const Statement& st) {
  Entry e;
  e.id = st.Int(0);
  e.account = st.Text(1);
  e.kind = ParseEntryKind(st.Text(2)).value_or(EntryKind::kAdjustment);
  e.amount = st.Int(3);
  e.at = st.Int(4);
  if (!st.IsNull(5)) e.hour = st.Int(5);
  if (!st.IsNull(6)) e.month = st.Int(6);
  e.grant_id = st.IsNull(7) ? 0 : st.Int(7);
  e.reference = st.IsNull(8) ? "" : st.Text(8);
  e.expires_at = st.IsNull(9) ? 0 : st.Int(9);
  e.currency = st.Text(10);
  e.currency_amount = st.Text(11);
  e.actor = st.Text(12);
  e.reason = st.Text(13);
  e.created_at = st.Int(14);
  return e;
}

namespace {

// The ledger's DDL: the tables, and a trigger pair refusing UPDATE and DELETE on each.
std::string LedgerDdl() {
  std::string ddl(kLedgerSchema);
  for (std::string_view table : kAppendOnlyTablesV1) {
    const std::string t(table);
    for (const char* op : {"UPDATE", "DELETE"}) {
      ddl += "CREATE TRIGGER IF NOT EXISTS " + t + "_no_" + op + " BEFORE " + op + " ON " + t +
             " BEGIN SELECT RAISE(ABORT, '" + t + " is append-only'); END;\n";
    }
  }
  return ddl;
}

// Creates version 1 on a new file, then runs the migrations the file lacks, in one
// transaction: a crash leaves the old version or the new one, never half of a migration.
Status CreateSchema(tenancy::BillingDb* db) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db->Begin());
  METERD_ASSIGN_OR_RETURN(int64_t stored, tenancy::BillingDb::SchemaVersion(txn, kLedgerModule));
  if (stored == kLedgerSchemaVersion) return Status::OK();  // read only: rolls back
  if (stored > kLedgerSchemaVersion) {
    // EnsureSchema words the refusal the way every module does.
    return tenancy::BillingDb::EnsureSchema(txn, kLedgerModule, kLedgerSchemaVersion, "");
  }
  if (stored < 1) METERD_RETURN_IF_ERROR(txn.Exec(LedgerDdl()));
  for (int64_t v = std::max<int64_t>(stored, 1) + 1; v <= kLedgerSchemaVersion; ++v) {
    METERD_RETURN_IF_ERROR(txn.Exec(kLedgerMigrations[v - 2]));
  }
  METERD_RETURN_IF_ERROR(
      tenancy::BillingDb::SetSchemaVersion(txn, kLedgerModule, kLedgerSchemaVersion));
  return txn.Commit();
}

}  // namespace

Status Ledger::Impl::Load() {
  METERD_RETURN_IF_ERROR(CreateSchema(db));
  METERD_ASSIGN_OR_RETURN(Transaction txn, db->Begin());
  // Balances and billed amounts: the latest checkpoint, then every entry after it in id order
  // (a rowid range: the entries of the last few hours, read sequentially).
  int64_t checkpoint = 0;
  std::optional<int64_t> checkpoint_month;
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("SELECT entry_id, month FROM ledger_checkpoints "
                                        "ORDER BY entry_id DESC LIMIT 1"));
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) {
      checkpoint = st.Int(0);
      if (!st.IsNull(1)) checkpoint_month = st.Int(1);
    }
  }
  if (checkpoint > 0) {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      SELECT account, balance, last_entry, billed, billed_prev FROM checkpoint_balances
      WHERE entry_id = ?1)sql"));
    st.Bind(1, checkpoint);
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      std::string account = st.Text(0);
      if (checkpoint_month && !st.IsNull(3)) billed[*checkpoint_month][account] = st.Int(3);
      if (checkpoint_month && !st.IsNull(4)) {
        billed[pricebook::MonthStart(*checkpoint_month - 1)][account] = st.Int(4);
      }
      Book& b = books[std::move(account)];
      b.balance = st.Int(1);
      b.last_entry = st.Int(2);
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT id, account, amount, month FROM "
                                                      "ledger_entries WHERE id > ?1 ORDER BY id"));
    st.Bind(1, checkpoint);
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      std::string account = st.Text(1);
      if (!st.IsNull(3)) {
        AccountMap<MicroCredits>& month = billed[st.Int(3)];
        if (auto it = month.find(account); it != month.end()) {
          it->second -= st.Int(2);
        } else {
          month.emplace(account, -st.Int(2));
        }
      }
      Book& b = books[std::move(account)];
      b.balance += st.Int(2);
      b.last_entry = st.Int(0);
      ++entries_since_checkpoint;
    }
  }
  // Grants with an unused rest.
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      SELECT g.account, g.id, g.amount + COALESCE(
               (SELECT SUM(c.amount) FROM ledger_entries c WHERE c.grant_id = g.id), 0),
             g.expires_at
      FROM ledger_entries g INDEXED BY ledger_entries_grants WHERE g.kind = 'grant'
      ORDER BY g.expires_at, g.id)sql"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      if (st.Int(2) <= 0) continue;
      books[st.Text(0)].grants.push_back(Grant{st.Int(1), st.Int(2), st.Int(3)});
    }
  }
  // The latest state of each account.
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      SELECT account, state FROM account_states
      WHERE id IN (SELECT MAX(id) FROM account_states GROUP BY account))sql"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      books[st.Text(0)].state = ParseAccountState(st.Text(1)).value_or(AccountState::kOk);
    }
  }
  // The clock: its first and last closed hour.
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("SELECT MIN(hour), MAX(hour) FROM billing_hours"));
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row && !st.IsNull(0)) {
      clock_start = st.Int(0);
      next_hour = st.Int(1) + tenancy::kHour;
    }
  }
  // The clock adjusts only the month of its next hour and the one before: forget older
  // months' billed amounts (a checkpoint and the entries after it may name them).
  if (next_hour) {
    const int64_t keep =
        pricebook::MonthStart(pricebook::MonthStart(*next_hour - tenancy::kHour) - 1);
    billed.erase(billed.begin(), billed.lower_bound(keep));
  } else {
    billed.clear();
  }
  // Settings: the latest row of each scope.
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      SELECT scope, mode, low_balance, credit_limit, hysteresis, actor, reason, created_at,
        notify_email, reminder_days, overdue_days
      FROM billing_settings WHERE id IN (SELECT MAX(id) FROM billing_settings GROUP BY scope))sql"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      ScopeSettings s;
      s.scope = st.Text(0);
      if (!st.IsNull(1)) s.values.mode = ParseBillingMode(st.Text(1));
      if (!st.IsNull(2)) s.values.low_balance = st.Int(2);
      if (!st.IsNull(3)) s.values.credit_limit = st.Int(3);
      if (!st.IsNull(4)) s.values.hysteresis = st.Int(4);
      s.actor = st.Text(5);
      s.reason = st.Text(6);
      s.created_at = st.Int(7);
      if (!st.IsNull(8)) s.values.notify_email = st.Text(8);
      if (!st.IsNull(9)) s.values.reminder_days = st.Text(9);
      if (!st.IsNull(10)) s.values.overdue_days = st.Int(10);
      settings[s.scope] = std::move(s);
    }
  }
  // Holds: per account and reference, the latest row says whether it is in force.
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      SELECT account, reference, held FROM account_holds
      WHERE id IN (SELECT MAX(id) FROM account_holds GROUP BY account, reference))sql"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      if (st.Int(2) == 0) continue;
      std::string account = st.Text(0);
      holds[account].insert(st.Text(1));
      books[account].holds = static_cast<uint32_t>(holds[account].size());
    }
  }
  txn.Rollback();  // read only
  // A ledger that has none yet (new to version 3) or whose last one is far behind gets one
  // now, so the next start reads little. Open runs before any other thread sees the ledger.
  std::lock_guard write(write_mu);
  CheckpointAfterCommit(/*now=*/0);
  return Status::OK();
}

Status Ledger::Impl::MaybeCheckpoint(int64_t now) {
  std::shared_lock lock(mu);  // books change only under write_mu, which the caller holds
  const uint64_t due =
      std::max<uint64_t>(kCheckpointMinEntries, kCheckpointEntriesPerAccount * books.size());
  if (entries_since_checkpoint < due) return Status::OK();
  if (now == 0) {
    now = std::chrono::duration_cast<std::chrono::seconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  }
  METERD_ASSIGN_OR_RETURN(Transaction txn, db->Begin());
  int64_t last = 0;
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT MAX(id) FROM ledger_entries"));
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row && !st.IsNull(0)) last = st.Int(0);
  }
  if (last == 0) return Status::OK();
  // The months the clock may still adjust, as BookCharges keeps them in `billed`.
  std::optional<int64_t> month;
  const AccountMap<MicroCredits>*current = nullptr, *previous = nullptr;
  if (next_hour) {
    month = pricebook::MonthStart(*next_hour - tenancy::kHour);
    if (auto it = billed.find(*month); it != billed.end()) current = &it->second;
    if (auto it = billed.find(pricebook::MonthStart(*month - 1)); it != billed.end()) {
      previous = &it->second;
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      INSERT INTO ledger_checkpoints (entry_id, accounts, month, created_at)
      VALUES (?1, ?2, ?3, ?4))sql"));
    st.Bind(1, last).Bind(2, static_cast<int64_t>(books.size())).BindOptional(3, month);
    st.Bind(4, now);
    METERD_RETURN_IF_ERROR(st.Run());
  }
  // In key order, so the rows append at the table's right edge.
  std::vector<const std::pair<const std::string, Book>*> order;
  order.reserve(books.size());
  for (const auto& entry : books) order.push_back(&entry);
  std::sort(order.begin(), order.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    INSERT INTO checkpoint_balances (entry_id, account, balance, last_entry, billed, billed_prev)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6))sql"));
  auto bind_billed = [&](int i, const AccountMap<MicroCredits>* m, const std::string& account) {
    auto it = m ? m->find(account) : AccountMap<MicroCredits>::const_iterator{};
    if (m && it != m->end()) {
      st.Bind(i, it->second);
    } else {
      st.BindNull(i);
    }
  };
  for (const auto* entry : order) {
    st.Bind(1, last).Bind(2, entry->first).Bind(3, entry->second.balance);
    st.Bind(4, entry->second.last_entry);
    bind_billed(5, current, entry->first);
    bind_billed(6, previous, entry->first);
    METERD_RETURN_IF_ERROR(st.Run());
    METERD_RETURN_IF_ERROR(st.Reset());
  }
  METERD_RETURN_IF_ERROR(txn.Commit());
  entries_since_checkpoint = 0;
  return Status::OK();
}

void Ledger::Impl::CheckpointAfterCommit(int64_t now) {
  if (Status s = MaybeCheckpoint(now); !s.ok()) {
    spdlog::warn("event=ledger_checkpoint_failed error=\"{}\"", s.ToString());
  }
}

}  // namespace meterd::engine::ledger
