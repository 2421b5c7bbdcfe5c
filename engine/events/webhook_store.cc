// meterd — engine/events/webhook_store.cc
#include "engine/events/webhook_store.h"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "engine/events/blanks.h"
#include "engine/events/http_client.h"
#include "engine/events/signature.h"
#include "storage/base/clock.h"

namespace meterd::engine::events {
namespace {

using tenancy::BillingDb;
using tenancy::Statement;
using tenancy::Transaction;

constexpr std::string_view kWebhookModule = "webhooks";
constexpr int64_t kWebhookSchemaVersion = 1;

// Webhook rows change only by being removed, once; deliveries never change. Two indexes on
// the log: (webhook, delivered, event) answers DeliveredThrough with one seek (MAX over an
// equality prefix), (webhook, event) answers AttemptCount and per-webhook listings.
constexpr std::string_view kWebhookSchema = R"sql(
CREATE TABLE IF NOT EXISTS webhooks (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  kinds TEXT NOT NULL,
  account TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  after_event_id INTEGER NOT NULL,
  removed_at INTEGER);
CREATE TRIGGER IF NOT EXISTS webhooks_no_delete BEFORE DELETE ON webhooks
BEGIN SELECT RAISE(ABORT, 'webhooks are never deleted (removal sets removed_at)'); END;
CREATE TRIGGER IF NOT EXISTS webhooks_remove_only BEFORE UPDATE ON webhooks
WHEN OLD.removed_at IS NOT NULL OR NEW.removed_at IS NULL
  OR NEW.id IS NOT OLD.id OR NEW.url IS NOT OLD.url OR NEW.secret IS NOT OLD.secret
  OR NEW.kinds IS NOT OLD.kinds OR NEW.account IS NOT OLD.account
  OR NEW.created_at IS NOT OLD.created_at OR NEW.after_event_id IS NOT OLD.after_event_id
BEGIN SELECT RAISE(ABORT, 'a webhook changes only by being removed, once'); END;
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id INTEGER NOT NULL REFERENCES events(id),
  webhook_id TEXT NOT NULL REFERENCES webhooks(id),
  attempt INTEGER NOT NULL CHECK (attempt >= 1),
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  http_status INTEGER NOT NULL,
  error TEXT NOT NULL,
  delivered INTEGER NOT NULL CHECK (delivered IN (0, 1)));
CREATE INDEX IF NOT EXISTS webhook_deliveries_position
  ON webhook_deliveries(webhook_id, delivered, event_id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_webhook
  ON webhook_deliveries(webhook_id, event_id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_event ON webhook_deliveries(event_id);
CREATE TRIGGER IF NOT EXISTS webhook_deliveries_no_update BEFORE UPDATE ON webhook_deliveries
BEGIN SELECT RAISE(ABORT, 'webhook deliveries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS webhook_deliveries_no_delete BEFORE DELETE ON webhook_deliveries
BEGIN SELECT RAISE(ABORT, 'webhook deliveries are append-only'); END;
)sql";

constexpr size_t kIdBytes = 8;       // "wh_" + 16 hex digits: collisions are not a concern
constexpr size_t kSecretBytes = 32;  // "whsec_" + 64 hex digits: a 256-bit HMAC key
constexpr size_t kMaxSecretLength = 1024;
constexpr size_t kMaxAccountLength = 256;

Result<std::string> RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return Status::IOError("openssl: RAND_bytes failed");
  }
  return HexEncode(raw);
}

// "a, b,a" -> {"a", "b"}; every part must be a valid kind.
Result<std::vector<std::string>> ParseKinds(std::string_view text) {
  std::vector<std::string> kinds;
  if (TrimBlanks(text).empty()) return kinds;
  for (;;) {
    const size_t comma = text.find(',');
    const std::string_view part = TrimBlanks(text.substr(0, comma));
    if (!EventLog::ValidKind(part)) {
      return Status::InvalidArgument("webhook kinds: '" + std::string(part) +
                                     "' is not an event kind ([a-z][a-z0-9_.]{0,63})");
    }
    if (std::find(kinds.begin(), kinds.end(), part) == kinds.end()) kinds.emplace_back(part);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return kinds;
}

std::string JoinKinds(const std::vector<std::string>& kinds) {
  std::string out;
  for (const auto& k : kinds) {
    if (!out.empty()) out.push_back(',');
    out += k;
  }
  return out;
}

}  // namespace

bool Webhook::Matches(const Event& e) const {
  if (!account.empty() && e.account != account) return false;
  return kinds.empty() || std::find(kinds.begin(), kinds.end(), e.kind) != kinds.end();
}

Result<std::unique_ptr<WebhookStore>> WebhookStore::Open(BillingDb* db) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db->Begin());
  METERD_RETURN_IF_ERROR(EventLog::CreateSchema(txn));  // deliveries refer to events
  METERD_RETURN_IF_ERROR(
      BillingDb::EnsureSchema(txn, kWebhookModule, kWebhookSchemaVersion, kWebhookSchema));
  METERD_RETURN_IF_ERROR(txn.Commit());
  return std::unique_ptr<WebhookStore>(new WebhookStore(db));
}

