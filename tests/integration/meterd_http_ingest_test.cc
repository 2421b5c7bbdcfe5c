// meterd — tests/integration/meterd_http_ingest_test.cc
//
// HTTP ingest end to end on the real meterd (--http-listen 127.0.0.1:0 --ingest-mapping FILE):
// Influx line protocol on /write and /api/v2/write (precision, gzip, Token auth), collectd's
// write_http JSON on /collectd, Prometheus remote_write (protobuf + snappy) on /api/v1/write;
// every accepted sample exported back exactly through the binary protocol, unmapped and bad
// samples reported in the answer and counted in /metrics, roles (a billing key refused, an agent
// key writing only its own hypervisor's series), resends idempotent, malformed bodies 400. Then
// Debian's real collectd posts to meterd with write_http while its csv plugin writes the same
// values to files, and what meterd stored is compared with them (skipped without collectd).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "net/ingest/body_codec.h"
#include "net/schema/prometheus/remote.pb.h"
#include "storage/base/coding.h"
#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using Json = nlohmann::json;

struct Response {
  unsigned status = 0;
  std::string body;
  Json json() const { return Json::parse(body, nullptr, false); }
};

// A blocking HTTP/1.1 client on one keep-alive connection.
class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : stream_(ioc_) {
    stream_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  Response Post(const std::string& target, const std::string& body,
                std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::request<http::string_body> req(http::verb::post, target, 11);
    req.set(http::field::host, "127.0.0.1");
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    stream_.expires_after(std::chrono::seconds(30));
    http::write(stream_, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(8u << 20);
    http::read(stream_, buffer_, parser);
    return Response{parser.get().result_int(), parser.get().body()};
  }
  Response Get(const std::string& target,
               std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::request<http::string_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "127.0.0.1");
    for (auto& [k, v] : headers) req.set(k, v);
    stream_.expires_after(std::chrono::seconds(30));
    http::write(stream_, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(8u << 20);
    http::read(stream_, buffer_, parser);
    return Response{parser.get().result_int(), parser.get().body()};
  }

 private:
  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

constexpr const char* kMapping = R"(version: 1
rules:
  - {name: vm_vcpus, format: influx, resource: "{vm}", metric: vm.vcpus, kind: gauge, unit: vcpus}
  - {name: vm_rx, format: influx, resource: "{vm}", metric: net.rx_bytes, kind: counter}
  - {name: vm_cpu, format: influx, resource: "{vm}", metric: vm.cpu_utilisation}
  - name: memory_memory_value
    format: collectd
    labels: {type_instance: used}
    resource: "{host}"
    metric: vm.memory_bytes
  - name: cpu_cpu_value
    format: collectd
    labels: {type_instance: user}
    resource: "{host}-cpu{plugin_instance}"
    metric: vm.cpu_time_ns
    scale: 10000000
  - {name: libvirt_domain_vcpus, format: prometheus, resource: "{domain}", metric: vm.vcpus}
  - name: libvirt_domain_cpu_seconds_total
    format: prometheus
    resource: "{domain}"
    metric: vm.cpu_time_ns
    scale: 1e9
  - {name: go_goroutines, drop: true}
  # What the real Prometheus scrapes from meterd's own /metrics and remote-writes back.
  - {name: up, format: prometheus, resource: "prom-{job}", metric: vm.state}
  - {name: meterd_uptime_seconds, format: prometheus, resource: "prom-{job}", metric: vm.cpu_utilisation}
  - {name: meterd_http_requests_total, format: prometheus, resource: "prom-{job}", metric: net.rx_bytes}
)";

std::string Base64(const std::string& in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (const unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits) out += kAlphabet[(acc << (6 - bits)) & 63];
  while (out.size() % 4) out += '=';
  return out;
}

double BitsToDouble(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

class MeterdHttpIngestTest : public MeterdTest {
 protected:
  void SetUp() override {
    const std::string mapping = WriteFile("mapping.yaml", kMapping);
    StartServer({"--http-listen", "127.0.0.1:0", "--http-port-file", tmp_.path() + "/http.port",
                 "--ingest-mapping", mapping, "--no-billing-clock"});
    std::ifstream in(tmp_.path() + "/http.port");
    unsigned port = 0;
    in >> port;
    ASSERT_NE(port, 0u);
    http_port_ = static_cast<uint16_t>(port);
    // An hour ago, on a minute: inside the retention, not in the future.
    t0_ = (UnixNow() - 3600) / 60 * 60;
  }
  HttpClient Client() { return HttpClient(http_port_); }
  std::vector<std::pair<std::string, std::string>> Bearer(const std::string& key = "") {
    return {{"Authorization", "Bearer " + (key.empty() ? server_.admin_key() : key)}};
  }
  // resource/metric -> [(second, value bits)]
  std::map<std::string, std::vector<std::pair<int64_t, uint64_t>>> Stored() {
    auto admin = Admin();
    std::map<std::string, std::vector<std::pair<int64_t, uint64_t>>> out;
    for (const Exported& e : ExportAll(admin.get(), t0_ - 86400, UnixNow() + 3600)) {
      out[e.resource + "/" + e.metric].emplace_back(e.ts, e.value);
    }
    return out;
  }
  uint64_t MetricValue(const std::string& line_prefix) {
    Response m = Client().Get("/metrics");
    EXPECT_EQ(m.status, 200u);
    const size_t at = m.body.find("\n" + line_prefix + " ");
    if (at == std::string::npos) {
      ADD_FAILURE() << "no " << line_prefix << " in /metrics";
      return 0;
    }
    return std::stoull(m.body.substr(at + line_prefix.size() + 2));
  }

  uint16_t http_port_ = 0;
  int64_t t0_ = 0;
};

TEST_F(MeterdHttpIngestTest, InfluxLinesAreStoredExportedBackAndBadOnesReported) {
  const std::string t = std::to_string(t0_);
  const std::string body = "vm,vm=vm-1 vcpus=4i,rx=1000i,cpu=0.25 " + t + "\n" +  // 3 samples
                           "vm,vm=vm-1 vcpus=8i,rx=1500i " + std::to_string(t0_ + 1) + "\n" +  // 2
                           "vm,vm=vm-2 unknown_field=1 " + t + "\n" +  // unmapped: no rule
                           "vm,host=x rx=5i " + t + "\n" +             // unmapped: no {vm}
                           "vm,vm=vm-1 rx=-5i " + std::to_string(t0_ + 2) +
                           "\n" +                          // bad value (negative)
                           "this is not line protocol\n";  // bad line
  Response r = Client().Post("/write?db=x&precision=s", body, Bearer());
  ASSERT_EQ(r.status, 400u) << r.body;
  const Json j = r.json();
  EXPECT_EQ(j["error"]["code"], "InvalidArgument");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("line 6"), std::string::npos) << r.body;
  EXPECT_EQ(j["accepted"], 5);
  EXPECT_EQ(j["unmapped"], 2);
  EXPECT_EQ(j["unmapped_by_reason"]["no_rule"], 1);
  EXPECT_EQ(j["unmapped_by_reason"]["missing_label"], 1);
  EXPECT_EQ(j["refused_by_reason"]["bad_line"], 1);
  EXPECT_EQ(j["refused_by_reason"]["bad_value"], 1);
  bool saw_bad_line = false;
  for (const Json& p : j["problems"]) {
    if (p["reason"] == "bad_line") {
      saw_bad_line = true;
      EXPECT_EQ(p["line"], 6);
      EXPECT_EQ(p["text"], "this is not line protocol");
    }
  }
  EXPECT_TRUE(saw_bad_line) << r.body;

  auto got = Stored();
  using V = std::vector<std::pair<int64_t, uint64_t>>;
  EXPECT_EQ(got["vm-1/vm.vcpus"], (V{{t0_, 4}, {t0_ + 1, 8}}));
  EXPECT_EQ(got["vm-1/net.rx_bytes"], (V{{t0_, 1000}, {t0_ + 1, 1500}}));
  ASSERT_EQ(got["vm-1/vm.cpu_utilisation"].size(), 1u);
  EXPECT_EQ(BitsToDouble(got["vm-1/vm.cpu_utilisation"][0].second), 0.25);
  EXPECT_EQ(got.size(), 3u);

  EXPECT_EQ(
      MetricValue(R"(meterd_http_ingest_unmapped_samples_total{format="influx",reason="no_rule"})"),
      1u);
  EXPECT_EQ(
      MetricValue(R"(meterd_http_ingest_refused_samples_total{format="influx",reason="bad_line"})"),
      1u);
  EXPECT_EQ(MetricValue(R"(meterd_http_ingest_accepted_samples_total{format="influx"})"), 5u);
}

// Stopping meterd with HTTP ingest requests in flight and no drain time: the HTTP port closes
// their connections at once, while some requests are still queued for the ingest pool (two
// threads; each body takes a while to parse) and the others wait for their WAL sync (made slow
// with METERD_FAULT_SYNC_DELAY_US). The routes go on using each connection's state (its
// session) until they answer, so the connection must outlive them: the sanitizer build runs this
// same test against a sanitized meterd, whose log must show no report (TearDown). This load is
// sized for the time budget and does not hit the race every run; 12 bodies of 25,000 lines
// stopped 1-2 s in reproduced it under ASan before the fix (a heap-use-after-free of the
// connection's session in HttpIngest::Call::DefineThenIngest, run from the ingest pool after
// the HTTP port had freed the connection).
TEST_F(MeterdHttpIngestTest, StoppingWithRequestsInFlight) {
  server_.Stop();
  ::setenv("METERD_FAULT_SYNC_DELAY_US", "100000", 1);
  StartServer({"--http-listen", "127.0.0.1:0", "--http-port-file", tmp_.path() + "/http.port",
               "--ingest-mapping", tmp_.path() + "/mapping.yaml", "--no-billing-clock",
               "--drain-timeout", "0"},
              false);
  ::unsetenv("METERD_FAULT_SYNC_DELAY_US");
  std::ifstream(tmp_.path() + "/http.port") >> http_port_;
  constexpr int kClients = 6;
  constexpr int kLines = 8000;  // about 280 KB a body
  std::vector<std::string> bodies(kClients);
  for (int i = 0; i < kClients; ++i) {
    for (int l = 0; l < kLines; ++l) {
      bodies[i] += "vm,vm=vm-stop" + std::to_string(i) + " vcpus=2i " +
                   std::to_string(t0_ - kLines + l) + "\n";
    }
  }
  std::vector<std::thread> clients;
  std::vector<int> status(kClients, 0);  // 0: the connection was cut without an answer
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      try {
        HttpClient c(http_port_);
        status[i] = static_cast<int>(c.Post("/write?precision=s", bodies[i], Bearer()).status);
      } catch (const std::exception&) {
      }
    });
  }
  // The bodies are sent and being parsed or synced when the stop begins.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(::kill(server_.pid(), SIGTERM), 0);
  for (auto& t : clients) t.join();
  server_.Stop();
  // Each request was answered (stored, or refused while stopping) or cut off unanswered; what a
  // 204 means across a restart is meterd_crash_test's.
  for (int i = 0; i < kClients; ++i) {
    EXPECT_TRUE(status[i] == 0 || status[i] == 204 || status[i] == 503) << i << ": " << status[i];
  }
}

