// meterd — tests/engine/ledger/ledger_test.cc: entries, balances, grants, idempotence,
// append-only tables, hour booking and what a reopen rebuilds.
#include "engine/ledger/ledger.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "engine/ledger/ledger_schema.h"
#include "engine/pricebook/pricing.h"
#include "tests/engine/ledger/ledger_test_util.h"

namespace meterd::engine::ledger {
namespace ledger_test {

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

// PostMany books a batch in one transaction with Post's semantics: a reference already booked
// (or repeated within the batch) returns its first entry; any refusal books none of the batch.
TEST(Ledger, PostManyBooksAllOrNoneWithPostsIdempotence) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ASSERT_TRUE(f.ledger().Post(TopUp("acme", 10 * kCredit, "t-1"), 100).ok());
  ManualEntry credit;
  credit.account = "bolt";
  credit.kind = EntryKind::kCredit;
  credit.amount = 3 * kCredit;
  credit.reference = "c-1";
  credit.reason = "goodwill";
  credit.actor = "test";
  auto batch = f.ledger().PostMany(
      {TopUp("acme", 10 * kCredit, "t-1"), credit, credit, TopUp("acme", 2 * kCredit, "t-2")}, 200);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->size(), 4u);
  EXPECT_TRUE((*batch)[0].duplicate);
  EXPECT_FALSE((*batch)[1].duplicate);
  EXPECT_TRUE((*batch)[2].duplicate);
  EXPECT_EQ((*batch)[2].entry.id, (*batch)[1].entry.id);
  EXPECT_EQ(f.ledger().Balance("acme")->balance, 12 * kCredit);
  EXPECT_EQ(f.ledger().Balance("bolt")->balance, 3 * kCredit);
  // One bad entry (an unknown account, a reused reference with another amount): nothing booked.
  ManualEntry reused = credit;
  reused.amount = 4 * kCredit;
  EXPECT_EQ(f.ledger().PostMany({TopUp("acme", kCredit, "t-3"), reused}, 300).status().code(),
            Status::Code::kAlreadyExists);
  EXPECT_EQ(f.ledger()
                .PostMany({TopUp("acme", kCredit, "t-3"), TopUp("nobody", 1, "t-4")}, 300)
                .status()
                .code(),
            Status::Code::kNotFound);
  EXPECT_EQ(f.ledger().Balance("acme")->balance, 12 * kCredit);
  f.Reopen();  // and what was booked survives
  EXPECT_EQ(f.ledger().Balance("acme")->balance, 12 * kCredit);
  EXPECT_EQ(f.ledger().Balance("bolt")->balance, 3 * kCredit);
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

// Entries written after the latest checkpoint: what the next Open reads besides it.
int64_t EntriesAfterCheckpoint(tenancy::BillingDb& db) {
  auto txn = db.Begin();
  auto st = txn->Prepare(
      "SELECT COUNT(*) FROM ledger_entries WHERE id > "
      "(SELECT COALESCE(MAX(entry_id), 0) FROM ledger_checkpoints)");
  EXPECT_TRUE(st->Step().value());
  return st->Int(0);
}

int64_t Count(tenancy::BillingDb& db, const std::string& sql) {
  auto txn = db.Begin();
  auto st = txn->Prepare(sql);
  EXPECT_TRUE(st.ok()) << sql;
  EXPECT_TRUE(st->Step().value());
  return st->Int(0);
}

// Property: whatever mix of top-ups, grants, hourly usage, fees and late adjustments of the
// previous month is booked over two month boundaries, a reopen (from the latest checkpoint and
// the entries after it) gives every balance, every billed amount the clock may still adjust
// and the accounts billed exactly as they were in memory; the database's per-month totals
// (BilledByAccount) and per-account entries (Entries) agree with an independent tally.
TEST(Ledger, ReopenFromCheckpointsIsExact) {
  const std::vector<std::string> accounts = {"acme", "bolt", "cash"};
  for (uint32_t seed : {1u, 2u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    meterd::testing::TempDir dir;
    LedgerFixture f(dir.path());
    std::mt19937_64 rng(seed);
    auto pick = [&](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    std::map<std::string, MicroCredits> balance;
    std::map<int64_t, std::map<std::string, MicroCredits>> billed;  // month -> account
    auto check = [&](int64_t next_hour) {
      for (const std::string& a : accounts) {
        EXPECT_EQ(f.ledger().Balance(a)->balance, balance[a]) << a;
        MicroCredits listed = 0;
        const std::vector<Entry> entries = f.ledger().Entries(a, 0, INT64_MAX).value();
        for (const Entry& e : entries) listed += e.amount;
        EXPECT_EQ(listed, balance[a]) << a;
      }
      const int64_t month = pricebook::MonthStart(next_hour - kH);
      for (int64_t m : {month, pricebook::MonthStart(month - 1)}) {
        std::vector<std::string> expect_accounts;
        for (const auto& [a, amount] : billed[m]) {
          EXPECT_EQ(f.ledger().Billed(a, m), amount) << a << " month " << m;
          expect_accounts.push_back(a);
        }
        EXPECT_EQ(f.ledger().BilledAccounts(m), expect_accounts) << "month " << m;
      }
      for (const auto& [m, by_account] : billed) {
        auto db = f.ledger().BilledByAccount(m);
        ASSERT_TRUE(db.ok());
        EXPECT_EQ(db->size(), by_account.size()) << "month " << m;
        for (const auto& [a, amount] : by_account) EXPECT_EQ((*db)[a], amount) << a;
      }
    };
    // Unused grants per account by (expires_at, order): charges draw on them first and their
    // rest expires at the first hour booked at or after the expiry (docs/ledger.md).
    struct ModelGrant {
      int64_t expires_at, order;
      MicroCredits remaining;
    };
    std::map<std::string, std::vector<ModelGrant>> grants;
    int64_t order = 0;
    const int64_t hours = 1500;  // November, December and a day of January
    for (int64_t i = 0; i < hours; ++i) {
      const int64_t hour = kNow + i * kH;
      const int64_t month = pricebook::MonthStart(hour);
      if (pick(0, 20) == 0) {
        const std::string& a = accounts[pick(0, 2)];
        const MicroCredits amount = pick(1, 50) * kCredit + pick(0, 999'999);
        ASSERT_TRUE(f.ledger().Post(TopUp(a, amount, "p" + std::to_string(i)), hour).ok());
        balance[a] += amount;
      }
      if (pick(0, 60) == 0) {
        ManualEntry g = TopUp(accounts[pick(0, 2)], pick(1, 5) * kCredit, "");
        g.kind = EntryKind::kGrant;
        g.expires_at = hour + pick(1, 200) * kH;
        g.reason = "promo " + std::to_string(++order);
        ASSERT_TRUE(f.ledger().Post(g, hour).ok());
        balance[g.account] += g.amount;
        auto& list = grants[g.account];
        list.push_back({g.expires_at, order, g.amount});
        std::sort(list.begin(), list.end(), [](const ModelGrant& x, const ModelGrant& y) {
          return std::tie(x.expires_at, x.order) < std::tie(y.expires_at, y.order);
        });
      }
      HourBooking booking{hour, {}, hour};
      for (const std::string& a : accounts) {
        if (pick(0, 3) == 0) continue;  // no usage this hour
        // Late data revising last month, booked in this month's hours.
        if (month != kNow && pick(0, 30) == 0) {
          booking.charges.push_back(
              {a, pricebook::MonthStart(month - 1), pick(-500'000, 500'000), 0, 0});
        }
        booking.charges.push_back(
            {a, month, 0, pick(1, 3'000'000), pick(0, 9) == 0 ? pick(1, 2'000'000) : 0});
      }
      auto r = f.ledger().BookHour(booking);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      for (auto& [a, list] : grants) {
        for (const ModelGrant& g : list) {
          if (g.expires_at <= hour) balance[a] -= g.remaining;
        }
        std::erase_if(list, [&](const ModelGrant& g) { return g.expires_at <= hour; });
      }
      for (const HourCharge& c : booking.charges) {  // by account, then month: as booked
        for (MicroCredits owed : {c.adjustment, c.usage, c.fees}) {
          balance[c.account] -= owed;
          for (ModelGrant& g : grants[c.account]) {
            const MicroCredits take = std::clamp<MicroCredits>(owed, 0, g.remaining);
            g.remaining -= take;
            owed -= take;
          }
          std::erase_if(grants[c.account], [](const ModelGrant& g) { return g.remaining == 0; });
        }
        billed[c.month][c.account] += c.adjustment + c.usage + c.fees;
      }
      for (const std::string& a : accounts) {
        ASSERT_EQ(f.ledger().Balance(a)->balance, balance[a]) << a << " hour " << i;
      }
      if (pick(0, 150) == 0 || i == hours - 1) {
        f.Reopen();
        check(hour + kH);
      }
    }
    EXPECT_GE(Count(f.db(), "SELECT COUNT(*) FROM ledger_checkpoints"), 3);
    EXPECT_LE(EntriesAfterCheckpoint(f.db()), 256);
  }
}

// The clock's hourly entries are kept out of every index keyed by account first: each hour
// appends to the (hour, account) index; manual entries keep their (account, id) index.
TEST(Ledger, ClockEntriesAreIndexedByHourNotByAccount) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ASSERT_TRUE(f.ledger().Post(TopUp("acme", 5 * kCredit, "p"), kNow).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(f.ledger()
                    .BookHour({kNow + i * kH,
                               {{"bolt", kNow, 0, kCredit, 0}, {"acme", kNow, 0, kCredit, 0}},
                               kNow})
                    .ok());
  }
  auto txn = f.db().Begin();
  auto st = txn->Prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger_entries'"
      " AND sql IS NOT NULL");
  std::map<std::string, std::string> indexes;
  while (st->Step().value()) indexes[st->Text(0)] = st->Text(1);
  ASSERT_TRUE(indexes.count("ledger_entries_hour"));
  EXPECT_NE(indexes["ledger_entries_account"].find("WHERE hour IS NULL"), std::string::npos);
  EXPECT_EQ(indexes.count("ledger_entries_month"), 0u);
  txn->Rollback();
  // Reads by account see both kinds, in id order, within [from, to).
  const auto acme = f.ledger().Entries("acme", 0, INT64_MAX).value();
  ASSERT_EQ(acme.size(), 4u);
  EXPECT_EQ(acme[0].kind, EntryKind::kTopUp);
  for (size_t i = 1; i < acme.size(); ++i) {
    EXPECT_GT(acme[i].id, acme[i - 1].id);
    EXPECT_EQ(acme[i].hour, kNow + static_cast<int64_t>(i - 1) * kH);
  }
  const auto middle = f.ledger().Entries("acme", kNow + 1, kNow + 2 * kH + 1).value();
  ASSERT_EQ(middle.size(), 2u);
  EXPECT_EQ(middle[0].hour, kNow + kH);
  EXPECT_EQ(f.ledger().Entries("acme", 0, INT64_MAX, 2).value().size(), 2u);
  EXPECT_EQ(f.ledger().Entries("bolt", kNow + kH, kNow + 2 * kH).value().size(), 1u);
}

// VAT on top-ups (schema version 7): a top-up's taxes are written with it, read back with it,
// returned with a repeated reference (never written twice), refused on other kinds, and the
// table refuses UPDATE and DELETE. They never change the balance.
TEST(Ledger, ATopUpKeepsItsTaxesWithIt) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  ManualEntry m;
  m.account = "acme";
  m.kind = EntryKind::kTopUp;
  m.amount = 100 * kCredit;
  m.reference = "pay-1";
  m.actor = "key:admin";
  m.taxes = {EntryTax{"VAT", "GB", "", 200000, false, 100 * kCredit, 20 * kCredit}};
  auto first = f.ledger().Post(m, kNow);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->taxes, m.taxes);
  EXPECT_EQ(first->balance.balance, 100 * kCredit);  // the tax is not credit
  auto again = f.ledger().Post(m, kNow + 5);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->taxes, m.taxes);
  EXPECT_EQ(Count(f.db(), "SELECT COUNT(*) FROM topup_taxes"), 1);
  ManualEntry plain = m;  // a top-up without taxes (vat_on_prepaid: usage)
  plain.reference = "pay-2";
  plain.taxes.clear();
  ASSERT_TRUE(f.ledger().Post(plain, kNow + 10).ok());
  auto read = f.ledger().TopUpTaxes("acme", kNow, kNow + 11);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ(read->begin()->first, first->entry.id);
  EXPECT_EQ(read->begin()->second, m.taxes);
  EXPECT_TRUE(f.ledger().TopUpTaxes("acme", kNow + 1, kNow + 11)->empty());
  EXPECT_TRUE(f.ledger().TopUpTaxes("bolt", 0, INT64_MAX)->empty());

  ManualEntry payment = m;
  payment.kind = EntryKind::kPayment;
  payment.reference = "pay-3";
  auto refused = f.ledger().Post(payment, kNow);
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  auto txn = f.db().Begin();
  ASSERT_TRUE(txn.ok());
  EXPECT_FALSE(txn->Exec("UPDATE topup_taxes SET amount = 0").ok());
  EXPECT_FALSE(txn->Exec("DELETE FROM topup_taxes").ok());
  txn->Rollback();
  f.Reopen();
  EXPECT_EQ(f.ledger().TopUpTaxes("acme", 0, INT64_MAX)->begin()->second, m.taxes);
}

