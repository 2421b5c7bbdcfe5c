// meterd — engine/service/meter_service_ledger.cc: MeterService's ledger requests
// (docs/protocol.md, "Ledger"): manual entries, balances with the provisional charges of the hours
// not yet debited, ledger listings, billing settings, can-create, reconciliation, event streams and
// webhooks. Everything that touches SQLite or rates usage runs on the query pool; a balance
// without the provisional part is an in-memory read and is answered on the io thread.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <set>

#include "engine/invoicing/topup_taxes.h"
#include "engine/pricebook/money.h"
#include "engine/pricebook/pricing.h"
#include "engine/service/meter_service.h"
#include "engine/service/service_replies.h"
#include "engine/service/service_session.h"
#include "net/protocol/messages.h"
#include "storage/base/clock.h"

namespace meterd::engine {

namespace asio = boost::asio;

namespace {

using net::ResponderPtr;
using net::View;
using pricebook::MicroCredits;

// A decimal amount given in `currency` (empty: credits) as micro-credits, rounded half-even
// once (a top-up of 10 GBP at 0.85 GBP per credit is 11.764706 credits).
Result<MicroCredits> ToMicroCredits(std::string_view text, std::string_view currency,
                                    const pricebook::PriceBook* book, bool allow_negative) {
  auto d = pricebook::Decimal::Parse(text);
  if (!d.ok())
    return Status::InvalidArgument("amount '" + std::string(text) + "' " +
                                   std::string(d.status().message()));
  if (!allow_negative && d->is_negative()) {
    return Status::InvalidArgument("amount '" + std::string(text) + "' must be positive");
  }
  if (currency.empty()) {
    auto micro = d->ScaledExact(6);
    if (!micro) {
      return Status::InvalidArgument("amount '" + std::string(text) +
                                     "' has more than 6 decimal places (a micro-credit)");
    }
    return *micro;
  }
  const pricebook::Currency* c = nullptr;
  const pricebook::PriceBookVersion* latest = book ? book->Latest() : nullptr;
  if (latest != nullptr) c = latest->FindCurrency(currency);
  if (c == nullptr) {
    return Status::InvalidArgument("unknown currency '" + std::string(currency) +
                                   "' (the price book in force defines the currencies)");
  }
  // credits = amount / per_credit; both have 9 fractional digits.
  const __int128 num = static_cast<__int128>(d->units()) * pricebook::kMicrosPerCredit;
  const __int128 micro =
      pricebook::RoundDiv(num, c->per_credit.units(), pricebook::RoundingMode::kHalfEven);
  if (micro > INT64_MAX || micro < INT64_MIN) return Status::OutOfRange("amount is too large");
  return static_cast<MicroCredits>(micro);
}

wire::LedgerKind ToWire(ledger::EntryKind k) { return static_cast<wire::LedgerKind>(k); }

std::optional<ledger::EntryKind> FromWire(wire::LedgerKind k) {
  if (k == wire::LedgerKind::Unknown || k > wire::LedgerKind::GrantExpiry) return std::nullopt;
  return static_cast<ledger::EntryKind>(k);
}

flatbuffers::Offset<wire::LedgerEntryInfo> BuildEntry(flatbuffers::FlatBufferBuilder& fbb,
                                                      const ledger::Entry& e) {
  return wire::CreateLedgerEntryInfo(
      fbb, e.id, fbb.CreateString(e.account), ToWire(e.kind), e.amount, e.at, e.hour.value_or(-1),
      e.month.value_or(-1), e.grant_id, fbb.CreateString(e.reference), e.expires_at,
      fbb.CreateString(e.currency), fbb.CreateString(e.currency_amount), fbb.CreateString(e.actor),
      fbb.CreateString(e.reason), e.created_at);
}

std::string CreditsText(MicroCredits v) { return pricebook::FormatCredits(v); }

// An account's BalanceInfo: `pending` is what is not debited yet (0 when not rated); amounts
// shown in the account's display currency, else the latest price book's default, rounded once.
flatbuffers::Offset<wire::BalanceInfo> BuildBalance(flatbuffers::FlatBufferBuilder& fbb,
                                                    const ledger::AccountBalance& b,
                                                    const ledger::ResolvedSettings& s,
                                                    MicroCredits pending, int64_t billed_through,
                                                    const pricebook::BillingSnapshot& snap) {
  const pricebook::PriceBookVersion* latest = snap.price_book ? snap.price_book->Latest() : nullptr;
  const pricebook::Currency* cur = nullptr;
  if (latest != nullptr) {
    const tenancy::Account* a = snap.tenancy ? snap.tenancy->FindAccount(b.account) : nullptr;
    if (a != nullptr && !a->currency.empty()) cur = latest->FindCurrency(a->currency);
    if (cur == nullptr) cur = latest->FindCurrency(latest->default_currency);
  }
  auto display = [&](MicroCredits v) {
    if (cur == nullptr) return CreditsText(v) + " credits";
    auto minor = pricebook::ToMinorUnits(v, *cur, latest->rounding);
    return minor.ok() ? pricebook::FormatMinor(minor.value(), *cur) : std::string("(overflow)");
  };
  const MicroCredits running = b.balance - pending;
  return wire::CreateBalanceInfo(
      fbb, fbb.CreateString(b.account), b.balance, b.grants,
      fbb.CreateString(ledger::AccountStateName(b.state)),
      fbb.CreateString(ledger::BillingModeName(s.mode)), pending, running, billed_through,
      fbb.CreateString(cur ? cur->code : ""), fbb.CreateString(display(b.balance)),
      fbb.CreateString(display(running)), b.last_entry, s.low_balance.value_or(0),
      s.low_balance.has_value(), s.credit_limit);
}

}  // namespace

// ---- balances -----------------------------------------------------------------------------

Result<billing::ChargesByAccount> MeterService::Undebited(const std::string& account) {
  billing::ChargesByAccount out;
  if (parts_.ledger == nullptr) return out;
  const int64_t now_end = (base::UnixSecondsNow() / tenancy::kHour + 1) * tenancy::kHour;
  std::optional<int64_t> from = parts_.ledger->NextHour();
  if (!from) {
    // Nothing booked yet: every hour of this month is still to be debited.
    from = pricebook::MonthStart(now_end - tenancy::kHour);
  }
  // One rating per calendar month (tiers and caps restart at each).
  for (int64_t m = pricebook::MonthStart(*from); m < now_end; m = pricebook::NextMonthStart(m)) {
    const int64_t a = std::max(m, *from), b = std::min(pricebook::NextMonthStart(m), now_end);
    if (a >= b) continue;
    METERD_ASSIGN_OR_RETURN(billing::ChargesByAccount part, Rate(a, b, account));
    for (const auto& [acct, c] : part) {
      billing::AccountCharges& o = out[acct];
      o.usage += c.usage;
      o.fees += c.fees;
      o.provisional = o.provisional || c.provisional;
    }
  }
  return out;
}

void MeterService::RunBalance(uint64_t request_id, const std::string& account, bool provisional,
                              const ResponderPtr& r) {
  std::vector<ledger::AccountBalance> balances;
  if (account.empty()) {
    balances = parts_.ledger->Balances();
  } else {
    auto b = parts_.ledger->Balance(account);
    if (!b.ok()) return ReplyError(r, request_id, b.status());
    balances.push_back(std::move(b).value());
  }
  billing::ChargesByAccount open;
  if (provisional) {
    auto u = Undebited(account);
    // No price book yet: nothing can be provisional either.
    if (u.ok()) open = std::move(u).value();
  }
  if (provisional && account.empty()) {
    // Accounts with charges but no entry yet show too.
    std::set<std::string> have;
    for (const auto& b : balances) have.insert(b.account);
    for (const auto& [acct, c] : open) {
      if (!have.count(acct)) balances.push_back(ledger::AccountBalance{acct});
    }
    std::sort(balances.begin(), balances.end(),
              [](const auto& a, const auto& b) { return a.account < b.account; });
  }
  const pricebook::BillingSnapshot snap =
      parts_.billing ? parts_.billing->Current() : pricebook::BillingSnapshot{};
  const int64_t billed_through = parts_.ledger->NextHour().value_or(0);
  flatbuffers::FlatBufferBuilder fbb(256 + 160 * balances.size());
  std::vector<flatbuffers::Offset<wire::BalanceInfo>> out;
  out.reserve(balances.size());
  for (const ledger::AccountBalance& b : balances) {
    MicroCredits pending = 0;
    if (auto it = open.find(b.account); it != open.end()) pending = it->second.total();
    out.push_back(
        BuildBalance(fbb, b, parts_.ledger->Resolve(b.account), pending, billed_through, snap));
  }
  Reply(r, net::FinishFrame(fbb, wire::CreateBalanceReply(fbb, request_id, fbb.CreateVector(out))));
}

// ---- entries ------------------------------------------------------------------------------

void MeterService::RunPostEntry(const wire::PostEntry& q, const std::string& actor,
                                const ResponderPtr& r) {
  const uint64_t id = q.request_id();
  auto kind = FromWire(q.kind());
  if (!kind) return ReplyError(r, id, Status::InvalidArgument("unknown ledger entry kind"));
  const pricebook::BillingSnapshot snap = parts_.billing->Current();
  auto amount = ToMicroCredits(View(q.amount()), View(q.currency()), snap.price_book.get(),
                               *kind == ledger::EntryKind::kAdjustment);
  if (!amount.ok()) return ReplyError(r, id, amount.status());
  ledger::ManualEntry m;
  m.account = std::string(View(q.account()));
  m.kind = *kind;
  m.amount = amount.value();
  m.reference = std::string(View(q.reference()));
  m.reason = std::string(View(q.reason()));
  m.expires_at = q.expires_at();
  m.currency = std::string(View(q.currency()));
  m.currency_amount = m.currency.empty() ? "" : std::string(View(q.amount()));
  m.actor = actor;
  const int64_t now = base::UnixSecondsNow();
  if (m.kind == ledger::EntryKind::kTopUp && snap.tenancy) {
    // VAT on top-ups (vat_on_prepaid: topup): computed on the credit bought and kept with the
    // entry; a missing rate refuses the top-up rather than taxing it at zero.
    const pricebook::PriceBookVersion* v =
        snap.price_book != nullptr ? snap.price_book->Latest() : nullptr;
    auto taxes = invoicing::TopUpTaxes(
        *snap.tenancy, m.account,
        parts_.ledger->Resolve(m.account).mode == ledger::BillingMode::kPrepaid, m.amount, now,
        v != nullptr ? v->rounding : pricebook::RoundingMode::kHalfEven);
    if (!taxes.ok()) return ReplyError(r, id, taxes.status());
    m.taxes = std::move(taxes).value();
  }
  auto res = parts_.ledger->Post(m, now);
  if (!res.ok()) return ReplyError(r, id, res.status());
  spdlog::info(
      "event=ledger_entry account=\"{}\" kind={} amount={} duplicate={} actor={} topup_tax={}",
      net::LogSafe(m.account), ledger::EntryKindName(m.kind), CreditsText(res->entry.amount),
      res->duplicate, actor, CreditsText(invoicing::TaxTotal(res->taxes)));
  flatbuffers::FlatBufferBuilder fbb(1024);
  auto entry = BuildEntry(fbb, res->entry);
  auto balance = BuildBalance(fbb, res->balance, parts_.ledger->Resolve(m.account), 0,
                              parts_.ledger->NextHour().value_or(0), snap);
  std::vector<flatbuffers::Offset<flatbuffers::String>> events;
  for (const std::string& e : res->events) events.push_back(fbb.CreateString(e));
  Reply(r, net::FinishFrame(fbb, wire::CreatePostEntryReply(fbb, id, entry, res->duplicate, balance,
                                                            fbb.CreateVector(events))));
}

void MeterService::RunLedger(uint64_t request_id, const std::string& account, int64_t from,
                             int64_t to, uint32_t limit, const ResponderPtr& r) {
  if (account.empty()) {
    return ReplyError(r, request_id, Status::InvalidArgument("a ledger listing needs an account"));
  }
  if (auto b = parts_.ledger->Balance(account); !b.ok()) {
    return ReplyError(r, request_id, b.status());
  }
  auto entries = parts_.ledger->Entries(account, from, to == 0 ? INT64_MAX : to, limit);
  if (!entries.ok()) return ReplyError(r, request_id, entries.status());
  flatbuffers::FlatBufferBuilder fbb(512 + 256 * entries->size());
  std::vector<flatbuffers::Offset<wire::LedgerEntryInfo>> out;
  for (const ledger::Entry& e : entries.value()) out.push_back(BuildEntry(fbb, e));
  Reply(r, net::FinishFrame(fbb, wire::CreateLedgerReply(fbb, request_id, fbb.CreateVector(out))));
}

// ---- can-create -------------------------------------------------------------------------

void MeterService::RunCanCreate(uint64_t request_id, const std::string& account,
                                const std::string& plan, const std::string& location,
                                const std::string& tier, const ResponderPtr& r) {
  auto balance = parts_.ledger->Balance(account);
  if (!balance.ok()) return ReplyError(r, request_id, balance.status());
  pricebook::EstimateRequest er;
  er.plan = plan;
  er.location = location;
  er.storage_tier = tier;
  er.hours = 1;
  auto estimate = parts_.billing->EstimateCost(er);
  if (!estimate.ok()) return ReplyError(r, request_id, estimate.status());
  auto open = Undebited(account);
  MicroCredits pending = 0;
  if (open.ok()) {
    if (auto it = open->find(account); it != open->end()) pending = it->second.total();
  }
  const ledger::ResolvedSettings s = parts_.ledger->Resolve(account);
  const pricebook::BillingSnapshot snap = parts_.billing->Current();
  const tenancy::Account* acct = snap.tenancy->FindAccount(account);
  const bool may_go_negative =
      s.mode == ledger::BillingMode::kPostpaid || (acct && acct->allow_negative_balance);
  const MicroCredits floor = may_go_negative ? -s.credit_limit : 0;
  const MicroCredits running = balance->balance - pending;
  const MicroCredits hourly = estimate->hourly_total;
  bool allowed = true;
  std::string reason;
  if (balance->state == ledger::AccountState::kSuspended) {
    allowed = false;
    reason = "account '" + account + "' is suspended (balance " + CreditsText(running) +
             " credits, below its credit limit of " + CreditsText(s.credit_limit) + ")";
  } else if (static_cast<__int128>(running) - hourly < floor) {
    allowed = false;
    reason = "balance " + CreditsText(running) + " credits minus one hour of plan '" + plan +
             "' (" + CreditsText(hourly) + ") falls below " + CreditsText(floor) +
             (may_go_negative ? " (the credit limit)"
                              : " (the account may not go negative: allow_negative_balance is "
                                "off)");
  } else {
    reason = "balance " + CreditsText(running) + " credits covers one hour of plan '" + plan +
             "' (" + CreditsText(hourly) + ") above " + CreditsText(floor);
  }
  flatbuffers::FlatBufferBuilder fbb(512);
  Reply(r, net::FinishFrame(
               fbb, wire::CreateCanCreateReply(
                        fbb, request_id, allowed, fbb.CreateString(reason), running, hourly, floor,
                        fbb.CreateString(ledger::AccountStateName(balance->state)))));
}

// ---- reconciliation ------------------------------------------------------------------------

void MeterService::RunReconcile(uint64_t request_id, int64_t from, int64_t to,
                                const std::string& account, const ResponderPtr& r) {
  if (from >= to) {
    return ReplyError(r, request_id, Status::InvalidArgument("--from must be before --to"));
  }
  const std::optional<int64_t> start = parts_.ledger->ClockStart();
  const std::optional<int64_t> next = parts_.ledger->NextHour();
  const int64_t now_end = (base::UnixSecondsNow() / tenancy::kHour + 1) * tenancy::kHour;
  flatbuffers::FlatBufferBuilder fbb(4096);
  std::vector<flatbuffers::Offset<wire::ReconcileLine>> lines;
  for (int64_t m = pricebook::MonthStart(from); m < to; m = pricebook::NextMonthStart(m)) {
    const int64_t m_end = pricebook::NextMonthStart(m);
    // The clock covers [start, next); hours from next up to now are open or not booked yet.
    const int64_t covered_from = start ? std::max(m, *start) : m_end;
    const int64_t covered_to = next ? std::min(m_end, *next) : covered_from;
    const int64_t open_to = std::min(m_end, now_end);
    billing::ChargesByAccount rated, open;
    if (covered_from < covered_to) {
      auto res = Rate(covered_from, covered_to, account);
      if (!res.ok()) return ReplyError(r, request_id, res.status());
      rated = std::move(res).value();
    }
    const int64_t open_from = std::max(covered_to, covered_from == m_end ? m : covered_from);
    if (open_from < open_to) {
      auto res = Rate(open_from, open_to, account);
      if (!res.ok()) return ReplyError(r, request_id, res.status());
      open = std::move(res).value();
    }
    auto debited = parts_.ledger->BilledByAccount(m);
    if (!debited.ok()) return ReplyError(r, request_id, debited.status());
    std::set<std::string> accounts;
    for (const auto& [a, c] : rated) accounts.insert(a);
    for (const auto& [a, c] : open) accounts.insert(a);
    for (const auto& [a, v] : debited.value()) accounts.insert(a);
    for (const std::string& a : accounts) {
      if (!account.empty() && a != account) continue;
      const MicroCredits rated_covered = rated.count(a) ? rated[a].total() : 0;
      const MicroCredits open_part = open.count(a) ? open[a].total() : 0;
      const MicroCredits booked = debited->count(a) ? debited->at(a) : 0;
      const MicroCredits revised = rated_covered - booked;
      lines.push_back(
          wire::CreateReconcileLine(fbb, fbb.CreateString(a), m, rated_covered + open_part, booked,
                                    rated_covered + open_part - booked, open_part, revised));
    }
  }
  Reply(r,
        net::FinishFrame(fbb, wire::CreateReconcileReply(fbb, request_id, fbb.CreateVector(lines),
                                                         next.value_or(0), start.value_or(0))));
}

// ---- events -------------------------------------------------------------------------------

struct MeterService::Follower {
  Session* session = nullptr;
  uint64_t request_id = 0;
  std::string account;
  int64_t after = 0;
  ResponderPtr responder;
  std::mutex mu;  // one push at a time
  bool closed = false;
};

namespace {

std::vector<uint8_t> EventsFrame(uint64_t request_id, const std::vector<events::Event>& list,
                                 bool last) {
  flatbuffers::FlatBufferBuilder fbb(256 + 256 * list.size());
  std::vector<flatbuffers::Offset<wire::EventInfo>> out;
  for (const events::Event& e : list) {
    out.push_back(wire::CreateEventInfo(fbb, e.id, fbb.CreateString(e.account),
                                        fbb.CreateString(e.kind), e.at, fbb.CreateString(e.payload),
                                        e.recorded_at));
  }
  return net::FinishFrame(fbb,
                          wire::CreateEventsChunk(fbb, request_id, fbb.CreateVector(out), last));
}

constexpr size_t kEventsPage = 1000;

}  // namespace

void MeterService::StartEvents(Session* s, const wire::EventsRequest& q, const ResponderPtr& r) {
  auto f = std::make_shared<Follower>();
  f->session = s;
  f->request_id = q.request_id();
  f->account = std::string(View(q.account()));
  f->after = q.after_id();
  f->responder = r;
  const bool follow = q.follow();
  const size_t limit = q.limit() == 0 ? SIZE_MAX : q.limit();
  // A follower registers here, on the session's thread, before its backlog is read: an event
  // committed in between is pushed rather than missed (pushes wait for f->mu and read after
  // f->after, so nothing is sent twice), and a connection that closes before the query pool
  // gets to the backlog finds it in SessionClosed, which ends it.
  if (follow) {
    std::lock_guard fl(followers_mu_);
    followers_.push_back(f);
  }
  asio::post(queries_, [this, f, follow, limit] {
    std::lock_guard lock(f->mu);
    if (f->closed) return;  // its connection closed first
    size_t sent = 0;
    for (;;) {
      auto page =
          parts_.events->ReadAfter(f->after, std::min(kEventsPage, limit - sent), f->account);
      if (!page.ok()) {
        f->closed = true;
        return ReplyError(f->responder, f->request_id, page.status());
      }
      if (page->empty()) break;
      f->after = page->back().id;
      sent += page->size();
      f->responder->Send(EventsFrame(f->request_id, page.value(), false));
      if (sent >= limit) break;
    }
    if (!follow) {
      f->closed = true;
      Reply(f->responder, EventsFrame(f->request_id, {}, true));
    }
  });
}

void MeterService::PushEvents() {
  std::vector<std::shared_ptr<Follower>> list;
  {
    std::lock_guard fl(followers_mu_);
    list = followers_;
  }
  for (const auto& f : list) {
    asio::post(queries_, [this, f] {
      std::lock_guard lock(f->mu);
      if (f->closed) return;
      for (;;) {
        auto page = parts_.events->ReadAfter(f->after, kEventsPage, f->account);
        if (!page.ok() || page->empty()) return;
        f->after = page->back().id;
        f->responder->Send(EventsFrame(f->request_id, page.value(), false));
      }
    });
  }
}

void MeterService::SessionClosed(net::SessionState* state) {
  std::vector<std::shared_ptr<Follower>> gone;
  {
    std::lock_guard fl(followers_mu_);
    auto it = std::partition(followers_.begin(), followers_.end(), [state](const auto& f) {
      return static_cast<net::SessionState*>(f->session) != state;
    });
    gone.assign(it, followers_.end());
    followers_.erase(it, followers_.end());
  }
  for (const auto& f : gone) {
    std::lock_guard lock(f->mu);
    if (!f->closed) {
      f->closed = true;
      f->responder->Done();
    }
  }
}

// ---- webhooks ---------------------------------------------------------------------------

void MeterService::RunWebhook(const wire::WebhookRequest& q, const ResponderPtr& r) {
  const uint64_t id = q.request_id();
  if (q.op() == wire::WebhookOp::EmailDeliveries) return RunEmailDeliveries(q, r);
  if (parts_.webhooks == nullptr) {
    return ReplyError(r, id, Status::NotSupported("this server delivers no webhooks"));
  }
  flatbuffers::FlatBufferBuilder fbb(1024);
  std::vector<flatbuffers::Offset<wire::WebhookInfo>> hooks;
  std::vector<flatbuffers::Offset<wire::DeliveryInfo>> deliveries;
  auto add_hook = [&](const events::Webhook& w) {
    std::string kinds;
    for (const std::string& k : w.kinds) kinds += (kinds.empty() ? "" : ",") + k;
    hooks.push_back(wire::CreateWebhookInfo(fbb, fbb.CreateString(w.id), fbb.CreateString(w.url),
                                            fbb.CreateString(kinds), fbb.CreateString(w.account),
                                            w.created_at, w.removed_at.value_or(0),
                                            fbb.CreateString(w.secret)));
  };
  switch (q.op()) {
    case wire::WebhookOp::Add: {
      auto w =
          parts_.webhooks->Add(View(q.url()), View(q.secret()), View(q.kinds()), View(q.account()));
      if (!w.ok()) return ReplyError(r, id, w.status());
      spdlog::info("event=webhook_added id={} url=\"{}\"", w->id, net::LogSafe(w->url));
      if (parts_.dispatcher != nullptr) parts_.dispatcher->Refresh();
      add_hook(w.value());
      break;
    }
    case wire::WebhookOp::Remove: {
      Status st = parts_.webhooks->Remove(View(q.id()));
      if (!st.ok()) return ReplyError(r, id, st);
      if (parts_.dispatcher != nullptr) parts_.dispatcher->Refresh();
      break;
    }
    case wire::WebhookOp::Deliveries: {
      std::optional<int64_t> event;
      if (q.event_id() > 0) event = q.event_id();
      auto list = parts_.webhooks->Deliveries(View(q.id()), event, q.limit() ? q.limit() : 100);
      if (!list.ok()) return ReplyError(r, id, list.status());
      for (const events::Delivery& d : list.value()) {
        deliveries.push_back(wire::CreateDeliveryInfo(
            fbb, d.event_id, fbb.CreateString(d.webhook_id), static_cast<uint32_t>(d.attempt),
            d.started_at, d.duration_ms, d.http_status, fbb.CreateString(d.error), d.delivered));
      }
      break;
    }
    case wire::WebhookOp::List:
    default: {
      auto list = parts_.webhooks->List(true);
      if (!list.ok()) return ReplyError(r, id, list.status());
      for (const events::Webhook& w : list.value()) add_hook(w);
      break;
    }
  }
  Reply(r, net::FinishFrame(fbb, wire::CreateWebhookReply(fbb, id, fbb.CreateVector(hooks),
                                                          fbb.CreateVector(deliveries))));
}

// The email notices' delivery log (WebhookOp::EmailDeliveries), newest first. Readable with
// or without a relay configured: the log is empty until email is turned on.
void MeterService::RunEmailDeliveries(const wire::WebhookRequest& q, const ResponderPtr& r) {
  const uint64_t id = q.request_id();
  if (parts_.emails == nullptr) {
    return ReplyError(r, id, Status::NotSupported("this server keeps no email delivery log"));
  }
  std::optional<int64_t> event;
  if (q.event_id() > 0) event = q.event_id();
  auto list = parts_.emails->Deliveries(event, q.limit() ? q.limit() : 100);
  if (!list.ok()) return ReplyError(r, id, list.status());
  flatbuffers::FlatBufferBuilder fbb(1024);
  std::vector<flatbuffers::Offset<wire::EmailDeliveryInfo>> out;
  for (const events::EmailDelivery& d : list.value()) {
    out.push_back(wire::CreateEmailDeliveryInfo(
        fbb, d.event_id, fbb.CreateString(d.recipient), static_cast<uint32_t>(d.attempt),
        d.started_at, d.duration_ms, d.smtp_status, fbb.CreateString(d.error), d.delivered));
  }
  Reply(r, net::FinishFrame(fbb, wire::CreateWebhookReply(fbb, id, 0, 0, fbb.CreateVector(out))));
}

// ---- dispatch ---------------------------------------------------------------------------

void MeterService::OnLedgerRequest(Session* s, const wire::Envelope& env, const ResponderPtr& r) {
  const uint64_t request_id = net::RequestIdOf(env);
  if (parts_.ledger == nullptr || parts_.billing == nullptr) {
    return ReplyError(r, request_id, Status::NotSupported("this server keeps no ledger"));
  }
  const std::string actor = "key:" + s->who.key.id;
  switch (env.message_type()) {
    case wire::Message::PostEntry: {
      // Copy the request: it is valid only during this call.
      auto copy = std::make_shared<std::vector<uint8_t>>();
      flatbuffers::FlatBufferBuilder fbb(512);
      const auto* q = env.message_as_PostEntry();
      fbb.Finish(wire::CreatePostEntry(fbb, q->request_id(), fbb.CreateString(View(q->account())),
                                       q->kind(), fbb.CreateString(View(q->amount())),
                                       fbb.CreateString(View(q->currency())),
                                       fbb.CreateString(View(q->reference())),
                                       fbb.CreateString(View(q->reason())), q->expires_at()));
      copy->assign(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
      asio::post(queries_, [this, copy, actor, r] {
        RunPostEntry(*flatbuffers::GetRoot<wire::PostEntry>(copy->data()), actor, r);
      });
      return;
    }
    case wire::Message::BalanceRequest: {
      const auto* q = env.message_as_BalanceRequest();
      std::string account(View(q->account()));
      if (!q->provisional() && !account.empty()) {
        return RunBalance(request_id, account, false, r);  // in memory: answer at once
      }
      asio::post(queries_, [this, request_id, account = std::move(account), prov = q->provisional(),
                            r] { RunBalance(request_id, account, prov, r); });
      return;
    }
    case wire::Message::LedgerRequest: {
      const auto* q = env.message_as_LedgerRequest();
      asio::post(queries_, [this, request_id, account = std::string(View(q->account())),
                            from = q->from(), to = q->to(), limit = q->limit(),
                            r] { RunLedger(request_id, account, from, to, limit, r); });
      return;
    }
    case wire::Message::SetBillingSettings: {
      const auto* q = env.message_as_SetBillingSettings();
      ledger::SettingsChange c;
      auto amount = [&](const flatbuffers::String* text, std::optional<MicroCredits>* out,
                        bool allow_none) -> Status {
        const std::string_view v = View(text);
        if (v.empty()) return Status::OK();
        if (allow_none && v == "none") {
          *out = ledger::kNoLowBalance;
          return Status::OK();
        }
        METERD_ASSIGN_OR_RETURN(MicroCredits m, ToMicroCredits(v, "", nullptr, true));
        *out = m;
        return Status::OK();
      };
      Status st = amount(q->low_balance(), &c.low_balance, true);
      if (st.ok()) st = amount(q->credit_limit(), &c.credit_limit, false);
      if (st.ok()) st = amount(q->hysteresis(), &c.hysteresis, false);
      if (st.ok() && !View(q->mode()).empty()) {
        c.mode = ledger::ParseBillingMode(View(q->mode()));
        if (!c.mode) st = Status::InvalidArgument("mode is prepaid or postpaid");
      }
      if (const std::string_view emails = View(q->notify_email()); !emails.empty()) {
        c.notify_email = emails == "none" ? "" : std::string(emails);  // checked by SetSettings
      }
      if (const std::string_view days = View(q->reminder_days()); !days.empty()) {
        c.reminder_days = days == "none" ? "" : std::string(days);  // checked by SetSettings
      }
      if (const std::string_view days = View(q->overdue_days()); st.ok() && !days.empty()) {
        if (days == "none") {
          c.overdue_days = ledger::kNoOverdueLimit;
        } else {
          int64_t v = -1;
          auto [end, ec] = std::from_chars(days.data(), days.data() + days.size(), v);
          if (ec != std::errc() || end != days.data() + days.size() || v < 0) {
            st = Status::InvalidArgument("overdue_days is a whole number of days or none, not '" +
                                         std::string(days) + "'");
          }
          c.overdue_days = v;
        }
      }
      if (!st.ok()) return ReplyError(r, request_id, st);
      asio::post(queries_, [this, request_id, scope = std::string(View(q->scope())), c, actor,
                            reason = std::string(View(q->reason())), r] {
        Status st = parts_.ledger->SetSettings(scope, c, actor, reason, base::UnixSecondsNow());
        if (!st.ok()) return ReplyError(r, request_id, st);
        Reply(r, net::OkFrame(request_id));
      });
      return;
    }
    case wire::Message::ListBillingSettings: {
      flatbuffers::FlatBufferBuilder fbb(1024);
      std::vector<flatbuffers::Offset<wire::SettingsInfo>> out;
      auto text = [](const std::optional<MicroCredits>& v) -> std::string {
        if (!v) return "";
        return *v == ledger::kNoLowBalance ? "none" : CreditsText(*v);
      };
      for (const ledger::ScopeSettings& ss : parts_.ledger->ListSettings()) {
        out.push_back(wire::CreateSettingsInfo(
            fbb, fbb.CreateString(ss.scope),
            fbb.CreateString(ss.values.mode ? ledger::BillingModeName(*ss.values.mode) : ""),
            fbb.CreateString(text(ss.values.low_balance)),
            fbb.CreateString(text(ss.values.credit_limit)),
            fbb.CreateString(text(ss.values.hysteresis)), fbb.CreateString(ss.actor),
            fbb.CreateString(ss.reason), ss.created_at,
            fbb.CreateString(!ss.values.notify_email           ? ""
                             : ss.values.notify_email->empty() ? "none"
                                                               : *ss.values.notify_email),
            fbb.CreateString(!ss.values.reminder_days           ? ""
                             : ss.values.reminder_days->empty() ? "none"
                                                                : *ss.values.reminder_days),
            fbb.CreateString(!ss.values.overdue_days ? ""
                             : *ss.values.overdue_days == ledger::kNoOverdueLimit
                                 ? "none"
                                 : std::to_string(*ss.values.overdue_days))));
      }
      return Reply(r, net::FinishFrame(fbb, wire::CreateBillingSettingsReply(
                                                fbb, request_id, fbb.CreateVector(out))));
    }
    case wire::Message::CanCreateRequest: {
      const auto* q = env.message_as_CanCreateRequest();
      asio::post(queries_,
                 [this, request_id, account = std::string(View(q->account())),
                  plan = std::string(View(q->plan())), location = std::string(View(q->location())),
                  tier = std::string(View(q->storage_tier())),
                  r] { RunCanCreate(request_id, account, plan, location, tier, r); });
      return;
    }
    case wire::Message::EventsRequest:
      if (parts_.events == nullptr) {
        return ReplyError(r, request_id, Status::NotSupported("this server keeps no events"));
      }
      return StartEvents(s, *env.message_as_EventsRequest(), r);
    case wire::Message::WebhookRequest: {
      auto copy = std::make_shared<std::vector<uint8_t>>();
      const auto* q = env.message_as_WebhookRequest();
      flatbuffers::FlatBufferBuilder fbb(512);
      fbb.Finish(wire::CreateWebhookRequest(
          fbb, q->request_id(), q->op(), fbb.CreateString(View(q->id())),
          fbb.CreateString(View(q->url())), fbb.CreateString(View(q->secret())),
          fbb.CreateString(View(q->kinds())), fbb.CreateString(View(q->account())), q->event_id(),
          q->limit()));
      copy->assign(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
      asio::post(queries_, [this, copy, r] {
        RunWebhook(*flatbuffers::GetRoot<wire::WebhookRequest>(copy->data()), r);
      });
      return;
    }
    case wire::Message::ReconcileRequest: {
      const auto* q = env.message_as_ReconcileRequest();
      asio::post(queries_, [this, request_id, from = q->from(), to = q->to(),
                            account = std::string(View(q->account())),
                            r] { RunReconcile(request_id, from, to, account, r); });
      return;
    }
    default:
      return ReplyError(r, request_id, Status::NotSupported("not a ledger request"));
  }
}

}  // namespace meterd::engine
