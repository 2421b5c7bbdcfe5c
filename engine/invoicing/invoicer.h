// meterd — engine/invoicing/invoicer.h
//
// Invoicer: invoice runs, issuing, payments, voiding and credit notes over the ledger
// (docs/invoices.md). A run builds one draft per account of the scope for one period of its
// billing cycle; issuing numbers and freezes it (InvoiceStore) and then books its discounts
// and taxes in the ledger.
//
// Periods (invoice_period.h, docs/invoices.md "Cycles"): each account is invoiced for the
// period of its own billing cycle and zone containing the run's instant, started where its
// previous invoice ended when a cycle change put that inside the period.
//
// What an invoice covers (docs/invoices.md, "What an invoice covers"). The billing clock
// debits usage and fees per UTC calendar month (engine/billing/billing_clock.h); an invoice of
// month M covers the clock's entries for M up to the account's ledger watermark, which equal
// M's rating once every hour of M is booked and the clock has booked the latest revision (the
// run checks it: rated == billed, or the account is refused and retried by the next run), plus
// the clock's adjustments of months already invoiced, booked since the last invoice's
// watermark. A period that is not a calendar month covers the clock's usage and fee entries of
// its hour buckets plus every clock adjustment booked since the previous invoice. Either way
// the subtotals of an account's invoices add up exactly to its clock entries.
//
// Issuers, discounts and taxes come from the catalog's invoicing sections
// (docs/taxes-and-discounts.md): the issuer of the account's domain (without one, the top
// domain's name, numbered in scope "*"), its discounts and coupons, and the taxes of its
// domain's tax settings. A catalog with no tax settings and no tax rates taxes nothing (taxes
// are then the provider's business elsewhere); once either exists, a customer without a
// country or a country without a rate is refused by name, never taxed at zero.
//
// Crash safety. Issuing is one transaction (InvoiceStore::Issue); the ledger bookings follow,
// each idempotent on a reference derived from the number, and a `booked` event marks them
// done. Open() books whatever a crash left unbooked. Payments, voids and credit notes work the
// same way: ledger entry (idempotent) first, then the event.
//
// Thread-safety: thread-safe; runs and issues are serialised by an internal mutex.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/invoicing/invoice_builder.h"
#include "engine/invoicing/invoice_period.h"
#include "engine/invoicing/invoice_store.h"
#include "engine/invoicing/issuer.h"
#include "engine/ledger/ledger.h"
#include "engine/pricebook/billing_store.h"

namespace meterd::engine::invoicing {

// The rated lines of [from, to) per account, for the accounts given (all when empty).
using RateFn = std::function<Result<std::unordered_map<std::string, std::vector<RatedLine>>>(
    int64_t from, int64_t to, const std::vector<std::string>& accounts)>;

// The catalog in force (BillingStore::Current in meterd).
using SnapshotFn = std::function<pricebook::BillingSnapshot()>;

enum class ScopeKind : uint8_t { kAll, kDomain, kAccount };

struct RunRequest {
  int64_t at = 0;  // any instant of the period; the period of each account's cycle containing it
  ScopeKind scope = ScopeKind::kAll;
  std::string scope_id;
  bool provisional = false;  // allow open hours (drafts marked provisional, never issued)
  int64_t now = 0;
};

struct AccountRefusal {
  std::string account;
  std::string reason;
};

struct RunReport {
  int64_t period_start = 0, period_end = 0;
  size_t drafts = 0;          // drafts written
  size_t already_issued = 0;  // accounts whose period is issued (not void): skipped
  size_t nothing_to_invoice = 0;
  std::vector<AccountRefusal> refused;  // accounts not drafted, with why
  std::vector<Invoice> invoices;        // the drafts written (or, for issue, the issued)
  std::vector<int64_t> open_hours;      // hours of the period not booked yet (provisional runs)
  // Run: rating and ledger reads, building, storing the drafts. Issue: reading the drafts and
  // issuing them, then booking them in the ledger.
  double rate_ms = 0, build_ms = 0, store_ms = 0;
};

class Invoicer {
 public:
  // REQUIRES: every pointer outlives the invoicer. Books what a crash left unbooked (a
  // document the ledger refuses is logged and left for the next start).
  static Result<std::unique_ptr<Invoicer>> Open(ledger::Ledger* ledger, InvoiceStore* store,
                                                SnapshotFn snapshot, RateFn rate, int64_t now);

