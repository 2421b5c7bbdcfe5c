// meterd — engine/meterd/main.cc: the composition root of the server.
//
//   meterd [--data-dir DIR] [--listen HOST:PORT] [--config FILE] [options]
//
// Opens (or creates) the data directory — the store, the registries, the key store — and
// serves the wire protocol until SIGTERM or SIGINT, then drains: stop accepting, answer what
// is in flight, sync, close. Logs are one event per line, key=value.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "engine/auth/key_store.h"
#include "engine/billing/billing_clock.h"
#include "engine/catalog.h"
#include "engine/downsample/downsampler.h"
#include "engine/events/email_address.h"
#include "engine/events/email_notifier.h"
#include "engine/events/email_store.h"
#include "engine/events/event_log.h"
#include "engine/events/webhook_dispatcher.h"
#include "engine/events/webhook_store.h"
#include "engine/ingest/ingest_pipeline.h"
#include "engine/ingest/rollup_clock.h"
#include "engine/invoicing/collections.h"
#include "engine/invoicing/invoice_event.h"
#include "engine/invoicing/invoice_store.h"
#include "engine/invoicing/invoicer.h"
#include "engine/ledger/ledger.h"
#include "engine/pricebook/billing_store.h"
#include "engine/registry/metric_store.h"
#include "engine/registry/series_registry.h"
#include "engine/service/meter_service.h"
#include "net/http/http_api.h"
#include "net/http/http_server.h"
#include "net/http/openapi_document.h"
#include "net/ingest/ingest_mapping.h"
#include "net/server/server.h"
#include "net/server/tls_context.h"
#include "storage/store.h"

