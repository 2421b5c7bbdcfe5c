// meterd — tests/integration/meterd_profiles_test.cc
//
// Billing profiles end to end on the real meterd and meterctl: `meterctl profiles set` creates
// and changes one (fields not given keep their value, a cycle change drops the old cycle's
// fields), `profiles show` prints it (one JSON document with --format json, global options
// anywhere on the line), bad zones, countries and currencies are refused with the field named
// and change nothing, the profile reads back in `catalog export` and survives a restart, and a
// billing key may read profiles but not set them.
#include <nlohmann/json.hpp>

#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

class MeterdProfilesTest : public MeterdTest {
 protected:
  void SetUp() override {
    MeterdTest::SetUp();
    const std::string catalog = std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml";
    ASSERT_EQ(Meterctl("apply " + catalog).exit_code, 0);
  }
  nlohmann::json ShowJson(const std::string& account) {
    CommandResult r = Meterctl("profiles show --account " + account + " --format json");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json doc = nlohmann::json::parse(r.out, nullptr, false);  // one document
    EXPECT_TRUE(doc.is_object()) << r.out;
    if (!doc.is_object() || !doc["billing_profiles"].is_array() ||
        doc["billing_profiles"].size() != 1) {
      return nlohmann::json::object();
    }
    return doc["billing_profiles"][0];
  }
};

TEST_F(MeterdProfilesTest, SetShowChangeAndRefuse) {
  CommandResult none = Meterctl("profiles show --account bu1user1");
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("account \"bu1user1\" has no billing profile"), std::string::npos)
      << none.err;

  CommandResult created = Meterctl(
      "--format json profiles set --account bu1user1 --address '1 Long Acre, London' --country GB "
      "--vat-number GB123456789 --time-zone Europe/London --currency GBP --cycle "
      "monthly_anchored --anchor-day 31");
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  const nlohmann::json rep = nlohmann::json::parse(created.out);
  EXPECT_TRUE(rep["applied"].get<bool>());
  EXPECT_EQ(rep["created"], 1);

  nlohmann::json p = ShowJson("bu1user1");
  EXPECT_EQ(p["account"], "bu1user1");
  EXPECT_EQ(p["address"], "1 Long Acre, London");
  EXPECT_EQ(p["country"], "GB");
  EXPECT_EQ(p["vat_number"], "GB123456789");
  EXPECT_EQ(p["time_zone"], "Europe/London");
  EXPECT_EQ(p["currency"], "GBP");
  EXPECT_EQ(p["cycle"], "monthly_anchored");
  EXPECT_EQ(p["anchor_day"], 31);

  // One field changes; the others keep their value. A new cycle drops anchor_day.
  CommandResult zone = Meterctl("profiles set --account bu1user1 --time-zone Asia/Kolkata");
  ASSERT_EQ(zone.exit_code, 0) << zone.err;
  EXPECT_NE(zone.out.find("updated billing_profile bu1user1: time_zone"), std::string::npos)
      << zone.out;
  CommandResult weekly =
      Meterctl("profiles set --account bu1user1 --cycle weekly --week-start sunday");
  ASSERT_EQ(weekly.exit_code, 0) << weekly.err;
  p = ShowJson("bu1user1");
  EXPECT_EQ(p["time_zone"], "Asia/Kolkata");
  EXPECT_EQ(p["country"], "GB");
  EXPECT_EQ(p["cycle"], "weekly");
  EXPECT_EQ(p["week_start"], "sunday");
  EXPECT_FALSE(p.contains("anchor_day")) << p.dump();

  // Bad values: refused, the field named, nothing changed.
  struct Bad {
    const char* args;
    const char* message;
  };
  for (const Bad& b :
       {Bad{"--time-zone Mars/Olympus_Mons", "unknown time zone \"Mars/Olympus_Mons\""},
        Bad{"--country UK", "the United Kingdom is GB"},
        Bad{"--currency EURO", "\"EURO\" is not an ISO 4217 currency code"},
        Bad{"--cycle fortnightly", "\"fortnightly\" is not a cycle"},
        Bad{"--anchor-day 5", "anchor_day is only for the monthly_anchored cycle"}}) {
    CommandResult r = Meterctl(std::string("profiles set --account bu1user1 ") + b.args);
    EXPECT_EQ(r.exit_code, 1) << b.args;
    EXPECT_NE(r.err.find(b.message), std::string::npos) << b.args << ": " << r.err;
  }
  CommandResult unknown = Meterctl("profiles set --account nobody --country GB");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("\"nobody\" is not a known account"), std::string::npos)
      << unknown.err;
  EXPECT_EQ(ShowJson("bu1user1"), p);

  // The list, as CSV; the export carries the section and reapplies unchanged.
  CommandResult list = Meterctl("profiles show --format csv");
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("bu1user1,GB,GB123456789,Asia/Kolkata,GBP,weekly (sunday)"),
            std::string::npos)
      << list.out;
  CommandResult exported = Meterctl("catalog export --format json");
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const nlohmann::json doc = nlohmann::json::parse(exported.out);
  ASSERT_EQ(doc["billing_profiles"].size(), 1u) << exported.out;
  CommandResult reapplied =
      Meterctl("--format json apply " + WriteFile("export.json", exported.out));
  ASSERT_EQ(reapplied.exit_code, 0) << reapplied.err;
  EXPECT_FALSE(nlohmann::json::parse(reapplied.out)["applied"].get<bool>()) << reapplied.out;

  // Kept in billing.db across a restart.
  server_.Stop();
  StartServer({}, /*fresh=*/false);
  EXPECT_EQ(ShowJson("bu1user1"), p);

  // A billing key reads profiles and may not set them.
  const nlohmann::json key = nlohmann::json::parse(
      Meterctl("--format json keys create --role billing").out, nullptr, false);
  ASSERT_TRUE(key.is_object());
  const std::string as_billing = "--server 127.0.0.1:" + std::to_string(server_.port()) +
                                 " --key " + key["key"].get<std::string>() + " ";
  CommandResult read = RunMeterctl(as_billing + "profiles show --account bu1user1");
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_NE(read.out.find("Asia/Kolkata"), std::string::npos) << read.out;
  CommandResult write = RunMeterctl(as_billing + "profiles set --account bu1user1 --country DE");
  EXPECT_EQ(write.exit_code, 1);
  EXPECT_NE(write.err.find("PermissionDenied"), std::string::npos) << write.err;
}

TEST_F(MeterdProfilesTest, HelpListsTheGlobalOptions) {
  CommandResult help = RunMeterctl("profiles set --help");
  EXPECT_EQ(help.exit_code, 0) << help.err;
  for (const char* option :
       {"--account", "--time-zone", "--anchor-day", "--server", "--key", "--format"}) {
    EXPECT_NE(help.out.find(option), std::string::npos) << option << "\n" << help.out;
  }
}

}  // namespace
}  // namespace meterd::testing
