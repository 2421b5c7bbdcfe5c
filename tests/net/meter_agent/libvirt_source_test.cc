// meterd — tests/net/meter_agent/libvirt_source_test.cc
//
// The libvirt collector in-process against libvirt's built-in test driver (no daemon):
// test:///default, whose domains this test defines, starts, reboots, stops and undefines through
// its own connection (the default test driver is one per process, shared by every connection),
// and a test-driver XML file with several domains, disks and an interface. The clock is the
// test's, so every collection has a known second.
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <fstream>
#include <map>
#include <string>

#include "net/meter_agent/libvirt_source.h"
#include "tests/testing/temp_dir.h"

namespace meterd::agent {
namespace libvirt_source_test {

class LibvirtSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
    conn_ = virConnectOpen("test:///default");
    ASSERT_NE(conn_, nullptr) << "libvirt's test driver is missing";
  }
  void TearDown() override {
    if (virDomainPtr d = virDomainLookupByName(conn_, "vm-lv")) {
      if (virDomainIsActive(d) == 1) virDomainDestroy(d);
      virDomainUndefine(d);
      virDomainFree(d);
    }
    virConnectClose(conn_);
  }
  // Collects and learns the names of the series reported new.
  std::map<std::string, uint64_t> Collect(LibvirtSource* src, NewEntities* added) {
    added->clear();
    storage::SampleBatch batch;
    const Status st = src->Collect(&batch, added);
    EXPECT_TRUE(st.ok()) << st.ToString();
    for (const auto& k : added->series) {
      names_[net::SeriesIdOf(k.resource, k.metric)] = k.resource + "|" + k.metric;
    }
    std::map<std::string, uint64_t> out;
    for (size_t i = 0; i < batch.size(); ++i) {
      EXPECT_EQ(batch.timestamps()[i], now_) << "stamped with the collection's second";
      const auto it = names_.find(batch.series()[i]);
      EXPECT_NE(it, names_.end()) << "a sample of a series never reported new";
      if (it != names_.end()) out[it->second] = batch.values()[i];
    }
    ++now_;
    return out;
  }
  static bool HasResource(const NewEntities& a, const std::string& id) {
    for (const auto& r : a.resources) {
      if (r.id == id) return r.type == "vm";
    }
    return false;
  }

  virConnectPtr conn_ = nullptr;
  int64_t now_ = 1'800'000'000;
  std::map<uint64_t, std::string> names_;
};

constexpr const char* kDomainXml = R"(<domain type='test'>
  <name>vm-lv</name>
  <memory unit='MiB'>512</memory>
  <currentMemory unit='MiB'>384</currentMemory>
  <vcpu>3</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/nonexistent/vm-lv.img'/>
      <target dev='vda' bus='virtio'/></disk>
    <interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/>
    </interface>
  </devices>
</domain>)";

TEST_F(LibvirtSourceTest, DomainsAppearRestartStopAndDisappear) {
  LibvirtSource src("test:///default", [this] { return now_; });
  NewEntities added;
  // The default driver's own domain "test", running.
  auto first = Collect(&src, &added);
  EXPECT_TRUE(HasResource(added, "test"));
  EXPECT_EQ(first["test|vm.state"], DomainTracker::kRunning);
  EXPECT_GT(first["test|vm.vcpus"], 0u);
  EXPECT_GT(first["test|vm.memory_bytes"], 0u);
  EXPECT_TRUE(first.contains("test|vm.cpu_time_ns"));

  // A domain appears: reported new (resource and series), with its XML's vCPUs and memory.
  virDomainPtr dom = virDomainDefineXML(conn_, kDomainXml);
  ASSERT_NE(dom, nullptr) << virGetLastErrorMessage();
  ASSERT_EQ(virDomainCreate(dom), 0) << virGetLastErrorMessage();
  auto appeared = Collect(&src, &added);
  EXPECT_TRUE(HasResource(added, "vm-lv"));
  EXPECT_FALSE(HasResource(added, "test"));  // known already
  EXPECT_EQ(appeared["vm-lv|vm.state"], DomainTracker::kRunning);
  EXPECT_EQ(appeared["vm-lv|vm.vcpus"], 3u);
  EXPECT_EQ(appeared["vm-lv|vm.memory_bytes"], 384ull << 20);
  ASSERT_TRUE(appeared.contains("vm-lv|vm.cpu_time_ns"));
  ASSERT_TRUE(appeared.contains("vm-lv|disk.read_bytes"));
  ASSERT_TRUE(appeared.contains("vm-lv|net.rx_bytes"));
  EXPECT_EQ(src.stats().appeared, 2u);
  auto steady = Collect(&src, &added);
  EXPECT_TRUE(added.empty());
  EXPECT_GE(steady["vm-lv|vm.cpu_time_ns"], appeared["vm-lv|vm.cpu_time_ns"]);

  // A reboot (destroy and start: a new domain id). The test driver's counters do not go down,
  // so the collector sends 0 for that second: meterd sees the reset.
  ASSERT_EQ(virDomainDestroy(dom), 0);
  ASSERT_EQ(virDomainCreate(dom), 0);
  auto rebooted = Collect(&src, &added);
  EXPECT_EQ(src.stats().restarts, 1u);
  EXPECT_EQ(rebooted["vm-lv|vm.state"], DomainTracker::kRunning);
  for (const char* m : {"vm-lv|vm.cpu_time_ns", "vm-lv|disk.read_bytes", "vm-lv|disk.write_ops",
                        "vm-lv|net.rx_bytes", "vm-lv|net.tx_bytes"}) {
    ASSERT_TRUE(rebooted.contains(m)) << m;
    EXPECT_EQ(rebooted[m], 0u) << m;
  }
  auto after = Collect(&src, &added);
  EXPECT_GT(after["vm-lv|vm.cpu_time_ns"], 0u);  // counting again from the reset

  // Stopped: its state and allocation, no counters.
  ASSERT_EQ(virDomainDestroy(dom), 0);
  auto stopped = Collect(&src, &added);
  EXPECT_EQ(stopped["vm-lv|vm.state"], DomainTracker::kStopped);
  EXPECT_EQ(stopped["vm-lv|vm.vcpus"], 3u);
  EXPECT_FALSE(stopped.contains("vm-lv|vm.cpu_time_ns"));
  EXPECT_FALSE(stopped.contains("vm-lv|net.rx_bytes"));
  // Started again: a restart too.
  ASSERT_EQ(virDomainCreate(dom), 0);
  Collect(&src, &added);
  EXPECT_EQ(src.stats().restarts, 2u);

  // Undefined: deleted, once; then nothing more of it.
  ASSERT_EQ(virDomainDestroy(dom), 0);
  ASSERT_EQ(virDomainUndefine(dom), 0);
  virDomainFree(dom);
  auto gone = Collect(&src, &added);
  EXPECT_EQ(gone["vm-lv|vm.state"], DomainTracker::kDeleted);
  EXPECT_EQ(gone.count("vm-lv|vm.vcpus"), 0u);
  EXPECT_EQ(src.stats().disappeared, 1u);
  auto later = Collect(&src, &added);
  for (const auto& [name, value] : later) EXPECT_NE(name.rfind("vm-lv|", 0), 0u) << name;
  EXPECT_TRUE(later.contains("test|vm.state"));
  EXPECT_EQ(src.opens(), 1u);
}

