// meterd — engine/tenancy/tenancy.h
//
// The tenancy model: domains (resellers, optionally nested) -> accounts -> projects;
// locations; plan groups and plans; and resources (VM, volume, IP, snapshot, network, ...)
// whose attributes (type, project, location, plan, storage tier) are kept as effective-dated
// versions, so that a resize or a move mid-month rates every hour against the attributes in
// force in that hour (docs/rating.md, "Tenancy").
//
// The hour rule. Hour h (a multiple of 3600) is rated with the latest version whose
// effective_from <= h: a version that starts mid-hour takes effect at the next hour
// boundary, the hour it starts in keeps the previous version. The one exception is a
// resource's first version, which also covers the hour it starts in (a VM created at 10:30 is
// attributed from 10:00; nothing else could claim that hour). Hours before the first version's
// hour, and every hour of an unknown resource, are *unattributed*: AttributesAt returns
// NotFound and the rating layer reports their usage as unattributed, never drops it.
//
// Deletion. A version with `deleted` set ends the resource at its hour (the hour rule above:
// a VM deleted at 10:30 is still attributed for 10:00-11:00). It keeps the attributes it
// inherited (so the row stays valid) but rates nothing: VersionAt returns nullptr for its
// hours, its indices are kNone, ResourcesIn skips it, and the rating layer reports usage in
// its hours as unattributed (reason "after_deletion"). A later version that is not deleted
// re-creates the resource. A first version is never a deletion, nor is a deletion's successor.
//
// Agent identity. A resource may carry an `agent_id`: the identity an agent knows it by (a
// libvirt domain UUID, say) when that differs from the provider's resource id. Series that an
// agent sends under the agent id are the resource's series: ResourceForSeries resolves either
// name. Agent ids are unique and never equal another resource's id.
// Each version's hours are precomputed as [first_hour, end_hour) (possibly empty when two
// versions start within one hour).
//
// A Tenancy is an immutable snapshot: every vector is sorted by id, ids are unique, every
// reference resolves (project -> account -> domain -> parent domains; plan -> plan group;
// version -> project, location, plan), and indices (positions in those vectors) are dense, so
// the rating layer can key dense arrays by them. It is built from TenancyData (by the store, or
// directly by tests and benchmarks without a database).
//
// Thread-safety: immutable after Build; share it as shared_ptr<const Tenancy> across threads.
// Pointers and string_views it returns live as long as the snapshot.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tenancy/billing_profile.h"
#include "engine/tenancy/invoicing_config.h"
#include "storage/base/result.h"

namespace meterd::engine::tenancy {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
constexpr int64_t kHour = 3600;
constexpr int64_t kForever = std::numeric_limits<int64_t>::max();  // an open end

struct Domain {
  std::string id;
  std::string name;
  std::string parent;  // empty: a top-level domain
};

struct Account {
  std::string id;
  std::string domain;
  std::string name;
  std::string currency;  // display currency code; empty = the price book's default
  bool allow_negative_balance = false;
};

struct Project {
  std::string id;
  std::string account;  // fixed for the life of the project (a move is a resource version)
  std::string name;
};

struct Location {
  std::string id;
  std::string name;
};

struct PlanGroup {
  std::string id;
  std::string name;
};

// A VM plan or another offering (a disk offering is a plan of the volumes that use it).
struct Plan {
  std::string id;
  std::string name;  // shown on invoices: "Copper - 1CPU @ 2.4GHz - 512MB RAM"
  std::string group;
  uint32_t vcpus = 0;
  uint64_t memory_bytes = 0;
  uint64_t disk_bytes = 0;  // root disk (or a disk offering's size); 0 = none
  std::string description;
};

struct ResourceVersion {
  int64_t effective_from = 0;  // unix second, as declared
  std::string type;            // "vm", "volume", "ip", "snapshot", "network", ...
  std::string project;
  std::string location;      // may be empty
  std::string plan;          // may be empty (an IP has no plan)
  std::string storage_tier;  // may be empty ("sata", "ssd", ...)
  bool deleted = false;      // the resource ends here (see "Deletion" above)

