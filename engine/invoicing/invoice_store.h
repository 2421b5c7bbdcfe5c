// meterd — engine/invoicing/invoice_store.h
//
// InvoiceStore: invoices and credit notes in billing.db (module "invoicing", docs/invoices.md,
// "Tables"). A run's drafts are replaceable rows of `invoice_drafts`, one per (account,
// period); issuing one moves it, in one transaction, into `invoices` with the next number of
// its issuing scope, and from then on the document never changes.
// Invariants:
//   1. Numbers have no gaps: an issued document's sequence is 1 + the highest of its (scope,
//      kind), taken in the transaction that inserts it (UNIQUE (scope, kind, sequence)), and
//      `invoices` refuses UPDATE and DELETE (triggers), so no number is ever freed or reused.
//   2. An issued document is frozen: its JSON (invoice_json.h) is written once. What happens to
//      it afterwards (payments, paid, void, reminders, its ledger booking) is a row of the
//      append-only `invoice_events`; its state is derived from them.
//   3. At most one issued, not void, invoice per (account, period start): issuing a period
//      twice is refused (AlreadyExists), so an invoice run repeated issues nothing twice.
//   4. Issuing a document appends its `invoice_issued` or `credit_note_issued` event
//      (invoice_event.h) to the event outbox in the same transaction: one event per document,
//      across crashes and restarts.
//   5. Each issued invoice records its coverage: the ledger watermark (the account's last
//      entry id when it was built) and the billed amount per month it covered, so the next
//      invoice of the account takes the clock's adjustments after that watermark.
//
// Thread-safety: thread-safe (every call is one BillingDb transaction).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/events/event_log.h"
#include "engine/invoicing/invoice.h"
#include "engine/tenancy/billing_db.h"
#include "storage/base/result.h"

namespace meterd::engine::invoicing {

// What an invoice covered of the ledger (invariant 5).
// The period and watermark of an account's latest issued, not void, invoice.
struct LastPeriod {
  int64_t start = 0, end = 0;
  int64_t watermark = 0;
};

struct Coverage {
  int64_t watermark = 0;                   // the account's last ledger entry id at the build
  std::map<int64_t, MicroCredits> months;  // month start -> billed amount it covered
  bool operator==(const Coverage&) const = default;
};

struct InvoiceEvent {
  int64_t id = 0;
  std::string kind;  // "booked", "payment", "paid", "void", "reminder"
  MicroCredits amount = 0;
  std::string reference, actor, reason;
  int64_t at = 0;
};

// An issued document with what happened to it since.
struct StoredInvoice {
  Invoice invoice;  // state derived from events: issued, paid or void
  Coverage coverage;
  std::vector<InvoiceEvent> events;  // in order
  MicroCredits paid = 0;             // sum of payment events
  MicroCredits credited = 0;         // sum of the credit notes issued against it
  bool booked = false;               // its discounts and taxes are in the ledger
};

// How an issue numbers and dates a document (the issuer's settings).
struct NumberingOptions {
  std::string scope;   // numbering scope: the issuing domain ("*" for the default issuer)
  std::string prefix;  // "INV-", "CN-"
  int width = 6;       // digits, zero-padded
  int64_t payment_terms = 14 * 86400;  // due_at = issued_at + this
};

struct ListFilter {
  std::string account;                       // empty: all
  int64_t from = INT64_MIN, to = INT64_MAX;  // period_start in [from, to)
  std::optional<InvoiceKind> kind;
  size_t limit = 0;  // 0: no limit
};

// An issued invoice that is neither paid nor void, as collections reads it (no document).
struct OutstandingInvoice {
  std::string number, account;
  int64_t issued_at = 0, due_at = 0;
  MicroCredits amount_due = 0, paid = 0, credited = 0;
  std::optional<int64_t> last_reminder_day;  // the latest reminder step sent, if any
  MicroCredits outstanding() const { return amount_due - paid - credited; }
};

class InvoiceStore {
 public:
  // REQUIRES: db outlives the store.
  static Result<std::unique_ptr<InvoiceStore>> Open(tenancy::BillingDb* db);
  // The log whose readers are woken after a commit that issued documents (invariant 4; the
  // events are in the table either way, readers also poll). REQUIRES: set before the store is
  // shared between threads; `log` outlives the store.
  void set_event_log(events::EventLog* log) { event_log_ = log; }

