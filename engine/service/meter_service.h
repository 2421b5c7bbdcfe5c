// meterd — engine/service/meter_service.h
//
// MeterService: what meterd's requests mean. It authenticates Hellos against the key store and
// answers every request type of the wire protocol (docs/protocol.md) with the engine's parts:
// the series and resource registries, the metric catalog, the ingest pipeline and the store.
//
// Roles (checked per request):
//   agent    DefineSeries, RegisterResources, IngestBatch (its own hypervisor only), ListMetrics
//   billing  ExportRequest, StatsRequest, UsageRequest, EstimateRequest, ChargesRequest,
//            ReRateRequest (not booked), ListCatalog, ListMetrics, BalanceRequest, LedgerRequest,
//            ListBillingSettings, CanCreateRequest, EventsRequest, ReconcileRequest,
//            InvoiceRequest reads (list, show, drafts, pdf)
//   admin    everything, including keys, custom metrics, RollupRebuild, BackfillRequest,
//            ApplyCatalog, PostEntry, SetBillingSettings, WebhookRequest, a booked ReRateRequest,
//            InvoiceRequest writes (run, issue, void, pay, mark_paid, credit_note)
// A revoked key stops working on open connections at their next request.
//
// Ingest is validated and appended on the ingest executor (engine/service/ingest_executor.h: a
// fixed pool, one strand per connection so its batches keep their order), never on an io
// thread: an append that blocks (head or WAL backpressure, a revision-log fdatasync, a raw
// rescan) stalls only its own connection, never another's pings, Hellos or reads. Its
// acknowledgement is sent from the WAL's completion once the batch is durable. Exports and
// stats run on a small query pool so a long scan never stalls an io thread.
//
// Thread-safety: thread-safe (see net::Handler).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/auth/key_store.h"
#include "engine/billing/billing_clock.h"
#include "engine/billing/usage_rater.h"
#include "engine/catalog.h"
#include "engine/downsample/downsampler.h"
#include "engine/events/email_notifier.h"
#include "engine/events/email_store.h"
#include "engine/events/event_log.h"
#include "engine/events/webhook_dispatcher.h"
#include "engine/events/webhook_store.h"
#include "engine/ingest/ingest_pipeline.h"
#include "engine/ingest/rollup_clock.h"
#include "engine/invoicing/invoice_builder.h"
#include "engine/invoicing/usage_report.h"
#include "engine/ledger/ledger.h"
#include "engine/pricebook/billing_store.h"
#include "engine/registry/metric_store.h"
#include "engine/registry/series_registry.h"
#include "engine/service/ingest_executor.h"
#include "engine/service/latency_histogram.h"
#include "engine/tenancy/resource_hosts.h"
#include "net/asio.h"
#include "net/server/handler.h"
#include "net/server/server.h"
#include "storage/store.h"

namespace meterd::engine {

namespace rating {
class RatingEngine;
}
namespace invoicing {
class Invoicer;
class Collector;
}  // namespace invoicing

struct ServiceParts {
  storage::Store* store = nullptr;
  MetricCatalog* catalog = nullptr;
  MetricStore* metrics = nullptr;
  SeriesRegistry* series = nullptr;
  tenancy::ResourceHosts* hosts = nullptr;  // what agents report (the tenancy attributes)
  KeyStore* keys = nullptr;
  IngestPipeline* ingest = nullptr;
  Downsampler* downsampler = nullptr;               // hourly rollups: usage queries and rebuilds
  pricebook::BillingStore* billing = nullptr;       // tenancy, price book: apply, estimate, charges
  ledger::Ledger* ledger = nullptr;                 // balances, entries, settings
  events::EventLog* events = nullptr;               // the event outbox: followers
  events::WebhookStore* webhooks = nullptr;         // webhook subscriptions and their deliveries
  events::WebhookDispatcher* dispatcher = nullptr;  // told when webhooks change
  events::EmailStore* emails = nullptr;             // the email notices' delivery log
  billing::BillingClock* clock = nullptr;           // its stats; set after construction (set_clock)
  // The WAL's group write + fdatasync times (StoreOptions::wal_sync_observer feeds it; it is
  // created before the store, which outlives the service).
  const LatencyHistogram* wal_sync_latency = nullptr;
  std::string data_dir;                 // BackupRequest's source
  RollupClock* rollup_clock = nullptr;  // paused by a backup; set by set_rollup_clock
};

// A ResourceChange request, copied off its frame for the query pool.
struct ResourceChangeArgs {
  uint64_t request_id = 0;
  wire::ResourceOp op = wire::ResourceOp::Create;
  std::string id, type, project, location, plan, storage_tier, name, agent_id;
  int64_t effective_from = 0;
  bool dry_run = false;
};

// Imports a resources.log left by an older meterd into `hosts` (then renames it
// resources.log.imported), and gives every hosted resource's series to its hypervisor. Call at
// start-up, before serving.
Status AdoptResourceHosts(const std::string& data_dir, tenancy::ResourceHosts* hosts,
                          SeriesRegistry* series);

class MeterService final : public net::Handler, public billing::UsageRater {
 public:
  // Samples per ExportChunk frame (~16 bytes each, well under the frame limit).
  static constexpr size_t kExportChunkSamples = 256 * 1024;

