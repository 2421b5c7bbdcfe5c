// meterd — tests/integration/meterd_collections_test.cc
//
// Collections and the statement of account end to end on the real meterd and meterctl. Last
// month's subscription fees of bu1user1 (postpaid, 100 credits of them paid by a promotional
// grant, shown apart as `promotional_applied`) are invoiced, and `invoice usage` lists the
// subscriptions behind its lines, adding up to them; `meterctl invoice collect
// --at T` drives the collections clock: the reminder before the due date is sent once, a pass
// past the overdue limit sends the first dunning level and suspends the account (one
// `suspend`), a restart keeps both and sends nothing twice, and paying the invoice resumes it
// (one `resume`). The statement of account adds up: closing = opening + its entries, it equals
// the balance, and the statement of [a, b) closes where the one of [b, c) opens.
#include <nlohmann/json.hpp>
#include <thread>

#include "storage/base/calendar.h"
#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

using Json = nlohmann::json;
constexpr int64_t kDay = 86400;

class MeterdCollectionsTest : public MeterdTest {
 protected:
  Json Run(const std::string& args) {
    CommandResult r = Meterctl(args + " --format json");
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out << r.err;
    return r.exit_code == 0 ? Json::parse(r.out, nullptr, false) : Json();
  }
  bool WaitBilledThrough(int64_t hour_end) {
    for (int i = 0; i < 600; ++i) {
      auto j = Json::parse(Meterctl("stats --format json").out, nullptr, false);
      if (j.is_object() && j.value("billing_next_hour", int64_t{0}) >= hour_end) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  std::vector<std::string> Kinds(const std::string& account) {
    std::vector<std::string> out;
    const Json events = Run("events --account " + account);
    for (const auto& e : events["events"]) {
      // Every issued document has its issuing event (meterd_invoices_test checks them).
      if (e["kind"] != "invoice_issued" && e["kind"] != "credit_note_issued") {
        out.push_back(e["kind"]);
      }
    }
    if (out.empty()) ADD_FAILURE() << events.dump(1);
    return out;
  }
  std::string State(const std::string& account) {
    auto b = Run("balance --account " + account);
    return b["balances"].empty() ? "" : b["balances"][0].value("state", "");
  }
  Json Collect(int64_t at) { return Run("invoice collect --at " + std::to_string(at)); }
};

TEST_F(MeterdCollectionsTest, RemindersDunningSuspensionAndAStatementThatAddsUp) {
  const int64_t this_month = base::MonthStart(UnixNow());
  const int64_t last_month = base::MonthStart(this_month - 1);
  const std::vector<std::string> flags = {
      "--grace", "0", "--billing-start", std::to_string(last_month), "--collections-interval", "0"};
  server_.Stop();
  StartServer({"--grace", "0", "--no-billing-clock"});
  const std::string catalog = std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml";
  ASSERT_EQ(Meterctl("apply " + catalog).exit_code, 0);
  // Postpaid with room to owe: only collections suspends it.
  ASSERT_EQ(Meterctl("settings set --scope account:bu1user1 --mode postpaid --credit-limit "
                     "100000 --reminder-days=-3,0,7 --overdue-days 10 --reason test")
                .exit_code,
            0);
  // Promotional credit before the clock runs: last month's fees draw on it first.
  ASSERT_EQ(Meterctl("grant --account bu1user1 --amount 100 --expires 4102444800 --reason promo")
                .exit_code,
            0);
  CommandResult bad = Meterctl("settings set --scope account:bu1user1 --reminder-days 7,x");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("reminder_days"), std::string::npos) << bad.err;
  auto settings = Run("settings list");
  bool listed = false;
  const Json rows = settings.is_array() ? settings : settings.value("settings", Json::array());
  for (const auto& s : rows) {
    listed =
        listed || (s.value("reminder_days", "") == "-3,0,7" && s.value("overdue_days", "") == "10");
  }
  EXPECT_TRUE(listed) << settings.dump(1);
  server_.Stop();
  StartServer(flags, false);
  const int64_t now = UnixNow();
  ASSERT_TRUE(WaitBilledThrough(now - now % 3600));

  const std::string period = " --period " + std::to_string(last_month) + " --account bu1user1";
  ASSERT_EQ(Run("invoice run" + period)["drafts"], 1);
  auto issued = Run("invoice issue" + period);
  ASSERT_EQ(issued["invoices"].size(), 1u) << issued.dump(1);
  const Json inv = issued["invoices"][0];
  const std::string number = inv["number"];
  const int64_t due = inv["due_at"];
  ASSERT_GT(inv["amount_due_micro"].get<int64_t>(), 0) << inv.dump(1);
  EXPECT_EQ(State("bu1user1"), "ok");
  // The grant is shown apart from the amount due, in the document and the printed invoice.
  auto doc = Run("invoice show " + number);
  EXPECT_EQ(doc["promotional_applied"]["micro"], 100'000'000) << doc.dump(1);
  EXPECT_EQ(doc["prepaid_applied"]["micro"], 0);
  EXPECT_EQ(doc["amount_due"]["micro"].get<int64_t>() + 100'000'000, doc["total"]["micro"]);
  CommandResult text = Meterctl("invoice show " + number);
  EXPECT_NE(text.out.find("Promotional credit applied"), std::string::npos) << text.out;

  // The usage behind its lines, per resource (here the subscriptions): each line adds up.
  auto usage = Run("invoice usage --invoice " + number);
  EXPECT_TRUE(usage["matches"].get<bool>()) << usage.dump(1);
  ASSERT_FALSE(usage["lines"].empty()) << usage.dump(1);
  for (const auto& l : usage["lines"]) {
    int64_t sum = 0;
    for (const auto& r : l["resources"]) sum += r["amount_micro"].get<int64_t>();
    EXPECT_FALSE(l["resources"].empty()) << l.dump(1);
    EXPECT_EQ(sum, l["invoiced_micro"].get<int64_t>()) << l.dump(1);
    EXPECT_EQ(sum, doc["lines"][l["line"].get<size_t>()]["amount"]["micro"].get<int64_t>());
  }
  EXPECT_EQ(usage["lines"][0]["resources"][0]["resource"].get<std::string>().rfind("sub-", 0), 0u)
      << usage.dump(1);

  // Before the first step nothing; the reminder 3 days before, once.
  EXPECT_TRUE(Collect(due - 4 * kDay)["reminders"].empty());
  auto r = Collect(due - 3 * kDay);
  ASSERT_EQ(r["reminders"].size(), 1u) << r.dump(1);
  EXPECT_EQ(r["reminders"][0]["kind"], "invoice_reminder");
  EXPECT_TRUE(Collect(due - 3 * kDay)["reminders"].empty());
  // 11 days overdue: dunning level 1 (day 7; the due-date step is skipped) and suspended.
  r = Collect(due + 11 * kDay);
  ASSERT_EQ(r["reminders"].size(), 1u) << r.dump(1);
  EXPECT_EQ(r["reminders"][0]["kind"], "invoice_overdue");
  EXPECT_EQ(r["reminders"][0]["dunning_level"], 1);
  EXPECT_EQ(r["held"], Json::array({number}));
  EXPECT_EQ(State("bu1user1"), "suspended");

  // A restart keeps the hold and sends nothing twice.
  server_.Stop();
  StartServer(flags, false);
  r = Collect(due + 12 * kDay);
  EXPECT_TRUE(r["reminders"].empty()) << r.dump(1);
  EXPECT_TRUE(r["held"].empty()) << r.dump(1);
  EXPECT_EQ(State("bu1user1"), "suspended");
  auto shown = Run("invoice show " + number);
  size_t reminders = 0;
  for (const auto& e : shown["events"]) reminders += e["kind"] == "reminder";
  EXPECT_EQ(reminders, 2u) << shown.dump(1);

  // Paying it resumes the account at once.
  Run("invoice mark-paid " + number + " --reference bank-77");
  EXPECT_EQ(State("bu1user1"), "ok");
  EXPECT_EQ(Kinds("bu1user1"),
            (std::vector<std::string>{"invoice_reminder", "invoice_overdue", "suspend", "resume"}));
  EXPECT_TRUE(Collect(due + 40 * kDay)["reminders"].empty());  // paid: no more steps

  // The statement of account: exact, and consistent with the balance and with itself.
  const int64_t end = UnixNow() + 1;
  auto st = Run("statement --account bu1user1 --from " + std::to_string(last_month) + " --to " +
                std::to_string(end));
  int64_t sum = 0;
  for (const auto& e : st["entries"]) sum += e["amount"]["micro"].get<int64_t>();
  ASSERT_FALSE(st["entries"].empty());
  EXPECT_EQ(st["opening_balance"]["micro"], 0);  // nothing before the clock's start
  EXPECT_EQ(st["closing_balance"]["micro"].get<int64_t>(),
            st["opening_balance"]["micro"].get<int64_t>() + sum);
  EXPECT_EQ(st["closing_balance"]["micro"],
            Run("balance --account bu1user1")["balances"][0]["balance_micro"]);
  bool payment = false, document = false;
  for (const auto& e : st["entries"]) payment = payment || e["kind"] == "payment";
  for (const auto& d : st["documents"]) document = document || d["number"] == number;
  EXPECT_TRUE(payment && document) << st.dump(1);
  const std::string mid = std::to_string(last_month + 10 * kDay);
  auto a =
      Run("statement --account bu1user1 --from " + std::to_string(last_month) + " --to " + mid);
  auto b = Run("statement --account bu1user1 --from " + mid + " --to " + std::to_string(end));
  EXPECT_EQ(a["closing_balance"]["micro"], b["opening_balance"]["micro"]);
  EXPECT_EQ(b["closing_balance"]["micro"], st["closing_balance"]["micro"]);
  CommandResult csv = Meterctl("statement --account bu1user1 --format csv --from " +
                               std::to_string(last_month) + " --to " + std::to_string(end));
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("line,id,at,kind,amount,balance_after,reference,reason\nopening,", 0), 0u)
      << csv.out;
  EXPECT_NE(csv.out.find("\nclosing,"), std::string::npos);
  CommandResult unknown = Meterctl("statement --account nobody");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("nobody"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace meterd::testing
