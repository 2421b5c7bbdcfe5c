// meterd — tests/integration/meterd_usage_test.cc
//
// Usage end to end on the real meterd and meterctl: a CSV ingested with `meterctl ingest`,
// queried with `meterctl usage --format json`, compared with quantities computed by hand (the
// arithmetic is in the comments); late data after the grace period revising a sealed hour;
// `meterctl rollup rebuild`; and kill -9 during ingest, restart, resend: the same usage.
#include <sys/wait.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

constexpr int64_t kHour = 3600;
constexpr uint64_t kGiB = uint64_t{1} << 30;

int64_t HourStart(int64_t t) { return t - t % kHour; }

class MeterdUsageTest : public MeterdTest {
 protected:
  // Open hours stay open for a day unless a test asks otherwise, so "provisional" is stable.
  void SetUp() override { StartServer({"--grace", "86400"}); }

  nlohmann::json UsageJson(const std::string& args) {
    CommandResult r = Meterctl("--format json usage " + args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    try {
      return nlohmann::json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << r.out << r.err;
      return nlohmann::json::array();
    }
  }
  static const nlohmann::json* Find(const nlohmann::json& lines, const std::string& resource,
                                    const std::string& metric, int64_t start) {
    const std::string period = cli_rfc3339(start);
    for (const auto& l : lines) {
      if (l["resource"] == resource && l["metric"] == metric && l["period_start"] == period) {
        return &l;
      }
    }
    return nullptr;
  }
  static std::string cli_rfc3339(int64_t t) {
    char buf[32];
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
  }
};

TEST_F(MeterdUsageTest, CsvIngestThenUsageMatchesHandComputedBuckets) {
  // B is two hours ago: both B and B + 1h are whole hours in the past, and open (grace 1 day).
  const int64_t b = HourStart(UnixNow()) - 2 * kHour;
  std::string csv = "resource,metric,timestamp,value\n";
  auto row = [&](const std::string& metric, int64_t t, const std::string& v) {
    csv += "vm-a," + metric + "," + std::to_string(t) + "," + v + "\n";
  };
  // State: running every second from B:59:30 to B+1:00:30 (61 samples). Each holds 1 s until
  // the next: 30 s in hour B (59:30..59:59), 30 s in hour B+1 (00:00..00:29); the newest,
  // 00:30, has no successor yet and is credited only once its hour is sealed.
  for (int64_t t = b + 3570; t <= b + 3630; ++t) row("vm.state", t, "running");
  // Counter: 1000 at B:59:59 (the baseline), 1500 at B+1:00:01: the delta 500 belongs to the
  // hour of the later sample, B+1; hour B has one sample and no increase.
  row("vm.cpu_time_ns", b + 3599, "1000");
  row("vm.cpu_time_ns", b + 3601, "1500");
  // Gauge: 4 GiB at B:00:00, then silence until B:16:40 (1000 s > staleness 60): the first
  // sample holds 60 s only. 8 GiB at B:16:40 holds 60 s until the next sample at B:17:40.
  // Integral of hour B = 4 GiB x 60 s + 8 GiB x 60 s = 720 GiB·s = 0.2 GiB·h.
  row("vm.memory_bytes", b, std::to_string(4 * kGiB));
  row("vm.memory_bytes", b + 1000, std::to_string(8 * kGiB));
  row("vm.memory_bytes", b + 1060, std::to_string(8 * kGiB));
  CommandResult in = Meterctl("ingest " + WriteFile("usage.csv", csv));
  ASSERT_EQ(in.exit_code, 0) << in.out << in.err;

  const std::string range =
      "--from " + std::to_string(b) + " --to " + std::to_string(b + 2 * kHour);
  nlohmann::json lines = UsageJson(range + " --resource vm-a");
  const nlohmann::json* s0 = Find(lines, "vm-a", "vm.state", b);
  const nlohmann::json* s1 = Find(lines, "vm-a", "vm.state", b + kHour);
  ASSERT_TRUE(s0 && s1) << lines.dump(1);
  EXPECT_EQ((*s0)["state_seconds"]["running"], 30);
  EXPECT_EQ((*s1)["state_seconds"]["running"], 30);
  EXPECT_EQ((*s0)["samples"], 30);
  EXPECT_EQ((*s1)["samples"], 31);
  EXPECT_EQ((*s0)["status"], "provisional");

  const nlohmann::json* c0 = Find(lines, "vm-a", "vm.cpu_time_ns", b);
  const nlohmann::json* c1 = Find(lines, "vm-a", "vm.cpu_time_ns", b + kHour);
  ASSERT_TRUE(c0 && c1) << lines.dump(1);
  EXPECT_EQ((*c0)["quantity"], "0");
  EXPECT_EQ((*c1)["quantity"], "500");
  EXPECT_EQ((*c1)["unit"], "ns");

  const nlohmann::json* m0 = Find(lines, "vm-a", "vm.memory_bytes", b);
  ASSERT_TRUE(m0) << lines.dump(1);
  EXPECT_EQ((*m0)["quantity"], "0.200000");
  EXPECT_EQ((*m0)["unit"], "GiB·h");
  EXPECT_EQ((*m0)["integral_value_seconds"], std::to_string(720 * kGiB));
  EXPECT_EQ((*m0)["samples"], 3);
  EXPECT_EQ((*m0)["held_seconds"], 120);

  // The day's line adds the two hours: 60 s running, 500 ns.
  nlohmann::json days = UsageJson(range + " --resource vm-a --granularity day");
  uint64_t running = 0, cpu = 0;
  for (const auto& l : days) {
    if (l["metric"] == "vm.state") running += l["state_seconds"]["running"].get<uint64_t>();
    if (l["metric"] == "vm.cpu_time_ns") cpu += std::stoull(l["quantity"].get<std::string>());
  }
  EXPECT_EQ(running, 60u);
  EXPECT_EQ(cpu, 500u);

  // A table for people, with the same numbers.
  CommandResult table = Meterctl("usage " + range + " --metric vm.state");
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("running"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("provisional"), std::string::npos) << table.out;

  // Rebuilding from raw changes nothing.
  CommandResult rebuild = Meterctl("--format json rollup rebuild " + range);
  EXPECT_EQ(rebuild.exit_code, 0) << rebuild.out << rebuild.err;
  auto rep = nlohmann::json::parse(rebuild.out);  // one object: the counts and the changes
  ASSERT_TRUE(rep.is_object()) << rebuild.out;
  EXPECT_EQ(rep["open_replaced"], 0) << rebuild.out;
  EXPECT_EQ(rep["revisions"], 0) << rebuild.out;
  EXPECT_GT(rep["unchanged"].get<uint64_t>(), 0u) << rebuild.out;
  EXPECT_TRUE(rep["first_changes"].empty()) << rebuild.out;
}

TEST_F(MeterdUsageTest, LateSamplesReviseASealedHourOnceEach) {
  // Grace 0: an hour closes as soon as it ends, so two hours ago is sealed.
  server_.Stop();
  StartServer({"--grace", "0"});
  const int64_t b = HourStart(UnixNow()) - 2 * kHour;
  // Wait until the rollup clock has sealed hour B (it seals once a second).
  for (int i = 0; i < 100; ++i) {
    CommandResult st = Meterctl("--format json stats");
    if (st.exit_code == 0 &&
        nlohmann::json::parse(st.out)["rollup_sealed_before"].get<int64_t>() > b) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto ingest = [&](const std::string& name, int64_t from, int64_t to) {
    std::string csv = "resource,metric,timestamp,value\n";
    for (int64_t t = from; t < to; ++t) {
      csv += "vm-late,vm.vcpus," + std::to_string(t) + ",2\n";
    }
    CommandResult r = Meterctl("ingest " + WriteFile(name, csv));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  };
  const std::string range =
      "--from " + std::to_string(b) + " --to " + std::to_string(b + kHour) + " --resource vm-late";
  auto wait_for_revision = [&](uint64_t revision) {
    nlohmann::json lines;
    for (int i = 0; i < 100; ++i) {
      lines = UsageJson(range);
      if (!lines.empty() && lines[0]["max_revision"].get<uint64_t>() >= revision) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return lines;
  };
  // 600 samples of 2 vCPUs from B:10:00, one a second: each holds 1 s until the next, the
  // last one 60 s (staleness; it is the newest and its hour is sealed): 599 + 60 = 659 s,
  // integral 2 x 659 = 1318 vcpu·s.
  ingest("late1.csv", b + 600, b + 1200);
  nlohmann::json lines = wait_for_revision(1);
  ASSERT_EQ(lines.size(), 1u) << lines.dump(1);
  EXPECT_EQ(lines[0]["max_revision"], 1);
  EXPECT_EQ(lines[0]["status"], "revised r1");
  EXPECT_EQ(lines[0]["integral_value_seconds"], "1318");
  EXPECT_EQ(lines[0]["samples"], 600);

  // The same samples again: a duplicate changes nothing and writes no revision.
  ingest("late1-again.csv", b + 600, b + 1200);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  lines = UsageJson(range);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["max_revision"], 1) << lines.dump(1);
  EXPECT_EQ(lines[0]["integral_value_seconds"], "1318");

  // More late samples, contiguous with the first: revision 2 replaces revision 1 (it does not
  // add to it): 1200 samples, 1199 + 60 = 1259 s held, integral 2518.
  ingest("late2.csv", b + 1200, b + 1800);
  lines = wait_for_revision(2);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["max_revision"], 2);
  EXPECT_EQ(lines[0]["integral_value_seconds"], "2518");
  EXPECT_EQ(lines[0]["samples"], 1200);

  // A restart keeps the revisions.
  server_.Stop();
  StartServer({"--grace", "0"}, /*fresh=*/false);
  lines = UsageJson(range);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["max_revision"], 2);
  EXPECT_EQ(lines[0]["integral_value_seconds"], "2518");
}

