// meterd — bench/peers/influx_write_bench.cc: Influx line protocol over HTTP into meterd's
// /write (acknowledged after fdatasync) and, on the same bodies, into VictoriaMetrics' /write,
// side by side in one run (bench/peers/README.md, "Influx /write").
//
//   influx-write-bench [--vms 1000] [--seconds 60] [--lines-per-body 5000] [--connections 4]
//                      [--runs 3] [--vm-binary /usr/bin/victoria-metrics] [--work-dir DIR]
//
// The payload: every VM of a seeded fleet has one line per second, `vm,vm=vm-N vcpus=..i,
// memory=..i,state=..i,cpu_ns=..i,rx=..i T` (five samples: two gauges, a state, two counters),
// the last `seconds` seconds up to a minute ago, in bodies of `lines-per-body` lines built
// before the clock starts. The fleet is split among `connections` keep-alive connections, each
// sending its own VMs' lines in time order (as one collector per hypervisor would). Each run
// starts the server on a fresh directory; the rate is lines / (first POST to last answer).
// The figures are the medians of `runs` runs.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "net/asio.h"  // first: <utility> before Boost.Asio (g++ 12)

#include <algorithm>
#include <atomic>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/meter_bench/server_process.h"

extern char** environ;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  size_t vms = 1000;
  int64_t seconds = 60;
  size_t lines_per_body = 5000;
  size_t connections = 4;
  int runs = 3;
  std::string vm_binary = "/usr/bin/victoria-metrics";
  std::string work_dir = "/tmp/influx-write-bench";
  std::string meterd = METERD_BIN;
};