namespace {

using namespace meterd;

struct Flags {
  std::string data_dir = "./meterd-data";
  std::string listen = "127.0.0.1:7400";
  std::string port_file;
  // The HTTP port (docs/http-api.md): off unless --http-listen is given.
  std::string http_listen;
  std::string http_port_file;
  size_t http_threads = 1;
  size_t http_max_connections = 1024;
  size_t http_max_body_kib = 1024;
  std::string http_tls_cert, http_tls_key, http_tls_client_ca;
  std::string tls_cert, tls_key, tls_client_ca;  // the binary port
  // HTTP ingest (Influx, collectd, Prometheus remote_write): off without a mapping file.
  std::string ingest_mapping;
  size_t io_threads = 0;
  size_t query_threads = 2;
  size_t ingest_threads = 1;
  size_t head_memory_mib = 256;
  size_t buffer_budget_mib = 256;
  size_t max_connections = 20000;
  uint32_t max_in_flight = 256;
  int64_t idle_timeout_s = 300;
  int64_t drain_timeout_s = 10;
  int64_t retention_days = 35;
  int64_t max_future_s = 600;
  int64_t staleness_s = 60;
  int64_t grace_s = 600;
  size_t revision_buffer_rows = size_t{1} << 18;
  bool rollups = true;
  bool billing_clock = true;
  int64_t billing_start = 0;
  bool webhooks = true;
  // Collections (docs/invoices.md, "Collections"): a pass every this many seconds; 0 = none
  // (passes then come only from `meterctl invoice collect`).
  int64_t collections_interval_s = 60;
  // Email notices (docs/events.md, "Email notices"): on when --smtp-url is given.
  bool email = true;
  std::string smtp_url, smtp_from, smtp_user, smtp_password_file, smtp_ca_file;
  std::string smtp_starttls = "required";
  std::string email_kinds = "low_balance,negative";
  int64_t smtp_timeout_s = 30;
  std::string io_backend = "auto";
  std::string log_level = "info";
};

// False (and logged as a bad `flag`) when TLS flags of `port` are given and their files do not
// make a server context: unreadable, a key that is not the certificate's, a CA without TLS.
bool TlsFlagsUsable(const net::TlsFiles& files, const char* port, const char* flag) {
  if (!files.requested()) return true;
  auto ctx = net::MakeServerTlsContext(files, port);
  if (ctx.ok()) return true;
  spdlog::critical("event=bad_flag flag={} error=\"{}\"", flag, ctx.status().ToString());
  return false;
}

bool SplitHostPort(const std::string& s, std::string* host, uint16_t* port) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  *host = s.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[') *host = host->substr(1, host->size() - 2);
  try {
    const unsigned long p = std::stoul(s.substr(colon + 1));
    if (p > 65535) return false;
    *port = static_cast<uint16_t>(p);
  } catch (...) {
    return false;
  }
  return !host->empty();
}

// The email notifier's options from the flags; nullopt when email is off (no --smtp-url, or
// --no-email). Exits 2 on a bad flag.
std::optional<engine::events::EmailOptions> EmailFlags(const Flags& f) {
  namespace ev = engine::events;
  if (!f.email || f.smtp_url.empty()) return std::nullopt;
  auto bad = [](const char* flag, const std::string& why) {
    spdlog::critical("event=bad_flag flag={} error=\"{}\"", flag, why);
    std::exit(2);
  };
  ev::EmailOptions o;
  o.smtp.url = f.smtp_url;
  if (Status st = ev::ValidateSmtpUrl(f.smtp_url); !st.ok()) bad("--smtp-url", st.ToString());
  Result<ev::StartTls> tls = ev::ParseStartTls(f.smtp_starttls);
  if (!tls.ok()) bad("--smtp-starttls", tls.status().ToString());
  o.smtp.starttls = *tls;
  if (!ev::ValidAddress(f.smtp_from)) bad("--smtp-from", "an address (local@domain) is required");
  o.from = f.smtp_from;
  o.smtp.user = f.smtp_user;
  o.smtp.ca_file = f.smtp_ca_file;
  if (f.smtp_timeout_s < 1) bad("--smtp-timeout", "at least 1 second");
  o.smtp.timeout = std::chrono::seconds(f.smtp_timeout_s);
  if (!f.smtp_password_file.empty()) {
    if (f.smtp_user.empty()) bad("--smtp-password-file", "needs --smtp-user");
    std::ifstream in(f.smtp_password_file);
    if (!in) bad("--smtp-password-file", "cannot read " + f.smtp_password_file);
    std::getline(in, o.smtp.password);  // the first line; a trailing CR is dropped too
    if (!o.smtp.password.empty() && o.smtp.password.back() == '\r') o.smtp.password.pop_back();
    std::error_code ec;
    const auto perms = std::filesystem::status(f.smtp_password_file, ec).permissions();
    using std::filesystem::perms;
    if (!ec && (perms & (perms::group_all | perms::others_all)) != perms::none) {
      spdlog::warn("event=smtp_password_file_open file={} note=\"readable by others: chmod 600\"",
                   f.smtp_password_file);
    }
  }
  o.kinds.clear();
  for (size_t pos = 0; pos <= f.email_kinds.size();) {
    const size_t comma = std::min(f.email_kinds.find(',', pos), f.email_kinds.size());
    std::string kind = f.email_kinds.substr(pos, comma - pos);
    std::erase(kind, ' ');
    if (!engine::events::EventLog::ValidKind(kind)) bad("--email-kinds", "'" + kind + "'");
    o.kinds.push_back(kind);
    pos = comma + 1;
  }
  if (o.smtp.starttls == ev::StartTls::kOff && f.smtp_url.starts_with("smtp://") &&
      !o.smtp.user.empty()) {
    spdlog::warn(
        "event=smtp_plaintext_auth note=\"--smtp-starttls off sends the password in the "
        "clear\"");
  }
  return o;
}

template <typename T>
T OrDie(Result<T> r, const char* what) {
  if (!r.ok()) {
    spdlog::critical("event=open_failed part={} error=\"{}\"", what, r.status().ToString());
    std::exit(1);
  }
  return std::move(r).value();
}

void OrDie(const Status& s, const char* what) {
  if (!s.ok()) {
    spdlog::critical("event=open_failed part={} error=\"{}\"", what, s.ToString());
    std::exit(1);
  }
}

int Run(const Flags& f) {
  std::error_code ec;
  std::filesystem::create_directories(f.data_dir, ec);
  if (ec) {
    spdlog::critical("event=open_failed part=data_dir dir={} error=\"{}\"", f.data_dir,
                     ec.message());
    return 1;
  }
  net::ServerOptions so;
  if (!SplitHostPort(f.listen, &so.host, &so.port)) {
    spdlog::critical("event=bad_flag flag=--listen value=\"{}\" expected=HOST:PORT", f.listen);
    return 2;
  }
  // Checked before anything is opened: a bad email flag stops the start (exit 2).
  std::optional<engine::events::EmailOptions> email_options = EmailFlags(f);
  so.io_threads = f.io_threads;
  so.max_connections = f.max_connections;
  so.max_in_flight = f.max_in_flight;
  so.idle_timeout = std::chrono::seconds(f.idle_timeout_s);
  so.drain_timeout = std::chrono::seconds(f.drain_timeout_s);
  so.buffer_budget_bytes = f.buffer_budget_mib << 20;
  so.tls_cert_file = f.tls_cert;
  so.tls_key_file = f.tls_key;
  so.tls_client_ca_file = f.tls_client_ca;
  // Checked before anything is opened too: a certificate, key or CA that cannot be used stops
  // the start (exit 2) rather than after the data directory was opened and recovered.
  if (!TlsFlagsUsable({f.tls_cert, f.tls_key, f.tls_client_ca}, "the binary port", "--tls-cert")) {
    return 2;
  }
  net::HttpServerOptions ho;
  if (!f.http_listen.empty() && !SplitHostPort(f.http_listen, &ho.host, &ho.port)) {
    spdlog::critical("event=bad_flag flag=--http-listen value=\"{}\" expected=HOST:PORT",
                     f.http_listen);
    return 2;
  }
  ho.io_threads = f.http_threads;
  ho.max_connections = f.http_max_connections;
  ho.max_body_bytes = f.http_max_body_kib << 10;
  ho.tls_cert_file = f.http_tls_cert;
  ho.tls_key_file = f.http_tls_key;
  ho.tls_client_ca_file = f.http_tls_client_ca;
  if (!TlsFlagsUsable({f.http_tls_cert, f.http_tls_key, f.http_tls_client_ca}, "HTTPS",
                      "--http-tls-cert")) {
    return 2;
  }
  ho.drain_timeout = std::chrono::seconds(f.drain_timeout_s);

  // The ingest mapping (docs/ingest-mapping.md) is read before anything opens: a bad file stops
  // the start (exit 2).
  std::optional<net::ingest::IngestMapping> ingest_mapping;
  if (!f.ingest_mapping.empty()) {
    if (f.http_listen.empty()) {
      spdlog::critical("event=bad_flag flag=--ingest-mapping error=\"needs --http-listen\"");
      return 2;
    }
    Result<net::ingest::IngestMapping> m = net::ingest::IngestMapping::Load(f.ingest_mapping);
    if (!m.ok()) {
      spdlog::critical("event=bad_flag flag=--ingest-mapping file={} error=\"{}\"",
                       f.ingest_mapping, m.status().ToString());
      return 2;
    }
    ingest_mapping = std::move(m).value();
  }

  // Block the stop signals before any thread starts, so that only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Every connection is a descriptor: take the hard limit, and say what it allows.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  getrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_cur < so.max_connections + 256) {
    spdlog::warn(
        "event=fd_limit limit={} max_connections={} note=\"raise ulimit -n to serve them all\"",
        static_cast<uint64_t>(files.rlim_cur), so.max_connections);
  }

