// meterd — engine/service/meter_service_billing.cc: MeterService's billing requests:
// ApplyCatalog (admin), EstimateRequest, ChargesRequest and ReRateRequest (docs/protocol.md,
// "Billing"). All run on the query pool: an apply is one synced SQLite transaction, a rating a
// scan of the rollups. Ratings share one RatingEngine per catalog snapshot and series count
// (CurrentRatingEngine), built by the first request that needs it.
#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "engine/billing/account_charges.h"
#include "engine/invoicing/invoice_builder.h"
#include "engine/pricebook/money.h"
#include "engine/rating/rating_engine.h"
#include "engine/service/meter_service.h"
#include "engine/service/service_replies.h"
#include "net/protocol/messages.h"
#include "storage/base/checksum.h"
#include "storage/base/coding.h"

namespace meterd::engine {

namespace {

using net::ResponderPtr;

// Unrated usage entries a ChargesChunk lists (about 150 bytes each: well inside a frame).
constexpr size_t kMaxUnratedShown = 4096;

tenancy::DocFormat FromWire(wire::DocFormat f) {
  switch (f) {
    case wire::DocFormat::Yaml:
      return tenancy::DocFormat::kYaml;
    case wire::DocFormat::Json:
      return tenancy::DocFormat::kJson;
    default:
      return tenancy::DocFormat::kAuto;
  }
}

// Micro-credits shown in `currency`, rounded once with `mode`.
std::string Display(int64_t micro, const pricebook::Currency& currency,
                    pricebook::RoundingMode mode) {
  Result<int64_t> minor = pricebook::ToMinorUnits(micro, currency, mode);
  return minor.ok() ? pricebook::FormatMinor(minor.value(), currency) : "(overflow)";
}

}  // namespace

void MeterService::RunApplyCatalog(uint64_t request_id, const std::string& document,
                                   wire::DocFormat format, bool dry_run, const ResponderPtr& r) {
  if (parts_.billing == nullptr) {
    return ReplyError(r, request_id, Status::NotSupported("this server keeps no billing catalog"));
  }
  std::vector<tenancy::DocError> errors;
  Result<tenancy::ApplyReport> rep =
      parts_.billing->Apply(document, FromWire(format), &errors, dry_run);
  SendApplyReply(request_id, rep, errors, dry_run, r);
}

void MeterService::SendApplyReply(uint64_t request_id, const Result<tenancy::ApplyReport>& rep,
                                  const std::vector<tenancy::DocError>& errors, bool dry_run,
                                  const ResponderPtr& r) {
  flatbuffers::FlatBufferBuilder fbb(4096);
  std::vector<flatbuffers::Offset<flatbuffers::String>> error_list;
  std::vector<flatbuffers::Offset<wire::CatalogChange>> changes;
  uint32_t created = 0, updated = 0, unchanged = 0;
  bool applied = false;
  std::string summary;
  if (!rep.ok()) {
    if (errors.empty()) return ReplyError(r, request_id, rep.status());
    for (const tenancy::DocError& e : errors) error_list.push_back(fbb.CreateString(e.ToString()));
    summary = "refused: " + std::to_string(errors.size()) + " error(s); nothing changed";
  } else {
    created = rep->Count(tenancy::ChangeKind::kCreated);
    updated = rep->Count(tenancy::ChangeKind::kUpdated);
    unchanged = rep->Count(tenancy::ChangeKind::kUnchanged);
    applied = rep->applied;
    summary = rep->Summary();
    for (const tenancy::ApplyChange& c : rep->changes) {
      if (c.kind == tenancy::ChangeKind::kUnchanged) continue;
      changes.push_back(wire::CreateCatalogChange(
          fbb, fbb.CreateString(c.entity), fbb.CreateString(c.id),
          fbb.CreateString(tenancy::ChangeKindName(c.kind)), fbb.CreateString(c.detail)));
    }
    spdlog::info("event=catalog_apply dry_run={} applied={} created={} updated={} unchanged={}",
                 dry_run, applied, created, updated, unchanged);
  }
  auto summary_off = fbb.CreateString(summary);
  auto changes_off = fbb.CreateVector(changes);
  auto errors_off = fbb.CreateVector(error_list);
  auto reply = wire::CreateApplyCatalogReply(fbb, request_id, applied, summary_off, created,
                                             updated, unchanged, changes_off, errors_off);
  r->Send(net::FinishFrame(fbb, reply));
  r->Done();
}

void MeterService::RunEstimate(const EstimateArgs& a, const ResponderPtr& r) {
  if (parts_.billing == nullptr) {
    return ReplyError(r, a.request_id,
                      Status::NotSupported("this server keeps no billing catalog"));
  }
  pricebook::EstimateRequest req;
  req.plan = a.plan;
  req.location = a.location;
  req.storage_tier = a.storage_tier;
  req.hours = a.hours;
  req.at = a.at;
  Result<pricebook::Estimate> est = parts_.billing->EstimateCost(req);
  if (!est.ok()) return ReplyError(r, a.request_id, est.status());
  const pricebook::PriceBookVersion& v = *est->version;
  const pricebook::Currency& currency = v.DisplayCurrency(a.currency);
  if (!a.currency.empty() && currency.code != a.currency) {
    return ReplyError(r, a.request_id,
                      Status::NotFound("currency " + a.currency + " is not in price book version " +
                                       std::to_string(v.version)));
  }
  flatbuffers::FlatBufferBuilder fbb(4096);
  std::vector<flatbuffers::Offset<wire::EstimateLine>> lines;
  for (const pricebook::EstimateLine& l : est->lines) {
    lines.push_back(wire::CreateEstimateLine(
        fbb, fbb.CreateString(l.product->id), fbb.CreateString(l.product->name),
        fbb.CreateString(l.metric), fbb.CreateString(l.product->unit), l.hourly, l.period,
        fbb.CreateString(Display(l.hourly, currency, v.rounding)),
        fbb.CreateString(Display(l.period, currency, v.rounding)),
        fbb.CreateString(l.explanation)));
  }
  std::vector<flatbuffers::Offset<flatbuffers::String>> notes;
  for (const std::string& n : est->notes) notes.push_back(fbb.CreateString(n));
  auto reply = wire::CreateEstimateReply(
      fbb, a.request_id, v.version, fbb.CreateString(est->plan ? est->plan->name : a.plan),
      est->hours, fbb.CreateString(currency.code), fbb.CreateVector(lines), est->hourly_total,
      est->period_total, fbb.CreateString(Display(est->hourly_total, currency, v.rounding)),
      fbb.CreateString(Display(est->period_total, currency, v.rounding)), fbb.CreateVector(notes));
  r->Send(net::FinishFrame(fbb, reply));
  r->Done();
}

Result<std::shared_ptr<const rating::RatingEngine>> MeterService::CurrentRatingEngine() {
  const pricebook::BillingSnapshot snap = parts_.billing->Current();
  const size_t series = parts_.series->size();
  std::lock_guard lock(rating_mu_);
  const bool same_catalog = rating_engine_ != nullptr && rating_snapshot_.tenancy == snap.tenancy &&
                            rating_snapshot_.price_book == snap.price_book &&
                            rating_snapshot_.subscriptions == snap.subscriptions;
  if (same_catalog && rating_series_ >= series) return rating_engine_;
  const auto t0 = std::chrono::steady_clock::now();
  const char* how = "built";
  if (same_catalog) {
    // Only series were defined since: the engine is extended with them, not rebuilt. The
    // registry only appends, so the engine's count is exactly where the new ones start.
    std::vector<SeriesInfo> added = parts_.series->Since(rating_series_);
    const size_t count = added.size();
    METERD_ASSIGN_OR_RETURN(std::unique_ptr<rating::RatingEngine> engine,
                            rating_engine_->Extend(std::move(added)));
    rating_engine_ = std::move(engine);
    rating_series_ += count;
    how = "extended";
  } else {
    rating::RatingCatalog catalog{snap.tenancy, snap.price_book,
                                  snap.subscriptions ? snap.subscriptions->subscriptions
                                                     : std::vector<pricebook::Subscription>{}};
    METERD_ASSIGN_OR_RETURN(
        std::unique_ptr<rating::RatingEngine> engine,
        rating::RatingEngine::Create(std::move(catalog), parts_.series->Matching("", "")));
    rating_engine_ = std::move(engine);
    rating_snapshot_ = snap;
    rating_series_ = rating_engine_->series();  // every series listed, however many since
  }
  spdlog::info(
      "event=rating_engine_{} series={} ms={:.1f}", how, rating_engine_->series(),
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  return rating_engine_;
}

namespace {

// The rating request of ChargesArgs, the scope and group-by checked.
Result<rating::RatingRequest> RatingRequestOf(const char* what, int64_t from, int64_t to,
                                              uint8_t scope, const std::string& scope_id,
                                              uint8_t group_by, const std::string& currency) {
  if (from >= to) return Status::InvalidArgument(std::string(what) + " need from < to");
  if (scope > static_cast<uint8_t>(rating::ScopeKind::kResource)) {
    return Status::InvalidArgument("unknown charge scope " + std::to_string(scope));
  }
  if (group_by > static_cast<uint8_t>(rating::GroupBy::kMonth)) {
    return Status::InvalidArgument("unknown charge group-by " + std::to_string(group_by));
  }
  rating::RatingRequest req;
  req.from = from;
  req.to = to;
  req.scope = static_cast<rating::ScopeKind>(scope);
  req.scope_id = scope_id;
  req.group_by = static_cast<rating::GroupBy>(group_by);
  req.currency = currency;
  return req;
}

// The engine's ViewSource over the downsampler: the rollups of the hours a request reads
// ([MonthStart(from), to): the month's earlier hours count towards caps and tiers), for the
// series its plan reads only. Downsampler::View copies the open and revised rows of the series
// it is given (all of them when given none): a one-account request copies its ~160 series'
// rows, not the fleet's. A second call (a re-rate's other rating) reuses the first view when
// it covers the series asked for, so both ratings see the same usage.
// A month-to-date rating (month_to_date) reads the window's hours only.
class ScopedViews {
 public:
  ScopedViews(const Downsampler* downsampler, int64_t from, int64_t to, bool month_to_date = false)
      : downsampler_(downsampler),
        from_(month_to_date ? storage::HourOf(from) : pricebook::MonthStart(storage::HourOf(from))),
        to_(storage::HourOf(to - 1) + storage::kSecondsPerHour) {}

  const query::RollupView& Get(const std::vector<uint64_t>& series, bool all) {
    if (have_ && (have_all_ || (!all && std::includes(series_.begin(), series_.end(),
                                                      series.begin(), series.end())))) {
      return view_;
    }
    if (all) {
      view_ = downsampler_->View({}, from_, to_);
    } else if (series.empty()) {
      view_ = query::RollupView{};  // nothing to read (View({}) would mean every series)
      view_.sealed_before = downsampler_->sealed_before();
    } else {
      view_ = downsampler_->View(series, from_, to_);
    }
    have_ = true;
    have_all_ = all;
    series_ = series;
    return view_;
  }
  rating::RatingEngine::ViewSource Source() {
    return [this](const std::vector<uint64_t>& series, bool all) -> const query::RollupView& {
      return Get(series, all);
    };
  }

 private:
  const Downsampler* downsampler_;
  const int64_t from_, to_;
  bool have_ = false, have_all_ = false;
  std::vector<uint64_t> series_;
  query::RollupView view_;
};

flatbuffers::Offset<flatbuffers::String> Str(flatbuffers::FlatBufferBuilder& fbb,
                                             std::string_view v) {
  return fbb.CreateString(v.data(), v.size());
}

// Lines per ChargesChunk / ReRateChunk frame: ~200 bytes each, so a frame stays near 1 MiB.
constexpr size_t kChargeChunkLines = 4096;

// Wall and thread-CPU time since a request started, for the debug log of each rating (the CPU
// time leaves out the time the thread waited for a core: on a busy machine it is the cost).
class RequestTimer {
 public:
  RequestTimer() : wall_(std::chrono::steady_clock::now()), cpu_(ThreadCpuMs()) {}
  double wall_ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall_)
        .count();
  }
  double cpu_ms() const { return ThreadCpuMs() - cpu_; }

 private:
  static double ThreadCpuMs() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  }
  std::chrono::steady_clock::time_point wall_;
  double cpu_;
};

}  // namespace

