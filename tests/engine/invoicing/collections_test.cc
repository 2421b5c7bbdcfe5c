// meterd — tests/engine/invoicing/collections_test.cc: reminder steps and dunning levels sent
// exactly once across passes and restarts, a late pass sending only the latest step, and the
// credit limit by days overdue: a hold that suspends the account (one `suspend`), survives a
// restart, ignores top-ups while held, and is released by payment or credit note with the
// balance thresholds' hysteresis. The collections clock is the `at` each test passes.
#include "engine/invoicing/collections.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/engine/ledger/ledger_test_util.h"

namespace meterd::engine::invoicing {
namespace collections_test {

using ledger::kNoOverdueLimit;
using ledger::SettingsChange;
using ledger::testing::kCredit;
using ledger::testing::LedgerFixture;

constexpr int64_t kDay = 86400;
constexpr int64_t kIssued = 1'793'491'200;  // 2026-11-01T00:00:00Z
constexpr int64_t kDue = kIssued + 14 * kDay;

class CollectionsTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    collector_.reset();
    store_.reset();
    if (fx_) {
      fx_->Reopen();
    } else {
      fx_ = std::make_unique<LedgerFixture>(dir_.path());
    }
    auto s = InvoiceStore::Open(&fx_->db());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    collector_ = std::make_unique<Collector>(&fx_->ledger(), store_.get(), &fx_->events());
  }
  void Settings(const std::string& scope, const std::string& days, int64_t overdue) {
    SettingsChange c;
    c.reminder_days = days;
    c.overdue_days = overdue;
    ASSERT_TRUE(fx_->ledger().SetSettings(scope, c, "test", "", 1).ok());
  }
  // Issues an invoice of `due` credits for `account`, due 14 days after kIssued.
  std::string Issue(const std::string& account, MicroCredits due) {
    Invoice inv;
    inv.account = account;
    inv.period_start = kIssued - 30 * kDay;
    inv.period_end = kIssued;
    inv.subtotal = inv.total = inv.amount_due = {due, due / 10000};
    EXPECT_TRUE(store_->PutDraft(inv, Coverage{}).ok());
    auto s = store_->Issue(account, inv.period_start, NumberingOptions{"*", "INV-", 6, 14 * kDay},
                           kIssued);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? s->invoice.number : "";
  }
  CollectReport Collect(int64_t at) {
    auto r = collector_->Collect(at, at);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : CollectReport{};
  }
  // The account's events but the issuing ones (invoice_issued, credit_note_issued: tested in
  // invoice_event_test.cc), which every issued document has.
  std::vector<std::string> Kinds(const std::string& account) {
    std::vector<std::string> out = fx_->EventKinds(account);
    std::erase_if(out, [](const std::string& k) {
      return k == "invoice_issued" || k == "credit_note_issued";
    });
    return out;
  }

  meterd::testing::TempDir dir_;
  std::unique_ptr<LedgerFixture> fx_;
  std::unique_ptr<InvoiceStore> store_;
  std::unique_ptr<Collector> collector_;
};

TEST(ReminderDaysTest, ParsedSortedAndBounded) {
  EXPECT_EQ(ledger::ParseReminderDays("14, -3,0,7,7,+1").value(),
            (std::vector<int64_t>{-3, 0, 1, 7, 14}));
  EXPECT_TRUE(ledger::ParseReminderDays("").value().empty());
  EXPECT_EQ(ledger::FormatReminderDays({-3, 0, 7}), "-3,0,7");
  for (const char* bad : {"x", "1,,2", "3.5", "400", "-367", "1 2"}) {
    EXPECT_FALSE(ledger::ParseReminderDays(bad).ok()) << bad;
  }
  EXPECT_EQ(DunningLevel({-3, 0, 7, 14, 30}, 14), 2);
  EXPECT_EQ(DunningLevel({-3, 0, 7, 14, 30}, 0), 0);
}

