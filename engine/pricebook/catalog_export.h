// meterd — engine/pricebook/catalog_export.h
//
// The catalog read back: a BillingSnapshot (tenancy, price book versions, subscriptions)
// written as the catalog document `meterctl apply` reads (docs/rating.md, "The catalog
// document"), in JSON. Applying an export of everything to the store it came from reports every
// entity unchanged and writes nothing; applied to an empty store it recreates the catalog.
//
//   { "schema": "meterd/v1",
//     "locations": [...], "plan_groups": [...], "plans": [...], "domains": [...],
//     "accounts": [...], "projects": [...], "resources": [...], "billing_profiles": [...],
//     "tax_rates": [...], "tax_settings": [...], "invoice_issuers": [...], "discounts": [...],
//     "coupons": [...], "coupon_redemptions": [...], "price_books": [...], "subscriptions": [...] }
//
// Sections and their entities are in id order (price book versions by number); keys are in
// the order of docs/rating.md (id first; a billing profile's key is its account).
// billing_profiles and the invoicing sections (tax_rates ... coupon_redemptions) are left out of
// a whole export when they are empty. With an id, tax_rates selects a country's rates,
// tax_settings and invoice_issuers a scope ("*" or a domain), coupon_redemptions an account's.
// Money, rates and quantities are exact decimal strings
// ("2.2", "1.1634", "672"); times RFC 3339 in UTC. Every resource version lists all six
// attributes ("" = none), so no version depends on inheritance from the one before. Optional
// fields at their default are left out (an empty description, a parent-less domain, a product
// without a minimum).
//
// Thread-safety: pure functions over an immutable snapshot.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "engine/catalog.h"
#include "engine/pricebook/billing_store.h"
#include "storage/base/result.h"

namespace meterd::engine::pricebook {

// The document's sections, in the order apply reads them: locations, plan_groups, plans,
// domains, accounts, projects, resources, billing_profiles, tax_rates, tax_settings,
// invoice_issuers, discounts, coupons, coupon_redemptions, price_books, subscriptions.
std::span<const std::string_view> CatalogSections();

struct ExportFilter {
  // One of CatalogSections(); empty or "all" = every section.
  std::string section;
  // With a section: only the entity with this id (price_books: the version number, "2");
  // empty = all of the section. REQUIRES an id to come with a section.
  std::string id;
};

// The catalog document of `snapshot` (keys in document order: nlohmann::ordered_json).
// `metrics` (optional) resolves products' billing units: a product whose unit its metric
// implies is written without `divisor`; without it (or for an unknown metric) every usage
// product carries its divisor, which apply accepts as well.
// InvalidArgument for an unknown section (naming the valid ones) or an id without a section;
// NotFound for an id the section does not hold ("plan \"gold\" is not in the catalog").
Result<nlohmann::ordered_json> ExportCatalog(const BillingSnapshot& snapshot,
                                             const ExportFilter& filter,
                                             const MetricCatalog* metrics = nullptr);

}  // namespace meterd::engine::pricebook
