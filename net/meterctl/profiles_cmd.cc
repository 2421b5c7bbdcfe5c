// meterd — net/meterctl/profiles_cmd.cc
#include "net/meterctl/profiles_cmd.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "net/meterctl/billing_cmd.h"
#include "net/protocol/messages.h"

namespace meterd::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kSection = "billing_profiles";

// The fields of a profile in the order the catalog document writes them.
constexpr const char* kFields[] = {"account",   "address",  "country", "region",     "vat_number",
                                   "time_zone", "currency", "cycle",   "anchor_day", "week_start"};

struct SetArgs {
  std::string account;
  std::string address, country, region, vat_number, time_zone, currency, cycle, week_start;
  int anchor_day = 0;
  bool dry_run = false;
  // Which options were given (an empty value is a value: `--vat-number ''` clears it).
  CLI::Option *o_address = nullptr, *o_country = nullptr, *o_region = nullptr, *o_vat = nullptr,
              *o_zone = nullptr, *o_currency = nullptr, *o_cycle = nullptr, *o_anchor = nullptr,
              *o_week = nullptr;
};

// ListCatalog of the profiles section (one account's when `account` is set).
Result<Json> FetchProfiles(net::Client* client, const std::string& account) {
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t rid = client->NextRequestId();
  auto req =
      wire::CreateListCatalog(fbb, rid, fbb.CreateString(kSection), fbb.CreateString(account));
  METERD_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                          client->Call(net::FinishFrame(fbb, req), rid));
  const auto* rep = wire::GetEnvelope(bytes.data())->message_as_CatalogDocument();
  if (rep == nullptr) return Status::Corruption("unexpected answer to ListCatalog");
  Json doc = Json::parse(net::View(rep->document()), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::Corruption("the server's catalog document is not a JSON object");
  }
  if (!doc.contains(kSection) || !doc[kSection].is_array()) doc[kSection] = Json::array();
  return doc;
}

