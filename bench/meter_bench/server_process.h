// meterd — bench/meter_bench/server_process.h
//
// ServerProcess: a real meterd started by a workload on a fresh data directory, listening on a
// free loopback port, and the /proc readings the workloads report (CPU seconds, RSS).
//
// Thread-safety: not synchronised; pid()/port() may be read from any thread after Start.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "storage/base/status.h"

namespace meterd::bench {

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess();  // kill -9 if still running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts `meterd --data-dir dir --listen ADDRESS ...extra` (see set_listen) with its output
  // appended to dir + ".log", and waits (up to the start timeout, 30 s by default) until it
  // listens. `fresh` recreates `dir` first; otherwise the server recovers what is there (a
  // restart). A server that exits or does not listen in time is reaped (kill -9 if needed) and
  // the error carries the last lines of its log, so a failure on a CI machine says why.
  Status Start(const std::string& meterd, const std::string& dir,
               const std::vector<std::string>& extra, bool fresh = true);
  // kill -9: no drain, no flush (crash tests).
  void Kill();
  // The address to listen on (default 127.0.0.1:0, any free port); a fixed port lets a
  // restarted server be found by clients that reconnect.
  void set_listen(std::string address) { listen_ = std::move(address); }
  // How long Start waits for the server to listen (a large data directory opens slowly).
  void set_start_timeout(std::chrono::seconds timeout) { start_timeout_ = timeout; }
  // SIGTERM and wait: a graceful stop (drain, flush, sync); kill -9 if the server is still
  // running after `timeout` (then stop_was_forced() is true until the next Start). Returns the
  // seconds it took.
  double Stop(std::chrono::seconds timeout = std::chrono::seconds(120));
  bool stop_was_forced() const { return stop_was_forced_; }
  // The last `lines` lines of the server's log (dir + ".log"), for failure messages.
  std::string LogTail(size_t lines = 30) const;

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& admin_key() const { return admin_key_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string admin_key_;
  std::string listen_ = "127.0.0.1:0";
  std::string log_;
  bool stop_was_forced_ = false;
  std::chrono::seconds start_timeout_{30};
};

// utime + stime of a process, in seconds.
double ProcessCpuSeconds(pid_t pid);
// A field of /proc/PID/status in KiB ("VmRSS:", "VmHWM:").
uint64_t ProcessStatusKiB(pid_t pid, const char* key);
double SelfCpuSeconds();
uint64_t DirBytes(const std::string& dir);
// Raises this process's open-file limit to its hard limit; returns the new soft limit.
uint64_t RaiseFileLimit();

}  // namespace meterd::bench
