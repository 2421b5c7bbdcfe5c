// meterd — tests/engine/ledger/ledger_test.cc: entries, balances, grants, idempotence,
// append-only tables, hour booking and what a reopen rebuilds.
#include "engine/ledger/ledger.h"

#include <gtest/gtest.h>

#include "tests/engine/ledger/ledger_test_util.h"

namespace meterd::engine::ledger {
namespace {

using testing::kCredit;
using testing::LedgerFixture;
using testing::TopUp;

constexpr int64_t kNow = 1'793'491'200;  // 2026-11-01T00:00:00Z
constexpr int64_t kH = 3600;

TEST(Ledger, TopUpIsIdempotentOnItsReference) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  auto first = f.ledger().Post(TopUp("acme", 50 * kCredit, "pay-1"), kNow);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->duplicate);
  EXPECT_EQ(first->balance.balance, 50 * kCredit);
  auto again = f.ledger().Post(TopUp("acme", 50 * kCredit, "pay-1"), kNow + 5);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->entry.id, first->entry.id);
  EXPECT_EQ(again->balance.balance, 50 * kCredit);
  // The same reference with another amount is refused, and changes nothing.
  auto other = f.ledger().Post(TopUp("acme", 60 * kCredit, "pay-1"), kNow);
  EXPECT_EQ(other.status().code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(f.ledger().Balance("acme")->balance, 50 * kCredit);
}

TEST(Ledger, BadEntriesAreRefusedWithAReason) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  EXPECT_EQ(f.ledger().Post(TopUp("nobody", kCredit, "r"), kNow).status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(f.ledger().Post(TopUp("acme", -kCredit, "r"), kNow).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(f.ledger().Post(TopUp("acme", 0, "r"), kNow).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(f.ledger().Post(TopUp("acme", kCredit, ""), kNow).status().code(),
            Status::Code::kInvalidArgument);
  ManualEntry usage = TopUp("acme", kCredit, "u");
  usage.kind = EntryKind::kUsage;
  EXPECT_EQ(f.ledger().Post(usage, kNow).status().code(), Status::Code::kInvalidArgument);
  ManualEntry refund = TopUp("acme", kCredit, "");
  refund.kind = EntryKind::kRefund;
  refund.reason = "goodwill";
  // Nothing paid yet: nothing to refund.
  EXPECT_EQ(f.ledger().Post(refund, kNow).status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(f.ledger().Entries("acme", 0, INT64_MAX)->empty());
}

TEST(Ledger, GrantsPayFirstAndTheirRestExpires) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ASSERT_TRUE(f.ledger().Post(TopUp("acme", 100 * kCredit, "pay"), kNow).ok());
  ManualEntry grant;
  grant.account = "acme";
  grant.kind = EntryKind::kGrant;
  grant.amount = 10 * kCredit;
  grant.expires_at = kNow + 3 * kH;
  grant.actor = "sales";
  grant.reason = "welcome offer";
  ASSERT_TRUE(f.ledger().Post(grant, kNow).ok());
  EXPECT_EQ(f.ledger().Balance("acme")->grants, 10 * kCredit);

  // Hour 0: 4 credits, all from the grant.
  ASSERT_TRUE(f.ledger().BookHour({kNow, {{"acme", kNow, 0, 4 * kCredit, 0}}, kNow}).ok());
  EXPECT_EQ(f.ledger().Balance("acme")->grants, 6 * kCredit);
  // Hour 1: 8 credits: 6 from the grant, 2 paid.
  ASSERT_TRUE(f.ledger().BookHour({kNow + kH, {{"acme", kNow, 0, 8 * kCredit, 0}}, kNow}).ok());
  EXPECT_EQ(f.ledger().Balance("acme")->grants, 0);
  EXPECT_EQ(f.ledger().Balance("acme")->balance, 98 * kCredit);

  // A second grant expires unused at hour 3: its rest is an expiry entry then.
  grant.amount = 5 * kCredit;
  grant.expires_at = kNow + 3 * kH;
  ASSERT_TRUE(f.ledger().Post(grant, kNow + kH).ok());
  ASSERT_TRUE(f.ledger().BookHour({kNow + 2 * kH, {{"acme", kNow, 0, 1 * kCredit, 0}}, kNow}).ok());
  EXPECT_EQ(f.ledger().Balance("acme")->grants, 4 * kCredit);
  auto rep = f.ledger().BookHour({kNow + 3 * kH, {}, kNow});
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->expired, 4 * kCredit);
  auto b = f.ledger().Balance("acme");
  EXPECT_EQ(b->grants, 0);
  EXPECT_EQ(b->balance, 98 * kCredit);  // 98 + 5 granted - 1 used - 4 expired
  const auto entries = f.ledger().Entries("acme", 0, INT64_MAX).value();
  int expiries = 0;
  for (const Entry& e : entries) expiries += e.kind == EntryKind::kGrantExpiry;
  EXPECT_EQ(expiries, 1);
}

TEST(Ledger, AnHourIsBookedOnceAndInOrder) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ASSERT_TRUE(f.ledger().BookHour({kNow, {{"acme", kNow, 0, 3 * kCredit, 0}}, kNow}).ok());
  EXPECT_EQ(f.ledger().BookHour({kNow, {{"acme", kNow, 0, 3 * kCredit, 0}}, kNow}).status().code(),
            Status::Code::kAlreadyExists);
  EXPECT_EQ(f.ledger().BookHour({kNow + 2 * kH, {}, kNow}).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(*f.ledger().NextHour(), kNow + kH);
  EXPECT_EQ(f.ledger().Billed("acme", kNow), 3 * kCredit);
  EXPECT_EQ(f.ledger().Balance("acme")->balance, -3 * kCredit);
  // After a reopen: the same balance, watermark and billed amount.
  f.Reopen();
  EXPECT_EQ(f.ledger().Balance("acme")->balance, -3 * kCredit);
  EXPECT_EQ(*f.ledger().NextHour(), kNow + kH);
  EXPECT_EQ(*f.ledger().ClockStart(), kNow);
  EXPECT_EQ(f.ledger().Billed("acme", kNow), 3 * kCredit);
}

TEST(Ledger, TablesAreAppendOnly) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ASSERT_TRUE(f.ledger().Post(TopUp("acme", 5 * kCredit, "p"), kNow).ok());
  ASSERT_TRUE(f.ledger().BookHour({kNow, {{"acme", kNow, 0, kCredit, 0}}, kNow}).ok());
  for (const char* sql : {"UPDATE ledger_entries SET amount = 0", "DELETE FROM ledger_entries",
                          "DELETE FROM billing_hours", "UPDATE billing_hours SET usage = 0"}) {
    auto txn = f.db().Begin();
    ASSERT_TRUE(txn.ok());
    EXPECT_FALSE(txn->Exec(sql).ok()) << sql;
  }
  EXPECT_EQ(f.ledger().Balance("acme")->balance, 4 * kCredit);
}