// A ledger written by schema version 2 (per-account snapshots, per-account indexes on every
// entry) opens as the current version with the same balances, billed amounts and watermark.
TEST(Ledger, AVersionTwoLedgerIsMigratedInPlace) {
  meterd::testing::TempDir dir;
  {
    auto db = tenancy::BillingDb::Open(dir.path() + "/billing.db");
    ASSERT_TRUE(db.ok());
    auto txn = (*db)->Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(tenancy::BillingDb::EnsureSchema(*txn, kLedgerModule, 1, kLedgerSchema).ok());
    ASSERT_TRUE(txn->Exec(std::string(kLedgerMigrations[0])).ok());
    ASSERT_TRUE(tenancy::BillingDb::SetSchemaVersion(*txn, kLedgerModule, 2).ok());
    ASSERT_TRUE(txn->Exec(R"sql(
      INSERT INTO ledger_entries (account, kind, amount, at, hour, month, reference, currency,
        currency_amount, actor, reason, created_at) VALUES
        ('acme', 'topup', 9000000, 1793491200, NULL, NULL, 'p1', '', '', 'k', '', 1),
        ('acme', 'usage', -1000000, 1793491200, 1793491200, 1793491200, NULL, '', '', 'c', '', 1),
        ('bolt', 'usage', -250000, 1793491200, 1793491200, 1793491200, NULL, '', '', 'c', '', 1),
        ('acme', 'usage', -2000000, 1793494800, 1793494800, 1793491200, NULL, '', '', 'c', '', 1);
      INSERT INTO ledger_accounts VALUES ('acme', 1), ('bolt', 3);
      INSERT INTO balance_snapshots VALUES ('acme', 2, 8000000, 1);
      INSERT INTO billing_hours VALUES (1793491200, 2, 1250000, 0, 0, 1),
                                       (1793494800, 1, 2000000, 0, 0, 1);)sql")
                    .ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  LedgerFixture f(dir.path());  // opens and migrates
  EXPECT_EQ(Count(f.db(), "SELECT schema_version FROM meta WHERE module = 'ledger'"),
            kLedgerSchemaVersion);
  EXPECT_EQ(Count(f.db(), "SELECT COUNT(*) FROM sqlite_master WHERE name = 'topup_taxes'"), 1);
  // Version 4's index of the clock's adjustments (what invoices read).
  EXPECT_EQ(Count(f.db(),
                  "SELECT COUNT(*) FROM sqlite_master WHERE name = "
                  "'ledger_entries_clock_adjustments'"),
            1);
  EXPECT_EQ(Count(f.db(), "SELECT COUNT(*) FROM sqlite_master WHERE name = 'balance_snapshots'"),
            0);
  EXPECT_EQ(f.ledger().Balance("acme")->balance, 6 * kCredit);
  EXPECT_EQ(f.ledger().Balance("bolt")->balance, -kCredit / 4);
  EXPECT_EQ(f.ledger().Billed("acme", kNow), 3 * kCredit);
  EXPECT_EQ(*f.ledger().NextHour(), kNow + 2 * kH);
  EXPECT_EQ(f.ledger().Entries("acme", 0, INT64_MAX).value().size(), 3u);
  ASSERT_TRUE(f.ledger().BookHour({kNow + 2 * kH, {{"acme", kNow, 0, kCredit, 0}}, kNow}).ok());
  f.Reopen();  // the current version now: opens without migrating again
  EXPECT_EQ(f.ledger().Balance("acme")->balance, 5 * kCredit);
  EXPECT_EQ(f.ledger().Billed("acme", kNow), 4 * kCredit);
}

// A version 3 ledger gains the table of the clock's month-to-date state (version 5) in place;
// a kept state replaces the one before, is never ahead of the hours booked, and a reopened
// ledger reads it back whole.
TEST(Ledger, AVersionThreeLedgerKeepsTheClocksStateAfterMigrating) {
  meterd::testing::TempDir dir;
  {
    auto db = tenancy::BillingDb::Open(dir.path() + "/billing.db");
    ASSERT_TRUE(db.ok());
    auto txn = (*db)->Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(tenancy::BillingDb::EnsureSchema(*txn, kLedgerModule, 1, kLedgerSchema).ok());
    ASSERT_TRUE(txn->Exec(std::string(kLedgerMigrations[0])).ok());
    ASSERT_TRUE(txn->Exec(std::string(kLedgerMigrations[1])).ok());
    ASSERT_TRUE(tenancy::BillingDb::SetSchemaVersion(*txn, kLedgerModule, 3).ok());
    ASSERT_TRUE(txn->Exec(R"sql(
      INSERT INTO ledger_entries (account, kind, amount, at, hour, month, reference, currency,
        currency_amount, actor, reason, created_at) VALUES
        ('acme', 'topup', 9000000, 1793491200, NULL, NULL, 'p1', '', '', 'k', '', 1),
        ('acme', 'usage', -1000000, 1793491200, 1793491200, 1793491200, NULL, '', '', 'c', '', 1);
      INSERT INTO ledger_accounts VALUES ('acme', 1);
      INSERT INTO billing_hours VALUES (1793491200, 1, 1000000, 0, 0, 1);)sql")
                    .ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  LedgerFixture f(dir.path());
  EXPECT_EQ(Count(f.db(), "SELECT schema_version FROM meta WHERE module = 'ledger'"),
            kLedgerSchemaVersion);
  EXPECT_EQ(Count(f.db(), "SELECT COUNT(*) FROM clock_month_state"), 0);
  EXPECT_EQ(f.ledger().Balance("acme")->balance, 8 * kCredit);
  auto none = f.ledger().LoadClockState();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  ClockState st;
  st.month = kNow;
  st.through = kNow + 2 * kH;
  st.revision_mark = "7";
  st.data = std::string("\0state\xff", 7);
  // Never ahead of the hours booked (the migrated ledger booked kNow only).
  EXPECT_EQ(f.ledger().KeepClockState(st, kNow).code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(f.ledger().BookHour({kNow + kH, {{"acme", kNow, 0, kCredit, 0}}, kNow}).ok());
  ASSERT_TRUE(f.ledger().KeepClockState(st, kNow).ok());
  auto first = f.ledger().LoadClockState();
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->data, st.data);
  // The next one replaces it.
  ASSERT_TRUE(f.ledger().BookHour({kNow + 2 * kH, {{"acme", kNow, 0, kCredit, 0}}, kNow}).ok());
  ClockState next = st;
  next.through = kNow + 3 * kH;
  next.revision_mark = "8";
  next.data.assign(100000, 'x');
  ASSERT_TRUE(f.ledger().KeepClockState(next, kNow).ok());
  f.Reopen();
  auto kept = f.ledger().LoadClockState();
  ASSERT_TRUE(kept.ok());
  ASSERT_TRUE(kept->has_value());
  EXPECT_EQ((*kept)->month, kNow);
  EXPECT_EQ((*kept)->through, kNow + 3 * kH);
  EXPECT_EQ((*kept)->revision_mark, "8");
  EXPECT_EQ((*kept)->data, next.data);
  EXPECT_EQ(Count(f.db(), "SELECT COUNT(*) FROM clock_month_state"), 1);
  // Entry ids are assigned by the ledger and go on from the migrated file's.
  const auto acme = f.ledger().Entries("acme", 0, INT64_MAX).value();
  ASSERT_EQ(acme.size(), 4u);
  for (size_t i = 0; i < acme.size(); ++i) EXPECT_EQ(acme[i].id, static_cast<int64_t>(i + 1));
  EXPECT_EQ(f.ledger().Balance("acme")->balance, 6 * kCredit);
}

// Holds (schema version 6): a hold suspends whatever the balance, once; holding again or
// releasing what is not held changes nothing; a settings row written before version 6 keeps
// inheriting the collections fields; holds are append-only and survive a reopen.
TEST(Ledger, HoldsSuspendOnceAndSurviveAReopen) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  SettingsChange low;
  low.low_balance = 5 * kCredit;
  ASSERT_TRUE(f.ledger().SetSettings("*", low, "t", "", 1).ok());
  EXPECT_FALSE(f.ledger().Collections("acme").overdue_days.has_value());
  ASSERT_TRUE(f.ledger().Post(TopUp("acme", 50 * kCredit, "t1"), 1).ok());
  HoldChange h{"acme", "INV-1", true, "overdue", "collections", 10};
  auto r = f.ledger().SetHold(h, 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->events, (std::vector<std::string>{"suspend"}));
  EXPECT_FALSE(f.ledger().SetHold(h, 11)->changed);
  h.reference = "INV-2";
  EXPECT_TRUE(f.ledger().SetHold(h, 12)->events.empty());  // already suspended
  h.reference = "INV-9";
  h.hold = false;
  EXPECT_FALSE(f.ledger().SetHold(h, 13)->changed);
  h.account = "nobody";
  EXPECT_EQ(f.ledger().SetHold(h, 13).status().code(), Status::Code::kNotFound);
  f.Reopen();
  EXPECT_EQ(f.ledger().Holds("acme"), (std::vector<std::string>{"INV-1", "INV-2"}));
  EXPECT_EQ(f.ledger().Balance("acme")->state, AccountState::kSuspended);
  h = HoldChange{"acme", "INV-1", false, "paid", "collections", 20};
  EXPECT_TRUE(f.ledger().SetHold(h, 20)->events.empty());  // INV-2 still holds it
  h.reference = "INV-2";
  auto out = f.ledger().SetHold(h, 21);
  EXPECT_EQ(out->events, (std::vector<std::string>{"resume"}));
  EXPECT_EQ(out->state, AccountState::kOk);
  EXPECT_EQ(f.EventKinds("acme"), (std::vector<std::string>{"suspend", "resume"}));
  EXPECT_EQ(Count(f.db(), "SELECT COUNT(*) FROM account_holds"), 4);
  auto txn = f.db().Begin();
  ASSERT_TRUE(txn.ok());
  EXPECT_FALSE(txn->Exec("UPDATE account_holds SET held = 0").ok());
}

TEST(Ledger, CollectionsSettingsResolveAndAreValidated) {
  meterd::testing::TempDir dir;
  LedgerFixture f(dir.path());
  SettingsChange all;
  all.reminder_days = "7, -3";
  all.overdue_days = 30;
  ASSERT_TRUE(f.ledger().SetSettings("*", all, "t", "", 1).ok());
  SettingsChange reseller;
  reseller.overdue_days = kNoOverdueLimit;
  reseller.reminder_days = "";
  ASSERT_TRUE(f.ledger().SetSettings("domain:reseller", reseller, "t", "", 1).ok());
  EXPECT_EQ(f.ledger().Collections("acme").reminder_days, (std::vector<int64_t>{-3, 7}));
  EXPECT_EQ(f.ledger().Collections("acme").overdue_days, 30);
  EXPECT_TRUE(f.ledger().Collections("bolt").reminder_days.empty());
  EXPECT_FALSE(f.ledger().Collections("bolt").overdue_days.has_value());
  SettingsChange bad;
  bad.overdue_days = 400;
  EXPECT_EQ(f.ledger().SetSettings("*", bad, "t", "", 1).code(), Status::Code::kInvalidArgument);
  bad.overdue_days.reset();
  bad.reminder_days = "1,,2";
  EXPECT_EQ(f.ledger().SetSettings("*", bad, "t", "", 1).code(), Status::Code::kInvalidArgument);
  f.Reopen();
  EXPECT_EQ(f.ledger().ListSettings()[0].values.reminder_days, "-3,7");
  EXPECT_EQ(f.ledger().Collections("acme").overdue_days, 30);
}

}  // namespace ledger_test
}  // namespace meterd::engine::ledger
