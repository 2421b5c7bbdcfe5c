// meterd — engine/events/signature.cc
#include "engine/events/signature.h"
#include "engine/events/blanks.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <charconv>
#include <memory>
#include <optional>
#include <vector>

namespace meterd::engine::events {
namespace {

struct MacDeleter {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

Result<std::string> HmacSha256(std::string_view key, std::string_view message) {
  std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return Status::IOError("openssl: HMAC is not available");
  std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) return Status::IOError("openssl: cannot create an HMAC context");
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  // An empty key is legal for HMAC; OpenSSL wants a non-null pointer for it.
  static const unsigned char kEmpty = 0;
  const auto* key_bytes =
      key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t out_len = 0;
  if (EVP_MAC_init(ctx.get(), key_bytes, key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out, &out_len, sizeof(out)) != 1) {
    return Status::IOError("openssl: HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(out), out_len);
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

Result<std::string> SignatureHex(std::string_view secret, int64_t timestamp,
                                 std::string_view body) {
  std::string message = std::to_string(timestamp);
  message.push_back('.');
  message.append(body);
  METERD_ASSIGN_OR_RETURN(std::string mac, HmacSha256(secret, message));
  return HexEncode(mac);
}

Result<std::string> SignatureHeaderValue(std::string_view secret, int64_t timestamp,
                                         std::string_view body) {
  METERD_ASSIGN_OR_RETURN(std::string hex, SignatureHex(secret, timestamp, body));
  return "t=" + std::to_string(timestamp) + ",v1=" + hex;
}

Status VerifySignature(std::string_view header_value, std::string_view body,
                       std::string_view secret, int64_t now, int64_t tolerance) {
  std::optional<int64_t> t;
  std::vector<std::string_view> candidates;
  std::string_view rest = header_value;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = TrimBlanks(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;  // unknown element: ignore (forward compat.)
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (key == "t") {
      int64_t parsed = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
      if (ec != std::errc() || end != value.data() + value.size()) {
        return Status::InvalidArgument("signature header: t is not an integer");
      }
      t = parsed;
    } else if (key == "v1") {
      candidates.push_back(value);
    }
  }
  if (!t) return Status::InvalidArgument("signature header: no t= element");
  if (candidates.empty()) return Status::InvalidArgument("signature header: no v1= element");
  METERD_ASSIGN_OR_RETURN(std::string expected, SignatureHex(secret, *t, body));
  bool match = false;
  for (std::string_view c : candidates) {
    // Every candidate is compared in full (no early exit on the first match), and each
    // comparison takes a time independent of where the digits differ.
    if (c.size() == expected.size() && CRYPTO_memcmp(c.data(), expected.data(), c.size()) == 0) {
      match = true;
    }
  }
  if (!match) return Status::Unauthenticated("signature does not match");
  if (tolerance > 0 && (*t > now + tolerance || *t < now - tolerance)) {
    return Status::Unauthenticated("signature timestamp is outside the tolerance");
  }
  return Status::OK();
}

}  // namespace meterd::engine::events