TEST_F(MeterdHttpIngestTest, InfluxV2GzipTokenAndTheLatestSampleOfASecondWins) {
  const std::string ms = std::to_string(t0_ * 1000);
  const std::string body = "vm,vm=vm-3 vcpus=2i " + std::to_string(t0_ * 1000 + 900) + "\n" +
                           "vm,vm=vm-3 vcpus=1i " + std::to_string(t0_ * 1000 + 100) + "\n" +
                           "vm,vm=vm-3 vcpus=6i " + std::to_string(t0_ * 1000 + 1000) + "\n";
  Response r = Client().Post(
      "/api/v2/write?org=o&bucket=b&precision=ms", net::ingest::GzipCompress(body),
      {{"Authorization", "Token " + server_.admin_key()}, {"Content-Encoding", "gzip"}});
  ASSERT_EQ(r.status, 200u) << r.body;  // one sample superseded: a report
  EXPECT_EQ(r.json()["refused_by_reason"]["superseded"], 1) << r.body;
  EXPECT_EQ(r.json()["accepted"], 2);
  using V = std::vector<std::pair<int64_t, uint64_t>>;
  EXPECT_EQ(Stored()["vm-3/vm.vcpus"], (V{{t0_, 2}, {t0_ + 1, 6}}));

  // All good: 204, no body. Influx v1 clients' Basic auth and ?p= carry the key too.
  const std::string line = "vm,vm=vm-3 vcpus=7i " + std::to_string(t0_ + 5) + "\n";
  r = Client().Post("/write?precision=s", line,
                    {{"Authorization", "Basic " + Base64("u:" + server_.admin_key())}});
  EXPECT_EQ(r.status, 204u) << r.body;
  EXPECT_TRUE(r.body.empty());
  r = Client().Post("/write?precision=s&p=" + server_.admin_key(),
                    "vm,vm=vm-3 vcpus=7i " + std::to_string(t0_ + 6) + "\n");
  EXPECT_EQ(r.status, 204u) << r.body;
  EXPECT_EQ(Stored()["vm-3/vm.vcpus"].size(), 4u);
}

