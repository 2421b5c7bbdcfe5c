// meterd — tests/engine/invoicing/invoice_text_test.cc
//
// The fixed-width text of an invoice (engine/invoicing/invoice_text.h): every line and amount,
// amounts right-aligned in one column across tables, non-Latin names, banners per state.
#include "engine/invoicing/invoice_text.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/seed_invoice.h"

namespace meterd::engine::invoicing {
namespace invoice_text_test {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

TEST(InvoiceText, SeedLinesInAlignedColumns) {
  const std::string text = RenderInvoiceText(testing::SeedInvoice());
  const auto lines = Lines(text);
  EXPECT_EQ(lines[0], "Invoice");
  EXPECT_NE(text.find("Invoice period: From 2017-02-01 to 2017-02-28 Account: bu1user1 Domain: "
                      "bu1.corporate.com Invoice number: 1575\n"),
            std::string::npos);
  // Every row that ends in an amount ends in the same column.
  size_t width = 0;
  int amounts = 0;
  for (const std::string& l : lines) {
    if (l.size() > 4 && l.compare(l.size() - 3, 1, ".") == 0 &&
        l.find("GBP ") != std::string::npos) {
      if (width == 0) width = CodePoints(l);
      EXPECT_EQ(CodePoints(l), width) << l;
      ++amounts;
    }
  }
  EXPECT_EQ(amounts, 16 + 6 + 1 + 7);  // lines, group and tax subtotals, the VAT line, totals
  for (const char* row : {"Copper - 1CPU @ 2.4GHz - 512MB RAM", "1344 h", "GBP 2.2000",
                          "GBP 2,955.91", "GBP 9,041.60", "DDoS Service", "GBP 500.00",
                          "VAT 20 % (GB)", "GBP 2,932.38", "Amount due", "GBP 17,594.26"}) {
    EXPECT_NE(text.find(row), std::string::npos) << row;
  }
}

TEST(InvoiceText, NonLatinNamesAndBanner) {
  Invoice inv = testing::SeedInvoice();
  inv.customer.name = "Ελληνικά Кириллица";
  inv.lines[0].description = "Сервер Ω";
  inv.state = InvoiceState::kVoid;
  const std::string text = RenderInvoiceText(inv);
  EXPECT_EQ(text.rfind("*** VOID ***\n", 0), 0u);
  EXPECT_NE(text.find("  Ελληνικά Кириллица\n"), std::string::npos);
  // Padding counts code points: the Cyrillic row ends in the same column as the Latin ones.
  const auto lines = Lines(text);
  size_t cyr = 0, latin = 0;
  for (const std::string& l : lines) {
    if (l.rfind("Сервер Ω", 0) == 0) cyr = CodePoints(l);
    if (l.rfind("Silver - 1CPU", 0) == 0 && latin == 0) latin = CodePoints(l);
  }
  EXPECT_GT(cyr, 0u);
  EXPECT_EQ(cyr, latin);
}

}  // namespace invoice_text_test
}  // namespace meterd::engine::invoicing
