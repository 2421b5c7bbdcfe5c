// meterd — tests/integration/meterd_resources_test.cc
//
// The registry of record for resources on the real meterd and meterctl:
//   - a VM an agent reports is unattributed (listed by `resources hosts --unattributed`, its
//     usage rated as unattributed, never dropped) until the control plane creates it with
//     `meterctl resources create ... --agent-id`, after which the same usage is billed to the
//     account from the hour the creation is effective; `usage --account` then agrees;
//   - `resources delete --at` ends it: later usage is unattributed ("after_deletion");
//   - create is retry-safe at the same instant and refused otherwise; update and delete of an
//     unknown resource are refused;
//   - a live migration: the hypervisor the VM moves to reports it, and the right to send its
//     series moves with it (the old hypervisor's samples are refused), across a restart, while
//     the series and its counter stay one;
//   - a resources.log left by an older meterd is imported once (hosts, not attribution).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/registry/record_log.h"
#include "storage/base/coding.h"
#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

using net::IngestAckInfo;
using net::IngestBatchData;

class MeterdResourcesTest : public MeterdTest {
 protected:
  nlohmann::json Json(const CommandResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  // Waits until the rollups sealed the hours before `t` (the server runs with --grace 0).
  void WaitSealed(int64_t t) {
    for (int i = 0; i < 200; ++i) {
      CommandResult st = Meterctl("--format json stats");
      if (st.exit_code == 0 &&
          nlohmann::json::parse(st.out)["rollup_sealed_before"].get<int64_t>() >= t) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "hours before " << t << " never sealed";
  }
  // Sends one batch of one series and waits for its acknowledgement.
  IngestAckInfo Send(net::Client* c, uint64_t seq, uint64_t series, int64_t base,
                     const std::vector<uint64_t>& values) {
    IngestBatchData b;
    b.sequence = seq;
    b.base_time = base;
    for (size_t i = 0; i < values.size(); ++i) {
      b.series.push_back(series);
      b.offsets.push_back(static_cast<uint32_t>(i));
      b.values.push_back(values[i]);
    }
    IngestAckInfo got;
    c->set_ack_callback([&](const IngestAckInfo& a) {
      if (a.sequence == seq) got = a;
    });
    EXPECT_TRUE(c->SendBatch(seq, net::BuildIngestFrame(b)).ok());
    EXPECT_TRUE(c->Drain().ok());
    c->set_ack_callback(nullptr);
    return got;
  }
};

TEST_F(MeterdResourcesTest, AgentReportedVmIsUnattributedUntilCreatedThenBilledUntilDeleted) {
  server_.Stop();
  StartServer({"--grace", "0", "--no-billing-clock"});
  const std::string catalog = std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml";
  ASSERT_EQ(Meterctl("apply " + catalog).exit_code, 0);
  const int64_t now = UnixNow();
  const int64_t h = now - now % 3600 - 3 * 3600;
  const std::string uuid = "6f1c0e2a-8d4b-4b0e-9a51-2c7d9e3f1a77";  // libvirt's name for it

  // The agent of hv-a reports the VM by its libvirt UUID: it exists, nobody attributed it.
  auto agent = Connect(CreateKey(wire::Role::Agent, "hv-a"));
  auto reg = agent->RegisterResources({{uuid, "vm", "acct-ignored", "proj-ignored", "", ""}});
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  EXPECT_EQ(reg->registered, 1u);
  nlohmann::json hosts = Json(Meterctl("--format json resources hosts --unattributed"));
  ASSERT_EQ(hosts["hosts"].size(), 1u) << hosts.dump();
  EXPECT_EQ(hosts["hosts"][0]["resource"], uuid);
  EXPECT_EQ(hosts["hosts"][0]["hypervisor"], "hv-a");
  EXPECT_EQ(hosts["hosts"][0]["attributed_to"], "");

  // 3600 s then 1800 s running, under the agent's name.
  const std::string csv = "resource,metric,hour,value\n" + uuid + ",vm.state:running," +
                          std::to_string(h) + ",3600\n" + uuid + ",vm.state:running," +
                          std::to_string(h + 3600) + ",1800\n";
  ASSERT_EQ(Meterctl("backfill " + WriteFile("bf.csv", csv)).exit_code, 0);
  WaitSealed(h + 2 * 3600);
  const std::string window = " --from " + std::to_string(h) + " --to " + std::to_string(now);
  nlohmann::json before = Json(Meterctl("--format json charges" + window));
  bool reported = false;
  for (const auto& u : before["unrated"]) {
    if (u["resource"] == uuid) {
      reported = true;
      EXPECT_EQ(u["reason"], "unknown_resource") << u.dump();
    }
  }
  EXPECT_TRUE(reported) << before.dump();

  // The control plane creates it from an hour before the usage: both hours bill as Silver
  // (0.6 credits a running hour): 1.5 h = 0.9 credits, under the provider's id.
  CommandResult created = Meterctl(
      "--format json resources create vm-77 --type vm --project "
      "bu1user1-web --location lon1 --plan silver --storage-tier "
      "sata --agent-id " +
      uuid + " --at " + std::to_string(h - 3600));
  nlohmann::json cj = Json(created);
  EXPECT_TRUE(cj["applied"].get<bool>()) << created.out;
  EXPECT_EQ(cj["created"], 1);
  nlohmann::json after = Json(Meterctl("--format json charges --account bu1user1" + window));
  double vm77 = 0;
  for (const auto& l : after["lines"]) {
    if (l["resource"] == "vm-77") vm77 += l["credits"].get<double>();
  }
  EXPECT_DOUBLE_EQ(vm77, 0.9) << after.dump();
  EXPECT_TRUE(Json(Meterctl("--format json resources hosts --unattributed"))["hosts"].empty());
  nlohmann::json attributed = Json(Meterctl("--format json resources hosts"));
  EXPECT_EQ(attributed["hosts"][0]["attributed_to"], "vm-77");
  EXPECT_EQ(attributed["hosts"][0]["account"], "bu1user1");
  // Usage of the account agrees: the VM's state series over the two hours.
  nlohmann::json usage =
      Json(Meterctl("--format json usage --account bu1user1 --metric vm.state" + window));
  uint64_t hours = 0;
  for (const auto& row : usage) {
    if (row["resource"] == uuid) hours += row["hours"].get<uint64_t>();
  }
  EXPECT_EQ(hours, 2u) << usage.dump();

  // The same create again is a retry (unchanged); at another instant it is refused.
  nlohmann::json retry = Json(Meterctl(
      "--format json resources create vm-77 --type vm --project bu1user1-web --location lon1 "
      "--plan silver --storage-tier sata --agent-id " +
      uuid + " --at " + std::to_string(h - 3600)));
  EXPECT_FALSE(retry["applied"].get<bool>());
  EXPECT_EQ(retry["unchanged"], 1);
  CommandResult twice = Meterctl("resources create vm-77 --type vm --project bu1user1-web");
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_NE(twice.err.find("exists"), std::string::npos) << twice.err;
  CommandResult unknown = Meterctl("resources update vm-nope --plan copper");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("not in the tenancy"), std::string::npos) << unknown.err;
  EXPECT_EQ(Meterctl("resources delete vm-nope").exit_code, 1);
  CommandResult delete_attrs = Meterctl("resources delete vm-77 --plan copper");
  EXPECT_NE(delete_attrs.exit_code, 0);  // a deletion takes no attributes (not even a flag)

  // Deleted at the second hour: that hour's 1800 s are nobody's (reported, not charged).
  ASSERT_EQ(Meterctl("resources delete vm-77 --at " + std::to_string(h + 3600)).exit_code, 0);
  nlohmann::json deleted = Json(Meterctl("--format json charges" + window));
  double charged = 0;
  for (const auto& l : deleted["lines"]) {
    if (l["resource"] == "vm-77") charged += l["credits"].get<double>();
  }
  EXPECT_DOUBLE_EQ(charged, 0.6) << deleted.dump();
  bool after_deletion = false;
  for (const auto& u : deleted["unrated"]) {
    if (u["resource"] == uuid && u["reason"] == "after_deletion") after_deletion = true;
  }
  EXPECT_TRUE(after_deletion) << deleted.dump();
  CommandResult show = Meterctl("resources show vm-77");
  EXPECT_NE(show.out.find("deleted"), std::string::npos) << show.out;
  EXPECT_EQ(Meterctl("resources delete vm-77").exit_code, 1);  // already deleted
}

TEST_F(MeterdResourcesTest, LiveMigrationMovesTheRightToSendAcrossARestart) {
  auto a = Connect(CreateKey(wire::Role::Agent, "hv-a"));
  auto b = Connect(CreateKey(wire::Role::Agent, "hv-b"));
  const uint64_t series = net::SeriesIdOf("vm-m", "net.rx_bytes");
  ASSERT_EQ(a->RegisterResources({{"vm-m", "vm", "", "", "", ""}})->registered, 1u);
  ASSERT_EQ(a->DefineSeries({{"vm-m", "net.rx_bytes"}})->defined, 1u);
  const int64_t t0 = UnixNow() - 600;
  EXPECT_EQ(Send(a.get(), 1, series, t0, {100, 110, 120}).accepted, 3u);
  // hv-b may neither define nor send the VM's series before it runs there.
  EXPECT_EQ(b->DefineSeries({{"vm-m", "net.rx_bytes"}})->refused, 1u);
  EXPECT_EQ(Send(b.get(), 1, series, t0 + 3, {130}).rejected, 1u);

  // The VM migrates: hv-b reports it, and the series is hv-b's from now on.
  auto moved = b->RegisterResources({{"vm-m", "vm", "", "", "", ""}});
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->updated, 1u);
  EXPECT_EQ(b->DefineSeries({{"vm-m", "net.rx_bytes"}})->existing, 1u);
  EXPECT_EQ(Send(b.get(), 2, series, t0 + 3, {130, 140}).accepted, 2u);
  IngestAckInfo stale = Send(a.get(), 2, series, t0 + 5, {150});
  EXPECT_EQ(stale.rejected, 1u);
  ASSERT_FALSE(stale.rejections.empty());
  EXPECT_EQ(stale.rejections[0].code, wire::ErrorCode::PermissionDenied);
  nlohmann::json hosts = Json(Meterctl("--format json resources hosts --resource vm-m"));
  ASSERT_EQ(hosts["hosts"].size(), 1u);
  EXPECT_EQ(hosts["hosts"][0]["hypervisor"], "hv-b");
  EXPECT_NE(hosts["hosts"][0]["moved_at"], "");

