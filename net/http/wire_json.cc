// meterd — net/http/wire_json.cc
#include "net/http/wire_json.h"

#include <cstring>

#include "net/http/json_format.h"
#include "net/protocol/messages.h"

namespace meterd::net {

namespace {

std::string Str(const flatbuffers::String* s) { return std::string(View(s)); }

// Money as the API writes it: `name` (decimal credits) and `name_micro` (exact integer).
void Money(Json& j, const char* name, int64_t micro) {
  j[name] = FormatCredits(micro);
  j[std::string(name) + "_micro"] = micro;
}

const char* KindName(wire::MetricKind k) {
  switch (k) {
    case wire::MetricKind::Gauge:
      return "gauge";
    case wire::MetricKind::Counter:
      return "counter";
    case wire::MetricKind::State:
      return "state";
    default:
      return "unknown";
  }
}

const char* TypeName(wire::ValueType t) {
  switch (t) {
    case wire::ValueType::Int:
      return "int";
    case wire::ValueType::Float:
      return "float";
    default:
      return "unknown";
  }
}

// A min/max/last bit pattern in the series' value type.
Json Value(wire::ValueType type, uint64_t bits) {
  if (type == wire::ValueType::Float) {
    double d;
    std::memcpy(&d, &bits, sizeof(d));
    return d;
  }
  return static_cast<int64_t>(bits);
}

std::string LedgerKindName(wire::LedgerKind k) {
  // The names docs/ledger.md and `meterctl ledger` use: TopUp -> topup (one word, as the
  // /topups route and `meterctl topup`), GrantExpiry -> grant_expiry, the rest lower case.
  if (k == wire::LedgerKind::TopUp) return "topup";
  std::string name = wire::EnumNameLedgerKind(k);
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c >= 'A' && c <= 'Z') {
      if (i > 0) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

Json EntryJson(const wire::LedgerEntryInfo& e) {
  Json j;
  j["id"] = e.id();
  j["account"] = Str(e.account());
  j["kind"] = LedgerKindName(e.kind());
  Money(j, "amount", e.amount());
  j["at"] = FormatRfc3339(e.at());
  if (e.hour() >= 0) j["hour"] = FormatRfc3339(e.hour());
  if (e.month() >= 0) j["month"] = FormatRfc3339(e.month());
  if (e.grant_id() != 0) j["grant_id"] = e.grant_id();
  j["reference"] = Str(e.reference());
  if (e.expires_at() != 0) j["expires_at"] = FormatRfc3339(e.expires_at());
  j["currency"] = Str(e.currency());
  j["currency_amount"] = Str(e.currency_amount());
  j["actor"] = Str(e.actor());
  j["reason"] = Str(e.reason());
  j["created_at"] = FormatRfc3339(e.created_at());
  return j;
}

template <typename T>
std::vector<const T*> All(const Replies& replies, const T* (wire::Envelope::*as)() const) {
  std::vector<const T*> out;
  for (const wire::Envelope* env : replies) {
    if (const T* m = (env->*as)()) out.push_back(m);
  }
  return out;
}

}  // namespace

Json UsageJson(const Replies& replies) {
  Json lines = Json::array();
  Json out;
  std::vector<std::string> damaged;
  for (const wire::UsageChunk* c : All(replies, &wire::Envelope::message_as_UsageChunk)) {
    if (c->lines()) {
      for (const wire::UsageLine* l : *c->lines()) {
        Json j;
        j["resource"] = Str(l->resource());
        j["metric"] = Str(l->metric());
        j["unit"] = Str(l->unit());
        j["kind"] = KindName(l->kind());
        j["type"] = TypeName(l->type());
        j["start"] = FormatRfc3339(l->start());
        j["hours"] = l->hours();
        j["provisional_hours"] = l->provisional_hours();
        j["revised_hours"] = l->revised_hours();
        j["imported_hours"] = l->imported_hours();
        j["count"] = l->count();
        switch (l->kind()) {
          case wire::MetricKind::Gauge:
            if (l->type() == wire::ValueType::Float) {
              j["float_integral"] = l->float_integral();
            } else {
              j["integral"] = FormatU128((static_cast<unsigned __int128>(l->integral_hi()) << 64) |
                                         l->integral_lo());
            }
            j["sum"] = l->sum();
            break;
          case wire::MetricKind::Counter:
            j["increase"] = FormatU128((static_cast<unsigned __int128>(l->increase_hi()) << 64) |
                                       l->increase_lo());
            j["resets"] = l->resets();
            break;
          case wire::MetricKind::State: {
            Json seconds = Json::object();
            if (l->state_seconds()) {
              for (uint32_t code = 0; code < l->state_seconds()->size(); ++code) {
                if (l->state_seconds()->Get(code) != 0) {
                  seconds[std::to_string(code)] = l->state_seconds()->Get(code);
                }
              }
            }
            j["state_seconds"] = std::move(seconds);
            j["held_seconds"] = l->held_seconds();
            break;
          }
          default:
            break;
        }
        if (l->count() > 0) {
          j["min"] = Value(l->type(), l->min());
          j["max"] = Value(l->type(), l->max());
          j["last"] = Value(l->type(), l->last());
        }
        lines.push_back(std::move(j));
      }
    }
    if (c->last()) {
      out["sealed_before"] = FormatRfc3339(c->sealed_before());
      out["rows_scanned"] = c->rows_scanned();
    }
    if (c->damaged_blocks()) {
      for (const auto* d : *c->damaged_blocks()) damaged.push_back(Str(d));
    }
  }
  out["lines"] = std::move(lines);
  out["damaged_blocks"] = damaged;
  return out;
}

Json ChargesJson(const Replies& replies) {
  Json lines = Json::array();
  Json out;
  for (const wire::ChargesChunk* c : All(replies, &wire::Envelope::message_as_ChargesChunk)) {
    if (c->lines()) {
      for (const wire::ChargeLineInfo* l : *c->lines()) {
        Json j;
        j["account"] = Str(l->account());
        j["project"] = Str(l->project());
        j["resource"] = Str(l->resource());
        j["product_id"] = Str(l->product_id());
        j["product_name"] = Str(l->product_name());
        j["group"] = Str(l->group());
        j["unit"] = Str(l->unit());
        j["period_start"] = FormatRfc3339(l->period_start());
        j["period_end"] = FormatRfc3339(l->period_end());
        j["quantity"] = Str(l->quantity());
        j["unit_price"] = Str(l->unit_price());
        Money(j, "amount", l->amount());
        j["display"] = Str(l->display());
        j["provisional"] = l->provisional();
        j["revised"] = l->revised();
        lines.push_back(std::move(j));
      }
    }
    if (!c->last()) continue;
    Json totals = Json::array();
    if (c->totals()) {
      for (const wire::ChargeTotal* t : *c->totals()) {
        Json j;
        j["key"] = Str(t->key());
        j["label"] = Str(t->label());
        Money(j, "amount", t->amount());
        j["display"] = Str(t->display());
        j["provisional"] = t->provisional();
        totals.push_back(std::move(j));
      }
    }
    out["totals"] = std::move(totals);
    Money(out, "total", c->total());
    out["total_display"] = Str(c->total_display());
    out["provisional"] = c->provisional();
    out["unattributed"] = c->unattributed();
    out["unpriced"] = c->unpriced();
    out["rows_scanned"] = c->rows_scanned();
    Json unrated = Json::array();
    if (c->unrated()) {
      for (const wire::UnratedInfo* u : *c->unrated()) {
        Json j;
        j["resource"] = Str(u->resource());
        j["metric"] = Str(u->metric());
        j["reason"] = Str(u->reason());
        j["state"] = u->state();
        j["account"] = Str(u->account());
        j["project"] = Str(u->project());
        j["raw_quantity"] = Str(u->raw_quantity());
        j["hours"] = u->hours();
        j["first_hour"] = FormatRfc3339(u->first_hour());
        j["last_hour"] = FormatRfc3339(u->last_hour());
        unrated.push_back(std::move(j));
      }
    }
    out["unrated"] = std::move(unrated);
  }
  Json body;
  body["lines"] = std::move(lines);
  body.update(out);
  return body;
}

Json EstimateJson(const Replies& replies) {
  Json out;
  for (const wire::EstimateReply* e : All(replies, &wire::Envelope::message_as_EstimateReply)) {
    out["price_version"] = e->price_version();
    out["plan_name"] = Str(e->plan_name());
    out["hours"] = e->hours();
    out["currency"] = Str(e->currency());
    Json lines = Json::array();
    if (e->lines()) {
      for (const wire::EstimateLine* l : *e->lines()) {
        Json j;
        j["product_id"] = Str(l->product_id());
        j["product_name"] = Str(l->product_name());
        j["metric"] = Str(l->metric());
        j["unit"] = Str(l->unit());
        Money(j, "hourly", l->hourly());
        Money(j, "period", l->period());
        j["hourly_display"] = Str(l->hourly_display());
        j["period_display"] = Str(l->period_display());
        j["explanation"] = Str(l->explanation());
        lines.push_back(std::move(j));
      }
    }
    out["lines"] = std::move(lines);
    Money(out, "hourly_total", e->hourly_total());
    Money(out, "period_total", e->period_total());
    out["hourly_total_display"] = Str(e->hourly_total_display());
    out["period_total_display"] = Str(e->period_total_display());
    Json notes = Json::array();
    if (e->notes()) {
      for (const auto* n : *e->notes()) notes.push_back(Str(n));
    }
    out["notes"] = std::move(notes);
  }
  return out;
}

Json BalanceJson(const wire::BalanceInfo& b) {
  Json j;
  j["account"] = Str(b.account());
  Money(j, "balance", b.balance());
  Money(j, "grants", b.grants());
  j["state"] = Str(b.state());
  j["mode"] = Str(b.mode());
  Money(j, "provisional", b.provisional());
  Money(j, "running", b.running());
  j["billed_through"] = b.billed_through() != 0 ? Json(FormatRfc3339(b.billed_through())) : Json();
  j["currency"] = Str(b.currency());
  j["display"] = Str(b.display());
  j["running_display"] = Str(b.running_display());
  j["last_entry"] = b.last_entry();
  if (b.has_low_balance()) {
    Money(j, "low_balance", b.low_balance());
  } else {
    j["low_balance"] = nullptr;
  }
  Money(j, "credit_limit", b.credit_limit());
  return j;
}

Json BalancesJson(const Replies& replies) {
  Json list = Json::array();
  for (const wire::BalanceReply* r : All(replies, &wire::Envelope::message_as_BalanceReply)) {
    if (!r->balances()) continue;
    for (const wire::BalanceInfo* b : *r->balances()) list.push_back(BalanceJson(*b));
  }
  Json out;
  out["balances"] = std::move(list);
  return out;
}

Json LedgerJson(const Replies& replies) {
  Json list = Json::array();
  for (const wire::LedgerReply* r : All(replies, &wire::Envelope::message_as_LedgerReply)) {
    if (!r->entries()) continue;
    for (const wire::LedgerEntryInfo* e : *r->entries()) list.push_back(EntryJson(*e));
  }
  Json out;
  out["entries"] = std::move(list);
  return out;
}

Json PostEntryJson(const Replies& replies) {
  Json out;
  for (const wire::PostEntryReply* r : All(replies, &wire::Envelope::message_as_PostEntryReply)) {
    out["entry"] = r->entry() ? EntryJson(*r->entry()) : Json();
    out["duplicate"] = r->duplicate();
    out["balance"] = r->balance() ? BalanceJson(*r->balance()) : Json();
    Json events = Json::array();
    if (r->events()) {
      for (const auto* e : *r->events()) events.push_back(Str(e));
    }
    out["events"] = std::move(events);
  }
  return out;
}

Json EventsJson(const Replies& replies) {
  Json list = Json::array();
  int64_t last_id = 0;
  for (const wire::EventsChunk* c : All(replies, &wire::Envelope::message_as_EventsChunk)) {
    if (!c->events()) continue;
    for (const wire::EventInfo* e : *c->events()) {
      Json j;
      j["id"] = e->id();
      j["account"] = Str(e->account());
      j["kind"] = Str(e->kind());
      j["at"] = FormatRfc3339(e->at());
      // The payload is a JSON object the event log wrote; kept as text if it is not one.
      Json payload = Json::parse(View(e->payload()), nullptr, /*allow_exceptions=*/false);
      j["payload"] = payload.is_discarded() ? Json(Str(e->payload())) : std::move(payload);
      j["recorded_at"] = FormatRfc3339(e->recorded_at());
      last_id = std::max(last_id, e->id());
      list.push_back(std::move(j));
    }
  }
  Json out;
  out["events"] = std::move(list);
  out["last_id"] = last_id;
  return out;
}

Json CatalogJson(const Replies& replies) {
  for (const wire::CatalogDocument* d : All(replies, &wire::Envelope::message_as_CatalogDocument)) {
    Json doc = Json::parse(View(d->document()), nullptr, /*allow_exceptions=*/false);
    if (!doc.is_discarded()) return doc;
  }
  return Json::object();
}

Json ResourceHostsJson(const Replies& replies) {
  Json list = Json::array();
  uint64_t total = 0;
  for (const wire::ResourceHostList* r :
       All(replies, &wire::Envelope::message_as_ResourceHostList)) {
    total += r->total();
    if (!r->hosts()) continue;
    for (const wire::ResourceHost* h : *r->hosts()) {
      Json j;
      j["resource"] = Str(h->resource());
      j["type"] = Str(h->type());
      j["hypervisor"] = Str(h->hypervisor());
      j["first_seen"] = FormatRfc3339(h->first_seen());
      j["moved_at"] = h->moved_at() != 0 ? Json(FormatRfc3339(h->moved_at())) : Json();
      j["attributed_to"] = Str(h->attributed_to());
      j["account"] = Str(h->account());
      list.push_back(std::move(j));
    }
  }
  Json out;
  out["hosts"] = std::move(list);
  out["total"] = total;
  return out;
}

Json StatsJson(const Replies& replies) {
  Json j;
  for (const wire::StatsReply* s : All(replies, &wire::Envelope::message_as_StatsReply)) {
    j["series"] = s->series();
    j["resources"] = s->resources();
    j["samples_stored"] = s->samples_stored();
    j["segments"] = s->segments();
    j["segment_bytes"] = s->segment_bytes();
    j["head_samples"] = s->head_samples();
    j["head_memory_bytes"] = s->head_memory_bytes();
    j["wal_bytes"] = s->wal_bytes();
    j["accepted_samples"] = s->accepted_samples();
    j["rejected_samples"] = s->rejected_samples();
    j["duplicate_batches"] = s->duplicate_batches();
    j["connections"] = s->connections();
    j["ingest_samples_per_s"] = s->ingest_samples_per_s();
    j["uptime_s"] = s->uptime_s();
    j["rss_bytes"] = s->rss_bytes();
    j["io_backend"] = Str(s->io_backend());
    j["quarantined_blocks"] = s->quarantined_blocks();
    j["rollup_sealed_before"] =
        s->rollup_sealed_before() != 0 ? Json(FormatRfc3339(s->rollup_sealed_before())) : Json();
    j["rollup_open_buckets"] = s->rollup_open_buckets();
    j["rollup_revisions"] = s->rollup_revisions();
    j["rollup_late_samples"] = s->rollup_late_samples();
    j["rollup_files"] = s->rollup_files();
    j["rollup_bytes"] = s->rollup_bytes();
    j["rollup_rows"] = s->rollup_rows();
    j["billing_next_hour"] =
        s->billing_next_hour() != 0 ? Json(FormatRfc3339(s->billing_next_hour())) : Json();
    j["billing_hours_booked"] = s->billing_hours_booked();
    j["billing_error"] = Str(s->billing_error());
    j["events_last_id"] = s->events_last_id();
    j["email_on"] = s->email_on();
    j["email_delivered"] = s->email_delivered();
    j["email_failed_attempts"] = s->email_failed_attempts();
  }
  return j;
}

Json MetricsJson(const Replies& replies) {
  Json list = Json::array();
  for (const wire::MetricList* m : All(replies, &wire::Envelope::message_as_MetricList)) {
    if (!m->metrics()) continue;
    for (const wire::MetricInfo* i : *m->metrics()) {
      Json j;
      j["name"] = Str(i->name());
      j["kind"] = KindName(i->kind());
      j["unit"] = Str(i->unit());
      j["type"] = TypeName(i->type());
      j["description"] = Str(i->description());
      j["builtin"] = i->builtin();
      list.push_back(std::move(j));
    }
  }
  Json out;
  out["metrics"] = std::move(list);
  return out;
}

}  // namespace meterd::net
