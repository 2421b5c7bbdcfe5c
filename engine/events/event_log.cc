// meterd — engine/events/event_log.cc
#include "engine/events/event_log.h"
#include "storage/base/clock.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

namespace meterd::engine::events {
namespace {

using tenancy::BillingDb;
using tenancy::Statement;
using tenancy::Transaction;

constexpr std::string_view kEventsModule = "events";
constexpr int64_t kEventsSchemaVersion = 1;

// AUTOINCREMENT (not a plain rowid alias): an id is never reused, even the id of the newest
// row after a rollback, so a reader's position can never point at a different event later.
// `events_by_account` serves ReadAfter with an account (a webhook with an account filter).
constexpr std::string_view kEventsSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL,
  kind TEXT NOT NULL,
  at INTEGER NOT NULL,
  payload TEXT NOT NULL,
  recorded_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_account ON events(account, id);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
)sql";

// Kinds are short identifiers so that a webhook's comma-separated kind filter stays
// unambiguous; 64 characters is far more than any kind needs.
constexpr size_t kMaxKindLength = 64;

Status CheckPayload(std::string_view payload) {
  if (payload.empty()) return Status::OK();
  const auto parsed = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Status::InvalidArgument("event payload is not valid JSON");
  if (!parsed.is_object()) return Status::InvalidArgument("event payload is not a JSON object");
  return Status::OK();
}

}  // namespace

Status EventLog::CreateSchema(Transaction& txn) {
  return BillingDb::EnsureSchema(txn, kEventsModule, kEventsSchemaVersion, kEventsSchema);
}

Result<std::unique_ptr<EventLog>> EventLog::Open(BillingDb* db) {
  {
    METERD_ASSIGN_OR_RETURN(Transaction txn, db->Begin());
    METERD_RETURN_IF_ERROR(CreateSchema(txn));
    METERD_RETURN_IF_ERROR(txn.Commit());
  }
  std::unique_ptr<EventLog> log(new EventLog(db));
  METERD_ASSIGN_OR_RETURN(int64_t last, log->ReadLastId());
  log->last_id_ = last;
  return log;
}

EventLog::~EventLog() = default;

bool EventLog::ValidKind(std::string_view kind) {
  if (kind.empty() || kind.size() > kMaxKindLength) return false;
  if (kind[0] < 'a' || kind[0] > 'z') return false;
  return std::all_of(kind.begin(), kind.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

Result<int64_t> EventLog::Append(Transaction& txn, const Event& e) {
  if (!ValidKind(e.kind)) {
    return Status::InvalidArgument("event kind '" + e.kind +
                                   "' is not of the form [a-z][a-z0-9_.]{0,63}");
  }
  METERD_RETURN_IF_ERROR(CheckPayload(e.payload));
  Result<Statement> prepared = txn.Prepare(
      "INSERT INTO events(account, kind, at, payload, recorded_at) "
      "VALUES(?1, ?2, ?3, ?4, ?5) RETURNING id");
  if (!prepared.ok()) {
    return prepared.status().WithContext("events (EventLog::Open creates the table)");
  }
  Statement st = std::move(prepared).value();
  st.Bind(1, e.account)
      .Bind(2, e.kind)
      .Bind(3, e.at)
      .Bind(4, e.payload.empty() ? std::string_view("{}") : std::string_view(e.payload))
      .Bind(5, base::UnixSecondsNow());
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::IOError("events: INSERT ... RETURNING gave no id");
  const int64_t id = st.Int(0);
  METERD_RETURN_IF_ERROR(st.Run());
  return id;
}

Result<int64_t> EventLog::ReadLastId() {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT COALESCE(MAX(id), 0) FROM events"));
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.Int(0) : int64_t{0};  // the statement, then the transaction, roll back
}

void EventLog::Notify() {
  Result<int64_t> last = ReadLastId();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (last.ok() && *last > last_id_) last_id_ = *last;
    ++generation_;
  }
  cv_.notify_all();
  std::lock_guard<std::mutex> lock(listeners_mu_);
  for (auto& [handle, fn] : listeners_) fn();
}

Result<std::vector<Event>> EventLog::ReadAfter(int64_t after_id, size_t limit,
                                               std::string_view account) {
  std::vector<Event> out;
  if (limit == 0) return out;
  const int64_t bound_limit =
      static_cast<int64_t>(std::min<size_t>(limit, std::numeric_limits<int32_t>::max()));
  {
    METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare(account.empty()
                        ? "SELECT id, account, kind, at, payload, recorded_at FROM events "
                          "WHERE id > ?1 ORDER BY id LIMIT ?2"
                        : "SELECT id, account, kind, at, payload, recorded_at FROM events "
                          "WHERE account = ?3 AND id > ?1 ORDER BY id LIMIT ?2"));
    st.Bind(1, after_id).Bind(2, bound_limit);
    if (!account.empty()) st.Bind(3, account);
    out.reserve(std::min<size_t>(limit, 1024));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      Event e;
      e.id = st.Int(0);
      e.account = st.Text(1);
      e.kind = st.Text(2);
      e.at = st.Int(3);
      e.payload = st.Text(4);
      e.recorded_at = st.Int(5);
      out.push_back(std::move(e));
    }
  }  // the statement is finalized, then the read-only transaction rolls back
  if (!out.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    last_id_ = std::max(last_id_, out.back().id);
  }
  return out;
}

int64_t EventLog::LastId() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_id_;
}

bool EventLog::WaitAfter(int64_t after_id, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t generation = generation_;
  cv_.wait_for(lock, timeout,
               [&] { return stopped_ || last_id_ > after_id || generation_ != generation; });
  return !stopped_;
}

void EventLog::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

int EventLog::AddListener(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  const int handle = next_listener_++;
  listeners_.emplace(handle, std::move(fn));
  return handle;
}

void EventLog::RemoveListener(int handle) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  listeners_.erase(handle);
}

}  // namespace meterd::engine::events