TEST_F(MeterdHttpIngestTest, CollectdJsonIsStoredWithItsConversionRules) {
  char buf[2048];
  std::snprintf(buf, sizeof buf,
                R"([{"values":[123456789],"dstypes":["gauge"],"dsnames":["value"],"time":%lld.250,)"
                R"("interval":1.000,"host":"hv-9","plugin":"memory","plugin_instance":"",)"
                R"("type":"memory","type_instance":"used"},)"
                R"({"values":[4200],"dstypes":["derive"],"dsnames":["value"],"time":%lld.999,)"
                R"("interval":1.000,"host":"hv-9","plugin":"cpu","plugin_instance":"3",)"
                R"("type":"cpu","type_instance":"user"},)"
                R"({"values":[1],"dstypes":["derive"],"dsnames":["value"],"time":%lld.000,)"
                R"("interval":1.000,"host":"hv-9","plugin":"cpu","plugin_instance":"3",)"
                R"("type":"cpu","type_instance":"idle"}])",
                static_cast<long long>(t0_), static_cast<long long>(t0_),
                static_cast<long long>(t0_));
  Response r = Client().Post("/collectd", buf, Bearer());
  ASSERT_EQ(r.status, 200u) << r.body;  // cpu idle has no rule
  EXPECT_EQ(r.json()["accepted"], 2);
  EXPECT_EQ(r.json()["unmapped_by_reason"]["no_rule"], 1);
  auto got = Stored();
  using V = std::vector<std::pair<int64_t, uint64_t>>;
  EXPECT_EQ(got["hv-9/vm.memory_bytes"], (V{{t0_, 123456789}}));
  EXPECT_EQ(got["hv-9-cpu3/vm.cpu_time_ns"], (V{{t0_, 42000000000}}));  // jiffies x 1e7

  EXPECT_EQ(Client().Post("/collectd", "{not json", Bearer()).status, 400u);
}

