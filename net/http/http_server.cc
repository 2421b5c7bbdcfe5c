// meterd — net/http/http_server.cc
#include "net/http/http_server.h"

// clang-format off
#include "net/asio.h"
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
// clang-format on
#include <spdlog/spdlog.h>

#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "net/server/tls_context.h"

namespace meterd::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class HttpConnection;

struct HttpServer::Impl {
  Impl(HttpServerOptions o, HttpRoutes* r) : options(std::move(o)), routes(r) {}

  HttpServerOptions options;
  HttpRoutes* routes;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::ssl::context> tls;  // set with a certificate: every connection is TLS
  size_t next_context = 0;
  bool started = false;
  bool stopped = false;

  std::mutex mu;
  std::unordered_set<std::shared_ptr<HttpConnection>> connections;  // GUARDED_BY(mu)

  std::atomic<bool> draining{false};
  std::atomic<uint64_t> open{0}, accepted{0}, refused{0}, requests{0}, bad{0}, in_flight{0};

  void Accept();
  void Remove(const std::shared_ptr<HttpConnection>& c) {
    std::lock_guard lock(mu);
    if (connections.erase(c)) open.fetch_sub(1, std::memory_order_relaxed);
  }
};

namespace {

// A small JSON error body for answers the transport gives itself (the routes write their own).
std::string TransportError(std::string_view code, std::string_view message) {
  return std::string("{\"error\":{\"code\":\"") + std::string(code) + "\",\"message\":\"" +
         std::string(message) + "\"}}";
}

}  // namespace

// One HTTP connection, as the server's set holds it.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  virtual ~HttpConnection() = default;
  virtual void Start() = 0;
  virtual void BeginDrain() = 0;
  virtual void Close() = 0;
  virtual asio::any_io_executor executor() = 0;
};

namespace {

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// A connection over Stream (plain TCP or TLS). Every member is touched on its io_context's
// thread only; a route's reply reaches it through asio::post.
template <typename Stream>
class Connection final : public HttpConnection {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  template <typename... Args>
  Connection(HttpServer::Impl* server, Args&&... args)
      : server_(server), stream_(std::forward<Args>(args)...) {
    state_ = server_->routes->NewConnection();
  }

  void Start() override {
    if constexpr (kTls) {
      Lowest().expires_after(server_->options.header_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = Self()](beast::error_code ec) {
                                if (ec) {
                                  self->server_->bad.fetch_add(1, std::memory_order_relaxed);
                                  self->Close();
                                  return self->Finish();
                                }
                                self->ReadHeader();
                              });
    } else {
      ReadHeader();
    }
  }

  void Close() override {
    closed_ = true;
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    Lowest().socket().close(ec);
  }

  // Called on the connection's thread when the server drains: an idle connection closes now,
  // a busy one after its answer is written.
  void BeginDrain() override {
    draining_ = true;
    if (!busy_) {
      Close();
      Finish();
    }
  }

  asio::any_io_executor executor() override { return stream_.get_executor(); }

