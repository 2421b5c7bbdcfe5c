// meterd — engine/ledger/ledger.h
//
// Ledger: every account's balance as an append-only ledger in billing.db (docs/ledger.md).
// Entries are top-ups, payments, hourly usage debits, subscription fees, adjustments, refunds,
// credits, promotional grants and their expiries; an account's balance is the sum of its
// entries' amounts (micro-credits; positive raises the balance, a charge is negative).
// Invariants:
//   1. Nothing is updated or deleted: triggers refuse UPDATE and DELETE on every ledger
//      table (entries, checkpoints, account states, closed hours, settings).
//   2. A closed hour is booked once: `billing_hours` has the hour as its primary key and the
//      hour's entries are written in the transaction that inserts it, so a crash leaves the
//      hour either fully booked or not at all, and booking it again is refused.
//   3. Grants are used before paid credit, the one expiring first first; an unused rest
//      expires with a `grant_expiry` entry when the clock passes its expiry.
//   4. A manual entry with a reference is idempotent: the same reference returns the first
//      entry (`duplicate`), a reference reused with other values is refused.
//   5. Every change that moves a balance evaluates the account's thresholds
//      (engine/ledger/thresholds.h) in the same transaction: a state change is an
//      `account_states` row and its events are rows of the event outbox (engine/events).
// Balances are also kept in memory (loaded at Open from the latest checkpoint of every
// account plus the entries after it; docs/ledger.md, "Checkpoints") so that a balance read is
// a hash lookup.
//
// Thread-safety: thread-safe. Writes are serialised by an internal mutex (then by the
// database's); reads of balances take a shared lock and never touch the database.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/ledger/thresholds.h"
#include "engine/tenancy/billing_db.h"
#include "engine/tenancy/tenancy.h"
#include "storage/base/result.h"

namespace meterd::engine::events {
class EventLog;
}

