// meterd — tests/engine/events/webhook_dispatcher_test.cc: delivery to real local receivers
// (order, retries, timeouts, isolation, restart, signatures, filters, HTTPS).
#include "engine/events/webhook_dispatcher.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/events/signature.h"
#include "tests/engine/events/event_testing.h"
#include "tests/engine/events/test_receiver.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::events {
namespace webhook_dispatcher_test {

using std::chrono::milliseconds;
using tenancy::BillingDb;
using testing::TestReceiver;
using Requests = std::vector<TestReceiver::Request>;

// Millisecond-scale options so that every retry scenario finishes within a second or two.
DispatcherOptions FastOptions() {
  DispatcherOptions o;
  o.attempt_timeout = milliseconds(300);
  o.initial_backoff = milliseconds(20);
  o.max_backoff = milliseconds(80);
  o.poll_interval = milliseconds(100);
  o.refresh_interval = milliseconds(100);
  o.page_size = 4;  // several pages in most tests
  return o;
}

constexpr milliseconds kWait(5000);  // an upper bound only; the tests pass far sooner

int64_t EventIdOf(const TestReceiver::Request& r) {
  auto it = r.headers.find("x-meterd-event-id");
  return it == r.headers.end() ? -1 : std::stoll(it->second);
}

// The distinct event ids received, in first-arrival order.
std::vector<int64_t> DistinctIds(const Requests& requests) {
  std::vector<int64_t> out;
  std::set<int64_t> seen;
  for (const auto& r : requests) {
    const int64_t id = EventIdOf(r);
    if (seen.insert(id).second) out.push_back(id);
  }
  return out;
}

// A predicate on the receiver's requests: every id in `want` has arrived.
auto HasIds(std::vector<int64_t> want) {
  return [want = std::move(want)](const Requests& r) {
    const auto got = DistinctIds(r);
    const std::set<int64_t> seen(got.begin(), got.end());
    return std::all_of(want.begin(), want.end(), [&](int64_t id) { return seen.count(id) > 0; });
  };
}

class WebhookDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenDb(); }

  void OpenDb() {
    dispatcher_.reset();
    store_.reset();
    log_.reset();
    db_.reset();
    auto db = BillingDb::Open(BillingDb::PathIn(dir_.path()));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto log = EventLog::Open(db_.get());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    auto store = WebhookStore::Open(db_.get());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  void StartDispatcher(DispatcherOptions options = FastOptions()) {
    dispatcher_ = std::make_unique<WebhookDispatcher>(log_.get(), store_.get(), options);
    ASSERT_TRUE(dispatcher_->Start().ok());
  }

  Webhook AddWebhook(const std::string& url, const std::string& kinds = "",
                     const std::string& account = "") {
    auto w = store_->Add(url, "", kinds, account);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? *w : Webhook{};
  }

  // Appends events in one transaction (as the ledger does) and notifies.
  std::vector<int64_t> Append(int n, const std::string& kind = "low_balance",
                              const std::string& account = "acme") {
    std::vector<int64_t> ids;
    auto txn = db_->Begin();
    EXPECT_TRUE(txn.ok());
    for (int i = 0; i < n; ++i) {
      auto id =
          EventLog::Append(*txn, Event{.account = account,
                                       .kind = kind,
                                       .at = 1767222000 + i,
                                       .payload = R"({"balance":"-1.500000","threshold":"0"})"});
      EXPECT_TRUE(id.ok());
      ids.push_back(*id);
    }
    EXPECT_TRUE(txn->Commit().ok());
    log_->Notify();
    return ids;
  }

  // Attempts logged for (webhook, event), oldest first.
  std::vector<Delivery> Log(const std::string& webhook, int64_t event) {
    auto d = store_->Deliveries(webhook, event, 1000);
    EXPECT_TRUE(d.ok());
    std::vector<Delivery> out(d->rbegin(), d->rend());
    return out;
  }

  // Waits until `pred()` holds (polling the store), at most kWait.
  template <typename Pred>
  bool Eventually(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return pred();
  }

  testing::TempDir dir_;
  std::unique_ptr<BillingDb> db_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<WebhookStore> store_;
  std::unique_ptr<WebhookDispatcher> dispatcher_;
};

