// meterd — tests/engine/events/test_receiver.h
//
// TestReceiver: a small HTTP/1.1 (optionally HTTPS) server on 127.0.0.1 for the webhook
// tests. It records every request (target, headers with lower-case names, body) and answers
// with a configurable status, or holds the connection without answering (stall) to provoke a
// client timeout. Every wait is bounded: the accept loop polls its stop flag, connection
// sockets have receive and send timeouts, and a stall ends on Stop. A self-signed
// certificate for 127.0.0.1 can be generated for the HTTPS mode (TestCertificate).
//
// Thread-safety: all members may be called from any thread. The destructor stops and joins
// every thread it started.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace meterd::testing {

// A fresh EC P-256 key and a self-signed certificate for IP 127.0.0.1, valid for a day, in
// PEM. The certificate doubles as its own CA (trust it via DispatcherOptions::ca_file).
struct TestCertificate {
  std::string key_pem;
  std::string cert_pem;

  static TestCertificate Make() {
    TestCertificate out;
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("meterd test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    for (const char* ext : {"subjectAltName=IP:127.0.0.1", "basicConstraints=critical,CA:TRUE"}) {
      const std::string text(ext);
      const size_t eq = text.find('=');
      X509_EXTENSION* e =
          X509V3_EXT_conf(nullptr, &ctx, text.substr(0, eq).c_str(), text.substr(eq + 1).c_str());
      X509_add_ext(cert, e, -1);
      X509_EXTENSION_free(e);
    }
    X509_sign(cert, key, EVP_sha256());
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    out.key_pem = Drain(bio);
    PEM_write_bio_X509(bio, cert);
    out.cert_pem = Drain(bio);
    BIO_free(bio);
    X509_free(cert);
    EVP_PKEY_free(key);
    return out;
  }

 private:
  static std::string Drain(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string s(data, static_cast<size_t>(n));
    (void)BIO_reset(bio);
    return s;
  }
};

class TestReceiver {
 public:
  struct Request {
    std::string head;  // the request line and header lines as received, without the blank line
    std::string target;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
  };

  // Listens on 127.0.0.1:`port` (0 = any free port). With a certificate, speaks HTTPS.
  explicit TestReceiver(uint16_t port = 0, const TestCertificate* tls = nullptr) {
    if (tls) SetUpTls(*tls);
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 64) != 0) {
      std::perror("TestReceiver bind/listen");
      ::close(fd_);
      fd_ = -1;
      return;
    }
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestReceiver() { Stop(); }
  TestReceiver(const TestReceiver&) = delete;
  TestReceiver& operator=(const TestReceiver&) = delete;

  // A port that nothing listens on (bound once, then released).
  static uint16_t FreePort() {
    TestReceiver probe;
    const uint16_t port = probe.port();
    probe.Stop();
    return port;
  }

  bool listening() const { return fd_ >= 0; }
  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/hook") const {
    return std::string(ssl_ctx_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
           path;
  }

  // The status of every later answer (default 200).
  void SetStatus(int status) { status_.store(status); }
  // Hold each later request this long before answering (0 = answer at once).
  void SetStall(std::chrono::milliseconds stall) { stall_ms_.store(stall.count()); }

  std::vector<Request> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.size();
  }
  // Waits until `pred(requests)` holds or `timeout` passes; returns pred's last value.
  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(requests_); });
  }
  bool WaitForCount(size_t n, std::chrono::milliseconds timeout) {
    return WaitFor([n](const std::vector<Request>& r) { return r.size() >= n; }, timeout);
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    if (accept_thread_.joinable()) accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(connection_threads_);
    }
    for (auto& t : threads) t.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (ssl_ctx_) SSL_CTX_free(ssl_ctx_);
    ssl_ctx_ = nullptr;
  }

 private:
  // Connection sockets never block a thread for longer than this.
  static constexpr int kSocketTimeoutMs = 2000;

  void SetUpTls(const TestCertificate& cert) {
    ssl_ctx_ = SSL_CTX_new(TLS_server_method());
    BIO* kb = BIO_new_mem_buf(cert.key_pem.data(), static_cast<int>(cert.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO* cb = BIO_new_mem_buf(cert.cert_pem.data(), static_cast<int>(cert.cert_pem.size()));
    X509* x = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    SSL_CTX_use_certificate(ssl_ctx_, x);
    SSL_CTX_use_PrivateKey(ssl_ctx_, key);
    X509_free(x);
    EVP_PKEY_free(key);
    BIO_free(kb);
    BIO_free(cb);
  }

  bool stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }

  void AcceptLoop() {
    while (!stopped()) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval tv{kSocketTimeoutMs / 1000, (kSocketTimeoutMs % 1000) * 1000};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      std::lock_guard<std::mutex> lock(mu_);
      connection_threads_.emplace_back([this, c] { Serve(c); });
    }
  }

  // Reads one request, records it, answers (after the stall, if any) and closes.
  void Serve(int fd) {
    SSL* ssl = nullptr;
    if (ssl_ctx_) {
      ssl = SSL_new(ssl_ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) != 1) {
        SSL_free(ssl);
        ::close(fd);
        return;
      }
    }
    auto read_some = [&](char* buf, size_t n) -> long {
      return ssl ? SSL_read(ssl, buf, static_cast<int>(n)) : ::recv(fd, buf, n, 0);
    };
    auto write_all = [&](const std::string& s) {
      size_t off = 0;
      while (off < s.size()) {
        const long w = ssl ? SSL_write(ssl, s.data() + off, static_cast<int>(s.size() - off))
                           : ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (w <= 0) return;
        off += static_cast<size_t>(w);
      }
    };
    std::string data;
    Request req;
    bool complete = false;
    char buf[4096];
    for (;;) {
      const size_t header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos && Parse(data, header_end, &req)) {
        complete = true;
        break;
      }
      const long n = read_some(buf, sizeof(buf));
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
    }
    if (complete) {
      // The answer is fixed by the configuration when the request arrives, before a test
      // waiting for it can change the configuration.
      const int status = status_.load();
      const auto stall = std::chrono::milliseconds(stall_ms_.load());
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(req);
      }
      cv_.notify_all();
      if (stall.count() > 0) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, stall, [&] { return stopped_; });
      }
      const std::string body = status / 100 == 2 ? "ok" : "receiver says no";
      write_all("HTTP/1.1 " + std::to_string(status) + (status / 100 == 2 ? " OK" : " Error") +
                "\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\nConnection: close\r\n\r\n" + body);
    }
    if (ssl) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    ::close(fd);
  }

  // Parses the header block and, once the whole body has arrived, fills `req`.
  static bool Parse(const std::string& data, size_t header_end, Request* req) {
    Request r;
    size_t line_end = data.find("\r\n");
    const std::string request_line = data.substr(0, line_end);
    const size_t sp1 = request_line.find(' ');
    const size_t sp2 = request_line.find(' ', sp1 + 1);
    r.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = line_end + 2;
    while (pos < header_end) {
      line_end = data.find("\r\n", pos);
      const std::string line = data.substr(pos, line_end - pos);
      const size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
      pos = line_end + 2;
    }
    const size_t length =
        r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    if (data.size() < header_end + 4 + length) return false;
    r.body = data.substr(header_end + 4, length);
    r.head = data.substr(0, header_end);
    *req = std::move(r);
    return true;
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  SSL_CTX* ssl_ctx_ = nullptr;
  std::atomic<int> status_{200};
  std::atomic<int64_t> stall_ms_{0};
  std::thread accept_thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::vector<Request> requests_;
  std::vector<std::thread> connection_threads_;
};

}  // namespace meterd::testing
