// meterd — tests/engine/events/email_notifier_test.cc: email notices — addresses, the message
// (headers and body), recipients resolved through the ledger's notify_email setting (and its
// migration), and the notifier against a real SMTP server (aiosmtpd): one message per event
// per recipient, retries with backoff, at least once across restarts, STARTTLS refusal.
#include "engine/events/email_notifier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <regex>
#include <set>

#include "engine/events/email_address.h"
#include "engine/events/email_message.h"
#include "engine/ledger/ledger_schema.h"
#include "tests/engine/events/event_testing.h"
#include "tests/engine/events/smtp_sink.h"
#include "tests/engine/ledger/ledger_test_util.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::events {
namespace email_notifier_test {

using std::chrono::milliseconds;
using tenancy::BillingDb;
using testing::SmtpSink;

constexpr milliseconds kWait(10000);  // an upper bound only; the tests pass far sooner

// ---- addresses ----

TEST(EmailAddressTest, AcceptsPlainAddressesAndRefusesAnythingElse) {
  for (const char* ok : {"a@b.c", "first.last+tag@mail.example.com", "x_y-z@[127.0.0.1]",
                         "o'brien@example.ie", "UPPER@Example.COM"}) {
    EXPECT_TRUE(ValidAddress(ok)) << ok;
  }
  for (const char* bad : {"", "plain", "@b.c", "a@", "a@b..c", ".a@b.c", "a.@b.c", "a@-b.c",
                          "a@b-.c", "Name <a@b.c>", "a b@c.d", "a@b.c\r\nBcc: x@y.z", "a@b.c,",
                          "é@b.c", "a@[1.2.3]", "a@[1.2.3.999]", "\"q\"@b.c"}) {
    EXPECT_FALSE(ValidAddress(bad)) << bad;
  }
  EXPECT_FALSE(ValidAddress(std::string(65, 'a') + "@b.c"));  // local part over 64
  EXPECT_FALSE(ValidAddress("a@" + std::string(250, 'b') + ".c"));
}

TEST(EmailAddressTest, ListsAreTrimmedDeduplicatedAndBounded) {
  auto l = ParseAddressList(" ops@a.org,\tcfo@a.org , OPS@a.org,ops@a.org ");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(*l, (std::vector<std::string>{"ops@a.org", "cfo@a.org"}));
  EXPECT_EQ(JoinAddresses(*l), "ops@a.org,cfo@a.org");
  EXPECT_TRUE(ParseAddressList("  ")->empty());
  auto bad = ParseAddressList("ops@a.org, not-an-address");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find("not-an-address"), std::string::npos);
  EXPECT_FALSE(ParseAddressList("a@b.c,,d@e.f").ok());  // an empty element
  std::string many;
  for (size_t i = 0; i <= kMaxRecipients; ++i) many += "u" + std::to_string(i) + "@x.org,";
  many.pop_back();
  EXPECT_FALSE(ParseAddressList(many).ok());
  EXPECT_EQ(AddressDomain("a@b.example"), "b.example");
}

// ---- the message ----

// The example of docs/events.md ("The message"), with the payload the ledger writes.
Event NoticeEvent() {
  Event e = MakeEvent("low_balance", "bu1user1", 1767222000,
                      R"({"balance":"8","balance_micro":8000000,"state":"low",)"
                      R"("previous_state":"ok","mode":"prepaid","credit_limit":"0",)"
                      R"("entry_id":7,"low_balance":"10"})");
  e.id = 42;
  e.recorded_at = 1767225600;  // Thu, 01 Jan 2026 00:00:00 UTC
  return e;
}