namespace meterd::engine::ledger {

enum class EntryKind : uint8_t {
  kTopUp = 1,       // credit bought (prepaid); idempotent on its reference
  kPayment = 2,     // a payment received (postpaid, or an invoice settled)
  kUsage = 3,       // a closed hour's usage (the billing clock)
  kFee = 4,         // a subscription fee that fell due in a closed hour (the billing clock)
  kAdjustment = 5,  // the clock's revision of a billed hour, a booked re-rate, or manual
  kRefund = 6,      // paid credit returned to the customer (negative)
  kCredit = 7,      // a credit note
  kGrant = 8,       // promotional credit with an expiry
  kGrantExpiry = 9  // the unused rest of a grant, expired (negative)
};
const char* EntryKindName(EntryKind k);  // "topup", "payment", "usage", ...
std::optional<EntryKind> ParseEntryKind(std::string_view name);

struct Entry {
  int64_t id = 0;
  std::string account;
  EntryKind kind = EntryKind::kTopUp;
  MicroCredits amount = 0;       // signed: + raises the balance
  int64_t at = 0;                // the billing time it applies to (a usage entry: its hour)
  std::optional<int64_t> hour;   // clock entries: the hour closed when it was booked
  std::optional<int64_t> month;  // clock entries: the month (start) of the charges
  int64_t grant_id = 0;          // usage/fee/expiry rows that draw on a grant; else 0
  std::string reference;         // idempotency key of a manual entry; may be empty
  int64_t expires_at = 0;        // grants: first second the grant no longer pays for
  std::string currency, currency_amount;  // what the customer paid in, as given ("GBP", "10")
  std::string actor, reason;              // who made it and why ("billing-clock" for the clock)
  int64_t created_at = 0;                 // when it was recorded
};

// A manual entry (meterctl topup / adjust / refund / credit / grant).
// A tax charged on a top-up (vat_on_prepaid: topup), computed by the caller
// (engine/invoicing/topup_taxes.h) and kept with the entry in `topup_taxes`: the customer paid
// `amount` on top of the credit bought, which is the entry's amount (`base`). It never changes
// the balance.
struct EntryTax {
  std::string name, country, region;
  int64_t rate_ppm = 0;  // parts per million (200000 = 20 %)
  bool reverse_charge = false;
  MicroCredits base = 0, amount = 0;
  bool operator==(const EntryTax&) const = default;
};

struct ManualEntry {
  std::string account;
  EntryKind kind = EntryKind::kTopUp;  // not usage, fee or grant_expiry
  // Positive for topup, payment, credit, grant and refund (a refund is booked negative);
  // signed and nonzero for an adjustment.
  MicroCredits amount = 0;
  std::string reference;   // required for topup and payment; optional otherwise
  int64_t expires_at = 0;  // grants: required, after `at`
  std::string currency, currency_amount;
  std::string actor, reason;    // reason required for adjustment, refund, credit and grant
  int64_t at = 0;               // 0 = now
  std::vector<EntryTax> taxes;  // topup only: its taxes, written with it
};

struct AccountBalance {
  std::string account;
  MicroCredits balance = 0;  // sum of every entry
  MicroCredits grants = 0;   // unused promotional credit (part of balance)
  AccountState state = AccountState::kOk;
  int64_t last_entry = 0;
};

struct PostResult {
  Entry entry;
  bool duplicate = false;  // the reference was already booked: `entry` is the first one
  AccountBalance balance;
  std::vector<std::string> events;  // event kinds emitted
  std::vector<EntryTax> taxes;      // the entry's top-up taxes (the first's for a duplicate)
};

// Billing settings of one scope: "*" (every account), "domain:<id>" or "account:<id>".
// Unset fields inherit (account -> domain -> parent domains -> "*" -> defaults).
struct SettingsChange {
  std::optional<BillingMode> mode;
  std::optional<MicroCredits> low_balance;  // kNoLowBalance: explicitly none
  std::optional<MicroCredits> credit_limit;
  std::optional<MicroCredits> hysteresis;
  // Who gets email notices (engine/events/email_notifier.h): comma-separated addresses,
  // stored normalised ("a@x.org,b@y.org"); "" = explicitly nobody (stops inheritance).
  std::optional<std::string> notify_email;
  // Collections (docs/invoices.md, "Collections"): the reminder schedule of an issued, unpaid
  // invoice, days relative to its due date, stored normalised ascending without repeats
  // ("-3,0,7,14"; negative before the due date, 0 on it, positive overdue: dunning levels
  // 1, 2, ...); "" = explicitly none (stops inheritance).
  std::optional<std::string> reminder_days;
  // The credit limit by days overdue: an account with an issued invoice unpaid more than this
  // many days after its due date is suspended; kNoOverdueLimit = explicitly never.
  std::optional<int64_t> overdue_days;
};
constexpr MicroCredits kNoLowBalance = INT64_MIN;
constexpr int64_t kNoOverdueLimit = -1;
// Bounds of reminder_days and overdue_days (a year either side of the due date).
constexpr int64_t kMaxCollectionDays = 366;
// An account's collections settings after resolution (like ResolvedSettings, per field).
struct CollectionPolicy {
  std::vector<int64_t> reminder_days;   // ascending, unique
  std::optional<int64_t> overdue_days;  // unset: overdue invoices never suspend
};
// Parses and normalises a reminder_days list ("7, -3,0" -> {-3, 0, 7}); InvalidArgument on a
// malformed or out-of-range day or more than 16 steps; "" is the empty list.
Result<std::vector<int64_t>> ParseReminderDays(std::string_view text);
std::string FormatReminderDays(const std::vector<int64_t>& days);

// A hold that suspends an account whatever its balance (the credit limit by days overdue):
// `reference` names its cause (an invoice number). See Ledger::SetHold.
struct HoldChange {
  std::string account;
  std::string reference;
  bool hold = true;  // false: release
  std::string reason, actor;
  int64_t at = 0;  // the time it refers to (the collections clock)
};
struct HoldResult {
  bool changed = false;  // false: it was already so (idempotent)
  AccountState state = AccountState::kOk;
  std::vector<std::string> events;  // "suspend" or "resume", when the state changed
};
struct ScopeSettings {
  std::string scope;
  SettingsChange values;
  std::string actor, reason;
  int64_t created_at = 0;
};

// One account's charges booked for a closed hour by the billing clock: amounts are charges
// (positive = owed), booked as negative entries.
struct HourCharge {
  std::string account;
  int64_t month = 0;            // the month (start) these charges belong to
  MicroCredits adjustment = 0;  // rated-to-date minus billed-to-date before this hour
  MicroCredits usage = 0;       // the hour's usage
  MicroCredits fees = 0;        // fees due in the hour
};
// The billing clock's month-to-date rating state (rating::MonthToDate::Serialize), kept with
// the watermark (docs/ledger.md, "Month-to-date state").
struct ClockState {
  int64_t month = 0;          // the month it belongs to
  int64_t through = 0;        // it holds the hours [month, through)
  std::string revision_mark;  // the rater's durable revision mark when the state was rated
  std::string data;           // the state's bytes
};
struct HourBooking {
  int64_t hour = 0;
  std::vector<HourCharge> charges;
  int64_t now = 0;  // wall clock (created_at)
};
struct BookReport {
  size_t accounts = 0, entries = 0, events = 0;
  MicroCredits usage = 0, fees = 0, adjustments = 0, expired = 0;
};

class Ledger {
 public:
  // The tenancy in force (accounts must exist; domains give inherited settings).
  using TenancySource = std::function<std::shared_ptr<const tenancy::Tenancy>()>;
  // REQUIRES: db, events outlive the ledger.
  static Result<std::unique_ptr<Ledger>> Open(tenancy::BillingDb* db, events::EventLog* events,
                                              TenancySource tenancy);
  ~Ledger();

