// meterd — net/meterctl/ledger_cmd.cc
#include "net/meterctl/ledger_cmd.h"

#include <cinttypes>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "net/meterctl/csv_time.h"
#include "net/protocol/messages.h"

namespace meterd::cli {
namespace {

using net::View;

const char* KindName(wire::LedgerKind k) {
  switch (k) {
    case wire::LedgerKind::TopUp:
      return "topup";
    case wire::LedgerKind::GrantExpiry:
      return "grant_expiry";
    default: {
      const char* n = wire::EnumNameLedgerKind(k);
      return n && *n ? n : "unknown";
    }
  }
}

std::string Lower(const char* s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Sends `frame` and returns the reply envelope's bytes (verified by the client).
template <typename Build>
Result<std::vector<uint8_t>> Ask(const Common& c, Build build) {
  METERD_ASSIGN_OR_RETURN(auto client, Connect(c));
  flatbuffers::FlatBufferBuilder fbb(512);
  const uint64_t id = client->NextRequestId();
  std::vector<uint8_t> frame = build(fbb, id);
  return client->Call(std::move(frame), id);
}

const wire::Envelope* Env(const std::vector<uint8_t>& reply) {
  return wire::GetEnvelope(reply.data());
}

nlohmann::json EntryJson(const wire::LedgerEntryInfo& e) {
  nlohmann::json j = {{"id", e.id()},
                      {"account", View(e.account())},
                      {"kind", Lower(KindName(e.kind()))},
                      {"amount", Credits(e.amount())},
                      {"amount_micro", e.amount()},
                      {"at", Time(e.at())},
                      {"reference", View(e.reference())},
                      {"actor", View(e.actor())},
                      {"reason", View(e.reason())},
                      {"created_at", Time(e.created_at())}};
  if (e.hour() >= 0) j["hour"] = Time(e.hour());
  if (e.month() >= 0) j["month"] = Time(e.month());
  if (e.grant_id()) j["grant_id"] = e.grant_id();
  if (e.expires_at()) j["expires_at"] = Time(e.expires_at());
  if (e.currency() && e.currency()->size()) {
    j["currency"] = View(e.currency());
    j["currency_amount"] = View(e.currency_amount());
  }
  return j;
}

nlohmann::json BalanceJson(const wire::BalanceInfo& b) {
  nlohmann::json j = {{"account", View(b.account())},
                      {"balance", Credits(b.balance())},
                      {"balance_micro", b.balance()},
                      {"grants", Credits(b.grants())},
                      {"not_yet_debited", Credits(b.provisional())},
                      {"running", Credits(b.running())},
                      {"running_micro", b.running()},
                      {"state", View(b.state())},
                      {"mode", View(b.mode())},
                      {"credit_limit", Credits(b.credit_limit())},
                      {"billed_through", Time(b.billed_through())},
                      {"display", View(b.display())},
                      {"running_display", View(b.running_display())}};
  j["low_balance"] = b.has_low_balance() ? nlohmann::json(Credits(b.low_balance())) : nullptr;
  return j;
}

// ---- manual entries ----

struct EntryArgs {
  std::string account, amount, currency, reference, reason, expires;
};

int PostEntry(const Common& c, wire::LedgerKind kind, const EntryArgs& a) {
  int64_t expires = 0;
  if (!a.expires.empty()) {
    auto t = ParseTimestamp(a.expires);
    if (!t) return Fail(Status::InvalidArgument("--expires takes unix seconds or RFC 3339"));
    expires = *t;
  }
  auto reply = Ask(c, [&](flatbuffers::FlatBufferBuilder& fbb, uint64_t id) {
    return net::FinishFrame(
        fbb,
        wire::CreatePostEntry(fbb, id, fbb.CreateString(a.account), kind,
                              fbb.CreateString(a.amount), fbb.CreateString(a.currency),
                              fbb.CreateString(a.reference), fbb.CreateString(a.reason), expires));
  });
  if (!reply.ok()) return Fail(reply.status());
  const auto* r = Env(reply.value())->message_as_PostEntryReply();
  if (r == nullptr || r->entry() == nullptr || r->balance() == nullptr) {
    return Fail(Status::Corruption("unexpected reply to PostEntry"));
  }
  std::vector<std::string> events;
  if (r->events()) {
    for (const auto* e : *r->events()) events.emplace_back(View(e));
  }
  if (c.fmt() == Format::kJson) {
    nlohmann::json j = {{"entry", EntryJson(*r->entry())},
                        {"duplicate", r->duplicate()},
                        {"balance", BalanceJson(*r->balance())},
                        {"events", events}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  Table t({"entry", "account", "kind", "amount", "balance", "state", "note"});
  t.SetNumeric(0);
  t.SetNumeric(3);
  t.SetNumeric(4);
  std::string note = r->duplicate() ? "duplicate: reference already booked" : "booked";
  for (const std::string& e : events) note += "; event " + e;
  t.Add({std::to_string(r->entry()->id()), std::string(View(r->entry()->account())),
         Lower(KindName(r->entry()->kind())), Credits(r->entry()->amount()),
         Credits(r->balance()->balance()), std::string(View(r->balance()->state())), note});
  t.Print(c.fmt());
  return 0;
}

void AddEntryCommand(CLI::App& app, Common& common, const char* name, const char* help,
                     wire::LedgerKind kind) {
  auto a = std::make_shared<EntryArgs>();
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->add_option("--account", a->account, "the account")->required();
  cmd->add_option("--amount", a->amount,
                  kind == wire::LedgerKind::Adjustment
                      ? "signed decimal: + credits the account, - charges it"
                      : "positive decimal, in --currency (default: credits)")
      ->required()
      ->allow_extra_args(false);
  cmd->add_option("--currency", a->currency,
                  "currency code of --amount (converted at the price book's rate)");
  auto* ref = cmd->add_option("--reference", a->reference,
                              "idempotency key (a payment id): the same reference books once");
  if (kind == wire::LedgerKind::TopUp || kind == wire::LedgerKind::Payment) ref->required();
  auto* reason = cmd->add_option("--reason", a->reason, "why (recorded with the entry)");
  if (kind != wire::LedgerKind::TopUp && kind != wire::LedgerKind::Payment) reason->required();
  if (kind == wire::LedgerKind::Grant) {
    cmd->add_option("--expires", a->expires, "when the grant expires (unix seconds or RFC 3339)")
        ->required();
  }
  common.OnRun(cmd, [&common, a, kind] { return PostEntry(common, kind, *a); });
}

// ---- balance ----

struct BalanceArgs {
  std::string account;
  bool no_provisional = false;
};

int ShowBalance(const Common& c, const BalanceArgs& a) {
  auto reply = Ask(c, [&](flatbuffers::FlatBufferBuilder& fbb, uint64_t id) {
    return net::FinishFrame(
        fbb, wire::CreateBalanceRequest(fbb, id, fbb.CreateString(a.account), !a.no_provisional));
  });
  if (!reply.ok()) return Fail(reply.status());
  const auto* r = Env(reply.value())->message_as_BalanceReply();
  if (r == nullptr) return Fail(Status::Corruption("unexpected reply to BalanceRequest"));
  if (c.fmt() == Format::kJson) {
    nlohmann::json j = nlohmann::json::array();
    if (r->balances()) {
      for (const auto* b : *r->balances()) j.push_back(BalanceJson(*b));
    }
    std::printf("%s\n", nlohmann::json{{"balances", j}}.dump(2).c_str());
    return 0;
  }
  Table t({"account", "balance", "grants", "not_yet_debited", "running", "state", "mode", "display",
           "billed_through"});
  for (size_t i = 1; i <= 4; ++i) t.SetNumeric(i);
  if (r->balances()) {
    for (const auto* b : *r->balances()) {
      t.Add({std::string(View(b->account())), Credits(b->balance()), Credits(b->grants()),
             Credits(b->provisional()), Credits(b->running()), std::string(View(b->state())),
             std::string(View(b->mode())), std::string(View(b->running_display())),
             Time(b->billed_through())});
    }
  }
  t.Print(c.fmt());
  return 0;
}

// ---- ledger ----

struct LedgerArgs {
  std::string account, from, to;
  uint32_t limit = 0;
};

int ShowLedger(const Common& c, const LedgerArgs& a) {
  int64_t from = 0, to = 0;
  if (!a.from.empty() && !(ParseTimestamp(a.from).has_value())) {
    return Fail(Status::InvalidArgument("--from takes unix seconds or RFC 3339"));
  }
  if (!a.to.empty() && !(ParseTimestamp(a.to).has_value())) {
    return Fail(Status::InvalidArgument("--to takes unix seconds or RFC 3339"));
  }
  if (!a.from.empty()) from = *ParseTimestamp(a.from);
  if (!a.to.empty()) to = *ParseTimestamp(a.to);
  auto reply = Ask(c, [&](flatbuffers::FlatBufferBuilder& fbb, uint64_t id) {
    return net::FinishFrame(
        fbb, wire::CreateLedgerRequest(fbb, id, fbb.CreateString(a.account), from, to, a.limit));
  });
  if (!reply.ok()) return Fail(reply.status());
  const auto* r = Env(reply.value())->message_as_LedgerReply();
  if (r == nullptr) return Fail(Status::Corruption("unexpected reply to LedgerRequest"));
  if (c.fmt() == Format::kJson) {
    nlohmann::json j = nlohmann::json::array();
    int64_t sum = 0;
    if (r->entries()) {
      for (const auto* e : *r->entries()) {
        j.push_back(EntryJson(*e));
        sum += e->amount();
      }
    }
    std::printf("%s\n",
                nlohmann::json{{"account", a.account}, {"entries", j}, {"sum", Credits(sum)}}
                    .dump(2)
                    .c_str());
    return 0;
  }
  Table t({"id", "at", "kind", "amount", "balance_after", "reference", "actor", "reason"});
  t.SetNumeric(0);
  t.SetNumeric(3);
  t.SetNumeric(4);
  int64_t running = 0;
  if (r->entries()) {
    for (const auto* e : *r->entries()) {
      running += e->amount();
      t.Add({std::to_string(e->id()), Time(e->at()), Lower(KindName(e->kind())),
             Credits(e->amount()), from == 0 ? Credits(running) : std::string("-"),
             std::string(View(e->reference())), std::string(View(e->actor())),
             std::string(View(e->reason()))});
    }
  }
  t.Print(c.fmt());
  return 0;
}

// ---- settings ----

struct SettingsArgs {
  std::string scope = "*", mode, low_balance, credit_limit, hysteresis, reason, notify_email,
              reminder_days, overdue_days;
};

int SetSettings(const Common& c, const SettingsArgs& a) {
  auto reply = Ask(c, [&](flatbuffers::FlatBufferBuilder& fbb, uint64_t id) {
    return net::FinishFrame(fbb,
                            wire::CreateSetBillingSettings(
                                fbb, id, fbb.CreateString(a.scope), fbb.CreateString(a.mode),
                                fbb.CreateString(a.low_balance), fbb.CreateString(a.credit_limit),
                                fbb.CreateString(a.hysteresis), fbb.CreateString(a.reason),
                                fbb.CreateString(a.notify_email), fbb.CreateString(a.reminder_days),
                                fbb.CreateString(a.overdue_days)));
  });
  if (!reply.ok()) return Fail(reply.status());
  if (c.fmt() == Format::kJson) {
    std::printf("%s\n", nlohmann::json{{"scope", a.scope}, {"set", true}}.dump(2).c_str());
  } else {
    std::printf("settings of %s saved\n", a.scope.c_str());
  }
  return 0;
}

int ListSettings(const Common& c) {
  auto reply = Ask(c, [&](flatbuffers::FlatBufferBuilder& fbb, uint64_t id) {
    return net::FinishFrame(fbb, wire::CreateListBillingSettings(fbb, id));
  });
  if (!reply.ok()) return Fail(reply.status());
  const auto* r = Env(reply.value())->message_as_BillingSettingsReply();
  if (r == nullptr) return Fail(Status::Corruption("unexpected reply to ListBillingSettings"));
  Table t({"scope", "mode", "low_balance", "credit_limit", "hysteresis", "notify_email",
           "reminder_days", "overdue_days", "actor", "reason", "since"});
  if (r->settings()) {
    for (const auto* s : *r->settings()) {
      t.Add({std::string(View(s->scope())), std::string(View(s->mode())),
             std::string(View(s->low_balance())), std::string(View(s->credit_limit())),
             std::string(View(s->hysteresis())), std::string(View(s->notify_email())),
             std::string(View(s->reminder_days())), std::string(View(s->overdue_days())),
             std::string(View(s->actor())), std::string(View(s->reason())), Time(s->created_at())});
    }
  }
  t.Print(c.fmt());
  return 0;
}

// ---- can-create ----

struct CanCreateArgs {
  std::string account, plan, location, tier;
};

int CanCreate(const Common& c, const CanCreateArgs& a) {
  auto reply = Ask(c, [&](flatbuffers::FlatBufferBuilder& fbb, uint64_t id) {
    return net::FinishFrame(fbb, wire::CreateCanCreateRequest(
                                     fbb, id, fbb.CreateString(a.account), fbb.CreateString(a.plan),
                                     fbb.CreateString(a.location), fbb.CreateString(a.tier)));
  });
  if (!reply.ok()) return Fail(reply.status());
  const auto* r = Env(reply.value())->message_as_CanCreateReply();
  if (r == nullptr) return Fail(Status::Corruption("unexpected reply to CanCreateRequest"));
  if (c.fmt() == Format::kJson) {
    std::printf("%s\n", nlohmann::json{{"account", a.account},
                                       {"plan", a.plan},
                                       {"allowed", r->allowed()},
                                       {"reason", View(r->reason())},
                                       {"running_balance", Credits(r->balance())},
                                       {"hourly_estimate", Credits(r->hourly_estimate())},
                                       {"floor", Credits(r->floor())},
                                       {"state", View(r->state())}}
                            .dump(2)
                            .c_str());
  } else {
    std::printf("%s: %s\n", r->allowed() ? "allowed" : "refused",
                std::string(View(r->reason())).c_str());
  }
  return r->allowed() ? 0 : 4;
}

// ---- events ----

struct EventsArgs {
  std::string account;
  int64_t after = 0;
  bool follow = false;
  uint32_t limit = 0;
};

int ShowEvents(const Common& c, const EventsArgs& a) {
  net::ClientOptions o;
  o.client_name = "meterctl/0.1";
  if (Status st = net::ResolveEndpoint(c.endpoint, &o); !st.ok()) return Fail(st);
  // A follow waits for events indefinitely (the server keeps the request in flight).
  if (a.follow) o.request_timeout = std::chrono::hours(24 * 365);
  net::Client client(o);
  if (Status st = client.Connect(); !st.ok()) return Fail(st);
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t id = client.NextRequestId();
  auto frame = net::FinishFrame(
      fbb,
      wire::CreateEventsRequest(fbb, id, a.after, fbb.CreateString(a.account), a.follow, a.limit));
  const bool json = c.fmt() == Format::kJson;
  const bool stream_lines = a.follow || c.fmt() == Format::kCsv;
  nlohmann::json all = nlohmann::json::array();
  Table t({"id", "at", "account", "kind", "payload"});
  t.SetNumeric(0);
  if (stream_lines && !json) std::printf("id,at,account,kind,payload\n");
  Status st = client.Stream(std::move(frame), id, [&](const wire::Envelope& env, bool* last) {
    const auto* chunk = env.message_as_EventsChunk();
    if (chunk == nullptr) return Status::Corruption("unexpected reply to EventsRequest");
    *last = chunk->last();
    if (chunk->events()) {
      for (const auto* e : *chunk->events()) {
        nlohmann::json j = {{"id", e->id()},
                            {"at", Time(e->at())},
                            {"account", View(e->account())},
                            {"kind", View(e->kind())},
                            {"payload", nlohmann::json::parse(View(e->payload()), nullptr, false)}};
        if (json && a.follow) {
          std::printf("%s\n", j.dump().c_str());  // one JSON document per line (NDJSON)
        } else if (json) {
          all.push_back(std::move(j));
        } else if (stream_lines) {
          std::printf("%" PRId64 ",%s,%s,%s,\"%s\"\n", e->id(), Time(e->at()).c_str(),
                      std::string(View(e->account())).c_str(), std::string(View(e->kind())).c_str(),
                      std::string(View(e->payload())).c_str());
        } else {
          t.Add({std::to_string(e->id()), Time(e->at()), std::string(View(e->account())),
                 std::string(View(e->kind())), std::string(View(e->payload()))});
        }
      }
      std::fflush(stdout);
    }
    return Status::OK();
  });
  if (!st.ok()) return Fail(st);
  if (json && !a.follow) std::printf("%s\n", nlohmann::json{{"events", all}}.dump(2).c_str());
  if (!json && !stream_lines) t.Print(c.fmt());
  return 0;
}

// ---- webhooks ----

struct WebhookArgs {
  std::string id, url, secret, kinds, account;
  int64_t event = 0;
  uint32_t limit = 100;
};

int Webhooks(const Common& c, wire::WebhookOp op, const WebhookArgs& a) {
  auto reply = Ask(c, [&](flatbuffers::FlatBufferBuilder& fbb, uint64_t id) {
    return net::FinishFrame(fbb, wire::CreateWebhookRequest(
                                     fbb, id, op, fbb.CreateString(a.id), fbb.CreateString(a.url),
                                     fbb.CreateString(a.secret), fbb.CreateString(a.kinds),
                                     fbb.CreateString(a.account), a.event, a.limit));
  });
  if (!reply.ok()) return Fail(reply.status());
  const auto* r = Env(reply.value())->message_as_WebhookReply();
  if (r == nullptr) return Fail(Status::Corruption("unexpected reply to WebhookRequest"));
  if (op == wire::WebhookOp::Remove) {
    if (c.fmt() == Format::kJson) {
      std::printf("%s\n", nlohmann::json{{"removed", a.id}}.dump(2).c_str());
    } else {
      std::printf("webhook %s removed\n", a.id.c_str());
    }
    return 0;
  }
  if (op == wire::WebhookOp::Deliveries) {
    Table t({"event", "webhook", "attempt", "started", "ms", "http", "delivered", "error"});
    for (size_t i : {0, 2, 4, 5}) t.SetNumeric(i);
    if (r->deliveries()) {
      for (const auto* d : *r->deliveries()) {
        t.Add({std::to_string(d->event_id()), std::string(View(d->webhook_id())),
               std::to_string(d->attempt()), Time(d->started_at()),
               std::to_string(d->duration_ms()), std::to_string(d->http_status()),
               d->delivered() ? "yes" : "no", std::string(View(d->error()))});
      }
    }
    if (c.fmt() == Format::kJson) {
      std::printf("%s\n", nlohmann::json{{"deliveries", t.Json()}}.dump(2).c_str());
    } else {
      t.Print(c.fmt());
    }
    return 0;
  }
  Table t({"id", "url", "kinds", "account", "created", "removed", "secret"});
  if (r->webhooks()) {
    for (const auto* w : *r->webhooks()) {
      t.Add({std::string(View(w->id())), std::string(View(w->url())), std::string(View(w->kinds())),
             std::string(View(w->account())), Time(w->created_at()), Time(w->removed_at()),
             std::string(View(w->secret()))});
    }
  }
  if (c.fmt() == Format::kJson) {
    std::printf("%s\n", nlohmann::json{{"webhooks", t.Json()}}.dump(2).c_str());
  } else {
    t.Print(c.fmt());
    if (op == wire::WebhookOp::Add) {
      std::printf("\nkeep the secret: it signs every delivery and is not shown again\n");
    }
  }
  return 0;
}

// ---- email notices ----

struct EmailArgs {
  int64_t event = 0;
  uint32_t limit = 100;
};

int EmailDeliveries(const Common& c, const EmailArgs& a) {
  auto reply = Ask(c, [&](flatbuffers::FlatBufferBuilder& fbb, uint64_t id) {
    return net::FinishFrame(
        fbb, wire::CreateWebhookRequest(fbb, id, wire::WebhookOp::EmailDeliveries, 0, 0, 0, 0, 0,
                                        a.event, a.limit));
  });
  if (!reply.ok()) return Fail(reply.status());
  const auto* r = Env(reply.value())->message_as_WebhookReply();
  if (r == nullptr) return Fail(Status::Corruption("unexpected reply to WebhookRequest"));
  Table t({"event", "recipient", "attempt", "started", "ms", "smtp", "delivered", "error"});
  for (size_t i : {0, 2, 4, 5}) t.SetNumeric(i);
  if (r->email_deliveries()) {
    for (const auto* d : *r->email_deliveries()) {
      t.Add({std::to_string(d->event_id()), std::string(View(d->recipient())),
             std::to_string(d->attempt()), Time(d->started_at()), std::to_string(d->duration_ms()),
             std::to_string(d->smtp_status()), d->delivered() ? "yes" : "no",
             std::string(View(d->error()))});
    }
  }
  if (c.fmt() == Format::kJson) {
    std::printf("%s\n", nlohmann::json{{"deliveries", t.Json()}}.dump(2).c_str());
  } else {
    t.Print(c.fmt());
  }
  return 0;
}

// ---- reconcile ----

struct ReconcileArgs {
  std::string from, to, account;
};

int Reconcile(const Common& c, const ReconcileArgs& a) {
  auto from = ParseTimestamp(a.from);
  auto to = ParseTimestamp(a.to);
  if (!from || !to)
    return Fail(Status::InvalidArgument("--from and --to take unix seconds or RFC 3339"));
  auto reply = Ask(c, [&](flatbuffers::FlatBufferBuilder& fbb, uint64_t id) {
    return net::FinishFrame(
        fbb, wire::CreateReconcileRequest(fbb, id, *from, *to, fbb.CreateString(a.account)));
  });
  if (!reply.ok()) return Fail(reply.status());
  const auto* r = Env(reply.value())->message_as_ReconcileReply();
  if (r == nullptr) return Fail(Status::Corruption("unexpected reply to ReconcileRequest"));
  Table t({"account", "month", "rated", "debited", "difference", "open_hours", "revisions",
           "explained"});
  for (size_t i = 2; i <= 6; ++i) t.SetNumeric(i);
  if (r->lines()) {
    for (const auto* l : *r->lines()) {
      const bool explained = l->difference() == l->open() + l->revised();
      t.Add({std::string(View(l->account())), Time(l->month()).substr(0, 7), Credits(l->rated()),
             Credits(l->debited()), Credits(l->difference()), Credits(l->open()),
             Credits(l->revised()), explained ? "yes" : "NO"});
    }
  }
  if (c.fmt() == Format::kJson) {
    std::printf("%s\n", nlohmann::json{{"lines", t.Json()},
                                       {"billed_through", Time(r->billed_through())},
                                       {"clock_start", Time(r->clock_start())}}
                            .dump(2)
                            .c_str());
  } else {
    t.Print(c.fmt());
    if (c.fmt() == Format::kTable) {
      std::printf(
          "\ndebited through %s; open_hours = hours not debited yet, revisions = late "
          "data the clock books at its next hour\n",
          Time(r->billed_through()).c_str());
    }
  }
  return 0;
}

}  // namespace

void RegisterLedgerCommands(CLI::App& app, Common& common) {
  AddEntryCommand(app, common, "topup", "add prepaid credit to an account (admin)",
                  wire::LedgerKind::TopUp);
  AddEntryCommand(app, common, "payment", "record a payment received (admin)",
                  wire::LedgerKind::Payment);
  AddEntryCommand(app, common, "refund", "return paid credit to the customer (admin)",
                  wire::LedgerKind::Refund);
  AddEntryCommand(app, common, "credit", "credit an account, as a credit note does (admin)",
                  wire::LedgerKind::Credit);
  AddEntryCommand(app, common, "grant", "promotional credit that expires; used first (admin)",
                  wire::LedgerKind::Grant);
  AddEntryCommand(app, common, "adjust", "a signed manual adjustment with its reason (admin)",
                  wire::LedgerKind::Adjustment);

  auto b = std::make_shared<BalanceArgs>();
  CLI::App* balance = app.add_subcommand(
      "balance", "balances: ledger sum, charges not yet debited, running balance, state");
  balance->add_option("--account", b->account, "one account (default: every account)");
  balance->add_flag("--no-provisional", b->no_provisional,
                    "skip rating the hours not yet debited (ledger sums only)");
  common.OnRun(balance, [&common, b] { return ShowBalance(common, *b); });

  auto l = std::make_shared<LedgerArgs>();
  CLI::App* ledger = app.add_subcommand("ledger", "an account's ledger entries, oldest first");
  ledger->add_option("--account", l->account, "the account")->required();
  ledger->add_option("--from", l->from, "entries at or after (unix seconds or RFC 3339)");
  ledger->add_option("--to", l->to, "entries before");
  ledger->add_option("--limit", l->limit, "at most this many entries (0: all)");
  common.OnRun(ledger, [&common, l] { return ShowLedger(common, *l); });

  CLI::App* settings = app.add_subcommand(
      "settings", "billing settings: mode, low-balance threshold, credit limit, hysteresis");
  auto s = std::make_shared<SettingsArgs>();
  CLI::App* set = settings->add_subcommand("set", "set a scope's settings (admin)");
  set->add_option("--scope", s->scope, "'*', domain:<id> or account:<id>")->capture_default_str();
  set->add_option("--mode", s->mode, "prepaid or postpaid");
  set->add_option("--low-balance", s->low_balance,
                  "credits: notify below this (\"none\": no notice)");
  set->add_option("--credit-limit", s->credit_limit,
                  "credits the account may owe before it is suspended");
  set->add_option("--hysteresis", s->hysteresis,
                  "credits a balance must clear a threshold by to leave its state");
  set->add_option("--notify-email", s->notify_email,
                  "comma-separated addresses for email notices (\"none\": nobody)");
  set->add_option("--reminder-days", s->reminder_days,
                  "invoice reminders, days from the due date: \"-3,0,7,14\" (before, on, "
                  "overdue: dunning levels 1, 2, ...; \"none\": no reminders)");
  set->add_option("--overdue-days", s->overdue_days,
                  "suspend an account with an invoice unpaid more than this many days after "
                  "its due date (\"none\": never)");
  set->add_option("--reason", s->reason, "why (recorded)");
  common.OnRun(set, [&common, s] { return SetSettings(common, *s); });
  CLI::App* list = settings->add_subcommand("list", "the settings of every scope");
  common.OnRun(list, [&common] { return ListSettings(common); });

  auto cc = std::make_shared<CanCreateArgs>();
  CLI::App* can = app.add_subcommand(
      "can-create", "may an account create a VM of a plan now? (exit 0 allowed, 4 refused)");
  can->add_option("--account", cc->account, "the account")->required();
  can->add_option("--plan", cc->plan, "the plan")->required();
  can->add_option("--location", cc->location, "the location");
  can->add_option("--storage-tier", cc->tier, "the root disk's storage tier");
  common.OnRun(can, [&common, cc] { return CanCreate(common, *cc); });

  auto e = std::make_shared<EventsArgs>();
  CLI::App* events = app.add_subcommand(
      "events", "billing events (low_balance, negative, suspend, resume), oldest first");
  events->add_option("--account", e->account, "one account's events");
  events->add_option("--after", e->after, "events after this id");
  events->add_option("--limit", e->limit, "at most this many (without --follow)");
  events->add_flag("--follow", e->follow, "keep streaming new events as they happen");
  common.OnRun(events, [&common, e] { return ShowEvents(common, *e); });

  CLI::App* hooks = app.add_subcommand("webhooks", "HTTP POST delivery of events (admin)");
  auto w = std::make_shared<WebhookArgs>();
  CLI::App* wl = hooks->add_subcommand("list", "every webhook, removed ones too");
  common.OnRun(wl, [&common, w] { return Webhooks(common, wire::WebhookOp::List, *w); });
  CLI::App* wa = hooks->add_subcommand("add", "deliver events to a URL, signed with a secret");
  wa->add_option("--url", w->url, "http:// or https:// URL")->required();
  wa->add_option("--secret", w->secret, "HMAC-SHA256 key (default: generated, shown once)");
  wa->add_option("--kinds", w->kinds, "comma-separated event kinds (default: all)");
  wa->add_option("--account", w->account, "one account's events only");
  common.OnRun(wa, [&common, w] { return Webhooks(common, wire::WebhookOp::Add, *w); });
  CLI::App* wr = hooks->add_subcommand("remove", "stop delivering to a webhook");
  wr->add_option("id", w->id, "webhook id (wh_...)")->required();
  common.OnRun(wr, [&common, w] { return Webhooks(common, wire::WebhookOp::Remove, *w); });
  CLI::App* wd = hooks->add_subcommand("deliveries", "the delivery log, newest first");
  wd->add_option("--webhook", w->id, "one webhook's deliveries");
  wd->add_option("--event", w->event, "one event's deliveries");
  wd->add_option("--limit", w->limit, "at most this many")->capture_default_str();
  common.OnRun(wd, [&common, w] { return Webhooks(common, wire::WebhookOp::Deliveries, *w); });

  CLI::App* emails =
      app.add_subcommand("emails", "email notices of events to notify_email addresses (admin)");
  auto em = std::make_shared<EmailArgs>();
  CLI::App* ed = emails->add_subcommand("deliveries", "the email delivery log, newest first");
  ed->add_option("--event", em->event, "one event's deliveries");
  ed->add_option("--limit", em->limit, "at most this many")->capture_default_str();
  common.OnRun(ed, [&common, em] { return EmailDeliveries(common, *em); });

  auto r = std::make_shared<ReconcileArgs>();
  CLI::App* rec =
      app.add_subcommand("reconcile", "usage rated against usage debited, per account and month");
  rec->add_option("--from", r->from, "first month (unix seconds or RFC 3339)")->required();
  rec->add_option("--to", r->to, "end (exclusive)")->required();
  rec->add_option("--account", r->account, "one account");
  common.OnRun(rec, [&common, r] { return Reconcile(common, *r); });
}

}  // namespace meterd::cli
