// meterd — engine/events/email_store.cc
#include "engine/events/email_store.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "engine/events/event_log.h"
#include "storage/base/clock.h"

namespace meterd::engine::events {
namespace {

using tenancy::BillingDb;
using tenancy::Statement;
using tenancy::Transaction;

constexpr std::string_view kEmailModule = "emails";
constexpr int64_t kEmailSchemaVersion = 1;

// `email_start` holds at most one row (id = 1), written once. The log has two indexes:
// (delivered, event_id) answers Resume with one seek, (event_id, recipient) answers
// DeliveredRecipients, AttemptCount and per-event listings.
constexpr std::string_view kEmailSchema = R"sql(
CREATE TABLE IF NOT EXISTS email_start (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  after_event_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS email_start_no_update BEFORE UPDATE ON email_start
BEGIN SELECT RAISE(ABORT, 'email_start is written once'); END;
CREATE TRIGGER IF NOT EXISTS email_start_no_delete BEFORE DELETE ON email_start
BEGIN SELECT RAISE(ABORT, 'email_start is written once'); END;
CREATE TABLE IF NOT EXISTS email_deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id INTEGER NOT NULL REFERENCES events(id),
  recipient TEXT NOT NULL,
  attempt INTEGER NOT NULL CHECK (attempt >= 1),
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  smtp_status INTEGER NOT NULL,
  error TEXT NOT NULL,
  delivered INTEGER NOT NULL CHECK (delivered = 0 OR delivered = 1));
CREATE INDEX IF NOT EXISTS email_deliveries_position ON email_deliveries(delivered, event_id);
CREATE INDEX IF NOT EXISTS email_deliveries_by_event ON email_deliveries(event_id, recipient);
CREATE TRIGGER IF NOT EXISTS email_deliveries_no_update BEFORE UPDATE ON email_deliveries
BEGIN SELECT RAISE(ABORT, 'email deliveries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS email_deliveries_no_delete BEFORE DELETE ON email_deliveries
BEGIN SELECT RAISE(ABORT, 'email deliveries are append-only'); END;
)sql";

}  // namespace

Result<std::unique_ptr<EmailStore>> EmailStore::Open(BillingDb* db) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db->Begin());
  METERD_RETURN_IF_ERROR(EventLog::CreateSchema(txn));  // deliveries refer to events
  METERD_RETURN_IF_ERROR(
      BillingDb::EnsureSchema(txn, kEmailModule, kEmailSchemaVersion, kEmailSchema));
  METERD_RETURN_IF_ERROR(txn.Commit());
  return std::unique_ptr<EmailStore>(new EmailStore(db));
}

Result<int64_t> EmailStore::Start() {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("SELECT after_event_id FROM email_start WHERE id = 1"));
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) return st.Int(0);  // read only: the transaction rolls back
  }
  int64_t floor = 0;
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT COALESCE(MAX(id), 0) FROM events"));
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    floor = row ? st.Int(0) : 0;
  }
  {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO email_start(id, after_event_id, created_at) VALUES(1, ?1, ?2)"));
    st.Bind(1, floor).Bind(2, base::UnixSecondsNow());
    METERD_RETURN_IF_ERROR(st.Run());
  }
  METERD_RETURN_IF_ERROR(txn.Commit());
  return floor;
}

Result<int64_t> EmailStore::Resume() const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  int64_t floor = 0;
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("SELECT after_event_id FROM email_start WHERE id = 1"));
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("email_start: the email channel was never started");
    floor = st.Int(0);
  }
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT MAX(event_id) FROM email_deliveries "
                                                    "WHERE delivered = 1"));
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  if (row && !st.IsNull(0)) floor = std::max(floor, st.Int(0) - 1);
  return floor;
}

Result<std::vector<std::string>> EmailStore::DeliveredRecipients(int64_t event_id) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st,
                          txn.Prepare("SELECT DISTINCT recipient FROM email_deliveries "
                                      "WHERE event_id = ?1 AND delivered = 1"));
  st.Bind(1, event_id);
  std::vector<std::string> out;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(st.Text(0));
  }
  return out;
}

Result<int64_t> EmailStore::AttemptCount(int64_t event_id, std::string_view recipient) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT COUNT(*) FROM email_deliveries "
                                                    "WHERE event_id = ?1 AND recipient = ?2"));
  st.Bind(1, event_id).Bind(2, recipient);
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.Int(0) : int64_t{0};
}

Result<int64_t> EmailStore::RecordAttempt(const EmailDelivery& d) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  int64_t seq = 0;
  {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO email_deliveries(event_id, recipient, attempt, started_at, "
                    "duration_ms, smtp_status, error, delivered) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING seq"));
    st.Bind(1, d.event_id)
        .Bind(2, d.recipient)
        .Bind(3, d.attempt)
        .Bind(4, d.started_at)
        .Bind(5, d.duration_ms)
        .Bind(6, static_cast<int64_t>(d.smtp_status))
        .Bind(7, d.error)
        .Bind(8, int64_t{d.delivered ? 1 : 0});
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::IOError("email_deliveries: INSERT ... RETURNING gave no seq");
    seq = st.Int(0);
    METERD_RETURN_IF_ERROR(st.Run());
  }
  METERD_RETURN_IF_ERROR(txn.Commit());
  return seq;
}

Result<std::vector<EmailDelivery>> EmailStore::Deliveries(std::optional<int64_t> event_id,
                                                          size_t limit) const {
  std::vector<EmailDelivery> out;
  if (limit == 0) return out;
  std::string sql =
      "SELECT seq, event_id, recipient, attempt, started_at, duration_ms, smtp_status, error, "
      "delivered FROM email_deliveries";
  if (event_id) sql += " WHERE event_id = ?2";
  sql += " ORDER BY seq DESC LIMIT ?1";
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(sql));
  st.Bind(1, static_cast<int64_t>(std::min<size_t>(limit, std::numeric_limits<int32_t>::max())));
  if (event_id) st.Bind(2, *event_id);
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    EmailDelivery d;
    d.seq = st.Int(0);
    d.event_id = st.Int(1);
    d.recipient = st.Text(2);
    d.attempt = st.Int(3);
    d.started_at = st.Int(4);
    d.duration_ms = st.Int(5);
    d.smtp_status = static_cast<int>(st.Int(6));
    d.error = st.Text(7);
    d.delivered = st.Int(8) != 0;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace meterd::engine::events
