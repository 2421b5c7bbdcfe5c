// meterd — engine/tenancy/tenancy.cc
#include "engine/tenancy/tenancy.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace meterd::engine::tenancy {
namespace {

int64_t FloorHour(int64_t t) {
  const int64_t q = t / kHour;
  return (q - ((t % kHour) < 0 ? 1 : 0)) * kHour;
}

int64_t CeilHour(int64_t t) {
  const int64_t f = FloorHour(t);
  return f == t ? f : f + kHour;
}

template <typename T>
uint32_t IndexOf(const std::vector<T>& v, std::string_view id) {
  auto it = std::lower_bound(v.begin(), v.end(), id,
                             [](const T& e, std::string_view k) { return e.id < k; });
  if (it == v.end() || it->id != id) return kNone;
  return static_cast<uint32_t>(it - v.begin());
}

template <typename T>
const T* FindIn(const std::vector<T>& v, std::string_view id) {
  const uint32_t i = IndexOf(v, id);
  return i == kNone ? nullptr : &v[i];
}

template <typename T>
Status SortUnique(std::vector<T>* v, const char* what) {
  std::sort(v->begin(), v->end(), [](const T& a, const T& b) { return a.id < b.id; });
  for (size_t i = 1; i < v->size(); ++i) {
    if ((*v)[i].id == (*v)[i - 1].id) {
      return Status::InvalidArgument(std::string(what) + " " + (*v)[i].id + " is defined twice");
    }
  }
  return Status::OK();
}

}  // namespace

int64_t FirstHourOf(int64_t effective_from, bool first_version) {
  return first_version ? FloorHour(effective_from) : CeilHour(effective_from);
}

std::shared_ptr<const Tenancy> Tenancy::Empty() {
  static const std::shared_ptr<const Tenancy> empty(new Tenancy());
  return empty;
}

