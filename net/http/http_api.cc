// meterd — net/http/http_api.cc
#include "net/http/http_api.h"

#include <openssl/evp.h>

#include <atomic>
#include <charconv>
#include <cstring>
#include <map>
#include <set>

#include "net/http/http_internal.h"
#include "net/http/json_format.h"
#include "net/http/wire_json.h"
#include "net/protocol/messages.h"

namespace meterd::net {

namespace {

namespace asio = boost::asio;

constexpr const char* kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";

std::atomic<uint64_t> next_request_id{1};

HttpResponse JsonResponse(unsigned status, const Json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  r.body += '\n';
  return r;
}

HttpResponse ErrorResponse(unsigned status, std::string_view code, std::string_view message) {
  Json body;
  body["error"]["code"] = code;
  body["error"]["message"] = message;
  HttpResponse r = JsonResponse(status, body);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"meterd\"");
  return r;
}

HttpResponse ErrorResponse(wire::ErrorCode code, std::string_view message) {
  const char* name = wire::EnumNameErrorCode(code);
  return ErrorResponse(HttpStatusOf(code), *name ? name : "Internal", message);
}

HttpResponse BadArgument(std::string_view message) {
  return ErrorResponse(wire::ErrorCode::InvalidArgument, message);
}

std::optional<std::string> UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Splits a query string into its decoded parameters, each at most once; with `allowed`, only the
// names a route takes. Returns the message of the 400 when a pair is malformed, a name is not
// taken or is given twice.
std::optional<std::string> ParseQuery(std::string_view raw, const std::set<std::string>* allowed,
                                      std::map<std::string, std::string>* out) {
  for (size_t pos = 0; pos < raw.size();) {
    const size_t amp = std::min(raw.find('&', pos), raw.size());
    const std::string_view pair = raw.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto name = UrlDecode(pair.substr(0, eq));
    auto value = UrlDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!name || !value) return "malformed query string";
    if (allowed != nullptr && !allowed->contains(*name)) {
      std::string known;
      for (const auto& p : *allowed) known += (known.empty() ? "" : ", ") + p;
      return "unknown query parameter '" + *name + "'" +
             (known.empty() ? " (this route takes none)" : " (known: " + known + ")");
    }
    if (!out->emplace(*name, *value).second) return "query parameter '" + *name + "' given twice";
  }
  return std::nullopt;
}

// One request being routed: its path parameters, query, body and session.
struct Ctx {
  std::map<std::string, std::string> path;
  std::map<std::string, std::string> query;
  std::string body;
  Handler* handler = nullptr;
  SessionState* session = nullptr;
  ApiConnection* connection = nullptr;  // valid until `reply` is called
  HttpReply reply;

  std::string Get(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  }
};

// Turns a request's verified replies into the response (status and body).
using Converter = std::function<Json(const Replies& replies, unsigned* status)>;

Converter Plain(Json (*fn)(const Replies&)) {
  return [fn](const Replies& r, unsigned*) { return fn(r); };
}

