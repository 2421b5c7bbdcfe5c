// meterd — engine/service/meter_service_invoices.cc
//
// InvoiceRequest (docs/protocol.md, docs/invoices.md): runs, issues, payments, voids and
// credit notes through the Invoicer, and reads of drafts and issued documents. Replies are one
// InvoiceReply whose `document` is JSON (docs/invoices.md, "Replies").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "engine/invoicing/collections.h"
#include "engine/invoicing/invoice_json.h"
#include "engine/invoicing/invoice_pdf.h"
#include "engine/invoicing/invoicer.h"
#include "engine/invoicing/statement.h"
#include "engine/pricebook/money.h"
#include "engine/service/meter_service.h"
#include "net/protocol/messages.h"
#include "storage/base/calendar.h"
#include "storage/base/clock.h"

namespace meterd::engine {
namespace {

using Json = nlohmann::ordered_json;
using net::ResponderPtr;
using net::View;

// A run or issue lists at most this many documents (the counts cover all of them), so the
// reply stays far inside a frame at 100,000 accounts.
constexpr size_t kMaxListed = 1000;
// A list of issued documents shows at most this many (about 350 bytes each: 3.5 MB, inside a
// frame); narrow it by account or period for more.
constexpr size_t kMaxListedIssued = 10000;

Json Summary(const invoicing::Invoice& inv, const invoicing::StoredInvoice* stored) {
  const pricebook::Currency c = invoicing::CurrencyOf(inv.currency);
  Json j{{"number", inv.number},
         {"kind", invoicing::InvoiceKindName(inv.kind)},
         {"state", invoicing::InvoiceStateName(inv.state)},
         {"provisional", inv.provisional},
         {"account", inv.account},
         {"period_start", inv.period_start},
         {"period_end", inv.period_end},
         {"lines", inv.lines.size()},
         {"total", pricebook::FormatMinor(inv.total.minor, c)},
         {"total_micro", inv.total.micro},
         {"amount_due", pricebook::FormatMinor(inv.amount_due.minor, c)},
         {"amount_due_micro", inv.amount_due.micro},
         {"issued_at", inv.issued_at},
         {"due_at", inv.due_at}};
  if (!inv.credit_note_for.empty()) j["credit_note_for"] = inv.credit_note_for;
  if (stored != nullptr) {
    j["paid_micro"] = stored->paid;
    j["credited_micro"] = stored->credited;
  }
  return j;
}

Json StoredJson(const invoicing::StoredInvoice& s) {
  Json doc = invoicing::ToJson(s.invoice);
  doc["paid_micro"] = s.paid;
  doc["credited_micro"] = s.credited;
  Json events = Json::array();
  for (const invoicing::InvoiceEvent& e : s.events) {
    events.push_back(Json{{"kind", e.kind},
                          {"amount_micro", e.amount},
                          {"reference", e.reference},
                          {"actor", e.actor},
                          {"reason", e.reason},
                          {"at", e.at}});
  }
  doc["events"] = std::move(events);
  Json months = Json::object();
  for (const auto& [month, amount] : s.coverage.months) months[std::to_string(month)] = amount;
  doc["coverage"] = Json{{"watermark", s.coverage.watermark}, {"months", std::move(months)}};
  return doc;
}

Json ReportJson(const invoicing::RunReport& rep) {
  Json j{{"period_start", rep.period_start},
         {"period_end", rep.period_end},
         {"drafts", rep.drafts},
         {"issued", rep.drafts == 0 ? rep.invoices.size() : 0},
         {"already_issued", rep.already_issued},
         {"nothing_to_invoice", rep.nothing_to_invoice},
         {"open_hours", rep.open_hours.size()},
         {"rate_ms", rep.rate_ms},
         {"build_ms", rep.build_ms},
         {"store_ms", rep.store_ms}};
  Json refused = Json::array();
  for (const invoicing::AccountRefusal& a : rep.refused) {
    refused.push_back(Json{{"account", a.account}, {"reason", a.reason}});
  }
  j["refused"] = std::move(refused);
  Json list = Json::array();
  for (size_t i = 0; i < rep.invoices.size() && i < kMaxListed; ++i) {
    list.push_back(Summary(rep.invoices[i], nullptr));
  }
  j["invoices"] = std::move(list);
  j["invoices_total"] = rep.invoices.size();
  return j;
}

Json CollectJson(const invoicing::CollectReport& rep) {
  Json reminders = Json::array();
  for (const invoicing::CollectStep& st : rep.reminders) {
    reminders.push_back(Json{{"number", st.number},
                             {"account", st.account},
                             {"kind", st.kind},
                             {"day", st.day},
                             {"dunning_level", st.dunning_level}});
  }
  return Json{{"at", rep.at},
              {"outstanding", rep.outstanding},
              {"reminders", std::move(reminders)},
              {"held", rep.held},
              {"released", rep.released}};
}

invoicing::ScopeKind ScopeOf(wire::ChargeScope s) {
  switch (s) {
    case wire::ChargeScope::Domain:
      return invoicing::ScopeKind::kDomain;
    case wire::ChargeScope::Account:
      return invoicing::ScopeKind::kAccount;
    default:
      return invoicing::ScopeKind::kAll;
  }
}

}  // namespace

void MeterService::RunInvoice(const std::shared_ptr<std::vector<uint8_t>>& request,
                              const std::string& actor, const std::string& only_account,
                              const ResponderPtr& r) {
  const auto* q = flatbuffers::GetRoot<wire::InvoiceRequest>(request->data());
  const uint64_t id = q->request_id();
  auto fail = [&](const Status& st) {
    r->Send(net::ErrorFrame(id, net::ToWireCode(st), st.message()));
    r->Done();
  };
  if (invoicer_ == nullptr) return fail(Status::NotSupported("this server issues no invoices"));
  const int64_t now = base::UnixSecondsNow();
  const int64_t at = q->at() != 0 ? q->at() : now;
  const std::string number(View(q->number()));
  const std::string scope_id(View(q->scope_id()));
  if (q->scope() != wire::ChargeScope::All && q->scope() != wire::ChargeScope::Domain &&
      q->scope() != wire::ChargeScope::Account) {
    return fail(
        Status::InvalidArgument("invoices are run for all accounts, a domain or an account"));
  }
  if (q->scope() != wire::ChargeScope::All && scope_id.empty()) {
    return fail(Status::InvalidArgument("the scope needs an id"));
  }
  Result<Json> doc = Json::object();
  std::vector<uint8_t> pdf;
  switch (q->op()) {
    case wire::InvoiceOp::Run: {
      invoicing::RunRequest req;
      req.at = at;
      req.scope = ScopeOf(q->scope());
      req.scope_id = scope_id;
      req.provisional = q->provisional();
      req.now = now;
      auto rep = invoicer_->Run(req);
      if (!rep.ok()) return fail(rep.status());
      spdlog::info(
          "event=invoice_run period_start={} drafts={} refused={} rate_ms={:.1f} "
          "build_ms={:.1f} store_ms={:.1f}",
          rep->period_start, rep->drafts, rep->refused.size(), rep->rate_ms, rep->build_ms,
          rep->store_ms);
      doc = ReportJson(*rep);
      break;
    }
    case wire::InvoiceOp::Issue: {
      auto rep = invoicer_->IssueDrafts(ScopeOf(q->scope()), scope_id, at, actor, now);
      if (!rep.ok()) return fail(rep.status());
      spdlog::info("event=invoices_issued period_start={} issued={} refused={}", rep->period_start,
                   rep->invoices.size(), rep->refused.size());
      doc = ReportJson(*rep);
      break;
    }
    case wire::InvoiceOp::Drafts: {
      invoicing::ListFilter f;
      f.account = std::string(View(q->account()));
      // One account: its period containing `at` (its cycle); all: the UTC calendar month's.
      f.from = pricebook::MonthStart(at);
      if (!f.account.empty()) {
        auto period = invoicer_->PeriodOf(f.account, at);
        if (!period.ok()) return fail(period.status());
        f.from = period->start;
      }
      f.to = f.from + 1;
      f.limit = kMaxListed + 1;
      auto drafts = invoicer_->store()->Drafts(f);
      if (!drafts.ok()) return fail(drafts.status());
      Json list = Json::array();
      for (size_t i = 0; i < drafts->size() && i < kMaxListed; ++i) {
        const invoicing::Invoice& d = (*drafts)[i];
        list.push_back(f.account.empty() ? Summary(d, nullptr) : invoicing::ToJson(d));
      }
      doc = Json{{"drafts", std::move(list)}, {"truncated", drafts->size() > kMaxListed}};
      break;
    }
    case wire::InvoiceOp::List: {
      invoicing::ListFilter f;
      f.account = std::string(View(q->account()));
      if (q->from() != 0 || q->to() != 0) {
        f.from = q->from();
        f.to = q->to();
      }
      f.limit = kMaxListedIssued + 1;
      auto list = invoicer_->store()->List(f);
      if (!list.ok()) return fail(list.status());
      Json items = Json::array();
      for (size_t i = 0; i < list->size() && i < kMaxListedIssued; ++i) {
        items.push_back(Summary((*list)[i].invoice, &(*list)[i]));
      }
      doc = Json{{"invoices", std::move(items)}, {"truncated", list->size() > kMaxListedIssued}};
      break;
    }
    case wire::InvoiceOp::Show:
    case wire::InvoiceOp::Pdf: {
      auto s = invoicer_->store()->Get(number);
      if (!s.ok()) return fail(s.status());
      if (!only_account.empty() && s->invoice.account != only_account) {
        return fail(Status::PermissionDenied("a customer key reads only account \"" + only_account +
                                             "\"'s invoices"));
      }
      doc = StoredJson(*s);
      if (q->op() == wire::InvoiceOp::Pdf) {
        const auto t0 = std::chrono::steady_clock::now();
        auto bytes = invoicing::RenderInvoicePdf(s->invoice);
        if (!bytes.ok()) return fail(bytes.status());
        pdf.assign(bytes->begin(), bytes->end());
        spdlog::debug(
            "event=invoice_pdf number={} bytes={} ms={:.2f}", number, pdf.size(),
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
      }
      break;
    }
    case wire::InvoiceOp::Void:
    case wire::InvoiceOp::Pay:
    case wire::InvoiceOp::MarkPaid:
    case wire::InvoiceOp::CreditNote: {
      const std::string reference(View(q->reference())), reason(View(q->reason()));
      Result<invoicing::StoredInvoice> s = Status::InvalidArgument("unknown invoice operation");
      switch (q->op()) {
        case wire::InvoiceOp::Void:
          s = invoicer_->Void(number, reason, actor, now);
          break;
        case wire::InvoiceOp::Pay:
          s = invoicer_->Pay(number, q->amount_micro(), reference, actor, now);
          break;
        case wire::InvoiceOp::MarkPaid:
          s = invoicer_->MarkPaid(number, reference, actor, now);
          break;
        default:
          s = invoicer_->CreditNote(number, q->amount_micro(), reason, actor, now);
          break;
      }
      if (!s.ok()) return fail(s.status());
      doc = StoredJson(*s);
      break;
    }
    case wire::InvoiceOp::Collect: {
      if (collector_ == nullptr)
        return fail(Status::NotSupported("this server has no collections"));
      auto rep = collector_->Collect(at, now);
      if (!rep.ok()) return fail(rep.status());
      spdlog::info("event=collections at={} reminders={} held={} released={}", at,
                   rep->reminders.size(), rep->held.size(), rep->released.size());
      doc = CollectJson(*rep);
      break;
    }
    case wire::InvoiceOp::Statement: {
      const std::string account(View(q->account()));
      if (account.empty()) return fail(Status::InvalidArgument("a statement needs --account"));
      int64_t from = q->from() != 0 ? q->from() : INT64_MIN;
      int64_t to = q->to() != 0 ? q->to() : now + 1;
      if (q->at() != 0 && q->from() == 0 && q->to() == 0) {
        // The account's invoice period containing `at` (its cycle and zone).
        auto period = invoicer_->PeriodOf(account, q->at());
        if (!period.ok()) return fail(period.status());
        from = period->start;
        to = period->end;
      }
      auto st = invoicing::BuildStatement(*parts_.ledger, *invoicer_->store(), account, from, to);
      if (!st.ok()) return fail(st.status());
      doc = invoicing::StatementJson(*st);
      break;
    }
    case wire::InvoiceOp::Usage: {
      auto s = invoicer_->store()->Get(number);
      if (!s.ok()) return fail(s.status());
      const invoicing::Invoice& inv = s->invoice;
      if (inv.kind != invoicing::InvoiceKind::kInvoice) {
        return fail(Status::InvalidArgument(number + " is a credit note: it has no usage"));
      }
      // Rated as the run rated it: from the clock's start when it started inside the period.
      // The hour buckets the period bills (docs/billing-cycles.md): those starting inside it.
      auto ceil_hour = [](int64_t t) {
        return base::FloorDiv(t + base::kSecondsPerHour - 1, base::kSecondsPerHour) *
               base::kSecondsPerHour;
      };
      const int64_t first = ceil_hour(inv.period_start), end = ceil_hour(inv.period_end);
      const int64_t from = std::clamp(parts_.ledger->ClockStart().value_or(first), first, end);
      auto lines = RateResourceLines(from, end, inv.account);
      if (!lines.ok()) return fail(lines.status());
      doc = invoicing::UsageReportJson(invoicing::BuildUsageReport(inv, std::move(lines).value()));
      break;
    }
    default:
      return fail(Status::InvalidArgument("unknown invoice operation"));
  }
  flatbuffers::FlatBufferBuilder fbb(1 << 14);
  const std::string text = doc->dump(-1, ' ', false, Json::error_handler_t::replace);
  auto reply = wire::CreateInvoiceReply(fbb, id, fbb.CreateString(text),
                                        pdf.empty() ? 0 : fbb.CreateVector(pdf));
  r->Send(net::FinishFrame(fbb, reply));
  r->Done();
}

}  // namespace meterd::engine
