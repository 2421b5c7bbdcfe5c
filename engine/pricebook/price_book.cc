// meterd — engine/pricebook/price_book.cc
#include "engine/pricebook/price_book.h"
#include "storage/base/calendar.h"

#include <algorithm>

namespace meterd::engine::pricebook {
namespace {

bool StatesOverlap(const Product& a, const Product& b) {
  if (a.kind != MetricKind::kState) return true;
  return (a.state_mask & b.state_mask) != 0;
}

Status ProductError(const Product& p, const std::string& msg) {
  return Status::InvalidArgument("product " + p.id + ": " + msg);
}

Status CheckProduct(const Product& p) {
  if (p.divisor == 0) return ProductError(p, "divisor must be positive");
  auto non_negative = [&](MicroCredits v, const char* what) -> Status {
    if (v < 0) return ProductError(p, std::string(what) + " must not be negative");
    return Status::OK();
  };
  METERD_RETURN_IF_ERROR(non_negative(p.unit_price, "price"));
  METERD_RETURN_IF_ERROR(non_negative(p.minimum, "minimum"));
  METERD_RETURN_IF_ERROR(non_negative(p.package_price, "package price"));
  METERD_RETURN_IF_ERROR(non_negative(p.one_time_fee, "one_time_fee"));
  METERD_RETURN_IF_ERROR(non_negative(p.monthly_fee, "monthly_fee"));
  if (p.model == PriceModel::kSubscription) {
    if (!p.metric.empty()) return ProductError(p, "a subscription product has no metric");
    return Status::OK();
  }
  if (p.metric.empty()) return ProductError(p, "a usage product needs a metric");
  if (p.kind == MetricKind::kState && p.state_mask == 0) {
    return ProductError(p, "a state metric's product must list the states it bills");
  }
  if (p.model == PriceModel::kGraduated || p.model == PriceModel::kVolume) {
    if (p.tiers.empty()) return ProductError(p, "tiers are required");
    for (size_t i = 0; i < p.tiers.size(); ++i) {
      METERD_RETURN_IF_ERROR(non_negative(p.tiers[i].unit_price, "a tier price"));
      const bool last = i + 1 == p.tiers.size();
      if (last != (p.tiers[i].up_to_raw == kUnbounded)) {
        return ProductError(p, "only the last tier is unbounded");
      }
      if (i > 0 && p.tiers[i].up_to_raw <= p.tiers[i - 1].up_to_raw) {
        return ProductError(p, "tier edges must increase");
      }
    }
  }
  if (p.model == PriceModel::kPackage && p.package_size_raw == 0) {
    return ProductError(p, "package size must be positive");
  }
  if (p.has_cap() && p.model != PriceModel::kPerUnit) {
    return ProductError(p, "a cap applies to per_unit prices only");
  }
  if (p.free_raw != 0 && p.model != PriceModel::kPerUnit && p.model != PriceModel::kGraduated) {
    return ProductError(p, "a free allowance applies to per_unit and graduated prices only");
  }
  if (p.free_raw != 0 && p.has_cap()) {
    return ProductError(p, "a product has a cap or a free allowance, not both");
  }
  return Status::OK();
}

}  // namespace

const char* PriceModelName(PriceModel model) {
  switch (model) {
    case PriceModel::kPerUnit:
      return "per_unit";
    case PriceModel::kGraduated:
      return "graduated";
    case PriceModel::kVolume:
      return "volume";
    case PriceModel::kPackage:
      return "package";
    case PriceModel::kSubscription:
      return "subscription";
  }
  return "?";
}

uint32_t Match::Specificity() const {
  const uint32_t mask = (plan.empty() ? 0 : 16) | (plan_group.empty() ? 0 : 8) |
                        (location.empty() ? 0 : 4) | (storage_tier.empty() ? 0 : 2) |
                        (resource_type.empty() ? 0 : 1);
  return static_cast<uint32_t>(__builtin_popcount(mask)) * 32 + mask;
}

bool Matches(const Match& m, const MatchKey& k) {
  return (m.plan.empty() || m.plan == k.plan) &&
         (m.plan_group.empty() || m.plan_group == k.plan_group) &&
         (m.location.empty() || m.location == k.location) &&
         (m.storage_tier.empty() || m.storage_tier == k.storage_tier) &&
         (m.resource_type.empty() || m.resource_type == k.type);
}

const Product* PriceBookVersion::FindProduct(std::string_view id) const {
  auto it = std::lower_bound(products.begin(), products.end(), id,
                             [](const Product& p, std::string_view k) { return p.id < k; });
  return it != products.end() && it->id == id ? &*it : nullptr;
}

const Currency* PriceBookVersion::FindCurrency(std::string_view code) const {
  for (const Currency& c : currencies) {
    if (c.code == code) return &c;
  }
  return nullptr;
}

const Currency& PriceBookVersion::DefaultCurrency() const {
  const Currency* c = FindCurrency(default_currency);
  METERD_CHECK(c != nullptr, "price book version without its default currency");
  return *c;
}

const Currency& PriceBookVersion::DisplayCurrency(std::string_view code) const {
  const Currency* c = code.empty() ? nullptr : FindCurrency(code);
  return c ? *c : DefaultCurrency();
}

const Product* PriceBookVersion::Resolve(std::string_view metric, uint32_t state,
                                         const MatchKey& key) const {
  auto it = std::lower_bound(by_metric_.begin(), by_metric_.end(), metric,
                             [](const auto& e, std::string_view m) { return e.first < m; });
  if (it == by_metric_.end() || it->first != metric) return nullptr;
  for (uint32_t i : it->second) {
    const Product& p = products[i];
    if (p.kind == MetricKind::kState && !p.BillsState(state)) continue;
    if (Matches(p.match, key)) return &p;
  }
  return nullptr;
}

std::vector<const Product*> PriceBookVersion::ProductsOf(std::string_view metric) const {
  std::vector<const Product*> out;
  auto it = std::lower_bound(by_metric_.begin(), by_metric_.end(), metric,
                             [](const auto& e, std::string_view m) { return e.first < m; });
  if (it == by_metric_.end() || it->first != metric) return out;
  for (uint32_t i : it->second) out.push_back(&products[i]);
  return out;
}

bool PriceBookVersion::SameContent(const PriceBookVersion& o) const {
  return version == o.version && effective_from == o.effective_from &&
         description == o.description && rounding == o.rounding &&
         default_currency == o.default_currency && currencies == o.currencies &&
         products == o.products;
}

Status FinalizeVersion(PriceBookVersion* v) {
  const std::string what = "price book version " + std::to_string(v->version) + ": ";
  if (v->effective_from % base::kSecondsPerHour != 0) {
    return Status::InvalidArgument(what + "effective_from must be a whole hour");
  }
  std::sort(v->currencies.begin(), v->currencies.end(),
            [](const Currency& a, const Currency& b) { return a.code < b.code; });
  for (size_t i = 0; i < v->currencies.size(); ++i) {
    const Currency& c = v->currencies[i];
    if (i > 0 && c.code == v->currencies[i - 1].code) {
      return Status::InvalidArgument(what + "currency " + c.code + " is defined twice");
    }
    if (c.per_credit.units() <= 0 || c.per_credit > Decimal::FromInt(1000000)) {
      return Status::InvalidArgument(what + "currency " + c.code +
                                     ": per_credit must be in (0, 1000000]");
    }
    if (c.minor_digits > 4) {
      return Status::InvalidArgument(what + "currency " + c.code + ": minor_digits must be 0..4");
    }
  }
  if (v->FindCurrency(v->default_currency) == nullptr) {
    return Status::InvalidArgument(what + "default currency " + v->default_currency +
                                   " is not one of its currencies");
  }
  std::sort(v->products.begin(), v->products.end(),
            [](const Product& a, const Product& b) { return a.id < b.id; });
  v->by_metric_.clear();
  for (size_t i = 0; i < v->products.size(); ++i) {
    const Product& p = v->products[i];
    if (i > 0 && p.id == v->products[i - 1].id) {
      return Status::InvalidArgument(what + "product " + p.id + " is defined twice");
    }
    Status s = CheckProduct(p);
    if (!s.ok()) return s.WithContext(what.substr(0, what.size() - 2));
    if (!p.is_usage()) continue;
    auto it = std::lower_bound(v->by_metric_.begin(), v->by_metric_.end(), p.metric,
                               [](const auto& e, const std::string& m) { return e.first < m; });
    if (it == v->by_metric_.end() || it->first != p.metric) {
      it = v->by_metric_.insert(it, {p.metric, {}});
    }
    for (uint32_t j : it->second) {
      const Product& q = v->products[j];
      if (q.match == p.match && StatesOverlap(p, q)) {
        return Status::InvalidArgument(what + "products " + q.id + " and " + p.id +
                                       " price the same usage with the same match");
      }
    }
    it->second.push_back(static_cast<uint32_t>(i));
  }
  for (auto& [metric, idx] : v->by_metric_) {
    std::stable_sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) {
      return v->products[a].match.Specificity() > v->products[b].match.Specificity();
    });
  }
  return Status::OK();
}

