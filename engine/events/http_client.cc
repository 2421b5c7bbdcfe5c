// meterd — engine/events/http_client.cc
#include "engine/events/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <functional>
#include <type_traits>

namespace meterd::engine::events {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// Limits that keep a hostile or broken receiver from costing memory: URLs longer than 2 KiB
// are not webhook endpoints; 16 KiB of an error response is plenty to explain it, and only
// the first 200 characters go into the delivery log.
constexpr size_t kMaxUrlLength = 2048;
constexpr size_t kMaxResponseBody = 16 * 1024;
constexpr size_t kMaxErrorSnippet = 200;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    const char y = (b[i] >= 'A' && b[i] <= 'Z') ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

bool ValidHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

// Printable ASCII of a response body, for the delivery log's error text.
std::string Snippet(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, kMaxErrorSnippet)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// One POST, driven by handlers on the client's io_context. A single timer enforces the
// deadline: it cancels the resolver and closes the socket, so whichever operation is pending
// completes with an error and the chain ends. Every handler runs on the Post thread.
template <bool kTls>
class Attempt {
 public:
  using Stream = std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  Attempt(asio::io_context& ioc, ssl::context* tls, const Url& url,
          http::request<http::string_body>* request)
      : url_(url), request_(request), resolver_(ioc), timer_(ioc), stream_(MakeStream(ioc, tls)) {
    parser_.body_limit(kMaxResponseBody);
  }

  void Start(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([this, timeout](beast::error_code ec) {
      if (!ec) Abort("timed out after " + std::to_string(timeout.count()) + " ms");
    });
    resolver_.async_resolve(
        url_.host, std::to_string(url_.port),
        [this](beast::error_code ec, const tcp::resolver::results_type& results) {
          OnResolve(ec, results);
        });
  }

  // Ends the attempt with `why` as its error (a timeout or a cancellation).
  void Abort(std::string why) {
    if (done_) return;
    if (abort_reason_.empty()) abort_reason_ = std::move(why);
    resolver_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  const HttpOutcome& outcome() const { return outcome_; }

 private:
  static Stream MakeStream(asio::io_context& ioc, ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(ioc, *tls);
    } else {
      return Stream(ioc);
    }
  }

  void OnResolve(beast::error_code ec, const tcp::resolver::results_type& results) {
    if (ec) return Fail("resolve " + url_.host, ec);
    beast::get_lowest_layer(stream_).async_connect(
        results, [this](beast::error_code ec, const tcp::endpoint&) { OnConnect(ec); });
  }

  void OnConnect(beast::error_code ec) {
    if (ec) return Fail("connect", ec);
    if constexpr (kTls) {
      SSL* ssl = stream_.native_handle();
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      beast::error_code not_ip;
      asio::ip::make_address(url_.host, not_ip);
      int set = 0;
      if (not_ip) {
        // A name: send it as SNI and require it in the certificate (no partial wildcards).
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        set = SSL_set_tlsext_host_name(ssl, url_.host.c_str()) == 1 &&
              X509_VERIFY_PARAM_set1_host(param, url_.host.c_str(), 0) == 1;
      } else {
        set = X509_VERIFY_PARAM_set1_ip_asc(param, url_.host.c_str()) == 1;
      }
      if (!set) {
        outcome_.error = "tls: cannot set the expected peer name";
        return Finish();
      }
      stream_.async_handshake(ssl::stream_base::client,
                              [this](beast::error_code ec) { OnHandshake(ec); });
    } else {
      Send();
    }
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) return Fail("tls handshake", ec);
    Send();
  }