TEST_F(CollectionsTest, EachStepIsSentOnceAcrossPassesAndRestarts) {
  Settings("*", "-3,0,7,14", kNoOverdueLimit);
  const std::string number = Issue("acme", 50 * kCredit);
  EXPECT_TRUE(Collect(kDue - 4 * kDay).reminders.empty());
  CollectReport r = Collect(kDue - 3 * kDay);
  ASSERT_EQ(r.reminders.size(), 1u);
  EXPECT_EQ(r.reminders[0].kind, "invoice_reminder");
  EXPECT_EQ(r.reminders[0].number, number);
  EXPECT_TRUE(Collect(kDue - 3 * kDay).reminders.empty());  // the same pass again
  EXPECT_TRUE(Collect(kDue - kDay).reminders.empty());
  ASSERT_EQ(Collect(kDue).reminders.size(), 1u);
  Reopen();  // state is in billing.db
  EXPECT_TRUE(Collect(kDue + kDay).reminders.empty());
  EXPECT_TRUE(Collect(kDue).reminders.empty());
  r = Collect(kDue + 7 * kDay);
  ASSERT_EQ(r.reminders.size(), 1u);
  EXPECT_EQ(r.reminders[0].dunning_level, 1);
  r = Collect(kDue + 40 * kDay);
  ASSERT_EQ(r.reminders.size(), 1u);
  EXPECT_EQ(r.reminders[0].dunning_level, 2);
  EXPECT_TRUE(Collect(kDue + 41 * kDay).reminders.empty());
  EXPECT_EQ(Kinds("acme"), (std::vector<std::string>{"invoice_reminder", "invoice_due",
                                                     "invoice_overdue", "invoice_overdue"}));
  // The last event says what is owed and how late.
  auto events = fx_->events().ReadAfter(0, 100, "acme");
  ASSERT_TRUE(events.ok());
  const auto payload = nlohmann::json::parse(events->back().payload);
  EXPECT_EQ(payload["number"], number);
  EXPECT_EQ(payload["day"], 14);
  EXPECT_EQ(payload["dunning_level"], 2);
  EXPECT_EQ(payload["days_overdue"], 40);
  EXPECT_EQ(payload["outstanding_micro"], 50 * kCredit);
  // The invoice's own history has the four reminders.
  auto stored = store_->Get(number);
  ASSERT_TRUE(stored.ok());
  size_t reminders = 0;
  for (const InvoiceEvent& e : stored->events) reminders += e.kind == "reminder";
  EXPECT_EQ(reminders, 4u);
}

TEST_F(CollectionsTest, ALatePassSendsOnlyTheLatestStepAndPaidInvoicesNone) {
  Settings("*", "-3,0,7", kNoOverdueLimit);
  Settings("domain:reseller", "0,30", kNoOverdueLimit);  // bolt's domain: its own schedule
  Issue("acme", 5 * kCredit);
  Issue("bolt", 5 * kCredit);
  const std::string paid = Issue("cash", 5 * kCredit);
  ASSERT_TRUE(store_->AddEvent(paid, {0, "paid", 0, "p", "t", "", kIssued}).ok());
  CollectReport r = Collect(kDue + 8 * kDay);
  ASSERT_EQ(r.reminders.size(), 2u);
  EXPECT_EQ(r.outstanding, 2u);
  EXPECT_EQ(Kinds("acme"), (std::vector<std::string>{"invoice_overdue"}));
  EXPECT_EQ(Kinds("bolt"), (std::vector<std::string>{"invoice_due"}));
  EXPECT_TRUE(Kinds("cash").empty());
  EXPECT_TRUE(Collect(kDue + 9 * kDay).reminders.empty());  // the skipped steps never follow
}

