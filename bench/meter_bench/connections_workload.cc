// meterd — bench/meter_bench/connections_workload.cc
#include "bench/meter_bench/connections_workload.h"

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "bench/meter_bench/server_process.h"
#include "net/client/client.h"
#include "net/protocol/messages.h"

namespace meterd::bench {

Status RunConnectionsWorkload(const ConnectionsWorkloadOptions& o, ConnectionsWorkloadResult* r) {
  r->fd_limit = RaiseFileLimit();
  if (r->fd_limit < o.connections + 64) {
    return Status::InvalidArgument("the open-file limit (" + std::to_string(r->fd_limit) +
                                   ") is below the connections asked for; raise ulimit -n");
  }
  ServerProcess server;
  METERD_RETURN_IF_ERROR(server.Start(o.meterd_path, o.dir,
                                      {"--max-connections", std::to_string(o.connections + 16)}));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  r->rss_before = ProcessStatusKiB(server.pid(), "VmRSS:") * 1024;
  net::ClientOptions co;
  co.port = server.port();
  co.api_key = server.admin_key();
  co.client_name = "meter-bench-idle";
  co.reconnect_attempts = 0;
  std::vector<std::unique_ptr<net::Client>> clients;
  clients.reserve(o.connections);
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < o.connections; ++i) {
    auto c = std::make_unique<net::Client>(co);
    if (Status st = c->Connect(); !st.ok()) {
      return Status::IOError("connection " + std::to_string(i) + " failed: " + st.ToString());
    }
    clients.push_back(std::move(c));
  }
  r->opened = clients.size();
  r->connect_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::this_thread::sleep_for(std::chrono::seconds(o.hold_seconds));
  r->rss_open = ProcessStatusKiB(server.pid(), "VmRSS:") * 1024;
  for (auto& c : clients) {
    flatbuffers::FlatBufferBuilder fbb(64);
    const uint64_t id = c->NextRequestId();
    auto pong = c->Call(net::FinishFrame(fbb, wire::CreatePing(fbb, id)), id);
    if (pong.ok() &&
        wire::GetEnvelope(pong.value().data())->message_type() == wire::Message::Pong) {
      ++r->answered;
    }
  }
  r->peak_rss = ProcessStatusKiB(server.pid(), "VmHWM:") * 1024;
  clients.clear();
  server.Stop();
  return Status::OK();
}

}  // namespace meterd::bench
