// meterd — tests/fuzz/catalog_fuzz.cc: libFuzzer target for the catalog document parser.
//
// The input is a catalog document as `meterctl apply FILE` sends it (YAML or JSON,
// docs/rating.md "The catalog document"): ParseDocument builds the line-numbered tree and
// BillingStore::ApplyDocument validates every section against an empty store as a dry run
// (tenancy, price book versions, subscriptions; nothing is written). A JSON map with a
// `products` key is instead a price book version in its stored form (billing.db's
// price_book_versions.body), decoded as BillingStore::Load decodes it. The store lives in the
// scratch directory for the whole run.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "engine/catalog.h"
#include "engine/pricebook/billing_store.h"
#include "engine/pricebook/book_document.h"
#include "engine/tenancy/document.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {
namespace {

engine::pricebook::BillingStore& Store() {
  static std::unique_ptr<engine::pricebook::BillingStore> store = [] {
    auto s = engine::pricebook::BillingStore::Open(FreshScratchDir("catalog"));
    if (!s.ok()) {
      std::fprintf(stderr, "catalog fuzz: %s\n", s.status().ToString().c_str());
      std::abort();
    }
    return std::move(s).value();
  }();
  return *store;
}

}  // namespace

Decoded DecodeCatalog(std::string_view input) {
  namespace tenancy = engine::tenancy;
  Decoded out;
  auto root = tenancy::ParseDocument(input, tenancy::DocFormat::kAuto);
  if (!root.ok()) {
    out.status = root.status();
    return out;
  }
  if (root->Find("products") != nullptr) {  // a stored price book version
    tenancy::DocErrors errors;
    engine::pricebook::BookContext context;
    auto v = engine::pricebook::DecodeVersion(*root, "body", context, &errors);
    out.status = errors.ToStatus();
    if (v) {
      out.items.push_back("version " + std::to_string(v->version) + " from " +
                          tenancy::FormatTime(v->effective_from));
      // The stored form must decode back to the same version (BillingStore::Load relies on it).
      const std::string again = engine::pricebook::EncodeVersion(*v).dump();
      auto root2 = tenancy::ParseDocument(again, tenancy::DocFormat::kJson);
      tenancy::DocErrors errors2;
      auto v2 = root2.ok() ? engine::pricebook::DecodeVersion(*root2, "body", context, &errors2)
                           : std::nullopt;
      if (!v2 || !v2->SameContent(*v)) {
        std::fprintf(stderr, "catalog: a stored version does not decode back to itself\n");
        std::abort();
      }
    }
    return out;
  }
  std::vector<tenancy::DocError> errors;
  auto report = Store().ApplyDocument(*root, &errors, /*dry_run=*/true);
  if (!report.ok()) {
    out.status = report.status();
    return out;
  }
  for (const tenancy::ApplyChange& c : report->changes) {
    out.items.push_back(std::string(tenancy::ChangeKindName(c.kind)) + " " + c.entity + " " + c.id +
                        ": " + c.detail);
  }
  return out;
}

}  // namespace meterd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)meterd::fuzz::DecodeCatalog(meterd::fuzz::AsView(data, size));
  return 0;
}