  // Books a manual entry: validated (InvalidArgument), account known (NotFound), reference
  // idempotent (AlreadyExists when reused with other values). `now` is the wall clock.
  Result<PostResult> Post(const ManualEntry& entry, int64_t now);
  // Post of many entries in one transaction (an invoice run's discounts and taxes): each entry
  // as Post books it, in order; all or none are booked (the first refusal is the result).
  Result<std::vector<PostResult>> PostMany(const std::vector<ManualEntry>& entries, int64_t now);

  // In memory; NotFound for an account the tenancy does not know. An account with no entry
  // has balance 0.
  Result<AccountBalance> Balance(std::string_view account) const;
  std::vector<AccountBalance> Balances() const;  // accounts with entries, by id

  // Entries of an account with from <= at < to, ascending, at most `limit` (0 = no limit).
  Result<std::vector<Entry>> Entries(std::string_view account, int64_t from, int64_t to,
                                     size_t limit = 0) const;

  // Settings: appends a row for `scope` (fields left unset keep their current value there).
  Status SetSettings(std::string_view scope, const SettingsChange& change, std::string_view actor,
                     std::string_view reason, int64_t now);
  std::vector<ScopeSettings> ListSettings() const;  // the current row of each scope
  ResolvedSettings Resolve(std::string_view account) const;
  // The account's notify_email addresses, resolved like the other settings (the first scope
  // of account -> domains -> '*' that sets it); empty when none does or it is set to "".
  std::vector<std::string> NotifyEmails(std::string_view account) const;
  // The account's reminder schedule and overdue limit, resolved like the other settings.
  CollectionPolicy Collections(std::string_view account) const;

  // --- holds (docs/ledger.md, "Holds") ---
  // Sets or releases the hold `reference` on an account, in one transaction with its state
  // and events: an account with at least one hold is suspended (one `suspend` event unless it
  // already was); releasing its last hold returns it to the state its balance calls for from
  // `suspended`, with the hysteresis of the balance thresholds (a `resume` event when it
  // leaves suspended). Holding what is held, or releasing what is not, changes nothing.
  // While held, balance changes never move the account out of suspended.
  Result<HoldResult> SetHold(const HoldChange& change, int64_t now);
  // The references holding an account, sorted; and every held account with its references.
  std::vector<std::string> Holds(std::string_view account) const;
  std::map<std::string, std::vector<std::string>> AllHolds() const;

