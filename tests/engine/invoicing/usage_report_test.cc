// meterd — tests/engine/invoicing/usage_report_test.cc: the usage report behind an invoice, as
// a property against the invoice builder: per line, its resources add up to the line's amount
// before its display rounding and to its quantity; a rating that changed since shows as a
// mismatch and rated lines without an invoice line are listed apart.
#include "engine/invoicing/usage_report.h"

#include <gtest/gtest.h>

#include <random>

#include "engine/pricebook/pricing.h"

namespace meterd::engine::invoicing {
namespace usage_report_test {

constexpr MicroCredits kCredit = 1'000'000;

BuildInput Input() {
  BuildInput in;
  in.header.account = "acme";
  in.currency = {"GBP", pricebook::Decimal::FromInt(1), "GBP ", "", 2};
  return in;
}

ResourceLine Line(std::string resource, std::string group, std::string product, LineKind kind,
                  uint64_t raw, uint64_t divisor, MicroCredits price, MicroCredits amount) {
  ResourceLine r;
  r.resource = std::move(resource);
  r.line.kind = kind;
  r.line.group = std::move(group);
  r.line.product_id = product;
  r.line.product_name = "Product " + product;
  r.line.unit = kind == LineKind::kUsage ? "h" : "month";
  r.line.raw_quantity = raw;
  r.line.divisor = divisor;
  r.line.unit_price = price;
  r.line.amount = amount;
  return r;
}

TEST(UsageReport, PropertyResourcesAddUpToEachLineBeforeRounding) {
  std::mt19937_64 rng(20261207);
  const char* groups[] = {"Running VM", "Stopped VM", "Storage", ""};
  for (int round = 0; round < 300; ++round) {
    BuildInput in = Input();
    std::vector<ResourceLine> rated;
    const int n = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) {
      const LineKind kind = rng() % 5 == 0 ? LineKind::kMonthlyFee : LineKind::kUsage;
      const uint64_t divisor = kind == LineKind::kUsage ? 3600 : 1;
      // Amounts with sub-penny parts, so that rounding per resource would differ.
      rated.push_back(Line("vm-" + std::to_string(rng() % 8), groups[rng() % 4],
                           "p" + std::to_string(rng() % 4), kind, rng() % 10'000'000, divisor,
                           static_cast<MicroCredits>(rng() % kCredit),
                           static_cast<MicroCredits>(rng() % (50 * kCredit))));
    }
    for (const ResourceLine& r : rated) in.rated.push_back(r.line);
    in.revisions[1'793'491'200] = 7;  // an adjustment line: no resources behind it
    auto inv = BuildInvoice(in);
    ASSERT_TRUE(inv.ok()) << inv.status().ToString();
    const UsageReport rep = BuildUsageReport(*inv, rated);
    EXPECT_TRUE(rep.matches);
    EXPECT_TRUE(rep.unmatched.empty());
    size_t items = 0;
    for (const UsageReportLine& l : rep.lines) {
      MicroCredits sum = 0;
      unsigned __int128 raw = 0;
      for (const ResourceLine& r : l.items) {
        sum += r.line.amount;
        raw += r.line.raw_quantity;
      }
      EXPECT_EQ(sum, inv->lines[l.index].amount.micro);
      EXPECT_EQ(l.rated, inv->lines[l.index].amount.micro);
      EXPECT_EQ(pricebook::FormatQuantity(raw, l.items.empty() ? 1 : l.items[0].line.divisor),
                inv->lines[l.index].quantity);
      EXPECT_EQ(l.rated_quantity, inv->lines[l.index].quantity);
      items += l.items.size();
    }
    // Lines with nothing rated are dropped by the builder (amount and quantity 0).
    size_t nonzero = 0;
    for (const ResourceLine& r : rated) nonzero += r.line.amount != 0 || r.line.raw_quantity != 0;
    EXPECT_GE(items, nonzero);
    EXPECT_EQ(rep.lines.size() + 1, inv->lines.size());  // all but the adjustment line
  }
}

TEST(UsageReport, ARatingChangedSinceTheInvoiceIsShownNotHidden) {
  BuildInput in = Input();
  std::vector<ResourceLine> rated = {
      Line("vm-1", "Running VM", "copper", LineKind::kUsage, 7200, 3600, 2 * kCredit, 4 * kCredit),
      Line("vm-2", "Running VM", "copper", LineKind::kUsage, 3600, 3600, 2 * kCredit, 2 * kCredit)};
  for (const ResourceLine& r : rated) in.rated.push_back(r.line);
  auto inv = BuildInvoice(in);
  ASSERT_TRUE(inv.ok());
  // Late data: vm-2 ran another hour, and a new product appeared.
  rated[1].line.raw_quantity = 7200;
  rated[1].line.amount = 4 * kCredit;
  rated.push_back(Line("vm-3", "Storage", "disk", LineKind::kUsage, 10, 1, kCredit, 10 * kCredit));
  const UsageReport rep = BuildUsageReport(*inv, rated);
  EXPECT_FALSE(rep.matches);
  ASSERT_EQ(rep.lines.size(), 1u);
  EXPECT_EQ(rep.lines[0].line.amount.micro, 6 * kCredit);
  EXPECT_EQ(rep.lines[0].rated, 8 * kCredit);
  ASSERT_EQ(rep.unmatched.size(), 1u);
  EXPECT_EQ(rep.unmatched[0].resource, "vm-3");
  const auto j = UsageReportJson(rep);
  EXPECT_EQ(j["lines"][0]["resources"].size(), 2u);
  EXPECT_EQ(j["lines"][0]["resources"][0]["resource"], "vm-1");
  EXPECT_EQ(j["lines"][0]["invoiced_micro"], 6 * kCredit);
}

}  // namespace usage_report_test
}  // namespace meterd::engine::invoicing
