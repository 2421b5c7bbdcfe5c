// meterd — engine/invoicing/collections.h
//
// Collections (docs/invoices.md, "Collections"): due-date reminders, dunning levels and the
// credit limit by days overdue, for issued invoices that are neither paid nor void.
//
// Each account's collections settings (ledger::Ledger::Collections: reminder days relative to
// the due date, and an overdue limit in days) resolve account -> domains -> '*' like its other
// billing settings. A pass at time `at`, for every outstanding invoice:
//   1. Reminders. The step is the latest reminder day d with at >= due_at + d days. It is sent
//      unless a reminder for d or a later day was sent already: one `invoice_events` row
//      (kind `reminder`, reference "day:<d>") and one outbox event, in one transaction, so a
//      step is emitted exactly once across restarts and passes, and a pass that comes late
//      sends only the latest step due (the earlier ones are skipped, never sent after it).
//      Event kinds: `invoice_reminder` (d < 0), `invoice_due` (d = 0), `invoice_overdue`
//      (d > 0, with its dunning level: 1 for the first positive day, 2 for the next, ...).
//   2. Suspension. With an overdue limit N, an invoice with something outstanding at
//      at > due_at + N days puts a hold named by its number on the account
//      (ledger::Ledger::SetHold): suspended at once, with one `suspend` event.
//   3. Release. A hold whose invoice is paid, void or fully credited is released (`resume`
//      when it was the account's last hold and its balance allows it). Invoicer::Pay, MarkPaid,
//      CreditNote and Void release at once too (ReleaseIfSettled); the pass is the backstop
//      after a crash between the payment and the release.
// Time only moves the pass forward: the `at` of a pass is given by its caller (the collections
// clock with the wall clock, or `meterctl invoice collect --at`), so tests drive it without
// sleeping. An earlier `at` than a previous pass sends nothing already sent and releases
// nothing that is still unpaid.
//
// Thread-safety: thread-safe; passes are serialised by an internal mutex. The clock thread
// (Start/Stop) calls Collect with the wall clock every interval.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/events/event_log.h"
#include "engine/invoicing/invoice_store.h"
#include "engine/ledger/ledger.h"

namespace meterd::engine::invoicing {

inline constexpr std::string_view kKindInvoiceReminder = "invoice_reminder";
inline constexpr std::string_view kKindInvoiceDue = "invoice_due";
inline constexpr std::string_view kKindInvoiceOverdue = "invoice_overdue";
inline constexpr std::string_view kCollectionsActor = "collections";

struct CollectStep {
  std::string number, account, kind;
  int64_t day = 0;
  int dunning_level = 0;  // 0 before and on the due date
};

struct CollectReport {
  int64_t at = 0;
  size_t outstanding = 0;              // invoices looked at
  std::vector<CollectStep> reminders;  // sent by this pass
  std::vector<std::string> held;       // invoice numbers that suspended their account now
  std::vector<std::string> released;   // invoice numbers whose hold was released now
};

// The dunning level of day `day` in a schedule: its rank among the positive days (1-based);
// 0 for a day at or before the due date.
int DunningLevel(const std::vector<int64_t>& days, int64_t day);

// Releases the hold of `s` on its account when it is settled (paid, void, or nothing
// outstanding); a no-op otherwise or when it holds nothing.
Status ReleaseIfSettled(ledger::Ledger* ledger, const StoredInvoice& s, int64_t at, int64_t now);

class Collector {
 public:
  // REQUIRES: every pointer outlives the collector.
  Collector(ledger::Ledger* ledger, InvoiceStore* store, events::EventLog* events)
      : ledger_(ledger), store_(store), events_(events) {}
  ~Collector() { Stop(); }
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // One pass at time `at` (above); `now` is the wall clock recorded with what it writes.
  Result<CollectReport> Collect(int64_t at, int64_t now);

  // Runs Collect(wall clock) now and then every `interval` on a thread until Stop().
  void Start(std::chrono::seconds interval);
  void Stop();

 private:
  ledger::Ledger* ledger_;
  InvoiceStore* store_;
  events::EventLog* events_;
  std::mutex pass_mu_;  // serialises passes

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace meterd::engine::invoicing
