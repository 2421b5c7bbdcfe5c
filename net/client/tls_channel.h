// meterd — net/client/tls_channel.h
//
// TlsChannel: the client side of TLS on the binary port, over the Client's non-blocking socket
// (OpenSSL directly, as the Client does its own poll(2) loop). The server's certificate is
// verified against a CA file (or the system's CAs) and the host name or IP address the client
// connected to; a client certificate and key are presented when given (a server started with
// --tls-client-ca asks for one). Send and Recv behave like send(2) and recv(2) on a non-blocking
// socket: -1 with errno EAGAIN when TLS needs the socket to become ready again (either way:
// poll for both), 0 at the end of the stream.
//
// Thread-safety: none; owned and used by one Client.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "storage/base/result.h"

struct ssl_st;
struct ssl_ctx_st;

namespace meterd::net {

struct TlsClientFiles {
  std::string ca_file;    // PEM CA(s) the server's certificate must chain to; empty: system CAs
  std::string cert_file;  // PEM client certificate chain (with key_file); empty: none
  std::string key_file;
};

class TlsChannel {
 public:
  // Runs the handshake on connected socket `fd` (non-blocking; not owned) for `host`, within
  // `timeout`. IOError with OpenSSL's reason (and the verification result) when it fails.
  static Result<std::unique_ptr<TlsChannel>> Handshake(int fd, const std::string& host,
                                                       const TlsClientFiles& files,
                                                       std::chrono::milliseconds timeout);
  ~TlsChannel();
  TlsChannel(const TlsChannel&) = delete;
  TlsChannel& operator=(const TlsChannel&) = delete;

  ssize_t Send(const void* data, size_t size);
  ssize_t Recv(void* data, size_t size);

 private:
  TlsChannel() = default;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
};

}  // namespace meterd::net