  // `ingest_threads` (at least 1) run ingest (see above); `query_threads` the queries.
  MeterService(ServiceParts parts, size_t query_threads, size_t ingest_threads = 2);
  ~MeterService() override;  // Stop()s

  // Runs the queued ingest work, waits for running queries and stops the background threads.
  // Call after the server has stopped and before the store closes. Idempotent.
  void Stop();

  // The server whose connection counts stats report (set once, before serving).
  void set_server_stats(std::function<net::ServerStats()> fn) { server_stats_ = std::move(fn); }

  Result<net::HelloResult> Authenticate(std::string_view api_key, std::string_view client) override;
  void Handle(net::SessionState* state, const wire::Envelope& env,
              net::ResponderPtr responder) override;

  // Samples accepted per second over the last few seconds.
  double ingest_rate() const;
  // The ingest executor's counters (queued and running batches).
  IngestExecutor::Stats ingest_stats() const { return ingest_exec_.stats(); }

  // meterd's counters in the Prometheus text exposition format, version 0.0.4 (the list:
  // docs/http-api.md, "/metrics"; meter_service_metrics.cc). Reads atomics and the parts'
  // stats (a few short locks, one directory listing), never the disk's data: cheap enough for
  // every scrape, but not for an io thread.
  std::string PrometheusMetrics();

  // billing::UsageRater over the rollups and the current catalog (meter_service_billing.cc).
  Result<billing::ChargesByAccount> Rate(int64_t from, int64_t to,
                                         std::string_view account) override;
  Status RestoreMonthToDate(std::string_view bytes, rating::MonthToDate* state) override;
  Result<billing::ChargesByAccount> RateMonthToDate(int64_t from, int64_t to,
                                                    rating::MonthToDate* state) override;
  int64_t ClosedBefore() override;
  uint64_t RevisionMark() override;
  // The downsampler's durable revision mark and a digest of the subscriptions (docs/ledger.md,
  // "Month-to-date state"); nullopt without rollups or a catalog.
  std::optional<std::string> DurableRevisionMark() override;

  // An invoice run's rated lines per account (meter_service_billing.cc; invoicing::RateFn).
  Result<std::unordered_map<std::string, std::vector<invoicing::RatedLine>>> RateInvoiceLines(
      int64_t from, int64_t to, const std::vector<std::string>& accounts);
  // The usage report's lines (docs/invoices.md, "Usage report"): [from, to) rated per resource
  // and product for one account.
  Result<std::vector<invoicing::ResourceLine>> RateResourceLines(int64_t from, int64_t to,
                                                                 const std::string& account);
  // The invoicer that answers InvoiceRequest (set once, before serving; none: refused).
  void set_invoicer(invoicing::Invoicer* invoicer) { invoicer_ = invoicer; }
  // The collector that answers InvoiceOp collect (set once, before serving; none: refused).
  void set_collector(invoicing::Collector* collector) { collector_ = collector; }

  // The billing clock whose stats StatsReply reports (set once, before serving).
  void set_clock(billing::BillingClock* clock) { parts_.clock = clock; }
  // The rollup clock a BackupRequest pauses (set once, before serving; none: rollups off).
  void set_rollup_clock(RollupClock* clock) { parts_.rollup_clock = clock; }
  // The email notifier whose counters StatsReply reports (set once, before serving; none
  // without a relay).
  void set_email(const events::EmailNotifier* email) { email_ = email; }

  void SessionClosed(net::SessionState* state) override;