TEST_F(CollectionsTest, OverdueLimitSuspendsUntilThePaymentAndSurvivesARestart) {
  Settings("*", "", 10);
  ASSERT_TRUE(fx_->ledger().Post(ledger::testing::TopUp("acme", 100 * kCredit, "t1"), 1).ok());
  const std::string number = Issue("acme", 50 * kCredit);
  EXPECT_TRUE(Collect(kDue + 10 * kDay).held.empty());  // not more than 10 days yet
  CollectReport r = Collect(kDue + 10 * kDay + 1);
  EXPECT_EQ(r.held, (std::vector<std::string>{number}));
  EXPECT_TRUE(Collect(kDue + 11 * kDay).held.empty());
  EXPECT_EQ(fx_->ledger().Balance("acme")->state, ledger::AccountState::kSuspended);
  // A top-up does not lift a hold.
  ASSERT_TRUE(fx_->ledger().Post(ledger::testing::TopUp("acme", 5 * kCredit, "t2"), 2).ok());
  EXPECT_EQ(fx_->ledger().Balance("acme")->state, ledger::AccountState::kSuspended);
  Reopen();
  EXPECT_EQ(fx_->ledger().Holds("acme"), (std::vector<std::string>{number}));
  EXPECT_EQ(fx_->ledger().Balance("acme")->state, ledger::AccountState::kSuspended);
  EXPECT_FALSE(fx_->db().Begin()->Exec("DELETE FROM account_holds").ok());
  // Paid: the next pass releases it, with one resume.
  ASSERT_TRUE(store_->AddEvent(number, {0, "payment", 50 * kCredit, "p", "t", "", 3}).ok());
  ASSERT_TRUE(store_->AddEvent(number, {0, "paid", 0, "p", "t", "", 3}).ok());
  r = Collect(kDue + 12 * kDay);
  EXPECT_EQ(r.released, (std::vector<std::string>{number}));
  EXPECT_TRUE(fx_->ledger().Holds("acme").empty());
  EXPECT_EQ(fx_->ledger().Balance("acme")->state, ledger::AccountState::kOk);
  EXPECT_EQ(Kinds("acme"), (std::vector<std::string>{"suspend", "resume"}));
  EXPECT_TRUE(Collect(kDue + 13 * kDay).released.empty());
}

TEST_F(CollectionsTest, ACreditNoteReleasesWithTheBalanceHysteresis) {
  Settings("*", "", 0);
  SettingsChange limit;
  limit.credit_limit = 10 * kCredit;
  ASSERT_TRUE(fx_->ledger().SetSettings("*", limit, "test", "", 1).ok());
  ledger::ManualEntry debit;
  debit.account = "bolt";
  debit.kind = ledger::EntryKind::kAdjustment;
  debit.amount = -9 * kCredit - kCredit / 2;  // -9.5: negative, not suspended
  debit.actor = "test";
  debit.reason = "usage";
  ASSERT_TRUE(fx_->ledger().Post(debit, 1).ok());
  const std::string number = Issue("bolt", 20 * kCredit);
  EXPECT_EQ(Collect(kDue + 1).held, (std::vector<std::string>{number}));
  // Credited in full: released, but -9.5 is within the hysteresis (1 credit) of the limit's
  // bound (-10), so the account stays suspended without a resume...
  Invoice note;
  note.kind = InvoiceKind::kCreditNote;
  note.account = "bolt";
  note.period_start = kIssued - 30 * kDay;
  note.total = {20 * kCredit, 2000};
  ASSERT_TRUE(store_->IssueCreditNote(note, number, NumberingOptions{"*", "CN-", 6, 0}, 5).ok());
  auto stored = store_->Get(number);
  ASSERT_TRUE(stored.ok());
  ASSERT_TRUE(ReleaseIfSettled(&fx_->ledger(), *stored, kDue + 2, 6).ok());
  EXPECT_TRUE(fx_->ledger().Holds("bolt").empty());
  EXPECT_EQ(fx_->ledger().Balance("bolt")->state, ledger::AccountState::kSuspended);
  EXPECT_EQ(Kinds("bolt"), (std::vector<std::string>{"negative", "suspend"}));
  // ... until the balance clears it: then one resume.
  ASSERT_TRUE(fx_->ledger().Post(ledger::testing::TopUp("bolt", kCredit, "t1"), 7).ok());
  EXPECT_EQ(Kinds("bolt"), (std::vector<std::string>{"negative", "suspend", "resume"}));
  EXPECT_TRUE(Collect(kDue + 3).held.empty());  // settled: never held again
}

}  // namespace collections_test
}  // namespace meterd::engine::invoicing