// Rates [from, to) for the scope over the rollups (docs/rating.md) with the cached engine,
// streamed as ChargesChunk frames.
void MeterService::RunCharges(const ChargesArgs& a, const ResponderPtr& r) {
  if (parts_.billing == nullptr || parts_.downsampler == nullptr) {
    return ReplyError(r, a.request_id, Status::NotSupported("this server rates no usage"));
  }
  const RequestTimer timer;
  Result<rating::RatingRequest> req =
      RatingRequestOf("charges", a.from, a.to, a.scope, a.scope_id, a.group_by, a.currency);
  if (!req.ok()) return ReplyError(r, a.request_id, req.status());
  req->price_version = a.price_version;
  auto engine = CurrentRatingEngine();
  if (!engine.ok()) return ReplyError(r, a.request_id, engine.status());
  ScopedViews views(parts_.downsampler, a.from, a.to);
  const auto rating_start = std::chrono::steady_clock::now();
  Result<rating::RatingResult> res = engine.value()->Rate(views.Source(), *req);
  rating_latency_.Observe(std::chrono::steady_clock::now() - rating_start);
  if (!res.ok()) return ReplyError(r, a.request_id, res.status());
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  std::vector<flatbuffers::Offset<wire::ChargeLineInfo>> lines;
  auto str = [&fbb](std::string_view v) { return Str(fbb, v); };
  auto flush = [&](bool last) {
    std::vector<flatbuffers::Offset<wire::ChargeTotal>> totals;
    if (last) {
      for (const rating::GroupTotal& g : res->groups) {
        totals.push_back(wire::CreateChargeTotal(fbb, str(g.key), str(g.label), g.amount,
                                                 str(g.display), g.provisional));
      }
    }
    std::vector<flatbuffers::Offset<wire::UnratedInfo>> unrated;
    if (last) {
      for (const auto* list : {&res->unattributed, &res->unpriced}) {
        for (const rating::UnratedUsage& u : *list) {
          if (unrated.size() == kMaxUnratedShown) break;
          unrated.push_back(wire::CreateUnratedInfo(
              fbb, str(u.resource), str(u.metric), str(rating::ReasonName(u.reason)), u.state,
              str(u.account), str(u.project), str(pricebook::ToString128(u.raw_quantity)), u.hours,
              u.first_hour, u.last_hour));
        }
      }
    }
    auto chunk = wire::CreateChargesChunk(
        fbb, a.request_id, fbb.CreateVector(lines), last, fbb.CreateVector(totals),
        last ? res->total : 0, str(last ? res->total_display : ""), res->provisional,
        res->unattributed.size(), res->unpriced.size(), last ? res->stats.rows_scanned : 0,
        fbb.CreateVector(unrated));
    r->Send(net::FinishFrame(fbb, chunk));
    fbb.Clear();
    lines.clear();
  };
  for (const rating::ChargeLine& l : res->lines) {
    lines.push_back(wire::CreateChargeLineInfo(
        fbb, str(l.account), str(l.project), str(l.resource), str(l.product_id),
        str(l.product_name), str(l.group), str(l.unit), l.period_start, l.period_end,
        str(rating::QuantityText(l)), str(rating::UnitPriceText(l)), l.amount,
        str(rating::DisplayText(l)), l.provisional, l.revised));
    if (lines.size() >= kChargeChunkLines) flush(false);
  }
  flush(true);
  r->Done();
  spdlog::debug(
      "event=charges scope={} scope_id=\"{}\" lines={} rows={} ms={:.3f} cpu_ms={:.3f} "
      "plan_ms={:.3f} scan_ms={:.3f} price_ms={:.3f}",
      a.scope, net::LogSafe(a.scope_id), res->lines.size(), res->stats.rows_scanned,
      timer.wall_ms(), timer.cpu_ms(), res->stats.plan_ms, res->stats.scan_ms, res->stats.price_ms);
}