 private:
  struct Session;
  struct IngestLane;
  struct OwnedBatch;
  // Copies the batch off its frame and queues it on the session's strand (RunIngest).
  void OnIngest(Session* s, const wire::IngestBatch& batch, const net::ResponderPtr& r);
  // Runs on the strand: the batch carries its lane, responder and arrival time.
  void RunIngest(const OwnedBatch& batch);
  void OnDefineSeries(Session* s, const wire::DefineSeries& req, const net::ResponderPtr& r);
  // The registry of record's two sides (meter_service_resources.cc): agents' reports and the
  // control plane's one-resource changes.
  void OnRegisterResources(Session* s, const wire::RegisterResources& req,
                           const net::ResponderPtr& r);
  void RunResourceChange(const ResourceChangeArgs& q, const net::ResponderPtr& r);
  void RunListResourceHosts(uint64_t request_id, bool unattributed_only,
                            const std::string& resource, const net::ResponderPtr& r);
  void OnDefineMetric(const wire::DefineMetric& req, const net::ResponderPtr& r);
  void OnListMetrics(const wire::ListMetrics& req, const net::ResponderPtr& r);
  void OnCreateKey(const wire::CreateKey& req, const net::ResponderPtr& r);
  void OnListKeys(const wire::ListKeys& req, const net::ResponderPtr& r);
  void OnRevokeKey(const wire::RevokeKey& req, const net::ResponderPtr& r);
  void RunExport(uint64_t request_id, int64_t from, int64_t to, std::string resource,
                 std::string metric, const net::ResponderPtr& r);
  void RunStats(uint64_t request_id, const net::ResponderPtr& r);
  // Usage and rollup rebuilds: meter_service_usage.cc.
  struct UsageArgs {
    uint64_t request_id;
    int64_t from, to;
    std::string resource, project, account, metric;
    wire::Granularity granularity;
  };
  void RunUsage(const UsageArgs& args, const net::ResponderPtr& r);
  void OnBackfill(const wire::BackfillRequest& req, const net::ResponderPtr& r);
  // A BackfillRequest checked on the io thread, imported on the query pool.
  struct BackfillArgs {
    uint64_t request_id = 0;
    size_t rows = 0;
    ImportOptions options;
    std::vector<ImportedQuantity> quantities;
    std::vector<std::pair<uint32_t, Status>> refusals;  // at most 32
    uint64_t refused = 0;                               // rows of undefined series
    uint64_t new_series_rows = 0;                       // a dry run's rows of undefined series
  };
  void RunBackfill(BackfillArgs args, const net::ResponderPtr& r);
  void RunRollback(uint64_t request_id, uint64_t import_id, bool dry_run,
                   const net::ResponderPtr& r);
  void RunRebuild(uint64_t request_id, int64_t from, int64_t to, const std::string& resource,
                  const std::string& metric, const net::ResponderPtr& r);
  // Catalog and estimates: meter_service_billing.cc.
  struct EstimateArgs {
    uint64_t request_id;
    std::string plan, location, storage_tier;
    int64_t hours, at;
    std::string currency;
  };
  void RunApplyCatalog(uint64_t request_id, const std::string& document, wire::DocFormat format,
                       bool dry_run, const net::ResponderPtr& r);
  // The ApplyCatalogReply of an apply's outcome (a document's or a ResourceChange's).
  void SendApplyReply(uint64_t request_id, const Result<tenancy::ApplyReport>& rep,
                      const std::vector<tenancy::DocError>& errors, bool dry_run,
                      const net::ResponderPtr& r);
  void RunEstimate(const EstimateArgs& args, const net::ResponderPtr& r);
  // ListCatalog: the catalog document, or a section or entity of it (meter_service_catalog.cc).
  void RunListCatalog(uint64_t request_id, const std::string& section, const std::string& id,
                      const net::ResponderPtr& r);
  struct ChargesArgs {
    uint64_t request_id;
    int64_t from, to;
    uint8_t scope;
    std::string scope_id;
    uint8_t group_by;
    std::string currency;
    uint32_t price_version;
  };
  // ChargesRequest and ReRateRequest carry the same fields; `version` is the price version
  // (0 = in force) or the version re-rated under.
  template <typename Request>
  static ChargesArgs ChargesArgsOf(const Request& q, uint32_t version);
  void RunCharges(const ChargesArgs& args, const net::ResponderPtr& r);
  // ReRateRequest: ChargesArgs with price_version = the version re-rated under.
  void RunReRate(const ChargesArgs& args, const net::ResponderPtr& r,
                 const std::string& book_reason = {}, const std::string& book_reference = {},
                 const std::string& actor = {});
  // The ledger: meter_service_ledger.cc.
  void OnLedgerRequest(Session* s, const wire::Envelope& env, const net::ResponderPtr& r);
  void RunPostEntry(const wire::PostEntry& q, const std::string& actor, const net::ResponderPtr& r);
  void RunBalance(uint64_t request_id, const std::string& account, bool provisional,
                  const net::ResponderPtr& r);
  void RunLedger(uint64_t request_id, const std::string& account, int64_t from, int64_t to,
                 uint32_t limit, const net::ResponderPtr& r);
  void RunCanCreate(uint64_t request_id, const std::string& account, const std::string& plan,
                    const std::string& location, const std::string& tier,
                    const net::ResponderPtr& r);
  void RunReconcile(uint64_t request_id, int64_t from, int64_t to, const std::string& account,
                    const net::ResponderPtr& r);
  void StartEvents(Session* s, const wire::EventsRequest& q, const net::ResponderPtr& r);
  // Invoices: meter_service_invoices.cc.
  // `only_account`: a customer key's account (Show and Pdf refuse another account's document);
  // empty for other keys.
  void RunInvoice(const std::shared_ptr<std::vector<uint8_t>>& request, const std::string& actor,
                  const std::string& only_account, const net::ResponderPtr& r);

