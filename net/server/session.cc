// meterd — net/server/session.cc
#include "net/server/session.h"

#include <spdlog/spdlog.h>

#include <cstring>

#include "net/protocol/messages.h"

namespace meterd::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Bytes read per readable event before yielding to the other sessions of the thread.
constexpr size_t kReadChunk = 64u << 10;
constexpr size_t kSmallRead = 4u << 10;
constexpr size_t kReadPerTurn = 4u << 20;
// Frames gathered into one write.
constexpr size_t kWriteGather = 64;
constexpr auto kPausePoll = std::chrono::milliseconds(5);

// Answers one request. Done releases the request's share of the flow-control budget even when
// the session has gone; everything else reaches the session through its executor.
class SessionResponder final : public Responder {
 public:
  SessionResponder(std::shared_ptr<Server::Impl> server, std::weak_ptr<Session> session,
                   asio::any_io_executor executor, size_t frame_bytes)
      : server_(std::move(server)),
        session_(std::move(session)),
        executor_(std::move(executor)),
        frame_bytes_(frame_bytes) {}

  ~SessionResponder() override {
    if (!done_) Done();  // a handler that forgot: never leak the budget
  }

  void Send(std::vector<uint8_t> frame) override {
    asio::post(executor_, [s = session_, f = std::move(frame)]() mutable {
      if (auto session = s.lock()) session->QueueFrame(std::move(f));
    });
  }

  void Done() override {
    if (done_) return;
    done_ = true;
    server_->buffered_bytes.fetch_sub(static_cast<int64_t>(frame_bytes_),
                                      std::memory_order_relaxed);
    asio::post(executor_, [s = session_] {
      if (auto session = s.lock()) session->RequestDone();
    });
  }

  void Fail(wire::ErrorCode code, std::string_view message) override {
    asio::post(executor_, [s = session_, code, m = std::string(message)] {
      if (auto session = s.lock()) session->FailAndClose(code, m);
    });
    Done();
  }

 private:
  std::shared_ptr<Server::Impl> server_;
  std::weak_ptr<Session> session_;
  asio::any_io_executor executor_;
  size_t frame_bytes_;
  bool done_ = false;
};

}  // namespace

Session::Session(Server::Impl* server, tcp::socket socket)
    : server_(server),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      pause_timer_(socket_.get_executor()),
      decoder_(std::min(server->options.max_frame_bytes, kMaxHelloFrameBytes)) {
  if (server->tls) {
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *server->tls);
  }
}

Session::~Session() = default;