std::string RemoteWriteBody(int64_t t0_ms, bool with_stale) {
  prometheus::WriteRequest req;
  auto add = [&](std::vector<std::pair<std::string, std::string>> labels,
                 std::vector<std::pair<double, int64_t>> samples) {
    auto* ts = req.add_timeseries();
    for (auto& [n, v] : labels) {
      auto* l = ts->add_labels();
      l->set_name(n);
      l->set_value(v);
    }
    for (auto [v, t] : samples) {
      auto* s = ts->add_samples();
      s->set_value(v);
      s->set_timestamp(t);
    }
  };
  add({{"__name__", "libvirt_domain_vcpus"}, {"domain", "vm-p1"}, {"job", "libvirt"}},
      {{2, t0_ms}, {4, t0_ms + 1000}});
  add({{"__name__", "libvirt_domain_cpu_seconds_total"}, {"domain", "vm-p1"}},
      {{12.345678901, t0_ms}, {13.5, t0_ms + 1000}});
  add({{"__name__", "go_goroutines"}}, {{12, t0_ms}});
  if (with_stale) {
    double stale;
    const uint64_t bits = 0x7ff0000000000002ull;
    std::memcpy(&stale, &bits, sizeof stale);
    add({{"__name__", "libvirt_domain_vcpus"}, {"domain", "vm-p1"}, {"job", "libvirt"}},
        {{stale, t0_ms + 2000}});
  }
  return net::ingest::SnappyCompress(req.SerializeAsString());
}