Result<std::shared_ptr<const Tenancy>> Tenancy::Build(TenancyData data) {
  std::shared_ptr<Tenancy> t(new Tenancy());
  METERD_RETURN_IF_ERROR(SortUnique(&data.domains, "domain"));
  METERD_RETURN_IF_ERROR(SortUnique(&data.accounts, "account"));
  METERD_RETURN_IF_ERROR(SortUnique(&data.projects, "project"));
  METERD_RETURN_IF_ERROR(SortUnique(&data.locations, "location"));
  METERD_RETURN_IF_ERROR(SortUnique(&data.plan_groups, "plan group"));
  METERD_RETURN_IF_ERROR(SortUnique(&data.plans, "plan"));
  METERD_RETURN_IF_ERROR(SortUnique(&data.resources, "resource"));
  t->data_ = std::move(data);
  TenancyData& d = t->data_;

  // Domains: parents exist and form no cycle.
  t->domain_parent_.assign(d.domains.size(), kNone);
  for (size_t i = 0; i < d.domains.size(); ++i) {
    if (d.domains[i].parent.empty()) continue;
    const uint32_t p = IndexOf(d.domains, d.domains[i].parent);
    if (p == kNone) {
      return Status::InvalidArgument("domain " + d.domains[i].id + ": parent " +
                                     d.domains[i].parent + " is not a domain");
    }
    t->domain_parent_[i] = p;
  }
  for (size_t i = 0; i < d.domains.size(); ++i) {
    uint32_t cur = static_cast<uint32_t>(i);
    for (size_t steps = 0; cur != kNone; ++steps) {
      if (steps > d.domains.size()) {
        return Status::InvalidArgument("domain " + d.domains[i].id + ": its parents form a cycle");
      }
      cur = t->domain_parent_[cur];
    }
  }
  t->account_domain_.resize(d.accounts.size());
  for (size_t i = 0; i < d.accounts.size(); ++i) {
    t->account_domain_[i] = IndexOf(d.domains, d.accounts[i].domain);
    if (t->account_domain_[i] == kNone) {
      return Status::InvalidArgument("account " + d.accounts[i].id + ": domain " +
                                     d.accounts[i].domain + " is not a domain");
    }
  }
  // Billing profiles: one per account, of a known account.
  std::sort(d.billing_profiles.begin(), d.billing_profiles.end(),
            [](const BillingProfile& a, const BillingProfile& b) { return a.account < b.account; });
  for (size_t i = 0; i < d.billing_profiles.size(); ++i) {
    const BillingProfile& p = d.billing_profiles[i];
    if (i > 0 && p.account == d.billing_profiles[i - 1].account) {
      return Status::InvalidArgument("account " + p.account + " has two billing profiles");
    }
    if (IndexOf(d.accounts, p.account) == kNone) {
      return Status::InvalidArgument("billing profile of " + p.account + ": not an account");
    }
  }
  METERD_RETURN_IF_ERROR(t->BuildInvoicing());
  t->project_account_.resize(d.projects.size());
  for (size_t i = 0; i < d.projects.size(); ++i) {
    t->project_account_[i] = IndexOf(d.accounts, d.projects[i].account);
    if (t->project_account_[i] == kNone) {
      return Status::InvalidArgument("project " + d.projects[i].id + ": account " +
                                     d.projects[i].account + " is not an account");
    }
  }
  for (const Plan& p : d.plans) {
    if (!p.group.empty() && IndexOf(d.plan_groups, p.group) == kNone) {
      return Status::InvalidArgument("plan " + p.id + ": group " + p.group +
                                     " is not a plan group");
    }
  }
  for (Resource& r : d.resources) {
    if (r.versions.empty()) {
      return Status::InvalidArgument("resource " + r.id + " has no version");
    }
    std::sort(r.versions.begin(), r.versions.end(),
              [](const ResourceVersion& a, const ResourceVersion& b) {
                return a.effective_from < b.effective_from;
              });
    for (size_t i = 0; i < r.versions.size(); ++i) {
      ResourceVersion& v = r.versions[i];
      if (i > 0 && v.effective_from == r.versions[i - 1].effective_from) {
        return Status::InvalidArgument("resource " + r.id + " has two versions from " +
                                       std::to_string(v.effective_from));
      }
      if (v.deleted && (i == 0 || r.versions[i - 1].deleted)) {
        return Status::InvalidArgument("resource " + r.id + ": a deletion from " +
                                       std::to_string(v.effective_from) +
                                       (i == 0 ? " is its first version" : " follows a deletion"));
      }
      v.first_hour = FirstHourOf(v.effective_from, i == 0);
      v.project_index = IndexOf(d.projects, v.project);
      if (v.project_index == kNone) {
        return Status::InvalidArgument("resource " + r.id + ": project " + v.project +
                                       " is not a project");
      }
      v.account_index = t->project_account_[v.project_index];
      v.domain_index = t->account_domain_[v.account_index];
      v.location_index = kNone;
      if (!v.location.empty()) {
        v.location_index = IndexOf(d.locations, v.location);
        if (v.location_index == kNone) {
          return Status::InvalidArgument("resource " + r.id + ": location " + v.location +
                                         " is not a location");
        }
      }
      v.plan_index = kNone;
      v.plan_group_index = kNone;
      if (!v.plan.empty()) {
        v.plan_index = IndexOf(d.plans, v.plan);
        if (v.plan_index == kNone) {
          return Status::InvalidArgument("resource " + r.id + ": plan " + v.plan +
                                         " is not a plan");
        }
        const std::string& group = d.plans[v.plan_index].group;
        if (!group.empty()) v.plan_group_index = IndexOf(d.plan_groups, group);
      }
      if (v.deleted) {  // validated like any version, but rates nothing
        v.project_index = v.account_index = v.domain_index = kNone;
        v.location_index = v.plan_index = v.plan_group_index = kNone;
      }
    }
    for (size_t i = 0; i < r.versions.size(); ++i) {
      ResourceVersion& v = r.versions[i];
      v.end_hour = i + 1 < r.versions.size() ? std::max(v.first_hour, r.versions[i + 1].first_hour)
                                             : kForever;
      // A later version starting inside the same hour as an earlier non-first one leaves
      // the earlier one no hour; keep ranges monotone.
      if (i + 1 < r.versions.size() && r.versions[i + 1].first_hour < v.first_hour) {
        r.versions[i + 1].first_hour = v.first_hour;
      }
    }
  }
  for (uint32_t ri = 0; ri < d.resources.size(); ++ri) {
    const std::string& agent = d.resources[ri].agent_id;
    if (agent.empty()) continue;
    if (IndexOf(d.resources, agent) != kNone) {
      return Status::InvalidArgument("resource " + d.resources[ri].id + ": agent id " + agent +
                                     " is the id of another resource");
    }
    t->agent_ids_.emplace_back(agent, ri);
  }
  std::sort(t->agent_ids_.begin(), t->agent_ids_.end());
  for (size_t i = 1; i < t->agent_ids_.size(); ++i) {
    if (t->agent_ids_[i].first == t->agent_ids_[i - 1].first) {
      return Status::InvalidArgument(
          "agent id " + std::string(t->agent_ids_[i].first) +
          " names two resources: " + d.resources[t->agent_ids_[i - 1].second].id + " and " +
          d.resources[t->agent_ids_[i].second].id);
    }
  }
  return std::shared_ptr<const Tenancy>(std::move(t));
}

