// meterd — engine/ledger/ledger_schema.h
//
// The ledger's tables in billing.db (module "ledger", schema version 2; docs/ledger.md has
// every column). Every table is append-only: triggers refuse UPDATE and DELETE. CHECKs list
// their values with OR, not IN: an IN list makes SQLite build a temporary index on every
// insert.
//
// Versions: kLedgerSchema is version 1's DDL, run on a new billing.db; each migration then
// runs in order in the same transaction, on new and old files alike (so there is one way to
// reach a version): kLedgerMigrations[v - 2] takes version v - 1 to v.
//
// Thread-safety: a constant.
#pragma once

#include <cstdint>
#include <iterator>
#include <string_view>

namespace meterd::engine::ledger {

constexpr std::string_view kLedgerModule = "ledger";
constexpr int64_t kLedgerSchemaVersion = 2;

constexpr std::string_view kLedgerSchema = R"sql(
CREATE TABLE IF NOT EXISTS ledger_entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind = 'topup' OR kind = 'payment' OR kind = 'usage' OR
                            kind = 'fee' OR kind = 'adjustment' OR kind = 'refund' OR
                            kind = 'credit' OR kind = 'grant' OR kind = 'grant_expiry'),
  amount INTEGER NOT NULL,
  at INTEGER NOT NULL,
  hour INTEGER,
  month INTEGER,
  grant_id INTEGER REFERENCES ledger_entries(id),
  reference TEXT,
  expires_at INTEGER,
  currency TEXT NOT NULL,
  currency_amount TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  CHECK ((kind = 'grant') = (expires_at IS NOT NULL)),
  CHECK ((hour IS NULL) = (month IS NULL)),
  CHECK ((kind <> 'usage' AND kind <> 'fee') OR hour IS NOT NULL));
CREATE UNIQUE INDEX IF NOT EXISTS ledger_entries_reference ON ledger_entries(reference)
  WHERE reference IS NOT NULL;
CREATE INDEX IF NOT EXISTS ledger_entries_account ON ledger_entries(account, id);
CREATE INDEX IF NOT EXISTS ledger_entries_month ON ledger_entries(month, account)
  WHERE month IS NOT NULL;
CREATE INDEX IF NOT EXISTS ledger_entries_grant ON ledger_entries(grant_id)
  WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ledger_entries_grants ON ledger_entries(expires_at, id)
  WHERE kind = 'grant';
CREATE TABLE IF NOT EXISTS ledger_accounts (
  account TEXT PRIMARY KEY,
  first_entry INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS balance_snapshots (
  account TEXT NOT NULL,
  entry_id INTEGER NOT NULL,
  balance INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account, entry_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS account_states (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state = 'ok' OR state = 'low' OR state = 'negative' OR
                             state = 'suspended'),
  balance INTEGER NOT NULL,
  entry_id INTEGER NOT NULL,
  at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS account_states_account ON account_states(account, id);
CREATE TABLE IF NOT EXISTS billing_hours (
  hour INTEGER PRIMARY KEY CHECK (hour % 3600 = 0),
  accounts INTEGER NOT NULL,
  usage INTEGER NOT NULL,
  fees INTEGER NOT NULL,
  adjustments INTEGER NOT NULL,
  closed_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS billing_settings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  scope TEXT NOT NULL,
  mode TEXT CHECK (mode IS NULL OR mode = 'prepaid' OR mode = 'postpaid'),
  low_balance INTEGER,
  credit_limit INTEGER CHECK (credit_limit IS NULL OR credit_limit >= 0),
  hysteresis INTEGER CHECK (hysteresis IS NULL OR hysteresis >= 0),
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at INTEGER NOT NULL);
)sql";

// Version 2: billing_settings.notify_email (NULL = inherit, '' = nobody, else normalised
// comma-separated addresses). ADD COLUMN rewrites nothing: old rows read NULL.
constexpr std::string_view kLedgerMigrations[] = {
    "ALTER TABLE billing_settings ADD COLUMN notify_email TEXT;",
};
static_assert(std::size(kLedgerMigrations) == kLedgerSchemaVersion - 1,
              "one migration per schema version after the first");

// Tables that refuse UPDATE and DELETE (a trigger pair each, created by the ledger).
constexpr std::string_view kAppendOnlyTables[] = {
    "ledger_entries", "balance_snapshots", "account_states", "billing_hours", "billing_settings"};

}  // namespace meterd::engine::ledger
