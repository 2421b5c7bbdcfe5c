// meterd — engine/invoicing/usage_report.cc
#include "engine/invoicing/usage_report.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "engine/pricebook/money.h"
#include "engine/pricebook/pricing.h"

namespace meterd::engine::invoicing {

UsageReport BuildUsageReport(const Invoice& inv, std::vector<ResourceLine> rated) {
  UsageReport r;
  r.number = inv.number;
  r.account = inv.account;
  r.period_start = inv.period_start;
  r.period_end = inv.period_end;
  // The builder's key of a line: (group, product, kind).
  using Key = std::tuple<std::string, std::string, LineKind>;
  std::map<Key, size_t> by_key;
  for (size_t i = 0; i < inv.lines.size(); ++i) {
    const InvoiceLine& l = inv.lines[i];
    if (l.kind == LineKind::kAdjustment) continue;  // revisions of other months: no resources
    by_key.emplace(Key{l.group, l.product_id, l.kind}, r.lines.size());
    r.lines.push_back(UsageReportLine{i, l, 0, "", {}});
  }
  std::stable_sort(rated.begin(), rated.end(), [](const ResourceLine& a, const ResourceLine& b) {
    return a.resource < b.resource;
  });
  std::vector<unsigned __int128> raw(r.lines.size(), 0);
  std::vector<uint64_t> divisor(r.lines.size(), 0);
  for (ResourceLine& item : rated) {
    auto it = by_key.find(Key{LineGroup(item.line), item.line.product_id, item.line.kind});
    if (it == by_key.end()) {
      r.unmatched.push_back(std::move(item));
      continue;
    }
    UsageReportLine& l = r.lines[it->second];
    l.rated += item.line.amount;
    raw[it->second] += item.line.raw_quantity;
    divisor[it->second] = item.line.divisor;
    l.items.push_back(std::move(item));
  }
  for (size_t i = 0; i < r.lines.size(); ++i) {
    UsageReportLine& l = r.lines[i];
    l.rated_quantity = divisor[i] == 0 ? "0" : pricebook::FormatQuantity(raw[i], divisor[i]);
    if (l.rated != l.line.amount.micro) r.matches = false;
  }
  if (!r.unmatched.empty()) r.matches = false;
  return r;
}

nlohmann::ordered_json UsageReportJson(const UsageReport& r) {
  using Json = nlohmann::ordered_json;
  auto item_json = [](const ResourceLine& i) {
    return Json{{"resource", i.resource},
                {"resource_name", i.resource_name},
                {"group", LineGroup(i.line)},
                {"product_id", i.line.product_id},
                {"kind", LineKindName(i.line.kind)},
                {"quantity", pricebook::FormatQuantity(i.line.raw_quantity, i.line.divisor)},
                {"unit", i.line.unit},
                {"unit_price_micro", i.line.unit_price},
                {"amount", pricebook::FormatCredits(i.line.amount)},
                {"amount_micro", i.line.amount}};
  };
  Json lines = Json::array();
  for (const UsageReportLine& l : r.lines) {
    Json items = Json::array();
    for (const ResourceLine& i : l.items) items.push_back(item_json(i));
    lines.push_back(Json{{"line", l.index},
                         {"group", l.line.group},
                         {"product_id", l.line.product_id},
                         {"kind", LineKindName(l.line.kind)},
                         {"description", l.line.description},
                         {"quantity", l.line.quantity},
                         {"unit", l.line.unit},
                         {"invoiced_micro", l.line.amount.micro},
                         {"rated_micro", l.rated},
                         {"rated_quantity", l.rated_quantity},
                         {"resources", std::move(items)}});
  }
  Json unmatched = Json::array();
  for (const ResourceLine& i : r.unmatched) unmatched.push_back(item_json(i));
  return Json{{"number", r.number},
              {"account", r.account},
              {"period_start", r.period_start},
              {"period_end", r.period_end},
              {"matches", r.matches},
              {"lines", std::move(lines)},
              {"unmatched", std::move(unmatched)}};
}

}  // namespace meterd::engine::invoicing
