// meterd — tests/engine/invoicing/invoice_layout_test.cc
//
// The printable form of an invoice (engine/invoicing/invoice_layout.h): quantities, rates and
// days as printed, the period line of the seed, tables per group (fee groups with fee columns),
// discounts, taxes with rates and bases, the reverse-charge notice, the watermark per state.
#include "engine/invoicing/invoice_layout.h"

#include <gtest/gtest.h>

#include <string>

#include "storage/base/calendar.h"
#include "tests/testing/seed_invoice.h"

namespace meterd::engine::invoicing {
namespace invoice_layout_test {

TEST(FormatQuantity, RoundsHalfEvenToWholeFrom100AndToCentsBelow) {
  EXPECT_EQ(FormatQuantity("1343.5955"), "1344");
  EXPECT_EQ(FormatQuantity("1343.5"), "1344");  // tie: even
  EXPECT_EQ(FormatQuantity("1342.5"), "1342");
  EXPECT_EQ(FormatQuantity("238966.5001"), "238967");
  EXPECT_EQ(FormatQuantity("99.995"), "100");
  EXPECT_EQ(FormatQuantity("12.5"), "12.5");
  EXPECT_EQ(FormatQuantity("12.345"), "12.34");
  EXPECT_EQ(FormatQuantity("12.355"), "12.36");
  EXPECT_EQ(FormatQuantity("3"), "3");
  EXPECT_EQ(FormatQuantity("0.006818"), "0.01");
  EXPECT_EQ(FormatQuantity("0.005"), "0.005");  // would print 0.00: printed exactly
  EXPECT_EQ(FormatQuantity("0.0001"), "0.0001");
  EXPECT_EQ(FormatQuantity("0"), "0");
  EXPECT_EQ(FormatQuantity("0.000"), "0");
  EXPECT_EQ(FormatQuantity("-2.5"), "-2.5");
  EXPECT_EQ(FormatQuantity("999.5"), "1000");
  EXPECT_EQ(FormatQuantity("123456789012345678901234567890.7"), "123456789012345678901234567891");
  EXPECT_EQ(FormatQuantity("n/a"), "n/a");  // not a decimal: as is
}

TEST(FormatPercentPpm, WholeAndFractionalRates) {
  EXPECT_EQ(FormatPercentPpm(200000), "20 %");
  EXPECT_EQ(FormatPercentPpm(55000), "5.5 %");
  EXPECT_EQ(FormatPercentPpm(197500), "19.75 %");
  EXPECT_EQ(FormatPercentPpm(1), "0.0001 %");
  EXPECT_EQ(FormatPercentPpm(0), "0 %");
}

TEST(FormatDay, Iso8601) {
  EXPECT_EQ(FormatDay(0), "1970-01-01");
  EXPECT_EQ(FormatDay(base::DaysFromCivil(2017, 2, 28)), "2017-02-28");
}

TEST(PrintInvoice, SeedHeaderAndPeriodLine) {
  const PrintedInvoice p = PrintInvoice(testing::SeedInvoice());
  EXPECT_EQ(p.title, "Invoice");
  EXPECT_EQ(p.watermark, "");
  EXPECT_EQ(p.period_line,
            "Invoice period: From 2017-02-01 to 2017-02-28 Account: bu1user1 Domain: "
            "bu1.corporate.com Invoice number: 1575");
  ASSERT_GE(p.customer.size(), 3u);
  EXPECT_EQ(p.customer[0], "user 1 Business Unit 1");
  EXPECT_EQ(p.customer[1], "24 Piccadilly Circus");
  EXPECT_EQ(p.issuer.back(), "VAT number: GB123456789");
  ASSERT_EQ(p.tables.size(), 6u);  // five groups and the taxes
  EXPECT_EQ(p.tables[0].header,
            (std::vector<std::string>{"Running VM", "Quantity", "Unit Price", "Cost"}));
  EXPECT_EQ(p.tables[0].rows[0],
            (std::vector<std::string>{"Copper - 1CPU @ 2.4GHz - 512MB RAM", "1344 h", "GBP 2.2000",
                                      "GBP 2,955.91"}));
  EXPECT_EQ(p.tables[4].header,
            (std::vector<std::string>{"Subscriptions", "One-time fee", "Monthly fee", "Cost"}));
  EXPECT_EQ(p.tables[4].rows[1],
            (std::vector<std::string>{"DDoS Service", "", "GBP 500.00", "GBP 500.00"}));
  EXPECT_EQ(p.tables[5].rows[0],
            (std::vector<std::string>{"VAT 20 % (GB)", "GBP 14,661.88", "20 %", "GBP 2,932.38"}));
}

TEST(PrintInvoice, PeriodDaysAreTheAccountsZone) {
  Invoice inv = testing::SeedInvoice();
  // March 2026 in Asia/Kolkata (+05:30): [2026-02-28T18:30Z, 2026-03-31T18:30Z).
  inv.time_zone = "Asia/Kolkata";
  inv.period_start = base::DaysFromCivil(2026, 2, 28) * 86400 + 18 * 3600 + 1800;
  inv.period_end = base::DaysFromCivil(2026, 3, 31) * 86400 + 18 * 3600 + 1800;
  inv.issued_at = base::DaysFromCivil(2026, 3, 31) * 86400 + 20 * 3600;  // April 1st there
  const PrintedInvoice p = PrintInvoice(inv);
  EXPECT_EQ(p.period_line.substr(0, 45), "Invoice period: From 2026-03-01 to 2026-03-31");
  EXPECT_EQ(p.facts[1], (std::pair<std::string, std::string>{"Issue date", "2026-04-01"}));
  EXPECT_EQ(p.notes.back(), "Dates are days in Asia/Kolkata.");

  inv.time_zone = "Mars/Olympus_Mons";  // unknown: UTC days, said in the notes
  const PrintedInvoice u = PrintInvoice(inv);
  EXPECT_EQ(u.period_line.substr(0, 45), "Invoice period: From 2026-02-28 to 2026-03-31");
  EXPECT_NE(u.notes.back().find("Mars/Olympus_Mons"), std::string::npos);
}

TEST(PrintInvoice, WatermarkAndStatusPerState) {
  Invoice inv = testing::SeedInvoice();
  inv.state = InvoiceState::kDraft;
  EXPECT_EQ(PrintInvoice(inv).watermark, "DRAFT");
  EXPECT_EQ(PrintInvoice(inv).facts[0], (std::pair<std::string, std::string>{"Status", "DRAFT"}));
  inv.provisional = true;
  EXPECT_EQ(PrintInvoice(inv).watermark, "PROVISIONAL");
  inv.provisional = false;
  inv.state = InvoiceState::kVoid;
  EXPECT_EQ(PrintInvoice(inv).watermark, "VOID");
  inv.state = InvoiceState::kPaid;
  EXPECT_EQ(PrintInvoice(inv).watermark, "");
  inv.state = InvoiceState::kDraft;
  inv.number.clear();
  EXPECT_NE(PrintInvoice(inv).period_line.find("Invoice number: (draft)"), std::string::npos);
}

TEST(PrintInvoice, DiscountsTaxesReverseChargeAndCreditNotes) {
  Invoice inv = testing::SeedInvoice();
  DiscountLine d;
  d.id = "welcome";
  d.description = "Welcome coupon (10 %, cycle 2 of 3)";
  d.scope = "group";
  d.target = "Storage";
  d.percent_ppm = 100000;
  d.base = 9'041'603'851;
  d.amount = Amount{904'160'385, 90416};
  inv.discounts.push_back(d);
  inv.discount_total = d.amount;
  inv.taxes[0].reverse_charge = true;
  inv.taxes[0].rate_ppm = 0;
  inv.taxes[0].amount = Amount{};
  inv.customer.vat_number = "DE123456789";
  const PrintedInvoice p = PrintInvoice(inv);
  const PrintedTable& discounts = p.tables[5];
  EXPECT_EQ(discounts.header[0], "Discounts");
  EXPECT_EQ(discounts.rows[0],
            (std::vector<std::string>{"Welcome coupon (10 %, cycle 2 of 3) (Storage)",
                                      "GBP 9,041.60", "10 %", "-GBP 904.16"}));
  EXPECT_EQ(p.tables[6].rows[0][0], "VAT 0 % (GB), reverse charge");
  ASSERT_FALSE(p.notes.empty());
  EXPECT_EQ(p.notes[0].rfind("Reverse charge:", 0), 0u) << p.notes[0];
  EXPECT_NE(p.notes[0].find("DE123456789"), std::string::npos);
  // The builder's own notice is not printed twice.
  inv.notes.push_back("Reverse charge: Article 196 of Council Directive 2006/112/EC.");
  const PrintedInvoice q = PrintInvoice(inv);
  int notices = 0;
  for (const auto& n : q.notes) notices += n.rfind("Reverse charge", 0) == 0;
  EXPECT_EQ(notices, 1);

  inv.kind = InvoiceKind::kCreditNote;
  inv.credit_note_for = "INV-2017-001575";
  inv.reason = "Usage revised for 2017-02";
  const PrintedInvoice c = PrintInvoice(inv);
  EXPECT_EQ(c.title, "Credit note");
  EXPECT_EQ(c.totals.back().first, "Amount credited");
  EXPECT_NE(c.period_line.find("Credit note number: 1575"), std::string::npos);
  bool corrects = false;
  for (const auto& f : c.facts) corrects = corrects || f.second == "INV-2017-001575";
  EXPECT_TRUE(corrects);
}

TEST(PrintInvoice, LinesOfAnUnlistedGroupPrintWithTheirSum) {
  Invoice inv = testing::SeedInvoice();
  InvoiceLine adj;
  adj.kind = LineKind::kAdjustment;
  adj.group = "Adjustments";
  adj.description = "Usage revised for 2017-01";
  adj.amount = Amount{-1'230'000, -123};
  inv.lines.push_back(adj);
  const PrintedInvoice p = PrintInvoice(inv);
  const PrintedTable& t = p.tables[5];
  EXPECT_EQ(t.header[0], "Adjustments");
  EXPECT_EQ(t.rows[0],
            (std::vector<std::string>{"Usage revised for 2017-01", "", "", "-GBP 1.23"}));
  EXPECT_EQ(t.footer.back(), "-GBP 1.23");
}

}  // namespace invoice_layout_test
}  // namespace meterd::engine::invoicing