TEST_F(MeterdHttpIngestTest, RemoteWriteIsStoredAndResendsAreIdempotent) {
  const std::string body = RemoteWriteBody(t0_ * 1000, true);
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Authorization", "Bearer " + server_.admin_key()},
      {"Content-Encoding", "snappy"},
      {"Content-Type", "application/x-protobuf"},
      {"X-Prometheus-Remote-Write-Version", "0.1.0"}};
  Response r = Client().Post("/api/v1/write", body, headers);
  ASSERT_EQ(r.status, 200u) << r.body;  // go_goroutines dropped by a rule: reported
  EXPECT_EQ(r.json()["accepted"], 4);
  EXPECT_EQ(r.json()["unmapped_by_reason"]["dropped"], 1);
  EXPECT_EQ(r.json()["refused_by_reason"]["stale_marker"], 1);
  auto got = Stored();
  using V = std::vector<std::pair<int64_t, uint64_t>>;
  EXPECT_EQ(got["vm-p1/vm.vcpus"], (V{{t0_, 2}, {t0_ + 1, 4}}));
  EXPECT_EQ(got["vm-p1/vm.cpu_time_ns"], (V{{t0_, 12345678901}, {t0_ + 1, 13500000000}}));

  // The same body again: the same batch (a duplicate), nothing stored twice.
  r = Client().Post("/api/v1/write", body, headers);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json()["duplicate_batches"], 1);
  EXPECT_EQ(Stored(), got);
  // Another value for a stored counter second is refused by the pipeline and reported.
  prometheus::WriteRequest req;
  auto* ts = req.add_timeseries();
  auto* l = ts->add_labels();
  l->set_name("__name__");
  l->set_value("libvirt_domain_cpu_seconds_total");
  l = ts->add_labels();
  l->set_name("domain");
  l->set_value("vm-p1");
  auto* s = ts->add_samples();
  s->set_value(99);
  s->set_timestamp(t0_ * 1000);
  r = Client().Post("/api/v1/write", net::ingest::SnappyCompress(req.SerializeAsString()), headers);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json()["rejected"], 1);
  EXPECT_EQ(r.json()["problems"][0]["reason"], "rejected:InvalidArgument") << r.body;
  EXPECT_EQ(Stored(), got);

  // Malformed: not snappy, or snappy of something that is not a WriteRequest.
  EXPECT_EQ(Client().Post("/api/v1/write", "plain text", headers).status, 400u);
  EXPECT_EQ(
      Client().Post("/api/v1/write", net::ingest::SnappyCompress("\xff\xff\xff"), headers).status,
      400u);
}

// A resource whose samples arrive only over HTTP is registered before its series are defined:
// listed by /v1/resource-hosts on the agent key's hypervisor (an admin's: on none), with the
// rule's type or its metric's family. Samples never move a resource another hypervisor holds.
TEST_F(MeterdHttpIngestTest, ResourcesThatArriveOnlyOverHttpAreListedWithTheirHost) {
  auto c = Client();
  const std::string hv1 = CreateKey(wire::Role::Agent, "hv-1");
  const std::string hv2 = CreateKey(wire::Role::Agent, "hv-2");
  const std::string t = " " + std::to_string(t0_) + "\n";
  ASSERT_EQ(c.Post("/write?precision=s", "vm,vm=vm-h1 vcpus=2i,rx=10i" + t, Bearer(hv1)).status,
            204u);
  ASSERT_EQ(c.Post("/write?precision=s", "vm,vm=vm-adm vcpus=4i" + t, Bearer()).status, 204u);
  Response r = c.Post("/write?precision=s",
                      "vm,vm=vm-h1 vcpus=3i " + std::to_string(t0_ + 1) + "\n", Bearer(hv2));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json()["rejected"], 1) << r.body;
  r = c.Get("/v1/resource-hosts", Bearer());
  ASSERT_EQ(r.status, 200u) << r.body;
  std::map<std::string, std::pair<std::string, std::string>> hosts;  // resource -> (hv, type)
  const Json listed = r.json();  // not a range over the temporary's member: it would dangle
  for (const Json& h : listed["hosts"]) {
    hosts[h["resource"].get<std::string>()] = {h["hypervisor"].get<std::string>(),
                                               h["type"].get<std::string>()};
  }
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(hosts["vm-h1"], (P{"hv-1", "vm"})) << r.body;
  EXPECT_EQ(hosts["vm-adm"], (P{"", "vm"})) << r.body;
  EXPECT_EQ(hosts.size(), 2u) << r.body;
}

