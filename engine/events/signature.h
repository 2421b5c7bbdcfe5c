// meterd — engine/events/signature.h
//
// Webhook request signatures (docs/events.md, "Verifying a delivery"). Every delivery carries
//
//   X-Meterd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// where the HMAC key is the webhook secret's bytes exactly as Add returned them, `body` is the
// request body byte for byte, and the hex is lower case (64 digits). Each attempt is signed
// afresh with its own t; the body of every attempt of one event is identical. A receiver
// checks the HMAC in constant time and rejects a t outside its tolerance (replay guard).
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/base/result.h"

namespace meterd::engine::events {

inline constexpr std::string_view kSignatureHeader = "X-Meterd-Signature";
inline constexpr std::string_view kEventIdHeader = "X-Meterd-Event-Id";
// How far a receiver should accept t from its own clock, by default: five minutes covers
// clock skew and a slow network, and bounds how long a captured request can be replayed.
inline constexpr int64_t kDefaultSignatureTolerance = 300;

// Lower-case hex of HMAC-SHA256(secret, "<timestamp>.<body>").
Result<std::string> SignatureHex(std::string_view secret, int64_t timestamp, std::string_view body);

// The whole header value: "t=<timestamp>,v1=<SignatureHex>".
Result<std::string> SignatureHeaderValue(std::string_view secret, int64_t timestamp,
                                         std::string_view body);

// Verifies a received X-Meterd-Signature header value against the body and the secret.
// OK when some v1 entry matches (compared in constant time) and |now - t| <= tolerance
// (tolerance <= 0 skips the time check). InvalidArgument for a malformed header,
// Unauthenticated for a wrong signature or a timestamp outside the tolerance.
Status VerifySignature(std::string_view header_value, std::string_view body,
                       std::string_view secret, int64_t now,
                       int64_t tolerance = kDefaultSignatureTolerance);

// Lower-case hex of `bytes`.
std::string HexEncode(std::string_view bytes);

}  // namespace meterd::engine::events