Result<Webhook> WebhookStore::Add(std::string_view url, std::string_view secret,
                                  std::string_view kinds, std::string_view account) {
  Result<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) return parsed.status().WithContext("webhook url");
  Webhook w;
  w.url = std::string(url);
  METERD_ASSIGN_OR_RETURN(w.kinds, ParseKinds(kinds));
  if (account.size() > kMaxAccountLength) {
    return Status::InvalidArgument("webhook account is longer than 256 bytes");
  }
  w.account = std::string(account);
  if (secret.empty()) {
    METERD_ASSIGN_OR_RETURN(std::string hex, RandomHex(kSecretBytes));
    w.secret = "whsec_" + hex;
  } else if (secret.size() < kMinSecretLength || secret.size() > kMaxSecretLength) {
    return Status::InvalidArgument(
        "webhook secret must be 16 to 1024 characters (leave it out to have one generated)");
  } else {
    w.secret = std::string(secret);
  }
  METERD_ASSIGN_OR_RETURN(std::string id_hex, RandomHex(kIdBytes));
  w.id = "wh_" + id_hex;
  w.created_at = base::UnixSecondsNow();

  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT COALESCE(MAX(id), 0) FROM events"));
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    w.after_event_id = row ? st.Int(0) : 0;
  }
  {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO webhooks(id, url, secret, kinds, account, created_at, "
                    "after_event_id, removed_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)"));
    st.Bind(1, w.id)
        .Bind(2, w.url)
        .Bind(3, w.secret)
        .Bind(4, JoinKinds(w.kinds))
        .Bind(5, w.account)
        .Bind(6, w.created_at)
        .Bind(7, w.after_event_id);
    METERD_RETURN_IF_ERROR(st.Run());
  }
  METERD_RETURN_IF_ERROR(txn.Commit());
  return w;
}

Status WebhookStore::Remove(std::string_view id) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  bool removed_before = false;
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("SELECT removed_at FROM webhooks WHERE id = ?1"));
    st.Bind(1, id);
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("no webhook " + std::string(id));
    removed_before = !st.IsNull(0);
  }
  if (removed_before) return Status::OK();
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("UPDATE webhooks SET removed_at = ?2 WHERE id = ?1"));
    st.Bind(1, id).Bind(2, base::UnixSecondsNow());
    METERD_RETURN_IF_ERROR(st.Run());
  }
  return txn.Commit();
}

Result<std::vector<Webhook>> WebhookStore::Select(bool include_removed, bool with_secrets) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(
      Statement st,
      txn.Prepare(include_removed
                      ? "SELECT id, url, secret, kinds, account, created_at, after_event_id, "
                        "removed_at FROM webhooks ORDER BY created_at, rowid"
                      : "SELECT id, url, secret, kinds, account, created_at, after_event_id, "
                        "removed_at FROM webhooks WHERE removed_at IS NULL "
                        "ORDER BY created_at, rowid"));
  std::vector<Webhook> out;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    Webhook w;
    w.id = st.Text(0);
    w.url = st.Text(1);
    if (with_secrets) w.secret = st.Text(2);
    Result<std::vector<std::string>> kinds = ParseKinds(st.Text(3));
    if (!kinds.ok()) return Status::Corruption("billing.db: webhook " + w.id + ": bad kinds");
    w.kinds = std::move(kinds).value();
    w.account = st.Text(4);
    w.created_at = st.Int(5);
    w.after_event_id = st.Int(6);
    if (!st.IsNull(7)) w.removed_at = st.Int(7);
    out.push_back(std::move(w));
  }
  return out;
}

