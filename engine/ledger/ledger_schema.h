// meterd — engine/ledger/ledger_schema.h
//
// The ledger's tables in billing.db (module "ledger", schema version 6; docs/ledger.md has
// every column). Every table is append-only: triggers refuse UPDATE and DELETE. CHECKs list
// their values with OR, not IN: an IN list makes SQLite build a temporary index on every
// insert.
//
// Invariant of version 3: nothing the billing clock writes once per account per hour goes
// into an index keyed by account first. A closed hour appends its entries in (hour, account)
// order, so each of its B-trees grows at its right edge and an hour writes pages in proportion
// to its entries, not to the accounts times the ledger's age.
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
constexpr int64_t kLedgerSchemaVersion = 7;

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
//
// Version 3: the clock's entries leave the per-account indexes. `ledger_entries_account`
// covers manual entries only (hour IS NULL); clock entries are found by (hour, account),
// which a closed hour appends to in key order. Per-account balance snapshots (written at
// random places of an (account, entry_id) key) give way to checkpoints of every account's
// balance and billed amounts at one entry id, written in key order (docs/ledger.md,
// "Checkpoints"); Open reads the latest checkpoint and the entries after it. The dropped
// snapshots are derived data: the entries they summed are all kept.
//
// Version 4: the clock's adjustments by (account, id), for invoices (below).
//
// Version 5: the billing clock's month-to-date state, kept with the watermark
// (docs/ledger.md, "Month-to-date state"). Derived data, and the one ledger table that is not
// append-only: the booking that writes a state deletes the one before it in its transaction, so
// the table holds the latest only (its rows are at most tens of MB each, in parts).
constexpr std::string_view kLedgerMigrations[] = {
    "ALTER TABLE billing_settings ADD COLUMN notify_email TEXT;",
    R"sql(
DROP INDEX IF EXISTS ledger_entries_account;
DROP INDEX IF EXISTS ledger_entries_month;
CREATE INDEX ledger_entries_account ON ledger_entries(account, id) WHERE hour IS NULL;
CREATE INDEX ledger_entries_hour ON ledger_entries(hour, account) WHERE hour IS NOT NULL;
DROP TABLE IF EXISTS balance_snapshots;
CREATE TABLE ledger_checkpoints (
  entry_id INTEGER PRIMARY KEY,
  accounts INTEGER NOT NULL,
  month INTEGER,
  created_at INTEGER NOT NULL);
CREATE TABLE checkpoint_balances (
  entry_id INTEGER NOT NULL REFERENCES ledger_checkpoints(entry_id),
  account TEXT NOT NULL,
  balance INTEGER NOT NULL,
  last_entry INTEGER NOT NULL,
  billed INTEGER,
  billed_prev INTEGER,
  PRIMARY KEY (entry_id, account)) WITHOUT ROWID;
CREATE TRIGGER ledger_checkpoints_no_UPDATE BEFORE UPDATE ON ledger_checkpoints
  BEGIN SELECT RAISE(ABORT, 'ledger_checkpoints is append-only'); END;
CREATE TRIGGER ledger_checkpoints_no_DELETE BEFORE DELETE ON ledger_checkpoints
  BEGIN SELECT RAISE(ABORT, 'ledger_checkpoints is append-only'); END;
CREATE TRIGGER checkpoint_balances_no_UPDATE BEFORE UPDATE ON checkpoint_balances
  BEGIN SELECT RAISE(ABORT, 'checkpoint_balances is append-only'); END;
CREATE TRIGGER checkpoint_balances_no_DELETE BEFORE DELETE ON checkpoint_balances
  BEGIN SELECT RAISE(ABORT, 'checkpoint_balances is append-only'); END;
)sql",
    // Version 4: the clock's adjustments by (account, id), so that an invoice finds the
    // revisions booked since the last invoice with one seek per account (they are rare; the
    // index costs nothing on the hourly usage and fee entries).
    R"sql(
CREATE INDEX ledger_entries_clock_adjustments ON ledger_entries(account, id)
  WHERE kind = 'adjustment' AND hour IS NOT NULL;
)sql",
    R"sql(
CREATE TABLE clock_month_state (
  through INTEGER NOT NULL CHECK (through % 3600 = 0),
  part INTEGER NOT NULL CHECK (part >= 0),
  parts INTEGER NOT NULL CHECK (parts > part),
  month INTEGER NOT NULL,
  revision_mark TEXT NOT NULL,
  data BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (through, part));
)sql",
    // Version 6: collections (docs/invoices.md, "Collections"; docs/ledger.md, "Holds").
    R"sql(
ALTER TABLE billing_settings ADD COLUMN reminder_days TEXT;
ALTER TABLE billing_settings ADD COLUMN overdue_days INTEGER;
CREATE TABLE account_holds (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL,
  reference TEXT NOT NULL,
  held INTEGER NOT NULL CHECK (held = 0 OR held = 1),
  state TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  created_at INTEGER NOT NULL);
CREATE INDEX account_holds_account ON account_holds(account, reference, id);
CREATE TRIGGER account_holds_no_UPDATE BEFORE UPDATE ON account_holds
  BEGIN SELECT RAISE(ABORT, 'account_holds is append-only'); END;
CREATE TRIGGER account_holds_no_DELETE BEFORE DELETE ON account_holds
  BEGIN SELECT RAISE(ABORT, 'account_holds is append-only'); END;
)sql",
    // Version 7: the tax charged on a top-up when the account's tax settings say
    // vat_on_prepaid: topup (docs/taxes-and-discounts.md, "vat_on_prepaid"; docs/ledger.md).
    R"sql(
CREATE TABLE topup_taxes (
  entry_id INTEGER NOT NULL REFERENCES ledger_entries(id),
  seq INTEGER NOT NULL CHECK (seq >= 0),
  name TEXT NOT NULL,
  country TEXT NOT NULL,
  region TEXT NOT NULL,
  rate_ppm INTEGER NOT NULL CHECK (rate_ppm >= 0),
  reverse_charge INTEGER NOT NULL CHECK (reverse_charge = 0 OR reverse_charge = 1),
  base INTEGER NOT NULL,
  amount INTEGER NOT NULL,
  PRIMARY KEY (entry_id, seq)) WITHOUT ROWID;
CREATE TRIGGER topup_taxes_no_UPDATE BEFORE UPDATE ON topup_taxes
  BEGIN SELECT RAISE(ABORT, 'topup_taxes is append-only'); END;
CREATE TRIGGER topup_taxes_no_DELETE BEFORE DELETE ON topup_taxes
  BEGIN SELECT RAISE(ABORT, 'topup_taxes is append-only'); END;
)sql",
};
static_assert(std::size(kLedgerMigrations) == kLedgerSchemaVersion - 1,
              "one migration per schema version after the first");

// Version 1's tables that refuse UPDATE and DELETE (a trigger pair each, created with
// kLedgerSchema; later versions create their own triggers in their migration).
constexpr std::string_view kAppendOnlyTablesV1[] = {
    "ledger_entries", "balance_snapshots", "account_states", "billing_hours", "billing_settings"};

}  // namespace meterd::engine::ledger