TEST_F(MeterdHttpIngestTest, KeysAndRoles) {
  const std::string line = "vm,vm=vm-r vcpus=1i " + std::to_string(t0_) + "\n";
  auto c = Client();
  Response r = c.Post("/write?precision=s", line);
  EXPECT_EQ(r.status, 401u) << r.body;
  EXPECT_EQ(c.Post("/write?precision=s", line, Bearer("mk_bad")).status, 401u);
  const std::string billing = CreateKey(wire::Role::Billing, "");
  r = c.Post("/write?precision=s", line, Bearer(billing));
  EXPECT_EQ(r.status, 403u) << r.body;
  const std::string customer = CreateKey(wire::Role::Customer, "", "bu1user1");
  r = c.Post("/write?precision=s", line, Bearer(customer));
  EXPECT_EQ(r.status, 403u) << r.body;
  // An agent key writes its own hypervisor's series; another agent's are refused per sample.
  const std::string hv1 = CreateKey(wire::Role::Agent, "hv-1");
  const std::string hv2 = CreateKey(wire::Role::Agent, "hv-2");
  r = c.Post("/write?precision=s", line, Bearer(hv1));
  EXPECT_EQ(r.status, 204u) << r.body;
  r = c.Post("/write?precision=s", "vm,vm=vm-r vcpus=3i " + std::to_string(t0_ + 1) + "\n",
             Bearer(hv2));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json()["accepted"], 0);
  EXPECT_EQ(r.json()["rejected"], 1);
  using V = std::vector<std::pair<int64_t, uint64_t>>;
  EXPECT_EQ(Stored()["vm-r/vm.vcpus"], (V{{t0_, 1}}));
  // Unknown parameters and methods.
  EXPECT_EQ(c.Post("/write?precision=s&colour=red", line, Bearer()).status, 400u);
  EXPECT_EQ(c.Post("/write?precision=days", line, Bearer()).status, 400u);
  EXPECT_EQ(c.Get("/write").status, 405u);
  EXPECT_EQ(c.Post("/write?precision=s", line,
                   {{"Authorization", "Bearer " + server_.admin_key()}, {"Content-Encoding", "br"}})
                .status,
            415u);
  EXPECT_EQ(
      c.Post("/write?precision=s", "not gzip",
             {{"Authorization", "Bearer " + server_.admin_key()}, {"Content-Encoding", "gzip"}})
          .status,
      400u);
  EXPECT_EQ(c.Get("/ping").status, 204u);
}

// Every ingest route of docs/http-api.json (x-meterd-ingest) answers as documented: an empty
// body stores nothing and is a 204, without a key a 401 (/ping needs none).
TEST_F(MeterdHttpIngestTest, EveryDocumentedIngestRouteAnswers) {
  std::ifstream in(std::string(METERD_SOURCE_DIR) + "/docs/http-api.json");
  const Json doc = Json::parse(in);
  int checked = 0;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (!op.value("x-meterd-ingest", false)) continue;
      auto c = Client();
      if (method == "get") {
        EXPECT_EQ(c.Get(path).status, 204u) << path;
      } else {
        ASSERT_EQ(method, "post") << path;
        const std::string body = path == "/api/v1/write" ? net::ingest::SnappyCompress("")
                                 : path == "/collectd"   ? "[]"
                                                         : "";
        EXPECT_TRUE(op["responses"].contains("204")) << path;
        Response r = c.Post(path, body, Bearer());
        EXPECT_EQ(r.status, 204u) << path << ": " << r.body;
        EXPECT_EQ(c.Post(path, body).status, 401u) << path;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 5);
}

