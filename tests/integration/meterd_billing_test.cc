// meterd — tests/integration/meterd_billing_test.cc
//
// The billing catalog end to end on the real meterd and meterctl: `meterctl apply` of the
// sample catalog (docs/examples/catalog.yaml) creates it, a second apply changes nothing, a
// document with an error is refused with its line and changes nothing, and `meterctl estimate`
// prices a plan before a VM exists, with the arithmetic of docs/rating.md.
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

struct CommandResult {
  int exit_code;
  std::string out, err;
};

class MeterdBillingTest : public MeterdTest {
 protected:
  CommandResult Meterctl(const std::string& args) {
    const std::string err_path = tmp_.path() + "/meterctl.err";
    const std::string cmd = std::string(METERCTL_BIN) +
                            " --server 127.0.0.1:" + std::to_string(server_.port()) + " --key " +
                            server_.admin_key() + " " + args + " 2>" + err_path;
    CommandResult r{0, "", ""};
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_path);
    r.err.assign(std::istreambuf_iterator<char>(in), {});
    return r;
  }
  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = tmp_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
};

TEST_F(MeterdBillingTest, ApplyIsIdempotentAndAllOrNothing) {
  const std::string catalog = std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml";
  CommandResult first = Meterctl("--format json apply " + catalog);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  auto j = nlohmann::json::parse(first.out);
  EXPECT_TRUE(j["applied"].get<bool>());
  EXPECT_GT(j["created"].get<int>(), 10);

  CommandResult again = Meterctl("--format json apply " + catalog);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto j2 = nlohmann::json::parse(again.out);
  EXPECT_FALSE(j2["applied"].get<bool>());
  EXPECT_EQ(j2["created"], 0);
  EXPECT_EQ(j2["updated"], 0);
  EXPECT_EQ(j2["unchanged"], j["created"]);

  // One good entity and one bad field: refused with the line, and the good one is not created.
  const std::string bad = WriteFile("bad.yaml",
                                    "locations:\n"
                                    "  - id: ams1\n"
                                    "    name: Amsterdam 1\n"
                                    "plans:\n"
                                    "  - id: tiny\n"
                                    "    vcpus: -1\n");
  CommandResult refused = Meterctl("apply " + bad);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("line 6: plans[0].vcpus"), std::string::npos) << refused.err;
  CommandResult dry = Meterctl("--format json apply --dry-run " +
                               WriteFile("ok.yaml", "locations:\n  - id: ams1\n    name: A\n"));
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(nlohmann::json::parse(dry.out)["created"], 1);  // ams1 does not exist yet
  EXPECT_FALSE(nlohmann::json::parse(dry.out)["applied"].get<bool>());
}

TEST_F(MeterdBillingTest, EstimatePricesAPlanBeforeTheVmExists) {
  const std::string catalog = std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml";
  ASSERT_EQ(Meterctl("apply " + catalog).exit_code, 0);
  // Copper in lon1 runs at 2.2 credits an hour, capped at 672 h a month: 730 h cost
  // 672 x 2.2 = 1478.4 credits; 10 h cost 22 credits.
  CommandResult month = Meterctl("--format json estimate --plan copper --location lon1");
  ASSERT_EQ(month.exit_code, 0) << month.err;
  auto rows = nlohmann::json::parse(month.out);
  bool found = false;
  for (const auto& r : rows) {
    if (r["metric"] == "vm.state") {
      found = true;
      EXPECT_EQ(r["hourly_credits"], 2.2) << r.dump();
      EXPECT_EQ(r["730h_credits"], 1478.4) << r.dump();
    }
  }
  EXPECT_TRUE(found) << month.out;
  CommandResult ten = Meterctl("--format json estimate --plan copper --location lon1 --hours 10");
  ASSERT_EQ(ten.exit_code, 0) << ten.err;
  for (const auto& r : nlohmann::json::parse(ten.out)) {
    if (r["metric"] == "vm.state") EXPECT_EQ(r["10h_credits"], 22) << r.dump();
  }
  CommandResult unknown = Meterctl("estimate --plan nope --location lon1");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("NotFound"), std::string::npos) << unknown.err;
}

TEST_F(MeterdBillingTest, ChargesRateBackfilledHoursOfTheCatalogsVm) {
  server_.Stop();
  StartServer({"--grace", "0"});  // hours close as they end: two hours ago is sealed
  const std::string catalog = std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml";
  ASSERT_EQ(Meterctl("apply " + catalog).exit_code, 0);
  const int64_t now = UnixNow();
  const int64_t h = now - now % 3600 - 3 * 3600;
  for (int i = 0; i < 100; ++i) {
    CommandResult st = Meterctl("--format json stats");
    if (st.exit_code == 0 &&
        nlohmann::json::parse(st.out)["rollup_sealed_before"].get<int64_t>() > h + 3600) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // vm-1001 is a Silver VM now (docs/examples/catalog.yaml): running hours at 0.6 credits.
  // 3600 s + 1800 s running = 1.5 h x 0.6 = 0.9 credits = 900,000 micro-credits.
  const std::string csv =
      "resource,metric,hour,value\n"
      "vm-1001,vm.state:running," +
      std::to_string(h) +
      ",3600\n"
      "vm-1001,vm.state:running," +
      std::to_string(h + 3600) +
      ",1800\n"
      "vm-nobody,vm.state:running," +
      std::to_string(h) + ",3600\n";
  ASSERT_EQ(Meterctl("backfill " + WriteFile("bf.csv", csv)).exit_code, 0);
  CommandResult charges = Meterctl("--format json charges --from " + std::to_string(h) + " --to " +
                                   std::to_string(now) + " --account bu1user1");
  ASSERT_EQ(charges.exit_code, 0) << charges.out << charges.err;
  // Two JSON arrays: the lines, then the totals.
  const size_t split = charges.out.find("]\n[");
  ASSERT_NE(split, std::string::npos) << charges.out;
  auto lines = nlohmann::json::parse(charges.out.substr(0, split + 1));
  auto totals = nlohmann::json::parse(charges.out.substr(split + 2));
  ASSERT_EQ(lines.size(), 1u) << charges.out;
  EXPECT_EQ(lines[0]["resource"], "vm-1001");
  EXPECT_EQ(lines[0]["quantity"], 1.5);
  EXPECT_EQ(lines[0]["credits"], 0.9);
  EXPECT_EQ(lines[0]["cost"], "GBP 0.90");
  EXPECT_EQ(totals.back()["credits"], 0.9) << charges.out;
  // The unknown VM's usage is reported, not dropped and not charged.
  CommandResult all =
      Meterctl("charges --from " + std::to_string(h) + " --to " + std::to_string(now));
  EXPECT_NE(all.err.find("1 usage entries of unknown resources"), std::string::npos) << all.err;
}

}  // namespace
}  // namespace meterd::testing
