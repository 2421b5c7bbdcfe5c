// meterd — bench/peers/vm_peer_bench.cc: meterd and VictoriaMetrics side by side, one run.
//
//   vm-peer-bench [--agents A] [--vms-per-agent V] [--seconds S] [--connections 4]
//
// Generates the samples `meter-bench ingest` sends meterd (the seeded fleet simulator: agent a
// simulates V VMs from vm-<a*V>, seed 42+a, the last S seconds), as VictoriaMetrics' JSON import
// lines in ~2 MiB bodies built before the clock starts. Starts VictoriaMetrics (Debian's
// `victoria-metrics`) on a fresh directory on a loopback port, POSTs the bodies to
// /api/v1/import over N keep-alive connections, forces a flush, waits until every sample is
// searchable, and measures samples/s, server CPU seconds per million samples, peak RSS and
// bytes per sample on disk. Then it runs `meter-bench ingest` with the same workload and prints
// both in one table with the ratios, and one JSON line.
//
// VictoriaMetrics acknowledges an import before the data reaches disk (it has no WAL); meterd
// acknowledges only after fdatasync. Everything runs on 127.0.0.1 and stops by itself.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

// clang-format off
#include <utility>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on
#include <CLI/CLI.hpp>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/meter_bench/server_process.h"
#include "sim/fleet_sim.h"
#include "storage/base/result.h"

extern char** environ;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using namespace meterd;
using Clock = std::chrono::steady_clock;

struct Options {
  size_t agents = 10;
  size_t vms_per_agent = 77;
  int64_t seconds = 3600;
  size_t connections = 4;
  size_t body_bytes = 2u << 20;
  int64_t window_seconds = 60;  // samples of one series per JSON line
  std::string vm_binary = "/usr/bin/victoria-metrics";
  std::string work_dir = "/tmp/vm-peer-bench";
  uint16_t port = 8439;
  bool skip_meterd = false;
};

struct PeerResult {
  uint64_t samples = 0;
  uint64_t bytes_sent = 0;
  double seconds = 0;
  double cpu_s = 0;
  uint64_t peak_rss = 0;
  uint64_t disk_bytes = 0;
  uint64_t searchable = 0;
};

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void AppendNumber(std::string* out, uint64_t bits, storage::ValueType type) {
  char buf[40];
  char* end;
  if (type == storage::ValueType::kFloat) {
    end = std::to_chars(buf, buf + sizeof(buf), storage::BitsToDouble(bits)).ptr;
  } else {
    end = std::to_chars(buf, buf + sizeof(buf), bits).ptr;
  }
  out->append(buf, end);
}