  // The HTTP port opens before recovery: /healthz answers while the store opens, /readyz and
  // the /v1/ routes wait for SetBackend below.
  net::HttpApi http_api(net::kOpenApiDocument);
  std::optional<net::HttpServer> http;
  if (!f.http_listen.empty()) {
    http.emplace(ho, &http_api);
    if (Status st = http->Start(); !st.ok()) {
      spdlog::critical("event=listen_failed port=http error=\"{}\"", st.ToString());
      return 1;
    }
    if (!f.http_port_file.empty()) {
      const std::string tmp = f.http_port_file + ".tmp";
      std::ofstream(tmp) << http->port() << "\n";
      std::filesystem::rename(tmp, f.http_port_file, ec);
    }
  }

  const auto t0 = std::chrono::steady_clock::now();
  engine::MetricCatalog catalog;
  auto metrics = OrDie(engine::MetricStore::Open(f.data_dir, &catalog), "metrics");
  // The ingest mapping's metrics as the catalog (custom metrics included) defines them.
  auto ingest_meta = [&catalog](std::string_view name) -> std::optional<net::ingest::MetricMeta> {
    Result<engine::MetricDef> d = catalog.Find(name);
    if (!d.ok()) return std::nullopt;
    net::ingest::MetricMeta m;
    m.kind = d->kind == engine::MetricKind::kCounter ? net::ingest::MetricMeta::Kind::kCounter
             : d->kind == engine::MetricKind::kState ? net::ingest::MetricMeta::Kind::kState
                                                     : net::ingest::MetricMeta::Kind::kGauge;
    m.is_float = d->type == storage::ValueType::kFloat;
    m.unit = d->unit;
    return m;
  };
  // A rule whose kind or unit disagrees with the catalog stops the start; a metric not
  // defined yet is a warning (its samples are unmapped until it is).
  if (ingest_mapping) {
    std::vector<std::string> unknown;
    if (Status st = ingest_mapping->Check(ingest_meta, &unknown); !st.ok()) {
      spdlog::critical("event=bad_flag flag=--ingest-mapping file={} error=\"{}\"",
                       f.ingest_mapping, st.ToString());
      return 2;
    }
    for (const std::string& m : unknown) {
      spdlog::warn(
          "event=ingest_mapping_unknown_metric metric={} note=\"its samples are "
          "unmapped (unknown_metric) until it is defined\"",
          m);
    }
  }
  auto series = OrDie(engine::SeriesRegistry::Open(f.data_dir, &catalog), "series");
  std::string bootstrap;
  auto keys = OrDie(engine::KeyStore::Open(f.data_dir, &bootstrap), "keys");
  for (const engine::RecordLogReport* r : {&metrics->load_report(), &series->load_report()}) {
    if (r->clean()) continue;
    spdlog::warn(
        "event=registry_damage records={} refused={} damaged_ranges={} damaged_bytes={} "
        "cut_bytes={} quarantine=\"{}\" detail=\"{}\"",
        r->records, r->refused_records, r->damaged_ranges, r->damaged_bytes, r->torn_tail_bytes,
        r->quarantine, r->detail);
  }
  if (!bootstrap.empty()) {
    // Printed once, on the terminal that created the directory; also in admin.key (0600).
    std::printf("meterd: created the first admin key (also in %s/admin.key, mode 0600):\n  %s\n",
                f.data_dir.c_str(), bootstrap.c_str());
    std::fflush(stdout);
  }

