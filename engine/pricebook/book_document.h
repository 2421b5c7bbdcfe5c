// meterd — engine/pricebook/book_document.h (internal to engine/pricebook)
//
// The price book sections of the catalog document (docs/rating.md, "The catalog document"):
// decoding `price_books[i]` and `subscriptions[i]` with errors that name the line and field,
// and the canonical JSON form a version is stored in (billing.db, price_book_versions.body),
// which decodes back through the same code to an identical version.
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/catalog.h"
#include "engine/pricebook/price_book.h"
#include "engine/tenancy/document.h"
#include "engine/tenancy/tenancy.h"

namespace meterd::engine::pricebook {

struct BookContext {
  // For a document: the tenancy model as it will be after the apply, and the metrics. Both
  // nullptr for a stored version: references are not re-checked and each product carries its
  // metric's kind and unit itself.
  const tenancy::Tenancy* tenancy = nullptr;
  const MetricCatalog* metrics = nullptr;
  // The versions before the one decoded (stored and earlier in the document), oldest first,
  // for the rule that a product id keeps its metric, unit, model and package size.
  std::vector<const PriceBookVersion*> earlier;
};

// Decodes one version (already finalised: sorted and indexed); nullopt after recording errors.
std::optional<PriceBookVersion> DecodeVersion(const tenancy::DocNode& node, const std::string& path,
                                              const BookContext& context,
                                              tenancy::DocErrors* errors);

// The canonical stored form of a version (keys sorted, money as exact decimal text).
nlohmann::json EncodeVersion(const PriceBookVersion& version);

// Decodes one subscription. `book` holds every version (stored and new) to check the product.
std::optional<Subscription> DecodeSubscription(const tenancy::DocNode& node,
                                               const std::string& path,
                                               const tenancy::Tenancy& tenancy,
                                               const PriceBook& book, tenancy::DocErrors* errors);

}  // namespace meterd::engine::pricebook
