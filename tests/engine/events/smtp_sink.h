// meterd — tests/engine/events/smtp_sink.h
//
// SmtpSink: a real SMTP server for the email tests — Debian's aiosmtpd (python3-aiosmtpd,
// installed by .ci/install-deps.sh) run as a child process on 127.0.0.1 with the recording
// handler tests/engine/events/smtp_sink.py. The port is chosen at construction, so a test can
// point meterd at a relay that is down and Start() it later on the same port. Messages()
// reads what it accepted; RejectAll / Reject make it answer RCPT TO with 451.
//
// Every wait is bounded: Start waits at most 15 s for the port to accept, Stop sends SIGTERM
// and, after 3 s, SIGKILL. Start fails with a clear message when python3-aiosmtpd is missing.
//
// Thread-safety: one owner. REQUIRES: METERD_SOURCE_DIR is defined (the handler's folder).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "storage/base/result.h"

namespace meterd::testing {

class SmtpSink {
 public:
  struct Message {
    std::string mail_from;
    std::vector<std::string> rcpt_tos;
    std::string data;                            // headers and body, CRLF
    std::map<std::string, std::string> headers;  // lower-case names; one value each
    std::string body;
  };

  // `dir`: where messages are written (created). The port is reserved now (a free one).
  explicit SmtpSink(std::string dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    port_ = FreePort();
  }
  ~SmtpSink() { Stop(); }
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }

  Status Start() {
    if (pid_ > 0) return Status::OK();
    if (std::system("/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1") != 0) {
      return Status::NotFound(
          "the email tests need Debian's python3-aiosmtpd (/usr/bin/python3 -c 'import "
          "aiosmtpd' failed): run .ci/install-deps.sh");
    }
    const std::string handler_dir = std::string(METERD_SOURCE_DIR) + "/tests/engine/events";
    const std::string listen = "127.0.0.1:" + std::to_string(port_);
    const std::string log = dir_ + ".log";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setenv("PYTHONPATH", handler_dir.c_str(), 1);
      std::FILE* out = std::freopen(log.c_str(), "a", stdout);
      if (out != nullptr) ::dup2(::fileno(stdout), 2);
      ::execl("/usr/bin/python3", "python3", "-m", "aiosmtpd", "-n", "-l", listen.c_str(), "-c",
              "smtp_sink.Sink", dir_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (pid_ < 0) return Status::IOError("fork failed");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return Status::IOError("aiosmtpd exited at start; see " + log);
      }
      if (Accepts()) return Status::OK();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Stop();
    return Status::IOError("aiosmtpd did not listen on " + listen + " within 15 s; see " + log);
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }

  // 451 for every RCPT TO while on.
  void RejectAll(bool on) { Flag(dir_ + "/reject-all", on); }
  // 451 for RCPT TO:<address> while on.
  void Reject(const std::string& address, bool on) { Flag(dir_ + "/reject-" + address, on); }

  // The accepted messages, oldest first.
  std::vector<Message> Messages() const {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with("msg-") && name.ends_with(".json")) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<Message> out;
    for (const std::string& f : files) {
      std::ifstream in(f);
      auto j = nlohmann::json::parse(in, nullptr, false);
      if (j.is_discarded()) continue;
      Message m;
      m.mail_from = j.value("mail_from", "");
      for (const auto& r : j["rcpt_tos"]) m.rcpt_tos.push_back(r.get<std::string>());
      m.data = j.value("data", "");
      const size_t split = m.data.find("\r\n\r\n");
      const std::string head = m.data.substr(0, split);
      m.body = split == std::string::npos ? "" : m.data.substr(split + 4);
      for (size_t pos = 0; pos < head.size();) {
        size_t end = head.find("\r\n", pos);
        if (end == std::string::npos) end = head.size();
        const std::string line = head.substr(pos, end - pos);
        const size_t colon = line.find(':');
        if (colon != std::string::npos) {
          std::string name = line.substr(0, colon);
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          size_t v = colon + 1;
          while (v < line.size() && line[v] == ' ') ++v;
          m.headers[name] = line.substr(v);
        }
        pos = end + 2;
      }
      out.push_back(std::move(m));
    }
    return out;
  }

  // Waits until at least `n` messages arrived (or `timeout`); returns the messages.
  std::vector<Message> WaitFor(size_t n, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::vector<Message> m = Messages();
      if (m.size() >= n || std::chrono::steady_clock::now() > deadline) return m;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }

 private:
  static uint16_t FreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
  }

  bool Accepts() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
  }

  static void Flag(const std::string& path, bool on) {
    if (on) {
      std::ofstream(path) << "1\n";
    } else {
      std::filesystem::remove(path);
    }
  }

  std::string dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace meterd::testing