uint32_t Tenancy::DomainIndex(std::string_view id) const { return IndexOf(data_.domains, id); }
uint32_t Tenancy::AccountIndex(std::string_view id) const { return IndexOf(data_.accounts, id); }
uint32_t Tenancy::ProjectIndex(std::string_view id) const { return IndexOf(data_.projects, id); }
uint32_t Tenancy::LocationIndex(std::string_view id) const { return IndexOf(data_.locations, id); }
uint32_t Tenancy::PlanGroupIndex(std::string_view id) const {
  return IndexOf(data_.plan_groups, id);
}
uint32_t Tenancy::PlanIndex(std::string_view id) const { return IndexOf(data_.plans, id); }
uint32_t Tenancy::ResourceIndex(std::string_view id) const { return IndexOf(data_.resources, id); }
uint32_t Tenancy::ResourceForSeries(std::string_view name) const {
  const uint32_t r = IndexOf(data_.resources, name);
  if (r != kNone) return r;
  auto it = std::lower_bound(agent_ids_.begin(), agent_ids_.end(), name,
                             [](const std::pair<std::string_view, uint32_t>& e,
                                std::string_view k) { return e.first < k; });
  return it != agent_ids_.end() && it->first == name ? it->second : kNone;
}

const Domain* Tenancy::FindDomain(std::string_view id) const { return FindIn(data_.domains, id); }
const Account* Tenancy::FindAccount(std::string_view id) const {
  return FindIn(data_.accounts, id);
}
const Project* Tenancy::FindProject(std::string_view id) const {
  return FindIn(data_.projects, id);
}
const Location* Tenancy::FindLocation(std::string_view id) const {
  return FindIn(data_.locations, id);
}
const PlanGroup* Tenancy::FindPlanGroup(std::string_view id) const {
  return FindIn(data_.plan_groups, id);
}
const Plan* Tenancy::FindPlan(std::string_view id) const { return FindIn(data_.plans, id); }
const Resource* Tenancy::FindResource(std::string_view id) const {
  return FindIn(data_.resources, id);
}

const BillingProfile* Tenancy::FindBillingProfile(std::string_view account) const {
  const auto& v = data_.billing_profiles;
  auto it =
      std::lower_bound(v.begin(), v.end(), account,
                       [](const BillingProfile& p, std::string_view k) { return p.account < k; });
  return it == v.end() || it->account != account ? nullptr : &*it;
}

