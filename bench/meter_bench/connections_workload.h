// meterd — bench/meter_bench/connections_workload.h
//
// `meter-bench connections`: how much a mostly idle fleet costs the server. Starts a real
// meterd, opens N authenticated connections (each completes the Hello handshake), holds them
// idle, then pings every one to prove it is still served. Reports the server's RSS with the
// connections open, per connection, and the time to open them all.
//
// Thread-safety: one workload at a time.
#pragma once

#include <cstdint>
#include <string>

#include "storage/base/status.h"

namespace meterd::bench {

struct ConnectionsWorkloadOptions {
  size_t connections = 10000;
  int64_t hold_seconds = 5;
  std::string meterd_path;
  std::string dir = "/tmp/meter-bench-connections";
};

struct ConnectionsWorkloadResult {
  size_t opened = 0;
  size_t answered = 0;  // pings answered after the hold
  double connect_seconds = 0;
  uint64_t rss_before = 0;  // server, no connections
  uint64_t rss_open = 0;    // server, all connections open and idle
  uint64_t peak_rss = 0;
  uint64_t fd_limit = 0;
};

Status RunConnectionsWorkload(const ConnectionsWorkloadOptions& options,
                              ConnectionsWorkloadResult* result);

}  // namespace meterd::bench
