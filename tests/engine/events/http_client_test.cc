// meterd — tests/engine/events/http_client_test.cc: URL parsing and single POST attempts
// against a local receiver (HTTP and HTTPS).
#include "engine/events/http_client.h"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "tests/engine/events/test_receiver.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::events {
namespace http_client_test {

using std::chrono::milliseconds;
using testing::TestCertificate;
using testing::TestReceiver;

const HttpClient::Headers kHeaders = {{"Content-Type", "application/json"},
                                      {"User-Agent", "meterd"}};

TEST(ParseUrlTest, SplitsAndDefaults) {
  auto u = ParseUrl("http://example.com");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(u->HostHeader(), "example.com");

  u = ParseUrl("https://hooks.example.com:8443/a/b?x=1&y=2#frag");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/a/b?x=1&y=2");
  EXPECT_EQ(u->HostHeader(), "hooks.example.com:8443");

  u = ParseUrl("https://[::1]/x");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->HostHeader(), "[::1]");

  u = ParseUrl("http://h?q");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->target, "/?q");
}

TEST(ParseUrlTest, Refuses) {
  for (const char* url :
       {"", "h/x", "ftp://h/", "http://", "http://:80/", "http://u@h/", "http://h:65536/",
        "http://h:8x/", "http://h/\n", "http://[::1", "http://[::1]x/", "http://[1.2.3.4]/"}) {
    EXPECT_FALSE(ParseUrl(url).ok()) << url;
  }
  EXPECT_FALSE(ParseUrl("http://h/" + std::string(3000, 'a')).ok());
}

TEST(HttpClientTest, PostsAndReadsTheStatus) {
  TestReceiver receiver;
  ASSERT_TRUE(receiver.listening());
  HttpClient client;
  auto url = ParseUrl(receiver.url("/hook?x=1"));
  ASSERT_TRUE(url.ok());
  HttpOutcome out = client.Post(*url, kHeaders, R"({"a":1})", milliseconds(2000));
  EXPECT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.status, 200);
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/hook?x=1");
  EXPECT_EQ(requests[0].body, R"({"a":1})");
  EXPECT_EQ(requests[0].headers["content-type"], "application/json");
  EXPECT_EQ(requests[0].headers["user-agent"], "meterd");
  EXPECT_EQ(requests[0].headers["host"], "127.0.0.1:" + std::to_string(receiver.port()));

  receiver.SetStatus(500);
  out = client.Post(*url, kHeaders, "{}", milliseconds(2000));
  EXPECT_FALSE(out.ok());
  EXPECT_EQ(out.status, 500);
  EXPECT_EQ(out.error, "HTTP 500 Error: receiver says no");
}

TEST(HttpClientTest, ConnectionRefused) {
  HttpClient client;
  auto url = ParseUrl("http://127.0.0.1:" + std::to_string(TestReceiver::FreePort()) + "/");
  ASSERT_TRUE(url.ok());
  HttpOutcome out = client.Post(*url, kHeaders, "{}", milliseconds(2000));
  EXPECT_FALSE(out.ok());
  EXPECT_EQ(out.status, 0);
  EXPECT_NE(out.error.find("connect"), std::string::npos) << out.error;
}

TEST(HttpClientTest, TimesOutOnAStalledReceiver) {
  TestReceiver receiver;
  receiver.SetStall(milliseconds(3000));
  HttpClient client;
  auto url = ParseUrl(receiver.url());
  const auto start = std::chrono::steady_clock::now();
  HttpOutcome out = client.Post(*url, kHeaders, "{}", milliseconds(200));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(out.ok());
  EXPECT_EQ(out.error, "timed out after 200 ms");
  EXPECT_GE(took, milliseconds(190));
  EXPECT_LT(took, milliseconds(1500));
}

TEST(HttpClientTest, CancelAbortsTheAttemptInFlightAndLaterOnes) {
  TestReceiver receiver;
  receiver.SetStall(milliseconds(3000));
  HttpClient client;
  auto url = ParseUrl(receiver.url());
  std::thread canceller([&] {
    receiver.WaitForCount(1, milliseconds(2000));
    client.Cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  HttpOutcome out = client.Post(*url, kHeaders, "{}", milliseconds(5000));
  canceller.join();
  EXPECT_EQ(out.error, "cancelled");
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2500));
  EXPECT_EQ(client.Post(*url, kHeaders, "{}", milliseconds(5000)).error, "cancelled");
}

class HttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = TestCertificate::Make();
    ca_file_ = dir_.path() + "/ca.pem";
    std::ofstream(ca_file_) << cert_.cert_pem;
  }
  testing::TempDir dir_;
  TestCertificate cert_;
  std::string ca_file_;
};

TEST_F(HttpsTest, PostsOverTlsWhenTheCertificateIsTrusted) {
  TestReceiver receiver(0, &cert_);
  ASSERT_TRUE(receiver.listening());
  HttpClient client(HttpClientOptions{.ca_file = ca_file_});
  auto url = ParseUrl(receiver.url());
  ASSERT_TRUE(url.ok());
  ASSERT_TRUE(url->tls);
  HttpOutcome out = client.Post(*url, kHeaders, R"({"tls":true})", milliseconds(3000));
  EXPECT_TRUE(out.ok()) << out.error;
  ASSERT_EQ(receiver.count(), 1u);
  EXPECT_EQ(receiver.requests()[0].body, R"({"tls":true})");
}

TEST_F(HttpsTest, RefusesAnUntrustedCertificate) {
  TestReceiver receiver(0, &cert_);
  HttpClient client;  // the system store only: the test certificate is unknown to it
  auto url = ParseUrl(receiver.url());
  HttpOutcome out = client.Post(*url, kHeaders, "{}", milliseconds(3000));
  EXPECT_FALSE(out.ok());
  EXPECT_NE(out.error.find("tls handshake"), std::string::npos) << out.error;
  EXPECT_NE(out.error.find("certificate verify failed"), std::string::npos) << out.error;
  EXPECT_EQ(receiver.count(), 0u);
}

TEST_F(HttpsTest, RefusesACertificateForAnotherAddress) {
  TestReceiver receiver(0, &cert_);  // the certificate names 127.0.0.1 only
  HttpClient client(HttpClientOptions{.ca_file = ca_file_});
  auto url = ParseUrl("https://localhost:" + std::to_string(receiver.port()) + "/");
  HttpOutcome out = client.Post(*url, kHeaders, "{}", milliseconds(3000));
  EXPECT_FALSE(out.ok());
  EXPECT_EQ(receiver.count(), 0u);
}

}  // namespace http_client_test
}  // namespace meterd::engine::events
