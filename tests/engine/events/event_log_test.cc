// meterd — tests/engine/events/event_log_test.cc: the transactional outbox.
#include "engine/events/event_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/engine/events/event_testing.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::events {
namespace event_log_test {

using std::chrono::milliseconds;
using tenancy::BillingDb;
using tenancy::Transaction;

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    log_.reset();
    db_.reset();
    auto db = BillingDb::Open(BillingDb::PathIn(dir_.path()));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto log = EventLog::Open(db_.get());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
  }

  // Appends one event in its own committed transaction and notifies.
  int64_t Append(const std::string& kind, const std::string& account = "acme",
                 const std::string& payload = R"({"balance":"-1.500000"})") {
    auto txn = db_->Begin();
    EXPECT_TRUE(txn.ok());
    Event e{.account = account, .kind = kind, .at = 1700000000, .payload = payload};
    auto id = EventLog::Append(*txn, e);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_TRUE(txn->Commit().ok());
    log_->Notify();
    return id.ok() ? *id : -1;
  }

  Status Exec(const std::string& sql) {
    auto txn = db_->Begin();
    if (!txn.ok()) return txn.status();
    METERD_RETURN_IF_ERROR(txn->Exec(sql));
    return txn->Commit();
  }

  testing::TempDir dir_;
  std::unique_ptr<BillingDb> db_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(EventLogTest, AppendThenRollbackLeavesNoEvent) {
  {
    auto txn = db_->Begin();
    ASSERT_TRUE(txn.ok());
    auto id = EventLog::Append(*txn, MakeEvent("negative", "acme", 1));
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_GT(*id, 0);
    txn->Rollback();
  }
  {
    auto txn = db_->Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(EventLog::Append(*txn, MakeEvent("suspend", "", 2)).ok());
    // The destructor rolls back an uncommitted transaction too.
  }
  log_->Notify();
  auto events = log_->ReadAfter(0, 100);
  ASSERT_TRUE(events.ok());
  EXPECT_TRUE(events->empty());
  EXPECT_EQ(log_->LastId(), 0);
}

TEST_F(EventLogTest, AppendCommitsWithTheCallersTransaction) {
  auto txn = db_->Begin();
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE(txn->Exec("CREATE TABLE ledger_demo(x INTEGER)").ok());
  ASSERT_TRUE(txn->Exec("INSERT INTO ledger_demo VALUES(1)").ok());
  auto id = EventLog::Append(*txn, MakeEvent("low_balance", "acme", 7));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(txn->Commit().ok());
  log_->Notify();
  EXPECT_EQ(log_->LastId(), *id);
  auto events = log_->ReadAfter(0, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  const Event& e = (*events)[0];
  EXPECT_EQ(e.id, *id);
  EXPECT_EQ(e.account, "acme");
  EXPECT_EQ(e.kind, "low_balance");
  EXPECT_EQ(e.at, 7);
  EXPECT_EQ(e.payload, "{}");  // an empty payload is stored as {}
  EXPECT_GT(e.recorded_at, 1600000000);
}

TEST_F(EventLogTest, IdsStrictlyIncreaseAcrossCommitsAndReopen) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Append("low_balance"));
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i], ids[i - 1]);
  Open();
  EXPECT_EQ(log_->LastId(), ids.back());
  const int64_t next = Append("resume");
  EXPECT_GT(next, ids.back());
  auto events = log_->ReadAfter(0, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 6u);
  for (size_t i = 1; i < events->size(); ++i) EXPECT_GT((*events)[i].id, (*events)[i - 1].id);
}

TEST_F(EventLogTest, UpdateAndDeleteAreRefused) {
  const int64_t id = Append("negative");
  Status update = Exec("UPDATE events SET kind = 'resume' WHERE id = " + std::to_string(id));
  EXPECT_FALSE(update.ok());
  EXPECT_NE(update.ToString().find("append-only"), std::string::npos) << update.ToString();
  EXPECT_FALSE(Exec("DELETE FROM events").ok());
  EXPECT_FALSE(Exec("DELETE FROM events WHERE id = " + std::to_string(id)).ok());
  auto events = log_->ReadAfter(0, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].kind, "negative");
}

