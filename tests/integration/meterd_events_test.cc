// meterd — tests/integration/meterd_events_test.cc
//
// Billing events end to end on the real meterd: an account's balance walks down through its
// thresholds and back up (low_balance, negative, suspend, resume: one event each), a
// `meterctl events --follow` process streams them as they are committed, and a webhook
// receiver on 127.0.0.1 that first answers 500 receives every one of them once it recovers,
// in order, each signed with the webhook's secret and carrying its event id.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "engine/events/signature.h"
#include "tests/engine/events/test_receiver.h"
#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

// A child process whose stdout is read line by line with a timeout.
class LineReader {
 public:
  explicit LineReader(const std::string& command) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), nullptr);
      ::_exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~LineReader() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  // The next line, or empty after `timeout` without one.
  std::string Next(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) return "";
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
};

class MeterdEventsTest : public MeterdTest {};

TEST_F(MeterdEventsTest, FollowersAndWebhooksGetEachThresholdEventOnce) {
  // No billing clock: only the entries below move the balance.
  server_.Stop();
  StartServer({"--no-billing-clock"});
  ASSERT_EQ(
      Meterctl("apply " + std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml").exit_code,
      0);
  TestReceiver receiver;
  ASSERT_TRUE(receiver.listening());
  receiver.SetStatus(500);  // down at first: the events queue up and are retried
  const std::string secret = "whsec_integration_test_secret";
  CommandResult added = Meterctl("webhooks add --url " + receiver.url() + " --secret " + secret +
                                 " --account bu1user1 --format json");
  ASSERT_EQ(added.exit_code, 0) << added.out << added.err;
  auto hook = nlohmann::json::parse(added.out);
  ASSERT_EQ(hook["webhooks"].size(), 1u) << added.out;

  LineReader follow(std::string(METERCTL_BIN) + " events --follow --account bu1user1" +
                    " --format json --server 127.0.0.1:" + std::to_string(server_.port()) +
                    " --key " + server_.admin_key());
  ASSERT_EQ(Meterctl("settings set --scope account:bu1user1 --low-balance 10 --credit-limit 5 "
                     "--hysteresis 1 --reason test")
                .exit_code,
            0);
  // 8 (low), -2 (negative), -7 (suspended), then 13 after a top-up (resume).
  ASSERT_EQ(Meterctl("topup --account bu1user1 --amount 8 --reference t1").exit_code, 0);
  ASSERT_EQ(Meterctl("adjust --account bu1user1 --amount -10 --reason test").exit_code, 0);
  ASSERT_EQ(Meterctl("adjust --account bu1user1 --amount -5 --reason test").exit_code, 0);
  // Hovering below the way out of suspension (-5 + 1): no event.
  ASSERT_EQ(Meterctl("adjust --account bu1user1 --amount 2.5 --reason test").exit_code, 0);
  ASSERT_EQ(Meterctl("topup --account bu1user1 --amount 17.5 --reference t2").exit_code, 0);

  const std::vector<std::string> expected = {"low_balance", "negative", "suspend", "resume"};
  std::vector<int64_t> ids;
  for (const std::string& kind : expected) {
    const std::string line = follow.Next(std::chrono::seconds(10));
    ASSERT_FALSE(line.empty()) << "no event '" << kind << "' on the follower";
    auto ev = nlohmann::json::parse(line);
    EXPECT_EQ(ev["kind"], kind) << line;
    EXPECT_EQ(ev["account"], "bu1user1");
    ids.push_back(ev["id"].get<int64_t>());
  }
  EXPECT_TRUE(follow.Next(std::chrono::milliseconds(300)).empty()) << "an event too many";

  // The receiver recovers: every event arrives, in order, signed, with its id.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_GE(receiver.count(), 1u);  // at least one failed attempt so far
  receiver.SetStatus(200);
  size_t delivered_count = 0;
  for (int i = 0; i < 200 && delivered_count < expected.size(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto log =
        nlohmann::json::parse(Meterctl("webhooks deliveries --format json").out, nullptr, false);
    delivered_count = 0;
    if (log.is_object()) {
      for (const auto& d : log["deliveries"]) delivered_count += d["delivered"] == "yes";
    }
  }
  ASSERT_EQ(delivered_count, expected.size());
  std::vector<int64_t> delivered;
  for (const auto& r : receiver.requests()) {
    const int64_t id = std::stoll(r.headers.at("x-meterd-event-id"));
    if (!delivered.empty() && delivered.back() == id) continue;  // a retried attempt
    delivered.push_back(id);
    const int64_t now = UnixNow();
    EXPECT_TRUE(
        engine::events::VerifySignature(r.headers.at("x-meterd-signature"), r.body, secret, now)
            .ok())
        << r.head;
    EXPECT_FALSE(engine::events::VerifySignature(r.headers.at("x-meterd-signature"), r.body,
                                                 "another-secret-entirely", now)
                     .ok());
  }
  EXPECT_EQ(delivered, ids);
  // The delivery log shows the failures and the deliveries.
  auto log = nlohmann::json::parse(Meterctl("webhooks deliveries --format json").out);
  size_t failed = 0, ok = 0;
  for (const auto& d : log["deliveries"]) (d["delivered"] == "yes" ? ok : failed)++;
  EXPECT_EQ(ok, expected.size()) << log.dump(2);
  EXPECT_GE(failed, 1u) << log.dump(2);
}

}  // namespace
}  // namespace meterd::testing
