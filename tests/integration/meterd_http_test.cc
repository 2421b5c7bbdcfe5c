// meterd — tests/integration/meterd_http_test.cc
//
// The HTTP port end to end on the real meterd (--http-listen 127.0.0.1:0): every route of
// docs/http-api.json answered as documented (status and required fields), the served
// /openapi.json equal to the file, keys and roles (401, 403), unknown routes and entities (404),
// an oversized body (413), a top-up seen through the balance and idempotent on its reference,
// keep-alive, a revoked key on an open connection, and /metrics in the Prometheus text format.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using Json = nlohmann::json;

struct Response {
  unsigned status = 0;
  std::string content_type;
  std::string body;
  bool keep_alive = false;
  Json json() const { return Json::parse(body, nullptr, false); }
};

// A blocking HTTP/1.1 client on one keep-alive connection.
class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : stream_(ioc_) {
    stream_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  Response Send(const std::string& method, const std::string& target, const std::string& key = "",
                const std::string& body = "") {
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (!key.empty()) req.set(http::field::authorization, "Bearer " + key);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    stream_.expires_after(std::chrono::seconds(30));
    http::write(stream_, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream_, buffer_, parser);
    Response r;
    r.status = parser.get().result_int();
    r.content_type = std::string(parser.get()[http::field::content_type]);
    r.body = parser.get().body();
    r.keep_alive = parser.get().keep_alive();
    return r;
  }

