// meterd — tests/engine/ledger/ledger_test_util.h: a billing.db with a small tenancy, an
// event log and a ledger over it, reopenable to check what survives.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "engine/events/event_log.h"
#include "engine/ledger/ledger.h"
#include "engine/tenancy/billing_db.h"
#include "engine/tenancy/tenancy.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::ledger::testing {

// Domains "root" > "reseller"; accounts "acme" (root), "bolt" (reseller), "cash" (root,
// allowed a negative balance).
inline std::shared_ptr<const tenancy::Tenancy> SmallTenancy() {
  tenancy::TenancyData d;
  d.domains = {{"root", "Root", ""}, {"reseller", "Reseller", "root"}};
  d.accounts = {{"acme", "root", "Acme", "", false},
                {"bolt", "reseller", "Bolt", "", false},
                {"cash", "root", "Cash", "", true}};
  auto t = tenancy::Tenancy::Build(std::move(d));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.value();
}

class LedgerFixture {
 public:
  explicit LedgerFixture(const std::string& dir) : dir_(dir) { Reopen(); }
  void Reopen() {
    ledger_.reset();
    events_.reset();
    db_.reset();
    auto db = tenancy::BillingDb::Open(dir_ + "/billing.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto ev = events::EventLog::Open(db_.get());
    ASSERT_TRUE(ev.ok()) << ev.status().ToString();
    events_ = std::move(ev).value();
    auto tenancy = SmallTenancy();
    auto l = Ledger::Open(db_.get(), events_.get(), [tenancy] { return tenancy; });
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    ledger_ = std::move(l).value();
  }
  Ledger& ledger() { return *ledger_; }
  events::EventLog& events() { return *events_; }
  tenancy::BillingDb& db() { return *db_; }

  // Every event's kind for `account`, in order.
  std::vector<std::string> EventKinds(const std::string& account) {
    std::vector<std::string> out;
    auto r = events_->ReadAfter(0, 10000, account);
    EXPECT_TRUE(r.ok());
    if (r.ok()) {
      for (const auto& e : r.value()) out.push_back(e.kind);
    }
    return out;
  }

 private:
  std::string dir_;
  std::unique_ptr<tenancy::BillingDb> db_;
  std::unique_ptr<events::EventLog> events_;
  std::unique_ptr<Ledger> ledger_;
};

constexpr MicroCredits kCredit = pricebook::kMicrosPerCredit;

inline ManualEntry TopUp(const std::string& account, MicroCredits amount,
                         const std::string& reference) {
  ManualEntry m;
  m.account = account;
  m.kind = EntryKind::kTopUp;
  m.amount = amount;
  m.reference = reference;
  m.actor = "test";
  return m;
}

}  // namespace meterd::engine::ledger::testing
