// meterd — net/meterctl/invoice_cmd.cc
#include "net/meterctl/invoice_cmd.h"

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/invoicing/invoice_json.h"
#include "engine/invoicing/invoice_text.h"
#include "net/meterctl/csv_time.h"
#include "net/meterctl/table.h"
#include "net/protocol/messages.h"
#include "storage/base/calendar.h"

namespace meterd::cli {
namespace {

using Json = nlohmann::ordered_json;
using net::View;

struct InvoiceArgs {
  std::string period, account, domain, number, amount, reference, reason, from, to, output;
  bool provisional = false;
};

// "YYYY-MM" (a month), else an instant (unix seconds or RFC 3339).
std::optional<int64_t> ParsePeriod(const std::string& text) {
  if (text.size() == 7 && text[4] == '-') {
    int y = 0;
    unsigned m = 0;
    if (std::sscanf(text.c_str(), "%4d-%2u", &y, &m) == 2 && m >= 1 && m <= 12) {
      return base::DaysFromCivil(y, m, 1) * base::kSecondsPerDay;
    }
    return std::nullopt;
  }
  return ParseTimestamp(text);
}

// Credits as a decimal ("12.5", at most 6 decimals) into micro-credits.
std::optional<int64_t> ParseCredits(const std::string& text) {
  size_t i = 0;
  if (text.empty()) return std::nullopt;
  int64_t whole = 0, frac = 0;
  int digits = 0, frac_digits = 0;
  for (; i < text.size() && text[i] != '.'; ++i) {
    if (text[i] < '0' || text[i] > '9' || whole > 9'000'000'000'000LL) return std::nullopt;
    whole = whole * 10 + (text[i] - '0');
    ++digits;
  }
  if (i < text.size()) {
    for (++i; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9' || ++frac_digits > 6) return std::nullopt;
      frac = frac * 10 + (text[i] - '0');
    }
  }
  if (digits == 0 && frac_digits == 0) return std::nullopt;
  for (int k = frac_digits; k < 6; ++k) frac *= 10;
  return whole * 1'000'000 + frac;
}

std::string Day(int64_t t) { return t > 0 ? FormatRfc3339(t).substr(0, 10) : std::string(); }

// Sends one InvoiceRequest and returns its reply (the JSON document and PDF bytes).
struct Reply {
  Json doc;
  std::vector<uint8_t> pdf;
};
Result<Reply> Call(const Common& c, wire::InvoiceOp op, const InvoiceArgs& a, int64_t at = 0,
                   int64_t amount = 0) {
  METERD_ASSIGN_OR_RETURN(auto client, Connect(c));
  flatbuffers::FlatBufferBuilder fbb(512);
  const uint64_t id = client->NextRequestId();
  wire::ChargeScope scope = wire::ChargeScope::All;
  std::string scope_id;
  if (!a.account.empty()) {
    scope = wire::ChargeScope::Account;
    scope_id = a.account;
  } else if (!a.domain.empty()) {
    scope = wire::ChargeScope::Domain;
    scope_id = a.domain;
  }
  int64_t from = 0, to = 0;
  if (!a.from.empty() || !a.to.empty()) {
    auto f = a.from.empty() ? std::optional<int64_t>(INT64_MIN) : ParsePeriod(a.from);
    auto t = a.to.empty() ? std::optional<int64_t>(INT64_MAX) : ParsePeriod(a.to);
    if (!f || !t)
      return Status::InvalidArgument("--from and --to take YYYY-MM, unix seconds or RFC 3339");
    from = *f;
    to = *t;
  }
  auto req = wire::CreateInvoiceRequest(
      fbb, id, op, at, scope, fbb.CreateString(scope_id), fbb.CreateString(a.account), from, to,
      fbb.CreateString(a.number), amount, fbb.CreateString(a.reference), fbb.CreateString(a.reason),
      a.provisional);
  METERD_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, client->Call(net::FinishFrame(fbb, req), id));
  const auto* rep = wire::GetEnvelope(bytes.data())->message_as_InvoiceReply();
  if (rep == nullptr) return Status::Corruption("unexpected reply to InvoiceRequest");
  Reply out;
  out.doc = Json::parse(View(rep->document()), nullptr, false);
  if (out.doc.is_discarded()) return Status::Corruption("the server's invoice reply is not JSON");
  if (rep->pdf() != nullptr) out.pdf.assign(rep->pdf()->begin(), rep->pdf()->end());
  return out;
}

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

void PrintJson(const Json& j) { std::printf("%s\n", j.dump(2).c_str()); }

// Summaries (run, issue, list) as a table.
void PrintSummaries(const Common& c, const Json& items) {
  Table t({"number", "kind", "state", "account", "period", "lines", "total", "amount_due", "issued",
           "due"});
  t.SetNumeric(5);
  for (const Json& i : items) {
    t.Add(
        {Str(i, "number").empty() ? "(draft)" : Str(i, "number"), Str(i, "kind"),
         Str(i, "state") + (i.value("provisional", false) ? " (provisional)" : ""),
         Str(i, "account"),
         Day(i.value("period_start", int64_t{0})) + " .. " + Day(i.value("period_end", int64_t{0})),
         Str(i, "lines"), Str(i, "total"), Str(i, "amount_due"),
         Day(i.value("issued_at", int64_t{0})), Day(i.value("due_at", int64_t{0}))});
  }
  t.Print(c.fmt());
}

void PrintReport(const Common& c, const Json& rep, const char* what) {
  if (c.fmt() == Format::kJson) return PrintJson(rep);
  PrintSummaries(c, rep["invoices"]);
  if (c.fmt() != Format::kTable) return;
  std::printf(
      "\nperiod %s .. %s: %s %s, %s already issued, %s with nothing to invoice, %zu "
      "refused%s\n",
      Day(rep.value("period_start", int64_t{0})).c_str(),
      Day(rep.value("period_end", int64_t{0})).c_str(),
      Str(rep, std::string(what) == "drafted" ? "drafts" : "invoices_total").c_str(), what,
      Str(rep, "already_issued").c_str(), Str(rep, "nothing_to_invoice").c_str(),
      rep["refused"].size(),
      rep.value("open_hours", 0) > 0
          ? (" (" + Str(rep, "open_hours") + " hours still open: provisional)").c_str()
          : "");
  for (const Json& r : rep["refused"]) {
    std::printf("  refused %s: %s\n", Str(r, "account").c_str(), Str(r, "reason").c_str());
  }
}

// What happened to an issued document (payments, paid, void, ...), after it.
void PrintEvents(const Json& d) {
  if (!d.contains("events") || d["events"].empty()) return;
  std::printf("\nEvents\n");
  for (const Json& e : d["events"]) {
    const int64_t amount = e.value("amount_micro", int64_t{0});
    std::printf("  %s  %-8s %s %s %s\n", Time(e.value("at", int64_t{0})).c_str(),
                Str(e, "kind").c_str(), amount != 0 ? Credits(amount).c_str() : "",
                Str(e, "reference").c_str(), Str(e, "reason").c_str());
  }
}

// One document: JSON as the server sent it; CSV, its lines; a table, the printed invoice
// (engine/invoicing/invoice_text.h, the PDF's layout) and its events.
int PrintDocument(const Common& c, const Json& d) {
  if (c.fmt() == Format::kJson) {
    PrintJson(d);
    return 0;
  }
  if (c.fmt() == Format::kCsv) {
    Table t(
        {"kind", "group", "product", "description", "quantity", "unit", "unit_price", "amount"});
    for (const Json& l : d["lines"]) {
      t.Add({Str(l, "kind"), Str(l, "group"), Str(l, "product_id"), Str(l, "description"),
             Str(l, "quantity"), Str(l, "unit"), Credits(l.value("unit_price_micro", int64_t{0})),
             Credits(l["amount"].value("micro", int64_t{0}))});
    }
    t.Print(c.fmt());
    return 0;
  }
  auto inv = engine::invoicing::FromJson(Json(d));
  if (!inv.ok()) return Fail(inv.status());
  std::fputs(engine::invoicing::RenderInvoiceText(*inv).c_str(), stdout);
  PrintEvents(d);
  return 0;
}

// The usage report: JSON as sent; CSV and table, one row per resource under its line, then the
// line's total (rated against invoiced).
int PrintUsage(const Common& c, const Json& rep) {
  if (c.fmt() == Format::kJson) {
    PrintJson(rep);
    return 0;
  }
  Table t(
      {"line", "group", "product", "kind", "resource", "quantity", "unit", "unit_price", "amount"});
  t.SetNumeric(5);
  t.SetNumeric(8);
  for (const Json& l : rep["lines"]) {
    const std::string line = Str(l, "line");
    for (const Json& i : l["resources"]) {
      t.Add({line, Str(i, "group"), Str(i, "product_id"), Str(i, "kind"), Str(i, "resource"),
             Str(i, "quantity"), Str(i, "unit"), Credits(i.value("unit_price_micro", int64_t{0})),
             Credits(i.value("amount_micro", int64_t{0}))});
    }
    const int64_t rated = l.value("rated_micro", int64_t{0});
    const int64_t invoiced = l.value("invoiced_micro", int64_t{0});
    t.Add({line, Str(l, "group"), Str(l, "product_id"), Str(l, "kind"),
           rated == invoiced ? "(line total)" : "(line total: invoiced " + Credits(invoiced) + ")",
           Str(l, "rated_quantity"), Str(l, "unit"), "", Credits(rated)});
  }
  for (const Json& i : rep["unmatched"]) {
    t.Add({"-", Str(i, "group"), Str(i, "product_id"), Str(i, "kind"), Str(i, "resource"),
           Str(i, "quantity"), Str(i, "unit"), Credits(i.value("unit_price_micro", int64_t{0})),
           Credits(i.value("amount_micro", int64_t{0}))});
  }
  t.Print(c.fmt());
  if (c.fmt() == Format::kTable && !rep.value("matches", true)) {
    std::printf(
        "\nthe period's rating changed since %s was built (late data or a re-rate: the "
        "next invoice carries it as an adjustment)\n",
        Str(rep, "number").c_str());
  }
  return 0;
}

// A collections pass: the reminders it sent and the holds it set or released.
int PrintCollect(const Common& c, const Json& rep) {
  if (c.fmt() == Format::kJson) {
    PrintJson(rep);
    return 0;
  }
  Table t({"number", "account", "event", "day", "dunning_level"});
  for (const Json& r : rep["reminders"]) {
    t.Add({Str(r, "number"), Str(r, "account"), Str(r, "kind"), Str(r, "day"),
           Str(r, "dunning_level")});
  }
  for (const Json& n : rep["held"]) t.Add({n.get<std::string>(), "", "suspend (overdue)", "", ""});
  for (const Json& n : rep["released"]) t.Add({n.get<std::string>(), "", "released", "", ""});
  t.Print(c.fmt());
  if (c.fmt() == Format::kTable) {
    std::printf("\ncollections at %s: %s outstanding, %zu reminders, %zu held, %zu released\n",
                Time(rep.value("at", int64_t{0})).c_str(), Str(rep, "outstanding").c_str(),
                rep["reminders"].size(), rep["held"].size(), rep["released"].size());
  }
  return 0;
}

int64_t Micro(const Json& amount) { return amount.value("micro", int64_t{0}); }

// A statement of account: JSON as sent; CSV, one row per opening, entry, document and closing;
// a table, the statement as text.
int PrintStatement(const Common& c, const Json& s) {
  if (c.fmt() == Format::kJson) {
    PrintJson(s);
    return 0;
  }
  if (c.fmt() == Format::kCsv) {
    Table t({"line", "id", "at", "kind", "amount", "balance_after", "reference", "reason"});
    t.Add({"opening", "", Time(s.value("from", int64_t{0})), "", "",
           Credits(Micro(s["opening_balance"])), "", ""});
    for (const Json& e : s["entries"]) {
      t.Add({"entry", Str(e, "id"), Time(e.value("at", int64_t{0})), Str(e, "kind"),
             Credits(Micro(e["amount"])), Credits(Micro(e["balance_after"])), Str(e, "reference"),
             Str(e, "reason")});
    }
    for (const Json& d : s["documents"]) {
      t.Add({"document", Str(d, "number"), Time(d.value("issued_at", int64_t{0})), Str(d, "kind"),
             Credits(Micro(d["total"])), "", Str(d, "state"), Str(d, "credit_note_for")});
    }
    t.Add({"closing", "", Time(s.value("to", int64_t{0})), "", "",
           Credits(Micro(s["closing_balance"])), "", ""});
    t.Print(c.fmt());
    return 0;
  }
  const int64_t from = s.value("from", int64_t{0});
  std::printf("Statement of account %s\nFrom %s to %s\n\nOpening balance %s\n\n",
              Str(s, "account").c_str(), from > 0 ? Time(from).c_str() : "the start",
              Time(s.value("to", int64_t{0})).c_str(),
              Credits(Micro(s["opening_balance"])).c_str());
  Table t({"id", "at", "kind", "amount", "balance", "reference", "reason"});
  t.SetNumeric(3);
  t.SetNumeric(4);
  for (const Json& e : s["entries"]) {
    t.Add({Str(e, "id"), Time(e.value("at", int64_t{0})), Str(e, "kind"),
           Credits(Micro(e["amount"])), Credits(Micro(e["balance_after"])), Str(e, "reference"),
           Str(e, "reason")});
  }
  t.Print(Format::kTable);
  std::printf("\nCredits %s  Debits %s\nClosing balance %s\n", Credits(Micro(s["credits"])).c_str(),
              Credits(Micro(s["debits"])).c_str(), Credits(Micro(s["closing_balance"])).c_str());
  if (!s["documents"].empty()) {
    std::printf("\nDocuments issued in the period\n");
    Table d(
        {"number", "kind", "state", "issued", "due", "total", "amount_due", "paid", "credited"});
    for (const Json& j : s["documents"]) {
      d.Add({Str(j, "number"), Str(j, "kind"), Str(j, "state"),
             Day(j.value("issued_at", int64_t{0})), Day(j.value("due_at", int64_t{0})),
             Credits(Micro(j["total"])), Credits(Micro(j["amount_due"])), Credits(Micro(j["paid"])),
             Credits(Micro(j["credited"]))});
    }
    d.Print(Format::kTable);
  }
  return 0;
}

// --period: an instant; YYYY-MM is noon UTC on the 1st, which is the 1st in local time from
// UTC-12 to UTC+11:59, so it names that month's period of a monthly cycle in any such zone
// (docs/invoices.md, "Cycles").
int RequirePeriod(const InvoiceArgs& a, int64_t* at) {
  auto p = ParsePeriod(a.period);
  if (!p) return Fail(Status::InvalidArgument("--period takes YYYY-MM, unix seconds or RFC 3339"));
  const bool month = a.period.size() == 7;
  *at = month ? *p + 12 * base::kSecondsPerHour : *p;
  return 0;
}

}  // namespace

