// meterd — tests/integration/meterctl_test.cc: the meterctl binary against a real meterd.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

class MeterctlTest : public MeterdTest {
 protected:
  // meterctl with the endpoint options before `args`.
  CommandResult Meterctl(const std::string& args, const std::string& key = "") {
    return Run(Globals(key) + " " + args);
  }
  // meterctl with the endpoint options last, after the command and its options.
  CommandResult MeterctlGlobalsLast(const std::string& args) { return Run(args + " " + Globals()); }

  std::string Globals(const std::string& key = "") {
    return "--server 127.0.0.1:" + std::to_string(server_.port()) + " --key " +
           (key.empty() ? server_.admin_key() : key);
  }
  CommandResult Run(const std::string& line) { return RunMeterctl(line); }
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
  EXPECT_EQ(in.exit_code, 0) << in.out << in.err;
  CommandResult out =
      Meterctl("export --from " + std::to_string(t - 1) + " --to " + std::to_string(t + 10));
  EXPECT_EQ(out.exit_code, 0) << out.out << out.err;
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
      << out.out << out.err;
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
  EXPECT_EQ(in.exit_code, 3) << in.out << in.err;
  EXPECT_NE(in.out.find("\"accepted\": 1"), std::string::npos) << in.out << in.err;
  EXPECT_NE(in.out.find("\"rejected\": 3"), std::string::npos) << in.out << in.err;
  EXPECT_NE(in.out.find("line 3"), std::string::npos) << in.out << in.err;
}

TEST_F(MeterctlTest, KeysCreateListRevoke) {
  CommandResult created = Meterctl("keys create --role agent --hypervisor hv-9");
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  const size_t at = created.out.find("mk_");
  ASSERT_NE(at, std::string::npos) << created.out << created.err;
  const std::string key = created.out.substr(at, created.out.find('\n', at) - at);
  ASSERT_EQ(key.size(), 84u) << created.out << created.err;
  CommandResult list = Meterctl("--format csv keys list");
  EXPECT_NE(list.out.find(key.substr(3, 16) + ",agent,hv-9"), std::string::npos)
      << list.out << list.err;
  EXPECT_EQ(Meterctl("keys revoke " + key.substr(3, 16)).exit_code, 0);
  EXPECT_EQ(Meterctl("stats", key).exit_code, 1);
  EXPECT_EQ(Meterctl("keys create --role agent").exit_code, 1);  // an agent key needs a hypervisor
}

TEST_F(MeterctlTest, StatsAndMetrics) {
  CommandResult stats = Meterctl("--format json stats");
  EXPECT_EQ(stats.exit_code, 0) << stats.out << stats.err;
  EXPECT_NE(stats.out.find("\"series\""), std::string::npos);
  CommandResult def = Meterctl("metrics define --name gpu.seconds --kind counter --unit s");
  EXPECT_EQ(def.exit_code, 0) << def.out << def.err;
  CommandResult list = Meterctl("--format csv metrics list");
  EXPECT_NE(list.out.find("gpu.seconds,Counter,s,Int,no"), std::string::npos)
      << list.out << list.err;
}

TEST_F(MeterctlTest, GlobalOptionsGoAfterTheCommand) {
  const int64_t t = UnixNow() - 600;
  ASSERT_EQ(
      Meterctl("ingest " + WriteFile("g.csv", "resource,metric,timestamp,value\nvm-g,vm.vcpus," +
                                                  std::to_string(t) + ",3\n"))
          .exit_code,
      0);
  const std::string range = "--from " + std::to_string(t) + " --to " + std::to_string(t + 1);
  // The line: --format after the command's options.
  CommandResult csv = MeterctlGlobalsLast("export " + range + " --format csv");
  EXPECT_EQ(csv.exit_code, 0) << csv.out << csv.err;
  EXPECT_EQ(csv.out,
            "resource,metric,timestamp,value\nvm-g,vm.vcpus," + std::to_string(t) + ",3\n");
  // Globals between a group and its command, and --format=json spelled with '='.
  CommandResult keys = Run("keys " + Globals() + " list --format=json");
  EXPECT_EQ(keys.exit_code, 0) << keys.out << keys.err;
  EXPECT_TRUE(nlohmann::json::parse(keys.out).is_array()) << keys.out;
  // Every --help lists them.
  for (const char* cmd : {"export", "keys list", "rollup rebuild", "metrics define"}) {
    CommandResult help = Run(std::string(cmd) + " --help");
    EXPECT_EQ(help.exit_code, 0) << cmd;
    for (const char* opt : {"--server", "--key-file", "--format"}) {
      EXPECT_NE(help.out.find(opt), std::string::npos) << cmd << ": " << help.out;
    }
  }
}

