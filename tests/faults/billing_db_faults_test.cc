// meterd — tests/faults/billing_db_faults_test.cc: billing.db (SQLite) on the fault-injecting
// Env through the EnvVfs (engine/tenancy/env_vfs.h).
//   * Power loss at each file operation of a ledger top-up + hour booking + invoice issue
//     sequence (every unsynced write and directory change dropped, or, as a process crash,
//     kept with the cut write torn): after recovery the database opens, passes
//     `PRAGMA integrity_check`, and every acknowledged top-up, booked hour and issued invoice is
//     present exactly once.
//   * A full disk under SQLite: a clear ResourceExhausted, nothing committed lost, and the same
//     change succeeds once space returns.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/events/event_log.h"
#include "engine/invoicing/invoice_store.h"
#include "engine/ledger/ledger.h"
#include "engine/tenancy/billing_db.h"
#include "engine/tenancy/tenancy.h"
#include "tests/testing/fault_env.h"
#include "tests/testing/temp_dir.h"

namespace meterd::testing {
namespace billing_db_faults_test {

namespace ledger = engine::ledger;
namespace invoicing = engine::invoicing;
namespace tenancy = engine::tenancy;

constexpr int64_t kNov = 1'793'491'200;  // 2026-11-01
constexpr int64_t kHour = 3600;
constexpr ledger::MicroCredits kCredit = 1'000'000;
constexpr int kSteps = 4;  // top-up + booked hour + issued invoice, each

std::shared_ptr<const tenancy::Tenancy> OneAccount() {
  tenancy::TenancyData d;
  d.domains = {{"root", "Root", ""}};
  d.accounts = {{"acme", "root", "Acme", "", false}};
  return tenancy::Tenancy::Build(std::move(d)).value();
}

// billing.db with the event log, the ledger and the invoice store over it, all on one Env.
struct Billing {
  std::unique_ptr<tenancy::BillingDb> db;
  std::unique_ptr<engine::events::EventLog> events;
  std::unique_ptr<ledger::Ledger> ledger;
  std::unique_ptr<invoicing::InvoiceStore> invoices;