TEST_F(LibvirtSourceTest, SeveralDomainsFromATestDriverFile) {
  testing::TempDir dir;
  const std::string file = dir.path() + "/node.xml";
  std::ofstream(file) << R"(<node>
  <domain type='test'><name>web-1</name><memory unit='GiB'>2</memory><vcpu>2</vcpu>
    <os><type>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/nonexistent/a.img'/><target dev='vda'/></disk>
      <disk type='file' device='disk'><source file='/nonexistent/b.img'/><target dev='vdb'/></disk>
      <disk type='file' device='cdrom'><source file='/nonexistent/c.iso'/><target dev='hdc'/></disk>
      <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/></interface>
    </devices></domain>
  <domain type='test'><name>db-1</name><memory unit='GiB'>8</memory><vcpu>4</vcpu>
    <os><type>hvm</type></os></domain>
  <domain type='test'><name>batch-1</name><memory unit='MiB'>1024</memory><vcpu>1</vcpu>
    <os><type>hvm</type></os></domain>
</node>)";
  LibvirtSource src("test://" + file, [this] { return now_; });
  NewEntities added;
  auto s = Collect(&src, &added);
  ASSERT_EQ(added.resources.size(), 3u);
  EXPECT_EQ(s["web-1|vm.vcpus"], 2u);
  EXPECT_EQ(s["web-1|vm.memory_bytes"], 2ull << 30);
  EXPECT_EQ(s["db-1|vm.vcpus"], 4u);
  EXPECT_EQ(s["db-1|vm.memory_bytes"], 8ull << 30);
  EXPECT_EQ(s["batch-1|vm.memory_bytes"], 1ull << 30);
  for (const char* vm : {"web-1", "db-1", "batch-1"}) {
    EXPECT_EQ(s[std::string(vm) + "|vm.state"], DomainTracker::kRunning) << vm;
  }
  // web-1's two disks (not its cdrom) and its interface; the others have none.
  EXPECT_TRUE(s.contains("web-1|disk.read_bytes"));
  EXPECT_TRUE(s.contains("web-1|net.tx_bytes"));
  EXPECT_FALSE(s.contains("db-1|disk.read_bytes"));
  EXPECT_FALSE(s.contains("db-1|net.rx_bytes"));
  // Counters never go down between collections of running domains.
  auto t = Collect(&src, &added);
  EXPECT_TRUE(added.empty());
  for (const char* m : {"web-1|vm.cpu_time_ns", "web-1|disk.read_bytes", "web-1|net.rx_bytes"}) {
    EXPECT_GE(t[m], s[m]) << m;
  }
}

TEST(LibvirtSourceErrorTest, AnUnreachableUriIsAnErrorEverySecondNotACrash) {
  LibvirtSource src("test:///nonexistent/node.xml", [] { return int64_t{1'800'000'000}; });
  storage::SampleBatch batch;
  NewEntities added;
  const Status st = src.Collect(&batch, &added);
  EXPECT_EQ(st.code(), Status::Code::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("nonexistent"), std::string::npos) << st.ToString();
  EXPECT_TRUE(batch.empty());
  EXPECT_TRUE(added.empty());
  EXPECT_FALSE(src.Collect(&batch, &added).ok());  // tried again, same answer
}

}  // namespace libvirt_source_test
}  // namespace meterd::agent
