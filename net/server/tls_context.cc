// meterd — net/server/tls_context.cc
#include "net/server/tls_context.h"

#include <openssl/ssl.h>

namespace meterd::net {

namespace ssl = boost::asio::ssl;

Result<std::unique_ptr<ssl::context>> MakeServerTlsContext(const TlsFiles& files,
                                                           std::string_view port) {
  const std::string where(port);
  if (!files.enabled()) {
    if (!files.client_ca_file.empty()) {
      return Status::InvalidArgument(where + ": a client CA needs TLS (a certificate and a key)");
    }
    return Status::InvalidArgument(where + ": TLS needs a certificate and a key file");
  }
  if (files.cert_file.empty() || files.key_file.empty()) {
    return Status::InvalidArgument(where + ": TLS needs both a certificate and a key file");
  }
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  if (!ec) ctx->use_certificate_chain_file(files.cert_file, ec);
  if (ec) {
    return Status::InvalidArgument(where + ": cannot use the certificate " + files.cert_file +
                                   ": " + ec.message());
  }
  ctx->use_private_key_file(files.key_file, ssl::context::pem, ec);
  if (ec) {
    return Status::InvalidArgument(where + ": cannot use the key " + files.key_file + ": " +
                                   ec.message());
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return Status::InvalidArgument(where + ": the key " + files.key_file +
                                   " does not match the certificate " + files.cert_file);
  }
  if (!files.client_ca_file.empty()) {
    ctx->load_verify_file(files.client_ca_file, ec);
    if (ec) {
      return Status::InvalidArgument(where + ": cannot use the client CA " + files.client_ca_file +
                                     ": " + ec.message());
    }
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return Status::InvalidArgument(where + ": " + ec.message());
  }
  return ctx;
}

}  // namespace meterd::net