std::string Field(const Json& p, const char* key) {
  auto it = p.find(key);
  if (it == p.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// "monthly", "monthly_anchored (31)", "weekly (sunday)".
std::string CycleText(const Json& p) {
  std::string c = Field(p, "cycle");
  if (p.contains("anchor_day")) c += " (" + Field(p, "anchor_day") + ")";
  if (p.contains("week_start")) c += " (" + Field(p, "week_start") + ")";
  return c;
}

int Show(const Common& c, const std::string& account) {
  auto client = Connect(c);
  if (!client.ok()) return Fail(client.status());
  auto doc = FetchProfiles(client.value().get(), account);
  if (!doc.ok()) return Fail(doc.status());
  const Json& items = (*doc)[kSection];
  if (c.fmt() == Format::kJson) {
    std::printf("%s\n", doc->dump(2, ' ', false, Json::error_handler_t::replace).c_str());
    return 0;
  }
  if (!account.empty() && items.size() == 1 && c.fmt() == Format::kTable) {
    Table t({"field", "value"});
    for (const char* key : kFields) {
      if (!items[0].contains(key)) continue;
      // An address of several lines: one row each, the field named on the first.
      const std::string value = Field(items[0], key);
      size_t begin = 0;
      for (bool first = true;; first = false) {
        const size_t end = value.find('\n', begin);
        t.Add({first ? key : "", value.substr(begin, end - begin)});
        if (end == std::string::npos) break;
        begin = end + 1;
      }
    }
    t.Print(c.fmt());
    return 0;
  }
  Table t({"account", "country", "vat_number", "time_zone", "currency", "cycle", "address"});
  for (const Json& p : items) {
    std::string address = Field(p, "address");
    for (char& ch : address) {
      if (ch == '\n') ch = ';';  // one row per profile
    }
    t.Add({Field(p, "account"), Field(p, "country"), Field(p, "vat_number"), Field(p, "time_zone"),
           Field(p, "currency"), CycleText(p), address});
  }
  t.Print(c.fmt());
  return 0;
}

int Set(const Common& c, const SetArgs& a) {
  auto client = Connect(c);
  if (!client.ok()) return Fail(client.status());
  // The stored profile, or a new one.
  Json profile = Json::object();
  auto doc = FetchProfiles(client.value().get(), a.account);
  if (doc.ok() && (*doc)[kSection].size() == 1) {
    profile = (*doc)[kSection][0];
  } else if (!doc.ok() && !doc.status().IsNotFound()) {
    return Fail(doc.status());
  }
  profile["account"] = a.account;
  auto set = [&](const CLI::Option* given, const char* key, const std::string& value) {
    if (given->count() > 0) profile[key] = value;
  };
  set(a.o_address, "address", a.address);
  set(a.o_country, "country", a.country);
  set(a.o_region, "region", a.region);
  set(a.o_vat, "vat_number", a.vat_number);
  set(a.o_zone, "time_zone", a.time_zone);
  set(a.o_currency, "currency", a.currency);
  if (a.o_cycle->count() > 0 && a.cycle != Field(profile, "cycle")) {
    profile["cycle"] = a.cycle;
    profile.erase("anchor_day");  // the old cycle's fields
    profile.erase("week_start");
  }
  if (a.o_anchor->count() > 0) profile["anchor_day"] = a.anchor_day;
  set(a.o_week, "week_start", a.week_start);
  // The document's order of fields, whatever order they were set in.
  Json ordered = Json::object();
  for (const char* key : kFields) {
    if (profile.contains(key)) ordered[key] = profile[key];
  }
  const Json body = Json{{"schema", "meterd/v1"}, {kSection, Json::array({ordered})}};
  const std::string text = body.dump();
  flatbuffers::FlatBufferBuilder fbb(text.size() + 256);
  const uint64_t rid = client.value()->NextRequestId();
  auto req =
      wire::CreateApplyCatalog(fbb, rid, fbb.CreateString(text), wire::DocFormat::Json, a.dry_run);
  auto bytes = client.value()->Call(net::FinishFrame(fbb, req), rid);
  if (!bytes.ok()) return Fail(bytes.status());
  return PrintApplyReply(bytes.value(), "profile " + a.account, a.dry_run, c.fmt());
}

}  // namespace

void RegisterProfileCommands(CLI::App& app, Common& common) {
  CLI::App* group = app.add_subcommand(
      "profiles", "accounts' billing profiles: address, country, VAT number, zone, cycle");

  auto account = std::make_shared<std::string>();
  CLI::App* show = group->add_subcommand("show", "every billing profile, or one account's");
  show->add_option("--account", *account, "only this account's profile");
  common.OnRun(show, [&common, account] { return Show(common, *account); });

  auto a = std::make_shared<SetArgs>();
  CLI::App* set = group->add_subcommand(
      "set",
      "create or change an account's billing profile (admin); fields not given keep "
      "their value");
  set->add_option("--account", a->account, "the account")->required();
  a->o_address = set->add_option("--address", a->address, "postal address (newlines allowed)");
  a->o_country = set->add_option("--country", a->country, "ISO 3166-1 alpha-2 code: GB, DE, IN");
  a->o_region = set->add_option("--region", a->region,
                                "subdivision for regional taxes: BC of CA-BC ('' clears)");
  a->o_vat = set->add_option("--vat-number", a->vat_number, "VAT number as printed ('' clears)");
  a->o_zone =
      set->add_option("--time-zone", a->time_zone, "IANA time zone: Europe/London (default UTC)");
  a->o_currency = set->add_option("--currency", a->currency,
                                  "ISO 4217 invoice currency ('' = the account's currency)");
  a->o_cycle = set->add_option("--cycle", a->cycle,
                               "monthly, monthly_anchored, daily, weekly, quarterly, yearly");
  a->o_anchor = set->add_option("--anchor-day", a->anchor_day,
                                "monthly_anchored: the day of the month the account started");
  a->o_week = set->add_option("--week-start", a->week_start, "weekly: monday ... sunday");
  set->add_flag("--dry-run", a->dry_run, "validate and report, change nothing");
  common.OnRun(set, [&common, a] { return Set(common, *a); });
}

}  // namespace meterd::cli