  storage::StoreOptions sto;
  sto.dir = f.data_dir + "/store";
  sto.head_memory_budget = f.head_memory_mib << 20;
  sto.retention_seconds = f.retention_days * 86400;
  sto.max_future_seconds = f.max_future_s;
  if (f.io_backend == "posix") sto.io_backend = storage::IoBackend::kPosix;
  if (f.io_backend == "io_uring") sto.io_backend = storage::IoBackend::kIoUring;
  // Declared before the store, so it outlives the WAL's sync thread that feeds it.
  engine::LatencyHistogram wal_sync_latency;
  sto.wal_sync_observer = [&wal_sync_latency](std::chrono::nanoseconds d) {
    wal_sync_latency.Observe(d);
  };
  auto store = OrDie(storage::Store::Open(sto), "store");
  const storage::RecoveryReport& rec = store->recovery_report();
  spdlog::info(
      "event=opened dir={} series={} wal_files={} wal_samples={} "
      "orphans_removed={} recovery_s={:.3f} open_s={:.3f} io={}",
      f.data_dir, series->size(), rec.wal_files, rec.wal_samples, rec.orphan_files_removed,
      rec.seconds, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
      store->stats().io_backend);
  for (const auto& d : rec.wal_damage) spdlog::warn("event=wal_damage detail=\"{}\"", d);
  for (const auto& d : rec.segment_damage) spdlog::warn("event=segment_damage detail=\"{}\"", d);

