// meterd — tests/engine/events/webhook_store_test.cc: webhooks and the delivery log.
#include "engine/events/webhook_store.h"

#include <gtest/gtest.h>

#include "tests/engine/events/event_testing.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::events {
namespace webhook_store_test {

using tenancy::BillingDb;

class WebhookStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    store_.reset();
    log_.reset();
    db_.reset();
    auto db = BillingDb::Open(BillingDb::PathIn(dir_.path()));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto store = WebhookStore::Open(db_.get());  // before the log: it creates `events` too
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto log = EventLog::Open(db_.get());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
  }

  int64_t AppendEvent(const std::string& kind = "negative") {
    auto txn = db_->Begin();
    EXPECT_TRUE(txn.ok());
    auto id = EventLog::Append(*txn, MakeEvent(kind, "acme", 1));
    EXPECT_TRUE(id.ok());
    EXPECT_TRUE(txn->Commit().ok());
    return *id;
  }

  Status Exec(const std::string& sql) {
    auto txn = db_->Begin();
    if (!txn.ok()) return txn.status();
    METERD_RETURN_IF_ERROR(txn->Exec(sql));
    return txn->Commit();
  }

  Delivery Attempt(const std::string& webhook, int64_t event, int64_t attempt, bool delivered) {
    Delivery d;
    d.webhook_id = webhook;
    d.event_id = event;
    d.attempt = attempt;
    d.started_at = 1700000000 + attempt;
    d.duration_ms = 12;
    d.http_status = delivered ? 200 : 500;
    d.error = delivered ? "" : "HTTP 500";
    d.delivered = delivered;
    return d;
  }

  testing::TempDir dir_;
  std::unique_ptr<BillingDb> db_;
  std::unique_ptr<WebhookStore> store_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(WebhookStoreTest, AddReturnsTheSecretOnceAndListHidesIt) {
  auto w = store_->Add("http://127.0.0.1:9000/hook", "", "", "");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->id.rfind("wh_", 0), 0u);
  EXPECT_EQ(w->id.size(), 3u + 16u);
  EXPECT_EQ(w->secret.rfind("whsec_", 0), 0u);
  EXPECT_EQ(w->secret.size(), 6u + 64u);
  EXPECT_TRUE(w->kinds.empty());
  EXPECT_TRUE(w->active());
  EXPECT_GT(w->created_at, 1600000000);

  auto given =
      store_->Add("https://hooks.example.com/meterd?x=1", "a-secret-of-16-chars", "", "acme");
  ASSERT_TRUE(given.ok()) << given.status().ToString();
  EXPECT_EQ(given->secret, "a-secret-of-16-chars");
  EXPECT_NE(given->id, w->id);

  auto list = store_->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, w->id);
  EXPECT_EQ((*list)[1].account, "acme");
  for (const Webhook& x : *list) EXPECT_TRUE(x.secret.empty());
  auto active = store_->ActiveForDelivery();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 2u);
  EXPECT_EQ((*active)[0].secret, w->secret);
}

TEST_F(WebhookStoreTest, AddValidatesUrlKindsSecretAndAccount) {
  for (const char* url : {"ftp://x/", "127.0.0.1:80/hook", "http://", "http:///path",
                          "http://user:pw@host/", "http://host:0/", "http://host:70000/",
                          "http://host/a b", "http://ho$t/", "http://[::1/", "http://[zz]/"}) {
    EXPECT_TRUE(store_->Add(url, "", "", "").status().IsInvalidArgument()) << url;
  }
  EXPECT_TRUE(store_->Add("http://h/", "short", "", "").status().IsInvalidArgument());
  EXPECT_TRUE(store_->Add("http://h/", "", "low balance", "").status().IsInvalidArgument());
  EXPECT_TRUE(store_->Add("http://h/", "", "negative,,resume", "").status().IsInvalidArgument());
  EXPECT_TRUE(store_->Add("http://h/", "", "", std::string(300, 'a')).status().IsInvalidArgument());
  auto list = store_->List(true);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  EXPECT_TRUE(store_->Add("http://[::1]:8080/x", "", "", "").ok());
  EXPECT_TRUE(store_->Add("HTTPS://Example.COM", "", "", "").ok());
}

TEST_F(WebhookStoreTest, KindsAreParsedAndMatch) {
  auto w = store_->Add("http://h/", "", " low_balance, negative ,low_balance", "acme");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->kinds, (std::vector<std::string>{"low_balance", "negative"}));
  auto listed = store_->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ((*listed)[0].kinds, w->kinds);
  EXPECT_TRUE(w->Matches(MakeEvent("negative", "acme", 0)));
  EXPECT_FALSE(w->Matches(MakeEvent("resume", "acme", 0)));
  EXPECT_FALSE(w->Matches(MakeEvent("negative", "globex", 0)));
  EXPECT_FALSE(w->Matches(MakeEvent("negative", "", 0)));
  Webhook all;
  EXPECT_TRUE(all.Matches(MakeEvent("suspend", "", 0)));
}

