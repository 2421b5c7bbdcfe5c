// meterd — engine/tenancy/tenancy_store.h
//
// TenancyStore: the tenancy model kept durable in billing.db (tables `domains`, `accounts`,
// `projects`, `locations`, `plan_groups`, `plans`, `resources`, `resource_versions`), applied
// from the declarative document's tenancy sections (docs/rating.md, "The catalog document"):
//
//   locations, plan_groups, plans, domains, accounts, projects, resources, billing_profiles,
//   tax_rates, tax_settings, invoice_issuers, discounts, coupons, coupon_redemptions
//
// (the last six: engine/tenancy/invoicing_sections.h, docs/taxes-and-discounts.md)
//
// Apply semantics:
//   1. Declarative and idempotent: an entity in the document is created when new, updated when
//      a field differs, and left alone ("unchanged") when equal; applying a document twice
//      changes nothing the second time. Entities absent from the document are kept (a document
//      need not repeat the whole model; nothing is deleted by apply).
//   2. Resource versions are append-only, keyed by (resource, effective_from): a document's
//      version with a new effective_from is added; one equal to the stored version is
//      unchanged; one that differs from the stored version with the same effective_from is an
//      error (history is never rewritten). Stored versions absent from the document are kept.
//      In a version, fields left out inherit from the previous version (document order).
//   3. Fixed links: a project never changes account and an account never changes domain (an
//      error); a VM that moves between projects gets a new version instead, so past hours stay
//      with the project that held them.
//   4. Validated as a whole against the stored model plus the document, all errors reported
//      with their line and field; a document with any error changes nothing.
//   5. One SQLite transaction per apply; the new snapshot is published only after the commit.
//
// Thread-safety: thread-safe. Current() may be called from any thread at any time. Applies
// are serialised internally (Apply) or by the caller (Prepare/Write/Publish, which
// BillingStore uses to apply tenancy and price book in one transaction).
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tenancy/apply_report.h"
#include "engine/tenancy/billing_db.h"
#include "engine/tenancy/document.h"
#include "engine/tenancy/tenancy.h"

namespace meterd::engine::tenancy {

// A validated change set: what Write would store and the snapshot it would publish.
struct TenancyPlan {
  std::shared_ptr<const Tenancy> base;  // the snapshot it was validated against
  std::shared_ptr<const Tenancy> next;  // the snapshot after the change
  // Rows to insert or update: new or changed entities; for resources, the resource row (id,
  // name) and only its new versions.
  TenancyData upserts;
  // The earliest hour whose rating the change may alter: the hour of the earliest new resource
  // version; INT64_MIN when an update of another entity (a plan's group, an account, ...) or of
  // a resource's agent id may alter any hour; kForever when it alters none (creates only).
  int64_t changed_from = kForever;
};

class TenancyStore {
 public:
  // Opens the store on `db` (creating its tables on first use) and loads the model.
  // REQUIRES: db outlives the store.
  static Result<std::unique_ptr<TenancyStore>> Open(BillingDb* db);

  // The current snapshot (never null).
  std::shared_ptr<const Tenancy> Current() const;

  // Parses and applies a document holding only tenancy sections. `errors` (optional) receives
  // every validation error; the returned Status lists them too. dry_run: validate and report,
  // write nothing.
  Result<ApplyReport> Apply(std::string_view text, DocFormat format,
                            std::vector<DocError>* errors = nullptr, bool dry_run = false);

  // --- two-phase apply (BillingStore) ---
  // The top-level keys this store reads.
  static std::span<const std::string_view> SectionKeys();
  // Decodes and validates the tenancy sections of `root` against Current(); records errors
  // and the per-entity outcome. The plan is meaningful only when no error was added.
  TenancyPlan Prepare(const DocNode& root, DocErrors* errors, ApplyReport* report) const;
  // Writes the plan inside the caller's transaction. Busy when another apply published since
  // Prepare (the plan is stale: prepare again).
  Status Write(const TenancyPlan& plan, Transaction& txn) const;
  // Publishes plan.next; call after the transaction committed.
  void Publish(const TenancyPlan& plan);

 private:
  explicit TenancyStore(BillingDb* db) : db_(db) {}
  Status Load();
  BillingDb* db_;
  std::mutex apply_mu_;                     // serialises Apply
  mutable std::mutex mu_;                   // guards current_
  std::shared_ptr<const Tenancy> current_;  // GUARDED_BY(mu_)
};

}  // namespace meterd::engine::tenancy