Status Tenancy::BuildInvoicing() {
  TenancyData& d = data_;
  auto scope_ok = [&](const std::string& scope) {
    return scope == "*" || IndexOf(d.domains, scope) != kNone;
  };
  // Tax rates: unique by (country, region, name, effective_from).
  auto rate_key = [](const TaxRate& r) {
    return std::tie(r.country, r.region, r.name, r.effective_from);
  };
  std::sort(d.tax_rates.begin(), d.tax_rates.end(),
            [&](const TaxRate& a, const TaxRate& b) { return rate_key(a) < rate_key(b); });
  for (size_t i = 0; i < d.tax_rates.size(); ++i) {
    const TaxRate& r = d.tax_rates[i];
    if (i > 0 && rate_key(r) == rate_key(d.tax_rates[i - 1])) {
      return Status::InvalidArgument("tax rate " + r.country + " " + r.name + " from " +
                                     std::to_string(r.effective_from) + " is listed twice");
    }
    if (r.rate_ppm > kPpmWhole) {
      return Status::InvalidArgument("tax rate " + r.country + " " + r.name + " is over 100 %");
    }
  }
  tax_table_.rates = std::move(d.tax_rates);
  d.tax_rates.clear();
  // Settings and issuers: one per scope, "*" or a known domain.
  std::sort(d.tax_settings.begin(), d.tax_settings.end(),
            [](const TaxSettings& a, const TaxSettings& b) { return a.scope < b.scope; });
  for (size_t i = 0; i < d.tax_settings.size(); ++i) {
    const std::string& scope = d.tax_settings[i].scope;
    if (i > 0 && scope == d.tax_settings[i - 1].scope) {
      return Status::InvalidArgument("tax settings of " + scope + " are listed twice");
    }
    if (!scope_ok(scope)) {
      return Status::InvalidArgument("tax settings of " + scope + ": not a domain");
    }
  }
  std::sort(d.invoice_issuers.begin(), d.invoice_issuers.end(),
            [](const InvoiceIssuer& a, const InvoiceIssuer& b) { return a.scope < b.scope; });
  for (size_t i = 0; i < d.invoice_issuers.size(); ++i) {
    const std::string& scope = d.invoice_issuers[i].scope;
    if (i > 0 && scope == d.invoice_issuers[i - 1].scope) {
      return Status::InvalidArgument("invoice issuer of " + scope + " is listed twice");
    }
    if (!scope_ok(scope)) {
      return Status::InvalidArgument("invoice issuer of " + scope + ": not a domain");
    }
  }
  // Discounts and coupons: unique ids, one of percent and amount.
  DiscountCatalog& c = discount_catalog_;
  c.discounts = std::move(d.discounts);
  c.coupons = std::move(d.coupons);
  c.redemptions = std::move(d.coupon_redemptions);
  d.discounts.clear();
  d.coupons.clear();
  d.coupon_redemptions.clear();
  METERD_RETURN_IF_ERROR(SortUnique(&c.discounts, "discount"));
  METERD_RETURN_IF_ERROR(SortUnique(&c.coupons, "coupon"));
  for (Discount& x : c.discounts) {
    if ((x.percent_ppm == 0) == (x.amount == 0) || x.percent_ppm > kPpmWhole || x.amount < 0) {
      return Status::InvalidArgument("discount " + x.id +
                                     ": needs exactly one of percent and amount");
    }
    if (x.valid_from >= x.valid_until) {
      return Status::InvalidArgument("discount " + x.id + ": valid_until is not after valid_from");
    }
    if ((x.scope == DiscountScope::kAccount) != x.target.empty()) {
      return Status::InvalidArgument("discount " + x.id +
                                     ": an account discount has no target, "
                                     "a product or group discount needs one");
    }
    x.applies_to.clear();
    if (!x.domain.empty()) {
      if (!x.accounts.empty()) {
        return Status::InvalidArgument("discount " + x.id + ": accounts and domain both set");
      }
      const uint32_t di = IndexOf(d.domains, x.domain);
      if (di == kNone) {
        return Status::InvalidArgument("discount " + x.id + ": domain " + x.domain +
                                       " is not a domain");
      }
      for (size_t a = 0; a < d.accounts.size(); ++a) {
        if (DomainWithin(account_domain_[a], di)) x.applies_to.push_back(d.accounts[a].id);
      }
    } else {
      for (const std::string& a : x.accounts) {
        if (IndexOf(d.accounts, a) == kNone) {
          return Status::InvalidArgument("discount " + x.id + ": account " + a +
                                         " is not an account");
        }
        x.applies_to.push_back(a);
      }
      std::sort(x.applies_to.begin(), x.applies_to.end());
      x.applies_to.erase(std::unique(x.applies_to.begin(), x.applies_to.end()), x.applies_to.end());
    }
  }
  for (const Coupon& x : c.coupons) {
    if ((x.percent_ppm == 0) == (x.amount == 0) || x.percent_ppm > kPpmWhole || x.amount < 0) {
      return Status::InvalidArgument("coupon " + x.id +
                                     ": needs exactly one of percent and amount");
    }
  }
  auto red_key = [](const CouponRedemption& r) {
    return std::tie(r.account, r.redeemed_at, r.coupon);
  };
  std::sort(c.redemptions.begin(), c.redemptions.end(),
            [&](const CouponRedemption& a, const CouponRedemption& b) {
              return red_key(a) < red_key(b);
            });
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (const CouponRedemption& r : c.redemptions) {
    if (IndexOf(d.accounts, r.account) == kNone) {
      return Status::InvalidArgument("coupon redemption of " + r.coupon + ": " + r.account +
                                     " is not an account");
    }
    if (c.FindCoupon(r.coupon) == nullptr) {
      return Status::InvalidArgument("coupon redemption of " + r.account + ": " + r.coupon +
                                     " is not a coupon");
    }
    if (!seen.emplace(r.account, r.coupon).second) {
      return Status::InvalidArgument("account " + r.account + " redeemed coupon " + r.coupon +
                                     " twice");
    }
  }
  return Status::OK();
}