  // BackupRequest (engine/service/data_backup.h), on the query pool.
  void RunBackup(uint64_t request_id, const std::string& to, const net::ResponderPtr& r);
  void RunWebhook(const wire::WebhookRequest& q, const net::ResponderPtr& r);
  void RunEmailDeliveries(const wire::WebhookRequest& q, const net::ResponderPtr& r);
  // Charges not yet debited for `account` (empty: all): the hours from the clock's next hour to
  // the end of the current hour, rated per month.
  Result<billing::ChargesByAccount> Undebited(const std::string& account);
  // Event followers (EventsRequest with follow): pushed to from the event log's listener.
  struct Follower;
  void PushEvents();
  std::mutex followers_mu_;
  std::vector<std::shared_ptr<Follower>> followers_;  // GUARDED_BY(followers_mu_)
  int events_listener_ = 0;
  // The rating engine of the current catalog snapshot and series registry, built on first use
  // and rebuilt when BillingStore::Current() publishes another snapshot or series are defined
  // (series are append-only: a new size means new series). Shared by concurrent requests
  // (RatingEngine is immutable).
  Result<std::shared_ptr<const rating::RatingEngine>> CurrentRatingEngine();
  // The series matching the filters (empty = any), sorted by resource, metric. With a project
  // or account, the series of the resources the tenancy attributes to it during some hour of
  // [from, to), each with the hours it is attributed there (*windows, parallel to the result;
  // left empty without a project or account: every hour).
  using HourWindows = std::vector<std::pair<int64_t, int64_t>>;
  std::vector<SeriesInfo> MatchSeries(const std::string& resource, const std::string& project,
                                      const std::string& account, const std::string& metric,
                                      int64_t from, int64_t to,
                                      std::vector<HourWindows>* windows) const;
  void SampleRate();

  ServiceParts parts_;
  const events::EmailNotifier* email_ = nullptr;
  invoicing::Invoicer* invoicer_ = nullptr;
  invoicing::Collector* collector_ = nullptr;
  std::function<net::ServerStats()> server_stats_;
  // The cached rating engine and what it was built from (CurrentRatingEngine). Holding the
  // snapshot keeps its objects alive, so a pointer compare cannot mistake a new one for it.
  std::mutex rating_mu_;
  pricebook::BillingSnapshot rating_snapshot_;                 // GUARDED_BY(rating_mu_)
  size_t rating_series_ = 0;                                   // GUARDED_BY(rating_mu_)
  std::shared_ptr<const rating::RatingEngine> rating_engine_;  // GUARDED_BY(rating_mu_)
  boost::asio::thread_pool queries_;
  IngestExecutor ingest_exec_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  // Ingest batch read -> its acknowledgement handed to the connection (after the WAL sync).
  LatencyHistogram ack_latency_;
  // Rating of a charges or re-rate request (plan, scan and pricing; not the reply).
  LatencyHistogram rating_latency_;

  // Ingest rate: the accepted counter sampled once a second into a small ring.
  static constexpr size_t kRateWindow = 5;
  mutable std::mutex rate_mu_;
  std::condition_variable rate_cv_;
  bool stopping_ = false;                        // GUARDED_BY(rate_mu_)
  uint64_t rate_samples_[kRateWindow + 1] = {};  // GUARDED_BY(rate_mu_)
  size_t rate_filled_ = 0;                       // GUARDED_BY(rate_mu_)
  std::thread rate_thread_;
};

}  // namespace meterd::engine