  Status Open(const std::string& dir, storage::Env* env) {
    METERD_ASSIGN_OR_RETURN(db, tenancy::BillingDb::Open(tenancy::BillingDb::PathIn(dir), env));
    METERD_ASSIGN_OR_RETURN(events, engine::events::EventLog::Open(db.get()));
    auto t = OneAccount();
    METERD_ASSIGN_OR_RETURN(ledger,
                            ledger::Ledger::Open(db.get(), events.get(), [t] { return t; }));
    METERD_ASSIGN_OR_RETURN(invoices, invoicing::InvoiceStore::Open(db.get()));
    return Status::OK();
  }
  void Close() {  // the process ends: every file is closed
    invoices.reset();
    ledger.reset();
    events.reset();
    db.reset();
  }
};

// What the sequence had acknowledged when it stopped.
struct Acked {
  std::vector<std::string> topups;  // references
  std::vector<int64_t> hours;
  std::vector<std::string> invoices;  // numbers
};

ledger::ManualEntry TopUp(int i) {
  ledger::ManualEntry m;
  m.account = "acme";
  m.kind = ledger::EntryKind::kTopUp;
  m.amount = (i + 1) * kCredit;
  m.reference = "ref-" + std::to_string(i);
  m.actor = "test";
  return m;
}

invoicing::Invoice Draft(int64_t start) {
  invoicing::Invoice inv;
  inv.account = "acme";
  inv.period_start = start;
  inv.period_end = start + kHour;
  inv.subtotal = inv.total = inv.amount_due = {kCredit, 100};
  return inv;
}

// Opens billing.db and runs the sequence until the first failure (the "process" stops there).
Status RunSequence(const std::string& dir, storage::Env* env, Acked* acked) {
  Billing b;
  METERD_RETURN_IF_ERROR(b.Open(dir, env));
  const invoicing::NumberingOptions numbering{"*", "INV-", 4, 86400};
  for (int i = 0; i < kSteps; ++i) {
    METERD_RETURN_IF_ERROR(b.ledger->Post(TopUp(i), kNov + i).status());
    acked->topups.push_back(TopUp(i).reference);
    const int64_t hour = kNov + i * kHour;
    METERD_RETURN_IF_ERROR(
        b.ledger->BookHour({hour, {{"acme", kNov, 0, kCredit, 0}}, kNov + i}).status());
    acked->hours.push_back(hour);
    METERD_RETURN_IF_ERROR(b.invoices->PutDraft(Draft(hour), invoicing::Coverage{i, {}}));
    auto issued = b.invoices->Issue("acme", hour, numbering, kNov + i);
    METERD_RETURN_IF_ERROR(issued.status());
    acked->invoices.push_back(issued->invoice.number);
  }
  return Status::OK();
}

std::string QueryText(tenancy::BillingDb* db, const std::string& sql) {
  auto txn = db->Begin();
  EXPECT_TRUE(txn.ok()) << txn.status().ToString();
  if (!txn.ok()) return "";
  auto st = txn->Prepare(sql);
  EXPECT_TRUE(st.ok()) << st.status().ToString();
  if (!st.ok()) return "";
  auto row = st->Step();
  return row.ok() && *row ? st->Text(0) : "";
}

// Recovers billing.db after the cut and checks it against what was acknowledged.
void ExpectRecovered(const std::string& dir, storage::Env* env, const Acked& acked,
                     const std::string& where) {
  Billing b;
  Status opened = b.Open(dir, env);
  ASSERT_TRUE(opened.ok()) << where << ": " << opened.ToString();
  EXPECT_EQ(QueryText(b.db.get(), "PRAGMA integrity_check"), "ok") << where;
  EXPECT_EQ(QueryText(b.db.get(), "PRAGMA journal_mode"), "wal") << where;
  auto entries = b.ledger->Entries("acme", 0, INT64_MAX);
  ASSERT_TRUE(entries.ok()) << where << ": " << entries.status().ToString();
  std::map<std::string, int> topups;
  std::map<int64_t, int> hours;
  for (const ledger::Entry& e : *entries) {
    if (e.kind == ledger::EntryKind::kTopUp) ++topups[e.reference];
    if (e.kind == ledger::EntryKind::kUsage && e.hour) ++hours[*e.hour];
  }
  for (const auto& [ref, n] : topups) EXPECT_EQ(n, 1) << where << ": top-up " << ref;
  for (const auto& [hour, n] : hours) EXPECT_EQ(n, 1) << where << ": hour " << hour;
  for (const std::string& ref : acked.topups) {
    EXPECT_EQ(topups.count(ref), 1u) << where << ": acknowledged top-up " << ref << " lost";
  }
  for (int64_t hour : acked.hours) {
    EXPECT_EQ(hours.count(hour), 1u) << where << ": acknowledged hour " << hour << " lost";
  }
  for (const std::string& number : acked.invoices) {
    auto got = b.invoices->Get(number);
    EXPECT_TRUE(got.ok()) << where << ": issued invoice " << number << " lost";
  }
  // The balance held in memory agrees with the entries read back.
  ledger::MicroCredits sum = 0;
  for (const ledger::Entry& e : *entries) sum += e.amount;
  EXPECT_EQ(b.ledger->Balance("acme")->balance, sum) << where;
}

TEST(BillingDbFaultsTest, PowerLossAtEachFileOperationKeepsEveryAcknowledgedEntryOnce) {
  uint64_t total = 0;
  {
    TempDir dir;
    FaultEnv env(storage::Env::Default(), dir.path());
    Acked acked;
    Status s = RunSequence(dir.path(), &env, &acked);
    ASSERT_TRUE(s.ok()) << s.ToString();
    total = env.ops();
    ExpectRecovered(dir.path(), &env, acked, "no fault");
    ASSERT_EQ(acked.invoices.size(), static_cast<size_t>(kSteps));
  }
  ASSERT_GT(total, 20u);
  // ctest runs a slice (each recovery syncs a real file: ~70 ms); METERD_BILLING_CUT_POINTS=all
  // (make check-long) runs every operation, each as a power loss and as a torn process crash.
  const char* points = std::getenv("METERD_BILLING_CUT_POINTS");
  const bool all = points != nullptr && std::string(points) == "all";
  const uint64_t step = all ? 1 : 29;
  size_t cut_points = 0;
  for (uint64_t n = 1; n <= total; n += step) {
    for (PowerLossMode mode : {PowerLossMode::kDropUnsynced, PowerLossMode::kKeepUnsynced}) {
      // The slice alternates the two modes between cut points.
      if (!all && (mode == PowerLossMode::kDropUnsynced) != ((n / step) % 2 == 0)) continue;
      TempDir dir;
      FaultEnv env(storage::Env::Default(), dir.path());
      env.CrashAtOp(n, mode == PowerLossMode::kKeepUnsynced ? static_cast<int64_t>(n % 97) : -1);
      Acked acked;
      (void)RunSequence(dir.path(), &env, &acked);  // fails at the cut, or while closing
      EXPECT_TRUE(env.crashed()) << "cut point " << n << " was not reached";
      ASSERT_TRUE(env.SimulatePowerLoss(mode).ok());
      const std::string where =
          "cut at operation " + std::to_string(n) +
          (mode == PowerLossMode::kDropUnsynced ? " (power loss)" : " (process crash, torn)");
      ExpectRecovered(dir.path(), &env, acked, where);
      if (::testing::Test::HasFailure()) return;
      ++cut_points;
    }
  }
  std::printf("[ billing.db ] %llu file operations, %zu recoveries checked\n",
              static_cast<unsigned long long>(total), cut_points);
}

TEST(BillingDbFaultsTest, ADiskFullIsResourceExhaustedAndLosesNothingCommitted) {
  TempDir dir;
  FaultEnv env(storage::Env::Default(), dir.path());
  Billing b;
  ASSERT_TRUE(b.Open(dir.path(), &env).ok());
  ASSERT_TRUE(b.ledger->Post(TopUp(0), kNov).ok());
  const ledger::MicroCredits before = b.ledger->Balance("acme")->balance;

  ErrorRule full;
  full.ops = kOpWrite | kOpPreallocate | kOpCreate;
  full.err = ENOSPC;
  full.path_contains = "billing.db";  // the database and its -wal
  env.AddErrorRule(full);
  auto refused = b.ledger->Post(TopUp(1), kNov + 1);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsResourceExhausted()) << refused.status().ToString();
  EXPECT_EQ(b.ledger->Balance("acme")->balance, before);
  auto booked = b.ledger->BookHour({kNov, {{"acme", kNov, 0, kCredit, 0}}, kNov});
  EXPECT_TRUE(booked.status().IsResourceExhausted()) << booked.status().ToString();

  // Space returns: the same top-up and booking succeed on the same connection.
  env.ClearErrorRules();
  auto posted = b.ledger->Post(TopUp(1), kNov + 1);
  ASSERT_TRUE(posted.ok()) << posted.status().ToString();
  EXPECT_FALSE(posted->duplicate);
  ASSERT_TRUE(b.ledger->BookHour({kNov, {{"acme", kNov, 0, kCredit, 0}}, kNov}).ok());
  b.Close();
  ASSERT_TRUE(env.SimulatePowerLoss().ok());
  Acked acked;
  acked.topups = {"ref-0", "ref-1"};
  acked.hours = {kNov};
  ExpectRecovered(dir.path(), &env, acked, "after the full disk");
}

}  // namespace billing_db_faults_test
}  // namespace meterd::testing
