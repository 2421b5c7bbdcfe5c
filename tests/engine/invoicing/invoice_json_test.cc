// meterd — tests/engine/invoicing/invoice_json_test.cc: the stored form of an invoice.
#include "engine/invoicing/invoice_json.h"

#include <gtest/gtest.h>

namespace meterd::engine::invoicing {
namespace invoice_json_test {

Invoice Sample() {
  Invoice inv;
  inv.id = 7;
  inv.number = "INV-000042";
  inv.sequence = 42;
  inv.state = InvoiceState::kIssued;
  inv.account = "bu1user1";
  inv.account_name = "Ελληνικά Кириллица";
  inv.domain = "bu1";
  inv.issuer = {"Apalia", "24 Piccadilly Circus\nLondon", "GB", "GB123", "billing@x.org"};
  inv.customer = {"user 1", "somewhere", "DE", "DE999", ""};
  inv.period_start = 1'793'491'200;
  inv.period_end = 1'796'083'200;
  inv.time_zone = "UTC";
  inv.cycle = "monthly";
  inv.price_version = 3;
  inv.currency = {"GBP", 1'000'000'000, "GBP ", "", 2};
  inv.rounding = "half_even";
  inv.lines.push_back({LineKind::kUsage,
                       "Running VM",
                       "copper",
                       "Copper",
                       "1343.595",
                       "h",
                       2'200'000,
                       {2'955'909'000, 295591}});
  inv.lines.push_back(
      {LineKind::kAdjustment, "Adjustments", "", "Usage of 2026-10 revised", "1", "", -5, {-5, 0}});
  inv.groups.push_back({"Running VM", {2'955'909'000, 295591}});
  inv.discounts.push_back({"welcome", "Welcome", "account", "", 100000, 10, {1, 0}});
  inv.taxes.push_back({"VAT", "DE", "", 190000, true, 9, {0, 0}});
  inv.subtotal = {2'955'908'995, 295591};
  inv.total = {2'955'908'994, 295591};
  inv.amount_due = {100, 0};
  inv.prepaid_applied = {2'955'908'894, 295591};
  inv.created_at = 5;
  inv.issued_at = 6;
  inv.due_at = 7;
  inv.notes = {"Reverse charge"};
  return inv;
}

TEST(InvoiceJson, RoundTripsEveryField) {
  const Invoice inv = Sample();
  auto back = FromJsonText(ToJson(inv).dump());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back.value(), inv);
}

TEST(InvoiceJson, AMissingOrMistypedKeyIsCorruptionNamingIt) {
  auto doc = ToJson(Sample());
  doc["lines"][0].erase("unit");
  auto r = FromJson(doc);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
  EXPECT_NE(r.status().message().find("lines[0].unit"), std::string::npos) << r.status().ToString();
  auto bad = ToJson(Sample());
  bad["state"] = "lost";
  EXPECT_FALSE(FromJson(bad).ok());
  auto format = ToJson(Sample());
  format["format"] = "meterd-invoice/9";
  EXPECT_FALSE(FromJson(format).ok());
  EXPECT_FALSE(FromJsonText("{not json").ok());
}

}  // namespace invoice_json_test
}  // namespace meterd::engine::invoicing
