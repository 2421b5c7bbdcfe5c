// meterd — bench/meter_bench/server_process.cc
#include "bench/meter_bench/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace meterd::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

Status ServerProcess::Start(const std::string& meterd, const std::string& dir,
                            const std::vector<std::string>& extra, bool fresh) {
  std::error_code ec;
  if (fresh) fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  const std::string port_file = dir + "/port";
  fs::remove(port_file, ec);
  std::vector<std::string> args = {meterd,  "--data-dir",  dir,      "--listen",
                                   listen_, "--port-file", port_file};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string log = dir + ".log";
  log_ = log;
  stop_was_forced_ = false;
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  int rc = posix_spawn(&pid_, meterd.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    pid_ = -1;
    return Status::IOError("cannot start " + meterd + ": " + std::strerror(rc));
  }
  const auto deadline = Clock::now() + start_timeout_;
  while (Clock::now() < deadline) {
    std::ifstream in(port_file);
    unsigned port = 0;
    if (in >> port && port) {
      port_ = static_cast<uint16_t>(port);
      std::ifstream key(dir + "/admin.key");
      std::getline(key, admin_key_);
      return Status::OK();
    }
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::IOError("meterd exited during start; " + log + " ends with:\n" + LogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();  // a server that never listened must not outlive the caller's retry or the test
  return Status::IOError("meterd did not start listening within " +
                         std::to_string(start_timeout_.count()) + " s; " + log + " ends with:\n" +
                         LogTail());
}

std::string ServerProcess::LogTail(size_t lines) const {
  std::ifstream in(log_);
  std::vector<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(std::move(line));
    if (last.size() > lines) last.erase(last.begin());
  }
  std::string out;
  for (const std::string& l : last) out += "  | " + l + "\n";
  return out;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

double ServerProcess::Stop(std::chrono::seconds timeout) {
  if (pid_ <= 0) return 0;
  const auto t0 = Clock::now();
  kill(pid_, SIGTERM);
  int status;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() - t0 > timeout) {
      stop_was_forced_ = true;
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  pid_ = -1;
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = s.rfind(')');
  if (close == std::string::npos) return 0;
  // Fields after the command: state is field 3; utime and stime are fields 14 and 15.
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

uint64_t ProcessStatusKiB(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stoull(line.substr(std::strlen(key) + 1));
  }
  return 0;
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

uint64_t RaiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

}  // namespace meterd::bench
