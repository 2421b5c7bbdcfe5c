// meterd — tests/integration/meterd_fixture.h
//
// Helpers for integration tests that start the real meterd binary on a loopback port: a
// fixture owning a server on a temporary data directory, clients with the bootstrap admin key
// or keys it creates, and a raw socket for sending hostile bytes.
//
// Thread-safety: one test at a time.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench/meter_bench/server_process.h"
#include "net/client/client.h"
#include "net/protocol/messages.h"
#include "tests/testing/temp_dir.h"

namespace meterd::testing {

inline int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What a meterctl run printed and returned.
struct CommandResult {
  int exit_code;
  std::string out;  // stdout only
  std::string err;
};

// A program a test starts (Prometheus, collectd), its stdout and stderr written to a log file;
// stopped with SIGTERM and reaped when this goes out of scope.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { Stop(); }
  // SIGTERM, then kill -9 if it has not exited within `grace`: a peer that hangs on its way out
  // (collectd waiting on a request) must not hold the test until CTest's timeout. Returns false
  // when it had to be killed.
  bool Stop(std::chrono::seconds grace = std::chrono::seconds(20)) {
    if (pid_ <= 0) return true;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    int status = 0;
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited = true;
        break;
      }
      ::usleep(20 * 1000);
    }
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    return exited;
  }
  // args[0] is the program's name. False when it could not be started.
  bool Start(const std::string& binary, std::vector<std::string> args, const std::string& log) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
    return rc == 0;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

class MeterdTest : public ::testing::Test {
 protected:
  // Runs `meterctl LINE`: stdout captured, stderr kept apart.
  CommandResult RunMeterctl(const std::string& line) {
    const std::string err_path = tmp_.path() + "/meterctl.err";
    const std::string cmd = std::string(METERCTL_BIN) + " " + line + " 2>" + err_path;
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
  // `meterctl ARGS` against this test's server with its admin key.
  CommandResult Meterctl(const std::string& args) {
    return RunMeterctl("--server 127.0.0.1:" + std::to_string(server_.port()) + " --key " +
                       server_.admin_key() + " " + args);
  }
  // Writes `text` to a file of the test's directory; returns its path.
  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = tmp_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string data_dir() const { return tmp_.path() + "/data"; }

  void StartServer(std::vector<std::string> extra = {}, bool fresh = true) {
    extra_ = extra;
    const Status st = server_.Start(METERD_BIN, data_dir(), extra, fresh);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  // A graceful stop (SIGTERM) that has to be forced with kill -9 is a failure: it means a
  // drain or a flush hung. The log's last lines say where it stood.
  void StopServer() {
    server_.Stop();
    EXPECT_FALSE(server_.stop_was_forced())
        << "meterd did not stop within 120 s of SIGTERM; " << data_dir() << ".log ends with:\n"
        << server_.LogTail();
  }
  void SetUp() override { StartServer(); }
  // Stops the server gracefully and fails the test when the server's log shows a sanitizer
  // report (sanitizer builds run this same test against a sanitized meterd).
  void TearDown() override {
    StopServer();
    std::ifstream in(data_dir() + ".log");
    std::string line;
    while (std::getline(in, line)) {
      EXPECT_EQ(line.find("Sanitizer"), std::string::npos) << line;
      EXPECT_EQ(line.find("runtime error"), std::string::npos) << line;
    }
  }

  net::ClientOptions Options(const std::string& key) const {
    net::ClientOptions o;
    o.port = server_.port();
    o.api_key = key;
    o.client_name = "integration-test";
    o.request_timeout = std::chrono::milliseconds(20000);
    return o;
  }
  std::unique_ptr<net::Client> Connect(const std::string& key) {
    auto c = std::make_unique<net::Client>(Options(key));
    Status st = c->Connect();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return c;
  }
  std::unique_ptr<net::Client> Admin() { return Connect(server_.admin_key()); }

  // `account`: the account a customer key is bound to.
  std::string CreateKey(wire::Role role, const std::string& hypervisor,
                        const std::string& account = "") {
    auto admin = Admin();
    flatbuffers::FlatBufferBuilder fbb(256);
    const uint64_t id = admin->NextRequestId();
    auto bytes = admin->Call(
        net::FinishFrame(
            fbb, wire::CreateCreateKey(fbb, id, role, fbb.CreateString(hypervisor),
                                       fbb.CreateString("test"), fbb.CreateString(account))),
        id);
    EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
    if (!bytes.ok()) return "";
    return std::string(
        net::View(wire::GetEnvelope(bytes.value().data())->message_as_KeyCreated()->key()));
  }

  struct Exported {
    std::string resource, metric;
    int64_t ts;
    uint64_t value;
  };
  std::vector<Exported> ExportAll(net::Client* c, int64_t from, int64_t to,
                                  const std::string& resource = "",
                                  const std::string& metric = "") {
    std::vector<Exported> out;
    Status st = c->Export(from, to, resource, metric, [&](const wire::ExportChunk& chunk) {
      if (!chunk.series()) return;
      for (const auto* s : *chunk.series()) {
        for (size_t i = 0; i < s->timestamps()->size(); ++i) {
          out.push_back({std::string(net::View(s->resource())), std::string(net::View(s->metric())),
                         s->timestamps()->Get(i), s->values()->Get(i)});
        }
      }
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  TempDir tmp_;
  bench::ServerProcess server_;
  std::vector<std::string> extra_;
};

// A plain TCP connection for bytes no well-behaved client would send.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawConnection() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool Send(const void* data, size_t n) {
    return ::send(fd_, data, n, MSG_NOSIGNAL) == static_cast<ssize_t>(n);
  }
  bool Send(const std::vector<uint8_t>& v) { return Send(v.data(), v.size()); }
  // Reads frames until the server closes the connection or `timeout_ms` passes. Returns the
  // envelopes' message types and, in *error, the first Error frame's code.
  bool ReadUntilClosed(int timeout_ms, std::vector<wire::Message>* types,
                       wire::ErrorCode* error = nullptr) {
    net::FrameDecoder decoder;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      uint8_t buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return true;  // closed
      decoder.Append(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
      const wire::Envelope* env;
      while (decoder.Next(&env)) {
        types->push_back(env->message_type());
        if (error && env->message_type() == wire::Message::Error && *error == wire::ErrorCode::Ok) {
          *error = env->message_as_Error()->code();
        }
      }
    }
    return false;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

}  // namespace meterd::testing
