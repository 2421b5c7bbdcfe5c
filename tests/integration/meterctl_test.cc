// meterd — tests/integration/meterctl_test.cc: the meterctl binary against a real meterd.
#include <cstdio>
#include <fstream>

#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

struct CommandResult {
  int exit_code;
  std::string out;
};

class MeterctlTest : public MeterdTest {
 protected:
  CommandResult Meterctl(const std::string& args, const std::string& key = "") {
    const std::string cmd = std::string(METERCTL_BIN) +
                            " --server 127.0.0.1:" + std::to_string(server_.port()) + " --key " +
                            (key.empty() ? server_.admin_key() : key) + " " + args + " 2>&1";
    CommandResult r{0, ""};
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }
  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = tmp_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
};

TEST_F(MeterctlTest, IngestCsvThenExportGivesTheSameRowsSorted) {
  const int64_t t = UnixNow() - 3600;
  const std::string ts = std::to_string(t);
  const std::string csv =
      "resource,metric,timestamp,value\n"
      "vm-2,vm.vcpus," +
      ts +
      ",4\n"
      "vm-1,vm.state," +
      ts +
      ",running\n"
      "vm-1,vm.cpu_utilisation," +
      std::to_string(t + 1) +
      ",0.1\n"
      "vm-1,vm.vcpus," +
      std::to_string(t + 2) + ",2\n";
  CommandResult in = Meterctl("ingest " + WriteFile("in.csv", csv));
  EXPECT_EQ(in.exit_code, 0) << in.out;
  CommandResult out =
      Meterctl("export --from " + std::to_string(t - 1) + " --to " + std::to_string(t + 10));
  EXPECT_EQ(out.exit_code, 0) << out.out;
  EXPECT_NE(out.out.find("resource,metric,timestamp,value\n"
                         "vm-1,vm.cpu_utilisation," +
                         std::to_string(t + 1) +
                         ",0.1\n"
                         "vm-1,vm.state," +
                         ts +
                         ",1\n"
                         "vm-1,vm.vcpus," +
                         std::to_string(t + 2) +
                         ",2\n"
                         "vm-2,vm.vcpus," +
                         ts + ",4\n"),
            std::string::npos)
      << out.out;
}

TEST_F(MeterctlTest, IngestReportsRejectionsAndExitsNonZero) {
  const int64_t t = UnixNow() - 60;
  const std::string csv =
      "resource,metric,timestamp,value\n"
      "vm-1,vm.vcpus," +
      std::to_string(t) +
      ",2\n"
      "vm-1,no.such.metric," +
      std::to_string(t) +
      ",2\n"
      "vm-1,vm.vcpus,yesterday,2\n"
      "vm-1,vm.cpu_utilisation," +
      std::to_string(t) + ",nan\n";
  CommandResult in = Meterctl("--format json ingest " + WriteFile("bad.csv", csv));
  EXPECT_EQ(in.exit_code, 3) << in.out;
  EXPECT_NE(in.out.find("\"accepted\": 1"), std::string::npos) << in.out;
  EXPECT_NE(in.out.find("\"rejected\": 3"), std::string::npos) << in.out;
  EXPECT_NE(in.out.find("line 3"), std::string::npos) << in.out;
}

TEST_F(MeterctlTest, KeysCreateListRevoke) {
  CommandResult created = Meterctl("keys create --role agent --hypervisor hv-9");
  ASSERT_EQ(created.exit_code, 0) << created.out;
  const size_t at = created.out.find("mk_");
  ASSERT_NE(at, std::string::npos) << created.out;
  const std::string key = created.out.substr(at, created.out.find('\n', at) - at);
  ASSERT_EQ(key.size(), 84u) << created.out;
  CommandResult list = Meterctl("--format csv keys list");
  EXPECT_NE(list.out.find(key.substr(3, 16) + ",agent,hv-9"), std::string::npos) << list.out;
  EXPECT_EQ(Meterctl("keys revoke " + key.substr(3, 16)).exit_code, 0);
  EXPECT_EQ(Meterctl("stats", key).exit_code, 1);
  EXPECT_EQ(Meterctl("keys create --role agent").exit_code, 1);  // an agent key needs a hypervisor
}

TEST_F(MeterctlTest, StatsAndMetrics) {
  CommandResult stats = Meterctl("--format json stats");
  EXPECT_EQ(stats.exit_code, 0) << stats.out;
  EXPECT_NE(stats.out.find("\"series\""), std::string::npos);
  CommandResult def = Meterctl("metrics define --name gpu.seconds --kind counter --unit s");
  EXPECT_EQ(def.exit_code, 0) << def.out;
  CommandResult list = Meterctl("--format csv metrics list");
  EXPECT_NE(list.out.find("gpu.seconds,Counter,s,Int,no"), std::string::npos) << list.out;
}

}  // namespace
}  // namespace meterd::testing
