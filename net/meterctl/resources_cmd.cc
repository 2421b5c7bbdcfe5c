// meterd — net/meterctl/resources_cmd.cc
#include "net/meterctl/resources_cmd.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "net/meterctl/billing_cmd.h"
#include "net/meterctl/csv_time.h"
#include "net/protocol/messages.h"

namespace meterd::cli {
namespace {

struct ChangeArgs {
  std::string id, type, project, location, plan, storage_tier, name, agent_id, at;
  bool dry_run = false;
};

struct HostsArgs {
  bool unattributed = false;
  std::string resource;
};

int RunChange(const Common& c, wire::ResourceOp op, const ChangeArgs& a) {
  int64_t at = 0;
  if (!a.at.empty()) {
    auto t = ParseTimestamp(a.at);
    if (!t) {
      return Fail(
          Status::InvalidArgument("--at " + a.at + " is not a time (RFC 3339 or unix seconds)"));
    }
    at = *t;
  }
  auto client = Connect(c);
  if (!client.ok()) return Fail(client.status());
  flatbuffers::FlatBufferBuilder fbb(512);
  const uint64_t rid = client.value()->NextRequestId();
  auto req =
      wire::CreateResourceChange(fbb, rid, op, fbb.CreateString(a.id), at, fbb.CreateString(a.type),
                                 fbb.CreateString(a.project), fbb.CreateString(a.location),
                                 fbb.CreateString(a.plan), fbb.CreateString(a.storage_tier),
                                 fbb.CreateString(a.name), fbb.CreateString(a.agent_id), a.dry_run);
  auto bytes = client.value()->Call(net::FinishFrame(fbb, req), rid);
  if (!bytes.ok()) return Fail(bytes.status());
  return PrintApplyReply(bytes.value(), "resource " + a.id, a.dry_run, c.fmt());
}

int RunHosts(const Common& c, const HostsArgs& a) {
  auto client = Connect(c);
  if (!client.ok()) return Fail(client.status());
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t rid = client.value()->NextRequestId();
  auto req = wire::CreateListResourceHosts(fbb, rid, a.unattributed, fbb.CreateString(a.resource));
  auto bytes = client.value()->Call(net::FinishFrame(fbb, req), rid);
  if (!bytes.ok()) return Fail(bytes.status());
  const auto* rep = wire::GetEnvelope(bytes.value().data())->message_as_ResourceHostList();
  if (rep == nullptr) return Fail(Status::Corruption("unexpected answer to ListResourceHosts"));
  auto time_or_empty = [](int64_t t) { return t == 0 ? std::string() : FormatRfc3339(t); };
  Table t({"resource", "type", "hypervisor", "first_seen", "moved_at", "attributed_to", "account"});
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  if (rep->hosts()) {
    for (const wire::ResourceHost* h : *rep->hosts()) {
      std::vector<std::string> row = {std::string(net::View(h->resource())),
                                      std::string(net::View(h->type())),
                                      std::string(net::View(h->hypervisor())),
                                      time_or_empty(h->first_seen()),
                                      time_or_empty(h->moved_at()),
                                      std::string(net::View(h->attributed_to())),
                                      std::string(net::View(h->account()))};
      rows.push_back({{"resource", row[0]},
                      {"type", row[1]},
                      {"hypervisor", row[2]},
                      {"first_seen", row[3]},
                      {"moved_at", row[4]},
                      {"attributed_to", row[5]},
                      {"account", row[6]}});
      t.Add(std::move(row));
    }
  }
  if (c.fmt() == Format::kJson) {
    std::printf("%s\n",
                nlohmann::ordered_json{{"hosts", rows}, {"total", rep->total()}}.dump(2).c_str());
  } else {
    t.Print(c.fmt());
  }
  if (rep->total() > rows.size()) {
    std::fprintf(stderr,
                 "meterctl: %zu of %llu resources listed (use --resource or --unattributed)\n",
                 rows.size(), static_cast<unsigned long long>(rep->total()));
  }
  return 0;
}

// The attributes create and update share.
void AddAttributes(CLI::App* cmd, ChangeArgs& a) {
  cmd->add_option("id", a.id, "the resource id (the provider's)")->required();
  cmd->add_option("--type", a.type, "vm, volume, ip, snapshot, network, ...");
  cmd->add_option("--project", a.project, "the project it is in (its account follows)");
  cmd->add_option("--location", a.location, "its location");
  cmd->add_option("--plan", a.plan, "its plan (a VM plan or a disk offering)");
  cmd->add_option("--storage-tier", a.storage_tier, "its storage tier (ssd, sata, ...)");
  cmd->add_option("--name", a.name, "a display name");
  cmd->add_option("--agent-id", a.agent_id,
                  "the name its agent sends samples under (a libvirt domain UUID), when that is "
                  "not the resource id");
  cmd->add_option("--at", a.at, "when the change takes effect (RFC 3339 or unix seconds; now)");
  cmd->add_flag("--dry-run", a.dry_run, "validate and report only");
}

}  // namespace

void RegisterResourceCommands(CLI::App& app, Common& common) {
  CLI::App* group = app.get_subcommand("resources");
  auto create = std::make_shared<ChangeArgs>();
  CLI::App* c = group->add_subcommand("create", "add a resource to the tenancy (admin)");
  AddAttributes(c, *create);
  common.OnRun(c,
               [&common, create] { return RunChange(common, wire::ResourceOp::Create, *create); });
  auto update = std::make_shared<ChangeArgs>();
  CLI::App* u = group->add_subcommand(
      "update", "resize, change plan, move to another project or rename (admin)");
  AddAttributes(u, *update);
  common.OnRun(u,
               [&common, update] { return RunChange(common, wire::ResourceOp::Update, *update); });
  auto del = std::make_shared<ChangeArgs>();
  CLI::App* d =
      group->add_subcommand("delete", "end a resource: usage after it is unattributed (admin)");
  d->add_option("id", del->id, "the resource id")->required();
  d->add_option("--at", del->at, "when it was deleted (RFC 3339 or unix seconds; now)");
  d->add_flag("--dry-run", del->dry_run, "validate and report only");
  common.OnRun(d, [&common, del] { return RunChange(common, wire::ResourceOp::Delete, *del); });
  auto hosts = std::make_shared<HostsArgs>();
  CLI::App* h = group->add_subcommand(
      "hosts", "what agents reported: each resource's hypervisor and its attribution now");
  h->add_flag("--unattributed", hosts->unattributed,
              "only resources the tenancy does not attribute now (usage rated as unattributed)");
  h->add_option("--resource", hosts->resource, "one resource (as the agent names it)");
  common.OnRun(h, [&common, hosts] { return RunHosts(common, *hosts); });
}

}  // namespace meterd::cli