// Sends the request `fbb` holds (finished by FinishFrame) through the handler; answers with
// `convert` of the replies, or with the first Error frame.
void Dispatch(const Ctx& c, flatbuffers::FlatBufferBuilder& fbb, Converter convert) {
  const wire::Envelope* env = wire::GetEnvelope(fbb.GetBufferPointer());
  auto responder = std::make_shared<CollectingResponder>(
      HttpApi::kMaxReplyBytes,
      [reply = c.reply, convert = std::move(convert), handler = c.handler, conn = c.connection](
          std::vector<std::vector<uint8_t>> frames, bool too_large) {
        if (too_large) {
          return reply(ErrorResponse(wire::ErrorCode::OutOfRange,
                                     "the reply is over " +
                                         std::to_string(HttpApi::kMaxReplyBytes >> 20) +
                                         " MiB: narrow the query (a shorter period, one account)"));
        }
        // Each payload is copied to 8-aligned memory: the verifier checks alignment.
        std::vector<std::vector<uint64_t>> aligned;
        aligned.reserve(frames.size());
        Replies replies;
        for (const auto& frame : frames) {
          if (frame.size() < kFrameHeaderBytes) continue;
          const size_t n = frame.size() - kFrameHeaderBytes;
          aligned.emplace_back((n + 7) / 8);
          std::memcpy(aligned.back().data(), frame.data() + kFrameHeaderBytes, n);
          const wire::Envelope* e = nullptr;
          const auto* bytes = reinterpret_cast<const uint8_t*>(aligned.back().data());
          if (!VerifyFrame({bytes, n}, kDefaultMaxFrameBytes, &e).ok()) {
            return reply(ErrorResponse(wire::ErrorCode::Internal, "a reply failed verification"));
          }
          if (e->message_type() == wire::Message::Error) {
            const wire::Error* err = e->message_as_Error();
            if (err->code() == wire::ErrorCode::Unauthenticated && conn->session) {
              // The key was revoked: the next request authenticates afresh (and fails). The
              // connection reads nothing until this reply is written, so conn is ours here.
              handler->SessionClosed(conn->session.get());
              conn->session.reset();
              conn->key.clear();
            }
            return reply(ErrorResponse(err->code(), View(err->message())));
          }
          replies.push_back(e);
        }
        unsigned status = 200;
        Json body = convert(replies, &status);
        reply(JsonResponse(status, body));
      });
  c.handler->Handle(c.session, *env, std::move(responder));
}

uint64_t NewId() { return next_request_id.fetch_add(1, std::memory_order_relaxed); }

// Query parameter helpers: each returns false after answering 400.
bool TimeParam(const Ctx& c, const std::string& name, bool required, int64_t* out) {
  const std::string v = c.Get(name);
  if (v.empty()) {
    if (!required) return true;
    c.reply(BadArgument("query parameter '" + name + "' is required (RFC 3339 or unix seconds)"));
    return false;
  }
  auto t = ParseTime(v);
  if (!t) {
    c.reply(BadArgument("query parameter '" + name + "': '" + v +
                        "' is not an RFC 3339 time (2026-11-01T00:00:00Z) or unix seconds"));
    return false;
  }
  *out = *t;
  return true;
}

bool UintParam(const Ctx& c, const std::string& name, uint64_t max, uint64_t* out) {
  const std::string v = c.Get(name);
  if (v.empty()) return true;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n > max) {
    c.reply(BadArgument("query parameter '" + name + "': '" + v + "' is not an integer from 0 to " +
                        std::to_string(max)));
    return false;
  }
  *out = n;
  return true;
}

bool BoolParam(const Ctx& c, const std::string& name, bool* out) {
  const std::string v = c.Get(name);
  if (v.empty()) return true;
  if (v == "true" || v == "1") {
    *out = true;
  } else if (v == "false" || v == "0") {
    *out = false;
  } else {
    c.reply(BadArgument("query parameter '" + name + "' must be true or false"));
    return false;
  }
  return true;
}

// ---- routes ---------------------------------------------------------------------------------

void GetUsage(const Ctx& c) {
  int64_t from = 0, to = 0;
  if (!TimeParam(c, "from", true, &from) || !TimeParam(c, "to", true, &to)) return;
  wire::Granularity g = wire::Granularity::Hour;
  const std::string gran = c.Get("granularity");
  if (gran == "day") {
    g = wire::Granularity::Day;
  } else if (gran == "month") {
    g = wire::Granularity::Month;
  } else if (!gran.empty() && gran != "hour") {
    return c.reply(BadArgument("granularity must be hour, day or month"));
  }
  flatbuffers::FlatBufferBuilder fbb(256);
  FinishFrame(fbb, wire::CreateUsageRequest(
                       fbb, NewId(), from, to, fbb.CreateString(c.Get("resource")),
                       fbb.CreateString(c.Get("project")), fbb.CreateString(c.Get("account")),
                       fbb.CreateString(c.Get("metric")), g));
  Dispatch(c, fbb, Plain(UsageJson));
}