constexpr const char* kMapping = R"(version: 1
rules:
  - {name: vm_vcpus, format: influx, resource: "{vm}", metric: vm.vcpus}
  - {name: vm_memory, format: influx, resource: "{vm}", metric: vm.memory_bytes}
  - {name: vm_state, format: influx, resource: "{vm}", metric: vm.state}
  - {name: vm_cpu_ns, format: influx, resource: "{vm}", metric: vm.cpu_time_ns}
  - {name: vm_rx, format: influx, resource: "{vm}", metric: net.rx_bytes}
)";
constexpr size_t kFieldsPerLine = 5;

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Bodies per connection: connection c sends the lines of its own VMs (a contiguous share of the
// fleet, as one collector per hypervisor would), second by second in time order.
using Bodies = std::vector<std::vector<std::string>>;
Bodies BuildBodies(const Options& o, int64_t start, uint64_t* lines) {
  Bodies out(o.connections);
  uint64_t x = 42;
  auto next = [&x] {  // xorshift64
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::vector<uint64_t> cpu(o.vms), rx(o.vms);
  char line[256];
  for (size_t c = 0; c < o.connections; ++c) {
    const size_t first = o.vms * c / o.connections, last = o.vms * (c + 1) / o.connections;
    std::string body;
    size_t in_body = 0;
    for (int64_t s = 0; s < o.seconds; ++s) {
      for (size_t v = first; v < last; ++v) {
        cpu[v] += 1000000 + next() % 1000000000;
        rx[v] += next() % 100000;
        const int n = std::snprintf(
            line, sizeof line,
            "vm,vm=vm-%zu vcpus=%llui,memory=%llui,state=%llui,cpu_ns=%llui,rx=%llui %lld\n", v,
            static_cast<unsigned long long>(1 + v % 16),
            static_cast<unsigned long long>((1 + v % 32) << 30),
            static_cast<unsigned long long>(v % 50 == 0 ? 2 : 1),
            static_cast<unsigned long long>(cpu[v]), static_cast<unsigned long long>(rx[v]),
            static_cast<long long>(start + s));
        body.append(line, n);
        ++*lines;
        if (++in_body == o.lines_per_body) {
          out[c].push_back(std::move(body));
          body.clear();
          in_body = 0;
        }
      }
    }
    if (!body.empty()) out[c].push_back(std::move(body));
  }
  return out;
}

class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : socket_(io_) {
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  int Post(const std::string& target, const std::string& body, const std::string& auth) {
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    if (!auth.empty()) req.set(http::field::authorization, auth);
    req.body() = body;
    req.prepare_payload();
    http::write(socket_, req);
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res);
    if (res.result_int() / 100 != 2 && errors_++ < 3) {
      std::fprintf(stderr, "HTTP %u: %s\n", res.result_int(), res.body().substr(0, 300).c_str());
    }
    return static_cast<int>(res.result_int());
  }
  std::string Get(const std::string& target) {
    http::request<http::string_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(socket_, req);
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res);
    return res.body();
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::socket socket_;
  beast::flat_buffer buffer_;
  int errors_ = 0;
};

struct Run {
  double seconds = 0;
  double server_cpu_s = 0;
  std::vector<double> latencies_ms;
  bool failed = false;
};

Run PostAll(const Options& o, uint16_t port, const std::string& target, const std::string& auth,
            const Bodies& bodies, pid_t server) {
  Run r;
  std::mutex mu;
  const double cpu0 = meterd::bench::ProcessCpuSeconds(server);
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (size_t c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      try {
        HttpClient client(port);
        std::vector<double> lat;
        for (const std::string& body : bodies[c]) {
          const auto a = Clock::now();
          if (client.Post(target, body, auth) / 100 != 2) r.failed = true;
          lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
        }
        std::lock_guard lock(mu);
        r.latencies_ms.insert(r.latencies_ms.end(), lat.begin(), lat.end());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        r.failed = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.server_cpu_s = meterd::bench::ProcessCpuSeconds(server) - cpu0;
  std::sort(r.latencies_ms.begin(), r.latencies_ms.end());
  return r;
}

Run RunMeterd(const Options& o, const Bodies& bodies) {
  const std::string dir = o.work_dir + "/meterd-data";
  const std::string mapping = o.work_dir + "/mapping.yaml";
  std::ofstream(mapping) << kMapping;
  const std::string port_file = o.work_dir + "/http.port";
  fs::remove(port_file);
  meterd::bench::ServerProcess server;
  auto st = server.Start(
      o.meterd, dir,
      {"--http-listen", "127.0.0.1:0", "--http-port-file", port_file, "--ingest-mapping", mapping,
       "--http-max-body-kib", "16384", "--no-billing-clock", "--log-level", "warn"});
  if (!st.ok()) {
    std::fprintf(stderr, "meterd: %s\n", st.ToString().c_str());
    return Run{0, 0, {}, true};
  }
  unsigned port = 0;
  for (int i = 0; i < 100 && port == 0; ++i) {
    std::ifstream(port_file) >> port;
    if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Run r = PostAll(o, static_cast<uint16_t>(port), "/write?precision=s",
                  "Bearer " + server.admin_key(), bodies, server.pid());
  server.Stop();
  return r;
}

Run RunVictoria(const Options& o, const Bodies& bodies) {
  const std::string data = o.work_dir + "/vm-data";
  std::error_code ec;
  fs::remove_all(data, ec);
  fs::create_directories(data, ec);
  const uint16_t port = 8439;
  std::vector<std::string> args = {o.vm_binary, "-storageDataPath=" + data,
                                   "-httpListenAddr=127.0.0.1:" + std::to_string(port),
                                   "-retentionPeriod=100y", "-loggerLevel=ERROR"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string log = o.work_dir + "/vm.log";
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  if (posix_spawn(&pid, o.vm_binary.c_str(), &fa, nullptr, argv.data(), environ) != 0) {
    return Run{0, 0, {}, true};
  }
  posix_spawn_file_actions_destroy(&fa);
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  for (;;) {
    try {
      if (HttpClient(port).Get("/health") == "OK") break;
    } catch (const std::exception&) {
    }
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return Run{0, 0, {}, true};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Run r = PostAll(o, port, "/write", "", bodies, pid);
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  return r;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double Pct(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--vms") {
      o.vms = std::stoul(v);
    } else if (a == "--seconds") {
      o.seconds = std::stoll(v);
    } else if (a == "--lines-per-body") {
      o.lines_per_body = std::stoul(v);
    } else if (a == "--connections") {
      o.connections = std::stoul(v);
    } else if (a == "--runs") {
      o.runs = std::stoi(v);
    } else if (a == "--vm-binary") {
      o.vm_binary = v;
    } else if (a == "--work-dir") {
      o.work_dir = v;
    } else if (a == "--meterd") {
      o.meterd = v;
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  fs::create_directories(o.work_dir);
  uint64_t lines = 0;
  const Bodies bodies = BuildBodies(o, UnixNow() - 60 - o.seconds, &lines);
  uint64_t bytes = 0;
  size_t count = 0;
  for (const auto& per : bodies) {
    for (const auto& b : per) bytes += b.size();
    count += per.size();
  }
  std::fprintf(stderr, "%llu lines (%llu samples) in %zu bodies, %.1f MiB\n",
               static_cast<unsigned long long>(lines),
               static_cast<unsigned long long>(lines * kFieldsPerLine), count,
               static_cast<double>(bytes) / 1048576.0);
  const bool have_vm = fs::exists(o.vm_binary);
  std::vector<double> m_rate, m_cpu, m_p50, m_p99, v_rate, v_cpu, v_p50, v_p99;
  for (int run = 0; run < o.runs; ++run) {
    Run m = RunMeterd(o, bodies);
    if (m.failed) return 1;
    m_rate.push_back(static_cast<double>(lines) / m.seconds);
    m_cpu.push_back(m.server_cpu_s);
    m_p50.push_back(Pct(m.latencies_ms, 0.5));
    m_p99.push_back(Pct(m.latencies_ms, 0.99));
    std::fprintf(stderr, "run %d meterd: %.0f lines/s (%.2f s, server CPU %.2f s)\n", run + 1,
                 m_rate.back(), m.seconds, m.server_cpu_s);
    if (have_vm) {
      Run v = RunVictoria(o, bodies);
      if (v.failed) return 1;
      v_rate.push_back(static_cast<double>(lines) / v.seconds);
      v_cpu.push_back(v.server_cpu_s);
      v_p50.push_back(Pct(v.latencies_ms, 0.5));
      v_p99.push_back(Pct(v.latencies_ms, 0.99));
      std::fprintf(stderr, "run %d victoria-metrics: %.0f lines/s (%.2f s, server CPU %.2f s)\n",
                   run + 1, v_rate.back(), v.seconds, v.server_cpu_s);
    }
  }
  std::printf("%-18s %14s %14s %12s %12s %14s\n", "server", "lines/s", "samples/s", "POST p50 ms",
              "POST p99 ms", "server CPU s");
  std::printf("%-18s %14.0f %14.0f %12.1f %12.1f %14.2f\n", "meterd /write", Median(m_rate),
              Median(m_rate) * kFieldsPerLine, Median(m_p50), Median(m_p99), Median(m_cpu));
  if (have_vm) {
    std::printf("%-18s %14.0f %14.0f %12.1f %12.1f %14.2f\n", "victoria /write", Median(v_rate),
                Median(v_rate) * kFieldsPerLine, Median(v_p50), Median(v_p99), Median(v_cpu));
    std::printf("meterd / victoria-metrics: %.2fx lines/s\n", Median(m_rate) / Median(v_rate));
  } else {
    std::printf("(%s not found: apt-get install victoria-metrics for the side-by-side run)\n",
                o.vm_binary.c_str());
  }
  std::printf(
      "{\"lines\":%llu,\"bodies\":%zu,\"connections\":%zu,\"runs\":%d,"
      "\"meterd_lines_per_s\":%.0f,\"meterd_p99_ms\":%.1f,\"victoria_lines_per_s\":%.0f}\n",
      static_cast<unsigned long long>(lines), count, o.connections, o.runs, Median(m_rate),
      Median(m_p99), have_vm ? Median(v_rate) : 0.0);
  return 0;
}