TEST_F(MeterdUsageTest, BackfillImportsSealedHoursOnceAndReportsBadLines) {
  server_.Stop();
  StartServer({"--grace", "0"});
  const int64_t b = HourStart(UnixNow()) - 3 * kHour;
  for (int i = 0; i < 100; ++i) {
    CommandResult st = Meterctl("--format json stats");
    if (st.exit_code == 0 &&
        nlohmann::json::parse(st.out)["rollup_sealed_before"].get<int64_t>() > b + kHour) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::string h0 = std::to_string(b), h1 = std::to_string(b + kHour);
  const std::string csv =
      "resource,metric,hour,value\n"
      "vm-bf,vm.state:running," +
      h0 +
      ",3600\n"  // line 2
      "vm-bf,vm.state:running," +
      h1 +
      ",1800\n"  // line 3
      "vm-bf,vm.state:stopped," +
      h1 +
      ",1800\n"  // line 4
      "vm-bf,disk.size_bytes," +
      h0 + "," + std::to_string(20 * kGiB) +
      "\n"
      "vm-bf,net.tx_bytes," +
      h0 +
      ",123456789\n"  // line 6
      "vm-bf,net.tx_bytes," +
      h0 +
      "1,5\n"  // line 7: not an hour
      "vm-bf,no.such_metric," +
      h0 +
      ",5\n"  // line 8
      "vm-bf,net.rx_bytes," +
      std::to_string(HourStart(UnixNow()) + kHour) +
      ",5\n"  // line 9: open
      "vm-bf,vm.state:running," +
      h0 + ",5\n";  // line 10: twice
  const std::string path = WriteFile("backfill.csv", csv);
  CommandResult first = Meterctl("--format json backfill " + path);
  EXPECT_EQ(first.exit_code, 3) << first.out << first.err;  // some lines were refused
  auto rep = nlohmann::json::parse(first.out);
  EXPECT_EQ(rep[0]["imported buckets"], 4) << first.out;  // state h0, state h1, disk, tx
  EXPECT_EQ(rep[0]["refused"], 4) << first.out << first.err;
  EXPECT_NE(first.err.find("line 7:"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("line 8:"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("line 9:"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("line 10:"), std::string::npos) << first.err;

  nlohmann::json lines =
      UsageJson("--from " + h0 + " --to " + std::to_string(b + 2 * kHour) + " --resource vm-bf");
  const auto* s0 = Find(lines, "vm-bf", "vm.state", b);
  const auto* s1 = Find(lines, "vm-bf", "vm.state", b + kHour);
  const auto* d0 = Find(lines, "vm-bf", "disk.size_bytes", b);
  const auto* t0 = Find(lines, "vm-bf", "net.tx_bytes", b);
  ASSERT_TRUE(s0 && s1 && d0 && t0) << lines.dump(1);
  EXPECT_EQ((*s0)["state_seconds"]["running"], 3600);
  EXPECT_EQ((*s1)["state_seconds"]["running"], 1800);
  EXPECT_EQ((*s1)["state_seconds"]["stopped"], 1800);
  // 20 GiB held for the hour: 20 GiB·h exactly.
  EXPECT_EQ((*d0)["quantity"], "20.000000");
  EXPECT_EQ((*t0)["quantity"], "123456789");
  EXPECT_EQ((*t0)["imported_hours"], 1);
  EXPECT_NE((*t0)["status"].get<std::string>().find("imported"), std::string::npos);

  // Importing the same file again changes nothing.
  CommandResult again = Meterctl("--format json backfill " + path);
  auto rep2 = nlohmann::json::parse(again.out);
  EXPECT_EQ(rep2[0]["imported buckets"], 0) << again.out;
  EXPECT_EQ(rep2[0]["unchanged"], 4) << again.out;
  EXPECT_EQ(
      UsageJson("--from " + h0 + " --to " + std::to_string(b + 2 * kHour) + " --resource vm-bf"),
      lines);
}

// Issue 18: every import has an id. A dry run defines nothing and writes nothing; an import
// killed (kill -9 of meterctl) after some acknowledged batches is resumed from its checkpoint
// under the same id, and its report and the usage come out exact (every row imported once, none
// counted as unchanged by the resume); the file is gzip-compressed and named .csv, recognised by
// its first bytes; a rollback then gives the hours back their content from before the import.
TEST_F(MeterdUsageTest, BackfillDryRunKilledResumedAndRolledBack) {
  server_.Stop();
  StartServer({"--grace", "0"});
  const int64_t now_hour = HourStart(UnixNow());
  for (int i = 0; i < 100; ++i) {
    CommandResult st = Meterctl("--format json stats");
    if (st.exit_code == 0 &&
        nlohmann::json::parse(st.out)["rollup_sealed_before"].get<int64_t>() >= now_hour) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // 200 VMs x 500 hours of net.tx_bytes, before the first sealed hour: 100,000 rows, two of
  // meterctl's batches (65,536 rows each): the kill lands in the second.
  constexpr int kBfVms = 200, kBfHours = 500;
  const int64_t first = now_hour - 700 * kHour;
  std::string csv = "resource,metric,hour,value\n";
  uint64_t total = 0;
  for (int vm = 0; vm < kBfVms; ++vm) {
    for (int h = 0; h < kBfHours; ++h) {
      const uint64_t v = 1 + static_cast<uint64_t>((vm * 31 + h) % 97);
      total += v;
      csv += "vm-" + std::to_string(vm) + ",net.tx_bytes," + std::to_string(first + h * kHour) +
             "," + std::to_string(v) + "\n";
    }
  }
  const std::string plain = WriteFile("fleet.plain", csv);
  const std::string path = tmp_.path() + "/fleet.csv";
  ASSERT_EQ(std::system(("gzip -c " + plain + " > " + path).c_str()), 0);
  const int64_t rows = int64_t{kBfVms} * kBfHours;

  CommandResult dry = Meterctl("--format json backfill --dry-run " + path);
  ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  auto d = nlohmann::json::parse(dry.out)[0];
  EXPECT_EQ(d["import"], "dry run") << dry.out;
  EXPECT_EQ(d["rows of new series"], rows) << dry.out;  // no series is defined yet
  EXPECT_EQ(d["series"], kBfVms) << dry.out;
  EXPECT_EQ(d["hours"], kBfHours) << dry.out;
  const std::string range =
      "--from " + std::to_string(first) + " --to " + std::to_string(first + kBfHours * kHour);
  EXPECT_TRUE(UsageJson(range + " --metric net.tx_bytes").empty());
  EXPECT_FALSE(std::filesystem::exists(path + ".backfill-checkpoint"));

  // Killed once its first batches are acknowledged (the checkpoint appears).
  ChildProcess import;
  ASSERT_TRUE(import.Start(METERCTL_BIN,
                           {"meterctl", "--server", "127.0.0.1:" + std::to_string(server_.port()),
                            "--key", server_.admin_key(), "backfill", path},
                           tmp_.path() + "/killed.log"));
  const std::string checkpoint = path + ".backfill-checkpoint";
  bool killed = false;
  for (int i = 0; i < 20000 && !killed; ++i) {
    if (std::filesystem::exists(checkpoint)) {
      ::kill(import.pid(), SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  int status = 0;
  ::waitpid(import.pid(), &status, 0);
  ASSERT_TRUE(killed) << "no checkpoint appeared";
  ASSERT_TRUE(WIFSIGNALED(status)) << "the import finished before it was killed";
  ASSERT_TRUE(std::filesystem::exists(checkpoint));

  CommandResult resumed = Meterctl("--format json backfill --resume " + path);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  auto r = nlohmann::json::parse(resumed.out)[0];
  EXPECT_EQ(r["rows"], rows) << resumed.out;
  EXPECT_EQ(r["imported buckets"], rows) << resumed.out << resumed.err;
  EXPECT_EQ(r["unchanged"], 0) << resumed.out;
  EXPECT_NE(resumed.err.find("resumed after line"), std::string::npos) << resumed.err;
  EXPECT_FALSE(std::filesystem::exists(checkpoint));
  const uint64_t import_id = std::stoull(r["import"].get<std::string>());

  auto sum_usage = [&](uint64_t* imported_hours) {
    uint64_t sum = 0;
    *imported_hours = 0;
    for (const auto& l : UsageJson(range + " --metric net.tx_bytes --granularity month")) {
      sum += std::stoull(l["quantity"].get<std::string>());
      *imported_hours += l["imported_hours"].get<uint64_t>();
    }
    return sum;
  };
  uint64_t hours = 0;
  EXPECT_EQ(sum_usage(&hours), total);
  EXPECT_EQ(hours, static_cast<uint64_t>(rows));

  // The rollback: a dry run first, then the real one; the hours are empty again.
  CommandResult dry_back =
      Meterctl("--format json backfill --dry-run --rollback " + std::to_string(import_id));
  ASSERT_EQ(dry_back.exit_code, 0) << dry_back.out << dry_back.err;
  EXPECT_EQ(nlohmann::json::parse(dry_back.out)[0]["restored buckets"], rows) << dry_back.out;
  EXPECT_EQ(sum_usage(&hours), total);
  CommandResult back = Meterctl("--format json backfill --rollback " + std::to_string(import_id));
  ASSERT_EQ(back.exit_code, 0) << back.out << back.err;
  auto b = nlohmann::json::parse(back.out)[0];
  EXPECT_EQ(b["restored buckets"], rows) << back.out;
  EXPECT_EQ(b["superseded"], 0) << back.out;
  EXPECT_EQ(sum_usage(&hours), 0u);
  EXPECT_EQ(hours, 0u);
  // Twice is once.
  CommandResult again = Meterctl("--format json backfill --rollback " + std::to_string(import_id));
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(nlohmann::json::parse(again.out)[0]["state"].get<std::string>().find("before"),
            std::string::npos)
      << again.out;
  EXPECT_NE(Meterctl("backfill --rollback 99999").exit_code, 0);
}

// A fleet streamed second by second over 1.5 hours: every VM running, 2 GiB of memory, and a
// network counter growing by 100 a second. Per VM, by hand:
//   hour B:   running 3600 s (B:00:00..B:59:59 each hold 1 s; B:59:59 holds into the next hour
//             only from B+1:00:00, which is hour B+1's), memory 2 GiB x 3600 s, rx 3599 x 100
//   hour B+1: samples B+1:00:00..B+1:29:59 (1800); the newest is not yet credited: 1799 s
//             running, memory 2 GiB x 1799 s, rx 1800 x 100 (the delta from B:59:59 included).
constexpr int kVms = 20;
constexpr int64_t kSpan = 5400;
constexpr int64_t kBatchSeconds = 30;

// Returns the number of batches acknowledged.
size_t StreamFleet(net::Client* client, int64_t base, int64_t from_second, int64_t to_second,
                   uint64_t first_sequence, const std::vector<uint64_t>& ids,
                   std::chrono::milliseconds pace = std::chrono::milliseconds(0)) {
  size_t acked = 0;
  client->set_ack_callback([&acked](const net::IngestAckInfo&) { ++acked; });
  for (int64_t s = from_second; s < to_second; s += kBatchSeconds) {
    net::IngestBatchData batch;
    batch.agent = "fleet";
    batch.sequence = first_sequence + static_cast<uint64_t>(s / kBatchSeconds);
    batch.base_time = base + s;
    for (int64_t k = 0; k < kBatchSeconds && s + k < kSpan; ++k) {
      for (int vm = 0; vm < kVms; ++vm) {
        const uint64_t values[3] = {1, 2 * kGiB, static_cast<uint64_t>(s + k) * 100};
        for (int m = 0; m < 3; ++m) {
          batch.series.push_back(ids[static_cast<size_t>(vm * 3 + m)]);
          batch.offsets.push_back(static_cast<uint32_t>(k));
          batch.values.push_back(values[m]);
        }
      }
    }
    if (!client->SendBatch(batch.sequence, net::BuildIngestFrame(batch)).ok()) return acked;
    std::this_thread::sleep_for(pace);
  }
  (void)client->Drain(std::chrono::milliseconds(20000));
  return acked;
}

TEST_F(MeterdUsageTest, KillDuringIngestThenRestartGivesTheSameUsage) {
  const int64_t b = HourStart(UnixNow()) - 2 * kHour;
  std::vector<net::SeriesKey> keys;
  std::vector<uint64_t> ids;
  for (int vm = 0; vm < kVms; ++vm) {
    for (const char* metric : {"vm.state", "vm.memory_bytes", "net.rx_bytes"}) {
      keys.push_back({"vm-k" + std::to_string(vm), metric});
      ids.push_back(net::SeriesIdOf(keys.back().resource, keys.back().metric));
    }
  }
  ASSERT_TRUE(Admin()->DefineSeries(keys).ok());
  {
    // Stream the first two thirds, killing the server part way.
    net::ClientOptions o = Options(server_.admin_key());
    o.reconnect_attempts = 0;
    net::Client client(o);
    ASSERT_TRUE(client.Connect().ok());
    std::thread killer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      server_.Kill();
    });
    // Paced at 5 ms a batch (120 batches, 0.6 s), so the kill lands mid-stream.
    const size_t acked = StreamFleet(&client, b, 0, 3600, 1, ids, std::chrono::milliseconds(5));
    killer.join();
    EXPECT_GT(acked, 0u);
    EXPECT_LT(acked, 120u) << "the kill came after the stream ended";
  }
  StartServer(extra_, /*fresh=*/false);
  {
    // The agent resends everything it may not have had acknowledged (here: all of it).
    auto client = Admin();
    StreamFleet(client.get(), b, 0, kSpan, 1, ids);
  }
  const std::string range =
      "--from " + std::to_string(b) + " --to " + std::to_string(b + 2 * kHour);
  nlohmann::json lines = UsageJson(range);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kVms * 3 * 2)) << lines.dump(1).substr(0, 2000);
  for (int vm = 0; vm < kVms; ++vm) {
    const std::string r = "vm-k" + std::to_string(vm);
    SCOPED_TRACE(r);
    const auto* s0 = Find(lines, r, "vm.state", b);
    const auto* s1 = Find(lines, r, "vm.state", b + kHour);
    const auto* m0 = Find(lines, r, "vm.memory_bytes", b);
    const auto* m1 = Find(lines, r, "vm.memory_bytes", b + kHour);
    const auto* n0 = Find(lines, r, "net.rx_bytes", b);
    const auto* n1 = Find(lines, r, "net.rx_bytes", b + kHour);
    ASSERT_TRUE(s0 && s1 && m0 && m1 && n0 && n1);
    EXPECT_EQ((*s0)["state_seconds"]["running"], 3600);
    EXPECT_EQ((*s1)["state_seconds"]["running"], 1799);
    EXPECT_EQ((*m0)["integral_value_seconds"], std::to_string(2 * kGiB * 3600));
    EXPECT_EQ((*m1)["integral_value_seconds"], std::to_string(2 * kGiB * 1799));
    EXPECT_EQ((*n0)["quantity"], "359900");
    EXPECT_EQ((*n1)["quantity"], "180000");
    EXPECT_EQ((*s0)["samples"], 3600);
    EXPECT_EQ((*s1)["samples"], 1800);
  }
  // And once more after a clean restart: open hours are rebuilt from raw, identically.
  server_.Stop();
  StartServer(extra_, /*fresh=*/false);
  EXPECT_EQ(UsageJson(range), lines);
}

}  // namespace
}  // namespace meterd::testing