TEST_F(WebhookDispatcherTest, DeliversInOrderWithHeadersBodyAndAVerifiableSignature) {
  TestReceiver receiver;
  ASSERT_TRUE(receiver.listening());
  const Webhook w = AddWebhook(receiver.url("/meterd"));
  StartDispatcher();
  const auto ids = Append(10);
  ASSERT_TRUE(receiver.WaitForCount(10, kWait));
  const Requests requests = receiver.requests();
  ASSERT_EQ(requests.size(), 10u);  // a healthy receiver gets each event exactly once
  EXPECT_EQ(DistinctIds(requests), ids);

  const auto& r = requests[0];
  EXPECT_EQ(r.target, "/meterd");
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(r.headers.at("user-agent"), "meterd");
  EXPECT_EQ(r.headers.at("x-meterd-event-id"), std::to_string(ids[0]));
  EXPECT_EQ(r.body, R"({"id":)" + std::to_string(ids[0]) +
                        R"(,"kind":"low_balance","account":"acme","at":1767222000,)"
                        R"("payload":{"balance":"-1.500000","threshold":"0"}})");
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["payload"]["balance"], "-1.500000");

  const std::string& signature = r.headers.at("x-meterd-signature");
  // The exact request head of docs/events.md ("The request").
  EXPECT_EQ(r.head,
            "POST /meterd HTTP/1.1\r\n"
            "Host: 127.0.0.1:" +
                std::to_string(receiver.port()) +
                "\r\n"
                "Content-Type: application/json\r\n"
                "X-Meterd-Event-Id: " +
                std::to_string(ids[0]) +
                "\r\n"
                "X-Meterd-Signature: " +
                signature +
                "\r\n"
                "User-Agent: meterd\r\n"
                "Connection: close\r\n"
                "Content-Length: " +
                std::to_string(r.body.size()));
  EXPECT_EQ(signature.rfind("t=", 0), 0u);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  EXPECT_TRUE(VerifySignature(signature, r.body, w.secret, now).ok()) << signature;
  EXPECT_EQ(VerifySignature(signature, r.body, "whsec_another_secret_entirely", now).code(),
            Status::Code::kUnauthenticated);
  EXPECT_EQ(VerifySignature(signature, r.body + " ", w.secret, now).code(),
            Status::Code::kUnauthenticated);

  ASSERT_TRUE(
      Eventually([&] { return store_->Deliveries(w.id, std::nullopt, 100)->size() == 10; }));
  for (int64_t id : ids) {
    const auto log = Log(w.id, id);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_TRUE(log[0].delivered);
    EXPECT_EQ(log[0].attempt, 1);
    EXPECT_EQ(log[0].http_status, 200);
    EXPECT_EQ(log[0].error, "");
  }
  const DispatcherStats stats = dispatcher_->Stats();
  EXPECT_EQ(stats.delivered, 10u);
  EXPECT_EQ(stats.webhooks, 1u);
}