  // Stores a draft, replacing the draft of the same (account, period start).
  Status PutDraft(const Invoice& draft, const Coverage& coverage);
  // Many drafts in one transaction (an invoice run).
  Status PutDrafts(const std::vector<std::pair<Invoice, Coverage>>& drafts);
  Result<std::vector<Invoice>> Drafts(const ListFilter& filter) const;
  // The accounts with a draft in the filter, and whether it is provisional, without reading the
  // documents (what an issue needs to know before it issues them).
  Result<std::vector<std::pair<std::string, bool>>> DraftAccounts(const ListFilter& filter) const;
  Result<std::optional<std::pair<Invoice, Coverage>>> Draft(std::string_view account,
                                                            int64_t period_start) const;
  Status DropDraft(std::string_view account, int64_t period_start);

  // Issues the draft of (account, period_start): numbered, dated, frozen; the draft is removed.
  // NotFound without a draft, InvalidArgument for a provisional one, AlreadyExists when the
  // period has an issued invoice that is not void.
  Result<StoredInvoice> Issue(std::string_view account, int64_t period_start,
                              const NumberingOptions& numbering, int64_t now);
  // Issue of many drafts of one period in one transaction (an invoice run), in the order given.
  // Per draft: the issued document, or why not (as Issue); one failing draft fails no other.
  // `events` are appended to each issued document in the same transaction (the `booked` and
  // `paid` events of a document that needs no ledger entry).
  struct IssueItem {
    std::string account;
    NumberingOptions numbering;
  };
  Result<std::vector<Result<StoredInvoice>>> IssueMany(
      const std::vector<IssueItem>& items, int64_t period_start, int64_t now,
      const std::function<std::vector<InvoiceEvent>(const Invoice&)>& events);
  // Appends events to many documents in one transaction.
  Status AddEvents(const std::vector<std::pair<std::string, InvoiceEvent>>& events);
  // Every account's LastCoverage (period start and watermark only; months left empty), in one
  // transaction; accounts without an invoice are absent.
  Result<std::map<std::string, std::pair<int64_t, Coverage>, std::less<>>> LastCoverages() const;
  // Every account's (or only `account`'s, when not empty) latest issued, not void, invoice as
  // its period and watermark: where its next invoice's period may start (invoice_period.h).
  Result<std::map<std::string, LastPeriod, std::less<>>> LastPeriods(
      std::string_view account = {}) const;

  // Issues a credit note (kind kCreditNote, its own numbering) against the invoice `of`.
  Result<StoredInvoice> IssueCreditNote(const Invoice& note, std::string_view of,
                                        const NumberingOptions& numbering, int64_t now);

  // Appends an event to an issued document (NotFound for an unknown number).
  Status AddEvent(std::string_view number, const InvoiceEvent& event);

  Result<StoredInvoice> Get(std::string_view number) const;
  Result<std::vector<StoredInvoice>> List(const ListFilter& filter) const;
  // The account's issued, not void, invoice of that period, if any.
  Result<std::optional<StoredInvoice>> IssuedFor(std::string_view account,
                                                 int64_t period_start) const;
  // The coverage of the account's latest issued, not void, invoice (by period); nullopt when
  // it has none.
  Result<std::optional<std::pair<int64_t, Coverage>>> LastCoverage(std::string_view account) const;
  // --- collections (engine/invoicing/collections.h) ---
  // Every issued invoice (not credit notes) without a `paid` or `void` event, by due date.
  Result<std::vector<OutstandingInvoice>> Outstanding() const;
  // In one transaction: unless invoice `number` already has a `reminder` event for a day at
  // or after `day` (reference "day:<n>"), appends the reminder event (its reference set to
  // "day:<day>") and `outbox` to the event log. True when appended. The caller calls
  // EventLog::Notify() after a true return.
  Result<bool> AddReminder(std::string_view number, int64_t day, InvoiceEvent event,
                           const events::Event& outbox);

  // Issued documents whose booking event is missing (a crash between issuing and booking).
  Result<std::vector<std::string>> Unbooked() const;

 private:
  explicit InvoiceStore(tenancy::BillingDb* db) : db_(db) {}
  void NotifyIssued() {
    if (event_log_ != nullptr) event_log_->Notify();
  }
  tenancy::BillingDb* db_;
  events::EventLog* event_log_ = nullptr;
};

}  // namespace meterd::engine::invoicing
