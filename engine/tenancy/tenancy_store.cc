// meterd — engine/tenancy/tenancy_store.cc
#include "engine/tenancy/tenancy_store.h"

#include "engine/tenancy/invoicing_sections.h"

#include <algorithm>
#include <array>
#include <map>

namespace meterd::engine::tenancy {
namespace {

constexpr std::string_view kModule = "tenancy";
// Version 2 added resources.agent_id, resource_versions.deleted and the agents' tables
// (resource_hosts, resource_moves; engine/tenancy/resource_hosts.h). kMigrateFrom1 brings a
// version-1 database there in the same transaction that records version 2.
// Version 3 added billing_profiles (engine/tenancy/billing_profile.h), a new table only:
// kSchema's CREATE TABLE IF NOT EXISTS adds it to a version-1 or -2 database in the transaction
// that records version 3, and no existing row changes (docs/ledger.md, "Resources and their
// hosts", lists the migrations).
// Version 4 added the invoicing tables (tax_rates, tax_settings, invoice_issuers, discounts,
// coupons, coupon_redemptions: engine/tenancy/invoicing_sections.h), new tables only, created
// the same way.
// Version 4 also added billing_profiles.region (kMigrateFrom3 on a version-3 file; kSchema's
// table has it for older ones, which had no billing_profiles table yet).
constexpr int64_t kSchemaVersion = 4;
constexpr std::string_view kMigrateFrom3 = R"sql(
ALTER TABLE billing_profiles ADD COLUMN region TEXT NOT NULL DEFAULT '';
)sql";
constexpr std::string_view kMigrateFrom1 = R"sql(
ALTER TABLE resources ADD COLUMN agent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE resource_versions ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
)sql";