void Session::Start() {
  boost::system::error_code ec;
  auto remote = socket_.remote_endpoint(ec);
  peer_ = ec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
  socket_.set_option(tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  last_activity_ = std::chrono::steady_clock::now();
  ArmTimer(server_->options.hello_timeout);
  if (server_->draining.load()) {
    BeginDrain();  // accepted while Stop() was collecting the sessions to drain
    return;
  }
  if (tls_) {
    // The hello timer covers the handshake too: a client that never finishes it is closed.
    tls_->async_handshake(asio::ssl::stream_base::server,
                          [self = shared_from_this()](const boost::system::error_code& ec) {
                            self->OnHandshake(ec);
                          });
    return;
  }
  ReadMore();
}

void Session::OnHandshake(const boost::system::error_code& ec) {
  if (phase_ >= Phase::kClosing) return;
  if (ec) {
    spdlog::info("event=tls_handshake_failed peer={} error=\"{}\"", peer_, ec.message());
    Close();
    return;
  }
  tls_ready_ = true;
  last_activity_ = std::chrono::steady_clock::now();
  ReadMore();
}

bool Session::ShouldPause() const {
  if (in_flight_ >= server_->options.max_in_flight) return true;
  // A frame that has begun to arrive is finished first: its buffer is already held (and
  // counted), and pausing it would hold that memory without making progress. And a session
  // with nothing in flight may always go on: only answers free the budget, so a session that
  // waits for the budget must have an answer coming (else all could wait for each other).
  if (in_flight_ == 0 || decoder_.InsideFrame()) return false;
  return server_->buffered_bytes.load(std::memory_order_relaxed) >
         static_cast<int64_t>(server_->options.buffer_budget_bytes);
}

// Read buffers count against the global budget along with unanswered requests, so that many
// clients announcing large frames at once make the others pause rather than grow memory.
void Session::AccountReadBuffer() {
  const size_t now = decoder_.capacity();
  if (now == accounted_buffer_) return;
  server_->buffered_bytes.fetch_add(
      static_cast<int64_t>(now) - static_cast<int64_t>(accounted_buffer_),
      std::memory_order_relaxed);
  accounted_buffer_ = now;
}

void Session::ReadMore() {
  if (reading_ || pausing_ || draining_ || phase_ >= Phase::kClosing) return;
  if (tls_ && !tls_ready_) return;  // OnHandshake starts reading
  if (ShouldPause()) {
    // Not reading lets the kernel's socket buffers fill, and TCP slows the client down. The
    // session resumes when its own answers arrive (RequestDone) or, for the global budget,
    // when the poll finds room again.
    server_->paused.fetch_add(1, std::memory_order_relaxed);
    pausing_ = true;
    pause_timer_.expires_after(kPausePoll);
    pause_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      self->pausing_ = false;
      if (!ec) self->ReadMore();
    });
    return;
  }
  // Frames a pause left in the buffer come before new bytes: the client may be waiting for
  // their answers and send nothing more until then.
  if (decoder_.buffered_bytes() >= kFrameHeaderBytes) {
    const uint64_t before = decoder_.frames();
    ProcessFrames();
    if (phase_ >= Phase::kClosing) return;
    if (decoder_.frames() != before && ShouldPause()) {
      ReadMore();  // arms the pause timer
      return;
    }
  }
  reading_ = true;
  if (tls_) {
    if (tls_in_.empty()) tls_in_.resize(kSmallRead);
    tls_->async_read_some(asio::buffer(tls_in_),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t n) { self->OnTlsRead(ec, n); });
    return;
  }
  socket_.async_wait(
      tcp::socket::wait_read,
      [self = shared_from_this()](const boost::system::error_code& ec) { self->OnReadable(ec); });
}

void Session::OnTlsRead(const boost::system::error_code& ec, size_t n) {
  reading_ = false;
  if (phase_ >= Phase::kClosing || draining_) return;
  if (n > 0) {
    auto tail = decoder_.WritableTail(n);
    std::memcpy(tail.data(), tls_in_.data(), n);
    decoder_.Commit(n);
  }
  // As the plain path's reads: small while the connection is quiet (an idle fleet of thousands
  // must not hold 64 KiB each), kReadChunk once a read fills the buffer (a busy stream).
  if (n == tls_in_.size() && n < kReadChunk) {
    tls_in_.resize(kReadChunk);
  } else if (n < kSmallRead && tls_in_.size() > kSmallRead) {
    tls_in_ = std::vector<uint8_t>(kSmallRead);
  }
  // EOF, a truncated stream or a reset: answer what was received, then close (as plain TCP).
  AfterRead(n, static_cast<bool>(ec));
}

void Session::OnReadable(const boost::system::error_code& ec) {
  reading_ = false;
  if (phase_ >= Phase::kClosing) return;
  if (ec) {
    Close();
    return;
  }
  if (draining_) return;
  size_t total = 0;
  bool eof = false;
  while (total < kReadPerTurn) {
    // An empty buffer starts small: most connections send small frames now and then, and an
    // idle fleet of thousands must not hold 64 KiB each. Busy streams grow it to kReadChunk.
    auto tail = decoder_.WritableTail(decoder_.buffered_bytes() == 0 && total == 0 ? kSmallRead
                                                                                   : kReadChunk);
    boost::system::error_code rec;
    size_t n = socket_.read_some(asio::buffer(tail.data(), tail.size()), rec);
    if (rec == asio::error::would_block || rec == asio::error::try_again) break;
    if (rec) {
      eof = true;  // EOF or reset: answer what was received, then close
      break;
    }
    decoder_.Commit(n);
    total += n;
    if (n < tail.size()) break;  // drained the socket for now
  }
  AfterRead(total, eof);
}

