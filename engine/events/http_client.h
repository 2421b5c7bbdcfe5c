// meterd — engine/events/http_client.h
//
// HttpClient: one HTTP/1.1 POST at a time to an http:// or https:// URL (Boost.Beast over
// Asio; TLS 1.2+ through OpenSSL, the peer verified against the system CA store, plus an
// optional extra PEM bundle, and its name or IP address checked against the certificate).
// One deadline covers the whole attempt: resolve, connect, TLS handshake, sending the request
// and reading the response header (and, for a non-2xx answer, up to 16 KiB of its body for the
// error text). A fresh connection per attempt; redirects are not followed.
//
// Thread-safety: Post from one thread at a time (it runs the client's private io_context on
// the calling thread); Cancel from any thread. No exception escapes: every failure is an
// HttpOutcome with an error text. Used by the webhook dispatcher, one client per worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/base/result.h"

namespace meterd::engine::events {

// An absolute http:// or https:// URL, split for the client.
struct Url {
  bool tls = false;                // https
  std::string host;                // a name, an IPv4 address or an IPv6 address (without brackets)
  uint16_t port = 0;               // 80 or 443 unless given
  std::string target;              // path and query, at least "/" (the fragment is dropped)
  std::string HostHeader() const;  // "host" or "host:port" when the port is not the default
};

// Parses and validates a webhook URL: scheme http or https, a host, an optional port
// (1-65535), no user information, no whitespace or control characters, at most 2048 bytes.
Result<Url> ParseUrl(std::string_view url);

struct HttpOutcome {
  int status = 0;     // the HTTP status received; 0 when none was
  std::string error;  // empty when the status is 2xx
  bool ok() const { return error.empty(); }
};

struct HttpClientOptions {
  // A PEM file of CA certificates trusted in addition to the system store (tests, private CAs).
  std::string ca_file;
};

class HttpClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` with `headers` (Host, Content-Length and Connection are set by the client)
  // and waits at most `timeout` for the response header.
  HttpOutcome Post(const Url& url, const Headers& headers, std::string body,
                   std::chrono::milliseconds timeout);

  // Aborts the attempt in progress, if any, and makes every later Post fail at once with
  // "cancelled". Sticky: a cancelled client is done.
  void Cancel();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meterd::engine::events
