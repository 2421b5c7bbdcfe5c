// meterd — tests/integration/meter_agent_libvirt_test.cc
//
// The meter-agent binary end to end with libvirt's test driver (a test-driver XML file with
// several domains; no daemon) against the real meterd: the agent, with an agent key bound to its
// hypervisor, registers the domains, defines their series and streams them for a few seconds;
// every sample it sent (its --samples-csv record of what libvirt reported) is exported back
// exactly, and the gauges are the XML's.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

using Row = std::tuple<std::string, std::string, int64_t, uint64_t>;

TEST_F(MeterdTest, MeterAgentStreamsLibvirtDomainsExactly) {
  const std::string node = WriteFile("node.xml", R"(<node>
  <domain type='test'><name>lv-web</name><memory unit='GiB'>2</memory><vcpu>2</vcpu>
    <os><type>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/nonexistent/a.img'/><target dev='vda'/></disk>
      <interface type='network'><mac address='52:54:00:00:00:07'/><source network='default'/></interface>
    </devices></domain>
  <domain type='test'><name>lv-db</name><memory unit='GiB'>8</memory><vcpu>4</vcpu>
    <os><type>hvm</type></os></domain>
  <domain type='test'><name>lv-batch</name><memory unit='MiB'>512</memory><vcpu>1</vcpu>
    <os><type>hvm</type></os></domain>
</node>)");
  const std::string key = CreateKey(wire::Role::Agent, "hv-lv");
  ASSERT_FALSE(key.empty());
  const std::string csv = tmp_.path() + "/sent.csv";
  const int64_t start = UnixNow();
  const std::string agent = std::string(METER_AGENT_BIN) +
                            " --server 127.0.0.1:" + std::to_string(server_.port()) + " --key " +
                            key + " --libvirt test://" + node + " --duration 2 --samples-csv " +
                            csv + " > " + tmp_.path() + "/agent.out 2>&1";
  ASSERT_EQ(std::system(agent.c_str()), 0) << "see " << tmp_.path() << "/agent.out";
  const int64_t end = UnixNow() + 1;

  std::set<Row> sent;
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "resource,metric,timestamp,value");
  std::map<std::string, uint64_t> gauges;
  std::set<int64_t> seconds;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string resource, metric, ts, value;
    std::getline(ss, resource, ',');
    std::getline(ss, metric, ',');
    std::getline(ss, ts, ',');
    std::getline(ss, value, ',');
    EXPECT_TRUE(sent.insert({resource, metric, std::stoll(ts), std::stoull(value)}).second) << line;
    seconds.insert(std::stoll(ts));
    if (metric == "vm.vcpus" || metric == "vm.memory_bytes" || metric == "vm.state") {
      gauges[resource + "|" + metric] = std::stoull(value);
    }
  }
  // One collection a second for the 2 seconds: at least two distinct seconds, each with every
  // domain.
  EXPECT_GE(seconds.size(), 2u);
  EXPECT_EQ(gauges["lv-web|vm.vcpus"], 2u);
  EXPECT_EQ(gauges["lv-web|vm.memory_bytes"], 2ull << 30);
  EXPECT_EQ(gauges["lv-db|vm.vcpus"], 4u);
  EXPECT_EQ(gauges["lv-db|vm.memory_bytes"], 8ull << 30);
  EXPECT_EQ(gauges["lv-batch|vm.memory_bytes"], 512ull << 20);
  for (const char* vm : {"lv-web", "lv-db", "lv-batch"}) {
    EXPECT_EQ(gauges[std::string(vm) + "|vm.state"], 1u) << vm;
  }

  auto admin = Admin();
  std::set<Row> stored;
  for (const auto& e : ExportAll(admin.get(), start - 1, end + 1)) {
    if (e.resource.rfind("lv-", 0) == 0) stored.insert({e.resource, e.metric, e.ts, e.value});
  }
  EXPECT_EQ(stored.size(), sent.size());
  EXPECT_TRUE(stored == sent) << "exported samples differ from those the agent sent";
  // Each domain is a resource of the agent's hypervisor.
  CommandResult hosts = Meterctl("resources hosts --format json");
  EXPECT_EQ(hosts.exit_code, 0) << hosts.err;
  for (const char* vm : {"lv-web", "lv-db", "lv-batch"}) {
    EXPECT_NE(hosts.out.find(vm), std::string::npos) << hosts.out;
  }
  EXPECT_NE(hosts.out.find("hv-lv"), std::string::npos) << hosts.out;
}

}  // namespace
}  // namespace meterd::testing