TEST(EmailMessageTest, LowBalanceNoticeIsAnRfc5322MessageWithAReadableBody) {
  const Event e = NoticeEvent();
  const std::string expected =
      "From: billing@cloud.example\r\n"
      "To: ops@bu1.example\r\n"
      "Subject: [meterd] Low balance: bu1user1 at 8 credits\r\n"
      "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
      "Message-ID: <meterd.42.1767225600.3dd0e733@cloud.example>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\n"
      "Auto-Submitted: auto-generated\r\n"
      "X-Meterd-Event-Id: 42\r\n"
      "\r\n"
      "The balance of account bu1user1 is below its low-balance threshold.\r\n"
      "\r\n"
      "Account:   bu1user1\r\n"
      "Event:     low_balance (event id 42)\r\n"
      "Balance:   8 credits\r\n"
      "Threshold: 10 credits\r\n"
      "State:     low (was ok)\r\n"
      "Time:      2025-12-31 23:00:00 UTC\r\n"
      "\r\n"
      "Amounts are in credits, the price book's unit. This notice was sent by meterd to the\r\n"
      "addresses in the notify_email billing setting of the account (or of its domain).\r\n";
  EXPECT_EQ(FormatNotice(e, "billing@cloud.example", "ops@bu1.example"), expected);
  // Every attempt sends the same bytes: a retry is recognisable.
  EXPECT_EQ(FormatNotice(e, "billing@cloud.example", "ops@bu1.example"),
            FormatNotice(e, "billing@cloud.example", "ops@bu1.example"));
}

TEST(EmailMessageTest, NegativeNoticeAndIdsPerRecipient) {
  Event e = NoticeEvent();
  e.kind = "negative";
  e.payload = R"({"balance":"-2","state":"negative","previous_state":"low"})";
  const std::string m = FormatNotice(e, "b@m.example", "x@y.example");
  EXPECT_NE(m.find("Subject: [meterd] Negative balance: bu1user1 at -2 credits\r\n"),
            std::string::npos);
  EXPECT_NE(m.find("The balance of account bu1user1 is negative.\r\n"), std::string::npos);
  EXPECT_NE(m.find("State:     negative (was low)\r\n"), std::string::npos);
  EXPECT_NE(m.find("Threshold: 0 credits\r\n"), std::string::npos);
  EXPECT_EQ(m.find('\n', 0), m.find("\r\n") + 1);  // CRLF everywhere
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') {
      EXPECT_EQ(m[i - 1], '\r') << "bare LF at " << i;
    }
  }
  // The example of docs/events.md ("The message").
  Event doc = NoticeEvent();
  EXPECT_EQ(NoticeMessageId(doc, "ops@bu1.example", "billing@cloud.example"),
            "<meterd.42.1767225600.3dd0e733@cloud.example>");
  // One Message-ID per (event, recipient); the same for every attempt, case-insensitively.
  EXPECT_EQ(NoticeMessageId(e, "x@y.example", "b@m.example"),
            NoticeMessageId(e, "X@Y.example", "b@m.example"));
  EXPECT_NE(NoticeMessageId(e, "x@y.example", "b@m.example"),
            NoticeMessageId(e, "z@y.example", "b@m.example"));
  Event other = e;
  other.id = 43;
  EXPECT_NE(NoticeMessageId(e, "x@y.example", "b@m.example"),
            NoticeMessageId(other, "x@y.example", "b@m.example"));
}