// Every reference is checked at commit (DEFERRABLE INITIALLY DEFERRED), so one apply may
// create a child before its parent. Resource versions are append-only, enforced by triggers.
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS locations (
  id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plan_groups (
  id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plans (
  id TEXT PRIMARY KEY, name TEXT NOT NULL,
  plan_group TEXT REFERENCES plan_groups(id) DEFERRABLE INITIALLY DEFERRED,
  vcpus INTEGER NOT NULL, memory_bytes INTEGER NOT NULL, disk_bytes INTEGER NOT NULL,
  description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS domains (
  id TEXT PRIMARY KEY, name TEXT NOT NULL,
  parent TEXT REFERENCES domains(id) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  domain TEXT NOT NULL REFERENCES domains(id) DEFERRABLE INITIALLY DEFERRED,
  name TEXT NOT NULL, currency TEXT NOT NULL, allow_negative_balance INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
  id TEXT PRIMARY KEY,
  account TEXT NOT NULL REFERENCES accounts(id) DEFERRABLE INITIALLY DEFERRED,
  name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, agent_id TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS resource_versions (
  resource TEXT NOT NULL REFERENCES resources(id) DEFERRABLE INITIALLY DEFERRED,
  effective_from INTEGER NOT NULL,
  type TEXT NOT NULL,
  project TEXT NOT NULL REFERENCES projects(id) DEFERRABLE INITIALLY DEFERRED,
  location TEXT REFERENCES locations(id) DEFERRABLE INITIALLY DEFERRED,
  plan TEXT REFERENCES plans(id) DEFERRABLE INITIALLY DEFERRED,
  storage_tier TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (resource, effective_from)) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS resource_versions_no_update BEFORE UPDATE ON resource_versions
BEGIN SELECT RAISE(ABORT, 'resource versions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS resource_versions_no_delete BEFORE DELETE ON resource_versions
BEGIN SELECT RAISE(ABORT, 'resource versions are append-only'); END;
CREATE TABLE IF NOT EXISTS resource_hosts (
  resource TEXT PRIMARY KEY, type TEXT NOT NULL, hypervisor TEXT NOT NULL,
  first_seen INTEGER NOT NULL, moved_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS resource_moves (
  id INTEGER PRIMARY KEY, resource TEXT NOT NULL, from_hypervisor TEXT NOT NULL,
  to_hypervisor TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS resource_moves_no_update BEFORE UPDATE ON resource_moves
BEGIN SELECT RAISE(ABORT, 'resource moves are append-only'); END;
CREATE TRIGGER IF NOT EXISTS resource_moves_no_delete BEFORE DELETE ON resource_moves
BEGIN SELECT RAISE(ABORT, 'resource moves are append-only'); END;
CREATE TABLE IF NOT EXISTS billing_profiles (
  account TEXT PRIMARY KEY REFERENCES accounts(id) DEFERRABLE INITIALLY DEFERRED,
  address TEXT NOT NULL, country TEXT NOT NULL, vat_number TEXT NOT NULL,
  time_zone TEXT NOT NULL, currency TEXT NOT NULL,
  cycle TEXT NOT NULL, anchor_day INTEGER NOT NULL, week_start INTEGER NOT NULL,
  region TEXT NOT NULL DEFAULT '') WITHOUT ROWID;
)sql";

constexpr std::array<std::string_view, 14> kSections = {
    "locations", "plan_groups",       "plans",     "domains",      "accounts",        "projects",
    "resources", "billing_profiles",  "tax_rates", "tax_settings", "invoice_issuers", "discounts",
    "coupons",   "coupon_redemptions"};

std::string Indexed(std::string_view key, size_t i) {
  return std::string(key) + "[" + std::to_string(i) + "]";
}

// Fields of an entity that differ, for the report ("name, currency").
class Diff {
 public:
  template <typename T>
  void Field(const char* name, const T& a, const T& b) {
    if (a == b) return;
    if (!text_.empty()) text_ += ", ";
    text_ += name;
  }
  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// A map from id to entity for the merged (stored + document) view.
template <typename T>
std::map<std::string, T, std::less<>> ById(const std::vector<T>& v) {
  std::map<std::string, T, std::less<>> out;
  for (const T& e : v) out.emplace(e.id, e);
  return out;
}

template <typename T>
std::vector<T> Values(const std::map<std::string, T, std::less<>>& m) {
  std::vector<T> out;
  out.reserve(m.size());
  for (const auto& [k, v] : m) out.push_back(v);
  return out;
}

// Decoding state of one Prepare.
struct Decoder {
  const Tenancy& base;
  DocErrors* errors;
  ApplyReport* report;
  std::map<std::string, Location, std::less<>> locations;
  std::map<std::string, PlanGroup, std::less<>> plan_groups;
  std::map<std::string, Plan, std::less<>> plans;
  std::map<std::string, Domain, std::less<>> domains;
  std::map<std::string, Account, std::less<>> accounts;
  std::map<std::string, Project, std::less<>> projects;
  std::map<std::string, Resource, std::less<>> resources;
  std::map<std::string, int, std::less<>> domain_lines;  // domains of the document, for cycles
  std::map<std::string, BillingProfile, std::less<>> billing_profiles;  // by account
  TenancyData upserts;
  int64_t changed_from = kForever;  // TenancyPlan::changed_from

  // Iterates the items of a section; returns false when absent.
  template <typename F>
  void Section(const DocNode& root, std::string_view key, F&& each) {
    const DocNode* seq = root.Find(key);
    if (seq == nullptr || seq->is_null()) return;
    if (!seq->is_sequence()) {
      errors->Add(seq->line, std::string(key), "must be a list");
      return;
    }
    std::map<std::string, int, std::less<>> seen;
    for (size_t i = 0; i < seq->items.size(); ++i) {
      FieldReader r(seq->items[i], Indexed(key, i), errors);
      if (!r.is_map()) continue;
      std::optional<std::string> id = r.Id("id", true);
      if (id) {
        auto [it, fresh] = seen.emplace(*id, seq->items[i].line);
        if (!fresh) {
          r.Error("id", "\"" + *id + "\" appears twice in " + std::string(key) +
                            " (first on line " + std::to_string(it->second) + ")");
          id.reset();
        }
      }
      each(r, id);
      r.Finish();
    }
  }

  template <typename T>
  void Record(const char* entity, const T* old, const T& now, const Diff& diff,
              std::vector<T>* rows) {
    if (old == nullptr) {
      report->Add(entity, now.id, ChangeKind::kCreated);
      rows->push_back(now);
    } else if (!diff.empty()) {
      report->Add(entity, now.id, ChangeKind::kUpdated, diff.text());
      rows->push_back(now);
      changed_from = INT64_MIN;  // what references it may rate differently in any hour
    } else {
      report->Add(entity, now.id, ChangeKind::kUnchanged);
    }
  }

  std::optional<std::string> Ref(FieldReader& r, std::string_view key, bool required, bool exists,
                                 const char* what) {
    auto v = r.Id(key, required);
    if (v && !exists) {
      r.Error(key, "\"" + *v + "\" is not a known " + what);
      return std::nullopt;
    }
    return v;
  }

  void Locations(const DocNode& root) {
    Section(root, "locations", [&](FieldReader& r, const std::optional<std::string>& id) {
      auto name = r.String("name", false);
      if (!id) return;
      Location now{*id, name.value_or(*id)};
      const Location* old = base.FindLocation(*id);
      Diff d;
      if (old) d.Field("name", old->name, now.name);
      Record("location", old, now, d, &upserts.locations);
      locations[*id] = now;
    });
  }

  void PlanGroups(const DocNode& root) {
    Section(root, "plan_groups", [&](FieldReader& r, const std::optional<std::string>& id) {
      auto name = r.String("name", false);
      if (!id) return;
      PlanGroup now{*id, name.value_or(*id)};
      const PlanGroup* old = base.FindPlanGroup(*id);
      Diff d;
      if (old) d.Field("name", old->name, now.name);
      Record("plan_group", old, now, d, &upserts.plan_groups);
      plan_groups[*id] = now;
    });
  }

  void Plans(const DocNode& root) {
    Section(root, "plans", [&](FieldReader& r, const std::optional<std::string>& id) {
      Plan now;
      auto name = r.String("name", false);
      auto group = r.Id("group", false);
      if (group && !plan_groups.contains(*group)) {
        r.Error("group", "\"" + *group + "\" is not a known plan group");
        group.reset();
      }
      auto vcpus = r.Int("vcpus", false, 0, 1 << 20);
      auto memory = r.Int("memory_bytes", false, 0, INT64_MAX);
      auto disk = r.Int("disk_bytes", false, 0, INT64_MAX);
      auto description = r.String("description", false);
      if (!id) return;
      now.id = *id;
      now.name = name.value_or(*id);
      now.group = group.value_or("");
      now.vcpus = static_cast<uint32_t>(vcpus.value_or(0));
      now.memory_bytes = static_cast<uint64_t>(memory.value_or(0));
      now.disk_bytes = static_cast<uint64_t>(disk.value_or(0));
      now.description = description.value_or("");
      const Plan* old = base.FindPlan(*id);
      Diff d;
      if (old) {
        d.Field("name", old->name, now.name);
        d.Field("group", old->group, now.group);
        d.Field("vcpus", old->vcpus, now.vcpus);
        d.Field("memory_bytes", old->memory_bytes, now.memory_bytes);
        d.Field("disk_bytes", old->disk_bytes, now.disk_bytes);
        d.Field("description", old->description, now.description);
      }
      Record("plan", old, now, d, &upserts.plans);
      plans[*id] = now;
    });
  }

  void Domains(const DocNode& root) {
    // Parents may come later in the list: read them all first, check references after.
    struct Pending {
      Domain now;
      int parent_line;
      std::string parent_path;
    };
    std::vector<Pending> pending;
    Section(root, "domains", [&](FieldReader& r, const std::optional<std::string>& id) {
      auto name = r.String("name", false);
      auto parent = r.Id("parent", false);
      if (!id) return;
      Pending p{Domain{*id, name.value_or(*id), parent.value_or("")}, r.LineOf("parent"),
                r.PathOf("parent")};
      if (parent && *parent == *id) {
        errors->Add(p.parent_line, p.parent_path, "cannot be the domain itself");
        return;
      }
      domains[*id] = p.now;
      domain_lines[*id] = p.parent_line;
      pending.push_back(std::move(p));
    });
    for (Pending& p : pending) {
      if (!p.now.parent.empty() && !domains.contains(p.now.parent)) {
        errors->Add(p.parent_line, p.parent_path, "\"" + p.now.parent + "\" is not a known domain");
        continue;
      }
      // A cycle through this domain.
      std::string cur = p.now.parent;
      bool cycle = false;
      for (size_t steps = 0; !cur.empty() && steps <= domains.size(); ++steps) {
        if (cur == p.now.id) {
          cycle = true;
          break;
        }
        auto it = domains.find(cur);
        cur = it == domains.end() ? std::string() : it->second.parent;
      }
      if (cycle) {
        errors->Add(p.parent_line, p.parent_path,
                    "\"" + p.now.parent + "\" makes the domains' parents a cycle");
        continue;
      }
      const Domain* old = base.FindDomain(p.now.id);
      Diff d;
      if (old) {
        d.Field("name", old->name, p.now.name);
        d.Field("parent", old->parent, p.now.parent);
      }
      Record("domain", old, p.now, d, &upserts.domains);
    }
  }

  void Accounts(const DocNode& root) {
    Section(root, "accounts", [&](FieldReader& r, const std::optional<std::string>& id) {
      auto domain = r.Id("domain", true);
      if (domain && !domains.contains(*domain)) {
        r.Error("domain", "\"" + *domain + "\" is not a known domain");
        domain.reset();
      }
      auto name = r.String("name", false);
      auto currency = r.Id("currency", false);
      auto allow = r.Bool("allow_negative_balance", false);
      if (!id || !domain) return;
      Account now{*id, *domain, name.value_or(*id), currency.value_or(""), allow.value_or(false)};
      const Account* old = base.FindAccount(*id);
      if (old && old->domain != now.domain) {
        r.Error("domain", "account " + *id + " belongs to domain " + old->domain +
                              "; an account never moves to another domain (its history would "
                              "move with it)");
        return;
      }
      Diff d;
      if (old) {
        d.Field("name", old->name, now.name);
        d.Field("currency", old->currency, now.currency);
        d.Field("allow_negative_balance", old->allow_negative_balance, now.allow_negative_balance);
      }
      Record("account", old, now, d, &upserts.accounts);
      accounts[*id] = now;
    });
  }

  // billing_profiles: one per account, keyed by `account`; declarative like the other
  // sections (a field left out takes its default). Profiles do not change what any hour rates,
  // so they leave changed_from alone.
  void BillingProfiles(const DocNode& root) {
    constexpr std::string_view kKey = "billing_profiles";
    const DocNode* seq = root.Find(kKey);
    if (seq == nullptr || seq->is_null()) return;
    if (!seq->is_sequence()) {
      errors->Add(seq->line, std::string(kKey), "must be a list");
      return;
    }
    std::map<std::string, int, std::less<>> seen;
    for (size_t i = 0; i < seq->items.size(); ++i) {
      FieldReader r(seq->items[i], Indexed(kKey, i), errors);
      if (!r.is_map()) continue;
      std::optional<std::string> account = r.Id("account", true);
      if (account && !accounts.contains(*account)) {
        r.Error("account", "\"" + *account + "\" is not a known account");
        account.reset();
      }
      if (account) {
        auto [it, fresh] = seen.emplace(*account, seq->items[i].line);
        if (!fresh) {
          r.Error("account", "\"" + *account +
                                 "\" has a second profile in billing_profiles (first "
                                 "on line " +
                                 std::to_string(it->second) + ")");
          account.reset();
        }
      }
      const auto address = r.String("address", false);
      const auto country = r.String("country", false);
      const auto region = r.String("region", false);
      const auto vat = r.String("vat_number", false);
      const auto zone = r.String("time_zone", false);
      const auto currency = r.String("currency", false);
      const auto cycle = r.String("cycle", false);
      const auto anchor = r.Int("anchor_day", false, 1, 31);
      const auto week_start = r.String("week_start", false);
      r.Finish();
      bool ok = account.has_value();
      auto check = [&](std::string_view key, const Status& s) {
        if (s.ok()) return;
        r.Error(key, std::string(s.message()));
        ok = false;
      };
      BillingProfile now;
      now.account = account.value_or("");
      now.address = address.value_or("");
      now.country = country.value_or("");
      now.region = region.value_or("");
      now.vat_number = vat.value_or("");
      now.time_zone = zone.value_or("UTC");
      now.currency = currency.value_or("");
      check("address", ValidateAddress(now.address));
      check("country", ValidateCountry(now.country));
      check("region", ValidateRegion(now.region));
      if (!now.region.empty() && now.country.empty()) {
        r.Error("region", "needs a country (a region is a subdivision of it)");
        ok = false;
      }
      check("vat_number", ValidateVatNumber(now.vat_number));
      check("time_zone", ValidateTimeZone(now.time_zone));
      check("currency", ValidateCurrency(now.currency));
      if (cycle) {
        const std::optional<cycles::CycleKind> kind = cycles::ParseCycleKind(*cycle);
        if (kind) {
          now.cycle.kind = *kind;
        } else {
          r.Error("cycle", "\"" + *cycle +
                               "\" is not a cycle (monthly, monthly_anchored, daily, "
                               "weekly, quarterly, yearly)");
          ok = false;
        }
      }
      if (now.cycle.kind == cycles::CycleKind::kMonthlyAnchored) {
        if (anchor) {
          now.cycle.anchor_day = static_cast<unsigned>(*anchor);
        } else {
          // Absent: say so; present but bad: Int has said why.
          if (seq->items[i].Find("anchor_day") == nullptr) {
            r.Error("anchor_day",
                    "is required for the monthly_anchored cycle (1-31: the day of "
                    "the month the account started)");
          }
          ok = false;
        }
      } else if (anchor) {
        r.Error("anchor_day", "is only for the monthly_anchored cycle");
        ok = false;
      }
      if (week_start) {
        const std::optional<unsigned> day = cycles::ParseWeekday(*week_start);
        if (now.cycle.kind != cycles::CycleKind::kWeekly) {
          r.Error("week_start", "is only for the weekly cycle");
          ok = false;
        } else if (!day) {
          r.Error("week_start", "\"" + *week_start + "\" is not a weekday (monday ... sunday)");
          ok = false;
        } else {
          now.cycle.week_start = *day;
        }
      }
      if (!ok) continue;
      const BillingProfile* old = base.FindBillingProfile(now.account);
      Diff d;
      if (old) {
        d.Field("address", old->address, now.address);
        d.Field("country", old->country, now.country);
        d.Field("region", old->region, now.region);
        d.Field("vat_number", old->vat_number, now.vat_number);
        d.Field("time_zone", old->time_zone, now.time_zone);
        d.Field("currency", old->currency, now.currency);
        d.Field("cycle", old->cycle, now.cycle);
      }
      if (old == nullptr) {
        report->Add("billing_profile", now.account, ChangeKind::kCreated);
        upserts.billing_profiles.push_back(now);
      } else if (!d.empty()) {
        report->Add("billing_profile", now.account, ChangeKind::kUpdated, d.text());
        upserts.billing_profiles.push_back(now);
      } else {
        report->Add("billing_profile", now.account, ChangeKind::kUnchanged);
      }
      billing_profiles[now.account] = std::move(now);
    }
  }

  void Projects(const DocNode& root) {
    Section(root, "projects", [&](FieldReader& r, const std::optional<std::string>& id) {
      auto account = r.Id("account", true);
      if (account && !accounts.contains(*account)) {
        r.Error("account", "\"" + *account + "\" is not a known account");
        account.reset();
      }
      auto name = r.String("name", false);
      if (!id || !account) return;
      Project now{*id, *account, name.value_or(*id)};
      const Project* old = base.FindProject(*id);
      if (old && old->account != now.account) {
        r.Error("account", "project " + *id + " belongs to account " + old->account +
                               "; a project never moves to another account (move its resources: "
                               "give them a new version in another project)");
        return;
      }
      Diff d;
      if (old) d.Field("name", old->name, now.name);
      Record("project", old, now, d, &upserts.projects);
      projects[*id] = now;
    });
  }

  void Resources(const DocNode& root) {
    Section(root, "resources", [&](FieldReader& r, const std::optional<std::string>& id) {
      auto name = r.String("name", false);
      auto agent_id = r.String("agent_id", false);
      if (agent_id && !agent_id->empty() && !IsValidAgentId(*agent_id)) {
        r.Error("agent_id", "\"" + *agent_id +
                                "\" is not a valid agent id (1-128 printable ASCII bytes, no "
                                "spaces or '|')");
        agent_id.reset();
      }
      const Resource* old = id ? base.FindResource(*id) : nullptr;
      // A new resource needs its first version; an existing one may change only its name or
      // agent id.
      const DocNode* versions = r.Sequence("versions", old == nullptr);
      if (versions && versions->items.empty())
        r.Error("versions", "must list at least one version");
      // Stored versions plus the document's, by effective_from, for inheritance and checks.
      std::map<int64_t, ResourceVersion> merged;
      if (old) {
        for (const ResourceVersion& v : old->versions) merged[v.effective_from] = v;
      }
      std::vector<ResourceVersion> added;
      bool ok = id.has_value();
      int64_t prev_from = INT64_MIN;
      for (size_t i = 0; versions && i < versions->items.size(); ++i) {
        FieldReader vr(versions->items[i], r.PathOf(Indexed("versions", i)), errors);
        if (!vr.is_map()) {
          ok = false;
          continue;
        }
        auto from = vr.Time("effective_from", true);
        auto type = vr.Id("type", false);
        auto project = vr.Id("project", false);
        auto location = vr.String("location", false);
        auto plan = vr.String("plan", false);
        auto tier = vr.String("storage_tier", false);
        auto deleted = vr.Bool("deleted", false);
        vr.Finish();
        if (deleted.value_or(false) && (type || project || location || plan || tier)) {
          vr.Error("deleted", "a deletion takes no attributes: it ends the resource");
          ok = false;
          continue;
        }
        if (!from) {
          ok = false;
          continue;
        }
        if (*from < 0) {
          vr.Error("effective_from", "must not be before 1970");
          ok = false;
          continue;
        }
        if (*from <= prev_from) {
          vr.Error("effective_from", "must be later than versions[" + std::to_string(i - 1) +
                                         "].effective_from (versions are listed oldest first)");
          ok = false;
          continue;
        }
        prev_from = *from;
        // Inherit from the version in force just before (stored or earlier in the document).
        ResourceVersion v;
        auto before = merged.lower_bound(*from);
        const bool has_prev = before != merged.begin();
        if (has_prev) v = std::prev(before)->second;
        v.effective_from = *from;
        if (type) v.type = *type;
        if (project) v.project = *project;
        if (location) v.location = *location;
        if (plan) v.plan = *plan;
        if (tier) v.storage_tier = *tier;
        v.deleted = deleted.value_or(false);
        bool vok = true;
        if (v.deleted && !has_prev) {
          vr.Error("deleted", "a resource's first version cannot be a deletion");
          vok = false;
        } else if (v.deleted && std::prev(before)->second.deleted) {
          vr.Error("deleted", "the resource is already deleted at " + FormatTime(*from));
          vok = false;
        }
        if (v.type.empty()) {
          vr.Error("type", "is required for a resource's first version (vm, volume, ip, ...)");
          vok = false;
        }
        if (v.project.empty()) {
          vr.Error("project", "is required for a resource's first version");
          vok = false;
        } else if (!projects.contains(v.project)) {
          vr.Error("project", "\"" + v.project + "\" is not a known project");
          vok = false;
        }
        if (!v.location.empty() && !locations.contains(v.location)) {
          vr.Error("location", "\"" + v.location + "\" is not a known location");
          vok = false;
        }
        if (!v.plan.empty() && !plans.contains(v.plan)) {
          vr.Error("plan", "\"" + v.plan + "\" is not a known plan");
          vok = false;
        }
        if (!v.storage_tier.empty() && !IsValidId(v.storage_tier)) {
          vr.Error("storage_tier", "\"" + v.storage_tier + "\" is not a valid id");
          vok = false;
        }
        if (!vok) {
          ok = false;
          continue;
        }
        auto same = merged.find(*from);
        if (same != merged.end()) {
          if (!same->second.SameAttributes(v)) {
            vr.Error("effective_from",
                     "a version of " + id.value_or("?") + " from " + FormatTime(*from) +
                         " is already stored with other attributes; versions are append-only: "
                         "add a new version with a later effective_from");
            ok = false;
          }
          continue;
        }
        merged[*from] = v;
        added.push_back(v);
      }
      if (!ok) return;
      Resource now;
      now.id = *id;
      now.name = name.value_or(old ? old->name : std::string());
      now.agent_id = agent_id.value_or(old ? old->agent_id : std::string());
      for (auto& [t, v] : merged) now.versions.push_back(v);
      std::string detail;
      if (!added.empty()) {
        detail =
            "+" + std::to_string(added.size()) + (added.size() == 1 ? " version" : " versions");
        for (const ResourceVersion& v : added) detail += " " + FormatTime(v.effective_from);
        if (old && added.front().effective_from < old->versions.back().effective_from) {
          detail += " (backdated: re-attributes hours already stored)";
        }
      }
      if (old && old->name != now.name) detail += detail.empty() ? "name" : ", name";
      if (old && old->agent_id != now.agent_id) {
        detail += detail.empty() ? "agent_id" : ", agent_id";
        changed_from = INT64_MIN;  // series under either name re-attribute in every hour
      }
      for (const ResourceVersion& v : added) {  // effective_from >= 0: floor to its hour
        changed_from = std::min(changed_from, v.effective_from - v.effective_from % kHour);
      }
      Resource row;
      row.id = now.id;
      row.name = now.name;
      row.agent_id = now.agent_id;
      row.versions = added;
      if (old == nullptr) {
        report->Add("resource", now.id, ChangeKind::kCreated, detail);
        upserts.resources.push_back(std::move(row));
      } else if (!detail.empty()) {
        report->Add("resource", now.id, ChangeKind::kUpdated, detail);
        upserts.resources.push_back(std::move(row));
      } else {
        report->Add("resource", now.id, ChangeKind::kUnchanged);
      }
      resources[now.id] = std::move(now);
    });
  }
};

Status Upsert(Transaction& txn, const TenancyData& u) {
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("INSERT INTO locations(id, name) VALUES(?1, ?2) "
                                        "ON CONFLICT(id) DO UPDATE SET name = excluded.name"));
    for (const Location& e : u.locations) {
      st.Bind(1, e.id).Bind(2, e.name);
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("INSERT INTO plan_groups(id, name) VALUES(?1, ?2) "
                                        "ON CONFLICT(id) DO UPDATE SET name = excluded.name"));
    for (const PlanGroup& e : u.plan_groups) {
      st.Bind(1, e.id).Bind(2, e.name);
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO plans(id, name, plan_group, vcpus, memory_bytes, disk_bytes, "
                    "description) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE "
                    "SET name = excluded.name, plan_group = excluded.plan_group, vcpus = "
                    "excluded.vcpus, memory_bytes = excluded.memory_bytes, disk_bytes = "
                    "excluded.disk_bytes, description = excluded.description"));
    for (const Plan& e : u.plans) {
      st.Bind(1, e.id).Bind(2, e.name);
      if (e.group.empty()) {
        st.BindNull(3);
      } else {
        st.Bind(3, e.group);
      }
      st.Bind(4, int64_t{e.vcpus})
          .Bind(5, static_cast<int64_t>(e.memory_bytes))
          .Bind(6, static_cast<int64_t>(e.disk_bytes))
          .Bind(7, e.description);
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("INSERT INTO domains(id, name, parent) "
                                                      "VALUES(?1, ?2, ?3) ON CONFLICT(id) DO "
                                                      "UPDATE SET name = excluded.name, parent = "
                                                      "excluded.parent"));
    for (const Domain& e : u.domains) {
      st.Bind(1, e.id).Bind(2, e.name);
      if (e.parent.empty()) {
        st.BindNull(3);
      } else {
        st.Bind(3, e.parent);
      }
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO accounts(id, domain, name, currency, allow_negative_balance) "
                    "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE SET name = "
                    "excluded.name, currency = excluded.currency, allow_negative_balance = "
                    "excluded.allow_negative_balance"));
    for (const Account& e : u.accounts) {
      st.Bind(1, e.id).Bind(2, e.domain).Bind(3, e.name).Bind(4, e.currency);
      st.Bind(5, int64_t{e.allow_negative_balance ? 1 : 0});
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("INSERT INTO projects(id, account, name) VALUES(?1, ?2, "
                                        "?3) ON CONFLICT(id) DO UPDATE SET name = excluded.name"));
    for (const Project& e : u.projects) {
      st.Bind(1, e.id).Bind(2, e.account).Bind(3, e.name);
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement res,
                            txn.Prepare("INSERT INTO resources(id, name, agent_id) "
                                        "VALUES(?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET "
                                        "name = excluded.name, agent_id = excluded.agent_id"));
    METERD_ASSIGN_OR_RETURN(
        Statement ver,
        txn.Prepare("INSERT INTO resource_versions(resource, effective_from, type, project, "
                    "location, plan, storage_tier, deleted) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
    for (const Resource& e : u.resources) {
      res.Bind(1, e.id).Bind(2, e.name).Bind(3, e.agent_id);
      METERD_RETURN_IF_ERROR(res.Run());
      METERD_RETURN_IF_ERROR(res.Reset());
      for (const ResourceVersion& v : e.versions) {
        ver.Bind(1, e.id).Bind(2, v.effective_from).Bind(3, v.type).Bind(4, v.project);
        if (v.location.empty()) {
          ver.BindNull(5);
        } else {
          ver.Bind(5, v.location);
        }
        if (v.plan.empty()) {
          ver.BindNull(6);
        } else {
          ver.Bind(6, v.plan);
        }
        ver.Bind(7, v.storage_tier).Bind(8, int64_t{v.deleted ? 1 : 0});
        METERD_RETURN_IF_ERROR(ver.Run());
        METERD_RETURN_IF_ERROR(ver.Reset());
      }
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO billing_profiles(account, address, country, vat_number, "
                    "time_zone, currency, cycle, anchor_day, week_start, region) VALUES(?1, ?2, "
                    "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(account) DO UPDATE SET "
                    "region = excluded.region, address = "
                    "excluded.address, country = excluded.country, vat_number = "
                    "excluded.vat_number, time_zone = excluded.time_zone, currency = "
                    "excluded.currency, cycle = excluded.cycle, anchor_day = excluded.anchor_day, "
                    "week_start = excluded.week_start"));
    for (const BillingProfile& p : u.billing_profiles) {
      st.Bind(1, p.account).Bind(2, p.address).Bind(3, p.country).Bind(4, p.vat_number);
      st.Bind(5, p.time_zone).Bind(6, p.currency).Bind(7, cycles::CycleKindName(p.cycle.kind));
      st.Bind(8, int64_t{p.cycle.anchor_day}).Bind(9, int64_t{p.cycle.week_start});
      st.Bind(10, p.region);
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  return UpsertInvoicing(txn, u);
}

Result<TenancyData> ReadAll(Transaction& txn) {
  TenancyData d;
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT id, name FROM locations"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      d.locations.push_back(Location{st.Text(0), st.Text(1)});
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT id, name FROM plan_groups"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      d.plan_groups.push_back(PlanGroup{st.Text(0), st.Text(1)});
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("SELECT id, name, plan_group, vcpus, memory_bytes, "
                                        "disk_bytes, description FROM plans"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      Plan p;
      p.id = st.Text(0);
      p.name = st.Text(1);
      p.group = st.Text(2);
      p.vcpus = static_cast<uint32_t>(st.Int(3));
      p.memory_bytes = static_cast<uint64_t>(st.Int(4));
      p.disk_bytes = static_cast<uint64_t>(st.Int(5));
      p.description = st.Text(6);
      d.plans.push_back(std::move(p));
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT id, name, parent FROM domains"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      d.domains.push_back(Domain{st.Text(0), st.Text(1), st.Text(2)});
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("SELECT id, domain, name, currency, allow_negative_balance FROM accounts"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      d.accounts.push_back(Account{st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Int(4) != 0});
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT id, account, name FROM projects"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      d.projects.push_back(Project{st.Text(0), st.Text(1), st.Text(2)});
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("SELECT id, name, agent_id FROM resources ORDER BY id"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      Resource r;
      r.id = st.Text(0);
      r.name = st.Text(1);
      r.agent_id = st.Text(2);
      d.resources.push_back(std::move(r));
    }
    METERD_ASSIGN_OR_RETURN(
        Statement vs, txn.Prepare("SELECT resource, effective_from, type, project, location, plan, "
                                  "storage_tier, deleted FROM resource_versions ORDER BY resource, "
                                  "effective_from"));
    size_t ri = 0;
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, vs.Step());
      if (!row) break;
      const std::string id = vs.Text(0);
      while (ri < d.resources.size() && d.resources[ri].id < id) ++ri;
      if (ri == d.resources.size() || d.resources[ri].id != id) {
        return Status::Corruption("billing.db: a version of resource " + id +
                                  " has no resources row");
      }
      ResourceVersion v;
      v.effective_from = vs.Int(1);
      v.type = vs.Text(2);
      v.project = vs.Text(3);
      v.location = vs.Text(4);
      v.plan = vs.Text(5);
      v.storage_tier = vs.Text(6);
      v.deleted = vs.Int(7) != 0;
      d.resources[ri].versions.push_back(std::move(v));
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("SELECT account, address, country, vat_number, time_zone, "
                    "currency, cycle, anchor_day, week_start, region FROM billing_profiles"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      BillingProfile p;
      p.account = st.Text(0);
      p.address = st.Text(1);
      p.country = st.Text(2);
      p.vat_number = st.Text(3);
      p.time_zone = st.Text(4);
      p.currency = st.Text(5);
      const std::optional<cycles::CycleKind> kind = cycles::ParseCycleKind(st.Text(6));
      if (!kind) {
        return Status::Corruption("billing.db: billing profile of " + p.account +
                                  " has an unknown cycle \"" + st.Text(6) + "\"");
      }
      p.cycle.kind = *kind;
      p.cycle.anchor_day = static_cast<unsigned>(st.Int(7));
      p.cycle.week_start = static_cast<unsigned>(st.Int(8));
      p.region = st.Text(9);
      d.billing_profiles.push_back(std::move(p));
    }
  }
  METERD_RETURN_IF_ERROR(ReadInvoicing(txn, &d));
  return d;
}

}  // namespace

std::span<const std::string_view> TenancyStore::SectionKeys() { return kSections; }

Result<std::unique_ptr<TenancyStore>> TenancyStore::Open(BillingDb* db) {
  std::unique_ptr<TenancyStore> store(new TenancyStore(db));
  {
    METERD_ASSIGN_OR_RETURN(Transaction txn, db->Begin());
    METERD_ASSIGN_OR_RETURN(int64_t stored, BillingDb::SchemaVersion(txn, kModule));
    if (stored == 1) METERD_RETURN_IF_ERROR(txn.Exec(kMigrateFrom1));
    if (stored == 3) METERD_RETURN_IF_ERROR(txn.Exec(kMigrateFrom3));
    const std::string schema = std::string(kSchema) + std::string(kInvoicingSchema);
    METERD_RETURN_IF_ERROR(BillingDb::EnsureSchema(txn, kModule, kSchemaVersion, schema));
    METERD_RETURN_IF_ERROR(txn.Commit());
  }
  METERD_RETURN_IF_ERROR(store->Load());
  return store;
}

Status TenancyStore::Load() {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(TenancyData data, ReadAll(txn));
  txn.Rollback();
  Result<std::shared_ptr<const Tenancy>> t = Tenancy::Build(std::move(data));
  if (!t.ok()) return Status::Corruption("billing.db: " + std::string(t.status().message()));
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(t).value();
  return Status::OK();
}

std::shared_ptr<const Tenancy> TenancyStore::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

TenancyPlan TenancyStore::Prepare(const DocNode& root, DocErrors* errors,
                                  ApplyReport* report) const {
  TenancyPlan plan;
  plan.base = Current();
  const Tenancy& base = *plan.base;
  Decoder d{base, errors, report, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  d.locations = ById(base.locations());
  d.plan_groups = ById(base.plan_groups());
  d.plans = ById(base.plans());
  d.domains = ById(base.domains());
  d.accounts = ById(base.accounts());
  d.projects = ById(base.projects());
  d.resources = ById(base.resources());
  for (const BillingProfile& p : base.billing_profiles()) d.billing_profiles[p.account] = p;
  const size_t errors_before = errors->size();
  d.Locations(root);
  d.PlanGroups(root);
  d.Plans(root);
  d.Domains(root);
  d.Accounts(root);
  d.Projects(root);
  d.Resources(root);
  d.BillingProfiles(root);
  TenancyData next;
  CopyInvoicing(base, &next);
  InvoicingRefs refs{[&](std::string_view a) { return d.accounts.contains(a); },
                     [&](std::string_view x) { return d.domains.contains(x); }};
  DecodeInvoicingSections(root, base, refs, errors, report, &next, &d.upserts);
  plan.upserts = std::move(d.upserts);
  plan.changed_from = d.changed_from;
  if (errors->size() != errors_before) return plan;
  next.locations = Values(d.locations);
  next.plan_groups = Values(d.plan_groups);
  next.plans = Values(d.plans);
  next.domains = Values(d.domains);
  next.accounts = Values(d.accounts);
  next.projects = Values(d.projects);
  next.resources = Values(d.resources);
  next.billing_profiles = Values(d.billing_profiles);
  Result<std::shared_ptr<const Tenancy>> built = Tenancy::Build(std::move(next));
  if (!built.ok()) {
    errors->Add(root.line, "", std::string(built.status().message()));
    return plan;
  }
  plan.next = std::move(built).value();
  return plan;
}

Status TenancyStore::Write(const TenancyPlan& plan, Transaction& txn) const {
  if (Current() != plan.base) {
    return Status::Busy("the tenancy model changed since this apply was validated; apply again");
  }
  return Upsert(txn, plan.upserts);
}

void TenancyStore::Publish(const TenancyPlan& plan) {
  std::lock_guard<std::mutex> lock(mu_);
  current_ = plan.next;
}

Result<ApplyReport> TenancyStore::Apply(std::string_view text, DocFormat format,
                                        std::vector<DocError>* errors_out, bool dry_run) {
  std::lock_guard<std::mutex> apply_lock(apply_mu_);
  METERD_ASSIGN_OR_RETURN(DocNode root, ParseDocument(text, format));
  DocErrors errors;
  CheckSchema(root, &errors);
  for (const auto& [key, node] : root.entries) {
    if (key == "schema") continue;
    if (std::find(kSections.begin(), kSections.end(), key) == kSections.end()) {
      errors.Add(node.line, key, "is not a tenancy section");
    }
  }
  ApplyReport report;
  TenancyPlan plan = Prepare(root, &errors, &report);
  if (errors_out) *errors_out = errors.list();
  METERD_RETURN_IF_ERROR(errors.ToStatus());
  if (dry_run || !report.changed()) return report;
  {
    METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
    METERD_RETURN_IF_ERROR(Write(plan, txn));
    METERD_RETURN_IF_ERROR(txn.Commit());
  }
  Publish(plan);
  report.applied = true;
  return report;
}

}  // namespace meterd::engine::tenancy