void GetCharges(const Ctx& c) {
  int64_t from = 0, to = 0;
  if (!TimeParam(c, "from", true, &from) || !TimeParam(c, "to", true, &to)) return;
  wire::ChargeScope scope = wire::ChargeScope::All;
  std::string scope_id;
  int scopes = 0;
  for (auto [name, s] : {std::pair{"domain", wire::ChargeScope::Domain},
                         std::pair{"account", wire::ChargeScope::Account},
                         std::pair{"project", wire::ChargeScope::Project},
                         std::pair{"resource", wire::ChargeScope::Resource}}) {
    if (const std::string v = c.Get(name); !v.empty()) {
      scope = s;
      scope_id = v;
      ++scopes;
    }
  }
  if (scopes > 1) {
    return c.reply(BadArgument("give at most one of domain, account, project and resource"));
  }
  static const std::map<std::string, wire::ChargeGroupBy> kGroups = {
      {"product", wire::ChargeGroupBy::Product}, {"resource", wire::ChargeGroupBy::Resource},
      {"project", wire::ChargeGroupBy::Project}, {"account", wire::ChargeGroupBy::Account},
      {"hour", wire::ChargeGroupBy::Hour},       {"day", wire::ChargeGroupBy::Day},
      {"month", wire::ChargeGroupBy::Month}};
  wire::ChargeGroupBy group = wire::ChargeGroupBy::Product;
  if (const std::string v = c.Get("group_by"); !v.empty()) {
    auto it = kGroups.find(v);
    if (it == kGroups.end()) {
      return c.reply(
          BadArgument("group_by must be product, resource, project, account, hour, day or month"));
    }
    group = it->second;
  }
  uint64_t version = 0;
  if (!UintParam(c, "price_version", UINT32_MAX, &version)) return;
  flatbuffers::FlatBufferBuilder fbb(256);
  FinishFrame(fbb, wire::CreateChargesRequest(
                       fbb, NewId(), from, to, scope, fbb.CreateString(scope_id), group,
                       fbb.CreateString(c.Get("currency")), static_cast<uint32_t>(version)));
  Dispatch(c, fbb, Plain(ChargesJson));
}

void GetEstimate(const Ctx& c) {
  if (c.Get("plan").empty()) return c.reply(BadArgument("query parameter 'plan' is required"));
  uint64_t hours = 730;
  if (!UintParam(c, "hours", 1000000, &hours)) return;
  int64_t at = 0;
  if (!TimeParam(c, "at", false, &at)) return;
  flatbuffers::FlatBufferBuilder fbb(256);
  FinishFrame(fbb, wire::CreateEstimateRequest(
                       fbb, NewId(), fbb.CreateString(c.Get("plan")),
                       fbb.CreateString(c.Get("location")), fbb.CreateString(c.Get("storage_tier")),
                       static_cast<int64_t>(hours), at, fbb.CreateString(c.Get("currency"))));
  Dispatch(c, fbb, Plain(EstimateJson));
}

void Balance(const Ctx& c, const std::string& account) {
  bool provisional = false;
  if (!BoolParam(c, "provisional", &provisional)) return;
  flatbuffers::FlatBufferBuilder fbb(128);
  FinishFrame(fbb,
              wire::CreateBalanceRequest(fbb, NewId(), fbb.CreateString(account), provisional));
  if (account.empty()) return Dispatch(c, fbb, Plain(BalancesJson));
  Dispatch(c, fbb, [account](const Replies& replies, unsigned* status) -> Json {
    Json all = BalancesJson(replies);
    for (const Json& b : all["balances"]) {
      if (b["account"] == account) return b;
    }
    *status = 404;
    Json err;
    err["error"]["code"] = "NotFound";
    err["error"]["message"] = "no balance for account '" + account + "'";
    return err;
  });
}

void GetBalances(const Ctx& c) { Balance(c, ""); }
void GetAccountBalance(const Ctx& c) { Balance(c, c.path.at("account")); }

