// meterd — tests/engine/invoicing/invoice_golden_test.cc
//
// The golden test: the invoice of seed 002 (tests/testing/seed_invoice.h) rendered as a PDF and
// read back by pdftotext -layout holds each of the seed's lines (product, unit price, cost),
// group subtotals and the period line, to the penny. Columns are compared with runs of spaces
// made one. Where the seed's own numbers disagree with each other (seed_invoice.h), the test
// says so with the figures: a changed helper or renderer cannot hide it.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "engine/invoicing/invoice_pdf.h"
#include "engine/invoicing/invoice_text.h"
#include "tests/engine/invoicing/pdf_tools.h"
#include "tests/testing/seed_invoice.h"

namespace meterd::engine::invoicing {
namespace invoice_golden_test {

// The seed's rows, as printed here: "<name> <quantity> <unit price> <cost>". The quantities
// are the seed's except where marked (no exact quantity gives both; seed_invoice.h).
constexpr const char* kSeedRows[] = {
    "Running VM Quantity Unit Price Cost",
    "Copper - 1CPU @ 2.4GHz - 512MB RAM 1344 h GBP 2.2000 GBP 2,955.91",
    "Silver - 1CPU @ 2.4Ghz - 4 GB RAM 2312 h GBP 0.6000 GBP 1,386.97",
    "Bronze - 1CPU @ 2.4Ghz - 2 GB RAM 1046 h GBP 0.4900 GBP 512.62",  // seed: 1047 h
    "GBP 4,855.50",
    "Stopped VM Quantity Unit Price Cost",
    "Bronze - 1CPU @ 2.4Ghz - 2 GB RAM 672 h GBP 0.2500 GBP 167.93",
    "Silver - 1CPU @ 2.4Ghz - 4 GB RAM 375 h GBP 0.2000 GBP 74.97",
    "GBP 242.90",
    "Storage Quantity Unit Price Cost",
    "Small Disk SATA, 5 GB 3359 GB·h GBP 2.1000 GBP 7,053.88",
    "Large Disk SATA, 100 GB 238967 GB·h GBP 0.0069 GBP 1,648.87",
    "Root Volume 14183 GB·h GBP 0.0038 GBP 53.90",               // seed: 14184
    "Medium Disk SATA, 20 GB 79157 GB·h GBP 0.0036 GBP 284.97",  // seed: 79156
    "GBP 9,041.60",
    "Network Quantity Unit Price Cost",
    "Bytes sent 0.01 GB GBP 2.2000 GBP 0.02",
    "Bytes received 0.01 GB GBP 0.6000 GBP 0.01",
    "IP Address 3738 h GBP 0.0012 GBP 4.49",
    "Default Isolated Network Offering With Source Nat Service 5375 h GBP 0.0010 GBP 5.38",  // 5374
    "Port Forwarding Rule 370 h GBP 0.0000 GBP 0.00",
    "GBP 9.88",
    "Subscriptions One-time fee Monthly fee Cost",
    "BU1-EndUser-DailyBackup GBP 12.00 GBP 12.00",
    "DDoS Service GBP 500.00 GBP 500.00",
};

TEST(SeedInvoiceGolden, PdfTextHoldsEverySeedLineToThePenny) {
  if (!testing::HavePoppler()) GTEST_SKIP() << "poppler-utils not installed";
  auto pdf = RenderInvoicePdf(testing::SeedInvoice());
  ASSERT_TRUE(pdf.ok()) << pdf.status().ToString();
  testing::PdfFile file(*pdf);
  const std::string words = file.Words();
  // In the seed's order.
  size_t at = 0;
  for (const char* row : kSeedRows) {
    const size_t found = words.find(row, at);
    ASSERT_NE(found, std::string::npos) << "missing or out of order: " << row << "\n" << words;
    at = found + 1;
  }
  EXPECT_NE(words.find("Invoice period: From 2017-02-01 to 2017-02-28 Account: bu1user1 Domain: "
                       "bu1.corporate.com Invoice number: 1575"),
            std::string::npos);
  for (const char* s :
       {"user 1 Business Unit 1", "24 Piccadilly Circus", "London W1J 9HP", "United Kingdom"}) {
    EXPECT_NE(words.find(s), std::string::npos) << s;
  }
  EXPECT_NE(words.find("Subscriptions One-time fee Monthly fee Cost"), std::string::npos);
  EXPECT_NE(words.find("VAT 20 % (GB) GBP 14,661.88 20 % GBP 2,932.38"), std::string::npos);
  EXPECT_NE(words.find("Amount due GBP 17,594.26"), std::string::npos);
}

TEST(SeedInvoiceGolden, TextRenderingHoldsTheSameRows) {
  const std::string text = RenderInvoiceText(testing::SeedInvoice());
  const std::string words = std::regex_replace(text, std::regex(" +"), " ");
  for (const char* row : kSeedRows) EXPECT_NE(words.find(row), std::string::npos) << row;
}

// The seed's subtotals are rounded exact sums, not sums of its printed lines (seed_invoice.h).
TEST(SeedInvoiceGolden, SeedSubtotalsAreRoundedExactSumsNotSumsOfPrintedLines) {
  const Invoice seed = testing::SeedInvoice(testing::SeedSubtotals::kAsTheSeedPrints);
  const Invoice summed = testing::SeedInvoice(testing::SeedSubtotals::kSumsOfLines);
  ASSERT_EQ(seed.groups.size(), 5u);
  const int64_t seed_minor[] = {485550, 24290, 904160, 988, 51200};
  const int64_t printed_lines_sum[] = {485550, 24290, 904162, 990, 51200};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(seed.groups[i].amount.minor, seed_minor[i]) << seed.groups[i].group;
    EXPECT_EQ(summed.groups[i].amount.minor, printed_lines_sum[i]) << summed.groups[i].group;
    int64_t lines = 0;
    for (const InvoiceLine& l : seed.lines) {
      if (l.group == seed.groups[i].group) lines += l.amount.minor;
    }
    EXPECT_EQ(lines, printed_lines_sum[i]);
    EXPECT_EQ(seed.groups[i].amount.micro, summed.groups[i].amount.micro);
  }
  // Both follow their rule through to the totals.
  EXPECT_EQ(seed.subtotal.minor, 1466188);
  EXPECT_EQ(summed.subtotal.minor, 1466192);
  EXPECT_EQ(seed.total.minor, seed.subtotal.minor + seed.tax_total.minor);
  EXPECT_EQ(summed.amount_due.minor, summed.subtotal.minor + summed.tax_total.minor);
}

}  // namespace invoice_golden_test
}  // namespace meterd::engine::invoicing