TEST_F(MeterctlTest, RollupRebuildJsonIsOneDocument) {
  // Grace 0: an hour seals as soon as it ends. A bucket imported by backfill for a series
  // without raw samples is kept by a rebuild (issue 18), and the report itemises it by hour.
  server_.Stop();
  StartServer({"--grace", "0"});
  const int64_t hour = (UnixNow() / 3600 - 3) * 3600;
  for (int i = 0; i < 100; ++i) {
    CommandResult st = Meterctl("--format json stats");
    if (st.exit_code == 0 &&
        nlohmann::json::parse(st.out)["rollup_sealed_before"].get<int64_t>() > hour + 3600) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CommandResult bf = Meterctl("backfill " + WriteFile("bf.csv",
                                                      "resource,metric,hour,value\n"
                                                      "vm-rb,vm.vcpus," +
                                                          std::to_string(hour) + ",2.0\n"));
  ASSERT_EQ(bf.exit_code, 0) << bf.out << bf.err;
  const std::string range =
      "--from " + std::to_string(hour) + " --to " + std::to_string(hour + 3600);
  CommandResult rebuild = Meterctl("rollup rebuild " + range + " --format json");
  ASSERT_EQ(rebuild.exit_code, 0) << rebuild.out << rebuild.err;
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(rebuild.out)) << rebuild.out;
  ASSERT_TRUE(doc.is_object()) << rebuild.out;
  EXPECT_EQ(doc["revisions"], 0) << rebuild.out;
  EXPECT_EQ(doc["kept_imported"], 1) << rebuild.out;
  ASSERT_EQ(doc["by_hour"].size(), 1u) << rebuild.out;
  EXPECT_EQ(doc["by_hour"][0]["kept_imported"], 1) << rebuild.out;
  EXPECT_TRUE(doc["first_changes"].is_array()) << rebuild.out;
  // Every command's --format json is one document, even those that print only a note.
  CommandResult define =
      Meterctl("metrics define --name gpu.s --kind counter --unit s --format json");
  EXPECT_EQ(define.exit_code, 0) << define.err;
  EXPECT_EQ(nlohmann::json::parse(define.out)["defined"], "gpu.s") << define.out;
}

TEST_F(MeterctlTest, AnUnknownCommandIsAUsageErrorThatNamesIt) {
  // The issue's `meterctl topup --help` (topup is about to exist: any unknown name will do).
  CommandResult unknown = Meterctl("frobnicate --help");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.out, "");
  EXPECT_EQ(unknown.err, "meterctl: unknown command 'frobnicate'; see meterctl --help\n");
  CommandResult nested = Meterctl("keys frobnicate");
  EXPECT_EQ(nested.exit_code, 2);
  EXPECT_EQ(nested.err, "meterctl: unknown command 'keys frobnicate'; see meterctl keys --help\n");
  CommandResult none = Run("");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("Usage: meterctl"), std::string::npos) << none.err;
}

TEST_F(MeterctlTest, IntegerGaugesTakeIntegralDecimals) {
  const int64_t t = UnixNow() - 600;
  const std::string ts = std::to_string(t);
  const std::string csv =
      "resource,metric,timestamp,value\n"
      "vm-p,vm.vcpus," +
      ts +
      ",2.0\n"  // line 2: pandas' 2
      "vm-p,vm.vcpus," +
      std::to_string(t + 1) +
      ",2.5\n"  // line 3: refused
      "vm-p,vm.vcpus," +
      std::to_string(t + 2) + ",1e1\n";  // line 4: 10
  CommandResult in = Meterctl("--format json ingest " + WriteFile("pandas.csv", csv));
  EXPECT_EQ(in.exit_code, 3) << in.out << in.err;  // not every row was accepted
  const nlohmann::json rep = nlohmann::json::parse(in.out);
  EXPECT_EQ(rep["accepted"], 2) << in.out;
  EXPECT_EQ(rep["rejected"], 1) << in.out;
  ASSERT_EQ(rep["examples"].size(), 1u) << in.out;
  EXPECT_EQ(rep["examples"][0],
            "line 3: \"2.5\" has a fractional part: vm.vcpus takes unsigned integers")
      << in.out;
  CommandResult out =
      Meterctl("export --from " + ts + " --to " + std::to_string(t + 3) + " --resource vm-p");
  EXPECT_EQ(out.out, "resource,metric,timestamp,value\nvm-p,vm.vcpus," + ts + ",2\nvm-p,vm.vcpus," +
                         std::to_string(t + 2) + ",10\n")
      << out.err;
}

}  // namespace
}  // namespace meterd::testing