  engine::DownsampleOptions dso;
  dso.staleness_seconds = f.staleness_s;
  dso.grace_seconds = f.grace_s;
  dso.revision_buffer_rows = f.revision_buffer_rows;
  std::vector<std::string> rollup_report;
  std::unique_ptr<engine::Downsampler> downsampler;
  if (f.rollups) {
    downsampler =
        OrDie(engine::Downsampler::Open(f.data_dir, dso, store.get(), series.get(), &rollup_report),
              "rollups");
  } else {
    spdlog::warn("event=rollups_off note=\"no hourly rollups: usage queries are refused\"");
  }
  for (const auto& line : rollup_report) spdlog::info("event=rollup_open detail=\"{}\"", line);

  // The billing catalog (tenancy, price book, subscriptions) in DATA/billing.db.
  auto billing = OrDie(engine::pricebook::BillingStore::Open(f.data_dir, &catalog), "billing");
  if (downsampler) {  // applies that change only open hours do not re-rate booked ones
    billing->SetClosedBefore([ds = downsampler.get()] { return ds->sealed_before(); });
  }
  // The agents' side of the registry of record, next to the tenancy; series follow their hosts.
  auto hosts = OrDie(engine::tenancy::ResourceHosts::Open(billing->db()), "resources");
  OrDie(engine::AdoptResourceHosts(f.data_dir, hosts.get(), series.get()), "resources");
  spdlog::info("event=resources_opened reported={}", hosts->size());

  // The ledger, its event outbox and webhook deliveries share billing.db.
  auto events = OrDie(engine::events::EventLog::Open(billing->db()), "events");
  auto webhooks = OrDie(engine::events::WebhookStore::Open(billing->db()), "webhooks");
  engine::pricebook::BillingStore* billing_store = billing.get();
  auto ledger = OrDie(
      engine::ledger::Ledger::Open(billing->db(), events.get(),
                                   [billing_store] { return billing_store->Current().tenancy; }),
      "ledger");
  engine::events::WebhookDispatcher dispatcher(events.get(), webhooks.get());
  // Email notices: the delivery log always exists (meterctl emails deliveries); the notifier
  // runs only with a relay. Recipients resolve through the ledger's notify_email setting.
  auto email_store = OrDie(engine::events::EmailStore::Open(billing->db()), "emails");