void Session::AfterRead(size_t total, bool eof) {
  if (total > 0) last_activity_ = std::chrono::steady_clock::now();
  AccountReadBuffer();
  ProcessFrames();
  if (phase_ >= Phase::kClosing) return;
  if (eof) {
    draining_ = true;  // the peer is gone: finish what it asked, then close
    MaybeFinishDrain();
    return;
  }
  decoder_.ReleaseIfEmpty();
  AccountReadBuffer();
  ReadMore();
}

void Session::ProcessFrames() {
  const wire::Envelope* env = nullptr;
  std::span<const uint8_t> payload;
  while (phase_ < Phase::kClosing && !draining_ && decoder_.Next(&env, &payload)) {
    server_->frames.fetch_add(1, std::memory_order_relaxed);
    Dispatch(*env, payload.size() + kFrameHeaderBytes);
    if (ShouldPause()) break;  // leave the rest buffered until answers drain
  }
  if (!decoder_.status().ok() && phase_ < Phase::kClosing) {
    server_->malformed.fetch_add(1, std::memory_order_relaxed);
    const bool too_large = decoder_.status().code() == Status::Code::kOutOfRange;
    spdlog::warn("event=malformed_frame peer={} reason=\"{}\"", peer_, decoder_.status().message());
    FailAndClose(too_large ? wire::ErrorCode::FrameTooLarge : wire::ErrorCode::MalformedFrame,
                 decoder_.status().message());
  }
}

void Session::Dispatch(const wire::Envelope& env, size_t frame_bytes) {
  const auto type = env.message_type();
  if (phase_ == Phase::kHello) {
    if (type != wire::Message::Hello) {
      FailAndClose(wire::ErrorCode::MalformedFrame, "the first frame must be a Hello");
      return;
    }
    OnHello(*env.message_as_Hello());
    return;
  }
  switch (type) {
    case wire::Message::Hello:
      FailAndClose(wire::ErrorCode::MalformedFrame, "Hello sent twice");
      return;
    case wire::Message::Ping: {
      flatbuffers::FlatBufferBuilder fbb(64);
      QueueFrame(FinishFrame(fbb, wire::CreatePong(fbb, env.message_as_Ping()->request_id())));
      return;
    }
    default:
      break;
  }
  ++in_flight_;
  server_->buffered_bytes.fetch_add(static_cast<int64_t>(frame_bytes), std::memory_order_relaxed);
  auto responder = std::make_shared<SessionResponder>(server_->shared_from_this(), weak_from_this(),
                                                      executor(), frame_bytes);
  server_->handler->Handle(state_.get(), env, std::move(responder));
}

void Session::OnHello(const wire::Hello& hello) {
  if (hello.protocol_version() != kProtocolVersion) {
    FailAndClose(wire::ErrorCode::UnsupportedVersion,
                 "protocol version " + std::to_string(hello.protocol_version()) +
                     " is not served; this server speaks version " +
                     std::to_string(kProtocolVersion));
    return;
  }
  auto r = server_->handler->Authenticate(View(hello.api_key()), View(hello.client()));
  if (!r.ok()) {
    spdlog::info("event=auth_refused peer={} client=\"{}\"", peer_, LogSafe(View(hello.client())));
    FailAndClose(ToWireCode(r.status()), r.status().message());
    return;
  }
  HelloResult result = std::move(r).value();
  state_ = std::move(result.state);
  phase_ = Phase::kReady;
  decoder_.set_max_frame_bytes(server_->options.max_frame_bytes);
  flatbuffers::FlatBufferBuilder fbb(128);
  auto server_name = fbb.CreateString("meterd/0.1.0");
  auto hv = fbb.CreateString(result.hypervisor);
  QueueFrame(FinishFrame(
      fbb, wire::CreateHelloOk(fbb, kProtocolVersion, server_name, result.role, hv,
                               server_->options.max_frame_bytes, server_->options.max_in_flight)));
  ArmTimer(server_->options.idle_timeout);
}

