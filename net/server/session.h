// meterd — net/server/session.h
//
// Session: one client connection. Reads frames, verifies them, runs the Hello handshake, hands
// requests to the Handler and writes answers, with per-session and global flow control (see
// server.h). A plain session waits for readability and reads the socket without blocking, straight
// into the frame decoder; a TLS session (the server has a TLS context) first completes the
// handshake, then reads with async_read_some into its own buffer (the TLS engine may hold
// decrypted bytes a readability wait would not see, and a pending read must own its buffer). Every
// member is touched only on the session's io_context thread; Responders reach it through
// asio::post.
#pragma once

#include <deque>
#include <memory>
#include "net/asio.h"

#include "net/protocol/frame.h"
#include "net/server/server_impl.h"

namespace meterd::net {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl* server, boost::asio::ip::tcp::socket socket);
  ~Session();
  void Start();
  // Called on the session's thread: stop reading new requests; close once answers drain.
  void BeginDrain();
  // Closes the socket now.
  void Close();
  boost::asio::any_io_executor executor() { return socket_.get_executor(); }
  uint32_t in_flight() const { return in_flight_; }

  // From Responders (posted to the session's thread).
  void QueueFrame(std::vector<uint8_t> frame);
  void RequestDone();
  void FailAndClose(wire::ErrorCode code, std::string_view message);

 private:
  enum class Phase { kHello, kReady, kClosing, kClosed };

  void ReadMore();
  void OnReadable(const boost::system::error_code& ec);
  void OnHandshake(const boost::system::error_code& ec);
  void OnTlsRead(const boost::system::error_code& ec, size_t n);
  // After bytes were read (or the peer closed): frames, then the next read.
  void AfterRead(size_t bytes, bool eof);
  void ProcessFrames();
  void Dispatch(const wire::Envelope& env, size_t frame_bytes);
  void OnHello(const wire::Hello& hello);
  bool ShouldPause() const;
  // Keeps the server's buffered_bytes in step with this session's read buffer.
  void AccountReadBuffer();
  void WriteMore();
  void ArmTimer(std::chrono::steady_clock::duration after);
  void OnTimer();
  void CloseAfterWrites();
  void MaybeFinishDrain();

  Server::Impl* server_;
  boost::asio::ip::tcp::socket socket_;
  // TLS over socket_ (null: plain TCP). tls_ready_ once the handshake succeeded.
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  bool tls_ready_ = false;
  std::vector<uint8_t> tls_in_;  // a TLS read's buffer, owned while the read is pending
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer pause_timer_;
  FrameDecoder decoder_;
  Phase phase_ = Phase::kHello;
  std::unique_ptr<SessionState> state_;
  bool reading_ = false;  // an async wait for readability is outstanding
  bool pausing_ = false;  // the flow-control pause timer is armed
  bool writing_ = false;
  bool draining_ = false;
  uint32_t in_flight_ = 0;
  size_t accounted_buffer_ = 0;  // this session's read buffer, as counted in buffered_bytes
  std::deque<std::vector<uint8_t>> write_queue_;
  std::vector<std::vector<uint8_t>> writing_now_;
  std::chrono::steady_clock::time_point last_activity_;
  std::string peer_;
};

}  // namespace meterd::net