void GetLedger(const Ctx& c) {
  int64_t from = 0, to = 0;
  if (!TimeParam(c, "from", false, &from) || !TimeParam(c, "to", false, &to)) return;
  uint64_t limit = 0;
  if (!UintParam(c, "limit", UINT32_MAX, &limit)) return;
  flatbuffers::FlatBufferBuilder fbb(128);
  FinishFrame(fbb, wire::CreateLedgerRequest(fbb, NewId(), fbb.CreateString(c.path.at("account")),
                                             from, to, static_cast<uint32_t>(limit)));
  Dispatch(c, fbb, Plain(LedgerJson));
}

void PostTopUp(const Ctx& c) {
  Json body = Json::parse(c.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return c.reply(BadArgument("the body must be a JSON object"));
  }
  std::string fields[3];
  const char* names[3] = {"amount", "reference", "currency"};
  for (int i = 0; i < 3; ++i) {
    auto it = body.find(names[i]);
    if (it == body.end() || it->is_null()) continue;
    if (!it->is_string()) {
      // Money is never a JSON number: a float would not hold every amount exactly.
      return c.reply(BadArgument(std::string("'") + names[i] +
                                 "' must be a string (amounts are decimal strings: \"100.50\")"));
    }
    fields[i] = it->get<std::string>();
  }
  for (const auto& [key, value] : body.items()) {
    if (key != "amount" && key != "reference" && key != "currency") {
      return c.reply(BadArgument("unknown field '" + key + "' (amount, reference, currency)"));
    }
  }
  if (fields[0].empty()) return c.reply(BadArgument("'amount' is required"));
  if (fields[1].empty()) {
    return c.reply(BadArgument("'reference' is required: it makes the top-up idempotent"));
  }
  flatbuffers::FlatBufferBuilder fbb(256);
  FinishFrame(fbb, wire::CreatePostEntry(fbb, NewId(), fbb.CreateString(c.path.at("account")),
                                         wire::LedgerKind::TopUp, fbb.CreateString(fields[0]),
                                         fbb.CreateString(fields[2]), fbb.CreateString(fields[1])));
  Dispatch(c, fbb, [](const Replies& replies, unsigned* status) {
    Json j = PostEntryJson(replies);
    *status = j.value("duplicate", false) ? 200 : 201;
    return j;
  });
}

void GetEvents(const Ctx& c) {
  uint64_t after = 0, limit = 1000;
  if (!UintParam(c, "after", INT64_MAX, &after) || !UintParam(c, "limit", 10000, &limit)) return;
  if (limit == 0) limit = 1000;
  flatbuffers::FlatBufferBuilder fbb(128);
  FinishFrame(fbb, wire::CreateEventsRequest(fbb, NewId(), static_cast<int64_t>(after),
                                             fbb.CreateString(c.Get("account")), /*follow=*/false,
                                             static_cast<uint32_t>(limit)));
  Dispatch(c, fbb, Plain(EventsJson));
}

void Catalog(const Ctx& c, const std::string& section, const std::string& id) {
  flatbuffers::FlatBufferBuilder fbb(128);
  FinishFrame(
      fbb, wire::CreateListCatalog(fbb, NewId(), fbb.CreateString(section), fbb.CreateString(id)));
  Dispatch(c, fbb, Plain(CatalogJson));
}

void GetCatalog(const Ctx& c) { Catalog(c, "all", ""); }
void GetPlans(const Ctx& c) { Catalog(c, "plans", ""); }
void GetPlan(const Ctx& c) { Catalog(c, "plans", c.path.at("plan")); }
void GetAccounts(const Ctx& c) { Catalog(c, "accounts", ""); }
void GetAccount(const Ctx& c) { Catalog(c, "accounts", c.path.at("account")); }
void GetResources(const Ctx& c) { Catalog(c, "resources", ""); }
void GetResource(const Ctx& c) { Catalog(c, "resources", c.path.at("resource")); }

void GetResourceHosts(const Ctx& c) {
  bool unattributed = false;
  if (!BoolParam(c, "unattributed", &unattributed)) return;
  flatbuffers::FlatBufferBuilder fbb(128);
  FinishFrame(fbb, wire::CreateListResourceHosts(fbb, NewId(), unattributed,
                                                 fbb.CreateString(c.Get("resource"))));
  Dispatch(c, fbb, Plain(ResourceHostsJson));
}