 private:
  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

// micro-credits as the API writes them, computed independently of net/http.
std::string Credits(int64_t micro) {
  char buf[48];
  const long long abs = micro < 0 ? -static_cast<long long>(micro) : micro;
  std::snprintf(buf, sizeof(buf), "%s%lld.%06lld", micro < 0 ? "-" : "", abs / 1000000,
                abs % 1000000);
  return buf;
}

constexpr const char* kFrom = "2026-11-01T00:00:00Z";
constexpr const char* kTo = "2026-11-02T00:00:00Z";

class MeterdHttpTest : public MeterdTest {
 protected:
  void SetUp() override {
    StartServer({"--http-listen", "127.0.0.1:0", "--http-port-file", tmp_.path() + "/http.port",
                 "--http-max-body-kib", "64",
                 // No debits while a test reads balances: a top-up is the only change.
                 "--no-billing-clock"});
    std::ifstream in(tmp_.path() + "/http.port");
    unsigned port = 0;
    in >> port;
    ASSERT_NE(port, 0u);
    http_port_ = static_cast<uint16_t>(port);
  }
  void ApplyCatalog() {
    CommandResult r =
        Meterctl("apply " + std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  HttpClient Client() { return HttpClient(http_port_); }
  // Runs a shell command; its stdout.
  static CommandResult Shell(const std::string& cmd) {
    CommandResult r{0, "", ""};
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }
  static Json Document() {
    std::ifstream in(std::string(METERD_SOURCE_DIR) + "/docs/http-api.json");
    return Json::parse(in);
  }
  // Checks that `body` has every property `schema` requires (following $ref, one level of
  // nesting into required objects and array items).
  static void ExpectShape(const Json& doc, Json schema, const Json& body, const std::string& where,
                          int depth = 0) {
    if (schema.contains("$ref")) {
      const std::string ref = schema["$ref"];
      schema = doc["components"]["schemas"][ref.substr(ref.rfind('/') + 1)];
    }
    const std::string type = schema.value("type", "");
    if (type == "object") {
      ASSERT_TRUE(body.is_object()) << where << ": " << body.dump();
      for (const auto& name : schema.value("required", Json::array())) {
        ASSERT_TRUE(body.contains(name)) << where << ": no '" << name.get<std::string>() << "' in "
                                         << body.dump().substr(0, 400);
        if (depth < 3 && schema.contains("properties") && schema["properties"].contains(name)) {
          ExpectShape(doc, schema["properties"][name], body[name.get<std::string>()],
                      where + "." + name.get<std::string>(), depth + 1);
        }
      }
    } else if (type == "array") {
      ASSERT_TRUE(body.is_array()) << where;
      if (!body.empty() && depth < 3) {
        ExpectShape(doc, schema["items"], body[0], where + "[0]", depth + 1);
      }
    } else if (type == "string") {
      if (schema.value("nullable", false) && body.is_null()) return;
      ASSERT_TRUE(body.is_string()) << where << ": " << body.dump();
      if (schema.contains("pattern")) {
        EXPECT_TRUE(std::regex_match(body.get<std::string>(),
                                     std::regex(schema["pattern"].get<std::string>())))
            << where << ": " << body << " does not match " << schema["pattern"];
      }
      if (schema.value("format", "") == "date-time") {
        EXPECT_TRUE(std::regex_match(body.get<std::string>(),
                                     std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
            << where << ": " << body;
      }
    } else if (type == "integer") {
      EXPECT_TRUE(body.is_number_integer()) << where << ": " << body.dump();
    } else if (type == "boolean") {
      EXPECT_TRUE(body.is_boolean()) << where << ": " << body.dump();
    }
  }
  static void ExpectError(const Response& r, unsigned status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    const Json j = r.json();
    ASSERT_TRUE(j.is_object()) << r.body;
    ASSERT_TRUE(j.contains("error")) << r.body;
    EXPECT_EQ(j["error"]["code"], code) << r.body;
    EXPECT_TRUE(j["error"]["message"].is_string()) << r.body;
    EXPECT_EQ(r.content_type, "application/json");
  }

  uint16_t http_port_ = 0;
};

TEST_F(MeterdHttpTest, HealthReadinessAndTheServedDocument) {
  auto c = Client();
  Response health = c.Send("GET", "/healthz");
  EXPECT_EQ(health.status, 200u);
  EXPECT_EQ(health.json()["status"], "ok");
  EXPECT_TRUE(health.keep_alive);
  Response ready = c.Send("GET", "/readyz");
  EXPECT_EQ(ready.status, 200u);
  EXPECT_EQ(ready.json()["status"], "ready");
  Response doc = c.Send("GET", "/openapi.json");
  ASSERT_EQ(doc.status, 200u);
  EXPECT_EQ(doc.json(), Document()) << "the served document differs from docs/http-api.json";
  EXPECT_EQ(doc.json()["openapi"].get<std::string>().substr(0, 2), "3.");
}

// Every documented route and method, with an admin key: the documented success status and
// every required field of its schema. Then every /v1/ route without a key: 401.
TEST_F(MeterdHttpTest, EveryDocumentedRouteAnswersAsDocumented) {
  ApplyCatalog();
  const Json doc = Document();
  const std::map<std::string, std::string> path_values = {
      {"account", "bu1user1"}, {"plan", "copper"}, {"resource", "vm-1001"}};
  const std::map<std::string, std::string> query_values = {
      {"from", kFrom}, {"to", kTo}, {"plan", "copper"}, {"location", "lon1"}};
  auto c = Client();
  // A customer key of bu1user1 may call exactly the operations marked x-meterd-customer (with
  // its account), and is 403 on every other authenticated route.
  const std::string customer = CreateKey(wire::Role::Customer, "", "bu1user1");
  int checked = 0, customer_allowed = 0;
  std::set<std::string> unauthenticated_checked;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      // The ingest routes need --ingest-mapping: meterd_http_ingest_test checks them.
      if (op.value("x-meterd-ingest", false)) continue;
      std::string target = path;
      for (const auto& [name, value] : path_values) {
        const std::string token = "{" + name + "}";
        if (auto pos = target.find(token); pos != std::string::npos) {
          target.replace(pos, token.size(), value);
        }
      }
      ASSERT_EQ(target.find('{'), std::string::npos) << "no test value for " << path;
      std::string query;
      for (const auto& p : op.value("parameters", Json::array())) {
        if (p["in"] == "query" && p.value("required", false)) {
          const std::string name = p["name"];
          ASSERT_TRUE(query_values.contains(name)) << "no test value for " << name;
          query += (query.empty() ? "?" : "&") + name + "=" + query_values.at(name);
        }
      }
      std::string body;
      if (op.contains("requestBody")) {
        body = R"({"amount": "1.5", "reference": "route-check-)" + std::to_string(checked) + "\"}";
      }
      std::string verb = method;
      for (char& ch : verb) ch = static_cast<char>(std::toupper(ch));
      const bool public_route = op.contains("security") && op["security"].empty();
      Response r = c.Send(verb, target + query, public_route ? "" : server_.admin_key(), body);
      // The documented success: 201 for a POST that creates (this one's reference is new),
      // else the lowest 2xx status.
      std::string success;
      for (const auto& [code, resp] : op["responses"].items()) {
        if (code[0] == '2' && (success.empty() || code < success)) success = code;
      }
      if (verb == "POST" && op["responses"].contains("201")) success = "201";
      ASSERT_FALSE(success.empty()) << path;
      EXPECT_EQ(std::to_string(r.status), success) << verb << " " << target << ": " << r.body;
      const Json& resp = op["responses"][success];
      if (resp["content"].contains("application/json")) {
        EXPECT_EQ(r.content_type, "application/json") << path;
        const Json j = r.json();
        ASSERT_FALSE(j.is_discarded()) << path << ": " << r.body;
        ExpectShape(doc, resp["content"]["application/json"]["schema"], j, verb + " " + path);
      } else {
        EXPECT_EQ(r.content_type.substr(0, 10), "text/plain") << path;
      }
      if (!public_route) {
        Response anonymous = c.Send(verb, target + query, "", body);
        ExpectError(anonymous, 401, "Unauthenticated");
        unauthenticated_checked.insert(path);
        if (op.value("x-meterd-customer", false)) {
          const bool takes_account =
              path.find("{account}") == std::string::npos &&
              std::any_of(op["parameters"].begin(), op["parameters"].end(),
                          [](const Json& p) { return p["name"] == "account"; });
          const std::string own =
              takes_account ? (query.empty() ? "?" : "&") + std::string("account=bu1user1") : "";
          Response mine = c.Send(verb, target + query + own, customer, body);
          EXPECT_EQ(std::to_string(mine.status), success)
              << "customer: " << target << ": " << mine.body;
          ++customer_allowed;
        } else {
          SCOPED_TRACE("customer: " + verb + " " + target);
          ExpectError(c.Send(verb, target + query, customer, body), 403, "PermissionDenied");
        }
      }
      ++checked;
    }
  }
  EXPECT_EQ(customer_allowed, 4);
  EXPECT_GE(checked, 22);
  EXPECT_GE(unauthenticated_checked.size(), 18u);
}

TEST_F(MeterdHttpTest, KeysAndRolesAreTheBinaryProtocols) {
  ApplyCatalog();
  const std::string billing = CreateKey(wire::Role::Billing, "");
  const std::string agent = CreateKey(wire::Role::Agent, "hv-1");
  auto c = Client();
  ExpectError(c.Send("GET", "/v1/stats"), 401, "Unauthenticated");
  ExpectError(c.Send("GET", "/v1/stats", "mk_not_a_key"), 401, "Unauthenticated");
  Response wrong = c.Send("GET", "/v1/stats", "mk_not_a_key");
  EXPECT_EQ(wrong.status, 401u);
  // The same connection switches keys: each request is the key it carries.
  EXPECT_EQ(c.Send("GET", "/v1/stats", billing).status, 200u);
  ExpectError(c.Send("GET", "/v1/stats", agent), 403, "PermissionDenied");
  EXPECT_EQ(c.Send("GET", "/v1/metric-catalog", agent).status, 200u);
  ExpectError(c.Send("POST", "/v1/accounts/bu1user1/topups", billing,
                     R"({"amount": "5", "reference": "by-billing"})"),
              403, "PermissionDenied");
  EXPECT_EQ(c.Send("GET", "/v1/accounts/bu1user1/balance", billing).status, 200u);
  // Auth comes before routing: an anonymous client learns nothing about the routes.
  ExpectError(c.Send("GET", "/v1/no-such-route"), 401, "Unauthenticated");
}

// A customer key sees only its account: usage, charges and balance of bu1user1 answer; another
// account, every account, the ledger, stats and top-ups are 403 PermissionDenied (ingest:
// meterd_http_ingest_test).
TEST_F(MeterdHttpTest, ACustomerKeySeesOnlyItsAccount) {
  ApplyCatalog();
  const std::string customer = CreateKey(wire::Role::Customer, "", "bu1user1");
  ASSERT_FALSE(customer.empty());
  const std::string span = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";
  auto c = Client();
  for (const std::string& path : std::vector<std::string>{
           "/v1/accounts/bu1user1/balance", "/v1/usage?" + span + "&account=bu1user1",
           "/v1/charges?" + span + "&account=bu1user1", std::string("/v1/metric-catalog")}) {
    Response r = c.Send("GET", path, customer);
    EXPECT_EQ(r.status, 200u) << path << ": " << r.body;
  }
  const Json balance = c.Send("GET", "/v1/accounts/bu1user1/balance", customer).json();
  EXPECT_EQ(balance["account"], "bu1user1") << balance.dump();
  for (const std::string& path : std::vector<std::string>{
           "/v1/accounts/bu1user2/balance", std::string("/v1/balances"), "/v1/usage?" + span,
           "/v1/usage?" + span + "&account=bu1user2", "/v1/usage?" + span + "&resource=vm-1003",
           "/v1/charges?" + span, "/v1/charges?" + span + "&account=bu1user2",
           "/v1/charges?" + span + "&domain=bu1", std::string("/v1/accounts/bu1user1/ledger"),
           std::string("/v1/stats"), std::string("/v1/events"), std::string("/v1/accounts"),
           std::string("/v1/resource-hosts")}) {
    SCOPED_TRACE(path);
    ExpectError(c.Send("GET", path, customer), 403, "PermissionDenied");
  }
  ExpectError(c.Send("POST", "/v1/accounts/bu1user1/topups", customer,
                     R"({"amount": "5", "reference": "by-customer"})"),
              403, "PermissionDenied");
}

TEST_F(MeterdHttpTest, ARevokedKeyFailsOnItsOpenConnection) {
  const std::string key = CreateKey(wire::Role::Billing, "");
  auto c = Client();
  ASSERT_EQ(c.Send("GET", "/v1/stats", key).status, 200u);
  CommandResult revoke = Meterctl("keys revoke " + key.substr(3, 16));
  ASSERT_EQ(revoke.exit_code, 0) << revoke.out << revoke.err;
  ExpectError(c.Send("GET", "/v1/stats", key), 401, "Unauthenticated");
  ExpectError(c.Send("GET", "/v1/stats", key), 401, "Unauthenticated");
}

TEST_F(MeterdHttpTest, NotFoundMethodsAndBadParameters) {
  ApplyCatalog();
  const std::string admin = server_.admin_key();
  auto c = Client();
  ExpectError(c.Send("GET", "/v1/no-such-route", admin), 404, "NotFound");
  ExpectError(c.Send("GET", "/nothing-here"), 404, "NotFound");
  ExpectError(c.Send("GET", "/v1/plans/no-such-plan", admin), 404, "NotFound");
  ExpectError(c.Send("GET", "/v1/resources/vm-nobody", admin), 404, "NotFound");
  ExpectError(c.Send("GET", "/v1/accounts/nobody/balance", admin), 404, "NotFound");
  Response method = c.Send("DELETE", "/v1/stats", admin);
  EXPECT_EQ(method.status, 405u) << method.body;
  ExpectError(c.Send("GET", "/v1/usage?from=yesterday&to=2026-11-02T00:00:00Z", admin), 400,
              "InvalidArgument");
  ExpectError(c.Send("GET", "/v1/usage?to=2026-11-02T00:00:00Z", admin), 400, "InvalidArgument");
  ExpectError(c.Send("GET", "/v1/stats?verbose=1", admin), 400, "InvalidArgument");
  ExpectError(
      c.Send("GET",
             std::string("/v1/charges?from=") + kFrom + "&to=" + kTo + "&account=a&project=b",
             admin),
      400, "InvalidArgument");
  // After all these the connection is still good.
  EXPECT_EQ(c.Send("GET", "/healthz").status, 200u);
}

TEST_F(MeterdHttpTest, AnOversizedBodyIs413AndClosesTheConnection) {
  auto c = Client();
  const std::string big = R"({"amount": "1", "reference": ")" + std::string(70 * 1024, 'x') + "\"}";
  Response r = c.Send("POST", "/v1/accounts/bu1user1/topups", server_.admin_key(), big);
  ExpectError(r, 413, "FrameTooLarge");
  EXPECT_FALSE(r.keep_alive);
  // Under the limit, the same request is read (and refused for what it says, not its size).
  auto d = Client();
  ExpectError(d.Send("POST", "/v1/accounts/bu1user1/topups", server_.admin_key(),
                     R"({"amount": 1, "reference": "r"})"),
              400, "InvalidArgument");
}

// curl (a real client) asks before sending a body (Expect: 100-continue) and waits up to a
// second for the go-ahead: the server gives it at once, and refuses an oversized body from its
// Content-Length before any of it is sent.
TEST_F(MeterdHttpTest, CurlIsToldToSendItsBodyOrThatItIsTooLarge) {
  if (std::system("curl --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "curl not installed";
  ApplyCatalog();
  auto curl = [&](const std::string& body) {
    const std::string file = WriteFile("body.json", body);
    return Shell("curl -s -o " + tmp_.path() +
                 "/curl.out -w '%{http_code} %{time_total}' -H 'Expect: 100-continue' "
                 "-H 'Content-Type: application/json' -H 'Authorization: Bearer " +
                 server_.admin_key() + "' --data-binary @" + file + " http://127.0.0.1:" +
                 std::to_string(http_port_) + "/v1/accounts/bu1user1/topups");
  };
  CommandResult ok =
      curl(R"({"amount": "2", "reference": "curl-)" + std::string(2000, 'c') + "\"}");
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  std::istringstream first(ok.out);
  unsigned status = 0;
  double seconds = 0;
  first >> status >> seconds;
  EXPECT_EQ(status, 201u) << ok.out;
  EXPECT_LT(seconds, 0.9) << "curl waited for 100 Continue";

  CommandResult big = curl(std::string(200 * 1024, ' ') + "{}");
  std::istringstream second(big.out);
  second >> status >> seconds;
  EXPECT_EQ(status, 413u) << big.out;
  EXPECT_LT(seconds, 0.9);
}

TEST_F(MeterdHttpTest, ATopUpChangesTheBalanceOnceForItsReference) {
  ApplyCatalog();
  const std::string admin = server_.admin_key();
  auto c = Client();
  Response before = c.Send("GET", "/v1/accounts/bu1user1/balance", admin);
  ASSERT_EQ(before.status, 200u) << before.body;
  const int64_t balance_before = before.json()["balance_micro"];

  const std::string body = R"({"amount": "12.5", "reference": "pay_http_1"})";
  Response first = c.Send("POST", "/v1/accounts/bu1user1/topups", admin, body);
  ASSERT_EQ(first.status, 201u) << first.body;
  const Json j = first.json();
  EXPECT_FALSE(j["duplicate"].get<bool>());
  EXPECT_EQ(j["entry"]["kind"], "topup");  // as docs/ledger.md and meterctl spell it
  EXPECT_EQ(j["entry"]["amount"], "12.500000");
  EXPECT_EQ(j["entry"]["amount_micro"], 12500000);
  EXPECT_EQ(j["entry"]["reference"], "pay_http_1");

  Response after = c.Send("GET", "/v1/accounts/bu1user1/balance", admin);
  ASSERT_EQ(after.status, 200u);
  EXPECT_EQ(after.json()["balance_micro"].get<int64_t>(), balance_before + 12500000);
  EXPECT_EQ(after.json()["balance"], Credits(balance_before + 12500000));

  // The same reference again: the first entry, no second credit.
  Response again = c.Send("POST", "/v1/accounts/bu1user1/topups", admin, body);
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_TRUE(again.json()["duplicate"].get<bool>());
  EXPECT_EQ(again.json()["entry"]["id"], j["entry"]["id"]);
  EXPECT_EQ(c.Send("GET", "/v1/accounts/bu1user1/balance", admin).json()["balance_micro"],
            balance_before + 12500000);
  // The same reference with another amount is a conflict.
  ExpectError(c.Send("POST", "/v1/accounts/bu1user1/topups", admin,
                     R"({"amount": "13", "reference": "pay_http_1"})"),
              409, "AlreadyExists");

  // The entry is in the ledger and in every account's balances.
  Response ledger = c.Send("GET", "/v1/accounts/bu1user1/ledger", admin);
  ASSERT_EQ(ledger.status, 200u);
  bool found = false;
  const Json entries = ledger.json()["entries"];
  for (const auto& e : entries) {
    if (e["reference"] == "pay_http_1") {
      found = true;
      EXPECT_EQ(e["amount_micro"], 12500000);
    }
  }
  EXPECT_TRUE(found) << ledger.body;
  Response all = c.Send("GET", "/v1/balances", admin);
  bool listed = false;
  const Json balances = all.json()["balances"];
  for (const auto& b : balances) {
    if (b["account"] == "bu1user1") {
      listed = true;
      EXPECT_EQ(b["balance_micro"].get<int64_t>(), balance_before + 12500000);
    }
  }
  EXPECT_TRUE(listed) << all.body;
}

TEST_F(MeterdHttpTest, MetricsAreThePrometheusTextFormat) {
  auto c = Client();
  // Some traffic on both ports first, so counters move.
  ASSERT_EQ(c.Send("GET", "/v1/stats", server_.admin_key()).status, 200u);
  const auto t0 = std::chrono::steady_clock::now();
  Response r = c.Send("GET", "/metrics");
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  std::printf("/metrics: %zu bytes in %.2f ms\n", r.body.size(), ms);
  const std::regex sample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|\+Inf|NaN))");
  const std::regex type_line(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
  std::map<std::string, std::string> types;
  std::map<std::string, double> values;
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.starts_with("# HELP ")) continue;
    if (line.starts_with("# TYPE ")) {
      ASSERT_TRUE(std::regex_match(line, m, type_line)) << line;
      EXPECT_FALSE(types.contains(m[1])) << "family twice: " << line;
      types[m[1]] = m[2];
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, sample)) << "not a sample line: " << line;
    values[std::string(m[1]) + std::string(m[2])] = std::stod(m[3]);
  }
  for (const char* family :
       {"meterd_ingest_samples_accepted_total", "meterd_ingest_samples_rejected_total",
        "meterd_ingest_ack_latency_seconds", "meterd_wal_sync_seconds", "meterd_head_memory_bytes",
        "meterd_connections", "meterd_rollup_lag_seconds", "meterd_rollup_revisions_total",
        "meterd_rating_seconds", "meterd_http_connections", "meterd_http_requests_total",
        "process_cpu_seconds_total", "process_resident_memory_bytes",
        "process_start_time_seconds"}) {
    EXPECT_TRUE(types.contains(family)) << family;
  }
  EXPECT_EQ(types["meterd_ingest_ack_latency_seconds"], "histogram");
  EXPECT_EQ(types["meterd_wal_sync_seconds"], "histogram");
  EXPECT_TRUE(values.contains("meterd_ingest_samples_rejected_total{reason=\"unknown_series\"}"));
  EXPECT_GE(values["meterd_http_connections"], 1);
  EXPECT_GE(values["meterd_http_requests_total"], 2);
  EXPECT_GT(values["process_resident_memory_bytes"], 1e6);
  EXPECT_GT(values["process_start_time_seconds"], 1.6e9);
}

