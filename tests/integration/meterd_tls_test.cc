// meterd — tests/integration/meterd_tls_test.cc
//
// TLS on the binary port, end to end on the real meterd (--tls-cert, --tls-key, and
// --tls-client-ca for client certificates), with self-signed certificates this test makes with
// openssl: the C++ client ingests and exports over TLS, meterctl and meter-agent connect with
// --tls-ca; a plain client, a client that does not trust the server's certificate, and (when
// client certificates are asked for) a client without one or with a certificate the server does
// not trust all fail; bad TLS flags stop meterd (exit 2) before it opens anything in its data
// directory.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

class MeterdTlsTest : public MeterdTest {
 protected:
  void SetUp() override {
    if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl";
    MakeCertificates();
    StartServer(ServerFlags());
  }
  virtual std::vector<std::string> ServerFlags() const {
    return {"--tls-cert", Pem("server"), "--tls-key", Key("server")};
  }
  void MakeCertificates() {
    // EC keys: generated in milliseconds, where RSA takes a noticeable part of a second.
    for (const char* name : {"server", "client", "stranger"}) {
      const std::string base = tmp_.path() + "/" + name;
      const std::string cmd =
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
          "-subj /CN=" +
          std::string(name) + " -addext subjectAltName=IP:127.0.0.1 -keyout " + base +
          ".key -out " + base + ".pem >" + base + ".log 2>&1";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << "see " << base << ".log";
    }
  }
  std::string Pem(const std::string& name) const { return tmp_.path() + "/" + name + ".pem"; }
  std::string Key(const std::string& name) const { return tmp_.path() + "/" + name + ".key"; }

  // The fixture's admin client, over TLS trusting `ca` (and presenting `cert` when given).
  net::ClientOptions Tls(const std::string& ca, const std::string& cert = "") const {
    net::ClientOptions o = Options(server_.admin_key());
    o.use_tls = true;
    o.tls.ca_file = ca;
    if (!cert.empty()) {
      o.tls.cert_file = Pem(cert);
      o.tls.key_file = Key(cert);
    }
    o.connect_timeout = std::chrono::milliseconds(5000);
    o.reconnect_attempts = 0;
    return o;
  }
  Status ConnectWith(const net::ClientOptions& o) {
    net::Client c(o);
    return c.Connect();
  }
  CommandResult MeterctlTls(const std::string& tls, const std::string& args) {
    return RunMeterctl("--server 127.0.0.1:" + std::to_string(server_.port()) + " --key " +
                       server_.admin_key() + " " + tls + " " + args);
  }
};

TEST_F(MeterdTlsTest, IngestAndExportOverTls) {
  net::Client c(Tls(Pem("server")));
  ASSERT_TRUE(c.Connect().ok());
  EXPECT_EQ(c.role(), wire::Role::Admin);
  ASSERT_TRUE(c.DefineSeries({{"vm-tls", "vm.vcpus"}}).ok());
  const uint64_t id = net::SeriesIdOf("vm-tls", "vm.vcpus");
  const int64_t t0 = UnixNow() - 1300;
  // Larger than one TLS record (16 KiB), so frames span records on both sides.
  net::IngestBatchData b;
  b.sequence = 1;
  b.base_time = t0;
  for (uint32_t i = 0; i < 1200; ++i) {
    b.series.push_back(id);
    b.offsets.push_back(i);
    b.values.push_back(1 + i % 7);
  }
  uint32_t accepted = 0;
  c.set_ack_callback([&](const net::IngestAckInfo& a) { accepted += a.accepted; });
  ASSERT_TRUE(c.SendBatch(1, net::BuildIngestFrame(b)).ok());
  ASSERT_TRUE(c.Drain().ok());
  EXPECT_EQ(accepted, 1200u);
  const auto exported = ExportAll(&c, t0, t0 + 1200, "vm-tls", "vm.vcpus");
  ASSERT_EQ(exported.size(), 1200u);
  for (uint32_t i = 0; i < 1200; ++i) {
    EXPECT_EQ(exported[i].ts, t0 + i);
    EXPECT_EQ(exported[i].value, 1 + i % 7);
  }

  // meterctl and meter-agent with --tls-ca.
  CommandResult stats = MeterctlTls("--tls-ca " + Pem("server"), "stats --format json");
  EXPECT_EQ(stats.exit_code, 0) << stats.out << stats.err;
  EXPECT_NE(stats.out.find("series"), std::string::npos) << stats.out;
  const std::string agent =
      std::string(METER_AGENT_BIN) + " --server 127.0.0.1:" + std::to_string(server_.port()) +
      " --key " + server_.admin_key() + " --tls-ca " + Pem("server") +
      " --simulate 2 --duration 1 --quiet > " + tmp_.path() + "/agent.out 2>&1";
  EXPECT_EQ(std::system(agent.c_str()), 0) << "see " << tmp_.path() << "/agent.out";
}