void GetStats(const Ctx& c) {
  flatbuffers::FlatBufferBuilder fbb(64);
  FinishFrame(fbb, wire::CreateStatsRequest(fbb, NewId()));
  Dispatch(c, fbb, Plain(StatsJson));
}

void GetMetricCatalog(const Ctx& c) {
  flatbuffers::FlatBufferBuilder fbb(64);
  FinishFrame(fbb, wire::CreateListMetrics(fbb, NewId()));
  Dispatch(c, fbb, Plain(MetricsJson));
}

struct Route {
  const char* method;
  const char* pattern;  // segments; "{name}" binds a path parameter
  std::set<std::string> params;
  void (*serve)(const Ctx&);
};

const std::vector<Route>& Routes() {
  static const std::vector<Route> kRoutes = {
      {"GET",
       "/v1/usage",
       {"from", "to", "resource", "project", "account", "metric", "granularity"},
       GetUsage},
      {"GET",
       "/v1/charges",
       {"from", "to", "domain", "account", "project", "resource", "group_by", "currency",
        "price_version"},
       GetCharges},
      {"GET",
       "/v1/estimate",
       {"plan", "location", "storage_tier", "hours", "at", "currency"},
       GetEstimate},
      {"GET", "/v1/balances", {"provisional"}, GetBalances},
      {"GET", "/v1/accounts", {}, GetAccounts},
      {"GET", "/v1/accounts/{account}", {}, GetAccount},
      {"GET", "/v1/accounts/{account}/balance", {"provisional"}, GetAccountBalance},
      {"GET", "/v1/accounts/{account}/ledger", {"from", "to", "limit"}, GetLedger},
      {"POST", "/v1/accounts/{account}/topups", {}, PostTopUp},
      {"GET", "/v1/events", {"after", "account", "limit"}, GetEvents},
      {"GET", "/v1/catalog", {}, GetCatalog},
      {"GET", "/v1/plans", {}, GetPlans},
      {"GET", "/v1/plans/{plan}", {}, GetPlan},
      {"GET", "/v1/resources", {}, GetResources},
      {"GET", "/v1/resources/{resource}", {}, GetResource},
      {"GET", "/v1/resource-hosts", {"unattributed", "resource"}, GetResourceHosts},
      {"GET", "/v1/metric-catalog", {}, GetMetricCatalog},
      {"GET", "/v1/stats", {}, GetStats},
  };
  return kRoutes;
}

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  size_t pos = 1;  // after the leading '/'
  while (pos <= path.size()) {
    const size_t slash = std::min(path.find('/', pos), path.size());
    out.emplace_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

bool Match(const char* pattern, const std::vector<std::string>& segments,
           std::map<std::string, std::string>* params) {
  const std::vector<std::string> want = Split(pattern);
  if (want.size() != segments.size()) return false;
  std::map<std::string, std::string> bound;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i].size() > 2 && want[i].front() == '{') {
      if (segments[i].empty()) return false;
      bound[want[i].substr(1, want[i].size() - 2)] = segments[i];
    } else if (want[i] != segments[i]) {
      return false;
    }
  }
  *params = std::move(bound);
  return true;
}

}  // namespace

HttpApi::HttpApi(std::string openapi_json) : openapi_(std::move(openapi_json)) {}

HttpApi::~HttpApi() { metrics_pool_.join(); }

void HttpApi::SetBackend(HttpBackend backend) {
  auto b = std::make_shared<const HttpBackend>(std::move(backend));
  std::lock_guard lock(mu_);
  backend_ = std::move(b);
}

void HttpApi::Unready() {
  std::lock_guard lock(mu_);
  backend_.reset();
}

std::shared_ptr<const HttpBackend> HttpApi::backend() const {
  std::lock_guard lock(mu_);
  return backend_;
}

std::unique_ptr<HttpConnectionState> HttpApi::NewConnection() {
  return std::make_unique<ApiConnection>();
}