TEST_F(WebhookDispatcherTest, A500IsRetriedUntilTheReceiverRecoversAndEveryAttemptIsLogged) {
  TestReceiver receiver;
  receiver.SetStatus(500);
  const Webhook w = AddWebhook(receiver.url());
  StartDispatcher();
  const auto ids = Append(3);
  ASSERT_TRUE(receiver.WaitForCount(4, kWait));  // the first event, four times at least
  for (const auto& r : receiver.requests()) EXPECT_EQ(EventIdOf(r), ids[0]);  // in order
  receiver.SetStatus(200);
  ASSERT_TRUE(receiver.WaitFor(HasIds(ids), kWait));
  EXPECT_EQ(DistinctIds(receiver.requests()), ids);

  ASSERT_TRUE(Eventually([&] {
    auto l = Log(w.id, ids[2]);
    return !l.empty() && l.back().delivered;
  }));
  const auto first = Log(w.id, ids[0]);
  ASSERT_GE(first.size(), 5u);
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].attempt, static_cast<int64_t>(i + 1));
    const bool last = i + 1 == first.size();
    EXPECT_EQ(first[i].delivered, last);
    EXPECT_EQ(first[i].http_status, last ? 200 : 500);
    if (!last) {
      EXPECT_EQ(first[i].error, "HTTP 500 Error: receiver says no");
    }
  }
  // The log and the receiver agree: one logged attempt per request received for the event.
  size_t received_first = 0;
  for (const auto& r : receiver.requests()) received_first += EventIdOf(r) == ids[0];
  EXPECT_EQ(first.size(), received_first);
  EXPECT_EQ(Log(w.id, ids[1]).size(), 1u);
}

TEST_F(WebhookDispatcherTest, AStalledReceiverTimesOutAndIsRetried) {
  TestReceiver receiver;
  receiver.SetStall(milliseconds(2000));  // longer than attempt_timeout (300 ms)
  const Webhook w = AddWebhook(receiver.url());
  StartDispatcher();
  const auto ids = Append(2);
  ASSERT_TRUE(receiver.WaitForCount(2, kWait));  // the first event, attempted twice
  receiver.SetStall(milliseconds(0));
  ASSERT_TRUE(receiver.WaitFor(HasIds(ids), kWait));
  ASSERT_TRUE(Eventually([&] {
    auto l = Log(w.id, ids[1]);
    return !l.empty() && l.back().delivered;
  }));
  const auto first = Log(w.id, ids[0]);
  ASSERT_GE(first.size(), 3u);
  EXPECT_EQ(first[0].error, "timed out after 300 ms");
  EXPECT_EQ(first[0].http_status, 0);
  EXPECT_GE(first[0].duration_ms, 290);
  EXPECT_LT(first[0].duration_ms, 1500);
  EXPECT_TRUE(first.back().delivered);
}

TEST_F(WebhookDispatcherTest, AReceiverThatIsDownGetsItsEventsOnceItIsUp) {
  const uint16_t port = TestReceiver::FreePort();
  const Webhook w = AddWebhook("http://127.0.0.1:" + std::to_string(port) + "/hook");
  StartDispatcher();
  const auto ids = Append(5);
  ASSERT_TRUE(Eventually([&] { return Log(w.id, ids[0]).size() >= 3; }));
  for (const auto& d : Log(w.id, ids[0])) {
    EXPECT_FALSE(d.delivered);
    EXPECT_NE(d.error.find("connect"), std::string::npos) << d.error;
  }
  EXPECT_TRUE(Log(w.id, ids[1]).empty());  // nothing overtakes the first event

  TestReceiver receiver(port);
  ASSERT_TRUE(receiver.listening());
  ASSERT_TRUE(receiver.WaitFor(HasIds(ids), kWait));
  EXPECT_EQ(DistinctIds(receiver.requests()), ids);
}

TEST_F(WebhookDispatcherTest, OneWebhookDownDoesNotDelayAnother) {
  const Webhook down = AddWebhook("http://127.0.0.1:" + std::to_string(TestReceiver::FreePort()));
  TestReceiver stalled;
  stalled.SetStall(milliseconds(3000));
  const Webhook slow = AddWebhook(stalled.url());
  TestReceiver healthy;
  const Webhook up = AddWebhook(healthy.url());
  DispatcherOptions options = FastOptions();
  options.attempt_timeout = milliseconds(2000);  // the stalled one holds its worker for long
  StartDispatcher(options);
  const auto start = std::chrono::steady_clock::now();
  const auto ids = Append(8);
  ASSERT_TRUE(healthy.WaitFor(HasIds(ids), kWait));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1500));
  EXPECT_EQ(DistinctIds(healthy.requests()), ids);
  EXPECT_FALSE(Log(down.id, ids[0]).empty());
  EXPECT_TRUE(Log(down.id, ids[1]).empty());
}