 private:
  std::shared_ptr<Connection> Self() {
    return std::static_pointer_cast<Connection>(this->shared_from_this());
  }
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void ReadHeader() {
    if (draining_ || closed_) return Finish();
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_->options.max_header_bytes));
    parser_->body_limit(server_->options.max_body_bytes);
    Lowest().expires_after(served_ == 0 ? server_->options.header_timeout
                                        : server_->options.keep_alive_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = Self()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    busy_ = true;
    Lowest().expires_after(server_->options.body_timeout);
    // A client that asks (curl does above 1 KiB) is told to send its body; a body over the
    // limit was refused with the header already (Content-Length), so it is never invited.
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = Self()](beast::error_code ec, size_t) {
                          if (ec) return self->OnReadError(ec);
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = Self()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnReadError(beast::error_code ec) {
    // A peer that closed between requests, or a keep-alive that timed out idle: not an error.
    const bool between_requests = !busy_ && buffer_.size() == 0;
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted || closed_ ||
        ec == asio::ssl::error::stream_truncated ||
        (between_requests && (ec == beast::error::timeout || ec == asio::error::connection_reset ||
                              ec == asio::error::eof))) {
      Close();
      return Finish();
    }
    server_->bad.fetch_add(1, std::memory_order_relaxed);
    HttpResponse r;
    if (ec == http::error::body_limit) {
      r.status = 413;
      r.body = TransportError(
          "FrameTooLarge",
          "request body over " + std::to_string(server_->options.max_body_bytes) + " bytes");
    } else if (ec == http::error::header_limit) {
      r.status = 431;
      r.body = TransportError(
          "InvalidArgument",
          "request header over " + std::to_string(server_->options.max_header_bytes) + " bytes");
    } else if (ec == beast::error::timeout) {
      r.status = 408;
      r.body = TransportError("IdleTimeout", "request not received in time");
    } else {
      r.status = 400;
      r.body = TransportError("InvalidArgument", "malformed HTTP request");
    }
    busy_ = true;
    keep_alive_ = false;
    linger_ = true;  // the rest of the request may still be arriving
    Write(std::move(r), 11);
  }

  void OnBody(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    server_->requests.fetch_add(1, std::memory_order_relaxed);
    auto& msg = parser_->get();
    keep_alive_ = msg.keep_alive() && !draining_;
    version_ = msg.version();
    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.authorization = std::string(msg[http::field::authorization]);
    req.content_type = std::string(msg[http::field::content_type]);
    req.content_encoding = std::string(msg[http::field::content_encoding]);
    req.body = std::move(msg.body());
    req.connection = state_.get();
    parser_.reset();
    Lowest().expires_never();  // the route's time is not the peer's
    server_->in_flight.fetch_add(1, std::memory_order_relaxed);
    // The reply holds the connection: a route still working after the server stopped (a query,
    // an ingest waiting for its WAL sync) uses the connection's state (its session, the request's
    // ApiConnection) until it answers, so the connection must not be freed under it when a
    // drain timeout closes it. (A reply after the io threads stopped leaves its handler, and
    // with it the connection, to the io_context, which the server's Impl destroys last.)
    auto self = Self();
    auto executor = stream_.get_executor();
    server_->routes->Serve(std::move(req), [self, executor](HttpResponse response) {
      asio::post(executor, [self, response = std::move(response)]() mutable {
        self->server_->in_flight.fetch_sub(1, std::memory_order_relaxed);
        self->Write(std::move(response), self->version_);
      });
    });
  }

  void Write(HttpResponse r, unsigned version) {
    if (closed_) return Finish();
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version);
    res->set(http::field::server, "meterd");
    if (!r.content_type.empty()) res->set(http::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) res->set(name, value);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_ && !draining_);
    res->prepare_payload();
    // A 204 has no body and no Content-Length (RFC 9110, 8.6).
    if (r.status == 204) res->erase(http::field::content_length);
    Lowest().expires_after(server_->options.body_timeout);
    http::async_write(stream_, *res, [self = Self(), res](beast::error_code ec, size_t) {
      ++self->served_;
      self->busy_ = false;
      if (!ec && self->linger_) return self->Linger();
      if (ec || !res->keep_alive()) {
        self->Close();
        return self->Finish();
      }
      self->ReadHeader();
    });
  }

  // After an error answer to a request that was not read whole (a body over the limit): stop
  // sending, then read and drop what the client still sends, for up to a second and a bounded
  // number of bytes, before closing. Closing with unread bytes would reset the connection, and
  // the reset can destroy the answer before the client has read it.
  void Linger() {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    Lowest().expires_after(std::chrono::seconds(1));
    DrainSome();
  }
  void DrainSome() {
    static constexpr size_t kChunk = 16 << 10;
    discard_.resize(kChunk);
    stream_.async_read_some(
        asio::buffer(discard_), [self = Self()](beast::error_code ec, size_t n) {
          self->discarded_ += n;
          if (ec || self->discarded_ > 4 * self->server_->options.max_body_bytes) {
            self->Close();
            return self->Finish();
          }
          self->DrainSome();
        });
  }

  // Leaves the server's set (once): the last reference then goes with the pending handlers.
  void Finish() {
    if (finished_) return;
    finished_ = true;
    Close();
    if (state_) server_->routes->ConnectionClosed(state_.get());
    server_->Remove(this->shared_from_this());
  }

  HttpServer::Impl* server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::unique_ptr<HttpConnectionState> state_;
  unsigned version_ = 11;
  uint64_t served_ = 0;
  bool keep_alive_ = true;
  bool busy_ = false;  // a request is being read, served or answered
  bool draining_ = false;
  bool closed_ = false;
  bool finished_ = false;
  bool linger_ = false;  // drop unread input before closing (see Linger)
  std::vector<char> discard_;
  size_t discarded_ = 0;
};

}  // namespace

HttpServer::HttpServer(HttpServerOptions options, HttpRoutes* routes)
    : impl_(std::make_shared<Impl>(std::move(options), routes)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  Impl& s = *impl_;
  if (s.started) return Status::InvalidArgument("HTTP server already started");
  const size_t n = s.options.io_threads ? s.options.io_threads : 1;
  for (size_t i = 0; i < n; ++i) {
    s.contexts.push_back(std::make_unique<asio::io_context>(1));
    s.guards.emplace_back(asio::make_work_guard(*s.contexts.back()));
  }
  boost::system::error_code ec;
  const TlsFiles tls_files{s.options.tls_cert_file, s.options.tls_key_file,
                           s.options.tls_client_ca_file};
  if (tls_files.requested()) {
    METERD_ASSIGN_OR_RETURN(s.tls, MakeServerTlsContext(tls_files, "HTTPS"));
  }
  auto address = asio::ip::make_address(s.options.host, ec);
  if (ec) return Status::InvalidArgument("bad HTTP listen address '" + s.options.host + "'");
  tcp::endpoint endpoint(address, s.options.port);
  s.acceptor = std::make_unique<tcp::acceptor>(*s.contexts[0]);
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::IOError("cannot listen for HTTP on " + s.options.host + ":" +
                           std::to_string(s.options.port) + ": " + ec.message());
  }
  port_ = s.acceptor->local_endpoint().port();
  s.started = true;
  s.Accept();
  for (size_t i = 0; i < n; ++i) {
    s.threads.emplace_back([ctx = s.contexts[i].get()] { ctx->run(); });
  }
  spdlog::info("event=http_listening address={}:{} tls={} io_threads={} max_connections={}",
               s.options.host, port_, s.tls ? "on" : "off", n, s.options.max_connections);
  return Status::OK();
}