  // Derived by Tenancy::Build (ignored on input): the hours this version rates, and indices.
  int64_t first_hour = 0;  // multiple of 3600
  int64_t end_hour = 0;    // exclusive; kForever for the last version
  uint32_t project_index = kNone, account_index = kNone, domain_index = kNone;
  uint32_t location_index = kNone, plan_index = kNone, plan_group_index = kNone;

  // The declared attributes (not the derived fields) are equal.
  bool SameAttributes(const ResourceVersion& o) const {
    return effective_from == o.effective_from && type == o.type && project == o.project &&
           location == o.location && plan == o.plan && storage_tier == o.storage_tier &&
           deleted == o.deleted;
  }
};

struct Resource {
  std::string id;
  std::string name;                       // optional display name
  std::vector<ResourceVersion> versions;  // sorted by effective_from, unique, at least one
  std::string agent_id;                   // optional: the agent's name for it (see above)
};

// Everything Build needs; the order of the vectors does not matter.
struct TenancyData {
  std::vector<Domain> domains;
  std::vector<Account> accounts;
  std::vector<Project> projects;
  std::vector<Location> locations;
  std::vector<PlanGroup> plan_groups;
  std::vector<Plan> plans;
  std::vector<Resource> resources;
  std::vector<BillingProfile> billing_profiles;  // at most one per account
  // Invoicing (engine/tenancy/invoicing_config.h, docs/taxes-and-discounts.md).
  std::vector<TaxRate> tax_rates;
  std::vector<TaxSettings> tax_settings;       // one per scope ("*" or a domain)
  std::vector<InvoiceIssuer> invoice_issuers;  // one per scope
  std::vector<Discount> discounts;
  std::vector<Coupon> coupons;
  std::vector<CouponRedemption> coupon_redemptions;  // one per (account, coupon)
};

// What a resource is during one hour: its version and the tenancy chain above it. Empty
// views for attributes the version does not set (location, plan, plan group, storage tier).
struct Attributes {
  const Resource* resource = nullptr;
  const ResourceVersion* version = nullptr;
  uint32_t resource_index = kNone;
  std::string_view type, project, account, domain, location, plan, plan_group, storage_tier;
};

enum class ScopeKind : uint8_t { kResource, kProject, kAccount, kDomain };

class Tenancy {
 public:
  // Validates references and uniqueness (InvalidArgument naming the entity), sorts, and
  // derives hour ranges and indices.
  static Result<std::shared_ptr<const Tenancy>> Build(TenancyData data);
  // An empty model.
  static std::shared_ptr<const Tenancy> Empty();

  // All entities, sorted by id; an entity's index is its position here.
  const std::vector<Domain>& domains() const { return data_.domains; }
  const std::vector<Account>& accounts() const { return data_.accounts; }
  const std::vector<Project>& projects() const { return data_.projects; }
  const std::vector<Location>& locations() const { return data_.locations; }
  const std::vector<PlanGroup>& plan_groups() const { return data_.plan_groups; }
  const std::vector<Plan>& plans() const { return data_.plans; }
  const std::vector<Resource>& resources() const { return data_.resources; }
  // Sorted by account.
  const std::vector<BillingProfile>& billing_profiles() const { return data_.billing_profiles; }

  // Indices by id (binary search); kNone when unknown.
  uint32_t DomainIndex(std::string_view id) const;
  uint32_t AccountIndex(std::string_view id) const;
  uint32_t ProjectIndex(std::string_view id) const;
  uint32_t LocationIndex(std::string_view id) const;
  uint32_t PlanGroupIndex(std::string_view id) const;
  uint32_t PlanIndex(std::string_view id) const;
  uint32_t ResourceIndex(std::string_view id) const;
  // The resource a series' resource name denotes: a resource id, else an agent id; kNone.
  uint32_t ResourceForSeries(std::string_view name) const;

