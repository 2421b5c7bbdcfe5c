// meterd — tests/integration/meterd_billing_test.cc
//
// The billing catalog end to end on the real meterd and meterctl: `meterctl apply` of the
// sample catalog (docs/examples/catalog.yaml) creates it, a second apply changes nothing, a
// document with an error is refused with its line and changes nothing, `meterctl estimate`
// prices a plan before a VM exists, `meterctl charges` rates backfilled hours, and `meterctl
// rerate` reports the difference per line under another price book version, with the
// arithmetic of docs/rating.md written out in each case.
#include <time.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

class MeterdBillingTest : public MeterdTest {
 protected:
  // `--format json charges|rerate` prints one object: {"lines": [...], "totals": [...], ...}.
  static std::pair<nlohmann::json, nlohmann::json> LinesAndTotals(const std::string& out) {
    const nlohmann::json doc = nlohmann::json::parse(out, nullptr, false);
    if (!doc.is_object()) return {nlohmann::json::array(), nlohmann::json::array()};
    return {doc["lines"], doc["totals"]};
  }
  // The line of `product` (and `resource`, when given) in a JSON array of lines, or null.
  static nlohmann::json Find(const nlohmann::json& lines, const std::string& key,
                             const std::string& value, const std::string& resource = "") {
    for (const auto& l : lines) {
      if (l[key] == value && (resource.empty() || l["resource"] == resource)) return l;
    }
    return nullptr;
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
    if (r["metric"] == "vm.state") {
      EXPECT_EQ(r["10h_credits"], 22) << r.dump();
    }
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
  // One JSON document: the lines and the totals.
  auto [lines, totals] = LinesAndTotals(charges.out);
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

  // Series defined after the server built its rating engine (a VM's first import): the engine
  // is extended with them, not rebuilt, and the next charges include them.
  ASSERT_EQ(Meterctl("backfill " + WriteFile("bf2.csv",
                                             "resource,metric,hour,value\n"
                                             "vm-1002,vm.state:running," +
                                                 std::to_string(h) + ",3600\n"))
                .exit_code,
            0);
  CommandResult grown = Meterctl("--format json charges --from " + std::to_string(h) + " --to " +
                                 std::to_string(now) + " --account bu1user1");
  ASSERT_EQ(grown.exit_code, 0) << grown.err;
  auto [grown_lines, grown_totals] = LinesAndTotals(grown.out);
  ASSERT_EQ(grown_lines.size(), 2u) << grown.out;
  const nlohmann::json worker = Find(grown_lines, "resource", "vm-1002");
  ASSERT_FALSE(worker.is_null()) << grown.out;
  EXPECT_EQ(worker["quantity"], 1) << grown.out;
  EXPECT_GT(worker["credits"].get<double>(), 0) << grown.out;
  std::ifstream log(data_dir() + ".log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("event=rating_engine_extended"), std::string::npos);
}

// Issue 18: `meterctl rollup rebuild` over a backfilled month recomputed it from raw samples that
// do not exist and turned the imported buckets into empty ones (a month's running hours went
// 720 -> 718 with only "16 revisions" reported). A whole calendar month imported for three of
// the catalog's VMs (running every hour; vm-1001 also sends a network counter), then rebuilt:
// usage and charges are exactly what they were, and the report says that every bucket was
// kept as imported, hour by hour.
TEST_F(MeterdBillingTest, RollupRebuildKeepsABackfilledMonth) {
  server_.Stop();
  StartServer({"--grace", "0"});  // a fresh server seals everything older than a day
  const std::string catalog = std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml";
  ASSERT_EQ(Meterctl("apply " + catalog).exit_code, 0);
  // The calendar month 40 days ago: sealed, beyond raw retention's reach for no raw sample.
  const time_t then = static_cast<time_t>(UnixNow() - 40 * 86400);
  std::tm tm{};
  gmtime_r(&then, &tm);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  const int64_t from = static_cast<int64_t>(timegm(&tm));
  tm.tm_mon += 1;
  const int64_t to = static_cast<int64_t>(timegm(&tm));
  const int64_t hours = (to - from) / 3600;
  ASSERT_GE(hours, 672);
  std::string csv = "resource,metric,hour,value\n";
  for (int64_t h = from; h < to; h += 3600) {
    for (const char* vm : {"vm-1001", "vm-1002", "vm-1003"}) {
      csv += std::string(vm) + ",vm.state:running," + std::to_string(h) + ",3600\n";
    }
    csv += "vm-1001,net.tx_bytes," + std::to_string(h) + "," + std::to_string(1000 + h % 7) + "\n";
  }
  CommandResult bf = Meterctl("--format json backfill " + WriteFile("month.csv", csv));
  ASSERT_EQ(bf.exit_code, 0) << bf.out << bf.err;
  ASSERT_EQ(nlohmann::json::parse(bf.out)[0]["imported buckets"], 4 * hours) << bf.out;

  const std::string range = "--from " + std::to_string(from) + " --to " + std::to_string(to);
  auto usage = [&] {
    CommandResult u = Meterctl("--format json usage --granularity month " + range);
    EXPECT_EQ(u.exit_code, 0) << u.out << u.err;
    return nlohmann::json::parse(u.out, nullptr, false);
  };
  auto charges = [&] {
    CommandResult c = Meterctl("--format json charges " + range);
    EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
    auto [lines, totals] = LinesAndTotals(c.out);
    return std::make_pair(lines, totals);
  };
  const nlohmann::json usage_before = usage();
  const auto charges_before = charges();
  ASSERT_EQ(usage_before.size(), 4u) << usage_before.dump(1);
  for (const auto& l : usage_before) {
    if (l["metric"] == "vm.state") {
      EXPECT_EQ(l["state_seconds"]["running"], 3600 * hours) << l.dump();
    }
  }
  ASSERT_FALSE(charges_before.first.empty());
  ASSERT_FALSE(charges_before.second.empty());

  CommandResult rebuild = Meterctl("--format json rollup rebuild " + range);
  ASSERT_EQ(rebuild.exit_code, 0) << rebuild.out << rebuild.err;
  const nlohmann::json rep = nlohmann::json::parse(rebuild.out, nullptr, false);
  ASSERT_TRUE(rep.is_object()) << rebuild.out;
  EXPECT_EQ(rep.value("kept_imported", uint64_t{0}), static_cast<uint64_t>(4 * hours))
      << rebuild.out;
  EXPECT_EQ(rep["revisions"], 0) << rebuild.out;
  EXPECT_EQ(rep["open_replaced"], 0) << rebuild.out;
  EXPECT_EQ(rep.value("kept_without_raw", uint64_t{1}), 0u) << rebuild.out;
  EXPECT_TRUE(rep["first_changes"].empty()) << rebuild.out;
  // Hour by hour: the three VMs' states and vm-1001's counter kept, nothing rebuilt.
  ASSERT_TRUE(rep.contains("by_hour")) << rebuild.out;
  ASSERT_EQ(rep["by_hour"].size(), static_cast<size_t>(hours));
  for (const auto& h : rep["by_hour"]) {
    EXPECT_EQ(h["kept_imported"], 4) << h.dump();
    EXPECT_EQ(h["rebuilt"], 0) << h.dump();
  }
  EXPECT_EQ(usage(), usage_before);
  EXPECT_EQ(charges(), charges_before);
  // The text report says the same on one line per run of equal hours, and why on stderr.
  CommandResult text = Meterctl("rollup rebuild " + range);
  ASSERT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_NE(text.out.find("kept_imported"), std::string::npos) << text.out;
  EXPECT_NE(text.err.find(std::to_string(4 * hours) + " imported buckets kept"), std::string::npos)
      << text.err;
}

// The 10th, 00:00 UTC, of the month 40 days ago: a sealed hour (backfill imports sealed hours
// only; a fresh server seals everything older than a day) well inside its month, so that the
// four hours from there on are one calendar month's.
int64_t TenthOfAMonthAgo() {
  const time_t then = static_cast<time_t>(UnixNow() - 40 * 86400);
  std::tm tm{};
  gmtime_r(&then, &tm);
  tm.tm_mday = 10;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  return static_cast<int64_t>(timegm(&tm));
}

// A catalog with two price book versions, usage backfilled across the version change, and the
// period re-rated under each version. Every amount below is computed by hand:
//
//   hours A .. A+3 (A = the 10th at 00:00), vm-a of account acme runs all four and sends 10, 20,
//   30 and 40 GB; version 1 (from long before) prices running hours at 2.2 a hour, capped at 3 h
//   per VM per month, and GB sent at 0.05; version 2 (from A+2h) at 2.0 (cap 3 h) and 0.04.
//
//   in force (actual)   running: v1 slice [0, 2 h) 2 h x 2.2 = 4.4; v2 slice [2 h, 4 h) of the
//                       line, billed up to the 3 h cap: 1 h x 2.0 = 2.0            -> 6.4
//                       sent: 30 GB x 0.05 = 1.5 + 70 GB x 0.04 = 2.8              -> 4.3
//                                                                          total   10.7
//   under version 1     running: min(4 h, 3 h) x 2.2 = 6.6 (+0.2); sent 100 x 0.05 = 5.0 (+0.7)
//                                                                  total 11.6   (+0.9)
//   under version 2     running: 3 h x 2.0 = 6.0 (-0.4); sent 100 x 0.04 = 4.0 (-0.3)
//                                                                  total 10.0   (-0.7)
//
// Then the cached rating engine must follow changes: a new series (vm-b's usage backfilled
// after the first rating) and a new price book version (3, from A+3h) are both rated.
TEST_F(MeterdBillingTest, ReRateReportsTheDifferencePerLineUnderAnotherVersion) {
  const int64_t a = TenthOfAMonthAgo();
  const int64_t h = 3600;
  const std::string t0 = std::to_string(a - 30 * 86400);  // catalog and version 1 in force since
  auto product = [](const std::string& running, const std::string& sent) {
    return "      - {id: running.small, name: Small running, group: Running VM, metric: vm.state,\n"
           "         states: [running], match: {plan: small}, unit: h, price: \"" +
           running +
           "\", cap: 3}\n"
           "      - {id: net.sent, name: Bytes sent, group: Network, metric: net.tx_bytes,\n"
           "         unit: GB, price: \"" +
           sent + "\"}\n";
  };
  auto version = [&](int n, int64_t from, const std::string& running, const std::string& sent) {
    return "  - version: " + std::to_string(n) + "\n    effective_from: " + std::to_string(from) +
           "\n    default_currency: GBP\n"
           "    currencies: [{code: GBP, per_credit: \"1\", prefix: \"GBP \", minor_digits: 2}]\n"
           "    products:\n" +
           product(running, sent);
  };
  const std::string catalog =
      "locations: [{id: lon1, name: London 1}]\n"
      "plan_groups: [{id: std, name: Standard}]\n"
      "plans: [{id: small, name: Small, group: std, vcpus: 1, memory_bytes: 1073741824}]\n"
      "domains: [{id: d1, name: Domain 1}]\n"
      "accounts: [{id: acme, domain: d1, name: Acme, currency: GBP}]\n"
      "projects: [{id: acme-web, account: acme, name: Web}]\n"
      "resources:\n"
      "  - id: vm-a\n"
      "    versions: [{effective_from: " +
      t0 +
      ", type: vm, project: acme-web, location: lon1, plan: small}]\n"
      "  - id: vm-b\n"
      "    versions: [{effective_from: " +
      t0 +
      ", type: vm, project: acme-web, location: lon1, plan: small}]\n"
      "price_books:\n" +
      version(1, a - 30 * 86400, "2.2", "0.05") + version(2, a + 2 * h, "2.0", "0.04");
  CommandResult applied = Meterctl("apply " + WriteFile("two-versions.yaml", catalog));
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  std::string csv = "resource,metric,hour,value\n";
  for (int i = 0; i < 4; ++i) {
    csv += "vm-a,vm.state:running," + std::to_string(a + i * h) + ",3600\n";
    csv += "vm-a,net.tx_bytes," + std::to_string(a + i * h) + "," + std::to_string((i + 1) * 10) +
           "000000000\n";  // 10, 20, 30, 40 GB
  }
  CommandResult bf = Meterctl("backfill " + WriteFile("vm-a.csv", csv));
  ASSERT_EQ(bf.exit_code, 0) << bf.out << bf.err;
  const std::string window =
      " --from " + std::to_string(a) + " --to " + std::to_string(a + 4 * h) + " --account acme";

  // The actual charges (this rating also builds and caches the engine).
  CommandResult charges = Meterctl("--format json charges" + window);
  ASSERT_EQ(charges.exit_code, 0) << charges.out << charges.err;
  auto [charge_lines, charge_totals] = LinesAndTotals(charges.out);
  ASSERT_EQ(charge_lines.size(), 2u) << charges.out;
  EXPECT_EQ(Find(charge_lines, "product", "Small running")["credits"], 6.4) << charges.out;
  EXPECT_EQ(Find(charge_lines, "product", "Bytes sent")["credits"], 4.3) << charges.out;
  EXPECT_EQ(charge_totals.back()["credits"], 10.7) << charges.out;

  // Under version 1.
  CommandResult v1 = Meterctl("--format json rerate --version 1" + window);
  ASSERT_EQ(v1.exit_code, 0) << v1.out << v1.err;
  auto [lines1, totals1] = LinesAndTotals(v1.out);
  ASSERT_EQ(lines1.size(), 2u) << v1.out;
  const nlohmann::json run1 = Find(lines1, "product", "Small running");
  ASSERT_FALSE(run1.is_null()) << v1.out;
  EXPECT_EQ(run1["resource"], "vm-a");
  EXPECT_EQ(run1["account"], "acme");
  EXPECT_EQ(run1["quantity"], 4);  // hours of usage, the same under both
  EXPECT_EQ(run1["unit"], "h");
  EXPECT_EQ(run1["actual"], 6.4);
  EXPECT_EQ(run1["rerated"], 6.6);
  EXPECT_EQ(run1["difference"], 0.2);
  const nlohmann::json sent1 = Find(lines1, "product", "Bytes sent");
  ASSERT_FALSE(sent1.is_null()) << v1.out;
  EXPECT_EQ(sent1["quantity"], 100);
  EXPECT_EQ(sent1["actual"], 4.3);
  EXPECT_EQ(sent1["rerated"], 5.0);
  EXPECT_EQ(sent1["difference"], 0.7);
  // Totals per product (group_by product) and in all.
  EXPECT_EQ(Find(totals1, "group_key", "running.small")["difference"], 0.2) << v1.out;
  EXPECT_EQ(Find(totals1, "group_key", "net.sent")["difference"], 0.7) << v1.out;
  const nlohmann::json all1 = Find(totals1, "group_key", "total");
  EXPECT_EQ(all1["actual"], 10.7) << v1.out;
  EXPECT_EQ(all1["rerated"], 11.6) << v1.out;

  // Booked: acme's difference (+0.9 owed) becomes one adjustment of -0.9 credits, once, however
  // often the same re-rate is booked under the same reference.
  for (int i = 0; i < 2; ++i) {
    CommandResult booked =
        Meterctl("--format json rerate --version 1 --book --reference rr-v1" + window);
    ASSERT_EQ(booked.exit_code, 0) << booked.out << booked.err;
    auto bj = nlohmann::json::parse(booked.out);
    ASSERT_EQ(bj["booked"].size(), 1u) << booked.out;
    EXPECT_EQ(bj["booked"][0]["account"], "acme");
    EXPECT_EQ(bj["booked"][0]["amount"], -0.9);
    EXPECT_EQ(bj["booked"][0]["reference"], "rr-v1:acme");
  }
  auto ledger = nlohmann::json::parse(Meterctl("--format json ledger --account acme").out);
  int adjustments = 0;
  for (const auto& e : ledger["entries"]) {
    if (e["kind"] == "adjustment") {
      ++adjustments;
      EXPECT_EQ(e["amount_micro"], -900'000);
    }
  }
  EXPECT_EQ(adjustments, 1) << ledger.dump(2);
  // Booking needs a reference.
  EXPECT_NE(Meterctl("rerate --version 1 --book" + window).exit_code, 0);
  EXPECT_EQ(all1["difference"], 0.9) << v1.out;

  // Under version 2: cheaper, so the differences are negative.
  CommandResult v2 = Meterctl("--format json rerate --version 2" + window);
  ASSERT_EQ(v2.exit_code, 0) << v2.out << v2.err;
  auto [lines2, totals2] = LinesAndTotals(v2.out);
  EXPECT_EQ(Find(lines2, "product", "Small running")["rerated"], 6.0) << v2.out;
  EXPECT_EQ(Find(lines2, "product", "Small running")["difference"], -0.4) << v2.out;
  EXPECT_EQ(Find(lines2, "product", "Bytes sent")["rerated"], 4.0) << v2.out;
  EXPECT_EQ(Find(lines2, "product", "Bytes sent")["difference"], -0.3) << v2.out;
  EXPECT_EQ(Find(totals2, "group_key", "total")["rerated"], 10.0) << v2.out;
  EXPECT_EQ(Find(totals2, "group_key", "total")["difference"], -0.7) << v2.out;

  // The table names the version and prints the display totals.
  CommandResult table = Meterctl("rerate --version 1" + window);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("re-rate under price book version 1"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("actual GBP 10.70, re-rated GBP 11.60"), std::string::npos) << table.out;
  // A version the book does not have is refused, clearly.
  CommandResult missing = Meterctl("rerate --version 9" + window);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no price book version 9"), std::string::npos) << missing.err;

  // A new series after the engine was cached: vm-b's running hour A (v1: 2.2) is rated.
  CommandResult bf_b = Meterctl(
      "backfill " + WriteFile("vm-b.csv", "resource,metric,hour,value\nvm-b,vm.state:running," +
                                              std::to_string(a) + ",3600\n"));
  ASSERT_EQ(bf_b.exit_code, 0) << bf_b.out << bf_b.err;
  CommandResult with_b = Meterctl("--format json charges" + window);
  ASSERT_EQ(with_b.exit_code, 0) << with_b.err;
  auto [lines_b, totals_b] = LinesAndTotals(with_b.out);
  EXPECT_EQ(Find(lines_b, "product", "Small running", "vm-b")["credits"], 2.2) << with_b.out;
  EXPECT_EQ(totals_b.back()["credits"], 12.9) << with_b.out;  // 10.7 + 2.2

  // A new price book version after the engine was cached: version 3 from A+3h prices running
  // hours at 1.0 and GB sent at 0.01. vm-a running: 4.4 + 2.0 (v2, up to the cap) + 0 (v3, all
  // above the cap) = 6.4; sent: 30 x 0.05 + 30 x 0.04 + 40 x 0.01 = 1.5 + 1.2 + 0.4 = 3.1;
  // vm-b 2.2: 11.7 in all.
  CommandResult v3 = Meterctl(
      "apply " + WriteFile("v3.yaml", "price_books:\n" + version(3, a + 3 * h, "1.0", "0.01")));
  ASSERT_EQ(v3.exit_code, 0) << v3.out << v3.err;
  CommandResult after = Meterctl("--format json charges" + window);
  ASSERT_EQ(after.exit_code, 0) << after.err;
  auto [lines3, totals3] = LinesAndTotals(after.out);
  EXPECT_EQ(Find(lines3, "product", "Small running", "vm-a")["credits"], 6.4) << after.out;
  EXPECT_EQ(Find(lines3, "product", "Bytes sent")["credits"], 3.1) << after.out;
  EXPECT_EQ(totals3.back()["credits"], 11.7) << after.out;
}

// The catalog read back (ListCatalog): lists, one entity as the catalog document, a
// resource's effective-dated versions, the price book, and `catalog export`, whose document
// `apply` takes back without changing anything. A billing key may read it; unknown ids and
// sections are refused by name.
TEST_F(MeterdBillingTest, CatalogReadsBackAndItsExportReappliesUnchanged) {
  const std::string catalog = std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml";
  ASSERT_EQ(Meterctl("apply " + catalog).exit_code, 0);

  CommandResult plans = Meterctl("plans list");
  ASSERT_EQ(plans.exit_code, 0) << plans.err;
  EXPECT_NE(plans.out.find("copper"), std::string::npos) << plans.out;
  EXPECT_NE(plans.out.find("Copper - 1CPU @ 2.4GHz - 512MB RAM"), std::string::npos) << plans.out;
  EXPECT_NE(plans.out.find("512 MiB"), std::string::npos) << plans.out;
  CommandResult csv = Meterctl("plans list --format csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("id,name,group,vcpus,memory_bytes,disk_bytes\n", 0), 0u) << csv.out;
  EXPECT_NE(csv.out.find("\ncopper,Copper - 1CPU @ 2.4GHz - 512MB RAM,standard,1,536870912,"
                         "10737418240\n"),
            std::string::npos)
      << csv.out;

  CommandResult account = Meterctl("accounts show bu1user1 --format json");
  ASSERT_EQ(account.exit_code, 0) << account.err;
  const nlohmann::json acct = nlohmann::json::parse(account.out, nullptr, false);
  ASSERT_TRUE(acct.is_object()) << account.out;
  EXPECT_EQ(acct["schema"], "meterd/v1");
  ASSERT_EQ(acct["accounts"].size(), 1u) << account.out;
  EXPECT_EQ(acct["accounts"][0]["id"], "bu1user1");
  EXPECT_EQ(acct["accounts"][0]["domain"], "bu1.corporate.com");
  EXPECT_EQ(acct["accounts"][0]["currency"], "GBP");
  CommandResult account_table = Meterctl("accounts show bu1user1");
  ASSERT_EQ(account_table.exit_code, 0) << account_table.err;
  EXPECT_NE(account_table.out.find("bu1user1-batch"), std::string::npos) << account_table.out;
  EXPECT_NE(account_table.out.find("sub-bu1user1-ddos"), std::string::npos) << account_table.out;

  // The resize from Copper to Silver at 14:00 on the 10th: two versions.
  CommandResult vm = Meterctl("resources show vm-1001");
  ASSERT_EQ(vm.exit_code, 0) << vm.err;
  EXPECT_NE(vm.out.find("resource vm-1001 (web-1): 2 versions"), std::string::npos) << vm.out;
  const size_t v1 = vm.out.find("2017-02-01T00:00:00Z");
  const size_t v2 = vm.out.find("2017-02-10T14:00:00Z");
  ASSERT_NE(v1, std::string::npos) << vm.out;
  ASSERT_NE(v2, std::string::npos) << vm.out;
  EXPECT_LT(v1, v2) << vm.out;  // oldest first
  EXPECT_NE(vm.out.find("copper", v1), std::string::npos) << vm.out;
  EXPECT_NE(vm.out.find("silver", v2), std::string::npos) << vm.out;
  CommandResult vm_json = Meterctl("--format json resources show vm-1001");
  ASSERT_EQ(vm_json.exit_code, 0) << vm_json.err;
  EXPECT_EQ(nlohmann::json::parse(vm_json.out)["resources"][0]["versions"].size(), 2u);

  CommandResult book = Meterctl("pricebook list");
  ASSERT_EQ(book.exit_code, 0) << book.err;
  EXPECT_NE(book.out.find("      1  2017-02-01T00:00:00Z  half_even"), std::string::npos)
      << book.out;
  CommandResult book_json = Meterctl("pricebook list --format json");
  ASSERT_EQ(book_json.exit_code, 0) << book_json.err;
  const nlohmann::json versions = nlohmann::json::parse(book_json.out)["price_books"];
  ASSERT_EQ(versions.size(), 1u) << book_json.out;
  EXPECT_EQ(versions[0]["version"], 1);
  EXPECT_EQ(versions[0]["products"], 17);
  EXPECT_EQ(versions[0]["currencies"], "EUR GBP");
  CommandResult products = Meterctl("pricebook show 1");
  ASSERT_EQ(products.exit_code, 0) << products.err;
  EXPECT_NE(products.out.find("running.copper"), std::string::npos) << products.out;
  EXPECT_NE(products.out.find("cap 672 h a month"), std::string::npos) << products.out;

  // Everything, applied back: nothing changes.
  CommandResult exported = Meterctl("catalog export --format json");
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const nlohmann::json doc = nlohmann::json::parse(exported.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << exported.out;
  EXPECT_EQ(doc["resources"].size(), 6u);
  CommandResult reapplied =
      Meterctl("--format json apply " + WriteFile("export.json", exported.out));
  ASSERT_EQ(reapplied.exit_code, 0) << reapplied.out << reapplied.err;
  const nlohmann::json rep = nlohmann::json::parse(reapplied.out);
  EXPECT_FALSE(rep["applied"].get<bool>()) << reapplied.out;
  EXPECT_EQ(rep["created"], 0) << reapplied.out;
  EXPECT_EQ(rep["updated"], 0) << reapplied.out;
  EXPECT_EQ(rep["unchanged"], 26) << reapplied.out;
  EXPECT_TRUE(rep["changes"].empty()) << reapplied.out;

  // Unknown ids and sections, by name.
  CommandResult gold = Meterctl("plans show gold");
  EXPECT_EQ(gold.exit_code, 1);
  EXPECT_NE(gold.err.find("plan \"gold\" is not in the catalog"), std::string::npos) << gold.err;
  CommandResult missing_vm = Meterctl("resources show vm-9999");
  EXPECT_NE(missing_vm.exit_code, 0);
  EXPECT_NE(missing_vm.err.find("vm-9999"), std::string::npos) << missing_vm.err;
  CommandResult missing_version = Meterctl("pricebook show 9");
  EXPECT_NE(missing_version.exit_code, 0);
  EXPECT_NE(missing_version.err.find("price book version \"9\""), std::string::npos)
      << missing_version.err;
  CommandResult section = Meterctl("catalog export --section planz");
  EXPECT_EQ(section.exit_code, 1);
  EXPECT_NE(section.err.find("\"planz\" is not a section"), std::string::npos) << section.err;
  EXPECT_NE(section.err.find("price_books"), std::string::npos) << section.err;

  // A billing key reads the catalog; an agent key may not.
  auto key_of = [&](const std::string& args) {
    const nlohmann::json k =
        nlohmann::json::parse(Meterctl("--format json keys create " + args).out, nullptr, false);
    return k.is_object() ? k["key"].get<std::string>() : std::string();
  };
  const std::string server = "--server 127.0.0.1:" + std::to_string(server_.port()) + " --key ";
  CommandResult billing = RunMeterctl(server + key_of("--role billing") + " accounts list");
  ASSERT_EQ(billing.exit_code, 0) << billing.err;
  EXPECT_NE(billing.out.find("bu1user2"), std::string::npos) << billing.out;
  CommandResult agent =
      RunMeterctl(server + key_of("--role agent --hypervisor hv-1") + " plans list");
  EXPECT_EQ(agent.exit_code, 1);
  EXPECT_NE(agent.err.find("PermissionDenied"), std::string::npos) << agent.err;
}

}  // namespace
}  // namespace meterd::testing