// docs/grafana-dashboard.json: every metric its expressions name is a family (or a histogram's
// _bucket, _sum or _count) that this meterd's /metrics exposes. An expression is read as PromQL
// far enough for that: strings, label matchers and range selectors are dropped, `by (...)` and
// `without (...)` label lists too, then every identifier that is not a function call or a
// keyword must be a metric.
TEST_F(MeterdHttpTest, TheGrafanaDashboardNamesOnlyExposedMetrics) {
  auto c = Client();
  Response r = c.Send("GET", "/metrics");
  ASSERT_EQ(r.status, 200u);
  std::set<std::string> families;
  std::map<std::string, std::string> types;
  const std::regex type_line(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+))");
  std::istringstream in(r.body);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, type_line)) types[m[1]] = m[2];
  }
  for (const auto& [name, type] : types) {
    families.insert(name);
    if (type == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) families.insert(name + suffix);
    }
  }
  std::ifstream file(std::string(METERD_SOURCE_DIR) + "/docs/grafana-dashboard.json");
  const Json dashboard = Json::parse(file, nullptr, false);
  ASSERT_TRUE(dashboard.is_object());
  const std::set<std::string> keywords = {"by",          "without", "on", "ignoring", "group_left",
                                          "group_right", "and",     "or", "unless",   "bool",
                                          "offset",      "inf",     "nan"};
  const std::regex dropped(
      R"("[^"]*"|\{[^}]*\}|\[[^\]]*\]|\b(by|without|on|ignoring)\s*\([^)]*\))");
  const std::regex identifier(R"([a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?)");
  size_t expressions = 0, named = 0;
  std::set<std::string> used;
  for (const Json& panel : dashboard["panels"]) {
    ASSERT_TRUE(panel.contains("targets")) << panel.dump();
    for (const Json& target : panel["targets"]) {
      const std::string expr = target["expr"];
      ++expressions;
      const std::string bare = std::regex_replace(expr, dropped, " ");
      size_t in_expr = 0;
      for (auto it = std::sregex_iterator(bare.begin(), bare.end(), identifier);
           it != std::sregex_iterator(); ++it) {
        const std::string word = (*it)[0];
        if ((*it)[1].matched) continue;  // a function or aggregation: name(
        if (keywords.contains(word)) continue;
        EXPECT_TRUE(families.contains(word))
            << panel["title"] << ": \"" << expr << "\" names " << word << ", not in /metrics";
        used.insert(word);
        ++in_expr;
      }
      EXPECT_GT(in_expr, 0u) << panel["title"] << ": \"" << expr << "\" names no metric";
      named += in_expr;
    }
  }
  EXPECT_GE(expressions, 20u);
  // The dashboard covers what /metrics is for: ingest, both latency histograms, memory,
  // connections, rollup lag, revisions, rating time and the process.
  for (const char* m :
       {"meterd_ingest_samples_accepted_total", "meterd_ingest_samples_rejected_total",
        "meterd_ingest_ack_latency_seconds_bucket", "meterd_wal_sync_seconds_bucket",
        "meterd_head_memory_bytes", "meterd_connections", "meterd_rollup_lag_seconds",
        "meterd_rollup_revisions_total", "meterd_rating_seconds_bucket",
        "process_cpu_seconds_total", "process_resident_memory_bytes"}) {
    EXPECT_TRUE(used.contains(m)) << m << " is on no panel";
  }
}

