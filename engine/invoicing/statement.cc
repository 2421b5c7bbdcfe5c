// meterd — engine/invoicing/statement.cc
#include "engine/invoicing/statement.h"

#include <algorithm>

#include "engine/pricebook/money.h"
#include "engine/pricebook/pricing.h"

namespace meterd::engine::invoicing {

Result<AccountStatement> BuildStatement(const ledger::Ledger& ledger, const InvoiceStore& store,
                                        const std::string& account, int64_t from, int64_t to) {
  if (from >= to) return Status::InvalidArgument("a statement needs --from before --to");
  METERD_RETURN_IF_ERROR(ledger.Balance(account).status());  // NotFound for an unknown account
  AccountStatement s;
  s.account = account;
  s.from = from;
  s.to = to;
  // One read: the opening sums what precedes `from`, the lines are the rest.
  METERD_ASSIGN_OR_RETURN(std::vector<ledger::Entry> all, ledger.Entries(account, INT64_MIN, to));
  size_t in_period = 0;
  for (const ledger::Entry& e : all) in_period += e.at >= from;
  if (in_period > kMaxStatementEntries) {
    return Status::InvalidArgument("the period has " + std::to_string(in_period) +
                                   " ledger entries, more than a statement lists (" +
                                   std::to_string(kMaxStatementEntries) +
                                   "): ask for a shorter period");
  }
  s.entries.reserve(in_period);
  for (ledger::Entry& e : all) {
    if (e.at < from) {
      s.opening += e.amount;
      continue;
    }
    (e.amount >= 0 ? s.credits : s.debits) += e.amount;
    s.entries.push_back(StatementLine{std::move(e), 0, {}});
  }
  // The taxes charged on the period's top-ups (vat_on_prepaid: topup; topup_taxes.h).
  METERD_ASSIGN_OR_RETURN(auto taxes, ledger.TopUpTaxes(account, from, to));
  MicroCredits running = s.opening;
  for (StatementLine& l : s.entries) {
    running += l.entry.amount;
    l.balance_after = running;
    if (auto it = taxes.find(l.entry.id); it != taxes.end()) {
      l.taxes = std::move(it->second);
      for (const ledger::EntryTax& x : l.taxes) s.topup_taxes += x.amount;
    }
  }
  s.closing = running;
  // Documents issued in the period (any period they cover).
  ListFilter f;
  f.account = account;
  METERD_ASSIGN_OR_RETURN(std::vector<StoredInvoice> docs, store.List(f));
  for (const StoredInvoice& d : docs) {
    const Invoice& inv = d.invoice;
    if (inv.issued_at < from || inv.issued_at >= to) continue;
    s.documents.push_back(
        StatementDocument{inv.number, InvoiceKindName(inv.kind), InvoiceStateName(inv.state),
                          inv.credit_note_for, inv.period_start, inv.period_end, inv.issued_at,
                          inv.due_at, inv.total.micro, inv.amount_due.micro, d.paid, d.credited});
  }
  std::stable_sort(s.documents.begin(), s.documents.end(),
                   [](const StatementDocument& a, const StatementDocument& b) {
                     return a.issued_at < b.issued_at;
                   });
  return s;
}

nlohmann::ordered_json StatementJson(const AccountStatement& s) {
  using Json = nlohmann::ordered_json;
  auto amount = [](MicroCredits m) {
    return Json{{"credits", pricebook::FormatCredits(m)}, {"micro", m}};
  };
  Json entries = Json::array();
  for (const StatementLine& l : s.entries) {
    const ledger::Entry& e = l.entry;
    Json j{{"id", e.id},
           {"at", e.at},
           {"kind", ledger::EntryKindName(e.kind)},
           {"amount", amount(e.amount)},
           {"balance_after", amount(l.balance_after)},
           {"reference", e.reference},
           {"reason", e.reason},
           {"actor", e.actor}};
    if (!l.taxes.empty()) {
      Json taxes = Json::array();
      for (const ledger::EntryTax& x : l.taxes) {
        taxes.push_back(Json{{"name", x.name},
                             {"country", x.country},
                             {"region", x.region},
                             {"rate", pricebook::FormatQuantity(x.rate_ppm, 10000)},
                             {"reverse_charge", x.reverse_charge},
                             {"base", amount(x.base)},
                             {"amount", amount(x.amount)}});
      }
      j["taxes"] = std::move(taxes);
    }
    entries.push_back(std::move(j));
  }
  Json docs = Json::array();
  for (const StatementDocument& d : s.documents) {
    Json j{{"number", d.number},
           {"kind", d.kind},
           {"state", d.state},
           {"period_start", d.period_start},
           {"period_end", d.period_end},
           {"issued_at", d.issued_at},
           {"due_at", d.due_at},
           {"total", amount(d.total)},
           {"amount_due", amount(d.amount_due)},
           {"paid", amount(d.paid)},
           {"credited", amount(d.credited)}};
    if (!d.credit_note_for.empty()) j["credit_note_for"] = d.credit_note_for;
    docs.push_back(std::move(j));
  }
  return Json{{"account", s.account},
              {"from", s.from},
              {"to", s.to},
              {"opening_balance", amount(s.opening)},
              {"credits", amount(s.credits)},
              {"debits", amount(s.debits)},
              {"closing_balance", amount(s.closing)},
              {"topup_taxes", amount(s.topup_taxes)},
              {"entries", std::move(entries)},
              {"documents", std::move(docs)}};
}

}  // namespace meterd::engine::invoicing
