// meterd — tests/integration/meterd_email_test.cc
//
// Email notices end to end: the real meterd on a loopback port, pointed at a real SMTP relay
// (Debian's aiosmtpd, tests/engine/events/smtp_sink.h) that is down at first. An account with
// two notify_email addresses walks down through its thresholds (low_balance, negative,
// suspend) and back (resume); while the relay is down the attempts fail and are logged, and
// the billing clock keeps booking hours. Once the relay comes up, each address receives
// exactly one message per low_balance and negative event, with RFC 5322 headers naming the
// event, and `meterctl emails deliveries` shows the failures and the deliveries. An issued
// invoice is mailed with its PDF attached when --email-kinds names invoice_issued.
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "storage/base/calendar.h"
#include "tests/engine/events/smtp_sink.h"
#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

class MeterdEmailTest : public MeterdTest {
 protected:
  nlohmann::json Json(const std::string& args) {
    CommandResult r = Meterctl(args + " --format json");
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out, nullptr, false) : nlohmann::json();
  }
  // The billing clock's next hour (stats), 0 before its first booking.
  int64_t NextBillingHour() {
    auto j = Json("stats");
    return j.is_object() ? j.value("billing_next_hour", int64_t{0}) : 0;
  }
  static int64_t ThisHour() {
    const int64_t now = UnixNow();
    return now - now % 3600;
  }
};