void Session::RequestDone() {
  if (in_flight_ > 0) --in_flight_;
  last_activity_ = std::chrono::steady_clock::now();
  if (draining_) {
    MaybeFinishDrain();
    return;
  }
  ReadMore();
}

void Session::QueueFrame(std::vector<uint8_t> frame) {
  if (phase_ == Phase::kClosed) return;
  write_queue_.push_back(std::move(frame));
  WriteMore();
}

void Session::WriteMore() {
  if (writing_ || write_queue_.empty() || phase_ == Phase::kClosed) return;
  if (tls_ && !tls_ready_) {
    // Nothing can be written before the handshake (the hello timeout's IdleTimeout frame, a
    // drain's ShuttingDown): close without it.
    write_queue_.clear();
    if (phase_ == Phase::kClosing) Close();
    return;
  }
  writing_ = true;
  writing_now_.clear();
  std::vector<asio::const_buffer> buffers;
  while (!write_queue_.empty() && writing_now_.size() < kWriteGather) {
    writing_now_.push_back(std::move(write_queue_.front()));
    write_queue_.pop_front();
    buffers.emplace_back(asio::buffer(writing_now_.back()));
  }
  auto on_written = [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
    self->writing_ = false;
    self->writing_now_.clear();
    if (ec) {
      self->Close();
      return;
    }
    if (!self->write_queue_.empty()) {
      self->WriteMore();
    } else if (self->phase_ == Phase::kClosing) {
      self->Close();
    } else if (self->draining_) {
      self->MaybeFinishDrain();
    }
  };
  if (tls_) {
    asio::async_write(*tls_, buffers, std::move(on_written));
  } else {
    asio::async_write(socket_, buffers, std::move(on_written));
  }
}

void Session::FailAndClose(wire::ErrorCode code, std::string_view message) {
  if (phase_ >= Phase::kClosing) return;
  write_queue_.push_back(ErrorFrame(0, code, message));
  CloseAfterWrites();
}

void Session::CloseAfterWrites() {
  phase_ = Phase::kClosing;
  pause_timer_.cancel();
  if (!writing_ && write_queue_.empty()) {
    Close();
  } else {
    WriteMore();
  }
}

void Session::BeginDrain() {
  draining_ = true;
  pause_timer_.cancel();
  MaybeFinishDrain();
}

void Session::MaybeFinishDrain() {
  if (phase_ >= Phase::kClosing || in_flight_ > 0) return;
  if (server_->draining.load(std::memory_order_relaxed) && phase_ == Phase::kReady) {
    write_queue_.push_back(ErrorFrame(0, wire::ErrorCode::ShuttingDown, "server is shutting down"));
  }
  CloseAfterWrites();
}

void Session::ArmTimer(std::chrono::steady_clock::duration after) {
  timer_.expires_after(after);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->OnTimer();
  });
}

// The timer is not reset per frame (that would cost a timer operation per request); when it
// fires it checks how long the session has really been quiet and re-arms for the rest.
void Session::OnTimer() {
  if (phase_ >= Phase::kClosing) return;
  const auto limit =
      phase_ == Phase::kHello ? server_->options.hello_timeout : server_->options.idle_timeout;
  const auto quiet = std::chrono::steady_clock::now() - last_activity_;
  if (phase_ == Phase::kHello || (quiet >= limit && in_flight_ == 0)) {
    spdlog::info("event=idle_timeout peer={} phase={}", peer_,
                 phase_ == Phase::kHello ? "hello" : "ready");
    FailAndClose(wire::ErrorCode::IdleTimeout, phase_ == Phase::kHello
                                                   ? "no Hello within the handshake timeout"
                                                   : "connection idle for too long");
    return;
  }
  ArmTimer(quiet >= limit ? std::chrono::steady_clock::duration(limit)
                          : std::chrono::steady_clock::duration(limit - quiet));
}

void Session::Close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  boost::system::error_code ec;
  timer_.cancel();
  pause_timer_.cancel();
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  write_queue_.clear();
  decoder_ = FrameDecoder();
  AccountReadBuffer();  // gives this session's share back
  if (state_) server_->handler->SessionClosed(state_.get());
  server_->Remove(shared_from_this());
}

}  // namespace meterd::net