const TaxSettings& Tenancy::TaxSettingsFor(std::string_view domain) const {
  static const TaxSettings kDefaults = [] {
    TaxSettings s;
    s.scope.clear();
    return s;
  }();
  const auto& v = data_.tax_settings;
  auto find = [&](std::string_view scope) -> const TaxSettings* {
    auto it =
        std::lower_bound(v.begin(), v.end(), scope,
                         [](const TaxSettings& s, std::string_view k) { return s.scope < k; });
    return it != v.end() && it->scope == scope ? &*it : nullptr;
  };
  for (uint32_t cur = DomainIndex(domain); cur != kNone; cur = domain_parent_[cur]) {
    if (const TaxSettings* s = find(data_.domains[cur].id)) return *s;
  }
  if (const TaxSettings* s = find("*")) return *s;
  return kDefaults;
}

const InvoiceIssuer* Tenancy::IssuerFor(std::string_view domain) const {
  const auto& v = data_.invoice_issuers;
  auto find = [&](std::string_view scope) -> const InvoiceIssuer* {
    auto it =
        std::lower_bound(v.begin(), v.end(), scope,
                         [](const InvoiceIssuer& s, std::string_view k) { return s.scope < k; });
    return it != v.end() && it->scope == scope ? &*it : nullptr;
  };
  for (uint32_t cur = DomainIndex(domain); cur != kNone; cur = domain_parent_[cur]) {
    if (const InvoiceIssuer* s = find(data_.domains[cur].id)) return s;
  }
  return find("*");
}

