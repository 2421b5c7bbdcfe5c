// meterd — bench/meter_bench/catalog_document.h
//
// A tenancy model and a price book built in code (bench/meter_bench/rate_month.h), written as
// catalog documents (docs/rating.md §5, JSON) that meterd's ApplyCatalog request (or `meterctl
// apply`) turns back into the same model and book: a workload can rate in process with the
// objects and through a real server with the documents, and get the same charges.
//
//   document 0      schema, locations, plan_groups, plans, domains, accounts, projects,
//                   price_books (every version)
//   documents 1..n  the resources, at most `resources_per_document` each (a request frame is
//                   at most 16 MiB; 10,000 resources are about 1.6 MB)
//
// Each document refers only to entities of itself or of earlier ones, so applying them in
// order builds the catalog. Every field the objects carry is written (prices and quantities as
// exact decimal text, times in RFC 3339), except what no document can say: derived fields
// (hour ranges, indices, raw thresholds, divisors resolved from the unit) and a later resource
// version that clears an attribute (InvalidArgument). Subscriptions are not written.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "engine/pricebook/billing_store.h"
#include "engine/pricebook/price_book.h"
#include "engine/tenancy/tenancy.h"
#include "storage/base/result.h"

namespace meterd::bench {

Result<std::vector<std::string>> CatalogDocuments(const engine::tenancy::Tenancy& tenancy,
                                                  const engine::pricebook::PriceBook& book,
                                                  size_t resources_per_document = 10000);

// Whether the catalog a BillingStore holds (after applying the documents) is the one built in
// code: every domain, account, project, location, plan group, plan and resource version, and
// every price book version's currencies and products. false: the first difference in *detail.
bool SameCatalog(const engine::pricebook::BillingSnapshot& stored,
                 const engine::tenancy::Tenancy& tenancy, const engine::pricebook::PriceBook& book,
                 std::string* detail);

}  // namespace meterd::bench
