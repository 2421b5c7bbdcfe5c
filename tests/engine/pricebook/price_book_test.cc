// meterd — tests/engine/pricebook/price_book_test.cc: resolution and versions.
#include "engine/pricebook/price_book.h"

#include <gtest/gtest.h>

namespace meterd::engine::pricebook {
namespace price_book_test {

constexpr int64_t kFeb1 = 1485907200;
constexpr int64_t kFeb15 = kFeb1 + 14 * 86400;
constexpr int64_t kMar1 = 1488326400;

Product Running(std::string id, Match match, MicroCredits price) {
  Product p;
  p.id = std::move(id);
  p.metric = "vm.state";
  p.kind = MetricKind::kState;
  p.state_mask = 1u << 1;  // running
  p.match = std::move(match);
  p.unit = "h";
  p.divisor = 3600;
  p.unit_price = price;
  return p;
}

PriceBookVersion Base(uint32_t n, int64_t from) {
  PriceBookVersion v;
  v.version = n;
  v.effective_from = from;
  v.default_currency = "GBP";
  v.currencies = {Currency{"GBP", Decimal::FromInt(1), "GBP ", "", 2}};
  return v;
}

TEST(SpecificityTest, MoreAttributesWinThenPrecedence) {
  Match plan{"copper", "", "", "", ""}, group{"", "standard", "", "", ""},
      loc{"", "", "lon1", "", ""}, plan_loc{"copper", "", "lon1", "", ""}, any;
  EXPECT_GT(plan_loc.Specificity(), plan.Specificity());
  EXPECT_GT(plan.Specificity(), group.Specificity());
  EXPECT_GT(group.Specificity(), loc.Specificity());
  // Two attributes beat one, whichever they are.
  Match loc_tier{"", "", "lon1", "ssd", ""};
  EXPECT_GT(loc_tier.Specificity(), plan.Specificity());
  EXPECT_EQ(any.Specificity(), 0u);
}

TEST(ResolveTest, PicksTheMostSpecificMatch) {
  PriceBookVersion v = Base(1, kFeb1);
  v.products = {
      Running("any", {}, 1),
      Running("copper", {"copper", "", "", "", ""}, 2),
      Running("lon1", {"", "", "lon1", "", ""}, 3),
      Running("copper-lon1", {"copper", "", "lon1", "", ""}, 4),
      Running("standard", {"", "standard", "", "", ""}, 5),
  };
  Product stopped = Running("stopped", {}, 6);
  stopped.state_mask = (1u << 2) | (1u << 3);  // stopped, allocated
  v.products.push_back(stopped);
  ASSERT_TRUE(FinalizeVersion(&v).ok());
  auto id = [&](std::string_view plan, std::string_view group, std::string_view loc,
                uint32_t state = 1) {
    const Product* p = v.Resolve("vm.state", state, MatchKey{"vm", plan, group, loc, ""});
    return p ? p->id : std::string("-");
  };
  EXPECT_EQ(id("copper", "standard", "lon1"), "copper-lon1");  // two attributes
  EXPECT_EQ(id("copper", "standard", "par1"), "copper");       // plan beats plan group
  EXPECT_EQ(id("silver", "standard", "lon1"), "standard");     // plan group beats location
  EXPECT_EQ(id("gold", "", "lon1"), "lon1");
  EXPECT_EQ(id("gold", "", "par1"), "any");
  // Running and stopped hours are different products.
  EXPECT_EQ(id("copper", "standard", "lon1", 2), "stopped");
  EXPECT_EQ(id("copper", "standard", "lon1", 3), "stopped");
  EXPECT_EQ(id("copper", "standard", "lon1", 4), "-");  // paused: unpriced
  EXPECT_EQ(v.Resolve("net.tx_bytes", 0, MatchKey{}), nullptr);
  EXPECT_EQ(v.ProductsOf("vm.state").front()->id, "copper-lon1");
}

TEST(ResolveTest, AmbiguousProductsAreRefused) {
  PriceBookVersion v = Base(1, kFeb1);
  v.products = {Running("a", {"copper", "", "", "", ""}, 1),
                Running("b", {"copper", "", "", "", ""}, 2)};
  Status s = FinalizeVersion(&v);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("same match"), std::string::npos);
  // Same match but disjoint states is fine.
  v.products[1].state_mask = 1u << 2;
  EXPECT_TRUE(FinalizeVersion(&v).ok());
}

TEST(PriceBookTest, VersionInForceAndSegments) {
  PriceBookVersion v1 = Base(1, kFeb1);
  v1.products = {Running("copper", {"copper", "", "", "", ""}, 2'200'000)};
  PriceBookVersion v2 = Base(2, kFeb15);
  v2.products = {Running("copper", {"copper", "", "", "", ""}, 2'000'000)};
  auto book = PriceBook::Build({v1, v2});
  ASSERT_TRUE(book.ok()) << book.status().ToString();
  const PriceBook& b = **book;
  EXPECT_EQ(b.VersionAt(kFeb1 - 1), nullptr);
  EXPECT_EQ(b.VersionAt(kFeb1)->version, 1u);
  EXPECT_EQ(b.VersionAt(kFeb15 - 3600)->version, 1u);
  EXPECT_EQ(b.VersionAt(kFeb15)->version, 2u);
  EXPECT_EQ(b.Latest()->version, 2u);
  auto segs = b.Segments(kFeb1 - 86400, kMar1);
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].from, kFeb1);  // hours before version 1 are unpriced
  EXPECT_EQ(segs[0].to, kFeb15);
  EXPECT_EQ(segs[1].version->version, 2u);
  EXPECT_EQ(segs[1].to, kMar1);
  EXPECT_EQ(b.Segments(kFeb15 + 3600, kMar1).size(), 1u);
}

TEST(PriceBookTest, BuildChecksVersionRules) {
  EXPECT_FALSE(PriceBook::Build({Base(2, kFeb1)}).ok());                   // numbering
  EXPECT_FALSE(PriceBook::Build({Base(1, kFeb15), Base(2, kFeb1)}).ok());  // order
  EXPECT_FALSE(PriceBook::Build({Base(1, kFeb1 + 60)}).ok());              // not a whole hour
  PriceBookVersion no_currency = Base(1, kFeb1);
  no_currency.default_currency = "EUR";
  EXPECT_FALSE(PriceBook::Build({no_currency}).ok());
  // A product keeps its unit across versions.
  PriceBookVersion v1 = Base(1, kFeb1);
  v1.products = {Running("copper", {}, 1)};
  PriceBookVersion v2 = Base(2, kFeb15);
  v2.products = {Running("copper", {}, 1)};
  v2.products[0].unit = "min";
  v2.products[0].divisor = 60;
  auto b = PriceBook::Build({v1, v2});
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("give it a new id"), std::string::npos);
}

}  // namespace price_book_test
}  // namespace meterd::engine::pricebook