void HttpApi::ConnectionClosed(HttpConnectionState* state) {
  auto* conn = static_cast<ApiConnection*>(state);
  auto b = backend();
  if (b && conn->session) b->handler->SessionClosed(conn->session.get());
}

void HttpApi::ServeMetrics(HttpReply reply) {
  auto b = backend();
  if (!b || !b->metrics) {
    HttpResponse r;
    r.status = 503;
    r.content_type = kPrometheusType;
    r.body = "# meterd is not ready\n";
    return reply(std::move(r));
  }
  asio::post(metrics_pool_, [b, reply = std::move(reply)] {
    HttpResponse r;
    r.content_type = kPrometheusType;
    r.body = b->metrics();
    reply(std::move(r));
  });
}

ApiConnection* HttpApi::Authenticate(const HttpBackend& b, HttpRequest& request,
                                     const std::string& key, HttpReply& reply) {
  auto* conn = static_cast<ApiConnection*>(request.connection);
  if (conn == nullptr) {
    reply(ErrorResponse(wire::ErrorCode::Internal, "no connection"));
    return nullptr;
  }
  if (!conn->session || conn->key != key) {
    if (conn->session) b.handler->SessionClosed(conn->session.get());
    conn->session.reset();
    conn->key.clear();
    Result<HelloResult> hello = b.handler->Authenticate(key, "http");
    if (!hello.ok()) {
      reply(ErrorResponse(ToWireCode(hello.status()), hello.status().message()));
      return nullptr;
    }
    conn->session = std::move(hello.value().state);
    conn->role = hello.value().role;
    conn->hypervisor = hello.value().hypervisor;
    conn->key = key;
  }
  return conn;
}

namespace {

// Base64 (RFC 4648, padded) through OpenSSL; empty when it is not.
std::string Base64Decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return {};
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return {};
  const size_t pad = in.ends_with("==") ? 2 : in.ends_with("=") ? 1 : 0;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// The API key of an ingest request: "Bearer <key>", "Token <key>" (Influx v2 clients), "Basic"
// with the key as the password (Influx v1 clients, collectd's User/Password), or ?p=<key>.
std::string IngestKey(std::string_view auth, const std::map<std::string, std::string>& query) {
  auto starts = [&](std::string_view scheme) {
    if (auth.size() <= scheme.size()) return false;
    for (size_t i = 0; i < scheme.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(auth[i])) != scheme[i]) return false;
    }
    return true;
  };
  if (starts("bearer ")) return std::string(auth.substr(7));
  if (starts("token ")) return std::string(auth.substr(6));
  if (starts("basic ")) {
    const std::string decoded = Base64Decode(auth.substr(6));
    const size_t colon = decoded.find(':');
    return colon == std::string::npos ? std::string() : decoded.substr(colon + 1);
  }
  if (auto it = query.find("p"); it != query.end()) return it->second;
  return {};
}

}  // namespace

void HttpApi::ServeIngest(ingest::Format format, const std::string& path,
                          std::string_view raw_query, HttpRequest request, HttpReply reply) {
  if (request.method != "POST") {
    HttpResponse r =
        ErrorResponse(405, "NotSupported", request.method + " is not served on " + path);
    r.headers.emplace_back("Allow", "POST");
    return reply(std::move(r));
  }
  auto b = backend();
  if (!b) {
    return reply(ErrorResponse(wire::ErrorCode::Unavailable, "meterd is not serving requests"));
  }
  std::map<std::string, std::string> query;
  if (auto error = ParseQuery(raw_query, /*allowed=*/nullptr, &query)) {
    return reply(BadArgument(*error));
  }
  const std::string key = IngestKey(request.authorization, query);
  if (key.empty()) {
    return reply(ErrorResponse(wire::ErrorCode::Unauthenticated,
                               "an API key is required: Authorization: Bearer <key>"));
  }
  ApiConnection* conn = Authenticate(*b, request, key, reply);
  if (conn == nullptr) return;
  for (const auto& [name, value] : query) {
    if (!HttpIngest::TakesParam(path, name)) {
      return reply(BadArgument("unknown query parameter '" + name + "'"));
    }
  }
  if (b->ingest.mapping == nullptr) {
    return reply(ErrorResponse(404, "NotFound",
                               "ingest is off: meterd was started without --ingest-mapping"));
  }
  std::unordered_map<std::string, std::string> q(query.begin(), query.end());
  ingest_.Serve(format, path, std::move(q), std::move(request), b->handler, conn, b->ingest,
                std::move(reply));
}

