// meterd — net/server/server_impl.h: state shared by the Server and its Sessions (private).
#pragma once

#include <mutex>
#include <unordered_set>
#include "net/asio.h"

#include "net/server/server.h"
#include "net/server/tls_context.h"

namespace meterd::net {

class Session;

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(ServerOptions o, Handler* h) : options(std::move(o)), handler(h) {}

  ServerOptions options;
  Handler* handler;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
  std::unique_ptr<boost::asio::ssl::context> tls;  // set: every session is TLS
  size_t next_context = 0;
  bool started = false;
  bool stopped = false;

  std::mutex sessions_mu;
  std::unordered_set<std::shared_ptr<Session>> sessions;  // GUARDED_BY(sessions_mu)

  std::atomic<bool> draining{false};
  std::atomic<int64_t> buffered_bytes{0};  // request frames not yet answered, all sessions
  std::atomic<uint64_t> connections{0}, accepted_total{0}, refused{0}, malformed{0}, frames{0},
      paused{0};

  void Accept();
  void OnAccepted(boost::asio::ip::tcp::socket socket, size_t context);
  void Remove(const std::shared_ptr<Session>& s);
};

}  // namespace meterd::net
