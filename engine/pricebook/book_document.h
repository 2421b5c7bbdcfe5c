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

// A product's price-model fields (price, tiers, package) and its free, cap and minimum, as
// both the document form (catalog_export.cc, ordered keys) and the stored form (EncodeVersion)
// write them: money as exact decimal credits, quantities in the product's unit.
template <typename Json>
void PutPriceFields(const Product& p, Json* j) {
  switch (p.model) {
    case PriceModel::kPerUnit:
      (*j)["price"] = FormatCredits(p.unit_price);
      break;
    case PriceModel::kGraduated:
    case PriceModel::kVolume: {
      Json tiers = Json::array();
      for (const Tier& t : p.tiers) {
        Json tj = Json::object();
        if (t.up_to_raw != kUnbounded) tj["up_to"] = t.up_to.ToString();
        tj["price"] = FormatCredits(t.unit_price);
        tiers.push_back(std::move(tj));
      }
      (*j)["tiers"] = std::move(tiers);
      break;
    }
    case PriceModel::kPackage:
      (*j)["package"] =
          Json{{"size", p.package_size.ToString()}, {"price", FormatCredits(p.package_price)}};
      break;
    case PriceModel::kSubscription:
      break;
  }
  if (p.free_raw != 0) (*j)["free"] = p.free.ToString();
  if (p.cap_raw != 0) (*j)["cap"] = p.cap.ToString();
  if (p.minimum != 0) (*j)["minimum"] = FormatCredits(p.minimum);
}

// Decodes one subscription. `book` holds every version (stored and new) to check the product.
std::optional<Subscription> DecodeSubscription(const tenancy::DocNode& node,
                                               const std::string& path,
                                               const tenancy::Tenancy& tenancy,
                                               const PriceBook& book, tenancy::DocErrors* errors);

}  // namespace meterd::engine::pricebook
