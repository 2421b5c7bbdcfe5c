// meterd — net/meterctl/catalog_cmd.cc
#include "net/meterctl/catalog_cmd.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "net/meterctl/csv_time.h"
#include "net/protocol/messages.h"

namespace meterd::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr int64_t kHour = 3600;

std::string Dump(const Json& j) { return j.dump(2, ' ', false, Json::error_handler_t::replace); }

// One ListCatalog round trip: the catalog document (or the section or entity asked for).
Result<Json> Fetch(net::Client* client, const std::string& section, const std::string& id) {
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t rid = client->NextRequestId();
  auto req = wire::CreateListCatalog(fbb, rid, fbb.CreateString(section), fbb.CreateString(id));
  METERD_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                          client->Call(net::FinishFrame(fbb, req), rid));
  const auto* rep = wire::GetEnvelope(bytes.data())->message_as_CatalogDocument();
  if (rep == nullptr) return Status::Corruption("unexpected answer to ListCatalog");
  Json doc = Json::parse(net::View(rep->document()), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::Corruption("the server's catalog document is not a JSON object");
  }
  return doc;
}

// The entities of a section of `doc` (an empty array when absent).
const Json& Items(const Json& doc, const char* section) {
  static const Json kEmpty = Json::array();
  auto it = doc.find(section);
  return it != doc.end() && it->is_array() ? *it : kEmpty;
}