TEST_F(WebhookDispatcherTest, ARestartedDispatcherResumesWithoutLosingOrRepeating) {
  TestReceiver receiver;
  const Webhook w = AddWebhook(receiver.url());
  StartDispatcher();
  const auto before = Append(6);
  ASSERT_TRUE(receiver.WaitFor(HasIds(before), kWait));
  ASSERT_TRUE(Eventually([&] { return !Log(w.id, before.back()).empty(); }));
  dispatcher_->Stop();

  // Events appended while no dispatcher runs, then a new dispatcher on a reopened database.
  const auto during = Append(5);
  OpenDb();
  const size_t received_before = receiver.count();
  EXPECT_EQ(received_before, before.size());
  StartDispatcher();
  const auto after = Append(3);
  std::vector<int64_t> all = before;
  all.insert(all.end(), during.begin(), during.end());
  all.insert(all.end(), after.begin(), after.end());
  ASSERT_TRUE(receiver.WaitFor(HasIds(all), kWait));
  EXPECT_EQ(DistinctIds(receiver.requests()), all);
  EXPECT_EQ(receiver.count(), all.size());  // nothing delivered and logged was sent again
}

TEST_F(WebhookDispatcherTest, StopDuringRetriesThenRestartContinuesTheAttemptCount) {
  TestReceiver receiver;
  receiver.SetStatus(503);
  const Webhook w = AddWebhook(receiver.url());
  StartDispatcher();
  const auto ids = Append(2);
  ASSERT_TRUE(Eventually([&] { return Log(w.id, ids[0]).size() >= 2; }));
  dispatcher_->Stop();
  const size_t attempts = Log(w.id, ids[0]).size();
  for (const auto& d : Log(w.id, ids[0])) EXPECT_FALSE(d.delivered);

  receiver.SetStatus(200);
  StartDispatcher();  // a new object on the same database
  ASSERT_TRUE(receiver.WaitFor(HasIds(ids), kWait));
  ASSERT_TRUE(Eventually([&] {
    auto l = Log(w.id, ids[0]);
    return !l.empty() && l.back().delivered;
  }));
  const auto log = Log(w.id, ids[0]);
  EXPECT_EQ(log.back().attempt, static_cast<int64_t>(attempts + 1));
}

TEST_F(WebhookDispatcherTest, StopAbortsAnAttemptInFlightPromptly) {
  TestReceiver receiver;
  receiver.SetStall(milliseconds(3000));
  const Webhook w = AddWebhook(receiver.url());
  DispatcherOptions options = FastOptions();
  options.attempt_timeout = milliseconds(5000);
  StartDispatcher(options);
  const auto ids = Append(1);
  ASSERT_TRUE(receiver.WaitForCount(1, kWait));
  const auto start = std::chrono::steady_clock::now();
  dispatcher_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  const auto log = Log(w.id, ids[0]);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].error, "cancelled");
  EXPECT_FALSE(log[0].delivered);
}

TEST_F(WebhookDispatcherTest, KindAndAccountFiltersAndTheStartingPoint) {
  Append(2);  // before any webhook: delivered to none
  TestReceiver all_receiver;
  TestReceiver filtered_receiver;
  AddWebhook(all_receiver.url());
  AddWebhook(filtered_receiver.url(), "negative,suspend", "acme");
  StartDispatcher();
  const auto low = Append(3, "low_balance", "acme");
  const auto neg_acme = Append(2, "negative", "acme");
  const auto neg_globex = Append(2, "negative", "globex");
  const auto suspend = Append(1, "suspend", "acme");
  std::vector<int64_t> everything = low;
  for (const auto* v : {&neg_acme, &neg_globex, &suspend}) {
    everything.insert(everything.end(), v->begin(), v->end());
  }
  std::vector<int64_t> wanted = neg_acme;
  wanted.insert(wanted.end(), suspend.begin(), suspend.end());
  ASSERT_TRUE(all_receiver.WaitFor(HasIds(everything), kWait));
  ASSERT_TRUE(filtered_receiver.WaitFor(HasIds(wanted), kWait));
  EXPECT_EQ(DistinctIds(all_receiver.requests()), everything);
  EXPECT_EQ(DistinctIds(filtered_receiver.requests()), wanted);
}

