// meterd — net/client/tls_channel.cc
#include "net/client/tls_channel.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <cerrno>

namespace meterd::net {

namespace {

// OpenSSL's queued errors as one line (and clears the queue).
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no detail from OpenSSL" : out;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Maps an SSL_read/SSL_write result to send(2)/recv(2) conventions.
ssize_t IoResult(ssl_st* ssl, int rc) {
  if (rc > 0) return rc;
  switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:
      return 0;  // the peer closed the TLS stream
    case SSL_ERROR_SYSCALL:
      if (errno == 0) return 0;  // EOF without close_notify: the connection is gone
      return -1;
    default:
      ERR_clear_error();
      errno = EPROTO;
      return -1;
  }
}

}  // namespace

Result<std::unique_ptr<TlsChannel>> TlsChannel::Handshake(int fd, const std::string& host,
                                                          const TlsClientFiles& files,
                                                          std::chrono::milliseconds timeout) {
  std::unique_ptr<TlsChannel> ch(new TlsChannel());
  ERR_clear_error();
  ch->ctx_ = SSL_CTX_new(TLS_client_method());
  if (ch->ctx_ == nullptr) return Status::IOError("TLS: " + OpenSslErrors());
  SSL_CTX_set_min_proto_version(ch->ctx_, TLS1_2_VERSION);
  const int loaded = files.ca_file.empty()
                         ? SSL_CTX_set_default_verify_paths(ch->ctx_)
                         : SSL_CTX_load_verify_locations(ch->ctx_, files.ca_file.c_str(), nullptr);
  if (loaded != 1) {
    return Status::InvalidArgument("TLS: cannot use the CA file " + files.ca_file + ": " +
                                   OpenSslErrors());
  }
  SSL_CTX_set_verify(ch->ctx_, SSL_VERIFY_PEER, nullptr);
  if (!files.cert_file.empty() || !files.key_file.empty()) {
    if (files.cert_file.empty() || files.key_file.empty()) {
      return Status::InvalidArgument(
          "TLS: a client certificate needs both --tls-cert and --tls-key");
    }
    if (SSL_CTX_use_certificate_chain_file(ch->ctx_, files.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ch->ctx_, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ch->ctx_) != 1) {
      return Status::InvalidArgument("TLS: cannot use the client certificate " + files.cert_file +
                                     " and key " + files.key_file + ": " + OpenSslErrors());
    }
  }
  ch->ssl_ = SSL_new(ch->ctx_);
  if (ch->ssl_ == nullptr || SSL_set_fd(ch->ssl_, fd) != 1) {
    return Status::IOError("TLS: " + OpenSslErrors());
  }
  // Partial writes as send(2) has them; a retried write may come from a moved buffer.
  SSL_set_mode(ch->ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // The certificate must name what was dialled: an IP address (SAN iPAddress) or a host name.
  X509_VERIFY_PARAM* param = SSL_get0_param(ch->ssl_);
  if (IsIpAddress(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    SSL_set_tlsext_host_name(ch->ssl_, host.c_str());
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const int rc = SSL_connect(ch->ssl_);
    if (rc == 1) break;
    const int err = SSL_get_error(ch->ssl_, rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      std::string why = OpenSslErrors();
      const long verify = SSL_get_verify_result(ch->ssl_);
      if (verify != X509_V_OK)
        why += " (certificate: " + std::string(X509_verify_cert_error_string(verify)) + ")";
      if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) {
        why +=
            " (the server closed the connection: is its port TLS, and does it want a client "
            "certificate?)";
      }
      return Status::IOError("TLS handshake with " + host + " failed: " + why);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return Status::IOError("TLS handshake with " + host + " timed out");
    pollfd p{fd, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    ::poll(&p, 1, static_cast<int>(left));
  }
  return ch;
}

TlsChannel::~TlsChannel() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

ssize_t TlsChannel::Send(const void* data, size_t size) {
  ERR_clear_error();
  // SSL_write writes with write(2), which raises SIGPIPE on a closed connection (send(2) has
  // MSG_NOSIGNAL, OpenSSL's socket BIO does not): block it for the call and take back a
  // SIGPIPE this write raised, so a client program needs no handler.
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  const ssize_t n = IoResult(ssl_, SSL_write(ssl_, data, static_cast<int>(size)));
  const int saved = errno;
  if (n < 0 && saved == EPIPE) {
    const timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return n;
}

ssize_t TlsChannel::Recv(void* data, size_t size) {
  ERR_clear_error();
  return IoResult(ssl_, SSL_read(ssl_, data, static_cast<int>(size)));
}

}  // namespace meterd::net
