// meterd — tests/engine/billing/billing_clock_test.cc: the billing clock over a scripted
// rater whose month-to-date amounts are computed here by hand (a per-hour price with a
// monthly cap, and a monthly fee), so every expected debit is plain arithmetic.
#include "engine/billing/billing_clock.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "engine/pricebook/pricing.h"
#include "tests/engine/ledger/ledger_test_util.h"

namespace meterd::engine::billing {
namespace billing_clock_test {

using ledger::Entry;
using ledger::EntryKind;
using ledger::testing::kCredit;
using ledger::testing::LedgerFixture;

constexpr int64_t kH = 3600;
constexpr int64_t kNov = 1'793'491'200;  // 2026-11-01T00:00:00Z
constexpr int64_t kDec = kNov + 30 * 24 * kH;

// Running hours per account per hour; 2 credits an hour, capped at 100 hours a month; a fee
// of 7 credits due at each month's first hour for "acme".
class ScriptedRater : public UsageRater {
 public:
  void SetUsage(const std::string& account, int64_t hour, int64_t running) {
    std::lock_guard l(mu_);
    usage_[account][hour] = running;
  }
  void Revise(const std::string& account, int64_t hour, int64_t running) {
    SetUsage(account, hour, running);
    std::lock_guard l(mu_);
    ++mark_;
  }
  void SetClosedBefore(int64_t t) {
    std::lock_guard l(mu_);
    closed_ = t;
  }
  void SetFailing(bool f) {
    std::lock_guard l(mu_);
    failing_ = f;
  }

  // The amount of `account` for the hours [month, t) of the month starting at `month` (hand
  // arithmetic).
  MicroCredits Accrued(const std::string& account, int64_t month, int64_t t) const {
    int64_t hours = 0;
    auto it = usage_.find(account);
    if (it != usage_.end()) {
      for (const auto& [h, n] : it->second) {
        if (h >= month && h < t) hours += n;
      }
    }
    return 2 * kCredit * std::min<int64_t>(hours, 100);
  }

  Result<ChargesByAccount> Rate(int64_t from, int64_t to, std::string_view account) override {
    std::lock_guard l(mu_);
    ++calls_;
    if (failing_) return Status::NotFound("no price book yet");
    ChargesByAccount out;
    for (const auto& [a, hours] : usage_) {
      if (!account.empty() && a != account) continue;
      AccountCharges c;
      const int64_t month = pricebook::MonthStart(from);
      c.usage = Accrued(a, month, to) - Accrued(a, month, from);
      if (a == "acme" && month >= from && month < to) c.fees = 7 * kCredit;
      if (c.usage != 0 || c.fees != 0) out[a] = c;
    }
    return out;
  }
  int64_t ClosedBefore() override {
    std::lock_guard l(mu_);
    return closed_;
  }
  uint64_t RevisionMark() override {
    std::lock_guard l(mu_);
    return mark_;
  }
  int calls() const {
    std::lock_guard l(mu_);
    return calls_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<int64_t, int64_t>> usage_;
  int64_t closed_ = 0;
  uint64_t mark_ = 0;
  bool failing_ = false;
  int calls_ = 0;
};

MicroCredits Sum(const std::vector<Entry>& entries, std::initializer_list<EntryKind> kinds) {
  MicroCredits s = 0;
  for (const Entry& e : entries) {
    for (EntryKind k : kinds) s += e.kind == k ? e.amount : 0;
  }
  return s;
}

TEST(BillingClock, DebitsAddUpToTheMonthsChargesAcrossARestart) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ScriptedRater rater;
  for (int64_t h = kNov; h < kDec; h += kH) {
    rater.SetUsage("acme", h, 1);                  // capped after 100 h
    rater.SetUsage("bolt", h, (h / kH) % 3 == 0);  // a third of the hours
  }
  ClockOptions o;
  o.start = kNov;
  o.max_hours_per_call = 1000;
  {
    BillingClock clock(&f.ledger(), &rater, o);
    rater.SetClosedBefore(kNov + 300 * kH);
    auto n = clock.CloseDue();
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(n.value(), 300);
    EXPECT_EQ(clock.CloseDue().value(), 0);  // nothing new closed: nothing booked
  }
  f.Reopen();  // a restart in the middle of the month
  BillingClock clock(&f.ledger(), &rater, o);
  rater.SetClosedBefore(kDec);
  ASSERT_EQ(clock.CloseDue().value(), 720 - 300);
  for (const char* a : {"acme", "bolt"}) {
    const auto entries = f.ledger().Entries(a, kNov, kDec).value();
    const MicroCredits debited =
        -Sum(entries, {EntryKind::kUsage, EntryKind::kFee, EntryKind::kAdjustment});
    const MicroCredits fee = std::string(a) == "acme" ? 7 * kCredit : 0;
    EXPECT_EQ(debited, rater.Accrued(a, kNov, kDec) + fee) << a;
    EXPECT_EQ(Sum(entries, {EntryKind::kAdjustment}), 0) << a;
    EXPECT_EQ(f.ledger().Balance(a)->balance, -debited);
  }
  // Acme: 100 hours at 2 credits, then the cap: exactly 100 usage entries.
  int usage_entries = 0;
  const std::vector<Entry> acme = f.ledger().Entries("acme", kNov, kDec).value();
  for (const Entry& e : acme) {
    usage_entries += e.kind == EntryKind::kUsage;
  }
  EXPECT_EQ(usage_entries, 100);
}

TEST(BillingClock, ALateRevisionIsOneAdjustmentOfTheDifference) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ScriptedRater rater;
  for (int64_t h = kNov; h < kNov + 10 * kH; h += kH) rater.SetUsage("bolt", h, 1);
  rater.SetUsage("bolt", kNov + 3 * kH, 0);  // stopped in hour 3 ... as first reported
  ClockOptions o;
  o.start = kNov;
  BillingClock clock(&f.ledger(), &rater, o);
  rater.SetClosedBefore(kNov + 6 * kH);
  ASSERT_EQ(clock.CloseDue().value(), 6);
  EXPECT_EQ(f.ledger().Balance("bolt")->balance, -10 * kCredit);  // 5 hours
  // Late data: it ran in hour 3 after all. The adjustment is booked at once, with the last
  // hour booked, before any new hour closes.
  rater.Revise("bolt", kNov + 3 * kH, 1);
  ASSERT_EQ(clock.CloseDue().value(), 0);
  EXPECT_EQ(f.ledger().Balance("bolt")->balance, -12 * kCredit);  // 6 hours
  rater.SetClosedBefore(kNov + 7 * kH);
  ASSERT_EQ(clock.CloseDue().value(), 1);
  const auto entries = f.ledger().Entries("bolt", kNov, kDec).value();
  int adjustments = 0;
  for (const Entry& e : entries) {
    if (e.kind != EntryKind::kAdjustment) continue;
    ++adjustments;
    EXPECT_EQ(e.amount, -2 * kCredit);
    EXPECT_EQ(*e.hour, kNov + 5 * kH);
    EXPECT_EQ(*e.month, kNov);
  }
  EXPECT_EQ(adjustments, 1);
  EXPECT_EQ(f.ledger().Balance("bolt")->balance, -14 * kCredit);  // 7 hours
}

// Without a revision since the last booking the month-to-date before the hour is what was
// billed: one rating an hour (the hour's), plus the month-to-date again once a revision lands.
TEST(BillingClock, RatesTheMonthToDateOnlyAfterARevision) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ScriptedRater rater;
  for (int64_t h = kNov; h < kNov + 20 * kH; h += kH) rater.SetUsage("bolt", h, 1);
  ClockOptions o;
  o.start = kNov;
  BillingClock clock(&f.ledger(), &rater, o);
  rater.SetClosedBefore(kNov + 10 * kH);
  ASSERT_EQ(clock.CloseDue().value(), 10);
  // The first hour has no month-to-date before it, and no revision comes after: one rating an
  // hour.
  EXPECT_EQ(rater.calls(), 10);
  rater.Revise("bolt", kNov + 2 * kH, 0);
  rater.SetClosedBefore(kNov + 12 * kH);
  ASSERT_EQ(clock.CloseDue().value(), 2);
  EXPECT_EQ(rater.calls(), 10 + 2 + 1);  // the month-to-date once, with the next hour
  EXPECT_EQ(f.ledger().Balance("bolt")->balance, -22 * kCredit);  // 11 of 12 hours ran
}