// Ingest over the binary port shows in /metrics: accepted samples, a refused one by reason,
// and an acknowledgement in the latency histogram.
TEST_F(MeterdHttpTest, MetricsCountIngestAndItsRejections) {
  const std::string key = CreateKey(wire::Role::Agent, "hv-m");
  auto agent = Connect(key);
  const uint64_t id = net::SeriesIdOf("vm-m", "vm.vcpus");
  ASSERT_TRUE(agent->DefineSeries({{"vm-m", "vm.vcpus"}}).ok());
  net::IngestBatchData b;
  b.sequence = 1;
  b.base_time = UnixNow() - 5;
  b.series = {id, id, 12345};  // the last one is not defined
  b.offsets = {0, 1, 2};
  b.values = {2, 2, 7};
  bool acked = false;
  agent->set_ack_callback([&](const net::IngestAckInfo& a) {
    acked = true;
    EXPECT_EQ(a.accepted, 2u);
    EXPECT_EQ(a.rejected, 1u);
  });
  ASSERT_TRUE(agent->SendBatch(b.sequence, net::BuildIngestFrame(b)).ok());
  ASSERT_TRUE(agent->Drain().ok());
  ASSERT_TRUE(acked);
  agent->set_ack_callback(nullptr);

  auto c = Client();
  Response r = c.Send("GET", "/metrics");
  ASSERT_EQ(r.status, 200u);
  EXPECT_NE(r.body.find("\nmeterd_ingest_samples_accepted_total 2\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("meterd_ingest_samples_rejected_total{reason=\"unknown_series\"} 1\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("meterd_ingest_ack_latency_seconds_count 1\n"), std::string::npos);
  // The batch was acknowledged after a WAL sync, so at least one sync was timed, and its
  // +Inf bucket is its count.
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(r.body, m, std::regex("\nmeterd_wal_sync_seconds_count ([0-9]+)\n")));
  const uint64_t syncs = std::stoull(m[1]);
  EXPECT_GE(syncs, 1u);
  EXPECT_NE(
      r.body.find("meterd_wal_sync_seconds_bucket{le=\"+Inf\"} " + std::to_string(syncs) + "\n"),
      std::string::npos);
}

// HTTPS: the port serves TLS with a certificate the test makes (openssl, self-signed for
// 127.0.0.1), and curl verifies it against that certificate.
class MeterdHttpsTest : public MeterdHttpTest {
 protected:
  void SetUp() override {
    if (std::system("openssl version >/dev/null 2>&1") != 0 ||
        std::system("curl --version >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "openssl or curl not installed";
    }
    cert_ = tmp_.path() + "/cert.pem";
    const std::string key = tmp_.path() + "/key.pem";
    const CommandResult made = Shell(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " +
        key + " -out " + cert_ + " 2>&1");
    ASSERT_EQ(made.exit_code, 0) << made.out;
    std::vector<std::string> flags = {
        "--http-listen",   "127.0.0.1:0", "--http-port-file", tmp_.path() + "/http.port",
        "--http-tls-cert", cert_,         "--http-tls-key",   key};
    ASSERT_NO_FATAL_FAILURE(AddFlags(&flags));
    StartServer(flags);
    std::ifstream in(tmp_.path() + "/http.port");
    unsigned port = 0;
    in >> port;
    ASSERT_NE(port, 0u);
    http_port_ = static_cast<uint16_t>(port);
  }
  // curl's exit code and "<status>" for `url`.
  std::pair<int, std::string> Curl(const std::string& options, const std::string& url) {
    const CommandResult r =
        Shell("curl -s -o /dev/null -w '%{http_code}' --max-time 10 " + options + " " + url);
    return {r.exit_code, r.out};
  }
  // More meterd flags (the mutual TLS test's client CA).
  virtual void AddFlags(std::vector<std::string>*) {}
  std::string cert_;
};

// HTTPS with --http-tls-client-ca: the client certificate is self-signed, so it is its own CA.
class MeterdHttpsClientCaTest : public MeterdHttpsTest {
 protected:
  void AddFlags(std::vector<std::string>* flags) override {
    client_cert_ = tmp_.path() + "/client.pem";
    client_key_ = tmp_.path() + "/client-key.pem";
    const CommandResult made = Shell(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        "-subj /CN=billing-client -keyout " +
        client_key_ + " -out " + client_cert_ + " 2>&1");
    ASSERT_EQ(made.exit_code, 0) << made.out;
    flags->insert(flags->end(), {"--http-tls-client-ca", client_cert_});
  }
  std::string client_cert_, client_key_;
};

TEST_F(MeterdHttpsTest, ServesTlsWithTheGivenCertificate) {
  const std::string base = "https://127.0.0.1:" + std::to_string(http_port_);
  const std::string ca = "--cacert " + cert_;
  EXPECT_EQ(Curl(ca, base + "/healthz"), std::make_pair(0, std::string("200")));
  EXPECT_EQ(
      Curl(ca + " -H 'Authorization: Bearer " + server_.admin_key() + "'", base + "/v1/stats"),
      std::make_pair(0, std::string("200")));
  EXPECT_EQ(Curl(ca, base + "/v1/stats"), std::make_pair(0, std::string("401")));
  // Without the certificate as a trust anchor, curl refuses the server (60: peer certificate
  // cannot be authenticated).
  EXPECT_EQ(Curl("", base + "/healthz").first, 60);
  // Plain HTTP to the TLS port gets no HTTP answer.
  EXPECT_NE(Curl("", "http://127.0.0.1:" + std::to_string(http_port_) + "/healthz").second, "200");
  // The port still serves after the failed handshakes.
  EXPECT_EQ(Curl(ca, base + "/readyz"), std::make_pair(0, std::string("200")));
}

TEST_F(MeterdHttpsClientCaTest, ClientCertificatesWhenAskedFor) {
  const std::string base = "https://127.0.0.1:" + std::to_string(http_port_);
  const std::string ca = "--cacert " + cert_;
  const std::string mine = ca + " --cert " + client_cert_ + " --key " + client_key_;
  EXPECT_EQ(Curl(mine, base + "/healthz"), std::make_pair(0, std::string("200")));
  EXPECT_EQ(
      Curl(mine + " -H 'Authorization: Bearer " + server_.admin_key() + "'", base + "/v1/stats"),
      std::make_pair(0, std::string("200")));
  // The certificate is the transport's check; the API key is still the request's.
  EXPECT_EQ(Curl(mine, base + "/v1/stats"), std::make_pair(0, std::string("401")));
  // Without a client certificate, or with one the CA did not sign (the server's own), the
  // handshake fails: no HTTP status at all.
  const auto none = Curl(ca, base + "/healthz");
  EXPECT_NE(none.first, 0);
  EXPECT_EQ(none.second, "000");
  const auto other =
      Curl(ca + " --cert " + cert_ + " --key " + tmp_.path() + "/key.pem", base + "/healthz");
  EXPECT_NE(other.first, 0);
  EXPECT_EQ(other.second, "000");
  // The port still serves after the refused handshakes.
  EXPECT_EQ(Curl(mine, base + "/readyz"), std::make_pair(0, std::string("200")));
}

// A client CA without a certificate, or one that cannot be read, stops the start (exit 2).
TEST_F(MeterdHttpTest, HttpsClientCaFlagsAreCheckedAtStart) {
  const std::string missing = tmp_.path() + "/missing-ca.pem";
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"--http-tls-client-ca", missing},
        std::vector<std::string>{"--http-listen", "127.0.0.1:0", "--http-tls-client-ca",
                                 missing}}) {
    bench::ServerProcess p;
    p.set_start_timeout(std::chrono::seconds(20));
    const Status st = p.Start(METERD_BIN, tmp_.path() + "/bad-flags", flags);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.ToString().find("exited during start"), std::string::npos) << st.ToString();
    EXPECT_NE(p.LogTail().find("--http-tls-cert"), std::string::npos) << p.LogTail();
  }
}