// Re-rates [from, to) for the scope under price book version a.price_version
// (RatingEngine::ReRate), streamed as ReRateChunk frames: per line the amounts under the
// versions in force and under that version, and their difference.
void MeterService::RunReRate(const ChargesArgs& a, const ResponderPtr& r,
                             const std::string& book_reason, const std::string& book_reference,
                             const std::string& actor) {
  if (parts_.billing == nullptr || parts_.downsampler == nullptr) {
    return ReplyError(r, a.request_id, Status::NotSupported("this server rates no usage"));
  }
  const bool book = !book_reason.empty();
  if (book && (parts_.ledger == nullptr || book_reference.empty())) {
    return ReplyError(r, a.request_id,
                      parts_.ledger == nullptr
                          ? Status::NotSupported("this server keeps no ledger")
                          : Status::InvalidArgument("booking a re-rate needs a reference (it "
                                                    "makes the booking idempotent)"));
  }
  const RequestTimer timer;
  Result<rating::RatingRequest> req =
      RatingRequestOf("re-rates", a.from, a.to, a.scope, a.scope_id, a.group_by, a.currency);
  if (!req.ok()) return ReplyError(r, a.request_id, req.status());
  if (a.price_version == 0) {
    return ReplyError(r, a.request_id,
                      Status::InvalidArgument("a re-rate needs the price book version to re-rate "
                                              "under (version 1 or later)"));
  }
  auto engine = CurrentRatingEngine();
  if (!engine.ok()) return ReplyError(r, a.request_id, engine.status());
  ScopedViews views(parts_.downsampler, a.from, a.to);
  const auto rating_start = std::chrono::steady_clock::now();
  Result<rating::ReRateResult> res = engine.value()->ReRate(views.Source(), *req, a.price_version);
  rating_latency_.Observe(std::chrono::steady_clock::now() - rating_start);
  if (!res.ok()) return ReplyError(r, a.request_id, res.status());
  // Totals per group: the two ratings' groups matched by key (a key may be on one side only).
  struct Total {
    std::string_view label;
    pricebook::MicroCredits actual = 0, rerated = 0;
  };
  std::map<std::string_view, Total> totals;
  for (const rating::GroupTotal& g : res->actual.groups) {
    Total& t = totals[g.key];
    t.label = g.label;
    t.actual += g.amount;
  }
  for (const rating::GroupTotal& g : res->rerated.groups) {
    Total& t = totals[g.key];
    if (t.label.empty()) t.label = g.label;
    t.rerated += g.amount;
  }
  const bool provisional = res->actual.provisional || res->rerated.provisional;
  // Booking: one adjustment per account whose re-rated amount differs, idempotent on
  // `<reference>:<account>` (a re-rate booked twice books nothing the second time).
  std::vector<ledger::Entry> booked;
  if (book) {
    std::map<std::string, pricebook::MicroCredits> diff;
    for (const rating::ReRateLine& l : res->lines) diff[std::string(l.account)] += l.difference;
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    for (const auto& [account, d] : diff) {
      if (d == 0) continue;
      ledger::ManualEntry m;
      m.account = account;
      m.kind = ledger::EntryKind::kAdjustment;
      m.amount = -d;  // more owed lowers the balance
      m.reference = book_reference + ":" + account;
      m.reason = book_reason;
      m.actor = actor.empty() ? "rerate" : "key:" + actor;
      auto posted = parts_.ledger->Post(m, now);
      if (!posted.ok()) return ReplyError(r, a.request_id, posted.status());
      booked.push_back(posted->entry);
    }
  }
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  std::vector<flatbuffers::Offset<wire::ReRateLineInfo>> lines;
  auto str = [&fbb](std::string_view v) { return Str(fbb, v); };
  auto flush = [&](bool last) {
    std::vector<flatbuffers::Offset<wire::ReRateTotal>> group_totals;
    if (last) {
      for (const auto& [key, t] : totals) {
        group_totals.push_back(wire::CreateReRateTotal(fbb, str(key), str(t.label), t.actual,
                                                       t.rerated, t.rerated - t.actual));
      }
    }
    const rating::RatingResult& act = res->actual;
    std::vector<flatbuffers::Offset<wire::LedgerEntryInfo>> booked_entries;
    if (last) {
      for (const ledger::Entry& e : booked) {
        booked_entries.push_back(wire::CreateLedgerEntryInfo(
            fbb, e.id, str(e.account), static_cast<wire::LedgerKind>(e.kind), e.amount, e.at, -1,
            -1, 0, str(e.reference), 0, str(""), str(""), str(e.actor), str(e.reason),
            e.created_at));
      }
    }
    auto chunk = wire::CreateReRateChunk(
        fbb, a.request_id, fbb.CreateVector(lines), last, fbb.CreateVector(group_totals),
        res->version, last ? res->actual_total : 0, last ? res->rerated_total : 0,
        last ? res->difference : 0, str(last ? act.total_display : ""),
        str(last ? res->rerated.total_display : ""), provisional, act.unattributed.size(),
        act.unpriced.size(), last ? act.stats.rows_scanned + res->rerated.stats.rows_scanned : 0,
        fbb.CreateVector(booked_entries));
    r->Send(net::FinishFrame(fbb, chunk));
    fbb.Clear();
    lines.clear();
  };
  for (const rating::ReRateLine& l : res->lines) {
    lines.push_back(wire::CreateReRateLineInfo(
        fbb, str(l.account), str(l.project), str(l.resource), str(l.product_id),
        str(l.product_name), str(l.group), str(l.unit), l.period_start, l.period_end,
        str(rating::QuantityText(l)), l.actual, l.rerated, l.difference, str(l.subscription_id),
        l.one_time_fee));
    if (lines.size() >= kChargeChunkLines) flush(false);
  }
  flush(true);
  r->Done();
  spdlog::debug("event=rerate scope={} scope_id=\"{}\" version={} lines={} ms={:.3f} cpu_ms={:.3f}",
                a.scope, net::LogSafe(a.scope_id), a.price_version, res->lines.size(),
                timer.wall_ms(), timer.cpu_ms());
}

}  // namespace meterd::engine