const ResourceVersion* Tenancy::VersionAt(uint32_t resource_index, int64_t hour) const {
  const std::vector<ResourceVersion>& vs = data_.resources[resource_index].versions;
  const int64_t h = FloorHour(hour);
  // The last version whose range starts at or before h; it rates h when h is inside it.
  auto it = std::upper_bound(vs.begin(), vs.end(), h,
                             [](int64_t x, const ResourceVersion& v) { return x < v.first_hour; });
  while (it != vs.begin()) {
    --it;
    if (it->first_hour <= h && h < it->end_hour) return it->deleted ? nullptr : &*it;
    if (it->first_hour < it->end_hour) break;  // a non-empty range ending before h
  }
  return nullptr;
}

Attributes Tenancy::AttributesOf(uint32_t resource_index, const ResourceVersion& v) const {
  Attributes a;
  a.resource = &data_.resources[resource_index];
  a.version = &v;
  a.resource_index = resource_index;
  a.type = v.type;
  a.project = v.project;
  a.account = data_.accounts[v.account_index].id;
  a.domain = data_.domains[v.domain_index].id;
  a.location = v.location;
  a.plan = v.plan;
  if (v.plan_group_index != kNone) a.plan_group = data_.plan_groups[v.plan_group_index].id;
  a.storage_tier = v.storage_tier;
  return a;
}

Result<Attributes> Tenancy::AttributesAt(std::string_view resource, int64_t hour) const {
  const uint32_t ri = ResourceForSeries(resource);
  if (ri == kNone) {
    return Status::NotFound("resource " + std::string(resource) +
                            " is not registered: its usage is unattributed");
  }
  const ResourceVersion* v = VersionAt(ri, hour);
  if (v == nullptr) {
    return Status::NotFound("resource " + std::string(resource) +
                            " has no version (or was deleted) in force at " +
                            std::to_string(FloorHour(hour)) + ": its usage is unattributed");
  }
  return AttributesOf(ri, *v);
}

std::span<const ResourceVersion> Tenancy::Versions(std::string_view resource) const {
  const Resource* r = FindResource(resource);
  if (r == nullptr) return {};
  return r->versions;
}

bool Tenancy::DomainWithin(uint32_t domain_index, uint32_t ancestor_index) const {
  for (uint32_t cur = domain_index; cur != kNone; cur = domain_parent_[cur]) {
    if (cur == ancestor_index) return true;
  }
  return false;
}

std::vector<uint32_t> Tenancy::ResourcesIn(ScopeKind kind, std::string_view id, int64_t from,
                                           int64_t to) const {
  std::vector<uint32_t> out;
  uint32_t target = kNone;
  switch (kind) {
    case ScopeKind::kResource:
      target = ResourceIndex(id);
      break;
    case ScopeKind::kProject:
      target = ProjectIndex(id);
      break;
    case ScopeKind::kAccount:
      target = AccountIndex(id);
      break;
    case ScopeKind::kDomain:
      target = DomainIndex(id);
      break;
  }
  if (target == kNone) return out;
  for (uint32_t ri = 0; ri < data_.resources.size(); ++ri) {
    for (const ResourceVersion& v : data_.resources[ri].versions) {
      if (v.deleted) continue;
      // Some hour h (a multiple of 3600) with from <= h < to rated by this version.
      const int64_t first = CeilHour(std::max(v.first_hour, from));
      if (first >= std::min(v.end_hour, to)) continue;
      bool in = false;
      switch (kind) {
        case ScopeKind::kResource:
          in = ri == target;
          break;
        case ScopeKind::kProject:
          in = v.project_index == target;
          break;
        case ScopeKind::kAccount:
          in = v.account_index == target;
          break;
        case ScopeKind::kDomain:
          in = DomainWithin(v.domain_index, target);
          break;
      }
      if (in) {
        out.push_back(ri);
        break;
      }
    }
  }
  return out;
}

std::string_view Tenancy::PlanGroupOf(std::string_view plan) const {
  const Plan* p = FindPlan(plan);
  return p ? std::string_view(p->group) : std::string_view();
}

}  // namespace meterd::engine::tenancy
