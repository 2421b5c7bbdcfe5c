// meterd — engine/tenancy/invoicing_sections.h
//
// The catalog document's invoicing sections (docs/taxes-and-discounts.md) for TenancyStore:
//
//   tax_rates, tax_settings, invoice_issuers, discounts, coupons, coupon_redemptions
//
// decoded and validated against the stored snapshot plus the document's accounts and domains
// (every error names its line and field path), merged into the next TenancyData, and written to
// and read from billing.db's tables of the same names (tenancy schema version 4). Declarative
// like the other sections: an entry is created when new, updated when a field differs,
// unchanged when equal; entries absent from the document are kept.
//
// Thread-safety: functions of their arguments; the caller serialises applies.
#pragma once

#include <functional>
#include <span>
#include <string_view>

#include "engine/tenancy/apply_report.h"
#include "engine/tenancy/billing_db.h"
#include "engine/tenancy/document.h"
#include "engine/tenancy/tenancy.h"

namespace meterd::engine::tenancy {

// The section keys, in the order they are decoded.
std::span<const std::string_view> InvoicingSectionKeys();

// The tables (CREATE ... IF NOT EXISTS), part of the tenancy schema from version 4.
extern const std::string_view kInvoicingSchema;

struct InvoicingRefs {
  std::function<bool(std::string_view)> is_account;  // stored or in the document
  std::function<bool(std::string_view)> is_domain;
};

// Decodes the sections of `root`. `next` holds the base snapshot's invoicing entries on entry
// and the merged ones on return; `upserts` receives the new and changed rows. Errors go to
// `errors`, outcomes to `report`.
void DecodeInvoicingSections(const DocNode& root, const Tenancy& base, const InvoicingRefs& refs,
                             DocErrors* errors, ApplyReport* report, TenancyData* next,
                             TenancyData* upserts);

// The base snapshot's invoicing entries as TenancyData vectors (declared fields only).
void CopyInvoicing(const Tenancy& base, TenancyData* out);

Status UpsertInvoicing(Transaction& txn, const TenancyData& upserts);
Status ReadInvoicing(Transaction& txn, TenancyData* out);

}  // namespace meterd::engine::tenancy
