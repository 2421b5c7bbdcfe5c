// meterd — engine/pricebook/billing_store.h
//
// BillingStore: the durable billing catalog — tenancy model, price book versions and account
// subscriptions — in `<data-dir>/billing.db` (BillingDb), applied from one declarative
// document (YAML or JSON; docs/rating.md, "The catalog document"; a sample is
// docs/examples/catalog.yaml). Top-level sections:
//
//   schema: meterd/v1 (optional)
//   locations, plan_groups, plans, domains, accounts, projects, resources,   (tenancy)
//   billing_profiles, tax_rates, tax_settings, invoice_issuers, discounts,
//   coupons, coupon_redemptions                    (tenancy: docs/taxes-and-discounts.md)
//   price_books, subscriptions                                               (price book)
//
// Apply is idempotent (same document twice: the second reports everything unchanged and
// writes nothing), validated as a whole with errors naming the line and the field,
// all-or-nothing (one error: nothing changes), and one SQLite transaction (committed with
// synchronous=FULL before the new snapshots are published). Price book versions are
// append-only: a version number already stored must come back identical ("unchanged") or the
// document is refused; a new version must have the next number and a later effective_from.
// Subscriptions are created or updated by id (account and product are fixed).
//
// Thread-safety: thread-safe. Current() returns a consistent snapshot (the tenancy, price book
// and subscriptions of one apply) from any thread; applies are serialised.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/catalog.h"
#include "engine/pricebook/price_book.h"
#include "engine/pricebook/pricing.h"
#include "engine/tenancy/apply_report.h"
#include "engine/tenancy/billing_db.h"
#include "engine/tenancy/document.h"
#include "engine/tenancy/tenancy.h"
#include "engine/tenancy/tenancy_store.h"

namespace meterd::engine::pricebook {

// Account subscriptions, sorted by id.
struct SubscriptionSet {
  std::vector<Subscription> subscriptions;
  const Subscription* Find(std::string_view id) const;
  std::vector<const Subscription*> OfAccount(std::string_view account) const;
};

struct BillingSnapshot {
  std::shared_ptr<const tenancy::Tenancy> tenancy;
  std::shared_ptr<const PriceBook> price_book;
  std::shared_ptr<const SubscriptionSet> subscriptions;
  // How many applies so far may have changed what a *closed* hour rates to (see
  // SetClosedBefore): the billing clock re-rates booked hours only when this moves, so a
  // control plane creating resources effective now does not make it re-rate the month.
  uint64_t retro_changes = 0;
};

class BillingStore {
 public:
  // Opens or creates `<data_dir>/billing.db` (data_dir must exist). `metrics` resolves the
  // metrics products name (built-in and custom; nullptr = built-ins only); it must outlive
  // the store.
  static Result<std::unique_ptr<BillingStore>> Open(const std::string& data_dir,
                                                    const MetricCatalog* metrics = nullptr);
  ~BillingStore();

  BillingSnapshot Current() const;

  // Applies a document (see above). `errors` (optional) receives each validation error; the
  // returned InvalidArgument lists them one per line. dry_run: validate and report only.
  Result<tenancy::ApplyReport> Apply(std::string_view text, tenancy::DocFormat format,
                                     std::vector<tenancy::DocError>* errors = nullptr,
                                     bool dry_run = false);

  // Apply of a document already parsed (or built in code: one resource's change). When
  // `precondition` is set it is checked against the snapshot the document is validated
  // against, under the apply lock, and its error refuses the apply (nothing changes).
  using Precondition = std::function<Status(const BillingSnapshot&)>;
  Result<tenancy::ApplyReport> ApplyDocument(const tenancy::DocNode& root,
                                             std::vector<tenancy::DocError>* errors = nullptr,
                                             bool dry_run = false,
                                             const Precondition& precondition = nullptr);

  // EstimatePlan over the current snapshot.
  Result<Estimate> EstimateCost(const EstimateRequest& request) const;

  // The database, shared with the ledger and invoices.
  tenancy::BillingDb* db() { return db_.get(); }

  // Hours before closed_before() are closed (the rollups' sealed watermark). An apply whose
  // earliest affected hour is not before it changes only open hours and leaves
  // retro_changes alone; every other apply (and every apply while this is unset) counts.
  // Call before applies run; `closed_before` must outlive the store.
  void SetClosedBefore(std::function<int64_t()> closed_before) {
    closed_before_ = std::move(closed_before);
  }

 private:
  BillingStore() = default;
  Status Load();

  std::unique_ptr<tenancy::BillingDb> db_;
  std::unique_ptr<tenancy::TenancyStore> tenancy_;
  const MetricCatalog* metrics_ = nullptr;
  std::unique_ptr<MetricCatalog> builtin_metrics_;            // when none was given
  std::mutex apply_mu_;                                       // serialises Apply
  mutable std::mutex mu_;                                     // guards the snapshot fields below
  std::shared_ptr<const tenancy::Tenancy> tenancy_snapshot_;  // GUARDED_BY(mu_)
  std::shared_ptr<const PriceBook> price_book_;               // GUARDED_BY(mu_)
  std::shared_ptr<const SubscriptionSet> subscriptions_;      // GUARDED_BY(mu_)
  uint64_t retro_changes_ = 0;                                // GUARDED_BY(mu_)
  std::function<int64_t()> closed_before_;
};

}  // namespace meterd::engine::pricebook
