// meterd — engine/service/meter_service_billing.cc: MeterService's billing catalog requests:
// ApplyCatalog (admin) and EstimateRequest (docs/protocol.md, "Billing"). Both run on the
// query pool: an apply is one synced SQLite transaction.
#include <spdlog/spdlog.h>

#include "engine/pricebook/money.h"
#include "engine/rating/rating_engine.h"
#include "engine/service/meter_service.h"
#include "net/protocol/messages.h"

namespace meterd::engine {

namespace {

using net::ResponderPtr;

void SendError(const ResponderPtr& r, uint64_t request_id, const Status& status) {
  r->Send(net::ErrorFrame(request_id, net::ToWireCode(status), status.message()));
  r->Done();
}

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
    return SendError(r, request_id, Status::NotSupported("this server keeps no billing catalog"));
  }
  std::vector<tenancy::DocError> errors;
  Result<tenancy::ApplyReport> rep =
      parts_.billing->Apply(document, FromWire(format), &errors, dry_run);
  flatbuffers::FlatBufferBuilder fbb(4096);
  std::vector<flatbuffers::Offset<flatbuffers::String>> error_list;
  std::vector<flatbuffers::Offset<wire::CatalogChange>> changes;
  uint32_t created = 0, updated = 0, unchanged = 0;
  bool applied = false;
  std::string summary;
  if (!rep.ok()) {
    if (errors.empty()) return SendError(r, request_id, rep.status());
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
    return SendError(r, a.request_id, Status::NotSupported("this server keeps no billing catalog"));
  }
  pricebook::EstimateRequest req;
  req.plan = a.plan;
  req.location = a.location;
  req.storage_tier = a.storage_tier;
  req.hours = a.hours;
  req.at = a.at;
  Result<pricebook::Estimate> est = parts_.billing->EstimateCost(req);
  if (!est.ok()) return SendError(r, a.request_id, est.status());
  const pricebook::PriceBookVersion& v = *est->version;
  const pricebook::Currency& currency = v.DisplayCurrency(a.currency);
  if (!a.currency.empty() && currency.code != a.currency) {
    return SendError(r, a.request_id,
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

// Rates [from, to) for the scope over the rollups (docs/rating.md): one engine per request over
// the catalog snapshot and every series, streamed as ChargesChunk frames.
void MeterService::RunCharges(const ChargesArgs& a, const ResponderPtr& r) {
  if (parts_.billing == nullptr || parts_.downsampler == nullptr) {
    return SendError(r, a.request_id, Status::NotSupported("this server rates no usage"));
  }
  if (a.from >= a.to) {
    return SendError(r, a.request_id, Status::InvalidArgument("charges need from < to"));
  }
  const pricebook::BillingSnapshot snap = parts_.billing->Current();
  rating::RatingCatalog catalog{snap.tenancy, snap.price_book,
                                snap.subscriptions ? snap.subscriptions->subscriptions
                                                   : std::vector<pricebook::Subscription>{}};
  auto engine = rating::RatingEngine::Create(std::move(catalog), parts_.series->Matching("", ""));
  if (!engine.ok()) return SendError(r, a.request_id, engine.status());
  rating::RatingRequest req;
  req.from = a.from;
  req.to = a.to;
  req.scope = static_cast<rating::ScopeKind>(a.scope <= 4 ? a.scope : 0);
  req.scope_id = a.scope_id;
  req.group_by = static_cast<rating::GroupBy>(a.group_by <= 6 ? a.group_by : 0);
  req.currency = a.currency;
  req.price_version = a.price_version;
  const int64_t from_hour = storage::HourOf(a.from);
  const int64_t to_hour = storage::HourOf(a.to - 1) + storage::kSecondsPerHour;
  // The month's earlier hours count towards caps and tiers: read from the month's start.
  const query::RollupView view =
      parts_.downsampler->View({}, pricebook::MonthStart(from_hour), to_hour);
  Result<rating::RatingResult> res = engine.value()->Rate(view, req);
  if (!res.ok()) return SendError(r, a.request_id, res.status());
  constexpr size_t kChargeChunkLines = 4096;
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  std::vector<flatbuffers::Offset<wire::ChargeLineInfo>> lines;
  auto str = [&fbb](std::string_view v) { return fbb.CreateString(v.data(), v.size()); };
  auto flush = [&](bool last) {
    std::vector<flatbuffers::Offset<wire::ChargeTotal>> totals;
    if (last) {
      for (const rating::GroupTotal& g : res->groups) {
        totals.push_back(wire::CreateChargeTotal(fbb, str(g.key), str(g.label), g.amount,
                                                 str(g.display), g.provisional));
      }
    }
    auto chunk = wire::CreateChargesChunk(
        fbb, a.request_id, fbb.CreateVector(lines), last, fbb.CreateVector(totals),
        last ? res->total : 0, str(last ? res->total_display : ""), res->provisional,
        res->unattributed.size(), res->unpriced.size(), last ? res->stats.rows_scanned : 0);
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
}

}  // namespace meterd::engine