namespace meterd::engine {

// billing::UsageRater: the clock's view of rating. Each window is rated with group_by account
// (the lines are still per resource and product); a fee line is a subscription line.
Result<billing::ChargesByAccount> MeterService::Rate(int64_t from, int64_t to,
                                                     std::string_view account) {
  if (parts_.billing == nullptr || parts_.downsampler == nullptr) {
    return Status::NotSupported("this server rates no usage");
  }
  if (from >= to) return billing::ChargesByAccount{};
  const pricebook::BillingSnapshot snap = parts_.billing->Current();
  if (snap.price_book == nullptr || snap.price_book->empty()) {
    return Status::NotFound("no price book has been applied yet (meterctl apply)");
  }
  METERD_ASSIGN_OR_RETURN(auto engine, CurrentRatingEngine());
  ScopedViews views(parts_.downsampler, from, to);
  METERD_ASSIGN_OR_RETURN(
      rating::RatingResult res,
      engine->Rate(views.Source(), billing::AccountsRequest(from, to, account)));
  // Charges of a damaged block's hours would be missing, not wrong-looking: never debit or
  // show a balance from them. The clock waits (stats: its last error) until the hours are
  // rebuilt from raw samples (`meterctl rollup rebuild`).
  if (!res.stats.damaged.empty()) {
    return Status::Corruption("damaged rollup block: " + res.stats.damaged[0] +
                              " (rebuild its hours: meterctl rollup rebuild)");
  }
  return billing::SumByAccount(res);
}

// The clock's incremental path: the window's hours only, added to the clock's state (which
// the engine refuses, and the clock rebuilds, when it belongs to another catalog snapshot).
Result<billing::ChargesByAccount> MeterService::RateMonthToDate(int64_t from, int64_t to,
                                                                rating::MonthToDate* state) {
  if (parts_.billing == nullptr || parts_.downsampler == nullptr) {
    state->Clear();
    return Status::NotSupported("this server rates no usage");
  }
  const pricebook::BillingSnapshot snap = parts_.billing->Current();
  if (snap.price_book == nullptr || snap.price_book->empty()) {
    state->Clear();
    return Status::NotFound("no price book has been applied yet (meterctl apply)");
  }
  Result<std::shared_ptr<const rating::RatingEngine>> engine = CurrentRatingEngine();
  if (!engine.ok()) {
    state->Clear();
    return engine.status();
  }
  ScopedViews views(parts_.downsampler, from, to, /*month_to_date=*/true);
  METERD_ASSIGN_OR_RETURN(rating::RatingResult res,
                          (*engine)->RateMonthToDate(views.Source(), from, to, state));
  if (!res.stats.damaged.empty()) {
    state->Clear();
    return Status::Corruption("damaged rollup block: " + res.stats.damaged[0] +
                              " (rebuild its hours: meterctl rollup rebuild)");
  }
  return billing::SumByAccount(res);
}

// The invoice builder's copy of a rating line.
static invoicing::RatedLine ToRatedLine(const rating::ChargeLine& l) {
  invoicing::RatedLine r;
  r.kind = !l.subscription  ? invoicing::LineKind::kUsage
           : l.one_time_fee ? invoicing::LineKind::kOneTimeFee
                            : invoicing::LineKind::kMonthlyFee;
  r.group = std::string(l.group);
  r.product_id = std::string(l.product_id);
  r.product_name = std::string(l.product_name);
  r.unit = std::string(l.unit);
  r.raw_quantity = l.raw_quantity;
  r.divisor = l.divisor;
  r.unit_price = l.unit_price;
  r.amount = l.amount;
  return r;
}

// An invoice run's lines: [from, to) rated per account and product (the engine's lines are per
// resource and product, summed by the invoice builder), for one account or every account.
Result<std::unordered_map<std::string, std::vector<invoicing::RatedLine>>>
MeterService::RateInvoiceLines(int64_t from, int64_t to, const std::vector<std::string>& accounts) {
  if (parts_.billing == nullptr || parts_.downsampler == nullptr) {
    return Status::NotSupported("this server rates no usage");
  }
  std::unordered_map<std::string, std::vector<invoicing::RatedLine>> out;
  if (from >= to) return out;
  const pricebook::BillingSnapshot snap = parts_.billing->Current();
  if (snap.price_book == nullptr || snap.price_book->empty()) {
    return Status::NotFound("no price book has been applied yet (meterctl apply)");
  }
  METERD_ASSIGN_OR_RETURN(auto engine, CurrentRatingEngine());
  ScopedViews views(parts_.downsampler, from, to);
  rating::RatingRequest req =
      billing::AccountsRequest(from, to, accounts.size() == 1 ? accounts[0] : std::string());
  req.group_by = rating::GroupBy::kProduct;
  req.report_unpriced_metrics = false;
  METERD_ASSIGN_OR_RETURN(rating::RatingResult res, engine->Rate(views.Source(), req));
  if (!res.stats.damaged.empty()) {
    return Status::Corruption("damaged rollup block: " + res.stats.damaged[0] +
                              " (rebuild its hours: meterctl rollup rebuild)");
  }
  for (const rating::ChargeLine& l : res.lines) {
    out[std::string(l.account)].push_back(ToRatedLine(l));
  }
  return out;
}

Result<std::vector<invoicing::ResourceLine>> MeterService::RateResourceLines(
    int64_t from, int64_t to, const std::string& account) {
  if (parts_.billing == nullptr || parts_.downsampler == nullptr) {
    return Status::NotSupported("this server rates no usage");
  }
  std::vector<invoicing::ResourceLine> out;
  if (from >= to) return out;
  METERD_ASSIGN_OR_RETURN(auto engine, CurrentRatingEngine());
  ScopedViews views(parts_.downsampler, from, to);
  rating::RatingRequest req = billing::AccountsRequest(from, to, account);
  req.report_unpriced_metrics = false;  // the engine's lines are per resource and product
  METERD_ASSIGN_OR_RETURN(rating::RatingResult res, engine->Rate(views.Source(), req));
  if (!res.stats.damaged.empty()) {
    return Status::Corruption("damaged rollup block: " + res.stats.damaged[0] +
                              " (rebuild its hours: meterctl rollup rebuild)");
  }
  for (const rating::ChargeLine& l : res.lines) {
    if (l.account != account) continue;
    const std::string_view resource = l.subscription ? l.subscription_id : l.resource;
    out.push_back(invoicing::ResourceLine{std::string(resource), std::string(l.resource_name),
                                          ToRatedLine(l)});
  }
  return out;
}

// A kept month-to-date state against the current catalog's engine (the clock asks for it at a
// start when the durable revision mark kept with it is DurableRevisionMark's: docs/ledger.md).
Status MeterService::RestoreMonthToDate(std::string_view bytes, rating::MonthToDate* state) {
  if (parts_.billing == nullptr || parts_.downsampler == nullptr) {
    state->Clear();
    return Status::NotSupported("this server rates no usage");
  }
  Result<std::shared_ptr<const rating::RatingEngine>> engine = CurrentRatingEngine();
  if (!engine.ok()) {
    state->Clear();
    return engine.status();
  }
  return (*engine)->RestoreMonthToDate(bytes, state);
}

int64_t MeterService::ClosedBefore() {
  return parts_.downsampler ? parts_.downsampler->sealed_before() : 0;
}

std::optional<std::string> MeterService::DurableRevisionMark() {
  if (parts_.billing == nullptr || parts_.downsampler == nullptr) return std::nullopt;
  // Usage: the revision log's mark. The catalog: a kept state's fingerprint covers the tenancy
  // and the price book (RestoreMonthToDate refuses another), not the subscriptions, whose
  // digest is added here: a back-dated fee applied just before a crash was not billed yet, and
  // a restart must re-rate the month to book it.
  const std::shared_ptr<const pricebook::SubscriptionSet> set =
      parts_.billing->Current().subscriptions;
  std::vector<const pricebook::Subscription*> subs;
  if (set != nullptr) {
    for (const pricebook::Subscription& sub : set->subscriptions) subs.push_back(&sub);
  }
  std::sort(subs.begin(), subs.end(),
            [](const pricebook::Subscription* a, const pricebook::Subscription* b) {
              return a->id < b->id;
            });
  std::string bytes;
  for (const pricebook::Subscription* sub : subs) {
    for (std::string_view text : {std::string_view(sub->id), std::string_view(sub->account),
                                  std::string_view(sub->product)}) {
      base::PutFixed64(&bytes, text.size());
      bytes.append(text);
    }
    base::PutFixed64(&bytes, sub->quantity);
    base::PutFixed64(&bytes, static_cast<uint64_t>(sub->start));
    base::PutFixed64(&bytes, static_cast<uint64_t>(sub->end));
  }
  char digest[17];
  std::snprintf(digest, sizeof(digest), "%016llx",
                static_cast<unsigned long long>(base::Checksum64(bytes)));
  return "r" + parts_.downsampler->DurableRevisionMark() + "/s" + digest;
}

uint64_t MeterService::RevisionMark() {
  const uint64_t revisions = parts_.downsampler ? parts_.downsampler->stats().revisions : 0;
  // A catalog apply that may change what a closed hour rates to (a resource attributed late, a
  // resize booked late, a subscription back-dated) counts as a revision; one that changes only
  // open hours (a VM created now) does not (BillingSnapshot::retro_changes).
  if (parts_.billing != nullptr) {
    return revisions + (parts_.billing->Current().retro_changes << 40);
  }
  return revisions;
}

}  // namespace meterd::engine