std::shared_ptr<const PriceBook> PriceBook::Empty() {
  static const std::shared_ptr<const PriceBook> empty(new PriceBook());
  return empty;
}

Result<std::shared_ptr<const PriceBook>> PriceBook::Build(std::vector<PriceBookVersion> versions) {
  std::shared_ptr<PriceBook> book(new PriceBook());
  for (size_t i = 0; i < versions.size(); ++i) {
    PriceBookVersion& v = versions[i];
    if (v.version != i + 1) {
      return Status::InvalidArgument("price book versions must be numbered 1, 2, ...: found " +
                                     std::to_string(v.version) + " at position " +
                                     std::to_string(i + 1));
    }
    if (i > 0 && v.effective_from <= versions[i - 1].effective_from) {
      return Status::InvalidArgument("price book version " + std::to_string(v.version) +
                                     " must take effect after version " +
                                     std::to_string(v.version - 1));
    }
    METERD_RETURN_IF_ERROR(FinalizeVersion(&v));
    if (i == 0) continue;
    // A product id keeps its meaning across versions, so a line's slices share one divisor.
    for (const Product& p : v.products) {
      for (size_t j = i; j-- > 0;) {
        const Product* q = versions[j].FindProduct(p.id);
        if (q == nullptr) continue;
        if (q->metric != p.metric || q->unit != p.unit || q->divisor != p.divisor ||
            q->model != p.model || q->package_size_raw != p.package_size_raw) {
          return Status::InvalidArgument(
              "price book version " + std::to_string(v.version) + ": product " + p.id +
              " changes its metric, unit, model or package size from version " +
              std::to_string(versions[j].version) + "; give it a new id");
        }
        break;
      }
    }
  }
  book->versions_ = std::move(versions);
  return std::shared_ptr<const PriceBook>(std::move(book));
}

const PriceBookVersion* PriceBook::Latest() const {
  return versions_.empty() ? nullptr : &versions_.back();
}

const PriceBookVersion* PriceBook::FindVersion(uint32_t version) const {
  if (version == 0 || version > versions_.size()) return nullptr;
  return &versions_[version - 1];
}

const PriceBookVersion* PriceBook::VersionAt(int64_t t) const {
  auto it =
      std::upper_bound(versions_.begin(), versions_.end(), t,
                       [](int64_t x, const PriceBookVersion& v) { return x < v.effective_from; });
  return it == versions_.begin() ? nullptr : &*std::prev(it);
}

std::vector<PriceSegment> PriceBook::Segments(int64_t from, int64_t to) const {
  std::vector<PriceSegment> out;
  for (size_t i = 0; i < versions_.size(); ++i) {
    const int64_t lo = std::max(from, versions_[i].effective_from);
    const int64_t hi =
        std::min(to, i + 1 < versions_.size() ? versions_[i + 1].effective_from : kNoEnd);
    if (lo < hi) out.push_back(PriceSegment{&versions_[i], lo, hi});
  }
  return out;
}

}  // namespace meterd::engine::pricebook