TEST_F(EventLogTest, RejectsMalformedKindsAndPayloads) {
  auto txn = db_->Begin();
  ASSERT_TRUE(txn.ok());
  for (const char* kind : {"", "Low", "low balance", "a,b", "9lives"}) {
    EXPECT_TRUE(EventLog::Append(*txn, MakeEvent(kind, "", 0)).status().IsInvalidArgument())
        << "'" << kind << "'";
  }
  for (const char* payload : {"[1,2]", "\"text\"", "{not json", "42"}) {
    EXPECT_TRUE(
        EventLog::Append(*txn, MakeEvent("negative", "", 0, payload)).status().IsInvalidArgument())
        << payload;
  }
  EXPECT_TRUE(EventLog::Append(*txn, MakeEvent("invoice.issued_2", "", 0, "{}")).ok());
}

TEST_F(EventLogTest, ReadAfterPagesInIdOrderAndFiltersByAccount) {
  std::vector<int64_t> acme;
  for (int i = 0; i < 7; ++i) {
    const int64_t id = Append("low_balance", i % 2 == 0 ? "acme" : "globex");
    if (i % 2 == 0) acme.push_back(id);
  }
  Append("suspend", "");  // a fleet-wide event
  std::vector<int64_t> seen;
  int64_t after = 0;
  for (;;) {
    auto page = log_->ReadAfter(after, 3);
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    EXPECT_LE(page->size(), 3u);
    for (const Event& e : *page) seen.push_back(e.id);
    after = page->back().id;
  }
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));

  auto only_acme = log_->ReadAfter(0, 100, "acme");
  ASSERT_TRUE(only_acme.ok());
  std::vector<int64_t> got;
  for (const Event& e : *only_acme) got.push_back(e.id);
  EXPECT_EQ(got, acme);
  auto after_first = log_->ReadAfter(acme[0], 2, "acme");
  ASSERT_TRUE(after_first.ok());
  ASSERT_EQ(after_first->size(), 2u);
  EXPECT_EQ((*after_first)[0].id, acme[1]);
  EXPECT_TRUE(log_->ReadAfter(0, 0)->empty());
}

TEST_F(EventLogTest, WaitAfterWakesOnNotify) {
  const int64_t last = log_->LastId();
  std::atomic<bool> woke{false};
  const auto start = std::chrono::steady_clock::now();
  std::thread waiter([&] {
    EXPECT_TRUE(log_->WaitAfter(last, milliseconds(5000)));
    woke = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(woke.load());
  Append("negative");
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
  EXPECT_GT(log_->LastId(), last);
}

TEST_F(EventLogTest, WaitAfterReturnsAtOnceWhenANewerEventIsKnown) {
  Append("negative");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(log_->WaitAfter(0, milliseconds(5000)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(500));
}

TEST_F(EventLogTest, WaitAfterTimesOutWithoutEvents) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(log_->WaitAfter(log_->LastId(), milliseconds(50)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(45));
}

TEST_F(EventLogTest, StopWakesWaitersAndLaterWaitsReturnFalse) {
  std::thread waiter([&] { EXPECT_FALSE(log_->WaitAfter(log_->LastId(), milliseconds(5000))); });
  std::this_thread::sleep_for(milliseconds(30));
  const auto start = std::chrono::steady_clock::now();
  log_->Stop();
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  EXPECT_FALSE(log_->WaitAfter(0, milliseconds(5000)));
}

TEST_F(EventLogTest, ListenersRunOnNotifyUntilRemoved) {
  std::atomic<int> calls{0};
  const int handle = log_->AddListener([&] { ++calls; });
  Append("negative");
  log_->Notify();
  EXPECT_EQ(calls.load(), 2);
  log_->RemoveListener(handle);
  Append("resume");
  EXPECT_EQ(calls.load(), 2);
}

}  // namespace event_log_test
}  // namespace meterd::engine::events