TEST_F(MeterdEmailTest, EveryRecipientGetsEachNoticeOnceAfterTheRelayComesUp) {
  SmtpSink relay(tmp_.path() + "/relay");  // its port is reserved; nothing listens yet
  const int64_t start = ThisHour() - 3 * 3600;
  server_.Stop();
  StartServer({"--grace", "0", "--billing-start", std::to_string(start), "--smtp-url", relay.url(),
               "--smtp-starttls", "off", "--smtp-from", "billing@meterd.example"});
  ASSERT_EQ(
      Meterctl("apply " + std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml").exit_code,
      0);
  // bu1user2 has no subscriptions and no usage: only the entries below move its balance.
  CommandResult set = Meterctl(
      "settings set --scope account:bu1user2 --low-balance 10 --credit-limit 5 --hysteresis 1 "
      "--notify-email 'ops@bu1.example, cfo@bu1.example' --reason test");
  ASSERT_EQ(set.exit_code, 0) << set.out << set.err;
  CommandResult refused =
      Meterctl("settings set --scope account:bu1user2 --notify-email 'Ops <ops@bu1.example>'");
  EXPECT_NE(refused.exit_code, 0) << "a display name is refused";
  bool listed = false;
  const nlohmann::json settings = Json("settings list");
  for (const auto& s : settings) {
    if (s["scope"] == "account:bu1user2") {
      EXPECT_EQ(s["notify_email"], "ops@bu1.example,cfo@bu1.example") << s.dump();
      listed = true;
    }
  }
  EXPECT_TRUE(listed) << settings.dump(2);

  // 8 (low), -2 (negative), -7 (suspended), then 10.5 after a top-up (resume).
  ASSERT_EQ(Meterctl("topup --account bu1user2 --amount 8 --reference e1").exit_code, 0);
  ASSERT_EQ(Meterctl("adjust --account bu1user2 --amount -10 --reason test").exit_code, 0);
  ASSERT_EQ(Meterctl("adjust --account bu1user2 --amount -5 --reason test").exit_code, 0);
  ASSERT_EQ(Meterctl("topup --account bu1user2 --amount 17.5 --reference e2").exit_code, 0);
  std::map<std::string, int64_t> ids;  // kind -> event id
  const nlohmann::json events = Json("events --account bu1user2");
  for (const auto& e : events["events"]) {
    ids[e["kind"].get<std::string>()] = e["id"].get<int64_t>();
  }
  ASSERT_EQ(ids.size(), 4u) << events.dump(2);

  // The relay is down: attempts fail (and are logged) while the clock books every hour.
  bool failing = false;
  for (int i = 0; i < 300 && !failing; ++i) {
    const nlohmann::json log = Json("emails deliveries");
    for (const auto& d : log["deliveries"]) failing |= d["delivered"] == "no";
    if (!failing) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(failing) << Json("emails deliveries").dump(2);
  for (int i = 0; i < 300 && NextBillingHour() < ThisHour(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(NextBillingHour(), ThisHour()) << "the billing clock stalled";
  ASSERT_TRUE(relay.Messages().empty());

  // The relay comes up: every message arrives (retries back off by 1, 2, 4, ... s).
  Status st = relay.Start();
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto messages = relay.WaitFor(4, std::chrono::seconds(60));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // and no more
  messages = relay.Messages();
  ASSERT_EQ(messages.size(), 4u);
  std::set<std::pair<int64_t, std::string>> got;
  std::set<std::string> message_ids;
  for (const auto& m : messages) {
    ASSERT_EQ(m.rcpt_tos.size(), 1u);
    const int64_t event = std::stoll(m.headers.at("x-meterd-event-id"));
    got.emplace(event, m.rcpt_tos[0]);
    EXPECT_EQ(m.mail_from, "billing@meterd.example");
    EXPECT_EQ(m.headers.at("from"), "billing@meterd.example");
    EXPECT_EQ(m.headers.at("to"), m.rcpt_tos[0]);
    EXPECT_EQ(m.headers.at("mime-version"), "1.0");
    EXPECT_EQ(m.headers.at("content-type"), "text/plain; charset=utf-8");
    EXPECT_TRUE(m.headers.at("date").ends_with(" +0000")) << m.headers.at("date");
    EXPECT_TRUE(m.headers.at("message-id").starts_with("<meterd." + std::to_string(event) + "."))
        << m.headers.at("message-id");
    message_ids.insert(m.headers.at("message-id"));
    EXPECT_NE(m.body.find("Account:   bu1user2"), std::string::npos) << m.body;
    if (event == ids["low_balance"]) {
      EXPECT_EQ(m.headers.at("subject"), "[meterd] Low balance: bu1user2 at 8 credits");
      EXPECT_NE(m.body.find("Threshold: 10 credits"), std::string::npos) << m.body;
    } else {
      EXPECT_EQ(m.headers.at("subject"), "[meterd] Negative balance: bu1user2 at -2 credits");
      EXPECT_NE(m.body.find("Threshold: 0 credits"), std::string::npos) << m.body;
    }
  }
  EXPECT_EQ(message_ids.size(), 4u);
  EXPECT_EQ(got, (std::set<std::pair<int64_t, std::string>>{{ids["low_balance"], "ops@bu1.example"},
                                                            {ids["low_balance"], "cfo@bu1.example"},
                                                            {ids["negative"], "ops@bu1.example"},
                                                            {ids["negative"], "cfo@bu1.example"}}));
  // The log: four deliveries (relay code 250) after failed attempts without a relay answer.
  size_t delivered = 0, failed = 0;
  const nlohmann::json log = Json("emails deliveries --limit 1000");
  for (const auto& d : log["deliveries"]) {
    if (d["delivered"] == "yes") {
      ++delivered;
      EXPECT_EQ(d["smtp"], 250) << d.dump();
    } else {
      ++failed;
      EXPECT_EQ(d["smtp"], 0) << d.dump();
    }
  }
  EXPECT_EQ(delivered, 4u);
  EXPECT_GE(failed, 1u);
  // Stats count the same: the four accepted sends and the failed attempts before them.
  const nlohmann::json stats = Json("stats");
  EXPECT_TRUE(stats["email_on"].get<bool>()) << stats.dump();
  EXPECT_EQ(stats["email_delivered"], 4) << stats.dump();
  EXPECT_EQ(stats["email_failed_attempts"].get<uint64_t>(), failed) << stats.dump();
}

// Invoice distribution by email: with --email-kinds invoice_issued, issuing an invoice mails
// it to the account's notify_email addresses with the PDF attached, the same bytes as
// `meterctl invoice pdf`.
TEST_F(MeterdEmailTest, AnIssuedInvoiceIsMailedWithItsPdf) {
  SmtpSink relay(tmp_.path() + "/relay");
  ASSERT_TRUE(relay.Start().ok());
  const int64_t this_month = base::MonthStart(UnixNow());
  const int64_t last_month = base::MonthStart(this_month - 1);
  server_.Stop();
  StartServer({"--grace", "0", "--billing-start", std::to_string(last_month), "--smtp-url",
               relay.url(), "--smtp-starttls", "off", "--smtp-from", "billing@meterd.example",
               "--email-kinds", "invoice_issued"});
  ASSERT_EQ(
      Meterctl("apply " + std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml").exit_code,
      0);
  ASSERT_EQ(Meterctl("settings set --scope account:bu1user1 --notify-email ops@bu1.example "
                     "--reason test")
                .exit_code,
            0);
  for (int i = 0; i < 600 && NextBillingHour() < ThisHour(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GE(NextBillingHour(), ThisHour()) << "the billing clock did not catch up";
  // bu1user1's subscription fees make last month's invoice.
  const std::string period = " --period " + std::to_string(last_month) + " --account bu1user1";
  ASSERT_EQ(Json("invoice run" + period)["drafts"], 1);
  const nlohmann::json issued = Json("invoice issue" + period);
  ASSERT_EQ(issued["invoices"].size(), 1u) << issued.dump(1);
  const std::string number = issued["invoices"][0]["number"];
  auto messages = relay.WaitFor(1, std::chrono::seconds(30));
  ASSERT_EQ(messages.size(), 1u);
  const auto& m = messages[0];
  EXPECT_EQ(m.rcpt_tos, std::vector<std::string>{"ops@bu1.example"});
  EXPECT_TRUE(m.headers.at("subject").starts_with("[meterd] Invoice " + number + " for bu1user1"))
      << m.headers.at("subject");
  EXPECT_TRUE(m.headers.at("content-type").starts_with("multipart/mixed; boundary="));
  const size_t head =
      m.data.find("Content-Disposition: attachment; filename=\"" + number + ".pdf\"\r\n\r\n");
  ASSERT_NE(head, std::string::npos) << m.data.substr(0, 2000);
  const size_t data = m.data.find("\r\n\r\n", head) + 4;
  const size_t end = m.data.find("\r\n--meterd-", data);
  ASSERT_NE(end, std::string::npos);
  // Decode the attachment with base64(1) and compare it with what meterctl writes.
  const std::string b64 = tmp_.path() + "/attached.b64", got = tmp_.path() + "/attached.pdf";
  std::string text = m.data.substr(data, end - data);
  std::erase(text, '\r');  // base64(1) takes LF-separated lines
  std::ofstream(b64, std::ios::binary) << text;
  ASSERT_EQ(std::system(("base64 -d " + b64 + " > " + got).c_str()), 0);
  const std::string want = tmp_.path() + "/fetched.pdf";
  ASSERT_EQ(Meterctl("invoice pdf " + number + " -o " + want).exit_code, 0);
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const std::string pdf = read(got);
  EXPECT_TRUE(pdf.starts_with("%PDF-"));
  EXPECT_EQ(pdf, read(want));
}

TEST_F(MeterdEmailTest, WithoutARelayNothingIsAttemptedAndBadFlagsStopTheStart) {
  // The default server of the fixture has no --smtp-url.
  ASSERT_EQ(
      Meterctl("apply " + std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml").exit_code,
      0);
  ASSERT_EQ(
      Meterctl("settings set --scope '*' --low-balance 10 --notify-email ops@x.example").exit_code,
      0);
  ASSERT_EQ(Meterctl("topup --account bu1user2 --amount 8 --reference n1").exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto log = Json("emails deliveries");
  ASSERT_TRUE(log.is_object()) << "emails deliveries failed";
  EXPECT_TRUE(log["deliveries"].empty()) << log.dump(2);
  EXPECT_FALSE(Json("stats")["email_on"].get<bool>());

  for (const std::string& flags :
       {std::string("--smtp-url http://relay.example --smtp-from a@b.example"),
        std::string("--smtp-url smtp://relay.example"),  // no --smtp-from
        std::string("--smtp-url smtp://u:p@relay.example --smtp-from a@b.example"),
        std::string("--smtp-url smtp://relay.example --smtp-from a@b.example "
                    "--smtp-password-file /nonexistent/pw --smtp-user u")}) {
    const std::string cmd = std::string(METERD_BIN) + " --data-dir " + tmp_.path() +
                            "/bad --listen 127.0.0.1:0 " + flags + " > " + tmp_.path() +
                            "/bad.log 2>&1";
    const int status = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << flags;
  }
}

}  // namespace
}  // namespace meterd::testing
