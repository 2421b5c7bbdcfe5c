// meterd — net/http/http_server.h
//
// HttpServer: meterd's HTTP/1.1 port (Boost.Beast), beside the binary protocol's. It follows
// the binary server's model: one io_context per io thread, each accepted connection pinned to
// one of them, so a connection's state is touched by one thread only. It parses requests, with
// limits, and hands each to an HttpRoutes, which answers through an HttpReply from any thread;
// the io threads never run the work behind a route (HttpRoutes hands it to pools).
//
// Limits, per connection:
//   - a request's header must arrive within header_timeout of its first byte being awaited
//     (the first request of a connection) or within keep_alive_timeout (the next ones, idle time
//     included); its body within body_timeout. A connection that misses one is closed;
//   - a header above max_header_bytes is answered 431, a body above max_body_bytes 413, a
//     request Beast cannot parse 400; each then closes the connection;
//   - requests on one connection are served one at a time (the next is read once the answer is
//     written); keep-alive follows HTTP/1.1 (Connection: close ends it);
//   - at max_connections open, a new connection gets a 503 and is closed.
// With a certificate and key, every connection is TLS (1.2 or later; the handshake must finish
// within header_timeout). Stop() stops accepting, waits up to drain_timeout for requests in
// flight, then closes.
//
// Thread-safety: Start/Stop from one controlling thread; stats() and port() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/server/handler.h"
#include "storage/base/status.h"

namespace meterd::net {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;      // 0 = any free port (see HttpServer::port)
  size_t io_threads = 1;  // HTTP is the control plane's port: one thread parses plenty
  size_t max_connections = 1024;
  // Bodies are small JSON documents (a top-up); a catalog apply is the largest request a
  // control panel would send, and stays well under 1 MiB.
  size_t max_body_bytes = 1u << 20;
  size_t max_header_bytes = 16u << 10;  // nginx's default large_client_header_buffers
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds keep_alive_timeout{60000};
  std::chrono::milliseconds drain_timeout{10000};
  // HTTPS: PEM certificate chain and private key; both empty = plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  // HTTPS with client certificates: PEM CA(s); every client must present a certificate one of
  // them signed, or its handshake fails (mutual TLS). Empty: none asked.
  std::string tls_client_ca_file;
};

struct HttpServerStats {
  uint64_t connections = 0;  // open now
  uint64_t accepted_total = 0;
  uint64_t refused_connections = 0;  // over max_connections
  uint64_t requests = 0;
  uint64_t bad_requests = 0;  // unparsable, header or body over the limit, timed out
};

// Per-connection state a route keeps between the requests of one connection (the session an
// API key authenticated). Created by HttpRoutes::NewConnection, used by one request at a time.
class HttpConnectionState {
 public:
  virtual ~HttpConnectionState() = default;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  std::string authorization;
  std::string content_type;
  std::string content_encoding;  // "gzip", "snappy", ... (ingest bodies)
  std::string body;
  HttpConnectionState* connection = nullptr;  // valid until the reply is given
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";  // empty: no Content-Type (a 204)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// Answers one request; call exactly once, from any thread.
using HttpReply = std::function<void(HttpResponse)>;

class HttpRoutes {
 public:
  virtual ~HttpRoutes() = default;
  virtual std::unique_ptr<HttpConnectionState> NewConnection() { return nullptr; }
  // The connection closed (on its io thread, while the server runs; not called for the
  // connections a stopped server drops).
  virtual void ConnectionClosed(HttpConnectionState* state) {}
  // Serves `request`. Called on an io thread: must not block (hand work to a pool).
  virtual void Serve(HttpRequest request, HttpReply reply) = 0;
};

// The HTTP port's counters in the Prometheus text format (meterd_http_*), for /metrics.
std::string HttpServerMetrics(const HttpServerStats& stats);

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpRoutes* routes);
  ~HttpServer();  // Stop()s

  // Binds, listens and starts the io threads.
  Status Start();
  uint16_t port() const { return port_; }
  // Graceful stop (see above). Idempotent.
  void Stop();
  HttpServerStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace meterd::net
