// meterd — net/http/http_api.h
//
// HttpApi: the routes of meterd's HTTP port (docs/http-api.md, docs/http-api.json). The JSON
// routes under /v1/ are the binary protocol's requests in another encoding: each builds the
// request message, hands it to the same net::Handler the binary server uses (so the same API
// keys, roles, validation and query pools answer it) and turns the reply frames into JSON.
// Nothing under /v1/ re-implements what a request means.
//
// Auth: `Authorization: Bearer <key>`, checked by Handler::Authenticate once per connection and
// key (a connection that changes key re-authenticates); a revoked key fails at its next request.
// Errors are {"error": {"code", "message"}} with the wire code's name and its HTTP status
// (json_format.h).
//
// Ingest (http_ingest.h): POST /write, /api/v2/write (Influx line protocol), /api/v1/write
// (Prometheus remote_write) and /collectd (collectd write_http JSON), with the key also taken
// as Influx clients send it (Authorization: Token, Basic with the key as password, ?p=).
//
// Unauthenticated: /ping (204, as InfluxDB answers it), /healthz (the process answers), /readyz
// (recovery done and the store open: SetBackend was called and Unready was not), /metrics
// (Prometheus text from the backend's metrics function, run on a thread of its own so a scrape
// never waits behind a query and never runs on an io thread) and /openapi.json.
//
// Thread-safety: thread-safe. SetBackend/Unready from the controlling thread; Serve from io
// threads.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "net/asio.h"
#include "net/http/http_ingest.h"
#include "net/http/http_server.h"
#include "net/server/handler.h"

namespace meterd::net {

struct HttpBackend {
  Handler* handler = nullptr;            // the binary protocol's handler
  std::function<std::string()> metrics;  // Prometheus text exposition (may take a few ms)
  IngestBackend ingest;                  // the ingest routes' mapping (http_ingest.h)
};

class HttpApi final : public HttpRoutes {
 public:
  // Replies above this many frame bytes are refused (narrow the query): a reply is collected
  // whole before it is translated, so this bounds one request's memory.
  static constexpr size_t kMaxReplyBytes = 64u << 20;

  // `openapi_json`: the document served at /openapi.json.
  explicit HttpApi(std::string openapi_json);
  ~HttpApi() override;

  // Serving starts: /v1/ routes and /metrics answer, /readyz says ready.
  void SetBackend(HttpBackend backend);
  // Stopping: /readyz says 503 and /v1/ routes answer Unavailable; call before the backend
  // goes away.
  void Unready();
  // Waits for a scrape still running (call after the HttpServer stopped, before the backend
  // goes away).
  void Stop() {
    ingest_.Stop();
    metrics_pool_.join();
  }
  // The ingest routes' counters (meterd_http_ingest_*), for /metrics.
  std::string IngestMetrics() const { return ingest_.Metrics(); }

  std::unique_ptr<HttpConnectionState> NewConnection() override;
  void ConnectionClosed(HttpConnectionState* state) override;
  void Serve(HttpRequest request, HttpReply reply) override;

  struct Call;

 private:
  std::shared_ptr<const HttpBackend> backend() const;
  void ServeMetrics(HttpReply reply);
  // Authenticates `key` on the request's connection (kept while it sends the same key); null
  // after answering the error.
  ApiConnection* Authenticate(const HttpBackend& b, HttpRequest& request, const std::string& key,
                              HttpReply& reply);
  void ServeIngest(ingest::Format format, const std::string& path, std::string_view raw_query,
                   HttpRequest request, HttpReply reply);

  const std::string openapi_;
  mutable std::mutex mu_;
  std::shared_ptr<const HttpBackend> backend_;  // GUARDED_BY(mu_); null until ready
  boost::asio::thread_pool metrics_pool_{1};
  HttpIngest ingest_;
};

}  // namespace meterd::net