void HttpApi::Serve(HttpRequest request, HttpReply reply) {
  std::string_view target = request.target;
  const size_t qmark = target.find('?');
  const std::string_view raw_path = target.substr(0, qmark);
  const std::string_view raw_query =
      qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1);
  const std::optional<std::string> path = UrlDecode(raw_path);
  if (!path || path->empty() || path->front() != '/') {
    return reply(BadArgument("malformed request target"));
  }
  const bool get = request.method == "GET";

  if (*path == "/healthz" || *path == "/readyz" || *path == "/metrics" ||
      *path == "/openapi.json") {
    if (!get) {
      HttpResponse r = ErrorResponse(405, "NotSupported", "only GET is served here");
      r.headers.emplace_back("Allow", "GET");
      return reply(std::move(r));
    }
    if (*path == "/healthz") return reply(JsonResponse(200, Json{{"status", "ok"}}));
    if (*path == "/readyz") {
      if (backend()) return reply(JsonResponse(200, Json{{"status", "ready"}}));
      return reply(JsonResponse(503, Json{{"status", "not ready"}}));
    }
    if (*path == "/metrics") return ServeMetrics(std::move(reply));
    HttpResponse r;
    r.body = openapi_;
    return reply(std::move(r));
  }

  if (*path == "/ping") {  // InfluxDB clients' liveness check
    HttpResponse r;
    r.status = 204;
    r.content_type.clear();
    r.headers.emplace_back("X-Influxdb-Version", "meterd");
    return reply(std::move(r));
  }
  if (const auto format = HttpIngest::RouteOf(*path)) {
    return ServeIngest(*format, *path, raw_query, std::move(request), std::move(reply));
  }
  if (!path->starts_with("/v1/")) {
    return reply(ErrorResponse(404, "NotFound", "no such route: " + *path));
  }
  auto b = backend();
  if (!b) {
    return reply(ErrorResponse(wire::ErrorCode::Unavailable, "meterd is not serving requests"));
  }

  // Authentication first: an unauthenticated client learns nothing about the routes.
  std::string_view auth = request.authorization;
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.size() <= kBearer.size() ||
      !(auth.substr(0, 7) == kBearer || auth.substr(0, 7) == "bearer ")) {
    return reply(ErrorResponse(wire::ErrorCode::Unauthenticated,
                               "an API key is required: Authorization: Bearer <key>"));
  }
  ApiConnection* conn = Authenticate(*b, request, std::string(auth.substr(kBearer.size())), reply);
  if (conn == nullptr) return;

  const std::vector<std::string> segments = Split(*path);
  const Route* found = nullptr;
  std::string allowed;
  Ctx c;
  for (const Route& r : Routes()) {
    std::map<std::string, std::string> params;
    if (!Match(r.pattern, segments, &params)) continue;
    if (request.method == r.method) {
      found = &r;
      c.path = std::move(params);
      break;
    }
    if (!allowed.empty()) allowed += ", ";
    allowed += r.method;
  }
  if (found == nullptr) {
    if (!allowed.empty()) {
      HttpResponse r =
          ErrorResponse(405, "NotSupported", request.method + " is not served on " + *path);
      r.headers.emplace_back("Allow", allowed);
      return reply(std::move(r));
    }
    return reply(ErrorResponse(404, "NotFound", "no such route: " + *path));
  }
  // Query parameters: each known to the route, at most once.
  if (auto error = ParseQuery(raw_query, &found->params, &c.query)) {
    return reply(BadArgument(*error));
  }
  c.body = std::move(request.body);
  c.handler = b->handler;
  c.session = conn->session.get();
  c.connection = conn;
  c.reply = std::move(reply);
  found->serve(c);
}

}  // namespace meterd::net