void HttpServer::Impl::Accept() {
  if (draining.load()) return;
  const size_t target = next_context++ % contexts.size();
  acceptor->async_accept(
      *contexts[target], [this, target](const boost::system::error_code& ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || draining.load()) return;
        if (ec) {
          spdlog::warn("event=http_accept_failed error=\"{}\"", ec.message());
          auto timer = std::make_shared<asio::steady_timer>(acceptor->get_executor(),
                                                            std::chrono::milliseconds(50));
          timer->async_wait([this, timer](const boost::system::error_code&) { Accept(); });
          return;
        }
        accepted.fetch_add(1, std::memory_order_relaxed);
        if (open.load(std::memory_order_relaxed) >= options.max_connections) {
          refused.fetch_add(1, std::memory_order_relaxed);
          // Best effort, as the binary server does: a small write never blocks a fresh socket.
          const std::string body = TransportError(
              "TooManyConnections",
              "connection limit of " + std::to_string(options.max_connections) + " reached");
          const std::string response =
              "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
              "Connection: close\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\n\r\n" + body;
          boost::system::error_code wec;
          socket.non_blocking(true, wec);
          socket.write_some(asio::buffer(response), wec);
          socket.close(wec);
        } else {
          open.fetch_add(1, std::memory_order_relaxed);
          std::shared_ptr<HttpConnection> c;
          if (tls) {
            c = std::make_shared<Connection<TlsStream>>(this, std::move(socket), *tls);
          } else {
            c = std::make_shared<Connection<PlainStream>>(this, std::move(socket));
          }
          {
            std::lock_guard lock(mu);
            connections.insert(c);
          }
          asio::post(*contexts[target], [c] { c->Start(); });
        }
        Accept();
      });
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.draining.store(true);
  asio::post(*s.contexts[0], [&s] {
    boost::system::error_code ec;
    s.acceptor->close(ec);
  });
  std::vector<std::shared_ptr<HttpConnection>> all;
  {
    std::lock_guard lock(s.mu);
    all.assign(s.connections.begin(), s.connections.end());
  }
  for (auto& c : all) asio::post(c->executor(), [c] { c->BeginDrain(); });
  all.clear();
  const auto deadline = std::chrono::steady_clock::now() + s.options.drain_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(s.mu);
      if (s.connections.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    std::lock_guard lock(s.mu);
    all.assign(s.connections.begin(), s.connections.end());
  }
  for (auto& c : all) asio::post(c->executor(), [c] { c->Close(); });
  all.clear();
  s.guards.clear();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  {
    std::lock_guard lock(s.mu);
    s.connections.clear();
  }
  spdlog::info("event=http_stopped requests={} bad_requests={}", s.requests.load(), s.bad.load());
}

std::string HttpServerMetrics(const HttpServerStats& s) {
  std::string out;
  auto one = [&out](const char* name, const char* type, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(v) + "\n";
  };
  one("meterd_http_connections", "gauge", "Open connections on the HTTP port.", s.connections);
  one("meterd_http_connections_accepted_total", "counter",
      "Connections accepted on the HTTP port since start.", s.accepted_total);
  one("meterd_http_connections_refused_total", "counter",
      "HTTP connections refused at the connection limit since start.", s.refused_connections);
  one("meterd_http_requests_total", "counter", "HTTP requests read since start.", s.requests);
  one("meterd_http_bad_requests_total", "counter",
      "HTTP requests refused unread: malformed, over a limit or too slow.", s.bad_requests);
  return out;
}

HttpServerStats HttpServer::stats() const {
  const Impl& s = *impl_;
  HttpServerStats out;
  out.connections = s.open.load(std::memory_order_relaxed);
  out.accepted_total = s.accepted.load(std::memory_order_relaxed);
  out.refused_connections = s.refused.load(std::memory_order_relaxed);
  out.requests = s.requests.load(std::memory_order_relaxed);
  out.bad_requests = s.bad.load(std::memory_order_relaxed);
  return out;
}

}  // namespace meterd::net
