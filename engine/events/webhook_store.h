// meterd — engine/events/webhook_store.h
//
// WebhookStore: webhook subscriptions and their delivery log in billing.db (docs/events.md).
//   - `webhooks`: one row per webhook ever added (id "wh_<16 hex>", URL, secret, kind filter,
//     account filter, created_at, after_event_id, removed_at). Removal sets removed_at; a row
//     is never deleted and no other column ever changes (triggers enforce it).
//   - `webhook_deliveries`: append-only, one row per delivery attempt (UPDATE and DELETE are
//     refused by triggers). A webhook's position is recovered from it: the last event with a
//     delivered attempt (DeliveredThrough).
//
// A new webhook receives only events appended after it was added (after_event_id = the
// largest event id at Add). The secret is stored in the clear (the dispatcher must sign with
// it): billing.db is as sensitive as admin.key. List() never returns secrets.
//
// Thread-safety: thread-safe (every call is one BillingDb transaction). REQUIRES for every
// member: the calling thread holds no Transaction on the same BillingDb.
// Ownership: the BillingDb outlives the store.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/events/event_log.h"
#include "engine/tenancy/billing_db.h"
#include "storage/base/result.h"

namespace meterd::engine::events {

struct Webhook {
  std::string id;                     // "wh_" + 16 lower-case hex digits
  std::string url;                    // http:// or https://
  std::string secret;                 // only in Add's result and ActiveForDelivery(); else empty
  std::vector<std::string> kinds;     // event kinds delivered; empty = every kind
  std::string account;                // the only account delivered; empty = every account
  int64_t created_at = 0;             // unix seconds
  int64_t after_event_id = 0;         // receives events with a larger id only
  std::optional<int64_t> removed_at;  // unix seconds; set once by Remove

  bool active() const { return !removed_at.has_value(); }
  // Whether this webhook wants `e` (kind and account filters; not the id floor).
  bool Matches(const Event& e) const;
};

// One delivery attempt, as logged.
struct Delivery {
  int64_t seq = 0;  // log order (assigned by the store)
  int64_t event_id = 0;
  std::string webhook_id;
  int64_t attempt = 0;     // 1, 2, ... per (webhook, event), across restarts
  int64_t started_at = 0;  // unix seconds
  int64_t duration_ms = 0;
  int http_status = 0;     // the status received; 0 when none (connect error, timeout)
  std::string error;       // empty when delivered
  bool delivered = false;  // a 2xx status was received
};

class WebhookStore {
 public:
  // Opens the store on `db`, creating `webhooks` and `webhook_deliveries` (and the events
  // schema they refer to) on first use. REQUIRES: db outlives the store.
  static Result<std::unique_ptr<WebhookStore>> Open(tenancy::BillingDb* db);

  // Secrets shorter than this are refused: an HMAC key should carry at least 128 bits, and a
  // generated one carries 256.
  static constexpr size_t kMinSecretLength = 16;

  // Adds a webhook. `secret` empty = generate one ("whsec_" + 64 hex digits); the result
  // carries it, and it is never shown again. `kinds`: comma-separated ("low_balance,negative",
  // spaces allowed), empty = all. `account` empty = all. InvalidArgument for a bad URL, kind
  // or secret.
  Result<Webhook> Add(std::string_view url, std::string_view secret, std::string_view kinds,
                      std::string_view account);

  // Marks the webhook removed (it keeps its row and its deliveries). NotFound for an unknown
  // id; removing a removed webhook is OK and changes nothing.
  Status Remove(std::string_view id);

  // Webhooks in creation order, secrets blanked; removed ones too when asked.
  Result<std::vector<Webhook>> List(bool include_removed = false) const;
  // Active webhooks with their secrets (for the dispatcher).
  Result<std::vector<Webhook>> ActiveForDelivery() const;

  // Logged attempts, newest first, at most `limit`; `webhook_id` empty = every webhook,
  // `event_id` unset = every event.
  Result<std::vector<Delivery>> Deliveries(std::string_view webhook_id = {},
                                           std::optional<int64_t> event_id = std::nullopt,
                                           size_t limit = 100) const;

  // Appends one attempt to the log (d.seq is ignored). Returns the assigned seq.
  Result<int64_t> RecordAttempt(const Delivery& d);

  // The webhook's recovered position: the larger of its after_event_id and the largest event
  // id with a delivered attempt. Every matching event above it is still to be delivered.
  Result<int64_t> DeliveredThrough(std::string_view webhook_id) const;
  // How many attempts are logged for (webhook, event).
  Result<int64_t> AttemptCount(std::string_view webhook_id, int64_t event_id) const;

 private:
  explicit WebhookStore(tenancy::BillingDb* db) : db_(db) {}
  Result<std::vector<Webhook>> Select(bool include_removed, bool with_secrets) const;

  tenancy::BillingDb* const db_;
};

}  // namespace meterd::engine::events