TEST(EmailMessageTest, HeadersStayAsciiAndSingleLine) {
  Event e = NoticeEvent();
  e.payload = R"({"balance":"8.000000"})";
  e.account = "caf\xc3\xa9";
  // Two encoded words (at most 45 bytes each, 75 characters), folded.
  EXPECT_EQ(NoticeSubject(e),
            "=?utf-8?B?W21ldGVyZF0gTG93IGJhbGFuY2U6IGNhZsOpIGF0IDguMDAwMDAwIGNyZWRp?=\r\n"
            " =?utf-8?B?dHM=?=");
  e.account = "evil\r\nBcc: victim@x.org";
  const std::string m = FormatNotice(e, "b@m.example", "x@y.example");
  EXPECT_EQ(m.find("\r\nBcc:"), std::string::npos) << m;
  EXPECT_EQ(Rfc5322Date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(Rfc5322Date(1796083200), "Tue, 01 Dec 2026 00:00:00 +0000");
}

// RFC 4648 base64 decoding of `text`, skipping CR and LF (a test's reader of MimeBase64).
std::string DecodeBase64ForTest(std::string_view text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '=') continue;
    const size_t v = kAlphabet.find(c);
    if (v == std::string::npos) return "<bad base64>";
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

Event InvoiceIssuedEvent() {
  Event e = NoticeEvent();
  e.kind = "invoice_issued";
  e.payload = R"({"number":"INV-000042","kind":"invoice","period_start":1793491200,)"
              R"("period_end":1796083200,"issued_at":1796083260,"due_at":1797292860,)"
              R"("currency":"GBP","total":"120.5","total_micro":120500000,"amount_due":"20",)"
              R"("amount_due_micro":20000000,"credit_note_for":"",)"
              R"("pdf":{"op":"Pdf","number":"INV-000042"},)"
              R"("pdf_command":"meterctl invoice pdf INV-000042 -o INV-000042.pdf"})";
  return e;
}

TEST(EmailMessageTest, MimeBase64IsRfc4648InLinesOf76) {
  EXPECT_EQ(MimeBase64(""), "");
  EXPECT_EQ(MimeBase64("f"), "Zg==\r\n");
  EXPECT_EQ(MimeBase64("fo"), "Zm8=\r\n");
  EXPECT_EQ(MimeBase64("foo"), "Zm9v\r\n");
  EXPECT_EQ(MimeBase64("foobar"), "Zm9vYmFy\r\n");
  // 57 bytes make exactly one line of 76 characters; 58 start a second one.
  const std::string b57(57, '\xff'), b58(58, '\x01');
  EXPECT_EQ(MimeBase64(b57), std::string(76, '/') + "\r\n");
  const std::string two = MimeBase64(b58);
  EXPECT_EQ(two.find("\r\n"), 76u);
  EXPECT_EQ(two.size(), 76u + 2 + 4 + 2);
  std::string all;
  for (int i = 0; i < 1000; ++i) all.push_back(static_cast<char>(i * 7));
  EXPECT_EQ(DecodeBase64ForTest(MimeBase64(all)), all);
}

TEST(EmailMessageTest, AnIssuedInvoiceNoticeIsMultipartWithThePdfAttached) {
  const Event e = InvoiceIssuedEvent();
  std::string pdf = "%PDF-1.7\n";
  for (int i = 0; i < 300; ++i) pdf.push_back(static_cast<char>(i));
  const EmailAttachment file{"INV-000042.pdf", "application/pdf", pdf};
  const std::string m = FormatNotice(e, "billing@cloud.example", "ops@bu1.example", &file);
  const std::string boundary = "meterd-42-1767225600";
  EXPECT_NE(m.find("Subject: [meterd] Invoice INV-000042 for bu1user1: 120.5 credits, 20 due\r\n"),
            std::string::npos);
  EXPECT_NE(m.find("Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n"),
            std::string::npos);
  // The text part, then the file, then the closing boundary.
  const size_t text = m.find("--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\n");
  const size_t attachment =
      m.find("--" + boundary +
             "\r\nContent-Type: application/pdf; name=\"INV-000042.pdf\"\r\n"
             "Content-Transfer-Encoding: base64\r\n"
             "Content-Disposition: attachment; filename=\"INV-000042.pdf\"\r\n\r\n");
  const size_t end = m.find("--" + boundary + "--\r\n");
  ASSERT_NE(text, std::string::npos) << m;
  ASSERT_NE(attachment, std::string::npos) << m;
  ASSERT_NE(end, std::string::npos);
  EXPECT_LT(text, attachment);
  EXPECT_EQ(end + boundary.size() + 6, m.size());
  const size_t data = m.find("\r\n\r\n", attachment) + 4;
  EXPECT_EQ(DecodeBase64ForTest(m.substr(data, end - data)), pdf);
  EXPECT_NE(m.find("Invoice INV-000042 of account bu1user1 was issued.\r\n"), std::string::npos);
  EXPECT_NE(m.find("Period:     2026-11-01 00:00:00 UTC to 2026-12-01 00:00:00 UTC\r\n"),
            std::string::npos);
  EXPECT_NE(m.find("Amount due: 20 credits\r\n"), std::string::npos);
  EXPECT_NE(m.find("Due:        2026-12-15 00:01:00 UTC\r\n"), std::string::npos);
  EXPECT_NE(m.find("The document is attached as a PDF.\r\n"), std::string::npos);
  // Without an attachment, a plain-text notice that says how to fetch it.
  const std::string plain = FormatNotice(e, "billing@cloud.example", "ops@bu1.example");
  EXPECT_NE(plain.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
  EXPECT_EQ(plain.find("multipart"), std::string::npos);
  EXPECT_NE(plain.find("Fetch the document as a PDF with: meterctl invoice pdf INV-000042 -o "
                       "INV-000042.pdf\r\n"),
            std::string::npos);
  // A file name cannot break out of its quotes.
  const EmailAttachment evil{"a\"\r\nBcc: x@y.org.pdf", "application/pdf", "x"};
  const std::string m2 = FormatNotice(e, "billing@cloud.example", "ops@bu1.example", &evil);
  EXPECT_EQ(m2.find("\r\nBcc:"), std::string::npos);
  EXPECT_NE(m2.find("filename=\"a___Bcc__x_y.org.pdf\""), std::string::npos);
}

// ---- recipients: the ledger's notify_email setting ----

TEST(EmailRecipientsTest, ResolvedFromTheAccountThenItsDomainsThenStar) {
  testing::TempDir dir;
  ledger::testing::LedgerFixture f(dir.path());
  ledger::Ledger& l = f.ledger();
  auto set = [&](const std::string& scope, const std::string& emails) {
    ledger::SettingsChange c;
    c.notify_email = emails;
    return l.SetSettings(scope, c, "test", "", 1767225600);
  };
  EXPECT_TRUE(l.NotifyEmails("acme").empty());
  ASSERT_TRUE(set("*", "all@meterd.example").ok());
  EXPECT_EQ(l.NotifyEmails("bolt"), std::vector<std::string>{"all@meterd.example"});
  ASSERT_TRUE(set("domain:root", " root@r.example , ops@r.example").ok());
  // bolt's domain (reseller) has no row: its parent (root) answers.
  EXPECT_EQ(l.NotifyEmails("bolt"), (std::vector<std::string>{"root@r.example", "ops@r.example"}));
  ASSERT_TRUE(set("domain:reseller", "").ok());  // nobody, and no inheritance
  EXPECT_TRUE(l.NotifyEmails("bolt").empty());
  ASSERT_TRUE(set("account:acme", "acme@a.example").ok());
  EXPECT_EQ(l.NotifyEmails("acme"), std::vector<std::string>{"acme@a.example"});
  EXPECT_EQ(l.NotifyEmails("cash"), (std::vector<std::string>{"root@r.example", "ops@r.example"}));
  // Other settings of a scope keep its addresses (a row carries every field forward).
  ledger::SettingsChange low;
  low.low_balance = 5 * ledger::testing::kCredit;
  ASSERT_TRUE(l.SetSettings("account:acme", low, "test", "", 1767225601).ok());
  EXPECT_EQ(l.NotifyEmails("acme"), std::vector<std::string>{"acme@a.example"});
  // Refused: a bad address (nothing is written).
  Status bad = set("account:acme", "acme@a.example, Acme <x@y.z>");
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument) << bad.ToString();
  EXPECT_EQ(l.NotifyEmails("acme"), std::vector<std::string>{"acme@a.example"});

  f.Reopen();  // from billing_settings
  EXPECT_EQ(f.ledger().NotifyEmails("acme"), std::vector<std::string>{"acme@a.example"});
  EXPECT_TRUE(f.ledger().NotifyEmails("bolt").empty());
  EXPECT_EQ(f.ledger().NotifyEmails("cash"),
            (std::vector<std::string>{"root@r.example", "ops@r.example"}));
  for (const auto& s : f.ledger().ListSettings()) {
    if (s.scope == "domain:reseller") {
      EXPECT_EQ(s.values.notify_email, std::string());
    }
    if (s.scope == "account:acme") {
      EXPECT_EQ(s.values.low_balance, 5 * ledger::testing::kCredit);
    }
  }
}

TEST(EmailRecipientsTest, AVersionOneBillingDbIsMigratedInPlace) {
  testing::TempDir dir;
  {
    // billing.db as a meterd before notify_email left it: ledger schema version 1, a row.
    auto db = BillingDb::Open(dir.path() + "/billing.db");
    ASSERT_TRUE(db.ok());
    auto txn = (*db)->Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(
        BillingDb::EnsureSchema(*txn, ledger::kLedgerModule, 1, ledger::kLedgerSchema).ok());
    ASSERT_TRUE(txn->Exec("INSERT INTO billing_settings (scope, mode, low_balance, credit_limit, "
                          "hysteresis, actor, reason, created_at) VALUES "
                          "('*', NULL, 3000000, NULL, NULL, 'old', '', 1)")
                    .ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  ledger::testing::LedgerFixture f(dir.path());  // opens and migrates
  {
    auto txn = f.db().Begin();
    ASSERT_TRUE(txn.ok());
    EXPECT_EQ(*BillingDb::SchemaVersion(*txn, ledger::kLedgerModule), ledger::kLedgerSchemaVersion);
  }
  EXPECT_EQ(f.ledger().Resolve("acme").low_balance, 3 * ledger::testing::kCredit);
  EXPECT_TRUE(f.ledger().NotifyEmails("acme").empty());
  ledger::SettingsChange c;
  c.notify_email = "ops@acme.example";
  ASSERT_TRUE(f.ledger().SetSettings("*", c, "test", "", 2).ok());
  f.Reopen();  // the latest version now: opens without migrating again
  EXPECT_EQ(f.ledger().NotifyEmails("acme"), std::vector<std::string>{"ops@acme.example"});
  EXPECT_EQ(f.ledger().Resolve("acme").low_balance, 3 * ledger::testing::kCredit);
}

// ---- the notifier against a real SMTP server ----

TEST(EmailBackoffTest, DoublesFromTheInitialDelayUpToTheCap) {
  RetryPolicy p;  // the defaults: 1 s, 5 min
  EXPECT_EQ(BackoffDelay(p, 1), milliseconds(1000));
  EXPECT_EQ(BackoffDelay(p, 2), milliseconds(2000));
  EXPECT_EQ(BackoffDelay(p, 9), milliseconds(256000));
  EXPECT_EQ(BackoffDelay(p, 10), milliseconds(300000));
  EXPECT_EQ(BackoffDelay(p, 1000000), milliseconds(300000));
  EmailOptions o;
  EXPECT_EQ(o.kinds, (std::vector<std::string>{"low_balance", "negative"}));
}

class EmailNotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = BillingDb::Open(BillingDb::PathIn(dir_.path()));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto log = EventLog::Open(db_.get());
    ASSERT_TRUE(log.ok());
    log_ = std::move(log).value();
    auto store = EmailStore::Open(db_.get());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  // Millisecond-scale retries so that every scenario ends within a second or two.
  EmailOptions Options() {
    EmailOptions o;
    o.smtp.url = sink_.url();
    o.smtp.starttls = StartTls::kOff;  // aiosmtpd here speaks plain SMTP
    o.smtp.timeout = milliseconds(5000);
    o.from = "billing@meterd.example";
    o.retry.initial_backoff = milliseconds(50);
    o.retry.max_backoff = milliseconds(200);
    o.poll_interval = milliseconds(100);
    o.page_size = 2;  // several pages
    return o;
  }

  void StartRelay() {
    Status st = sink_.Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  RecipientSource Recipients() {
    return [this](std::string_view account) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = recipients_.find(std::string(account));
      return it == recipients_.end() ? std::vector<std::string>{} : it->second;
    };
  }

  void StartNotifier(EmailOptions o) {
    notifier_ = std::make_unique<EmailNotifier>(log_.get(), store_.get(), Recipients(), o);
    Status st = notifier_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  int64_t Append(const std::string& kind, const std::string& account,
                 const std::string& balance = "-1.000000") {
    auto txn = db_->Begin();
    EXPECT_TRUE(txn.ok());
    auto id = EventLog::Append(
        *txn, MakeEvent(kind, account, 1767222000,
                        R"({"balance":")" + balance + R"(","low_balance":"10.000000"})"));
    EXPECT_TRUE(id.ok());
    EXPECT_TRUE(txn->Commit().ok());
    log_->Notify();
    return *id;
  }

  // The logged attempts of (event, recipient), oldest first.
  std::vector<EmailDelivery> Log(int64_t event, const std::string& recipient) {
    auto all = store_->Deliveries(event, 1000);
    EXPECT_TRUE(all.ok());
    std::vector<EmailDelivery> out;
    for (auto it = all->rbegin(); it != all->rend(); ++it) {
      if (it->recipient == recipient) out.push_back(*it);
    }
    return out;
  }

  // (event id, recipient) of every message received, in arrival order.
  static std::vector<std::pair<int64_t, std::string>> Received(
      const std::vector<SmtpSink::Message>& messages) {
    std::vector<std::pair<int64_t, std::string>> out;
    for (const auto& m : messages) {
      out.emplace_back(std::stoll(m.headers.at("x-meterd-event-id")),
                       m.rcpt_tos.empty() ? "" : m.rcpt_tos[0]);
    }
    return out;
  }

  testing::TempDir dir_;
  SmtpSink sink_{dir_.path() + "/relay"};
  std::unique_ptr<BillingDb> db_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<EmailStore> store_;
  std::unique_ptr<EmailNotifier> notifier_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> recipients_;  // GUARDED_BY(mu_)
};

TEST_F(EmailNotifierTest, OneMessagePerEventPerRecipientForTheConfiguredKinds) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  recipients_["acme"] = {"ops@acme.example", "cfo@acme.example"};
  recipients_["bolt"] = {"bolt@bolt.example"};
  const int64_t before = Append("low_balance", "acme");  // before email was turned on
  StartNotifier(Options());
  const int64_t low = Append("low_balance", "acme", "8.000000");
  const int64_t neg = Append("negative", "acme", "-2.000000");
  Append("suspend", "acme");     // not a mailed kind
  Append("negative", "nobody");  // no recipients: no email, no log row
  const int64_t bolt = Append("negative", "bolt");
  auto messages = sink_.WaitFor(5, kWait);
  std::this_thread::sleep_for(milliseconds(300));  // nothing more arrives
  messages = sink_.Messages();
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_EQ(Received(messages),
            (std::vector<std::pair<int64_t, std::string>>{{low, "ops@acme.example"},
                                                          {low, "cfo@acme.example"},
                                                          {neg, "ops@acme.example"},
                                                          {neg, "cfo@acme.example"},
                                                          {bolt, "bolt@bolt.example"}}));
  for (const auto& m : messages) {
    EXPECT_EQ(m.mail_from, "billing@meterd.example");
    EXPECT_EQ(m.headers.at("from"), "billing@meterd.example");
    EXPECT_EQ(m.headers.at("to"), m.rcpt_tos.at(0));
    EXPECT_EQ(m.headers.at("mime-version"), "1.0");
    EXPECT_EQ(m.headers.at("content-type"), "text/plain; charset=utf-8");
    EXPECT_TRUE(m.headers.count("date"));
    EXPECT_TRUE(std::regex_match(m.headers.at("message-id"),
                                 std::regex(R"(<meterd\.\d+\.\d+\.[0-9a-f]{8}@meterd\.example>)")));
  }
  EXPECT_EQ(messages[0].headers.at("subject"), "[meterd] Low balance: acme at 8.000000 credits");
  EXPECT_NE(messages[2].body.find("Balance:   -2.000000 credits"), std::string::npos);
  EXPECT_NE(messages[0].headers.at("message-id"), messages[1].headers.at("message-id"));
  // The log: one delivered attempt per message, none for the rest.
  auto log = store_->Deliveries(std::nullopt, 100);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->size(), 5u);
  for (const auto& d : *log) {
    EXPECT_TRUE(d.delivered) << d.error;
    EXPECT_EQ(d.attempt, 1);
    EXPECT_EQ(d.smtp_status, 250);
    EXPECT_NE(d.event_id, before);
  }
  EXPECT_EQ(notifier_->Stats().delivered, 5u);
}

TEST_F(EmailNotifierTest, AnIssuedInvoiceIsMailedWithItsPdfAndAFailedAttachmentIsRetried) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  recipients_["acme"] = {"ops@acme.example", "cfo@acme.example"};
  EmailOptions o = Options();
  o.kinds = {"invoice_issued"};
  std::atomic<int> calls{0};
  const std::string pdf = "%PDF-1.7 not really a document \x01\x02\xff";
  o.attachments = [&calls, &pdf](const Event& e) -> Result<std::optional<EmailAttachment>> {
    // The first call fails (a document not readable yet): the attempt fails and is retried.
    if (calls.fetch_add(1) == 0) return Status::Unavailable("database is busy");
    return std::optional<EmailAttachment>(
        EmailAttachment{"INV-" + std::to_string(e.id) + ".pdf", "application/pdf", pdf});
  };
  StartNotifier(o);
  int64_t id = 0;
  {
    auto txn = db_->Begin();
    ASSERT_TRUE(txn.ok());
    Event e = InvoiceIssuedEvent();
    e.account = "acme";
    auto r = EventLog::Append(*txn, e);
    ASSERT_TRUE(r.ok());
    id = *r;
    ASSERT_TRUE(txn->Commit().ok());
    log_->Notify();
  }
  auto messages = sink_.WaitFor(2, kWait);
  ASSERT_EQ(messages.size(), 2u);
  for (const auto& m : messages) {
    EXPECT_EQ(m.headers.at("content-type"),
              "multipart/mixed; boundary=\"meterd-" + std::to_string(id) + "-" +
                  std::to_string(log_->ReadAfter(id - 1, 1)->at(0).recorded_at) + "\"");
    const size_t start = m.data.find("Content-Disposition: attachment; filename=\"INV-" +
                                     std::to_string(id) + ".pdf\"");
    ASSERT_NE(start, std::string::npos) << m.data;
    const size_t data = m.data.find("\r\n\r\n", start) + 4;
    const size_t end = m.data.find("\r\n--meterd-", data);
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ(DecodeBase64ForTest(m.data.substr(data, end - data)), pdf);
  }
  // One failed attempt (the attachment), then one delivered per recipient; the PDF was made
  // once for both recipients after the failure.
  const auto first = Log(id, "ops@acme.example");
  ASSERT_EQ(first.size(), 2u);
  EXPECT_FALSE(first[0].delivered);
  EXPECT_EQ(first[0].error, "attachment: Unavailable: database is busy");
  EXPECT_EQ(first[0].smtp_status, 0);
  EXPECT_TRUE(first[1].delivered);
  EXPECT_EQ(Log(id, "cfo@acme.example").size(), 1u);
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(EmailNotifierTest, ARefusingRelayIsRetriedWithBackoffUntilItAccepts) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  recipients_["acme"] = {"ops@acme.example"};
  sink_.RejectAll(true);
  StartNotifier(Options());
  const int64_t id = Append("negative", "acme");
  // At least four failed attempts: 451 from the relay, numbered 1, 2, 3, ...
  ASSERT_TRUE([&] {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Log(id, "ops@acme.example").size() >= 4) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }());
  sink_.RejectAll(false);
  auto messages = sink_.WaitFor(1, kWait);
  ASSERT_EQ(messages.size(), 1u);
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(sink_.Messages().size(), 1u);  // delivered once, then left alone
  auto log = Log(id, "ops@acme.example");
  ASSERT_GE(log.size(), 5u);
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].attempt, static_cast<int64_t>(i + 1));
    const bool last = i + 1 == log.size();
    EXPECT_EQ(log[i].delivered, last);
    if (!last) {
      EXPECT_EQ(log[i].smtp_status, 451) << log[i].error;
      EXPECT_NE(log[i].error.find("451"), std::string::npos) << log[i].error;
    }
  }
  const EmailStats s = notifier_->Stats();
  EXPECT_EQ(s.delivered, 1u);
  EXPECT_GE(s.failed_attempts, 4u);
}

