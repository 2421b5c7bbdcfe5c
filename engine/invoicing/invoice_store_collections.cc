// meterd — engine/invoicing/invoice_store_collections.cc
//
// What collections reads and writes of the invoice tables (invoice_store.h, "collections"):
// the outstanding invoices, and reminder events appended once per step with their outbox event.
#include <charconv>

#include "engine/invoicing/invoice_store.h"

namespace meterd::engine::invoicing {

using tenancy::Statement;
using tenancy::Transaction;

namespace {

constexpr std::string_view kDayPrefix = "day:";

// The day of a reminder's reference "day:<n>"; nullopt for another reference.
std::optional<int64_t> DayOf(std::string_view reference) {
  if (!reference.starts_with(kDayPrefix)) return std::nullopt;
  reference.remove_prefix(kDayPrefix.size());
  int64_t v = 0;
  auto [end, ec] = std::from_chars(reference.data(), reference.data() + reference.size(), v);
  if (ec != std::errc() || end != reference.data() + reference.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<std::vector<OutstandingInvoice>> InvoiceStore::Outstanding() const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    SELECT i.number, i.account, i.issued_at, i.due_at, i.amount_due,
      (SELECT COALESCE(SUM(e.amount), 0) FROM invoice_events e
        WHERE e.invoice_id = i.id AND e.kind = 'payment'),
      (SELECT COALESCE(SUM(c.total), 0) FROM invoices c WHERE c.credit_for = i.id),
      (SELECT MAX(CAST(substr(e.reference, 5) AS INTEGER)) FROM invoice_events e
        WHERE e.invoice_id = i.id AND e.kind = 'reminder' AND e.reference LIKE 'day:%')
    FROM invoices i
    WHERE i.kind = 'invoice' AND NOT EXISTS (SELECT 1 FROM invoice_events e
      WHERE e.invoice_id = i.id AND (e.kind = 'paid' OR e.kind = 'void'))
    ORDER BY i.due_at, i.id)sql"));
  std::vector<OutstandingInvoice> out;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    OutstandingInvoice o{st.Text(0), st.Text(1), st.Int(2), st.Int(3),
                         st.Int(4),  st.Int(5),  st.Int(6), std::nullopt};
    if (!st.IsNull(7)) o.last_reminder_day = st.Int(7);
    out.push_back(std::move(o));
  }
  return out;
}

Result<bool> InvoiceStore::AddReminder(std::string_view number, int64_t day, InvoiceEvent event,
                                       const events::Event& outbox) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  int64_t id = 0;
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("SELECT id FROM invoices WHERE number = ?1 AND "
                                        "kind = 'invoice'"));
    st.Bind(1, number);
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("no invoice numbered '" + std::string(number) + "'");
    id = st.Int(0);
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("SELECT reference FROM invoice_events WHERE invoice_id "
                                        "= ?1 AND kind = 'reminder'"));
    st.Bind(1, id);
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      std::optional<int64_t> done = DayOf(st.Text(0));
      if (done && *done >= day) return false;  // this step or a later one was sent
    }
  }
  event.kind = "reminder";
  event.reference = std::string(kDayPrefix) + std::to_string(day);
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      INSERT INTO invoice_events (invoice_id, kind, amount, reference, actor, reason, at)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7))sql"));
    st.Bind(1, id).Bind(2, event.kind).Bind(3, event.amount).Bind(4, event.reference);
    st.Bind(5, event.actor).Bind(6, event.reason).Bind(7, event.at);
    METERD_RETURN_IF_ERROR(st.Run());
  }
  METERD_RETURN_IF_ERROR(events::EventLog::Append(txn, outbox).status());
  METERD_RETURN_IF_ERROR(txn.Commit());
  return true;
}

}  // namespace meterd::engine::invoicing
