// meterd — engine/ledger/ledger_invoicing.cc
//
// What invoices read of the ledger (ledger.h, "invoicing"): a month's billed amounts with a
// per-account watermark, and the clock's adjustments booked between two watermarks.
#include <mutex>

#include "engine/ledger/ledger.h"
#include "engine/ledger/ledger_impl.h"
#include "engine/pricebook/pricing.h"

namespace meterd::engine::ledger {

using tenancy::Statement;
using tenancy::Transaction;

Result<std::unordered_map<std::string, Ledger::MonthWatermark>> Ledger::BilledWithWatermarks(
    int64_t month) const {
  std::unordered_map<std::string, MonthWatermark> out;
  {
    std::shared_lock lock(impl_->mu);
    if (auto m = impl_->billed.find(month); m != impl_->billed.end()) {
      out.reserve(m->second.size());
      for (const auto& [account, billed] : m->second) {
        const auto book = impl_->books.find(account);
        out.emplace(account, MonthWatermark{
                                 billed, book == impl_->books.end() ? 0 : book->second.last_entry});
      }
      return out;
    }
  }
  // Not kept in memory: a month the clock no longer adjusts (or none it billed), so its
  // billed amounts are final and any later entry id is a valid watermark.
  METERD_ASSIGN_OR_RETURN(auto billed, BilledByAccount(month));
  std::shared_lock lock(impl_->mu);
  out.reserve(billed.size());
  for (const auto& [account, amount] : billed) {
    const auto book = impl_->books.find(account);
    out.emplace(account,
                MonthWatermark{amount, book == impl_->books.end() ? 0 : book->second.last_entry});
  }
  return out;
}

Result<std::map<int64_t, MicroCredits>> Ledger::ClockAdjustmentsBetween(
    std::string_view account, int64_t after_id, int64_t upto_id, int64_t before_month) const {
  METERD_ASSIGN_OR_RETURN(
      auto all, ClockAdjustmentsOf({{std::string(account), after_id, upto_id}}, before_month));
  auto it = all.find(std::string(account));
  if (it == all.end()) return std::map<int64_t, MicroCredits>{};
  return std::move(it->second);
}

Result<std::unordered_map<std::string, std::map<int64_t, MicroCredits>>> Ledger::ClockAdjustmentsOf(
    const std::vector<AdjustmentQuery>& queries, int64_t before_month) const {
  std::unordered_map<std::string, std::map<int64_t, MicroCredits>> out;
  if (queries.empty()) return out;
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  // The partial index ledger_entries_clock_adjustments (schema version 4): one seek each.
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    SELECT month, -SUM(amount) FROM ledger_entries INDEXED BY ledger_entries_clock_adjustments
    WHERE account = ?1 AND id > ?2 AND id <= ?3 AND kind = 'adjustment' AND hour IS NOT NULL
      AND month < ?4
    GROUP BY month)sql"));
  for (const AdjustmentQuery& q : queries) {
    if (q.upto_id <= q.after_id) continue;
    st.Bind(1, q.account).Bind(2, q.after_id).Bind(3, q.upto_id).Bind(4, before_month);
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      if (st.Int(1) != 0) out[q.account][st.Int(0)] = st.Int(1);
    }
    METERD_RETURN_IF_ERROR(st.Reset());
  }
  return out;
}

Result<std::unordered_map<std::string, MicroCredits>> Ledger::GrantsUsed(
    const std::unordered_map<std::string, int64_t>& upto, int64_t month) const {
  std::unordered_map<std::string, MicroCredits> out;
  if (upto.empty()) return out;
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  // Through the grant_id index: only entries that drew on a grant are read (clock entries have
  // an hour; a grant's expiry has none and is not a use).
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    SELECT account, id, amount FROM ledger_entries INDEXED BY ledger_entries_grant
    WHERE grant_id > 0 AND month = ?1 AND hour IS NOT NULL AND kind != 'grant_expiry')sql"));
  st.Bind(1, month);
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    auto it = upto.find(st.Text(0));
    if (it == upto.end() || st.Int(1) > it->second) continue;
    out[it->first] -= st.Int(2);
  }
  return out;
}

Result<std::unordered_map<std::string, Ledger::HoursWatermark>> Ledger::BilledInHours(
    int64_t from_hour, int64_t to_hour, const std::vector<std::string>& accounts) const {
  std::unordered_map<std::string, HoursWatermark> out;
  if (from_hour >= to_hour) return out;
  // The watermarks first: an entry booked after them is not counted, so billed and watermark
  // agree however the clock runs meanwhile.
  std::unordered_map<std::string, int64_t> marks;
  {
    std::shared_lock lock(impl_->mu);
    if (accounts.empty()) {
      for (const auto& [account, book] : impl_->books) marks.emplace(account, book.last_entry);
    } else {
      for (const std::string& a : accounts) {
        const auto book = impl_->books.find(a);
        if (book != impl_->books.end()) marks.emplace(a, book->second.last_entry);
      }
    }
  }
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  // The (hour, account) index of the clock's entries: the period's hours, in order.
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    SELECT account, id, amount, grant_id IS NOT NULL FROM ledger_entries
    INDEXED BY ledger_entries_hour
    WHERE hour >= ?1 AND hour < ?2 AND hour IS NOT NULL AND kind IN ('usage', 'fee')
      AND (?3 = '' OR account = ?3))sql"));
  st.Bind(1, from_hour)
      .Bind(2, to_hour)
      .Bind(3, accounts.size() == 1 ? accounts[0] : std::string());
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    const auto mark = marks.find(st.Text(0));
    if (mark == marks.end() || st.Int(1) > mark->second) continue;
    HoursWatermark& w = out[mark->first];
    w.last_entry = mark->second;
    w.billed -= st.Int(2);
    if (st.Int(3) != 0) w.grants_used -= st.Int(2);
  }
  return out;
}

Result<std::map<int64_t, std::vector<EntryTax>>> Ledger::TopUpTaxes(std::string_view account,
                                                                    int64_t from,
                                                                    int64_t to) const {
  std::map<int64_t, std::vector<EntryTax>> out;
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  // The account's manual entries by (account, id) (ledger_entries_account), then their taxes.
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    SELECT t.entry_id, t.name, t.country, t.region, t.rate_ppm, t.reverse_charge, t.base, t.amount
    FROM ledger_entries e INDEXED BY ledger_entries_account
    JOIN topup_taxes t ON t.entry_id = e.id
    WHERE e.account = ?1 AND e.hour IS NULL AND e.kind = 'topup' AND e.at >= ?2 AND e.at < ?3
    ORDER BY t.entry_id, t.seq)sql"));
  st.Bind(1, account).Bind(2, from).Bind(3, to);
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out[st.Int(0)].push_back(EntryTax{st.Text(1), st.Text(2), st.Text(3), st.Int(4), st.Int(5) != 0,
                                      st.Int(6), st.Int(7)});
  }
  return out;
}

}  // namespace meterd::engine::ledger
