// meterd — net/server/server.cc
#include "net/server/server.h"

#include <spdlog/spdlog.h>

#include "net/protocol/messages.h"
#include "net/server/server_impl.h"
#include "net/server/session.h"

namespace meterd::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Server::Server(ServerOptions options, Handler* handler)
    : impl_(std::make_shared<Impl>(std::move(options), handler)) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  Impl& s = *impl_;
  if (s.started) return Status::InvalidArgument("server already started");
  const TlsFiles tls_files{s.options.tls_cert_file, s.options.tls_key_file,
                           s.options.tls_client_ca_file};
  if (tls_files.requested()) {
    METERD_ASSIGN_OR_RETURN(s.tls, MakeServerTlsContext(tls_files, "the binary port"));
  }
  size_t n = s.options.io_threads ? s.options.io_threads : std::thread::hardware_concurrency();
  if (n == 0) n = 1;
  for (size_t i = 0; i < n; ++i) {
    s.contexts.push_back(std::make_unique<asio::io_context>(1));
    s.guards.emplace_back(asio::make_work_guard(*s.contexts.back()));
  }
  boost::system::error_code ec;
  auto address = asio::ip::make_address(s.options.host, ec);
  if (ec) return Status::InvalidArgument("bad listen address '" + s.options.host + "'");
  tcp::endpoint endpoint(address, s.options.port);
  s.acceptor = std::make_unique<tcp::acceptor>(*s.contexts[0]);
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::IOError("cannot listen on " + s.options.host + ":" +
                           std::to_string(s.options.port) + ": " + ec.message());
  }
  port_ = s.acceptor->local_endpoint().port();
  s.started = true;
  s.Accept();
  for (size_t i = 0; i < n; ++i) {
    s.threads.emplace_back([ctx = s.contexts[i].get()] { ctx->run(); });
  }
  spdlog::info("event=listening address={}:{} tls={} io_threads={} max_connections={}",
               s.options.host, port_,
               !s.tls                                 ? "off"
               : s.options.tls_client_ca_file.empty() ? "on"
                                                      : "on, client certificates required",
               n, s.options.max_connections);
  return Status::OK();
}

void Server::Impl::Accept() {
  if (draining.load()) return;
  const size_t target = next_context++ % contexts.size();
  acceptor->async_accept(
      *contexts[target],
      [self = shared_from_this(), target](const boost::system::error_code& ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || self->draining.load()) return;
        if (ec) {
          // Out of descriptors and similar: report, wait a little, keep serving the others.
          spdlog::warn("event=accept_failed error=\"{}\"", ec.message());
          auto timer = std::make_shared<asio::steady_timer>(self->acceptor->get_executor(),
                                                            std::chrono::milliseconds(50));
          timer->async_wait([self, timer](const boost::system::error_code&) { self->Accept(); });
          return;
        }
        self->OnAccepted(std::move(socket), target);
        self->Accept();
      });
}

void Server::Impl::OnAccepted(tcp::socket socket, size_t context) {
  accepted_total.fetch_add(1, std::memory_order_relaxed);
  if (draining.load()) {
    boost::system::error_code ec;
    socket.close(ec);
    return;
  }
  if (connections.load(std::memory_order_relaxed) >= options.max_connections) {
    refused.fetch_add(1, std::memory_order_relaxed);
    // Best effort: tell the client why before closing (a small write never blocks a fresh
    // socket's empty send buffer). A TLS client is not told: that would need a handshake, the
    // cost the limit is there to refuse.
    boost::system::error_code ec;
    if (!tls) {
      auto frame =
          ErrorFrame(0, wire::ErrorCode::TooManyConnections,
                     "connection limit of " + std::to_string(options.max_connections) + " reached");
      socket.non_blocking(true, ec);
      socket.write_some(asio::buffer(frame), ec);
    }
    socket.close(ec);
    return;
  }
  connections.fetch_add(1, std::memory_order_relaxed);
  auto session = std::make_shared<Session>(this, std::move(socket));
  {
    std::lock_guard lock(sessions_mu);
    sessions.insert(session);
  }
  asio::post(*contexts[context], [session] { session->Start(); });
}

void Server::Impl::Remove(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(sessions_mu);
  if (sessions.erase(s)) connections.fetch_sub(1, std::memory_order_relaxed);
}

void Server::Stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.draining.store(true);
  spdlog::info("event=draining connections={}", s.connections.load());
  asio::post(*s.contexts[0], [impl = impl_] {
    boost::system::error_code ec;
    impl->acceptor->close(ec);
  });
  std::vector<std::shared_ptr<Session>> all;
  {
    std::lock_guard lock(s.sessions_mu);
    all.assign(s.sessions.begin(), s.sessions.end());
  }
  for (auto& session : all) asio::post(session->executor(), [session] { session->BeginDrain(); });
  all.clear();
  // Sessions close themselves once their requests are answered; wait for that, bounded.
  const auto deadline = std::chrono::steady_clock::now() + s.options.drain_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(s.sessions_mu);
      if (s.sessions.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    std::lock_guard lock(s.sessions_mu);
    all.assign(s.sessions.begin(), s.sessions.end());
  }
  if (!all.empty()) {
    spdlog::warn("event=drain_timeout closing={}", all.size());
    for (auto& session : all) asio::post(session->executor(), [session] { session->Close(); });
  }
  all.clear();
  s.guards.clear();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  {
    std::lock_guard lock(s.sessions_mu);
    s.sessions.clear();
  }
  spdlog::info("event=stopped accepted_total={} malformed_frames={}", s.accepted_total.load(),
               s.malformed.load());
}

ServerStats Server::stats() const {
  const Impl& s = *impl_;
  ServerStats out;
  out.connections = s.connections.load(std::memory_order_relaxed);
  out.accepted_total = s.accepted_total.load(std::memory_order_relaxed);
  out.refused_connections = s.refused.load(std::memory_order_relaxed);
  out.malformed_frames = s.malformed.load(std::memory_order_relaxed);
  out.frames = s.frames.load(std::memory_order_relaxed);
  out.buffered_bytes =
      static_cast<uint64_t>(std::max<int64_t>(0, s.buffered_bytes.load(std::memory_order_relaxed)));
  out.paused_reads = s.paused.load(std::memory_order_relaxed);
  return out;
}

}  // namespace meterd::net