// The same samples as `meter-bench ingest` at max rate, as JSON import bodies.
std::vector<std::string> BuildBodies(const Options& o, int64_t start_ts, uint64_t* samples) {
  std::vector<std::string> bodies;
  std::string body;
  body.reserve(o.body_bytes + (64u << 10));
  struct Column {
    std::vector<int64_t> ts;
    std::vector<uint64_t> values;
    storage::ValueType type = storage::ValueType::kInt;
  };
  for (size_t a = 0; a < o.agents; ++a) {
    sim::FleetOptions fo;
    fo.seed = 42 + a;
    fo.vms = o.vms_per_agent;
    fo.first_vm = a * o.vms_per_agent;
    fo.start_ts = start_ts;
    sim::FleetSimulator fleet(fo);
    std::unordered_map<uint64_t, size_t> index;
    std::vector<std::string> prefix;  // `{"metric":{...},"values":[` per series
    for (size_t v = 0; v < o.vms_per_agent; ++v) {
      for (size_t m = 0; m < sim::kMetricsPerVm; ++m) {
        const std::string key = sim::SeriesKey(fo.first_vm + v, m);
        index[fleet.series_id(v, m)] = prefix.size();
        prefix.push_back("{\"metric\":{\"__name__\":\"" + std::string(sim::kVmMetrics[m].name) +
                         "\",\"resource\":\"" + key.substr(0, key.find('|')) + "\"},\"values\":[");
      }
    }
    std::vector<Column> cols(prefix.size());
    storage::SampleBatch step;
    for (int64_t s = 0; s < o.seconds; s += o.window_seconds) {
      for (auto& c : cols) {
        c.ts.clear();
        c.values.clear();
      }
      step.Clear();
      for (int64_t k = 0; k < o.window_seconds && s + k < o.seconds; ++k) fleet.Step(&step);
      for (size_t i = 0; i < step.size(); ++i) {
        Column& c = cols[index.at(step.series()[i])];
        c.ts.push_back(step.timestamps()[i]);
        c.values.push_back(step.values()[i]);
        c.type = step.types()[i];
      }
      *samples += step.size();
      for (size_t i = 0; i < cols.size(); ++i) {
        const Column& c = cols[i];
        if (c.ts.empty()) continue;
        body += prefix[i];
        for (size_t j = 0; j < c.values.size(); ++j) {
          if (j) body.push_back(',');
          AppendNumber(&body, c.values[j], c.type);
        }
        body += "],\"timestamps\":[";
        for (size_t j = 0; j < c.ts.size(); ++j) {
          if (j) body.push_back(',');
          body += std::to_string(c.ts[j] * 1000);
        }
        body += "]}\n";
        if (body.size() >= o.body_bytes) {
          bodies.push_back(std::move(body));
          body.clear();
          body.reserve(o.body_bytes + (64u << 10));
        }
      }
    }
  }
  if (!body.empty()) bodies.push_back(std::move(body));
  return bodies;
}

// One HTTP/1.1 keep-alive connection to 127.0.0.1.
class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : socket_(io_) {
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  // Returns the status code and puts the body in *out.
  int Request(http::verb verb, const std::string& target, std::string body,
              std::string* out = nullptr) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    if (verb == http::verb::post) req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(socket_, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket_, buffer, res);
    if (out) *out = res.body();
    return static_cast<int>(res.result_int());
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::socket socket_;
};

std::string Get(uint16_t port, const std::string& target) {
  try {
    HttpClient c(port);
    std::string out;
    c.Request(http::verb::get, target, "", &out);
    return out;
  } catch (const std::exception&) {
    return "";
  }
}

uint64_t CountSamples(uint16_t port, int64_t start_ts, int64_t seconds) {
  const int64_t at = start_ts + seconds + 1;
  const std::string q = "/api/v1/query?query=sum(count_over_time(%7B__name__!=%22%22%7D%5B" +
                        std::to_string(seconds + 5) + "s%5D))&time=" + std::to_string(at);
  auto j = nlohmann::json::parse(Get(port, q), nullptr, false);
  try {
    return static_cast<uint64_t>(std::stod(j["data"]["result"][0]["value"][1].get<std::string>()));
  } catch (...) {
    return 0;
  }
}