void RegisterInvoiceCommands(CLI::App& app, Common& common) {
  CLI::App* inv = app.add_subcommand("invoice", "invoices and credit notes (docs/invoices.md)");
  auto a = std::make_shared<InvoiceArgs>();
  auto scope = [a](CLI::App* cmd) {
    cmd->add_option("--account", a->account, "one account");
    cmd->add_option("--domain", a->domain, "the accounts of a domain and its subdomains");
  };
  auto period = [a](CLI::App* cmd) {
    cmd->add_option("--period", a->period, "the period: YYYY-MM or an instant inside it")
        ->required();
  };
  auto number = [a](CLI::App* cmd) {
    cmd->add_option("number", a->number, "the invoice or credit note number")->required();
  };

  CLI::App* run = inv->add_subcommand("run", "draft the invoices of a period (admin)");
  period(run);
  scope(run);
  run->add_flag("--provisional", a->provisional,
                "draft even when hours of the period are still open (never issued)");
  common.OnRun(run, [&common, a] {
    int64_t at = 0;
    if (int rc = RequirePeriod(*a, &at)) return rc;
    auto r = Call(common, wire::InvoiceOp::Run, *a, at);
    if (!r.ok()) return Fail(r.status());
    PrintReport(common, r->doc, "drafted");
    return 0;
  });

  CLI::App* issue = inv->add_subcommand("issue", "issue the drafts of a period (admin)");
  period(issue);
  scope(issue);
  common.OnRun(issue, [&common, a] {
    int64_t at = 0;
    if (int rc = RequirePeriod(*a, &at)) return rc;
    auto r = Call(common, wire::InvoiceOp::Issue, *a, at);
    if (!r.ok()) return Fail(r.status());
    PrintReport(common, r->doc, "issued");
    return 0;
  });

  CLI::App* drafts = inv->add_subcommand("drafts", "the drafts of a period");
  period(drafts);
  drafts->add_option("--account", a->account, "one account (its whole draft)");
  common.OnRun(drafts, [&common, a] {
    int64_t at = 0;
    if (int rc = RequirePeriod(*a, &at)) return rc;
    InvoiceArgs q = *a;
    auto r = Call(common, wire::InvoiceOp::Drafts, q, at);
    if (!r.ok()) return Fail(r.status());
    if (common.fmt() == Format::kJson) {
      PrintJson(r->doc);
    } else if (!a->account.empty() && r->doc["drafts"].size() == 1) {
      return PrintDocument(common, r->doc["drafts"][0]);
    } else {
      PrintSummaries(common, r->doc["drafts"]);
    }
    return 0;
  });

  CLI::App* list = inv->add_subcommand("list", "issued invoices and credit notes");
  list->add_option("--account", a->account, "one account");
  list->add_option("--from", a->from, "periods starting at or after (YYYY-MM or an instant)");
  list->add_option("--to", a->to, "periods starting before");
  common.OnRun(list, [&common, a] {
    auto r = Call(common, wire::InvoiceOp::List, *a);
    if (!r.ok()) return Fail(r.status());
    if (common.fmt() == Format::kJson) {
      PrintJson(r->doc);
    } else {
      PrintSummaries(common, r->doc["invoices"]);
    }
    return 0;
  });

  CLI::App* show = inv->add_subcommand("show", "one invoice or credit note");
  number(show);
  common.OnRun(show, [&common, a] {
    auto r = Call(common, wire::InvoiceOp::Show, *a);
    if (!r.ok()) return Fail(r.status());
    return PrintDocument(common, r->doc);
  });

  CLI::App* pdf = inv->add_subcommand("pdf", "one invoice or credit note as PDF");
  number(pdf);
  pdf->add_option("--output,-o", a->output, "the file to write")->required();
  common.OnRun(pdf, [&common, a] {
    auto r = Call(common, wire::InvoiceOp::Pdf, *a);
    if (!r.ok()) return Fail(r.status());
    std::ofstream out(a->output, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(r->pdf.data()),
              static_cast<std::streamsize>(r->pdf.size()));
    if (!out) return Fail(Status::IOError("cannot write " + a->output));
    std::printf("%s: %zu bytes\n", a->output.c_str(), r->pdf.size());
    return 0;
  });

  CLI::App* exp = inv->add_subcommand("export", "every line of a period's issued invoices");
  period(exp);
  exp->add_option("--account", a->account, "one account");
  common.OnRun(exp, [&common, a] {
    // The invoices whose period starts at that instant (YYYY-MM: 00:00 UTC on the 1st).
    const std::optional<int64_t> start = ParsePeriod(a->period);
    if (!start) {
      return Fail(Status::InvalidArgument("--period takes YYYY-MM, unix seconds or RFC 3339"));
    }
    const int64_t at = *start;
    InvoiceArgs q = *a;
    q.from = std::to_string(at);
    q.to = std::to_string(at + 1);
    auto r = Call(common, wire::InvoiceOp::List, q);
    if (!r.ok()) return Fail(r.status());
    Table t({"number", "account", "group", "product", "description", "quantity", "unit",
             "unit_price", "amount"});
    Json all = Json::array();
    for (const Json& s : r->doc["invoices"]) {
      InvoiceArgs one;
      one.number = Str(s, "number");
      auto d = Call(common, wire::InvoiceOp::Show, one);
      if (!d.ok()) return Fail(d.status());
      if (common.fmt() == Format::kJson) {
        all.push_back(d->doc);
        continue;
      }
      for (const Json& l : d->doc["lines"]) {
        t.Add({one.number, Str(d->doc, "account"), Str(l, "group"), Str(l, "product_id"),
               Str(l, "description"), Str(l, "quantity"), Str(l, "unit"),
               Credits(l.value("unit_price_micro", int64_t{0})),
               Credits(l["amount"].value("micro", int64_t{0}))});
      }
    }
    if (common.fmt() == Format::kJson) {
      PrintJson(Json{{"invoices", std::move(all)}});
    } else {
      t.Print(common.fmt());
    }
    return 0;
  });

  CLI::App* void_cmd = inv->add_subcommand("void", "void an unpaid invoice (admin)");
  number(void_cmd);
  void_cmd->add_option("--reason", a->reason, "why")->required();
  common.OnRun(void_cmd, [&common, a] {
    auto r = Call(common, wire::InvoiceOp::Void, *a);
    if (!r.ok()) return Fail(r.status());
    return PrintDocument(common, r->doc);
  });

  CLI::App* pay = inv->add_subcommand("pay", "record a payment against an invoice (admin)");
  number(pay);
  pay->add_option("--amount", a->amount, "credits paid")->required();
  pay->add_option("--reference", a->reference, "the payment's reference (idempotent)")->required();
  common.OnRun(pay, [&common, a] {
    auto amount = ParseCredits(a->amount);
    if (!amount || *amount <= 0) {
      return Fail(Status::InvalidArgument("--amount takes a positive decimal of credits"));
    }
    auto r = Call(common, wire::InvoiceOp::Pay, *a, 0, *amount);
    if (!r.ok()) return Fail(r.status());
    return PrintDocument(common, r->doc);
  });

  CLI::App* paid = inv->add_subcommand("mark-paid", "pay what is due and mark it paid (admin)");
  number(paid);
  paid->add_option("--reference", a->reference, "the payment's reference")->required();
  common.OnRun(paid, [&common, a] {
    auto r = Call(common, wire::InvoiceOp::MarkPaid, *a);
    if (!r.ok()) return Fail(r.status());
    return PrintDocument(common, r->doc);
  });

  CLI::App* usage =
      inv->add_subcommand("usage", "the usage behind an invoice's lines, per resource and product");
  usage->add_option("--invoice", a->number, "the invoice number")->required();
  common.OnRun(usage, [&common, a] {
    auto r = Call(common, wire::InvoiceOp::Usage, *a);
    if (!r.ok()) return Fail(r.status());
    return PrintUsage(common, r->doc);
  });

  CLI::App* collect = inv->add_subcommand(
      "collect", "a collections pass: reminders, dunning, suspension by days overdue (admin)");
  collect->add_option("--at", a->period,
                      "the collections clock: unix seconds or RFC 3339 (default: now)");
  common.OnRun(collect, [&common, a] {
    int64_t at = 0;
    if (!a->period.empty()) {
      auto t = ParseTimestamp(a->period);
      if (!t) return Fail(Status::InvalidArgument("--at takes unix seconds or RFC 3339"));
      at = *t;
    }
    auto r = Call(common, wire::InvoiceOp::Collect, *a, at);
    if (!r.ok()) return Fail(r.status());
    return PrintCollect(common, r->doc);
  });

  CLI::App* statement = app.add_subcommand(
      "statement", "statement of account: opening balance, entries, documents, closing balance");
  statement->add_option("--account", a->account, "the account")->required();
  statement->add_option("--from", a->from,
                        "from (YYYY-MM, unix seconds or RFC 3339; default: the start)");
  statement->add_option("--to", a->to, "to, exclusive (default: now)");
  statement->add_option("--period", a->period,
                        "instead of --from/--to: the account's billing period containing this "
                        "instant (YYYY-MM or an instant)");
  common.OnRun(statement, [&common, a] {
    int64_t at = 0;
    if (!a->period.empty()) {
      if (!a->from.empty() || !a->to.empty()) {
        return Fail(Status::InvalidArgument("--period replaces --from and --to"));
      }
      if (int rc = RequirePeriod(*a, &at)) return rc;
    }
    auto r = Call(common, wire::InvoiceOp::Statement, *a, at);
    if (!r.ok()) return Fail(r.status());
    return PrintStatement(common, r->doc);
  });

  CLI::App* credit = inv->add_subcommand("credit-note", "credit part of an invoice (admin)");
  number(credit);
  credit->add_option("--amount", a->amount, "credits")->required();
  credit->add_option("--reason", a->reason, "why")->required();
  common.OnRun(credit, [&common, a] {
    auto amount = ParseCredits(a->amount);
    if (!amount || *amount <= 0) {
      return Fail(Status::InvalidArgument("--amount takes a positive decimal of credits"));
    }
    auto r = Call(common, wire::InvoiceOp::CreditNote, *a, 0, *amount);
    if (!r.ok()) return Fail(r.status());
    return PrintDocument(common, r->doc);
  });
}

}  // namespace meterd::cli