TEST_F(EmailNotifierTest, BackoffSpacesTheAttempts) {
  // The relay is down (nothing listens on its port): count the attempts made in a window.
  recipients_["acme"] = {"ops@acme.example"};
  EmailOptions o = Options();
  o.retry.initial_backoff = milliseconds(100);
  o.retry.max_backoff = milliseconds(400);
  o.retry.jitter = 0;
  StartNotifier(o);
  const int64_t id = Append("negative", "acme");
  const auto t0 = std::chrono::steady_clock::now();
  // Attempts at about 0, 100, 300, 700, 1100 ms: by 1000 ms exactly four.
  std::this_thread::sleep_until(t0 + milliseconds(1000));
  const size_t attempts = Log(id, "ops@acme.example").size();
  EXPECT_GE(attempts, 3u);
  EXPECT_LE(attempts, 4u);
  const auto log = Log(id, "ops@acme.example");
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0].smtp_status, 0);
  EXPECT_NE(log[0].error.find("onnect"), std::string::npos) << log[0].error;
}

TEST_F(EmailNotifierTest, AtLeastOnceAcrossRestartsAndAnOutage) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  recipients_["acme"] = {"a@acme.example", "b@acme.example"};
  sink_.Reject("b@acme.example", true);
  StartNotifier(Options());
  const int64_t first = Append("low_balance", "acme");
  ASSERT_EQ(sink_.WaitFor(1, kWait).size(), 1u);  // a got it; b is refused and retried
  ASSERT_TRUE([&] {
    for (int i = 0; i < 500 && Log(first, "b@acme.example").size() < 2; ++i) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    return Log(first, "b@acme.example").size() >= 2;
  }());
  notifier_.reset();  // a restart, with b still owed `first`
  const size_t b_attempts = Log(first, "b@acme.example").size();

  // The relay goes down; events keep coming while no notifier runs, then while one fails.
  sink_.Stop();
  sink_.Reject("b@acme.example", false);
  const int64_t second = Append("negative", "acme");
  StartNotifier(Options());
  const int64_t third = Append("low_balance", "acme");
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_GE(Log(first, "b@acme.example").size(), b_attempts + 1);  // retried, failing
  notifier_.reset();
  const int64_t fourth = Append("negative", "acme");

  // The relay comes back; a new notifier owes b `first`, then everything else, once.
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  StartNotifier(Options());
  auto messages = sink_.WaitFor(8, kWait);
  std::this_thread::sleep_for(milliseconds(300));
  messages = sink_.Messages();
  EXPECT_EQ(Received(messages),
            (std::vector<std::pair<int64_t, std::string>>{{first, "a@acme.example"},
                                                          {first, "b@acme.example"},
                                                          {second, "a@acme.example"},
                                                          {second, "b@acme.example"},
                                                          {third, "a@acme.example"},
                                                          {third, "b@acme.example"},
                                                          {fourth, "a@acme.example"},
                                                          {fourth, "b@acme.example"}}));
  // Attempt numbers continued across the restarts.
  auto log = Log(first, "b@acme.example");
  ASSERT_FALSE(log.empty());
  EXPECT_TRUE(log.back().delivered);
  EXPECT_EQ(log.back().attempt, static_cast<int64_t>(log.size()));
  EXPECT_GT(log.back().attempt, static_cast<int64_t>(b_attempts));
  // A further restart sends nothing again.
  notifier_.reset();
  StartNotifier(Options());
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_EQ(sink_.Messages().size(), 8u);
}