Result<std::vector<Webhook>> WebhookStore::List(bool include_removed) const {
  return Select(include_removed, /*with_secrets=*/false);
}

Result<std::vector<Webhook>> WebhookStore::ActiveForDelivery() const {
  return Select(/*include_removed=*/false, /*with_secrets=*/true);
}

Result<std::vector<Delivery>> WebhookStore::Deliveries(std::string_view webhook_id,
                                                       std::optional<int64_t> event_id,
                                                       size_t limit) const {
  std::vector<Delivery> out;
  if (limit == 0) return out;
  std::string sql =
      "SELECT seq, event_id, webhook_id, attempt, started_at, duration_ms, http_status, error, "
      "delivered FROM webhook_deliveries";
  if (!webhook_id.empty() && event_id) {
    sql += " WHERE webhook_id = ?2 AND event_id = ?3";
  } else if (!webhook_id.empty()) {
    sql += " WHERE webhook_id = ?2";
  } else if (event_id) {
    sql += " WHERE event_id = ?3";
  }
  sql += " ORDER BY seq DESC LIMIT ?1";
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(sql));
  st.Bind(1, static_cast<int64_t>(std::min<size_t>(limit, std::numeric_limits<int32_t>::max())));
  if (!webhook_id.empty()) st.Bind(2, webhook_id);
  if (event_id) st.Bind(3, *event_id);
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    Delivery d;
    d.seq = st.Int(0);
    d.event_id = st.Int(1);
    d.webhook_id = st.Text(2);
    d.attempt = st.Int(3);
    d.started_at = st.Int(4);
    d.duration_ms = st.Int(5);
    d.http_status = static_cast<int>(st.Int(6));
    d.error = st.Text(7);
    d.delivered = st.Int(8) != 0;
    out.push_back(std::move(d));
  }
  return out;
}

Result<int64_t> WebhookStore::RecordAttempt(const Delivery& d) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  int64_t seq = 0;
  {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO webhook_deliveries(event_id, webhook_id, attempt, started_at, "
                    "duration_ms, http_status, error, delivered) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING seq"));
    st.Bind(1, d.event_id)
        .Bind(2, d.webhook_id)
        .Bind(3, d.attempt)
        .Bind(4, d.started_at)
        .Bind(5, d.duration_ms)
        .Bind(6, static_cast<int64_t>(d.http_status))
        .Bind(7, d.error)
        .Bind(8, int64_t{d.delivered ? 1 : 0});
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::IOError("webhook_deliveries: INSERT ... RETURNING gave no seq");
    seq = st.Int(0);
    METERD_RETURN_IF_ERROR(st.Run());
  }
  METERD_RETURN_IF_ERROR(txn.Commit());
  return seq;
}

Result<int64_t> WebhookStore::DeliveredThrough(std::string_view webhook_id) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  int64_t floor = 0;
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("SELECT after_event_id FROM webhooks WHERE id = ?1"));
    st.Bind(1, webhook_id);
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("no webhook " + std::string(webhook_id));
    floor = st.Int(0);
  }
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT MAX(event_id) FROM webhook_deliveries "
                                                    "WHERE webhook_id = ?1 AND delivered = 1"));
  st.Bind(1, webhook_id);
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  if (row && !st.IsNull(0)) floor = std::max(floor, st.Int(0));
  return floor;
}

Result<int64_t> WebhookStore::AttemptCount(std::string_view webhook_id, int64_t event_id) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT COUNT(*) FROM webhook_deliveries "
                                                    "WHERE webhook_id = ?1 AND event_id = ?2"));
  st.Bind(1, webhook_id).Bind(2, event_id);
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.Int(0) : int64_t{0};
}

}  // namespace meterd::engine::events
