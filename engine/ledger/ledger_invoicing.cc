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
  std::map<int64_t, MicroCredits> out;
  if (upto_id <= after_id) return out;
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  // The partial index ledger_entries_clock_adjustments (schema version 4): one seek.
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    SELECT month, -SUM(amount) FROM ledger_entries INDEXED BY ledger_entries_clock_adjustments
    WHERE account = ?1 AND id > ?2 AND id <= ?3 AND kind = 'adjustment' AND hour IS NOT NULL
      AND month < ?4
    GROUP BY month)sql"));
  st.Bind(1, account).Bind(2, after_id).Bind(3, upto_id).Bind(4, before_month);
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (st.Int(1) != 0) out[st.Int(0)] = st.Int(1);
  }
  return out;
}

}  // namespace meterd::engine::ledger