TEST(Ledger, BalanceCrossesThresholdsWithOneEventEach) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  SettingsChange s;
  s.low_balance = 5 * kCredit;
  s.credit_limit = 2 * kCredit;
  s.hysteresis = kCredit / 2;
  ASSERT_TRUE(f.ledger().SetSettings("domain:root", s, "ops", "defaults", kNow).ok());
  ASSERT_TRUE(f.ledger().Post(TopUp("acme", 10 * kCredit, "p1"), kNow).ok());
  int64_t h = kNow;
  auto debit = [&](MicroCredits c) {
    auto r = f.ledger().BookHour({h, {{"acme", kNow, 0, c, 0}}, kNow});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    h += kH;
  };
  debit(6 * kCredit);  // 4: low
  debit(3 * kCredit);  // 1
  debit(2 * kCredit);  // -1: negative
  debit(kCredit);      // -2: not yet below -2
  debit(kCredit);      // -3: suspend
  debit(kCredit);      // -4
  EXPECT_EQ(f.ledger().Balance("acme")->state, AccountState::kSuspended);
  ASSERT_TRUE(f.ledger().Post(TopUp("acme", 20 * kCredit, "p2"), kNow).ok());  // 16: resume
  EXPECT_EQ(f.ledger().Balance("acme")->state, AccountState::kOk);
  EXPECT_EQ(f.EventKinds("acme"),
            (std::vector<std::string>{"low_balance", "negative", "suspend", "resume"}));
  // The account in the reseller domain inherits root's settings through its parent.
  EXPECT_EQ(*f.ledger().Resolve("bolt").low_balance, 5 * kCredit);
  // State survives a reopen: no event repeated on the next debit.
  f.Reopen();
  EXPECT_EQ(f.ledger().Balance("acme")->state, AccountState::kOk);
  debit(kCredit);
  EXPECT_EQ(f.EventKinds("acme").size(), 4u);
}

TEST(Ledger, SnapshotsKeepReopenExact) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ASSERT_TRUE(f.ledger().Post(TopUp("acme", 1000 * kCredit, "p"), kNow).ok());
  MicroCredits spent = 0;
  for (int i = 0; i < 700; ++i) {  // past two snapshot intervals
    const MicroCredits c = 1'234'567 + i;
    ASSERT_TRUE(f.ledger().BookHour({kNow + i * kH, {{"acme", kNow, 0, c, 0}}, kNow}).ok());
    spent += c;
  }
  const MicroCredits expect = 1000 * kCredit - spent;
  EXPECT_EQ(f.ledger().Balance("acme")->balance, expect);
  f.Reopen();
  EXPECT_EQ(f.ledger().Balance("acme")->balance, expect);
  auto txn = f.db().Begin();
  auto st = txn->Prepare("SELECT COUNT(*) FROM balance_snapshots");
  ASSERT_TRUE(st->Step().value());
  EXPECT_GE(st->Int(0), 2);
}

}  // namespace
}  // namespace meterd::engine::ledger