  void Send() {
    http::async_write(stream_, *request_, [this](beast::error_code ec, size_t) { OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    if (ec) return Fail("send request", ec);
    http::async_read_header(stream_, buffer_, parser_,
                            [this](beast::error_code ec, size_t) { OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return Fail("read response", ec);
    outcome_.status = static_cast<int>(parser_.get().result_int());
    if (outcome_.status >= 200 && outcome_.status < 300) return Finish();
    // Not delivered: read some of the body to say why (best effort, same deadline).
    http::async_read(stream_, buffer_, parser_,
                     [this](beast::error_code, size_t) { OnErrorBody(); });
  }

  void OnErrorBody() {
    const auto& response = parser_.get();
    outcome_.error = "HTTP " + std::to_string(outcome_.status);
    const std::string reason(response.reason());
    if (!reason.empty()) outcome_.error += " " + reason;
    const std::string snippet = Snippet(response.body());
    if (!snippet.empty()) outcome_.error += ": " + snippet;
    Finish();
  }

  void Fail(const std::string& what, beast::error_code ec) {
    outcome_.error = abort_reason_.empty() ? what + ": " + ec.message() : abort_reason_;
    Finish();
  }

  void Finish() {
    done_ = true;
    timer_.cancel();
    resolver_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  const Url& url_;
  http::request<http::string_body>* const request_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  Stream stream_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  HttpOutcome outcome_;
  std::string abort_reason_;
  bool done_ = false;
};

}  // namespace

std::string Url::HostHeader() const {
  std::string out = host.find(':') == std::string::npos ? host : "[" + host + "]";
  if (port != (tls ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

Result<Url> ParseUrl(std::string_view url) {
  if (url.size() > kMaxUrlLength) return Status::InvalidArgument("URL is longer than 2048 bytes");
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Status::InvalidArgument("URL contains whitespace or a control character");
    }
  }
  Url out;
  const size_t scheme_end = url.find("://");
  const std::string_view scheme =
      scheme_end == std::string_view::npos ? std::string_view() : url.substr(0, scheme_end);
  if (EqualsIgnoreCase(scheme, "http")) {
    out.tls = false;
  } else if (EqualsIgnoreCase(scheme, "https")) {
    out.tls = true;
  } else {
    return Status::InvalidArgument("URL must start with http:// or https://");
  }
  std::string_view rest = url.substr(scheme_end + 3);
  const size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view tail =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return Status::InvalidArgument("URL must not carry user information (user:password@)");
  }
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status::InvalidArgument("URL: unclosed [");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Status::InvalidArgument("URL: junk after ]");
      port = after.substr(1);
    }
    beast::error_code ec;
    const auto address = asio::ip::make_address(std::string(host), ec);
    if (ec || !address.is_v6()) {
      return Status::InvalidArgument("URL: [" + std::string(host) + "] is not an IPv6 address");
    }
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    for (char c : host) {
      if (!ValidHostChar(c)) {
        return Status::InvalidArgument("URL: invalid character in host '" + std::string(host) +
                                       "'");
      }
    }
  }
  if (host.empty()) return Status::InvalidArgument("URL has no host");
  out.host = std::string(host);
  if (port.empty()) {
    out.port = out.tls ? 443 : 80;
  } else {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return Status::InvalidArgument("URL: invalid port '" + std::string(port) + "'");
    }
    out.port = static_cast<uint16_t>(value);
  }
  tail = tail.substr(0, tail.find('#'));
  if (tail.empty()) {
    out.target = "/";
  } else if (tail.front() == '?') {
    out.target = "/" + std::string(tail);
  } else {
    out.target = std::string(tail);
  }
  return out;
}

struct HttpClient::Impl {
  explicit Impl(HttpClientOptions o) : options(std::move(o)) {}

  // The TLS context, made on the first https attempt (so an http-only dispatcher never reads
  // the CA store). Returns an error text, empty on success.
  std::string EnsureTls() {
    if (tls) return {};
    try {
      auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
      SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
      beast::error_code ec;
      ctx->set_default_verify_paths(ec);
      if (ec) return "tls: cannot load the system CA store: " + ec.message();
      if (!options.ca_file.empty()) {
        ctx->load_verify_file(options.ca_file, ec);
        if (ec) return "tls: cannot load CA file " + options.ca_file + ": " + ec.message();
      }
      ctx->set_verify_mode(ssl::verify_peer, ec);
      if (ec) return "tls: " + ec.message();
      tls = std::move(ctx);
      return {};
    } catch (const std::exception& e) {
      return std::string("tls: ") + e.what();
    }
  }

  template <bool kTls>
  HttpOutcome Run(const Url& url, http::request<http::string_body>* request,
                  std::chrono::milliseconds timeout) {
    ioc.restart();
    Attempt<kTls> attempt(ioc, tls.get(), url, request);
    abort = [&attempt](std::string why) { attempt.Abort(std::move(why)); };
    attempt.Start(timeout);
    if (cancelled.load()) attempt.Abort("cancelled");
    // Runs until the attempt and its timer have finished. A handler that throws (only
    // std::bad_alloc can) ends the attempt; the loop then drains what is left.
    for (;;) {
      try {
        ioc.run();
        break;
      } catch (const std::exception& e) {
        attempt.Abort(std::string("http client: ") + e.what());
        ioc.restart();
      }
    }
    abort = nullptr;
    return attempt.outcome();
  }

  HttpClientOptions options;
  asio::io_context ioc{1};
  std::unique_ptr<ssl::context> tls;
  std::atomic<bool> cancelled{false};
  // Aborts the attempt in progress; set and used only on the Post thread (inside ioc.run).
  std::function<void(std::string)> abort;
};

HttpClient::HttpClient(HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpClient::~HttpClient() = default;

HttpOutcome HttpClient::Post(const Url& url, const Headers& headers, std::string body,
                             std::chrono::milliseconds timeout) {
  HttpOutcome out;
  if (impl_->cancelled.load()) {
    out.error = "cancelled";
    return out;
  }
  try {
    http::request<http::string_body> request{http::verb::post, url.target, 11};
    request.set(http::field::host, url.HostHeader());
    for (const auto& [name, value] : headers) request.set(name, value);
    request.set(http::field::connection, "close");
    request.body() = std::move(body);
    request.prepare_payload();
    if (url.tls) {
      out.error = impl_->EnsureTls();
      if (!out.error.empty()) return out;
      return impl_->Run<true>(url, &request, timeout);
    }
    return impl_->Run<false>(url, &request, timeout);
  } catch (const std::exception& e) {
    out.error = std::string("http client: ") + e.what();
    return out;
  }
}

void HttpClient::Cancel() {
  impl_->cancelled.store(true);
  // Runs on the Post thread inside ioc.run(): either now, during an attempt, or at the start
  // of the next one (which the cancelled flag refuses anyway).
  asio::post(impl_->ioc, [impl = impl_.get()] {
    if (impl->abort) impl->abort("cancelled");
  });
}

}  // namespace meterd::engine::events