  // --- the billing clock ---
  // The next hour to close (the last booked hour + 1 h); nullopt before the first booking.
  std::optional<int64_t> NextHour() const;
  // The clock's start: the first hour it may close (recorded once, at the first booking).
  std::optional<int64_t> ClockStart() const;
  // What the clock has charged `account` for `month` (usage + fees + clock adjustments).
  MicroCredits Billed(std::string_view account, int64_t month) const;
  // What the clock has charged each account for `month`, read from the database (any month).
  Result<std::unordered_map<std::string, MicroCredits>> BilledByAccount(int64_t month) const;
  // The accounts billed anything for `month`.
  std::vector<std::string> BilledAccounts(int64_t month) const;
  // Books one closed hour in one transaction: expiries due, each account's adjustment, usage
  // and fees (drawing on grants first), the hour's row, threshold states and events.
  // AlreadyExists when the hour is booked; InvalidArgument when it is not NextHour().
  Result<BookReport> BookHour(const HourBooking& booking);
  // Books adjustments only (usage and fees must be 0) between hours, in one transaction with
  // their thresholds and events: what a revision changed in hours already booked, as soon as
  // the clock sees it. booking.hour must be the last hour booked (NextHour() - 1 h); no hour is
  // closed. Idempotence is the caller's: the clock books rated-minus-billed, which a booked
  // adjustment brings to 0.
  Result<BookReport> BookAdjustments(const HourBooking& booking);
  // Keeps the clock's month-to-date state in place of the one kept before, in its own
  // transaction (derived data: docs/ledger.md, "Month-to-date state"). InvalidArgument when it
  // is ahead of the watermark (state.through > NextHour()) or not a whole hour.
  Status KeepClockState(const ClockState& state, int64_t now);
  // The month-to-date state kept last; nullopt when none is.
  Result<std::optional<ClockState>> LoadClockState() const;

  // --- invoicing (engine/invoicing; docs/invoices.md, "What an invoice covers") ---
  // Per account with clock entries for `month`: what the clock billed for it (as Billed) and
  // the account's last entry id, read together under one lock, so that every clock entry of
  // the month with an id up to `last_entry` is in `billed` and none after it. Months the clock
  // no longer adjusts (before the previous one) are read from the database.
  struct MonthWatermark {
    MicroCredits billed = 0;
    int64_t last_entry = 0;
  };
  Result<std::unordered_map<std::string, MonthWatermark>> BilledWithWatermarks(int64_t month) const;
  // The clock's adjustments of `account` with after_id < id <= upto_id for months before
  // `before_month`, summed per month (charges: positive = owed). These are the revisions of
  // months an earlier invoice covered, booked after it was issued.
  // ClockAdjustmentsBetween of many accounts in one transaction: (account, after_id, upto_id)
  // each; accounts with no such adjustment are absent from the result.
  struct AdjustmentQuery {
    std::string account;
    int64_t after_id = 0, upto_id = 0;
  };
  Result<std::unordered_map<std::string, std::map<int64_t, MicroCredits>>> ClockAdjustmentsOf(
      const std::vector<AdjustmentQuery>& queries, int64_t before_month) const;
  // Promotional credit used for `month`: per account of `upto` (account -> watermark), minus
  // the sum of the clock's entries of the month that drew on a grant (grant_id set), with an id
  // up to the account's watermark; accounts that drew none are absent. One transaction.
  Result<std::unordered_map<std::string, MicroCredits>> GrantsUsed(
      const std::unordered_map<std::string, int64_t>& upto, int64_t month) const;
  // The top-up taxes of `account`'s entries with from <= at < to, by entry id (entries
  // without taxes are absent).
  Result<std::map<int64_t, std::vector<EntryTax>>> TopUpTaxes(std::string_view account,
                                                              int64_t from, int64_t to) const;
  // Invoices of billing cycles other than UTC calendar months (docs/invoices.md, "Cycles"):
  // per account of `accounts` (all when empty) with clock usage or fee entries of the hours
  // [from_hour, to_hour), their sum (charges: positive = owed) and the part of it that drew on a
  // grant (positive), counting only entries up to the account's last entry id, read first under
  // the lock and returned as the watermark. Accounts with no such entry are absent.
  struct HoursWatermark {
    MicroCredits billed = 0;
    MicroCredits grants_used = 0;
    int64_t last_entry = 0;
  };
  Result<std::unordered_map<std::string, HoursWatermark>> BilledInHours(
      int64_t from_hour, int64_t to_hour, const std::vector<std::string>& accounts) const;
  Result<std::map<int64_t, MicroCredits>> ClockAdjustmentsBetween(std::string_view account,
                                                                  int64_t after_id, int64_t upto_id,
                                                                  int64_t before_month) const;

 private:
  struct Impl;
  explicit Ledger(std::unique_ptr<Impl> impl);
  // BookHour (close_hour: expiries and the hour's row too) and BookAdjustments.
  Result<BookReport> BookCharges(const HourBooking& booking, bool close_hour);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meterd::engine::ledger
