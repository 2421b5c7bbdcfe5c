// meterd — tests/engine/invoicing/invoice_pdf_test.cc
//
// Invoice PDFs (engine/invoicing/invoice_pdf.h) read back by real poppler-utils: pdftotext
// finds every line, amount, the VAT line and Greek/Cyrillic names; a 2,000-line invoice breaks
// across pages with the table header repeated and "Page n of m"; pdftoppm renders every page;
// pdfinfo counts them; the same invoice gives the same bytes.
#include "engine/invoicing/invoice_pdf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "engine/invoicing/invoice_layout.h"
#include "tests/engine/invoicing/pdf_tools.h"
#include "tests/testing/seed_invoice.h"

namespace meterd::engine::invoicing {
namespace invoice_pdf_test {

using testing::PdfFile;

#define REQUIRE_POPPLER() \
  if (!testing::HavePoppler()) GTEST_SKIP() << "poppler-utils not installed"

std::string Pdf(const Invoice& inv, const PdfOptions& options = {}) {
  auto pdf = RenderInvoicePdf(inv, options);
  EXPECT_TRUE(pdf.ok()) << pdf.status().ToString();
  return pdf.ok() ? *pdf : std::string();
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(InvoicePdf, IsAnA4PdfWithEveryLineAndAmount) {
  REQUIRE_POPPLER();
  const Invoice inv = testing::SeedInvoice();
  const std::string bytes = Pdf(inv);
  ASSERT_EQ(bytes.rfind("%PDF-", 0), 0u);
  PdfFile pdf(bytes);
  EXPECT_EQ(pdf.Pages(), 1);
  EXPECT_NE(testing::Run("pdfinfo '" + pdf.path() + "'").out.find("595.276 x 841.89 pts (A4)"),
            std::string::npos);
  const std::string words = pdf.Words();
  // Every printed cell of every table and total, in its row (columns as single spaces).
  const PrintedInvoice printed = PrintInvoice(inv);
  for (const PrintedTable& t : printed.tables) {
    for (const auto& row : t.rows) {
      std::string line;
      for (const std::string& cell : row) {
        if (cell.empty()) continue;
        line += (line.empty() ? "" : " ") + cell;
      }
      EXPECT_NE(words.find(line), std::string::npos) << line;
    }
    EXPECT_NE(words.find(t.footer.back()), std::string::npos);
  }
  for (const auto& [label, amount] : printed.totals) {
    EXPECT_NE(words.find(label + " " + amount), std::string::npos) << label;
  }
  EXPECT_NE(words.find("VAT 20 % (GB) GBP 14,661.88 20 % GBP 2,932.38"), std::string::npos);
  for (const char* s :
       {"Corporate Cloud Ltd", "VAT number: GB123456789", "Bill to", "user 1 Business Unit 1",
        "24 Piccadilly Circus", "London W1J 9HP", "Invoice number: 1575", "Issue date: 2017-03-01",
        "Due date: 2017-03-31", "Page 1 of 1"}) {
    EXPECT_NE(words.find(s), std::string::npos) << s;
  }
}

TEST(InvoicePdf, GreekCyrillicAndAccentedNamesPrint) {
  REQUIRE_POPPLER();
  Invoice inv = testing::SeedInvoice();
  inv.customer.name = "Ελληνικά Кириллица";
  inv.customer.address = "Zürich Łódź Ærøskøbing\nİstanbul Šiauliai";
  inv.issuer.name = "Ωmega Облако";
  inv.lines[0].description = "Сервер Ω – café";
  PdfFile pdf(Pdf(inv));
  const std::string words = pdf.Words();
  for (const char* s : {"Ελληνικά Кириллица", "Zürich Łódź Ærøskøbing", "İstanbul Šiauliai",
                        "Ωmega Облако", "Сервер Ω – café 1344 h GBP 2.2000 GBP 2,955.91"}) {
    EXPECT_NE(words.find(s), std::string::npos) << s << "\n" << words.substr(0, 800);
  }
  EXPECT_EQ(
      testing::Run("pdftoppm -r 50 -png '" + pdf.path() + "' '" + pdf.dir() + "/page'").status, 0);
}

TEST(InvoicePdf, CharactersOutsideTheCodePagesGoThroughTheUtf8Font) {
  REQUIRE_POPPLER();
  Invoice inv = testing::SeedInvoice();
  // Arrows and Armenian are in DejaVu Sans but in no Windows code page; CJK is in neither
  // (printed as the missing-glyph box, still read back as text).
  inv.customer.name = "Hayk → Հայաստան 東京";
  PdfFile pdf(Pdf(inv));
  EXPECT_NE(pdf.Words().find("Hayk → Հայաստան 東京"), std::string::npos) << pdf.Words();
  const auto fonts = testing::Run("pdffonts '" + pdf.path() + "'").out;
  EXPECT_NE(fonts.find("CID TrueType"), std::string::npos) << fonts;
  // Without such characters no CID font is made (it costs ~9 ms).
  PdfFile plain(Pdf(testing::SeedInvoice()));
  EXPECT_EQ(testing::Run("pdffonts '" + plain.path() + "'").out.find("CID"), std::string::npos);
}

TEST(InvoicePdf, BadUtf8ControlsAndEmojiPrintAsReplacements) {
  REQUIRE_POPPLER();
  Invoice inv = testing::SeedInvoice();
  inv.customer.name = "Emoji \xF0\x9F\x98\x80 bad \xC3 \xFF end \x01 ctl";
  inv.notes.push_back(std::string(3000, 'x'));  // one word wider than the page: cut, not lost
  auto bytes = RenderInvoicePdf(inv);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  PdfFile pdf(*bytes);
  EXPECT_NE(pdf.Words().find("Emoji \uFFFD bad \uFFFD \uFFFD end ? ctl"), std::string::npos)
      << pdf.Words();
  const std::string text = pdf.Text();
  const std::string plain = PdfFile(Pdf(testing::SeedInvoice())).Text();  // "Example", "Taxes"
  EXPECT_EQ(std::count(text.begin(), text.end(), 'x'),
            3000 + std::count(plain.begin(), plain.end(), 'x'));
  // The thread's document still works after it.
  EXPECT_TRUE(RenderInvoicePdf(testing::SeedInvoice()).ok());
}

TEST(InvoicePdf, TwoThousandLinesBreakAcrossPagesWithHeadersAndPageNumbers) {
  REQUIRE_POPPLER();
  const Invoice inv = testing::ManyLineInvoice(2000);
  PdfFile pdf(Pdf(inv));
  const int pages = pdf.Pages();
  EXPECT_GT(pages, 30);
  EXPECT_LT(pages, 60);
  const std::string words = pdf.Words();
  for (int i = 1; i <= pages; ++i) {
    const std::string mark = "Page " + std::to_string(i) + " of " + std::to_string(pages);
    EXPECT_EQ(Count(words, mark), 1) << mark;
  }
  // Every line is there once.
  for (const InvoiceLine& l : inv.lines) {
    ASSERT_EQ(Count(words, l.description + " "), 1) << l.description;
  }
  // Each page that continues a group's table repeats its header: one header per page the
  // table touches (at least 2000 / 4 / ~60 rows per page for each usage group).
  const int headers = Count(words, "Running VM Quantity Unit Price Cost");
  EXPECT_GE(headers, 8);
  // Pages split on form feeds: every page but the last that holds lines begins with a header.
  std::vector<std::string> page_texts;
  const std::string text = pdf.Text();
  for (size_t start = 0, ff; start < text.size(); start = ff + 1) {
    ff = text.find('\f', start);
    if (ff == std::string::npos) ff = text.size();
    page_texts.push_back(text.substr(start, ff - start));
  }
  for (size_t i = 1; i + 1 < page_texts.size(); ++i) {
    EXPECT_TRUE(std::regex_search(
        page_texts[i], std::regex("^\\s*\\S[^\\n]*\\s+(Quantity\\s+Unit Price|One-time fee\\s+"
                                  "Monthly fee|Base\\s+Rate)\\s+(Cost|Amount)")))
        << "page " << i + 1 << ":\n"
        << page_texts[i].substr(0, 300);
  }
  const auto ppm = testing::Run("pdftoppm -r 50 -png '" + pdf.path() + "' '" + pdf.dir() +
                                    "/page' && ls '" + pdf.dir() + "' | grep -c '^page-.*png$'",
                                true);
  EXPECT_EQ(ppm.out, std::to_string(pages) + "\n");
  const auto errors = testing::Run("pdftotext '" + pdf.path() + "' /dev/null", true);
  EXPECT_EQ(errors.status, 0);
  EXPECT_EQ(errors.out, "");  // no syntax warnings
}

TEST(InvoicePdf, TotalsStayTogetherOnOnePage) {
  REQUIRE_POPPLER();
  // Line counts that put the end of the tables at every height of the last page.
  for (int lines = 40; lines <= 110; lines += 3) {
    PdfFile pdf(Pdf(testing::ManyLineInvoice(lines)));
    const std::string text = pdf.Text();
    const size_t subtotal = text.find("Subtotal ");
    const size_t due = text.find("Amount due ");
    ASSERT_NE(subtotal, std::string::npos);
    ASSERT_NE(due, std::string::npos);
    EXPECT_EQ(text.find('\f', subtotal), text.find('\f', due)) << lines << " lines";
  }
}

TEST(InvoicePdf, DraftsProvisionalAndVoidCarryAWatermarkAndSayTheirState) {
  REQUIRE_POPPLER();
  for (auto [state, provisional, word] : {std::tuple{InvoiceState::kDraft, false, "DRAFT"},
                                          std::tuple{InvoiceState::kDraft, true, "PROVISIONAL"},
                                          std::tuple{InvoiceState::kVoid, false, "VOID"}}) {
    Invoice inv = testing::SeedInvoice();
    inv.state = state;
    inv.provisional = provisional;
    const std::string issued = Pdf(testing::SeedInvoice());
    const std::string bytes = Pdf(inv);
    PdfFile pdf(bytes);
    EXPECT_NE(pdf.Words().find(std::string("Status: ") + word), std::string::npos) << word;
    // The watermark is drawn (strokes, so pdftotext's layout is undisturbed): the page
    // differs from the issued one's.
    EXPECT_GT(bytes.size(), issued.size());
    EXPECT_NE(pdf.Words().find("Copper - 1CPU @ 2.4GHz - 512MB RAM 1344 h GBP 2.2000 GBP 2,955.91"),
              std::string::npos);
    EXPECT_EQ(testing::Run("pdftoppm -r 50 -png '" + pdf.path() + "' '" + pdf.dir() + "/p'").status,
              0);
  }
}

TEST(InvoicePdf, SameInvoiceSameBytesAcrossDocumentsThreadsAndOptions) {
  const Invoice a = testing::SeedInvoice();
  Invoice b = testing::ManyLineInvoice(300);
  b.customer.name = "Кириллица → Ελληνικά";
  const std::string a1 = Pdf(a);
  const std::string b1 = Pdf(b);
  EXPECT_EQ(Pdf(a), a1);  // after another document on this thread's reused libharu document
  EXPECT_EQ(Pdf(b), b1);
  std::string a2, b2;
  std::thread t([&] {
    a2 = Pdf(a);  // a fresh thread: a fresh libharu document
    b2 = Pdf(b);
  });
  t.join();
  EXPECT_EQ(a2, a1);
  EXPECT_EQ(b2, b1);
  // The creation date is the invoice's, not the clock's.
  EXPECT_NE(a1.find("/CreationDate (D:20170301090000Z"), std::string::npos);
  PdfOptions bold;
  bold.bold_font = true;
  const std::string with_bold = Pdf(a, bold);
  EXPECT_GT(with_bold.size(), a1.size());
  EXPECT_EQ(Pdf(a), a1);
  PdfOptions compressed;
  compressed.compress_fonts = true;
  const std::string small = Pdf(a, compressed);
  EXPECT_LT(small.size(), a1.size() / 2);
  if (testing::HavePoppler()) {
    PdfFile f(small);
    EXPECT_NE(f.Words().find("GBP 2,955.91"), std::string::npos);
    PdfFile g(with_bold);
    EXPECT_NE(g.Words().find("Amount due GBP 17,594.26"), std::string::npos);
  }
}

TEST(InvoicePdf, ManyThreadsAtOnce) {
  const Invoice inv = testing::ManyLineInvoice(40);
  const std::string expected = Pdf(inv);
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) same[t] += Pdf(inv) == expected;
    });
  }
  for (auto& t : threads) t.join();
  for (int s : same) EXPECT_EQ(s, 10);
}

}  // namespace invoice_pdf_test
}  // namespace meterd::engine::invoicing
