// meterd — engine/invoicing/collections.cc
#include "engine/invoicing/collections.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/pricebook/money.h"

namespace meterd::engine::invoicing {
namespace {

constexpr int64_t kDay = 86400;

std::string_view KindOf(int64_t day) {
  return day < 0 ? kKindInvoiceReminder : day == 0 ? kKindInvoiceDue : kKindInvoiceOverdue;
}

int64_t WallClock() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int DunningLevel(const std::vector<int64_t>& days, int64_t day) {
  if (day <= 0) return 0;
  int level = 0;
  for (int64_t d : days) {
    if (d > 0 && d <= day) ++level;
  }
  return level;
}

Status ReleaseIfSettled(ledger::Ledger* ledger, const StoredInvoice& s, int64_t at, int64_t now) {
  const Invoice& inv = s.invoice;
  if (inv.kind != InvoiceKind::kInvoice) return Status::OK();
  const bool settled =
      inv.state != InvoiceState::kIssued || inv.amount_due.micro - s.paid - s.credited <= 0;
  if (!settled) return Status::OK();
  const std::vector<std::string> holds = ledger->Holds(inv.account);
  if (std::find(holds.begin(), holds.end(), inv.number) == holds.end()) return Status::OK();
  ledger::HoldChange c;
  c.account = inv.account;
  c.reference = inv.number;
  c.hold = false;
  c.actor = std::string(kCollectionsActor);
  c.reason = inv.number + " is " + InvoiceStateName(inv.state) +
             (inv.state == InvoiceState::kIssued ? " with nothing outstanding" : "");
  c.at = at;
  return ledger->SetHold(c, now).status();
}

Result<CollectReport> Collector::Collect(int64_t at, int64_t now) {
  std::lock_guard pass(pass_mu_);
  CollectReport report;
  report.at = at;
  METERD_ASSIGN_OR_RETURN(std::vector<OutstandingInvoice> open, store_->Outstanding());
  report.outstanding = open.size();
  bool appended = false;
  for (const OutstandingInvoice& inv : open) {
    if (inv.outstanding() <= 0) continue;  // settled by credit notes; released below
    const ledger::CollectionPolicy policy = ledger_->Collections(inv.account);
    // 1. The latest reminder step due.
    std::optional<int64_t> step;
    for (int64_t d : policy.reminder_days) {
      if (at >= inv.due_at + d * kDay) step = d;
    }
    // Already sent (or a later one): skip without a transaction; AddReminder checks again.
    if (step && inv.last_reminder_day && *inv.last_reminder_day >= *step) step.reset();
    if (step) {
      CollectStep s{inv.number, inv.account, std::string(KindOf(*step)), *step,
                    DunningLevel(policy.reminder_days, *step)};
      const int64_t days_overdue = at >= inv.due_at ? (at - inv.due_at) / kDay : 0;
      nlohmann::json payload = {{"number", inv.number},
                                {"day", *step},
                                {"dunning_level", s.dunning_level},
                                {"days_overdue", days_overdue},
                                {"issued_at", inv.issued_at},
                                {"due_at", inv.due_at},
                                {"amount_due", pricebook::FormatCredits(inv.amount_due)},
                                {"amount_due_micro", inv.amount_due},
                                {"outstanding", pricebook::FormatCredits(inv.outstanding())},
                                {"outstanding_micro", inv.outstanding()}};
      events::Event ev;
      ev.account = inv.account;
      ev.kind = s.kind;
      ev.at = at;
      ev.payload = payload.dump();
      InvoiceEvent ie;
      ie.amount = inv.outstanding();
      ie.actor = std::string(kCollectionsActor);
      ie.reason = s.kind + (s.dunning_level > 0 ? " level " + std::to_string(s.dunning_level) : "");
      ie.at = at;
      METERD_ASSIGN_OR_RETURN(bool sent, store_->AddReminder(inv.number, *step, ie, ev));
      if (sent) {
        appended = true;
        report.reminders.push_back(std::move(s));
      }
    }
    // 2. The credit limit by days overdue.
    if (policy.overdue_days && at > inv.due_at + *policy.overdue_days * kDay) {
      ledger::HoldChange c;
      c.account = inv.account;
      c.reference = inv.number;
      c.actor = std::string(kCollectionsActor);
      c.reason = inv.number + " is unpaid more than " + std::to_string(*policy.overdue_days) +
                 " days after its due date";
      c.at = at;
      Result<ledger::HoldResult> r = ledger_->SetHold(c, now);
      if (r.status().code() == Status::Code::kNotFound) {
        // An account the tenancy no longer has: nothing to suspend; the others go on.
        spdlog::warn("event=collections_hold_skipped number={} error=\"{}\"", inv.number,
                     r.status().ToString());
        continue;
      }
      if (!r.ok()) return r.status();
      if (r->changed) report.held.push_back(inv.number);
    }
  }
  if (appended && events_ != nullptr) events_->Notify();
  // 3. Holds whose invoice is settled.
  for (const auto& [account, refs] : ledger_->AllHolds()) {
    for (const std::string& number : refs) {
      Result<StoredInvoice> s = store_->Get(number);
      if (!s.ok()) {
        spdlog::warn("event=collections_hold_unknown account={} reference={} error=\"{}\"", account,
                     number, s.status().ToString());
        continue;
      }
      const size_t before = ledger_->Holds(account).size();
      METERD_RETURN_IF_ERROR(ReleaseIfSettled(ledger_, *s, at, now));
      if (ledger_->Holds(account).size() < before) report.released.push_back(number);
    }
  }
  return report;
}

void Collector::Start(std::chrono::seconds interval) {
  Stop();
  {
    std::lock_guard l(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this, interval] {
    std::unique_lock l(mu_);
    while (!stopping_) {
      l.unlock();
      const int64_t now = WallClock();
      Result<CollectReport> r = Collect(now, now);
      if (!r.ok()) {
        spdlog::error("event=collections_failed error=\"{}\"", r.status().ToString());
      } else if (!r->reminders.empty() || !r->held.empty() || !r->released.empty()) {
        spdlog::info("event=collections reminders={} held={} released={}", r->reminders.size(),
                     r->held.size(), r->released.size());
      }
      l.lock();
      cv_.wait_for(l, interval, [this] { return stopping_; });
    }
  });
}

void Collector::Stop() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace meterd::engine::invoicing
