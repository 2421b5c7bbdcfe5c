// meterd — engine/ledger/ledger_load.cc: the ledger's schema and the in-memory state rebuilt
// from its tables at Open.
#include <algorithm>
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
  for (std::string_view table : kAppendOnlyTables) {
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
  // Balances: each account's latest snapshot plus the entries after it.
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      WITH snap AS (
        SELECT account, MAX(entry_id) AS entry_id FROM balance_snapshots GROUP BY account),
      base AS (
        SELECT s.account, s.entry_id, b.balance FROM snap s
        JOIN balance_snapshots b ON b.account = s.account AND b.entry_id = s.entry_id),
      accounts AS (SELECT account FROM ledger_accounts)
      SELECT a.account,
             COALESCE(base.balance, 0) +
               COALESCE((SELECT SUM(e.amount) FROM ledger_entries e WHERE e.account = a.account
                           AND e.id > COALESCE(base.entry_id, 0)), 0),
             (SELECT MAX(e.id) FROM ledger_entries e WHERE e.account = a.account),
             (SELECT COUNT(*) FROM ledger_entries e WHERE e.account = a.account
                AND e.id > COALESCE(base.entry_id, 0))
      FROM accounts a LEFT JOIN base ON base.account = a.account)sql"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      Book& b = books[st.Text(0)];
      b.balance = st.Int(1);
      b.last_entry = st.Int(2);
      b.since_snapshot = static_cast<uint32_t>(st.Int(3));
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
  // What the clock billed per account for the months it may still adjust: the month of its
  // next hour and the one before.
  if (next_hour) {
    const int64_t month = pricebook::MonthStart(*next_hour - tenancy::kHour);
    const int64_t since = pricebook::MonthStart(month - 1);
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      SELECT month, account, -SUM(amount) FROM ledger_entries
      WHERE month >= ?1 GROUP BY month, account)sql"));
    st.Bind(1, since);
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      billed[st.Int(0)][st.Text(1)] = st.Int(2);
    }
  }
  // Settings: the latest row of each scope.
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      SELECT scope, mode, low_balance, credit_limit, hysteresis, actor, reason, created_at,
        notify_email
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
      settings[s.scope] = std::move(s);
    }
  }
  txn.Rollback();  // read only
  return Status::OK();
}

}  // namespace meterd::engine::ledger