  // The move is durable: after a restart hv-b still sends and hv-a is still refused.
  a.reset();
  b.reset();
  server_.Stop();
  StartServer({}, /*fresh=*/false);
  auto a2 = Connect(CreateKey(wire::Role::Agent, "hv-a"));
  auto b2 = Connect(CreateKey(wire::Role::Agent, "hv-b"));
  EXPECT_EQ(Send(b2.get(), 3, series, t0 + 5, {150}).accepted, 1u);
  EXPECT_EQ(Send(a2.get(), 3, series, t0 + 6, {160}).rejected, 1u);
  // One series, one counter: every accepted sample in order.
  std::vector<uint64_t> values;
  for (const auto& e : ExportAll(Admin().get(), t0, t0 + 10, "vm-m", "net.rx_bytes")) {
    values.push_back(e.value);
  }
  EXPECT_EQ(values, (std::vector<uint64_t>{100, 110, 120, 130, 140, 150}));
}

TEST_F(MeterdResourcesTest, AnOlderMeterdsResourcesLogIsImportedOnce) {
  server_.Stop();
  {
    // Two registrations as the previous meterd wrote them (docs/format-registry.md).
    std::string damage;
    auto log = engine::RecordLog::Open(
        data_dir() + "/resources.log", [](std::string_view) { return Status::OK(); }, &damage);
    ASSERT_TRUE(log.ok());
    std::vector<std::string> records;
    for (const char* id : {"vm-old-1", "vm-old-2"}) {
      std::string rec(1, '\x01');
      for (std::string f :
           {std::string(id), std::string("vm"), std::string("acct"), std::string("proj"),
            std::string(""), std::string("small"), std::string("hv-a")}) {
        base::PutLengthPrefixed(&rec, f);
      }
      records.push_back(std::move(rec));
    }
    ASSERT_TRUE(log.value()->Append(records).ok());
  }
  StartServer({}, /*fresh=*/false);
  EXPECT_FALSE(std::filesystem::exists(data_dir() + "/resources.log"));
  EXPECT_TRUE(std::filesystem::exists(data_dir() + "/resources.log.imported"));
  nlohmann::json hosts = Json(Meterctl("--format json resources hosts --unattributed"));
  ASSERT_EQ(hosts["hosts"].size(), 2u) << hosts.dump();
  EXPECT_EQ(hosts["hosts"][0]["resource"], "vm-old-1");
  EXPECT_EQ(hosts["hosts"][0]["hypervisor"], "hv-a");
  // The hosts give the series: hv-a may define and send them, hv-b may not.
  auto a = Connect(CreateKey(wire::Role::Agent, "hv-a"));
  auto b = Connect(CreateKey(wire::Role::Agent, "hv-b"));
  EXPECT_EQ(b->DefineSeries({{"vm-old-1", "vm.vcpus"}})->refused, 1u);
  EXPECT_EQ(a->DefineSeries({{"vm-old-1", "vm.vcpus"}})->defined, 1u);
  // A second start finds nothing to import and keeps what was imported.
  a.reset();
  b.reset();
  server_.Stop();
  StartServer({}, /*fresh=*/false);
  EXPECT_EQ(Json(Meterctl("--format json resources hosts"))["hosts"].size(), 2u);
}

}  // namespace
}  // namespace meterd::testing