TEST(BillingClock, LastMonthsRevisionIsBookedToLastMonth) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ScriptedRater rater;
  rater.SetUsage("bolt", kDec - kH, 1);
  rater.SetUsage("bolt", kDec, 1);
  ClockOptions o;
  o.start = kDec - 2 * kH;
  o.max_hours_per_call = 100;
  BillingClock clock(&f.ledger(), &rater, o);
  rater.SetClosedBefore(kDec + 2 * kH);
  ASSERT_EQ(clock.CloseDue().value(), 4);
  EXPECT_EQ(f.ledger().Balance("bolt")->balance, -4 * kCredit);
  rater.Revise("bolt", kDec - 2 * kH, 1);  // November's second-to-last hour
  rater.SetClosedBefore(kDec + 3 * kH);
  ASSERT_EQ(clock.CloseDue().value(), 1);
  EXPECT_EQ(f.ledger().Balance("bolt")->balance, -6 * kCredit);
  EXPECT_EQ(f.ledger().Billed("bolt", kNov), 4 * kCredit);
  EXPECT_EQ(f.ledger().Billed("bolt", kDec), 2 * kCredit);
}

TEST(BillingClock, WaitsWhileRatingFailsAndBooksNothingHalfway) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ScriptedRater rater;
  rater.SetUsage("acme", kNov, 1);
  rater.SetFailing(true);
  ClockOptions o;
  o.start = kNov;
  BillingClock clock(&f.ledger(), &rater, o);
  rater.SetClosedBefore(kNov + 2 * kH);
  EXPECT_FALSE(clock.CloseDue().ok());
  EXPECT_FALSE(f.ledger().NextHour().has_value());
  EXPECT_FALSE(clock.stats().last_error.empty());
  rater.SetFailing(false);
  ASSERT_EQ(clock.CloseDue().value(), 2);
  EXPECT_TRUE(clock.stats().last_error.empty());
  // 2 credits of usage and the 7-credit fee of the month's first hour.
  EXPECT_EQ(f.ledger().Balance("acme")->balance, -9 * kCredit);
}

TEST(BillingClock, TheThreadBooksClosedHoursByItself) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ScriptedRater rater;
  rater.SetUsage("bolt", kNov, 1);
  ClockOptions o;
  o.start = kNov;
  o.interval = std::chrono::milliseconds(5);
  BillingClock clock(&f.ledger(), &rater, o);
  clock.Start();
  rater.SetClosedBefore(kNov + 3 * kH);
  for (int i = 0; i < 400 && clock.stats().hours_booked < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  clock.Stop();
  EXPECT_EQ(clock.stats().hours_booked, 3u);
  EXPECT_EQ(*f.ledger().NextHour(), kNov + 3 * kH);
}

}  // namespace billing_clock_test
}  // namespace meterd::engine::billing