  engine::IngestPipeline ingest(store.get(), series.get(), downsampler.get());
  std::optional<engine::RollupClock> rollup_clock;
  if (downsampler) {
    rollup_clock.emplace(&ingest, downsampler.get(), [](const std::string& error) {
      spdlog::error("event=rollup_error error=\"{}\"", error);
    });
    rollup_clock->Start();
  }
  engine::ServiceParts parts{store.get(),   &catalog,         metrics.get(), series.get(),
                             hosts.get(),   keys.get(),       &ingest,       downsampler.get(),
                             billing.get(), ledger.get(),     events.get(),  webhooks.get(),
                             &dispatcher,   email_store.get()};
  parts.wal_sync_latency = &wal_sync_latency;
  parts.data_dir = f.data_dir;  // meterctl backup copies it
  parts.rollup_clock = rollup_clock ? &*rollup_clock : nullptr;
  engine::MeterService service(parts, f.query_threads, f.ingest_threads);
  engine::billing::ClockOptions clock_options;
  clock_options.start = f.billing_start;
  engine::billing::BillingClock billing_clock(ledger.get(), &service, clock_options);
  service.set_clock(&billing_clock);
  // Invoices over the ledger (docs/invoices.md); a crash between issuing and booking is
  // completed here.
  auto invoice_store = OrDie(engine::invoicing::InvoiceStore::Open(billing->db()), "invoices");
  invoice_store->set_event_log(events.get());  // wakes webhooks and email after an issue
  auto invoicer = OrDie(
      engine::invoicing::Invoicer::Open(
          ledger.get(), invoice_store.get(), [billing_store] { return billing_store->Current(); },
          [&service](int64_t from, int64_t to, const std::vector<std::string>& accounts) {
            return service.RateInvoiceLines(from, to, accounts);
          },
          std::chrono::duration_cast<std::chrono::seconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count()),
      "invoices");
  service.set_invoicer(invoicer.get());
  // The notifier (made here, after the invoices: an issued invoice's notice carries its PDF,
  // rendered from the stored document when the notice is sent).
  std::optional<engine::events::EmailNotifier> email;
  if (email_options) {
    engine::ledger::Ledger* l = ledger.get();
    engine::invoicing::InvoiceStore* invoices = invoice_store.get();
    email_options->attachments = [invoices](const engine::events::Event& e)
        -> Result<std::optional<engine::events::EmailAttachment>> {
      return engine::invoicing::IssuedDocumentPdf(*invoices, e);
    };
    email.emplace(
        events.get(), email_store.get(),
        [l](std::string_view account) { return l->NotifyEmails(account); },
        std::move(*email_options));
  }
  engine::invoicing::Collector collector(ledger.get(), invoice_store.get(), events.get());
  service.set_collector(&collector);
  if (f.collections_interval_s > 0) {
    collector.Start(std::chrono::seconds(f.collections_interval_s));
  }
  if (email) service.set_email(&*email);
  if (downsampler && f.billing_clock) {
    billing_clock.Start();
  } else {
    spdlog::warn("event=billing_clock_off note=\"closed hours are not debited\"");
  }
  if (f.webhooks) {
    if (Status st = dispatcher.Start(); !st.ok()) {
      spdlog::error("event=webhooks_failed error=\"{}\"", st.ToString());
    }
  }
  if (email) {
    if (Status st = email->Start(); !st.ok()) {
      spdlog::error("event=email_failed error=\"{}\"", st.ToString());
    } else {
      // The URL was validated: no credentials, no control characters.
      spdlog::info("event=email_on relay=\"{}\" from={}", f.smtp_url, f.smtp_from);
    }
  }
  net::Server server(so, &service);
  service.set_server_stats([&server] { return server.stats(); });
  if (Status st = server.Start(); !st.ok()) {
    spdlog::critical("event=listen_failed error=\"{}\"", st.ToString());
    return 1;
  }
  if (!f.port_file.empty()) {
    // Written to a temporary name and renamed, so a reader never sees a partial number.
    const std::string tmp = f.port_file + ".tmp";
    std::ofstream(tmp) << server.port() << "\n";
    std::filesystem::rename(tmp, f.port_file, ec);
  }
  std::printf("meterd: listening on %s:%u, data in %s\n", so.host.c_str(), server.port(),
              f.data_dir.c_str());
  if (http) {
    net::HttpServer* h = &*http;
    net::IngestBackend ingest;
    if (ingest_mapping) {
      ingest.mapping = &*ingest_mapping;
      ingest.metric = ingest_meta;
      spdlog::info("event=ingest_mapping file={} rules={}", f.ingest_mapping,
                   ingest_mapping->rules().size());
    }
    net::HttpApi* api = &http_api;
    http_api.SetBackend(net::HttpBackend{&service,
                                         [&service, h, api] {
                                           return service.PrometheusMetrics() +
                                                  net::HttpServerMetrics(h->stats()) +
                                                  api->IngestMetrics();
                                         },
                                         std::move(ingest)});
    std::printf("meterd: %s on %s:%u\n", ho.tls_cert_file.empty() ? "HTTP" : "HTTPS",
                ho.host.c_str(), http->port());
  }
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("event=signal signal={}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  http_api.Unready();  // /readyz turns 503 and new /v1/ requests are refused
  if (http) http->Stop();
  http_api.Stop();
  server.Stop();
  billing_clock.Stop();  // an hour being booked commits or rolls back as a whole
  collector.Stop();
  dispatcher.Stop();
  if (email) email->Stop();
  service.Stop();  // running exports finish before the store closes
  events->Stop();
  if (rollup_clock) {
    // A last pass: late batches resolved and due hours sealed before the store closes.
    rollup_clock->Stop();
    if (Status st = rollup_clock->RunOnce(); !st.ok()) {
      spdlog::error("event=rollup_error error=\"{}\"", st.ToString());
    }
  }
  const Status closed = store->Close();
  const engine::IngestCounters c = ingest.counters();
  spdlog::info("event=shutdown accepted={} rejected={} duplicate_batches={} close=\"{}\"",
               c.accepted, c.rejected, c.duplicate_batches, closed.ToString());
  return closed.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{"meterd: meters, rates and bills cloud usage (the server)"};
  app.set_config("--config", "", "read options from a TOML/INI file (same names as the flags)");
  app.add_option("--data-dir", f.data_dir, "data directory (created if missing)")
      ->capture_default_str();
  app.add_option("--listen", f.listen, "address to serve on, HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--port-file", f.port_file, "write the bound port to this file once listening");
  app.add_option("--http-listen", f.http_listen,
                 "serve the HTTP JSON API, /metrics and health on HOST:PORT (off when empty)");
  app.add_option("--http-port-file", f.http_port_file,
                 "write the bound HTTP port to this file once listening");
  app.add_option("--http-threads", f.http_threads, "io threads of the HTTP port")
      ->capture_default_str();
  app.add_option("--http-max-connections", f.http_max_connections, "HTTP connection limit")
      ->capture_default_str();
  app.add_option("--tls-cert", f.tls_cert,
                 "TLS on the binary port: PEM certificate chain (with --tls-key)");
  app.add_option("--tls-key", f.tls_key, "TLS on the binary port: PEM private key");
  app.add_option("--tls-client-ca", f.tls_client_ca,
                 "TLS on the binary port: require client certificates signed by this PEM CA");
  app.add_option("--http-tls-cert", f.http_tls_cert,
                 "HTTPS on the HTTP port: PEM certificate chain (with --http-tls-key)");
  app.add_option("--http-tls-key", f.http_tls_key, "HTTPS: PEM private key");
  app.add_option("--http-tls-client-ca", f.http_tls_client_ca,
                 "HTTPS: require client certificates signed by this PEM CA");
  app.add_option("--ingest-mapping", f.ingest_mapping,
                 "HTTP ingest (Influx /write, collectd, Prometheus remote_write): the YAML or "
                 "JSON file mapping their series to meterd's (docs/ingest-mapping.md)");
  app.add_option("--http-max-body-kib", f.http_max_body_kib,
                 "largest HTTP request body in KiB (larger: 413)")
      ->capture_default_str();
  app.add_option("--io-threads", f.io_threads, "io threads (0: one per core)")
      ->capture_default_str();
  app.add_option("--query-threads", f.query_threads, "threads for exports and stats")
      ->capture_default_str();
  app.add_option("--ingest-threads", f.ingest_threads,
                 "threads that validate and append ingest batches, off the io threads (the "
                 "append is serialised, so more only helps while one waits on the disk)")
      ->check(CLI::Range(size_t{1}, size_t{64}))
      ->capture_default_str();
  app.add_option("--head-memory-mib", f.head_memory_mib,
                 "memory budget of the in-memory head; a full head is flushed")
      ->capture_default_str();
  app.add_option("--buffer-budget-mib", f.buffer_budget_mib,
                 "request bytes all connections may have unanswered before reads pause")
      ->capture_default_str();
  app.add_option("--max-connections", f.max_connections, "connection limit")->capture_default_str();
  app.add_option("--max-in-flight", f.max_in_flight,
                 "unanswered requests per connection before its reads pause")
      ->capture_default_str();
  app.add_option("--idle-timeout", f.idle_timeout_s, "seconds before an idle connection closes")
      ->capture_default_str();
  app.add_option("--drain-timeout", f.drain_timeout_s,
                 "seconds a graceful stop waits for in-flight requests")
      ->capture_default_str();
  app.add_option("--retention-days", f.retention_days, "raw data kept this many days")
      ->capture_default_str();
  app.add_option("--max-future", f.max_future_s,
                 "seconds a timestamp may be ahead of the clock before it is refused")
      ->capture_default_str();
  app.add_option("--staleness", f.staleness_s,
                 "seconds a gauge or state sample holds its value at most (1..3600)")
      ->capture_default_str();
  app.add_option("--grace", f.grace_s,
                 "seconds an hour stays open after it ends; later samples make revisions")
      ->capture_default_str();
  app.add_option("--revision-buffer-rows", f.revision_buffer_rows,
                 "revised and imported buckets buffered (~300 bytes each) before they are folded "
                 "into the month files")
      ->check(CLI::Range(size_t{1}, size_t{1} << 26))
      ->capture_default_str();
  app.add_option("--rollups", f.rollups,
                 "keep hourly rollups (false only to measure their cost: usage is refused)")
      ->capture_default_str();
  app.add_flag("--billing-clock,!--no-billing-clock", f.billing_clock,
               "debit every closed hour from the accounts' balances")
      ->capture_default_str();
  app.add_option("--billing-start", f.billing_start,
                 "unix second of the first hour a fresh ledger bills (0: the start of the month "
                 "of the first closed hour)")
      ->capture_default_str();
  app.add_flag("--webhooks,!--no-webhooks", f.webhooks, "deliver events to webhooks")
      ->capture_default_str();
  app.add_option("--collections-interval", f.collections_interval_s,
                 "seconds between collections passes (invoice reminders, dunning, suspension "
                 "by days overdue) on the wall clock; 0: only `meterctl invoice collect`")
      ->check(CLI::Range(int64_t{0}, int64_t{86400}))
      ->capture_default_str();
  app.add_flag("--email,!--no-email", f.email,
               "send email notices when --smtp-url is set (--no-email: never)")
      ->capture_default_str();
  app.add_option("--smtp-url", f.smtp_url,
                 "SMTP relay for email notices: smtp://HOST[:PORT] (STARTTLS) or "
                 "smtps://HOST[:PORT] (TLS); no email when empty");
  app.add_option("--smtp-from", f.smtp_from, "sender address of email notices");
  app.add_option("--smtp-user", f.smtp_user, "SMTP AUTH user name");
  app.add_option("--smtp-password-file", f.smtp_password_file,
                 "file whose first line is the SMTP AUTH password (mode 0600)");
  app.add_option("--smtp-starttls", f.smtp_starttls,
                 "smtp:// only: required (refuse a relay without it), try, or off")
      ->check(CLI::IsMember({"required", "try", "off"}))
      ->capture_default_str();
  app.add_option("--smtp-ca-file", f.smtp_ca_file,
                 "PEM CA bundle for the relay's certificate instead of the system store");
  app.add_option("--smtp-timeout", f.smtp_timeout_s, "seconds one email attempt may take")
      ->capture_default_str();
  app.add_option("--email-kinds", f.email_kinds,
                 "comma-separated event kinds to email (invoice_issued and credit_note_issued "
                 "attach the document's PDF)")
      ->capture_default_str();
  app.add_option("--io", f.io_backend, "WAL I/O: auto, io_uring or posix")
      ->check(CLI::IsMember({"auto", "io_uring", "posix"}))
      ->capture_default_str();
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z level=%l %v");
  spdlog::set_level(spdlog::level::from_str(f.log_level));
  return Run(f);
}