  // Lookups by id; nullptr when unknown.
  const Domain* FindDomain(std::string_view id) const;
  const Account* FindAccount(std::string_view id) const;
  const Project* FindProject(std::string_view id) const;
  const Location* FindLocation(std::string_view id) const;
  const PlanGroup* FindPlanGroup(std::string_view id) const;
  const Plan* FindPlan(std::string_view id) const;
  const Resource* FindResource(std::string_view id) const;
  // The account's billing profile; nullptr when it has none.
  const BillingProfile* FindBillingProfile(std::string_view account) const;

  // ---- invoicing configuration (docs/taxes-and-discounts.md) ----
  // Every tax rate, sorted by (country, region, name, effective_from).
  const TaxTable& tax_table() const { return tax_table_; }
  // Sorted by scope ("*" first).
  const std::vector<TaxSettings>& tax_settings() const { return data_.tax_settings; }
  const std::vector<InvoiceIssuer>& invoice_issuers() const { return data_.invoice_issuers; }
  // Discounts (applies_to derived), coupons and redemptions.
  const DiscountCatalog& discount_catalog() const { return discount_catalog_; }
  // The tax settings of issuing domain `domain`: its own entry, else its parent's, up to the
  // top, else "*", else the defaults (scope "", country "", reverse charge on, VAT on usage).
  // The entry found applies as a whole. An unknown domain reads "*" (or the defaults).
  const TaxSettings& TaxSettingsFor(std::string_view domain) const;
  // The issuer of domain `domain`'s invoices, inherited the same way; nullptr when neither the
  // domain, its ancestors nor "*" has one.
  const InvoiceIssuer* IssuerFor(std::string_view domain) const;

  // The attributes that rate hour `hour` of `resource` (hour rule above; `hour` is rounded
  // down to its hour). NotFound when the resource is unknown or the hour is before its first
  // version: the usage is unattributed.
  Result<Attributes> AttributesAt(std::string_view resource, int64_t hour) const;
  // Fast path for the rating layer: the version rating `hour`, or nullptr (unattributed).
  // REQUIRES: resource_index < resources().size().
  const ResourceVersion* VersionAt(uint32_t resource_index, int64_t hour) const;
  // The attributes of one version of resource `resource_index`.
  Attributes AttributesOf(uint32_t resource_index, const ResourceVersion& version) const;
  // All versions of a resource, oldest first; empty when unknown.
  std::span<const ResourceVersion> Versions(std::string_view resource) const;

  // Indices of the resources that belong to the scope during at least one hour of
  // [from, to) (some version with a non-empty hour range overlapping it is in the scope),
  // ascending. A domain scope includes its descendant domains. Unknown id: empty.
  std::vector<uint32_t> ResourcesIn(ScopeKind kind, std::string_view id, int64_t from = 0,
                                    int64_t to = kForever) const;
  // True when domain `domain_index` is `ancestor_index` or one of its descendants.
  bool DomainWithin(uint32_t domain_index, uint32_t ancestor_index) const;

  // The plan group id of a plan (empty when the plan is unknown).
  std::string_view PlanGroupOf(std::string_view plan) const;

 private:
  Tenancy() = default;
  // Validates, sorts and derives the invoicing configuration (after domains and accounts).
  Status BuildInvoicing();
  TenancyData data_;
  std::vector<uint32_t> domain_parent_;   // index of each domain's parent, kNone at the top
  std::vector<uint32_t> account_domain_;  // domain index of each account
  std::vector<uint32_t> project_account_;
  std::vector<std::pair<std::string_view, uint32_t>> agent_ids_;  // sorted: agent id -> resource
  TaxTable tax_table_;                // rates moved out of data_.tax_rates
  DiscountCatalog discount_catalog_;  // discounts, coupons, redemptions moved out of data_
};

// The first hour a version rates (the hour rule): the hour containing effective_from for a
// resource's first version, the next hour boundary at or after it for any later version.
int64_t FirstHourOf(int64_t effective_from, bool first_version);

}  // namespace meterd::engine::tenancy