TEST_F(WebhookDispatcherTest, AddAndRemoveAreFollowed) {
  TestReceiver first;
  const Webhook w1 = AddWebhook(first.url());
  StartDispatcher();
  TestReceiver second;
  const Webhook w2 = AddWebhook(second.url());
  dispatcher_->Refresh();
  ASSERT_TRUE(Eventually([&] { return dispatcher_->Stats().webhooks == 2; }));
  const auto a = Append(2);
  ASSERT_TRUE(first.WaitFor(HasIds(a), kWait));
  ASSERT_TRUE(second.WaitFor(HasIds(a), kWait));

  ASSERT_TRUE(store_->Remove(w1.id).ok());
  dispatcher_->Refresh();
  ASSERT_TRUE(Eventually([&] { return dispatcher_->Stats().webhooks == 1; }));
  const auto b = Append(2);
  ASSERT_TRUE(second.WaitFor(HasIds(b), kWait));
  std::this_thread::sleep_for(milliseconds(150));
  EXPECT_EQ(DistinctIds(first.requests()), a);
}

TEST_F(WebhookDispatcherTest, EventsAppendedWithoutNotifyArriveByPolling) {
  TestReceiver receiver;
  AddWebhook(receiver.url());
  StartDispatcher();
  auto txn = db_->Begin();
  ASSERT_TRUE(txn.ok());
  auto id = EventLog::Append(*txn, MakeEvent("resume", "acme", 1));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(txn->Commit().ok());  // no Notify
  ASSERT_TRUE(receiver.WaitFor(HasIds({*id}), kWait));
}

TEST_F(WebhookDispatcherTest, DeliversOverHttps) {
  const auto cert = testing::TestCertificate::Make();
  const std::string ca_file = dir_.path() + "/ca.pem";
  std::ofstream(ca_file) << cert.cert_pem;
  TestReceiver receiver(0, &cert);
  const Webhook w = AddWebhook(receiver.url());
  ASSERT_EQ(w.url.rfind("https://", 0), 0u);
  DispatcherOptions options = FastOptions();
  options.ca_file = ca_file;
  StartDispatcher(options);
  const auto ids = Append(3);
  ASSERT_TRUE(receiver.WaitFor(HasIds(ids), kWait));
  EXPECT_EQ(DistinctIds(receiver.requests()), ids);
}

TEST(BackoffTest, DoublesUpToTheCap) {
  DispatcherOptions o;  // defaults: 1 s doubling to 5 min
  EXPECT_EQ(BackoffDelay(o, 1), milliseconds(1000));
  EXPECT_EQ(BackoffDelay(o, 2), milliseconds(2000));
  EXPECT_EQ(BackoffDelay(o, 9), milliseconds(256000));
  EXPECT_EQ(BackoffDelay(o, 10), milliseconds(300000));
  EXPECT_EQ(BackoffDelay(o, 1000000), milliseconds(300000));
}

TEST(DeliveryBodyTest, EscapesStringsAndEmbedsThePayload) {
  Event e{.id = 7, .account = "a\"b", .kind = "negative", .at = 5, .payload = " {\"x\": [1, 2]}\n"};
  EXPECT_EQ(DeliveryBody(e),
            R"({"id":7,"kind":"negative","account":"a\"b","at":5,"payload":{"x": [1, 2]}})");
  e.payload = "not json";
  EXPECT_EQ(DeliveryBody(e), R"({"id":7,"kind":"negative","account":"a\"b","at":5,"payload":{}})");
}

}  // namespace webhook_dispatcher_test
}  // namespace meterd::engine::events
