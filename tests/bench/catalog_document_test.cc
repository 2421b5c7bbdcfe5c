// meterd — tests/bench/catalog_document_test.cc
//
// The rating workload's catalog written as documents (bench/meter_bench/catalog_document.h)
// must come back, through a real BillingStore's Apply, as the catalog built in code, or
// `meter-bench query` would rate a server against other prices than it checks with; and a
// changed catalog must be told apart by SameCatalog.
#include "bench/meter_bench/catalog_document.h"

#include <gtest/gtest.h>

#include "bench/meter_bench/rate_month.h"
#include "engine/catalog.h"
#include "engine/pricebook/billing_store.h"
#include "tests/testing/temp_dir.h"

namespace meterd::bench {
namespace catalog_document_test {

namespace pb = engine::pricebook;

TEST(CatalogDocumentTest, AppliedDocumentsGiveBackTheCatalogBuiltInCode) {
  rate::RateMonthOptions options;
  options.vms = 45;  // 3 accounts (the last one partly filled)
  const rate::RateMonth month(options);
  auto tenancy = month.BuildTenancy();
  ASSERT_TRUE(tenancy.ok()) << tenancy.status().ToString();
  auto book = rate::RateMonth::BuildPriceBook(month.month_start() - 86400);
  ASSERT_TRUE(book.ok()) << book.status().ToString();
  // 20 resources a document: the head document and three resource documents.
  auto docs = CatalogDocuments(*tenancy.value(), *book.value(), 20);
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 4u);

  testing::TempDir dir;
  engine::MetricCatalog metrics;
  auto store = pb::BillingStore::Open(dir.path(), &metrics);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (size_t i = 0; i < docs->size(); ++i) {
    std::vector<engine::tenancy::DocError> errors;
    auto applied =
        store.value()->Apply((*docs)[i], engine::tenancy::DocFormat::kJson, &errors, false);
    ASSERT_TRUE(applied.ok()) << "document " << i << ": " << applied.status().ToString();
  }
  std::string detail;
  EXPECT_TRUE(SameCatalog(store.value()->Current(), *tenancy.value(), *book.value(), &detail))
      << detail;

  // Applying them again changes nothing.
  for (const std::string& doc : *docs) {
    auto again = store.value()->Apply(doc, engine::tenancy::DocFormat::kJson, nullptr, false);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->Count(engine::tenancy::ChangeKind::kCreated), 0u);
    EXPECT_EQ(again->Count(engine::tenancy::ChangeKind::kUpdated), 0u);
  }

  // A price book of another start is not the same catalog.
  auto other = rate::RateMonth::BuildPriceBook(month.month_start() - 2 * 86400);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(SameCatalog(store.value()->Current(), *tenancy.value(), *other.value(), &detail));
  EXPECT_NE(detail.find("price book version"), std::string::npos) << detail;
}

}  // namespace catalog_document_test
}  // namespace meterd::bench