// Debian's real Prometheus server scrapes /metrics every second: the target must be up with no
// scrape error (Prometheus' own parser accepts the exposition), and meterd's series must be
// queryable from it. Skipped when prometheus is not installed (the install script installs it).
TEST_F(MeterdHttpTest, TheRealPrometheusScrapesMetrics) {
  const std::string binary = "/usr/bin/prometheus";
  if (::access(binary.c_str(), X_OK) != 0) GTEST_SKIP() << "prometheus not installed";
  // A free loopback port for Prometheus' own web server.
  uint16_t web_port = 0;
  {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(
        ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    web_port = a.local_endpoint().port();
  }
  const std::string config =
      WriteFile("prometheus.yml",
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: meterd\n    static_configs:\n"
                "      - targets: ['127.0.0.1:" +
                    std::to_string(http_port_) + "']\n");
  const std::string log = tmp_.path() + "/prometheus.log";
  std::vector<std::string> args = {
      binary, "--config.file=" + config, "--storage.tsdb.path=" + tmp_.path() + "/prometheus-data",
      "--web.listen-address=127.0.0.1:" + std::to_string(web_port), "--log.level=warn"};
  ChildProcess prometheus;
  ASSERT_TRUE(prometheus.Start(binary, std::move(args), log)) << binary;

  // Up to 30 s for Prometheus to start and scrape twice (it scrapes every second).
  Json target;
  double requests = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    try {
      HttpClient prom(web_port);
      Json targets = prom.Send("GET", "/api/v1/targets").json();
      if (!targets.is_object() || targets["data"]["activeTargets"].empty()) continue;
      target = targets["data"]["activeTargets"][0];
      if (target["health"] != "up") continue;
      Json q = prom.Send("GET", "/api/v1/query?query=meterd_http_requests_total").json();
      if (q.is_object() && !q["data"]["result"].empty()) {
        requests = std::stod(q["data"]["result"][0]["value"][1].get<std::string>());
        if (requests >= 2) break;  // two scrapes seen
      }
    } catch (const std::exception&) {
      // not listening yet
    }
  }
  ASSERT_FALSE(target.is_null()) << "Prometheus never listed its target; see " << log;
  EXPECT_EQ(target["health"], "up") << target.dump();
  EXPECT_EQ(target["lastError"], "") << target.dump();
  EXPECT_GE(requests, 2) << "meterd_http_requests_total never reached Prometheus";
  HttpClient prom(web_port);
  Json hist =
      prom.Send("GET", "/api/v1/query?query=count(meterd_ingest_ack_latency_seconds_bucket)")
          .json();
  ASSERT_FALSE(hist["data"]["result"].empty()) << hist.dump();
  EXPECT_EQ(hist["data"]["result"][0]["value"][1], "17");  // 16 bounds and +Inf
}

}  // namespace
}  // namespace meterd::testing