// A field as text: strings as they are, numbers and booleans as JSON writes them, lists and
// maps compact; "" when absent.
std::string Text(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const std::string& p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

// 536870912 -> "512 MiB", 5000000000 -> "5 GB": the largest unit that divides it exactly.
std::string HumanBytes(uint64_t b) {
  if (b == 0) return "0";
  static constexpr struct {
    uint64_t factor;
    const char* name;
  } kUnits[] = {{1ull << 40, "TiB"},       {1ull << 30, "GiB"},   {1ull << 20, "MiB"},
                {1'000'000'000'000, "TB"}, {1'000'000'000, "GB"}, {1'000'000, "MB"},
                {1ull << 10, "KiB"},       {1'000, "KB"}};
  for (const auto& u : kUnits) {
    if (b % u.factor == 0) return std::to_string(b / u.factor) + " " + u.name;
  }
  return std::to_string(b) + " B";
}

uint64_t Bytes(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

// Prints `t`; for JSON, as {"<key>": rows}, one document.
void PrintRows(const Common& c, const char* key, const Table& t) {
  if (c.fmt() == Format::kJson) {
    std::printf("%s\n", nlohmann::json{{key, t.Json()}}.dump(2).c_str());
    return;
  }
  t.Print(c.fmt());
}

// An entity's fields, one per row ("memory_bytes  536870912 (512 MiB)").
Table FieldTable(const Json& entity, Format format) {
  Table t({"field", "value"});
  for (const auto& [key, value] : entity.items()) {
    std::string v = value.is_string() ? value.get<std::string>()
                                      : value.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (format == Format::kTable && key.ends_with("_bytes") && value.is_number_unsigned() &&
        value.get<uint64_t>() != 0) {
      v += " (" + HumanBytes(value.get<uint64_t>()) + ")";
    }
    t.Add({key, v});
  }
  return t;
}

void Heading(const std::string& text) { std::printf("\n%s\n", text.c_str()); }

// ---- the tables of each section ----

Table LocationRows(const Json& items, Format) {
  Table t({"id", "name"});
  for (const Json& l : items) t.Add({Text(l, "id"), Text(l, "name")});
  return t;
}

Table DomainRows(const Json& items, Format) {
  Table t({"id", "name", "parent"});
  for (const Json& d : items) t.Add({Text(d, "id"), Text(d, "name"), Text(d, "parent")});
  return t;
}

Table PlanRows(const Json& items, Format format) {
  const bool human = format == Format::kTable;
  Table t({"id", "name", "group", "vcpus", human ? "memory" : "memory_bytes",
           human ? "disk" : "disk_bytes"});
  t.SetNumeric(3);
  t.SetNumeric(4);
  t.SetNumeric(5);
  for (const Json& p : items) {
    t.Add({Text(p, "id"), Text(p, "name"), Text(p, "group"), Text(p, "vcpus"),
           human ? HumanBytes(Bytes(p, "memory_bytes")) : Text(p, "memory_bytes"),
           human ? HumanBytes(Bytes(p, "disk_bytes")) : Text(p, "disk_bytes")});
  }
  return t;
}

Table AccountRows(const Json& items, Format) {
  Table t({"id", "name", "domain", "currency", "allow_negative_balance"});
  for (const Json& a : items) {
    t.Add({Text(a, "id"), Text(a, "name"), Text(a, "domain"), Text(a, "currency"),
           Text(a, "allow_negative_balance")});
  }
  return t;
}

Table ProjectRows(const Json& items, Format) {
  Table t({"id", "name", "account"});
  for (const Json& p : items) t.Add({Text(p, "id"), Text(p, "name"), Text(p, "account")});
  return t;
}

// A deletion version carries no attributes: shown as "deleted" in the type column.
std::string TypeOf(const Json& version) {
  return Text(version, "deleted") == "true" ? "deleted" : Text(version, "type");
}

// Each resource with its latest version's attributes (a deleted one: "deleted" and the
// attributes it had before).
Table ResourceRows(const Json& items, Format) {
  Table t({"id", "name", "agent_id", "versions", "latest_from", "type", "project", "location",
           "plan", "storage_tier"});
  t.SetNumeric(3);
  for (const Json& r : items) {
    const Json& versions = Items(r, "versions");
    const Json latest = versions.empty() ? Json::object() : versions.back();
    Json attrs = latest;
    for (size_t i = versions.size(); i-- > 0 && Text(attrs, "deleted") == "true";) {
      attrs = versions[i];
    }
    t.Add({Text(r, "id"), Text(r, "name"), Text(r, "agent_id"), std::to_string(versions.size()),
           Text(latest, "effective_from"), TypeOf(latest), Text(attrs, "project"),
           Text(attrs, "location"), Text(attrs, "plan"), Text(attrs, "storage_tier")});
  }
  return t;
}

Table SubscriptionRows(const Json& items, Format) {
  Table t({"id", "account", "product", "quantity", "start", "end", "description"});
  t.SetNumeric(3);
  for (const Json& s : items) {
    t.Add({Text(s, "id"), Text(s, "account"), Text(s, "product"), Text(s, "quantity"),
           Text(s, "start"), Text(s, "end"), Text(s, "description")});
  }
  return t;
}

Table VersionRows(const Json& items, Format) {
  Table t({"version", "effective_from", "rounding", "default_currency", "currencies", "products",
           "description"});
  t.SetNumeric(0);
  t.SetNumeric(5);
  for (const Json& v : items) {
    std::vector<std::string> codes;
    for (const Json& c : Items(v, "currencies")) codes.push_back(Text(c, "code"));
    t.Add({Text(v, "version"), Text(v, "effective_from"), Text(v, "rounding"),
           Text(v, "default_currency"), Join(codes, " "),
           std::to_string(Items(v, "products").size()), Text(v, "description")});
  }
  return t;
}

// ---- products, summarised ----

std::string ProductMetric(const Json& p) {
  if (Text(p, "model") == "subscription") return "(subscription)";
  std::vector<std::string> states;
  for (const Json& s : Items(p, "states"))
    states.push_back(s.is_string() ? s.get<std::string>() : s.dump());
  return Text(p, "metric") + (states.empty() ? "" : "[" + Join(states, ",") + "]");
}

std::string ProductMatch(const Json& p) {
  auto it = p.find("match");
  if (it == p.end() || !it->is_object() || it->empty()) return "any";
  std::vector<std::string> parts;
  for (const auto& [k, v] : it->items()) parts.push_back(k + "=" + Text(*it, k.c_str()));
  return Join(parts, " ");
}

std::string ProductPrice(const Json& p) {
  const std::string model = Text(p, "model");
  if (model == "per_unit") return Text(p, "price");
  if (model == "package") return Text(p.value("package", Json::object()), "price");
  if (model == "subscription") {
    const std::string monthly = Text(p, "monthly_fee");
    return monthly.empty() ? "0" : monthly;
  }
  return "tiered";
}

// Caps, allowances, tiers, packages, minimums and fees in a few words.
std::string ProductTerms(const Json& p) {
  const std::string unit = Text(p, "unit");
  std::vector<std::string> terms;
  if (Text(p, "model") == "subscription") {
    if (p.contains("one_time_fee")) terms.push_back("one-time fee " + Text(p, "one_time_fee"));
    if (Text(p, "proration") == "hourly") terms.push_back("prorated hourly");
    return Join(terms, "; ");
  }
  std::vector<std::string> tiers;
  for (const Json& t : Items(p, "tiers")) {
    tiers.push_back((t.contains("up_to") ? "up to " + Text(t, "up_to") : std::string("rest")) +
                    " at " + Text(t, "price"));
  }
  if (!tiers.empty()) terms.push_back(Join(tiers, ", "));
  if (p.contains("package")) {
    terms.push_back("per started " + Text(p["package"], "size") + " " + unit);
  }
  if (p.contains("free")) terms.push_back("first " + Text(p, "free") + " " + unit + " free");
  if (p.contains("cap")) terms.push_back("cap " + Text(p, "cap") + " " + unit + " a month");
  if (p.contains("minimum")) terms.push_back("minimum " + Text(p, "minimum") + " a month");
  if (p.contains("divisor")) terms.push_back("divisor " + Text(p, "divisor"));
  return Join(terms, "; ");
}

Table ProductRows(const Json& version) {
  Table t({"id", "metric", "match", "model", "unit", "price", "terms"});
  for (const Json& p : Items(version, "products")) {
    const bool fee = Text(p, "model") == "subscription";
    t.Add({Text(p, "id"), ProductMetric(p), ProductMatch(p), Text(p, "model"),
           fee ? std::string("month") : Text(p, "unit"), ProductPrice(p), ProductTerms(p)});
  }
  return t;
}

Table CurrencyRows(const Json& version) {
  Table t({"code", "per_credit", "prefix", "suffix", "minor_digits", "default"});
  t.SetNumeric(4);
  const std::string def = Text(version, "default_currency");
  for (const Json& c : Items(version, "currencies")) {
    t.Add({Text(c, "code"), Text(c, "per_credit"), "\"" + Text(c, "prefix") + "\"",
           "\"" + Text(c, "suffix") + "\"", Text(c, "minor_digits"),
           Text(c, "code") == def ? "yes" : ""});
  }
  return t;
}

// ---- commands ----

using RowsFn = Table (*)(const Json& items, Format format);

// Runs `body` with a connected client; the exit code.
int WithClient(const Common& c, const std::function<int(net::Client*)>& body) {
  auto client = Connect(c);
  if (!client.ok()) return Fail(client.status());
  return body(client.value().get());
}

void AddList(CLI::App* group, Common& common, const char* section, const char* help, RowsFn rows) {
  CLI::App* list = group->add_subcommand("list", help);
  common.OnRun(list, [&common, section, rows] {
    return WithClient(common, [&](net::Client* client) {
      auto doc = Fetch(client, section, "");
      if (!doc.ok()) return Fail(doc.status());
      PrintRows(common, section, rows(Items(*doc, section), common.fmt()));
      return 0;
    });
  });
}

// `show ID`: JSON prints the document of the one entity; tables its fields, then whatever
// `more` adds (related entities, versions).
using MoreFn = std::function<int(const Common&, net::Client*, const Json& entity)>;

void AddShow(CLI::App* group, Common& common, const char* section, const char* help,
             MoreFn more = nullptr) {
  auto id = std::make_shared<std::string>();
  CLI::App* show = group->add_subcommand("show", help);
  show->add_option("id", *id, "the id")->required();
  common.OnRun(show, [&common, section, id, more] {
    return WithClient(common, [&](net::Client* client) {
      auto doc = Fetch(client, section, *id);
      if (!doc.ok()) return Fail(doc.status());
      const Json& items = Items(*doc, section);
      if (items.size() != 1) return Fail(Status::Corruption("expected one entity"));
      if (common.fmt() == Format::kJson) {
        std::printf("%s\n", Dump(*doc).c_str());
        return 0;
      }
      if (more) return more(common, client, items[0]);
      FieldTable(items[0], common.fmt()).Print(common.fmt());
      return 0;
    });
  });
}

// accounts show: the account, its projects and its subscriptions.
int MoreAccount(const Common& c, net::Client* client, const Json& account) {
  FieldTable(account, c.fmt()).Print(c.fmt());
  if (c.fmt() != Format::kTable) return 0;
  const std::string id = Text(account, "id");
  auto projects = Fetch(client, "projects", "");
  auto subs = Fetch(client, "subscriptions", "");
  if (!projects.ok()) return Fail(projects.status());
  if (!subs.ok()) return Fail(subs.status());
  Json own_projects = Json::array(), own_subs = Json::array();
  for (const Json& p : Items(*projects, "projects")) {
    if (Text(p, "account") == id) own_projects.push_back(p);
  }
  for (const Json& s : Items(*subs, "subscriptions")) {
    if (Text(s, "account") == id) own_subs.push_back(s);
  }
  Heading("projects (" + std::to_string(own_projects.size()) + ")");
  ProjectRows(own_projects, c.fmt()).Print(c.fmt());
  Heading("subscriptions (" + std::to_string(own_subs.size()) + ")");
  SubscriptionRows(own_subs, c.fmt()).Print(c.fmt());
  return 0;
}

// projects show: the project and the resources that are in it in some version.
int MoreProject(const Common& c, net::Client* client, const Json& project) {
  FieldTable(project, c.fmt()).Print(c.fmt());
  if (c.fmt() != Format::kTable) return 0;
  const std::string id = Text(project, "id");
  auto resources = Fetch(client, "resources", "");
  if (!resources.ok()) return Fail(resources.status());
  Table t({"resource", "name", "in_project_from", "latest_project"});
  size_t n = 0;
  for (const Json& r : Items(*resources, "resources")) {
    const Json& versions = Items(r, "versions");
    for (const Json& v : versions) {
      if (Text(v, "project") != id) continue;
      t.Add({Text(r, "id"), Text(r, "name"), Text(v, "effective_from"),
             Text(versions.back(), "project")});
      ++n;
      break;
    }
  }
  Heading("resources (" + std::to_string(n) + ")");
  t.Print(c.fmt());
  return 0;
}

// resources show: every version, with the hour it starts rating (docs/rating.md, "The hour
// rule": the first version from the hour it starts in, later ones from the next whole hour).
int MoreResource(const Common& c, net::Client*, const Json& resource) {
  const Json& versions = Items(resource, "versions");
  if (c.fmt() == Format::kTable) {
    const std::string name = Text(resource, "name");
    const std::string agent = Text(resource, "agent_id");
    std::printf("resource %s%s%s: %zu version%s\n", Text(resource, "id").c_str(),
                name.empty() ? "" : (" (" + name + ")").c_str(),
                agent.empty() ? "" : (", agent id " + agent).c_str(), versions.size(),
                versions.size() == 1 ? "" : "s");
  }
  Table t({"effective_from", "rates_from", "type", "project", "location", "plan", "storage_tier"});
  for (size_t i = 0; i < versions.size(); ++i) {
    const Json& v = versions[i];
    std::string rates_from;
    if (auto from = ParseTimestamp(Text(v, "effective_from")); from && *from >= 0) {
      const int64_t floor = *from / kHour * kHour;
      rates_from = FormatRfc3339(i == 0 || floor == *from ? floor : floor + kHour);
    }
    t.Add({Text(v, "effective_from"), rates_from, TypeOf(v), Text(v, "project"),
           Text(v, "location"), Text(v, "plan"), Text(v, "storage_tier")});
  }
  t.Print(c.fmt());
  return 0;
}

// pricebook show [VERSION]: the version (default the latest) with currencies and products.
int ShowVersion(const Common& c, const std::string& version) {
  return WithClient(c, [&](net::Client* client) {
    auto doc = Fetch(client, "price_books", version);
    if (!doc.ok()) return Fail(doc.status());
    const Json& versions = Items(*doc, "price_books");
    if (versions.empty()) {
      return Fail(Status::NotFound("the price book has no version yet (meterctl apply)"));
    }
    const Json v = versions.back();
    if (c.fmt() == Format::kJson) {
      Json one = *doc;
      one["price_books"] = Json::array({v});
      std::printf("%s\n", Dump(one).c_str());
      return 0;
    }
    if (c.fmt() == Format::kCsv) {
      ProductRows(v).Print(c.fmt());
      return 0;
    }
    const std::string description = Text(v, "description");
    std::printf("price book version %s: in force from %s, rounding %s, default currency %s%s\n",
                Text(v, "version").c_str(), Text(v, "effective_from").c_str(),
                Text(v, "rounding").c_str(), Text(v, "default_currency").c_str(),
                description.empty() ? "" : (" (" + description + ")").c_str());
    Heading("currencies");
    CurrencyRows(v).Print(c.fmt());
    Heading("products (" + std::to_string(Items(v, "products").size()) +
            "; prices in credits per unit)");
    ProductRows(v).Print(c.fmt());
    return 0;
  });
}

}  // namespace

void RegisterCatalogCommands(CLI::App& app, Common& common) {
  CLI::App* plans = app.add_subcommand("plans", "VM plans and disk offerings of the catalog");
  AddList(plans, common, "plans", "every plan", PlanRows);
  AddShow(plans, common, "plans", "one plan");

  CLI::App* accounts = app.add_subcommand("accounts", "accounts of the catalog");
  AddList(accounts, common, "accounts", "every account", AccountRows);
  AddShow(accounts, common, "accounts", "one account, its projects and subscriptions", MoreAccount);

  CLI::App* projects = app.add_subcommand("projects", "projects of the catalog");
  AddList(projects, common, "projects", "every project", ProjectRows);
  AddShow(projects, common, "projects", "one project and the resources in it", MoreProject);

  CLI::App* resources =
      app.add_subcommand("resources", "resources (VMs, volumes, IPs, ...) and their versions");
  AddList(resources, common, "resources", "every resource with its latest version", ResourceRows);
  AddShow(resources, common, "resources", "one resource: every effective-dated version",
          MoreResource);

  CLI::App* locations = app.add_subcommand("locations", "locations of the catalog");
  AddList(locations, common, "locations", "every location", LocationRows);

  CLI::App* domains = app.add_subcommand("domains", "domains (resellers) of the catalog");
  AddList(domains, common, "domains", "every domain", DomainRows);

  CLI::App* subs = app.add_subcommand("subscriptions", "account subscriptions of the catalog");
  AddList(subs, common, "subscriptions", "every subscription", SubscriptionRows);

  CLI::App* book = app.add_subcommand("pricebook", "price book versions");
  AddList(book, common, "price_books", "every version: effective_from, currencies, products",
          VersionRows);
  auto version = std::make_shared<std::string>();
  CLI::App* show = book->add_subcommand("show", "one version's currencies and products");
  show->add_option("version", *version, "the version number (default: the latest)");
  common.OnRun(show, [&common, version] { return ShowVersion(common, *version); });

  struct ExportArgs {
    std::string section, id;
  };
  auto args = std::make_shared<ExportArgs>();
  CLI::App* catalog = app.add_subcommand("catalog", "the billing catalog as a document");
  CLI::App* exp = catalog->add_subcommand(
      "export", "print the catalog document (JSON) that `meterctl apply` reads back unchanged");
  exp->add_option("--section", args->section,
                  "only locations, plan_groups, plans, domains, accounts, projects, resources, "
                  "billing_profiles, tax_rates, tax_settings, invoice_issuers, discounts, "
                  "coupons, coupon_redemptions, price_books or subscriptions (default: all)");
  exp->add_option("--id", args->id,
                  "with --section: only this entity (a price book version; tax_rates: a "
                  "country; tax_settings, invoice_issuers: a domain or \"*\"; "
                  "coupon_redemptions: an account)");
  common.OnRun(exp, [&common, args] {
    return WithClient(common, [&](net::Client* client) {
      auto doc = Fetch(client, args->section, args->id);
      if (!doc.ok()) return Fail(doc.status());
      std::printf("%s\n", Dump(*doc).c_str());  // the document is JSON whatever --format says
      return 0;
    });
  });
}

}  // namespace meterd::cli