Status RunVictoriaMetrics(const Options& o, PeerResult* r) {
  if (!fs::exists(o.vm_binary)) {
    return Status::NotFound(o.vm_binary + " not found: apt-get install victoria-metrics");
  }
  const int64_t start_ts = UnixNow() - o.seconds;
  std::fprintf(stderr, "[vm] building %zu x %zu VMs x %lld s of samples as JSON bodies...\n",
               o.agents, o.vms_per_agent, static_cast<long long>(o.seconds));
  const auto bodies = BuildBodies(o, start_ts, &r->samples);
  for (const auto& b : bodies) r->bytes_sent += b.size();

  const std::string data = o.work_dir + "/vm-data";
  std::error_code ec;
  fs::remove_all(data, ec);
  fs::create_directories(data, ec);
  std::vector<std::string> args = {o.vm_binary,
                                   "-storageDataPath=" + data,
                                   "-httpListenAddr=127.0.0.1:" + std::to_string(o.port),
                                   "-retentionPeriod=100y",
                                   "-search.latencyOffset=0s",
                                   "-loggerLevel=ERROR"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string log = o.work_dir + "/vm.log";
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  if (int rc = posix_spawn(&pid, o.vm_binary.c_str(), &fa, nullptr, argv.data(), environ)) {
    return Status::IOError("cannot start VictoriaMetrics: " + std::string(strerror(rc)));
  }
  posix_spawn_file_actions_destroy(&fa);
  struct Stop {
    pid_t pid;
    ~Stop() {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  } stop{pid};
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Get(o.port, "/health") != "OK") {
    if (Clock::now() > deadline)
      return Status::IOError("VictoriaMetrics did not start; see " + log);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  std::fprintf(stderr, "[vm] importing %zu bodies (%.0f MiB) over %zu connections...\n",
               bodies.size(), static_cast<double>(r->bytes_sent) / 1048576.0, o.connections);
  const double cpu0 = bench::ProcessCpuSeconds(pid);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (size_t c = 0; c < o.connections; ++c) {
    threads.emplace_back([&] {
      try {
        HttpClient client(o.port);
        for (size_t i; (i = next.fetch_add(1)) < bodies.size();) {
          if (client.Request(http::verb::post, "/api/v1/import", bodies[i]) / 100 != 2) {
            failed = true;
          }
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "[vm] %s\n", e.what());
        failed = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  r->seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (failed) return Status::IOError("an import request failed; see " + log);
  // Searchable: force the in-memory parts out, then count until every sample is found.
  Get(o.port, "/internal/force_flush");
  const auto wait_until = Clock::now() + std::chrono::seconds(120);
  while ((r->searchable = CountSamples(o.port, start_ts, o.seconds)) < r->samples &&
         Clock::now() < wait_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  r->cpu_s = bench::ProcessCpuSeconds(pid) - cpu0;
  r->peak_rss = bench::ProcessStatusKiB(pid, "VmHWM:") * 1024;
  // Background merges shrink the parts for a while: wait until the size holds still (60 s max).
  uint64_t last = 0;
  for (int i = 0; i < 60; ++i) {
    Get(o.port, "/internal/force_flush");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    r->disk_bytes = bench::DirBytes(data);
    if (i >= 3 && r->disk_bytes == last) break;
    last = r->disk_bytes;
  }
  return Status::OK();
}

Result<nlohmann::json> RunMeterd(const Options& o) {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  const std::string bench = (self.parent_path() / "meter-bench").string();
  const std::string cmd = bench + " ingest --agents " + std::to_string(o.agents) +
                          " --vms-per-agent " + std::to_string(o.vms_per_agent) + " --seconds " +
                          std::to_string(o.seconds) + " --data-dir " + o.work_dir +
                          "/meterd-data 2>/dev/null";
  std::fprintf(stderr, "[meterd] %s\n", cmd.c_str());
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return Status::IOError("cannot run " + bench);
  std::string out, line;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ::pclose(p);
  const auto at = out.rfind("\n{");
  if (at == std::string::npos) return Status::IOError("meter-bench ingest printed no JSON");
  auto j = nlohmann::json::parse(out.substr(at + 1), nullptr, false);
  if (j.is_discarded()) return Status::Corruption("meter-bench ingest printed bad JSON");
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"vm-peer-bench: the same samples into VictoriaMetrics and meterd, side by side"};
  app.add_option("--agents", o.agents, "agents (meterd connections)")->capture_default_str();
  app.add_option("--vms-per-agent", o.vms_per_agent, "VMs per agent, 13 series each")
      ->capture_default_str();
  app.add_option("--seconds", o.seconds, "seconds of per-second samples")->capture_default_str();
  app.add_option("--connections", o.connections, "HTTP connections to VictoriaMetrics")
      ->capture_default_str();
  app.add_option("--line-seconds", o.window_seconds,
                 "seconds of one series per JSON line (1 = what a per-second push carries, "
                 "like meterd's batches; 60 = a minute per line)")
      ->capture_default_str();
  app.add_option("--vm-binary", o.vm_binary, "the VictoriaMetrics binary")->capture_default_str();
  app.add_option("--work-dir", o.work_dir, "scratch directory (recreated)")->capture_default_str();
  app.add_option("--port", o.port, "VictoriaMetrics' loopback port")->capture_default_str();
  app.add_flag("--skip-meterd", o.skip_meterd, "measure VictoriaMetrics only");
  CLI11_PARSE(app, argc, argv);
  std::error_code ec;
  fs::create_directories(o.work_dir, ec);

  PeerResult vm;
  if (Status st = RunVictoriaMetrics(o, &vm); !st.ok()) {
    std::fprintf(stderr, "vm-peer-bench: %s\n", st.ToString().c_str());
    return 1;
  }
  const double vm_rate = static_cast<double>(vm.samples) / vm.seconds;
  const double vm_cpu = vm.cpu_s / (static_cast<double>(vm.samples) / 1e6);
  const double vm_bps = static_cast<double>(vm.disk_bytes) / static_cast<double>(vm.samples);
  nlohmann::json out = {{"samples", vm.samples},
                        {"vm_samples_per_s", vm_rate},
                        {"vm_cpu_s_per_M", vm_cpu},
                        {"vm_peak_rss_bytes", vm.peak_rss},
                        {"vm_bytes_per_sample", vm_bps},
                        {"vm_searchable", vm.searchable},
                        {"vm_json_bytes_per_sample",
                         static_cast<double>(vm.bytes_sent) / static_cast<double>(vm.samples)}};
  std::printf(
      "\nside by side — %zu agents x %zu VMs x 13 metrics x %lld s = %llu samples; "
      "VictoriaMetrics JSON lines of %lld s, meterd batches of 1 s\n",
      o.agents, o.vms_per_agent, static_cast<long long>(o.seconds),
      static_cast<unsigned long long>(vm.samples), static_cast<long long>(o.window_seconds));
  out["vm_line_seconds"] = o.window_seconds;
  std::printf("%-34s %16s %16s %8s\n", "", "VictoriaMetrics", "meterd", "ratio");
  if (o.skip_meterd) {
    std::printf("%-34s %16.2f\n", "ingest, M samples/s", vm_rate / 1e6);
  } else {
    auto m = RunMeterd(o);
    if (!m.ok()) {
      std::fprintf(stderr, "vm-peer-bench: %s\n", m.status().ToString().c_str());
      return 1;
    }
    const auto& j = m.value();
    const double rate = j["samples_per_s"].get<double>();
    const double cpu = j["server_cpu_s_per_M"].get<double>();
    const double rss = j["server_peak_rss_bytes"].get<double>();
    const double bps = j["bytes_per_sample"].get<double>();
    std::printf("%-34s %16.2f %16.2f %7.1fx\n", "durable ingest, M samples/s", vm_rate / 1e6,
                rate / 1e6, rate / vm_rate);
    std::printf("%-34s %16.3f %16.3f %7.1fx\n", "server CPU s per M samples (less)", vm_cpu, cpu,
                vm_cpu / cpu);
    std::printf("%-34s %16.1f %16.1f %7.1fx\n", "server peak RSS, MiB (less)",
                static_cast<double>(vm.peak_rss) / 1048576.0, rss / 1048576.0,
                static_cast<double>(vm.peak_rss) / rss);
    std::printf("%-34s %16.3f %16.3f %7.1fx\n", "disk bytes per sample (less)", vm_bps, bps,
                vm_bps / bps);
    std::printf("%-34s %16s %16s\n", "acknowledged", "before fsync", "after fdatasync");
    std::printf("%-34s %16llu %16llu\n", "samples found afterwards",
                static_cast<unsigned long long>(vm.searchable),
                static_cast<unsigned long long>(j["accepted"].get<uint64_t>()));
    out["meterd"] = j;
    out["ratio_ingest"] = rate / vm_rate;
  }
  std::printf("%s\n", out.dump().c_str());
  return vm.searchable == vm.samples ? 0 : 2;
}
