// meterd — tests/engine/events/signature_test.cc: X-Meterd-Signature, including the worked
// example of docs/events.md.
#include "engine/events/signature.h"

#include <gtest/gtest.h>

namespace meterd::engine::events {
namespace signature_test {

// The worked example in docs/events.md ("Verifying a delivery"); cross-checked there with
// `printf '%s' "1767225600.$BODY" | openssl dgst -sha256 -hmac "$SECRET"`.
constexpr std::string_view kDocSecret =
    "whsec_5f0c6c1bd0a64b7bb2a1e0c94e6f3f0d9a8e7b6c5d4e3f2a1b0c9d8e7f6a5b4c";
constexpr int64_t kDocTimestamp = 1767225600;  // 2026-01-01T00:00:00Z
constexpr std::string_view kDocBody =
    R"({"id":42,"kind":"negative","account":"acme","at":1767222000,)"
    R"("payload":{"balance":"-1.500000","threshold":"0"}})";
constexpr std::string_view kDocHex =
    "6168adf55645000430284e9607b73236b510bd89b141713dd2429ca3c645d8a7";

TEST(SignatureTest, MatchesTheDocumentedExample) {
  auto hex = SignatureHex(kDocSecret, kDocTimestamp, kDocBody);
  ASSERT_TRUE(hex.ok());
  EXPECT_EQ(*hex, kDocHex);
  auto header = SignatureHeaderValue(kDocSecret, kDocTimestamp, kDocBody);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(*header, "t=1767225600,v1=" + std::string(kDocHex));
}

TEST(SignatureTest, KnownHmacVector) {
  // HMAC-SHA256("key", "0.The quick brown fox jumps over the lazy dog"), from openssl dgst.
  auto hex = SignatureHex("key", 0, "The quick brown fox jumps over the lazy dog");
  ASSERT_TRUE(hex.ok());
  EXPECT_EQ(*hex, "8511f28f7a1949f0c42772b447d68b2daf760f5f0439a20a17e3b4e7cd395763");
  EXPECT_NE(*hex, *SignatureHex("key", 1, "The quick brown fox jumps over the lazy dog"));
}

TEST(SignatureTest, VerifiesWithTheSecretAndFailsWithAnother) {
  const std::string body = R"({"id":1,"kind":"negative"})";
  const int64_t t = 1700000000;
  auto header = SignatureHeaderValue("the-right-secret-123", t, body);
  ASSERT_TRUE(header.ok());
  EXPECT_TRUE(VerifySignature(*header, body, "the-right-secret-123", t).ok());
  EXPECT_TRUE(VerifySignature(*header, body, "the-right-secret-123", t + 299).ok());
  Status wrong = VerifySignature(*header, body, "another-secret-4567", t);
  EXPECT_EQ(wrong.code(), Status::Code::kUnauthenticated) << wrong.ToString();
  Status tampered = VerifySignature(*header, body + " ", "the-right-secret-123", t);
  EXPECT_EQ(tampered.code(), Status::Code::kUnauthenticated);
}

TEST(SignatureTest, RejectsTimestampsOutsideTheTolerance) {
  const std::string body = "{}";
  auto header = SignatureHeaderValue("s3cr3t-s3cr3t-s3cr3t", 1000, body);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(VerifySignature(*header, body, "s3cr3t-s3cr3t-s3cr3t", 1000 + 301).code(),
            Status::Code::kUnauthenticated);
  EXPECT_EQ(VerifySignature(*header, body, "s3cr3t-s3cr3t-s3cr3t", 1000 - 301).code(),
            Status::Code::kUnauthenticated);
  EXPECT_TRUE(VerifySignature(*header, body, "s3cr3t-s3cr3t-s3cr3t", 99999, /*tolerance=*/0).ok());
}

TEST(SignatureTest, AcceptsAnyOfSeveralV1AndIgnoresUnknownElements) {
  const std::string body = "{}";
  auto good = SignatureHex("s3cr3t-s3cr3t-s3cr3t", 5, body);
  ASSERT_TRUE(good.ok());
  const std::string header = "t=5, v0=abc, v1=" + std::string(64, '0') + ",v1=" + *good;
  EXPECT_TRUE(VerifySignature(header, body, "s3cr3t-s3cr3t-s3cr3t", 5).ok());
}

TEST(SignatureTest, MalformedHeaders) {
  for (const char* h : {"", "v1=00", "t=5", "t=abc,v1=00", "t=5x,v1=00"}) {
    EXPECT_TRUE(VerifySignature(h, "{}", "secret", 5).IsInvalidArgument()) << h;
  }
}

TEST(SignatureTest, HexEncode) {
  EXPECT_EQ(HexEncode(std::string("\x00\x01\xab\xff", 4)), "0001abff");
  EXPECT_EQ(HexEncode(""), "");
}

}  // namespace signature_test
}  // namespace meterd::engine::events
