// meterd — net/server/server.h
//
// Server: the TCP front of meterd. One io_context per thread (one per core by default); each
// accepted connection is a Session pinned to one io_context, so a session's state is touched
// by one thread only. Flow control, end to end:
//   - each session has at most max_in_flight unanswered requests; at the limit it stops
//     reading its socket, so TCP pushes back on that client;
//   - all sessions together hold about buffer_budget_bytes of request frames and read
//     buffers; above it every session with a request in flight pauses reading until answers
//     drain (a slow disk slows every client; memory does not grow). A frame already arriving
//     is finished, and a session with nothing in flight may read one more request, so the
//     budget is exceeded by at most one frame per connection;
//   - idle connections are closed after idle_timeout; the connection count is capped.
// With TLS the frames are the same, inside the TLS stream (docs/protocol.md, "TLS").
// Stop() drains: stop accepting, stop reading, wait for in-flight requests to be answered (up
// to drain_timeout), then close.
//
// Thread-safety: Start/Stop/Wait from one controlling thread; stats() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/server/handler.h"

namespace meterd::net {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7400;   // 0 = any free port (see Server::port)
  size_t io_threads = 0;  // 0 = one per core
  size_t max_connections = 20000;
  std::chrono::seconds idle_timeout{300};
  std::chrono::seconds hello_timeout{10};
  std::chrono::seconds drain_timeout{10};
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
  uint32_t max_in_flight = 256;
  size_t buffer_budget_bytes = 256u << 20;
  // TLS (net/server/tls_context.h): with a certificate and key every connection is TLS, its
  // handshake inside hello_timeout; with a client CA too, clients must present a certificate
  // that CA signed. Empty: plain TCP.
  std::string tls_cert_file, tls_key_file, tls_client_ca_file;
};

struct ServerStats {
  uint64_t connections = 0;  // open now
  uint64_t accepted_total = 0;
  uint64_t refused_connections = 0;
  uint64_t malformed_frames = 0;
  uint64_t frames = 0;
  uint64_t buffered_bytes = 0;
  uint64_t paused_reads = 0;  // times a session paused for flow control
};

class Server {
 public:
  Server(ServerOptions options, Handler* handler);
  ~Server();

  // Binds, listens and starts the io threads.
  Status Start();
  // The port actually bound (after Start).
  uint16_t port() const { return port_; }
  // Graceful stop (see above). Idempotent.
  void Stop();
  ServerStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;  // shared with Responders that outlive a request's session
  uint16_t port_ = 0;
};

}  // namespace meterd::net