  // Drafts the period containing request.at for every account of the scope. The whole run is
  // refused (InvalidArgument listing them) when hours of the period are not booked yet, unless
  // request.provisional.
  Result<RunReport> Run(const RunRequest& request);
  // Issues the drafts of the scope's accounts for the period containing `at`.
  Result<RunReport> IssueDrafts(ScopeKind scope, const std::string& scope_id, int64_t at,
                                const std::string& actor, int64_t now);
  Result<StoredInvoice> Issue(const std::string& account, int64_t at, const std::string& actor,
                              int64_t now);

  // A payment of `amount` (> 0) against an issued invoice, booked as a ledger payment with
  // `reference` (idempotent). The invoice becomes paid once its payments reach its amount due.
  Result<StoredInvoice> Pay(const std::string& number, MicroCredits amount,
                            const std::string& reference, const std::string& actor, int64_t now);
  // Pays what is still due (if anything) and marks it paid.
  Result<StoredInvoice> MarkPaid(const std::string& number, const std::string& reference,
                                 const std::string& actor, int64_t now);
  // Voids an issued invoice without payments and with no later invoice of its account; its
  // discounts and taxes are reversed in the ledger and its period can be invoiced again.
  Result<StoredInvoice> Void(const std::string& number, const std::string& reason,
                             const std::string& actor, int64_t now);
  // A credit note of `amount` (> 0, at most the invoice's total less earlier credit notes)
  // against an issued invoice, booked as a ledger credit.
  Result<StoredInvoice> CreditNote(const std::string& number, MicroCredits amount,
                                   const std::string& reason, const std::string& actor,
                                   int64_t now);

  // The invoice period of `account` containing `at` (invoice_period.h): what Run drafts and
  // Issue issues for that instant. NotFound for an unknown account.
  Result<InvoicePeriod> PeriodOf(const std::string& account, int64_t at);

  InvoiceStore* store() const { return store_; }

 private:
  Invoicer(ledger::Ledger* ledger, InvoiceStore* store, SnapshotFn snapshot, RateFn rate)
      : ledger_(ledger), store_(store), snapshot_(std::move(snapshot)), rate_(std::move(rate)) {}
  // The ledger entries of an issued invoice (discounts, taxes) and its `booked` event.
  Status Book(const StoredInvoice& s, const std::string& actor, int64_t now);
  // The stored invoice after a payment, void or credit note, with the collections hold it put
  // on its account released when it is now settled (collections.h, ReleaseIfSettled).
  Result<StoredInvoice> Settled(const std::string& number, int64_t now);
  Result<StoredInvoice> IssueLocked(const std::string& account, int64_t period_start,
                                    const pricebook::BillingSnapshot& snap,
                                    const std::string& actor, int64_t now);

  // Each account of the scope with its invoice period containing `at` (invoice_period.h);
  // accounts whose period cannot be computed go to *refused.
  Result<std::vector<std::pair<const tenancy::Account*, InvoicePeriod>>> PeriodsOf(
      const tenancy::Tenancy& t, ScopeKind scope, const std::string& scope_id, int64_t at,
      std::vector<AccountRefusal>* refused) const;
  // Drafts of accounts on calendar months, and of one group of accounts sharing a period
  // covered by hours (invoice_period.h), added to *drafts and counted in *rep.
  Status RunMonth(const RunRequest& req, const pricebook::BillingSnapshot& snap,
                  std::vector<const tenancy::Account*> accounts, RunReport* rep,
                  std::vector<std::pair<Invoice, Coverage>>* drafts);
  Status RunHours(const RunRequest& req, const pricebook::BillingSnapshot& snap,
                  const std::vector<std::pair<const tenancy::Account*, InvoicePeriod>>& group,
                  RunReport* rep, std::vector<std::pair<Invoice, Coverage>>* drafts);

  ledger::Ledger* ledger_;
  InvoiceStore* store_;
  SnapshotFn snapshot_;
  RateFn rate_;
  std::mutex mu_;  // serialises runs, issues and payments
};

}  // namespace meterd::engine::invoicing