TEST_F(WebhookStoreTest, RemoveKeepsTheRowAndItsHistory) {
  auto w = store_->Add("http://h/", "", "", "");
  ASSERT_TRUE(w.ok());
  const int64_t event = AppendEvent();
  ASSERT_TRUE(store_->RecordAttempt(Attempt(w->id, event, 1, true)).ok());
  ASSERT_TRUE(store_->Remove(w->id).ok());
  EXPECT_TRUE(store_->Remove(w->id).ok());  // idempotent
  EXPECT_TRUE(store_->Remove("wh_nope").IsNotFound());

  EXPECT_TRUE(store_->List()->empty());
  EXPECT_TRUE(store_->ActiveForDelivery()->empty());
  auto all = store_->List(/*include_removed=*/true);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_TRUE((*all)[0].removed_at.has_value());
  EXPECT_EQ(store_->Deliveries(w->id)->size(), 1u);

  // The row cannot be deleted, un-removed or otherwise rewritten.
  EXPECT_FALSE(Exec("DELETE FROM webhooks").ok());
  EXPECT_FALSE(Exec("UPDATE webhooks SET removed_at = NULL").ok());
  EXPECT_FALSE(Exec("UPDATE webhooks SET removed_at = removed_at + 1").ok());
  auto active = store_->Add("http://h2/", "", "", "");
  ASSERT_TRUE(active.ok());
  EXPECT_FALSE(
      Exec("UPDATE webhooks SET url = 'http://evil/' WHERE id = '" + active->id + "'").ok());
  EXPECT_FALSE(Exec("UPDATE webhooks SET secret = 'x' WHERE id = '" + active->id + "'").ok());
}

TEST_F(WebhookStoreTest, ANewWebhookStartsAfterTheEventsAlreadyThere) {
  AppendEvent();
  const int64_t last = AppendEvent();
  auto w = store_->Add("http://h/", "", "", "");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->after_event_id, last);
  auto through = store_->DeliveredThrough(w->id);
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, last);
  EXPECT_TRUE(store_->DeliveredThrough("wh_nope").status().IsNotFound());
}

TEST_F(WebhookStoreTest, DeliveryLogRecoversThePositionAndIsAppendOnly) {
  auto w = store_->Add("http://h/", "", "", "");
  auto other = store_->Add("http://h2/", "", "", "");
  ASSERT_TRUE(w.ok() && other.ok());
  const int64_t e1 = AppendEvent();
  const int64_t e2 = AppendEvent();
  const int64_t e3 = AppendEvent();
  ASSERT_TRUE(store_->RecordAttempt(Attempt(w->id, e1, 1, false)).ok());
  ASSERT_TRUE(store_->RecordAttempt(Attempt(w->id, e1, 2, true)).ok());
  ASSERT_TRUE(store_->RecordAttempt(Attempt(w->id, e2, 1, true)).ok());
  ASSERT_TRUE(store_->RecordAttempt(Attempt(w->id, e3, 1, false)).ok());
  ASSERT_TRUE(store_->RecordAttempt(Attempt(other->id, e1, 1, true)).ok());

  EXPECT_EQ(*store_->DeliveredThrough(w->id), e2);
  EXPECT_EQ(*store_->DeliveredThrough(other->id), e1);
  EXPECT_EQ(*store_->AttemptCount(w->id, e1), 2);
  EXPECT_EQ(*store_->AttemptCount(w->id, e3), 1);
  EXPECT_EQ(*store_->AttemptCount(other->id, e3), 0);

  auto all = store_->Deliveries();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  EXPECT_GT((*all)[0].seq, (*all)[1].seq);  // newest first
  EXPECT_EQ((*all)[0].webhook_id, other->id);
  auto mine = store_->Deliveries(w->id, e1);
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 2u);
  EXPECT_EQ((*mine)[0].attempt, 2);
  EXPECT_TRUE((*mine)[0].delivered);
  EXPECT_EQ((*mine)[1].http_status, 500);
  EXPECT_EQ((*mine)[1].error, "HTTP 500");
  EXPECT_EQ((*mine)[1].duration_ms, 12);
  EXPECT_EQ(store_->Deliveries({}, e1)->size(), 3u);
  EXPECT_EQ(store_->Deliveries(w->id, std::nullopt, 2)->size(), 2u);

  EXPECT_FALSE(Exec("UPDATE webhook_deliveries SET delivered = 1").ok());
  EXPECT_FALSE(Exec("DELETE FROM webhook_deliveries").ok());
  EXPECT_FALSE(store_->RecordAttempt(Attempt(w->id, 999999, 1, true)).ok());  // no such event

  Open();  // durable
  EXPECT_EQ(*store_->DeliveredThrough(w->id), e2);
  EXPECT_EQ(store_->Deliveries()->size(), 5u);
}

}  // namespace webhook_store_test
}  // namespace meterd::engine::events