// Debian's collectd (collectd-core) posts its memory and cpu plugins' values to meterd through
// write_http while its csv plugin writes the same value lists to files: what meterd stored must
// be exactly what the files hold, under the documented rules (time floored to the second).
TEST_F(MeterdHttpIngestTest, RealCollectdWriteHttp) {
  const char* collectd = "/usr/sbin/collectd";
  if (access(collectd, X_OK) != 0 || !std::filesystem::exists("/usr/lib/collectd/write_http.so")) {
    GTEST_SKIP() << "collectd is not installed (apt-get install collectd-core libyajl2)";
  }
  const std::string dir = tmp_.path() + "/collectd";
  std::filesystem::create_directories(dir + "/csv");
  const std::string conf =
      WriteFile("collectd.conf",
                "Hostname \"collectd-test\"\nFQDNLookup false\nInterval 1\nBaseDir \"" + dir +
                    "\"\nPIDFile \"" + dir +
                    "/collectd.pid\"\nPluginDir \"/usr/lib/collectd\"\n"
                    "TypesDB \"/usr/share/collectd/types.db\"\n"
                    "LoadPlugin logfile\n<Plugin logfile>\n  File \"" +
                    dir +
                    "/collectd.log\"\n"
                    "  LogLevel info\n</Plugin>\n"
                    "LoadPlugin memory\nLoadPlugin cpu\nLoadPlugin csv\nLoadPlugin write_http\n"
                    "<Plugin csv>\n  DataDir \"" +
                    dir +
                    "/csv\"\n  StoreRates false\n</Plugin>\n"
                    "<Plugin write_http>\n  <Node \"meterd\">\n    URL \"http://127.0.0.1:" +
                    std::to_string(http_port_) +
                    "/collectd\"\n    Format \"JSON\"\n"
                    "    Header \"Authorization: Bearer " +
                    server_.admin_key() +
                    "\"\n"
                    "    StoreRates false\n    BufferSize 1024\n    LogHttpError true\n"
                    "    Timeout 10000\n  </Node>\n"
                    "</Plugin>\n");
  // write_http's Timeout (ms) bounds each POST: without it, a request meterd never answers
  // holds collectd's shutdown, and this test, forever.
  ChildProcess process;
  ASSERT_TRUE(process.Start(collectd, {collectd, "-f", "-C", conf}, dir + "/stdout.log"));
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  // SIGTERM: collectd flushes write_http's buffer on the way out.
  ASSERT_TRUE(process.Stop(std::chrono::seconds(30)))
      << "collectd did not exit within 30 s of SIGTERM; see " << dir << "/collectd.log and "
      << data_dir() << ".log:\n"
      << server_.LogTail();

  // The csv plugin's files: <dir>/csv/collectd-test/<plugin>-<instance>/<type>-<ti>-<date>.
  std::map<std::string, std::map<int64_t, std::vector<uint64_t>>> files;  // series -> s -> values
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir + "/csv")) {
    if (!e.is_regular_file()) continue;
    const std::string plugin_dir = e.path().parent_path().filename();
    const std::string name = e.path().filename();
    std::string series;
    double scale = 1;
    if (plugin_dir == "memory" && name.starts_with("memory-used-")) {
      series = "collectd-test/vm.memory_bytes";
    } else if (plugin_dir.starts_with("cpu-") && name.starts_with("cpu-user-")) {
      series = "collectd-test-cpu" + plugin_dir.substr(4) + "/vm.cpu_time_ns";
      scale = 1e7;
    } else {
      continue;
    }
    std::ifstream in(e.path());
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      const size_t comma = line.find(',');
      const double t = std::stod(line.substr(0, comma));
      const double v = std::stod(line.substr(comma + 1));
      files[series][static_cast<int64_t>(std::floor(t))].push_back(
          static_cast<uint64_t>(std::llround(v * scale)));
    }
  }
  ASSERT_TRUE(files.contains("collectd-test/vm.memory_bytes"))
      << "collectd wrote no memory values; see " << dir << "/collectd.log";
  auto got = Stored();
  size_t compared = 0;
  for (const auto& [series, seconds] : files) {
    const auto& stored = got[series];
    EXPECT_EQ(stored.size(), seconds.size()) << series << ": see " << dir << "/collectd.log";
    for (const auto& [second, value] : stored) {
      auto it = seconds.find(second);
      ASSERT_NE(it, seconds.end()) << series << " second " << second << " not in collectd's csv";
      EXPECT_NE(std::find(it->second.begin(), it->second.end(), value), it->second.end())
          << series << " second " << second << ": meterd has " << value;
      ++compared;
    }
  }
  EXPECT_GE(compared, 2u);
  std::printf("collectd: %zu stored samples of %zu series compared with its csv files\n", compared,
              files.size());
  EXPECT_EQ(MetricValue(
                R"(meterd_http_ingest_refused_samples_total{format="collectd",reason="bad_line"})"),
            0u);
}