TEST_F(EmailNotifierTest, RequiredStartTlsRefusesAPlainRelayBeforeSendingAnything) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  recipients_["acme"] = {"ops@acme.example"};
  EmailOptions o = Options();
  o.smtp.starttls = StartTls::kRequired;  // the default; aiosmtpd here offers no STARTTLS
  o.smtp.user = "meterd";
  o.smtp.password = "secret";
  StartNotifier(o);
  const int64_t id = Append("negative", "acme");
  ASSERT_TRUE([&] {
    for (int i = 0; i < 500 && Log(id, "ops@acme.example").empty(); ++i) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    return !Log(id, "ops@acme.example").empty();
  }());
  const auto log = Log(id, "ops@acme.example");
  EXPECT_FALSE(log[0].delivered);
  EXPECT_FALSE(log[0].error.empty());
  EXPECT_TRUE(sink_.Messages().empty());
}

TEST_F(EmailNotifierTest, StartRefusesBadOptions) {
  for (const char* url : {"http://relay.example", "smtp://user:pw@relay.example", "smtp://",
                          "smtp://relay example"}) {
    EmailOptions o = Options();
    o.smtp.url = url;
    EmailNotifier n(log_.get(), store_.get(), Recipients(), o);
    EXPECT_EQ(n.Start().code(), Status::Code::kInvalidArgument) << url;
  }
  EmailOptions o = Options();
  o.from = "meterd";
  EmailNotifier n(log_.get(), store_.get(), Recipients(), o);
  EXPECT_EQ(n.Start().code(), Status::Code::kInvalidArgument);
  o = Options();
  o.kinds = {"Low Balance"};
  EmailNotifier k(log_.get(), store_.get(), Recipients(), o);
  EXPECT_EQ(k.Start().code(), Status::Code::kInvalidArgument);
}

}  // namespace email_notifier_test
}  // namespace meterd::engine::events