TEST_F(MeterdTlsTest, APlainOrUntrustingClientIsRefused) {
  // Plain TCP to the TLS port: the server reads a Hello as a broken handshake and closes.
  net::ClientOptions plain = Options(server_.admin_key());
  plain.reconnect_attempts = 0;
  plain.request_timeout = std::chrono::milliseconds(5000);
  EXPECT_FALSE(ConnectWith(plain).ok());
  // A client that trusts another certificate: verification fails, with the reason.
  Status st = ConnectWith(Tls(Pem("stranger")));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("certificate"), std::string::npos) << st.ToString();
  CommandResult wrong = MeterctlTls("--tls-ca " + Pem("stranger"), "stats");
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("TLS handshake"), std::string::npos) << wrong.err;
  CommandResult none = MeterctlTls("", "stats");
  EXPECT_NE(none.exit_code, 0);
  // The server goes on serving TLS clients after all that.
  EXPECT_TRUE(ConnectWith(Tls(Pem("server"))).ok());
}

// The server asks for client certificates signed by "client" (self-signed: its own CA).
class MeterdMutualTlsTest : public MeterdTlsTest {
 protected:
  std::vector<std::string> ServerFlags() const override {
    return {"--tls-cert",  Pem("server"),     "--tls-key",
            Key("server"), "--tls-client-ca", Pem("client")};
  }
};

TEST_F(MeterdMutualTlsTest, ClientCertificatesWhenAskedFor) {
  EXPECT_FALSE(ConnectWith(Tls(Pem("server"))).ok());              // no certificate
  EXPECT_FALSE(ConnectWith(Tls(Pem("server"), "stranger")).ok());  // one not trusted
  EXPECT_TRUE(ConnectWith(Tls(Pem("server"), "client")).ok());
  CommandResult with = MeterctlTls(
      "--tls-ca " + Pem("server") + " --tls-cert " + Pem("client") + " --tls-key " + Key("client"),
      "stats");
  EXPECT_EQ(with.exit_code, 0) << with.err;
}

TEST_F(MeterdTlsTest, BadTlsFlagsStopTheStart) {
  server_.Stop();
  const std::string dir = tmp_.path() + "/bad";
  for (const std::string& flags :
       {"--tls-cert " + Pem("server"),                                  // no key
        "--tls-cert " + Pem("server") + " --tls-key " + Key("client"),  // not its key
        "--tls-cert " + tmp_.path() + "/missing.pem --tls-key " + Key("server"),
        "--tls-client-ca " + Pem("client")}) {  // client certificates without TLS
    const std::string cmd = std::string(METERD_BIN) + " --data-dir " + dir +
                            " --listen 127.0.0.1:0 " + flags + " > " + tmp_.path() +
                            "/bad.log 2>&1";
    const int rc = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 2) << flags << ": " << rc;
    std::ifstream in(tmp_.path() + "/bad.log");
    const std::string log((std::istreambuf_iterator<char>(in)), {});
    EXPECT_NE(log.find("the binary port"), std::string::npos) << flags << "\n" << log;
    // Refused before anything in the data directory was opened.
    EXPECT_TRUE(std::filesystem::is_empty(dir)) << flags;
  }
}

}  // namespace
}  // namespace meterd::testing
