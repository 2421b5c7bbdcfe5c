// meterd — net/server/tls_context.h
//
// The server side of TLS for both ports (the binary protocol's and HTTP's): TLS 1.2 and later
// with OpenSSL's default ciphers for those, a PEM certificate chain and its private key, and
// optionally a CA file: then every client must present a certificate that CA signed, or the
// handshake fails (mutual TLS). Built once at start; a file that cannot be used is a clear error
// and the server does not start.
//
// Thread-safety: the returned context is read-only once built and shared by every connection.
#pragma once

#include <memory>
#include <string>
#include <string_view>

// clang-format off
#include "net/asio.h"
#include <boost/asio/ssl.hpp>
// clang-format on

#include "storage/base/result.h"

namespace meterd::net {

struct TlsFiles {
  std::string cert_file;       // PEM certificate chain
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM CA(s) that sign client certificates; empty: none asked
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
  // Any TLS flag given: the files must then make a context (a client CA alone is an error).
  bool requested() const { return enabled() || !client_ca_file.empty(); }
};

// `port` names the port in errors ("the binary port", "HTTPS"). InvalidArgument when only one
// of cert and key is given, a file cannot be read, the key does not match the certificate, or a
// client CA is given without TLS.
Result<std::unique_ptr<boost::asio::ssl::context>> MakeServerTlsContext(const TlsFiles& files,
                                                                        std::string_view port);

}  // namespace meterd::net
