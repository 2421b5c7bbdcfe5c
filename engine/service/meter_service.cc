// meterd — engine/service/meter_service.cc
#include "engine/service/meter_service.h"
#include "engine/service/customer_scope.h"
#include "engine/service/service_session.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>

#include "engine/service/process_stats.h"
#include "engine/service/service_replies.h"
#include "net/protocol/messages.h"

namespace meterd::engine {

namespace asio = boost::asio;
using net::ResponderPtr;
using net::View;

namespace {

wire::Role ToWire(Role role) {
  switch (role) {
    case Role::kAgent:
      return wire::Role::Agent;
    case Role::kBilling:
      return wire::Role::Billing;
    case Role::kAdmin:
      return wire::Role::Admin;
    case Role::kCustomer:
      return wire::Role::Customer;
  }
  return wire::Role::None;
}

std::optional<Role> FromWire(wire::Role role) {
  switch (role) {
    case wire::Role::Agent:
      return Role::kAgent;
    case wire::Role::Billing:
      return Role::kBilling;
    case wire::Role::Admin:
      return Role::kAdmin;
    case wire::Role::Customer:
      return Role::kCustomer;
    default:
      return std::nullopt;
  }
}

flatbuffers::Offset<wire::KeyInfo> BuildKeyInfo(flatbuffers::FlatBufferBuilder& fbb,
                                                const KeyInfo& k) {
  return wire::CreateKeyInfo(fbb, fbb.CreateString(k.id), ToWire(k.role),
                             fbb.CreateString(k.hypervisor), fbb.CreateString(k.name), k.created,
                             k.revoked, fbb.CreateString(k.account));
}

// The requests meter_service_ledger.cc answers (MeterService::OnLedgerRequest).
bool IsLedgerRequest(wire::Message type) {
  switch (type) {
    case wire::Message::PostEntry:
    case wire::Message::BalanceRequest:
    case wire::Message::LedgerRequest:
    case wire::Message::SetBillingSettings:
    case wire::Message::ListBillingSettings:
    case wire::Message::CanCreateRequest:
    case wire::Message::EventsRequest:
    case wire::Message::WebhookRequest:
    case wire::Message::ReconcileRequest:
      return true;
    default:
      return false;
  }
}

bool IsClientRequest(wire::Message type) {
  switch (type) {
    case wire::Message::DefineSeries:
    case wire::Message::RegisterResources:
    case wire::Message::DefineMetric:
    case wire::Message::ListMetrics:
    case wire::Message::IngestBatch:
    case wire::Message::ExportRequest:
    case wire::Message::StatsRequest:
    case wire::Message::CreateKey:
    case wire::Message::ListKeys:
    case wire::Message::RevokeKey:
    case wire::Message::UsageRequest:
    case wire::Message::RollupRebuild:
    case wire::Message::BackfillRequest:
    case wire::Message::ApplyCatalog:
    case wire::Message::EstimateRequest:
    case wire::Message::ChargesRequest:
    case wire::Message::ReRateRequest:
    case wire::Message::ListCatalog:
    case wire::Message::ResourceChange:
    case wire::Message::ListResourceHosts:
    case wire::Message::InvoiceRequest:
    case wire::Message::BackupRequest:
      return true;
    default:
      return IsLedgerRequest(type);
  }
}

bool Allowed(Role role, wire::Message type) {
  if (role == Role::kAdmin) return true;
  // A customer key's requests are checked against its account by CustomerMay (customer_scope.h).
  if (role == Role::kCustomer) return CustomerRequest(type);
  switch (type) {
    case wire::Message::ListMetrics:
      return true;
    // Batches always reach the pipeline, which refuses a billing key in the acknowledgement
    // (a batch has no request id for an Error frame to answer).
    case wire::Message::IngestBatch:
      return true;
    case wire::Message::DefineSeries:
    case wire::Message::RegisterResources:
      return role == Role::kAgent;
    case wire::Message::ExportRequest:
    case wire::Message::StatsRequest:
    case wire::Message::UsageRequest:
    case wire::Message::EstimateRequest:
    case wire::Message::ChargesRequest:
    case wire::Message::ReRateRequest:  // booking its difference is admin only (below)
    case wire::Message::BalanceRequest:
    case wire::Message::LedgerRequest:
    case wire::Message::ListBillingSettings:
    case wire::Message::CanCreateRequest:
    case wire::Message::EventsRequest:
    case wire::Message::ReconcileRequest:
    case wire::Message::ListCatalog:
    case wire::Message::ListResourceHosts:
    case wire::Message::InvoiceRequest:  // writes are admin only (Handle)
      return role == Role::kBilling;
    default:
      return false;  // keys, metrics, ledger entries, settings, webhooks, resources: admin only
  }
}

}  // namespace

template <typename Request>
MeterService::ChargesArgs MeterService::ChargesArgsOf(const Request& q, uint32_t version) {
  return ChargesArgs{q.request_id(),
                     q.from(),
                     q.to(),
                     static_cast<uint8_t>(q.scope()),
                     std::string(View(q.scope_id())),
                     static_cast<uint8_t>(q.group_by()),
                     std::string(View(q.currency())),
                     version};
}

MeterService::MeterService(ServiceParts parts, size_t query_threads, size_t ingest_threads)
    : parts_(parts), queries_(query_threads ? query_threads : 1), ingest_exec_(ingest_threads) {
  rate_thread_ = std::thread([this] { SampleRate(); });
  if (parts_.events != nullptr) {
    events_listener_ = parts_.events->AddListener([this] { PushEvents(); });
  }
}

MeterService::~MeterService() { Stop(); }

void MeterService::Stop() {
  {
    std::lock_guard lock(rate_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  rate_cv_.notify_all();
  rate_thread_.join();
  if (parts_.events != nullptr) parts_.events->RemoveListener(events_listener_);
  ingest_exec_.Stop();  // every queued batch is appended (or refused) and answered
  queries_.join();
}

void MeterService::SampleRate() {
  std::unique_lock lock(rate_mu_);
  while (!stopping_) {
    const uint64_t accepted = parts_.ingest->counters().accepted;
    std::move(rate_samples_ + 1, rate_samples_ + kRateWindow + 1, rate_samples_);
    rate_samples_[kRateWindow] = accepted;
    if (rate_filled_ <= kRateWindow) ++rate_filled_;
    rate_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

double MeterService::ingest_rate() const {
  std::lock_guard lock(rate_mu_);
  if (rate_filled_ < 2) return 0;
  const size_t span = rate_filled_ - 1;  // seconds covered
  return static_cast<double>(rate_samples_[kRateWindow] - rate_samples_[kRateWindow - span]) /
         static_cast<double>(span);
}

Result<net::HelloResult> MeterService::Authenticate(std::string_view api_key,
                                                    std::string_view client) {
  auto session = std::make_unique<Session>();
  session->revocations_seen = parts_.keys->revocations();
  METERD_ASSIGN_OR_RETURN(session->who, parts_.keys->Authenticate(api_key));
  session->ingest = std::make_shared<IngestLane>(ingest_exec_.NewStrand());
  session->ingest->who = session->who;
  spdlog::info("event=hello key={} role={} hypervisor=\"{}\" client=\"{}\"", session->who.key.id,
               RoleName(session->who.key.role), session->who.key.hypervisor, net::LogSafe(client));
  net::HelloResult out;
  out.role = ToWire(session->who.key.role);
  out.hypervisor = session->who.key.hypervisor;
  out.state = std::move(session);
  return out;
}

void MeterService::Handle(net::SessionState* state, const wire::Envelope& env, ResponderPtr r) {
  auto* s = static_cast<Session*>(state);
  const uint64_t request_id = net::RequestIdOf(env);
  // A revocation since the last check: make sure this session's key still stands.
  if (const uint64_t rev = parts_.keys->revocations(); rev != s->revocations_seen) {
    s->revocations_seen = rev;
    if (!parts_.keys->IsActive(s->who.key.id)) {
      r->Fail(wire::ErrorCode::Unauthenticated, "the API key of this connection was revoked");
      return;
    }
  }
  const auto type = env.message_type();
  if (!IsClientRequest(type)) {
    // A server-to-client message, or a union member this version does not know: the peer
    // does not speak this protocol, and nothing it sends can be trusted to mean anything.
    r->Fail(wire::ErrorCode::NotSupported,
            std::string("not a request a client may send: ") +
                (*wire::EnumNameMessage(type) ? wire::EnumNameMessage(type)
                                              : std::to_string(static_cast<int>(type)).c_str()));
    return;
  }
  if (!Allowed(s->who.key.role, type)) {
    ReplyError(r, request_id,
               Status::PermissionDenied(std::string("a ") + RoleName(s->who.key.role) +
                                        " key may not send " + wire::EnumNameMessage(type)));
    return;
  }
  if (s->who.key.role == Role::kCustomer) {
    if (Status st = CustomerMay(s->who.key.account, env); !st.ok()) {
      return ReplyError(r, request_id, st);
    }
  }
  switch (type) {
    case wire::Message::IngestBatch:
      return OnIngest(s, *env.message_as_IngestBatch(), r);
    case wire::Message::DefineSeries:
      return OnDefineSeries(s, *env.message_as_DefineSeries(), r);
    case wire::Message::RegisterResources:
      return OnRegisterResources(s, *env.message_as_RegisterResources(), r);
    case wire::Message::DefineMetric:
      return OnDefineMetric(*env.message_as_DefineMetric(), r);
    case wire::Message::ListMetrics:
      return OnListMetrics(*env.message_as_ListMetrics(), r);
    case wire::Message::CreateKey:
      return OnCreateKey(*env.message_as_CreateKey(), r);
    case wire::Message::ListKeys:
      return OnListKeys(*env.message_as_ListKeys(), r);
    case wire::Message::RevokeKey:
      return OnRevokeKey(*env.message_as_RevokeKey(), r);
    case wire::Message::ExportRequest: {
      const auto* q = env.message_as_ExportRequest();
      asio::post(queries_,
                 [this, id = q->request_id(), from = q->from(), to = q->to(),
                  res = std::string(View(q->resource())), met = std::string(View(q->metric())),
                  r]() mutable { RunExport(id, from, to, std::move(res), std::move(met), r); });
      return;
    }
    case wire::Message::StatsRequest: {
      asio::post(queries_, [this, id = request_id, r] { RunStats(id, r); });
      return;
    }
    case wire::Message::UsageRequest: {
      const auto* q = env.message_as_UsageRequest();
      UsageArgs args{q->request_id(),
                     q->from(),
                     q->to(),
                     std::string(View(q->resource())),
                     std::string(View(q->project())),
                     std::string(View(q->account())),
                     std::string(View(q->metric())),
                     q->granularity()};
      asio::post(queries_, [this, args = std::move(args), r] { RunUsage(args, r); });
      return;
    }
    case wire::Message::BackfillRequest:
      return OnBackfill(*env.message_as_BackfillRequest(), r);
    case wire::Message::ApplyCatalog: {
      const auto* q = env.message_as_ApplyCatalog();
      asio::post(queries_, [this, id = q->request_id(), doc = std::string(View(q->document())),
                            format = q->format(), dry = q->dry_run(),
                            r] { RunApplyCatalog(id, doc, format, dry, r); });
      return;
    }
    case wire::Message::ChargesRequest: {
      const auto* q = env.message_as_ChargesRequest();
      ChargesArgs args = ChargesArgsOf(*q, q->price_version());
      asio::post(queries_, [this, args = std::move(args), r] { RunCharges(args, r); });
      return;
    }
    case wire::Message::ReRateRequest: {
      const auto* q = env.message_as_ReRateRequest();
      ChargesArgs args = ChargesArgsOf(*q, q->version());
      if (q->book() && !s->who.is_admin()) {
        ReplyError(r, request_id, Status::PermissionDenied("booking a re-rate needs an admin key"));
        return;
      }
      std::string reason = q->book() ? std::string(View(q->reason())) : std::string();
      if (q->book() && reason.empty())
        reason = "re-rated under price book version " + std::to_string(q->version());
      std::string reference = q->book() ? std::string(View(q->reference())) : std::string();
      asio::post(queries_, [this, args = std::move(args), reason = std::move(reason),
                            reference = std::move(reference), actor = s->who.key.id,
                            r] { RunReRate(args, r, reason, reference, actor); });
      return;
    }
    case wire::Message::EstimateRequest: {
      const auto* q = env.message_as_EstimateRequest();
      EstimateArgs args{q->request_id(),
                        std::string(View(q->plan())),
                        std::string(View(q->location())),
                        std::string(View(q->storage_tier())),
                        q->hours(),
                        q->at(),
                        std::string(View(q->currency()))};
      asio::post(queries_, [this, args = std::move(args), r] { RunEstimate(args, r); });
      return;
    }
    case wire::Message::ResourceChange: {
      const auto* q = env.message_as_ResourceChange();
      ResourceChangeArgs a{q->request_id(),
                           q->op(),
                           std::string(View(q->id())),
                           std::string(View(q->type())),
                           std::string(View(q->project())),
                           std::string(View(q->location())),
                           std::string(View(q->plan())),
                           std::string(View(q->storage_tier())),
                           std::string(View(q->name())),
                           std::string(View(q->agent_id())),
                           q->effective_from(),
                           q->dry_run()};
      asio::post(queries_, [this, a = std::move(a), r] { RunResourceChange(a, r); });
      return;
    }
    case wire::Message::ListResourceHosts: {
      const auto* q = env.message_as_ListResourceHosts();
      asio::post(queries_, [this, id = q->request_id(), only = q->unattributed_only(),
                            res = std::string(View(q->resource())),
                            r] { RunListResourceHosts(id, only, res, r); });
      return;
    }
    case wire::Message::ListCatalog: {
      const auto* q = env.message_as_ListCatalog();
      asio::post(queries_,
                 [this, id = q->request_id(), section = std::string(View(q->section())),
                  cid = std::string(View(q->id())), r] { RunListCatalog(id, section, cid, r); });
      return;
    }
    case wire::Message::InvoiceRequest: {
      const auto* q = env.message_as_InvoiceRequest();
      const bool reads = q->op() == wire::InvoiceOp::List || q->op() == wire::InvoiceOp::Show ||
                         q->op() == wire::InvoiceOp::Drafts || q->op() == wire::InvoiceOp::Pdf ||
                         q->op() == wire::InvoiceOp::Statement || q->op() == wire::InvoiceOp::Usage;
      if (!reads && !s->who.is_admin()) {
        r->Fail(wire::ErrorCode::PermissionDenied,
                "this invoice operation needs an admin key (billing keys read invoices)");
        return;
      }
      // Copy the request: it is valid only during this call.
      flatbuffers::FlatBufferBuilder fbb(512);
      fbb.Finish(wire::CreateInvoiceRequest(
          fbb, q->request_id(), q->op(), q->at(), q->scope(), fbb.CreateString(View(q->scope_id())),
          fbb.CreateString(View(q->account())), q->from(), q->to(),
          fbb.CreateString(View(q->number())), q->amount_micro(),
          fbb.CreateString(View(q->reference())), fbb.CreateString(View(q->reason())),
          q->provisional()));
      auto copy = std::make_shared<std::vector<uint8_t>>(fbb.GetBufferPointer(),
                                                         fbb.GetBufferPointer() + fbb.GetSize());
      asio::post(queries_,
                 [this, copy, actor = "key:" + s->who.key.id,
                  only = s->who.key.role == Role::kCustomer ? s->who.key.account : std::string(),
                  r] { RunInvoice(copy, actor, only, r); });
      return;
    }
    case wire::Message::BackupRequest: {  // admin only (Allowed)
      const auto* q = env.message_as_BackupRequest();
      asio::post(queries_, [this, id = q->request_id(), to = std::string(View(q->to())), r] {
        RunBackup(id, to, r);
      });
      return;
    }
    case wire::Message::RollupRebuild: {
      const auto* q = env.message_as_RollupRebuild();
      asio::post(queries_,
                 [this, id = q->request_id(), from = q->from(), to = q->to(),
                  res = std::string(View(q->resource())), met = std::string(View(q->metric())),
                  r] { RunRebuild(id, from, to, res, met, r); });
      return;
    }
    default:
      if (IsLedgerRequest(type)) return OnLedgerRequest(s, env, r);
      // unreachable: IsClientRequest holds
      r->Fail(wire::ErrorCode::Internal, "request type without a handler");
      return;
  }
}

// An IngestBatch copied off its frame (the frame is valid only during Handle), with what its
// task needs. One allocation: the three columns share one buffer after the struct (series and
// values as u64, then the u32 offsets; before: three vectors), and the task captures one
// shared_ptr, which fits std::function's inline storage (a capture of lane, batch, responder
// and time did not: one more allocation per batch).
struct MeterService::OwnedBatch {
  MeterService* service = nullptr;
  std::shared_ptr<IngestLane> lane;  // keeps the lane (its cache and principal) alive if the
                                     // connection closes first
  net::ResponderPtr responder;
  std::chrono::steady_clock::time_point received;
  std::string agent;
  uint64_t sequence = 0;
  int64_t base_time = 0;
  size_t series_n = 0, values_n = 0, offsets_n = 0;
  std::unique_ptr<uint64_t[]> columns;

  std::span<const uint64_t> series() const { return {columns.get(), series_n}; }
  std::span<const uint64_t> values() const { return {columns.get() + series_n, values_n}; }
  std::span<const uint32_t> offsets() const {
    return {reinterpret_cast<const uint32_t*>(columns.get() + series_n + values_n), offsets_n};
  }
};

void MeterService::OnIngest(Session* s, const wire::IngestBatch& b, const ResponderPtr& r) {
  auto batch = std::make_shared<OwnedBatch>();
  batch->received = std::chrono::steady_clock::now();
  batch->service = this;
  batch->lane = s->ingest;
  batch->responder = r;
  batch->agent = View(b.agent());
  batch->sequence = b.sequence();
  batch->base_time = b.base_time();
  batch->series_n = b.series() ? b.series()->size() : 0;
  batch->values_n = b.values() ? b.values()->size() : 0;
  batch->offsets_n = b.offsets() ? b.offsets()->size() : 0;
  const size_t words = batch->series_n + batch->values_n + (batch->offsets_n + 1) / 2;
  batch->columns.reset(new uint64_t[words == 0 ? 1 : words]);
  uint64_t* out = batch->columns.get();
  if (batch->series_n) std::memcpy(out, b.series()->data(), batch->series_n * 8);
  if (batch->values_n) std::memcpy(out + batch->series_n, b.values()->data(), batch->values_n * 8);
  if (batch->offsets_n) {
    std::memcpy(out + batch->series_n + batch->values_n, b.offsets()->data(), batch->offsets_n * 4);
  }
  const auto& strand = s->ingest->strand;
  ingest_exec_.Submit(strand, [batch = std::move(batch)] { batch->service->RunIngest(*batch); });
}

void MeterService::RunIngest(const OwnedBatch& batch) {
  IngestLane* lane = batch.lane.get();
  const auto received = batch.received;
  const ResponderPtr& r = batch.responder;
  IngestRequest req;
  req.agent = batch.agent;
  req.sequence = batch.sequence;
  req.base_time = batch.base_time;
  req.series = batch.series();
  req.values = batch.values();
  req.offsets = batch.offsets();
  auto result = parts_.ingest->Ingest(lane->who, req, &lane->cache);
  flatbuffers::FlatBufferBuilder fbb(256);
  if (!result.ok()) {
    const Status& st = result.status();
    if (IsFinalIngestRefusal(st)) {
      // The whole batch is refused, and the client learns why in its acknowledgement.
      std::vector<std::pair<uint32_t, Status>> why{{0, st}};
      Reply(r, net::FinishFrame(fbb, wire::CreateIngestAck(fbb, req.sequence, 0,
                                                           static_cast<uint32_t>(req.series.size()),
                                                           false, Refusals(fbb, why))));
      return;
    }
    // Nothing was stored. The connection is failed with the store's code (Unavailable while
    // the store closes, IOError after a WAL failure), so the client reconnects and resends the
    // batch later or elsewhere: never an acknowledgement, which it would take as final.
    if (st.code() == Status::Code::kUnavailable) {
      spdlog::info("event=ingest_unavailable key={} error=\"{}\"", lane->who.key.id, st.ToString());
    } else if (st.IsResourceExhausted()) {
      spdlog::warn("event=ingest_disk_full key={} error=\"{}\"", lane->who.key.id, st.ToString());
    } else {
      spdlog::error("event=ingest_failed key={} error=\"{}\"", lane->who.key.id, st.ToString());
    }
    r->Fail(net::ToWireCode(st), "ingest failed: " + std::string(st.message()));
    return;
  }
  IngestOutcome& out = result.value();
  std::vector<std::pair<uint32_t, Status>> why;
  for (auto& rej : out.first_rejections) why.emplace_back(rej.index, std::move(rej.reason));
  auto ack =
      net::FinishFrame(fbb, wire::CreateIngestAck(fbb, req.sequence, out.accepted, out.rejected,
                                                  out.duplicate, Refusals(fbb, why)));
  if (out.lsn == 0) {
    ack_latency_.Observe(std::chrono::steady_clock::now() - received);
    Reply(r, std::move(ack));
    return;
  }
  parts_.store->OnDurable(
      out.lsn, [this, received, r, ack = std::move(ack), agent = std::move(out.dedup_agent),
                sequence = req.sequence, lsn = out.lsn](const Status& st) mutable {
        if (st.ok()) {
          ack_latency_.Observe(std::chrono::steady_clock::now() - received);
          Reply(r, std::move(ack));
        } else {
          // Never acknowledged: the client resends the batch (docs/protocol.md, "Storage
          // failure"), which must be appended again, not answered from the dedup window.
          parts_.ingest->Forget(agent, sequence, lsn);
          if (st.IsResourceExhausted()) {
            spdlog::warn("event=ingest_not_durable error=\"{}\"", st.ToString());
          } else {
            spdlog::error("event=ingest_not_durable error=\"{}\"", st.ToString());
          }
          r->Fail(net::ToWireCode(st), "the write-ahead log failed: " + std::string(st.message()));
        }
      });
}

void MeterService::OnDefineSeries(Session* s, const wire::DefineSeries& req,
                                  const ResponderPtr& r) {
  std::vector<SeriesDefinition> defs;
  if (req.series()) {
    defs.reserve(req.series()->size());
    for (const wire::SeriesDef* d : *req.series()) {
      defs.push_back(SeriesDefinition{d->id(), View(d->resource()), View(d->metric())});
    }
  }
  const bool admin = s->who.is_admin();
  auto outcome =
      parts_.series->Define(defs, admin ? std::string_view() : s->who.key.hypervisor, admin);
  if (!outcome.ok()) return ReplyError(r, req.request_id(), outcome.status());
  flatbuffers::FlatBufferBuilder fbb(256);
  const DefineOutcome& o = outcome.value();
  Reply(r, net::FinishFrame(
               fbb, wire::CreateDefineSeriesOk(fbb, req.request_id(), o.defined, o.existing,
                                               o.refused, Refusals(fbb, o.first_refusals))));
}

void MeterService::OnDefineMetric(const wire::DefineMetric& req, const ResponderPtr& r) {
  const wire::MetricInfo* m = req.metric();
  if (!m) return ReplyError(r, req.request_id(), Status::InvalidArgument("no metric given"));
  MetricDef def;
  def.name = View(m->name());
  def.unit = View(m->unit());
  def.description = View(m->description());
  switch (m->kind()) {
    case wire::MetricKind::Gauge:
      def.kind = MetricKind::kGauge;
      break;
    case wire::MetricKind::Counter:
      def.kind = MetricKind::kCounter;
      break;
    case wire::MetricKind::State:
      def.kind = MetricKind::kState;
      break;
    default:
      return ReplyError(r, req.request_id(),
                        Status::InvalidArgument("metric kind must be gauge, counter or state"));
  }
  switch (m->type()) {
    case wire::ValueType::Int:
      def.type = storage::ValueType::kInt;
      break;
    case wire::ValueType::Float:
      def.type = storage::ValueType::kFloat;
      break;
    default:
      return ReplyError(r, req.request_id(),
                        Status::InvalidArgument("metric value type must be int or float"));
  }
  if (Status st = parts_.metrics->Define(def); !st.ok()) {
    return ReplyError(r, req.request_id(), st);
  }
  Reply(r, net::OkFrame(req.request_id()));
}

void MeterService::OnListMetrics(const wire::ListMetrics& req, const ResponderPtr& r) {
  flatbuffers::FlatBufferBuilder fbb(4096);
  std::vector<flatbuffers::Offset<wire::MetricInfo>> list;
  for (const MetricDef& d : parts_.catalog->List()) {
    list.push_back(
        wire::CreateMetricInfo(fbb, fbb.CreateString(d.name), static_cast<wire::MetricKind>(d.kind),
                               fbb.CreateString(d.unit), static_cast<wire::ValueType>(d.type),
                               fbb.CreateString(d.description), d.builtin));
  }
  Reply(r, net::FinishFrame(fbb,
                            wire::CreateMetricList(fbb, req.request_id(), fbb.CreateVector(list))));
}

void MeterService::OnCreateKey(const wire::CreateKey& req, const ResponderPtr& r) {
  auto role = FromWire(req.role());
  if (!role) {
    return ReplyError(r, req.request_id(),
                      Status::InvalidArgument("role must be agent, billing, admin or customer"));
  }
  KeyInfo info;
  auto key = parts_.keys->Create(*role, View(req.hypervisor()), View(req.account()),
                                 View(req.name()), &info);
  if (!key.ok()) return ReplyError(r, req.request_id(), key.status());
  spdlog::info("event=key_created id={} role={} hypervisor=\"{}\" account=\"{}\"", info.id,
               RoleName(info.role), info.hypervisor, info.account);
  flatbuffers::FlatBufferBuilder fbb(512);
  Reply(r, net::FinishFrame(
               fbb, wire::CreateKeyCreated(fbb, req.request_id(), fbb.CreateString(key.value()),
                                           BuildKeyInfo(fbb, info))));
}

void MeterService::OnListKeys(const wire::ListKeys& req, const ResponderPtr& r) {
  flatbuffers::FlatBufferBuilder fbb(1024);
  std::vector<flatbuffers::Offset<wire::KeyInfo>> list;
  for (const KeyInfo& k : parts_.keys->List()) list.push_back(BuildKeyInfo(fbb, k));
  Reply(r,
        net::FinishFrame(fbb, wire::CreateKeyList(fbb, req.request_id(), fbb.CreateVector(list))));
}

void MeterService::OnRevokeKey(const wire::RevokeKey& req, const ResponderPtr& r) {
  if (Status st = parts_.keys->Revoke(View(req.id())); !st.ok()) {
    return ReplyError(r, req.request_id(), st);
  }
  spdlog::info("event=key_revoked id={}", View(req.id()));
  Reply(r, net::OkFrame(req.request_id()));
}

// Streams [from, to) of the matching series, ordered by resource, metric, time. Series are
// scanned in groups so that memory holds one group's samples, not the whole export.
void MeterService::RunExport(uint64_t request_id, int64_t from, int64_t to, std::string resource,
                             std::string metric, const ResponderPtr& r) {
  if (from >= to) {
    return ReplyError(r, request_id, Status::InvalidArgument("export needs from < to"));
  }
  const std::vector<SeriesInfo> series = parts_.series->Matching(resource, metric);
  constexpr size_t kGroup = 512;
  std::vector<std::string> damaged;
  struct Data {
    storage::ValueType type;
    std::vector<int64_t> ts;
    std::vector<uint64_t> values;
  };
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  std::vector<flatbuffers::Offset<wire::ExportSeries>> pending;
  size_t pending_samples = 0;
  auto flush = [&](bool last) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> dmg;
    if (last) {
      for (const auto& d : damaged) dmg.push_back(fbb.CreateString(d));
    }
    auto chunk = wire::CreateExportChunk(fbb, request_id, fbb.CreateVector(pending), last,
                                         fbb.CreateVector(dmg));
    r->Send(net::FinishFrame(fbb, chunk));
    fbb.Clear();
    pending.clear();
    pending_samples = 0;
  };
  for (size_t g = 0; g < series.size(); g += kGroup) {
    const size_t end = std::min(series.size(), g + kGroup);
    storage::ScanRequest scan;
    scan.from = from;
    scan.to = to;
    for (size_t i = g; i < end; ++i) scan.series.push_back(series[i].id);
    std::unordered_map<uint64_t, Data> data;
    storage::ScanStats stats;
    Status st = parts_.store->Scan(
        scan,
        [&](uint64_t id, storage::ValueType type, std::span<const int64_t> ts,
            std::span<const uint64_t> values) {
          Data& d = data[id];
          d.type = type;
          d.ts.insert(d.ts.end(), ts.begin(), ts.end());
          d.values.insert(d.values.end(), values.begin(), values.end());
        },
        &stats);
    if (!st.ok()) {
      r->Send(net::ErrorFrame(request_id, net::ToWireCode(st), st.message()));
      r->Done();
      return;
    }
    damaged.insert(damaged.end(), stats.damaged.begin(), stats.damaged.end());
    for (size_t i = g; i < end; ++i) {
      auto it = data.find(series[i].id);
      if (it == data.end()) continue;
      const Data& d = it->second;
      // A long series is split across chunks; a reader concatenates consecutive pieces.
      for (size_t off = 0; off < d.ts.size();) {
        const size_t n = std::min(d.ts.size() - off, kExportChunkSamples - pending_samples);
        pending.push_back(wire::CreateExportSeries(
            fbb, fbb.CreateString(series[i].resource), fbb.CreateString(series[i].metric),
            static_cast<wire::ValueType>(d.type), fbb.CreateVector(d.ts.data() + off, n),
            fbb.CreateVector(d.values.data() + off, n)));
        pending_samples += n;
        off += n;
        if (pending_samples >= kExportChunkSamples) flush(false);
      }
    }
  }
  flush(true);
  r->Done();
}

void MeterService::RunStats(uint64_t request_id, const ResponderPtr& r) {
  const storage::StoreStats st = parts_.store->stats();
  const IngestCounters ic = parts_.ingest->counters();
  const net::ServerStats ss = server_stats_ ? server_stats_() : net::ServerStats{};
  const double uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  flatbuffers::FlatBufferBuilder fbb(512);
  auto backend = fbb.CreateString(st.io_backend ? st.io_backend : "");
  const billing::ClockStats clock = parts_.clock ? parts_.clock->stats() : billing::ClockStats{};
  auto billing_error = fbb.CreateString(clock.last_error);
  wire::StatsReplyBuilder b(fbb);
  b.add_request_id(request_id);
  b.add_series(parts_.series->size());
  b.add_resources(parts_.hosts ? parts_.hosts->size() : 0);
  b.add_samples_stored(st.segment_samples + st.head_samples);
  b.add_segments(st.segments);
  b.add_segment_bytes(st.segment_bytes);
  b.add_head_samples(st.head_samples);
  b.add_head_memory_bytes(st.head_memory_bytes);
  b.add_wal_bytes(st.wal_bytes);
  b.add_accepted_samples(ic.accepted);
  b.add_rejected_samples(ic.rejected);
  b.add_duplicate_batches(ic.duplicate_batches);
  b.add_connections(static_cast<uint32_t>(ss.connections));
  b.add_ingest_samples_per_s(ingest_rate());
  b.add_uptime_s(uptime);
  b.add_rss_bytes(ResidentBytes());
  b.add_io_backend(backend);
  b.add_quarantined_blocks(st.quarantined_blocks);
  if (parts_.downsampler != nullptr) {
    const DownsampleStats ds = parts_.downsampler->stats();
    b.add_rollup_sealed_before(ds.sealed_before);
    b.add_rollup_open_buckets(ds.open_buckets);
    b.add_rollup_revisions(ds.revisions);
    b.add_rollup_late_samples(ds.late_samples);
    b.add_rollup_files(ds.files.month_files + ds.files.part_files);
    b.add_rollup_bytes(ds.files.bytes);
    b.add_rollup_rows(ds.files.rows);
  }
  b.add_billing_next_hour(clock.next_hour.value_or(0));
  b.add_billing_hours_booked(clock.hours_booked);
  b.add_billing_error(billing_error);
  b.add_events_last_id(parts_.events ? parts_.events->LastId() : 0);
  if (email_ != nullptr) {
    const events::EmailStats es = email_->Stats();
    b.add_email_on(true);
    b.add_email_delivered(es.delivered);
    b.add_email_failed_attempts(es.failed_attempts);
  }
  Reply(r, net::FinishFrame(fbb, b.Finish()));
}

}  // namespace meterd::engine