// Debian's real Prometheus scrapes meterd's /metrics every second and remote-writes what it
// scraped back to meterd's /api/v1/write (snappy protobuf, the key as its authorization
// credentials). Every sample meterd stored of the three mapped series must be one Prometheus
// holds in its own TSDB (its second and exact value), and Prometheus must count no failed
// sample. Skipped when prometheus is not installed (the install script installs it).
TEST_F(MeterdHttpIngestTest, RealPrometheusRemoteWrite) {
  const std::string binary = "/usr/bin/prometheus";
  if (::access(binary.c_str(), X_OK) != 0) GTEST_SKIP() << "prometheus not installed";
  uint16_t web_port = 0;
  {
    asio::io_context ioc;
    asio::ip::tcp::acceptor a(ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    web_port = a.local_endpoint().port();
  }
  const std::string port = std::to_string(http_port_);
  const std::string config = WriteFile(
      "prometheus.yml",
      "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
      "scrape_configs:\n  - job_name: meterd\n    static_configs:\n"
      "      - targets: ['127.0.0.1:" +
          port +
          "']\n"
          "remote_write:\n  - url: http://127.0.0.1:" +
          port +
          "/api/v1/write\n"
          "    authorization:\n      credentials: " +
          server_.admin_key() +
          "\n"
          "    queue_config:\n      batch_send_deadline: 500ms\n      min_backoff: 100ms\n");
  const std::string log = tmp_.path() + "/prometheus.log";
  std::vector<std::string> args = {
      binary, "--config.file=" + config, "--storage.tsdb.path=" + tmp_.path() + "/prometheus-data",
      "--web.listen-address=127.0.0.1:" + std::to_string(web_port), "--log.level=warn"};
  ChildProcess prometheus;
  ASSERT_TRUE(prometheus.Start(binary, std::move(args), log)) << binary;

  // Up to 15 s until meterd holds 4 remote-written samples of meterd_uptime_seconds.
  const std::string uptime = "prom-meterd/vm.cpu_utilisation";
  std::map<std::string, std::vector<std::pair<int64_t, uint64_t>>> stored;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    stored = Stored();
    if (stored[uptime].size() >= 4) break;
  }
  ASSERT_GE(stored[uptime].size(), 4u) << "see " << log;
  // Prometheus' own raw samples of the three series (a range selector returns them as stored).
  auto raw = [&](const std::string& name) {
    Response r = HttpClient(web_port).Get("/api/v1/query?query=" + name + "%5B10m%5D");
    std::map<int64_t, std::vector<std::string>> by_second;  // second -> values as written
    const Json j = r.json();
    for (const Json& series : j["data"]["result"]) {
      for (const Json& v : series["values"]) {
        by_second[static_cast<int64_t>(std::floor(v[0].get<double>()))].push_back(v[1]);
      }
    }
    return by_second;
  };
  size_t compared = 0;
  for (const auto& [name, key, is_float] :
       {std::tuple{"meterd_uptime_seconds", uptime, true},
        std::tuple{"meterd_http_requests_total", std::string("prom-meterd/net.rx_bytes"), false},
        std::tuple{"up", std::string("prom-meterd/vm.state"), false}}) {
    const auto prom = raw(name);
    ASSERT_FALSE(prom.empty()) << name;
    for (const auto& [second, bits] : stored[key]) {
      auto it = prom.find(second);
      ASSERT_NE(it, prom.end()) << key << " second " << second << " is not in Prometheus";
      bool found = false;
      for (const std::string& text : it->second) {
        const double v = std::stod(text);
        found |= is_float ? BitsToDouble(bits) == v : static_cast<double>(bits) == v;
      }
      EXPECT_TRUE(found) << key << " second " << second << ": meterd has " << bits;
      ++compared;
    }
  }
  // Prometheus' own view of the remote write: samples sent, none failed, retried or dropped.
  Response metrics = HttpClient(web_port).Get("/metrics");
  auto counter = [&](const std::string& name) {
    const size_t at = metrics.body.find("\n" + name + "{");
    EXPECT_NE(at, std::string::npos) << name << " not in Prometheus' /metrics";
    if (at == std::string::npos) return -1.0;
    return std::stod(metrics.body.substr(metrics.body.find("} ", at) + 2));
  };
  EXPECT_GT(counter("prometheus_remote_storage_samples_total"), 0);
  EXPECT_EQ(counter("prometheus_remote_storage_samples_failed_total"), 0);
  EXPECT_EQ(counter("prometheus_remote_storage_samples_retried_total"), 0);
  EXPECT_EQ(counter("prometheus_remote_storage_samples_dropped_total"), 0);
  std::printf("prometheus: %zu stored samples of 3 series compared with its TSDB\n", compared);
}

}  // namespace
}  // namespace meterd::testing
