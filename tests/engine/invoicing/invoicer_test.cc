// meterd — tests/engine/invoicing/invoicer_test.cc: invoice runs over a real ledger and
// billing clock driven by a scripted rater, as a property over random months: the subtotal of
// every invoice is, to the micro-credit, the ledger's clock entries it covers (its month's up
// to its watermark, plus the revisions of invoiced months booked since the previous one), the
// subtotals of an account add up to every clock entry of the invoiced months, late data never
// changes an issued invoice, and a repeated run or issue changes nothing.
#include "engine/invoicing/invoicer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <random>

#include "engine/billing/billing_clock.h"
#include "engine/pricebook/pricing.h"
#include "tests/engine/ledger/ledger_test_util.h"

namespace meterd::engine::invoicing {
namespace invoicer_test {

using billing::AccountCharges;
using billing::ChargesByAccount;
using ledger::Entry;
using ledger::EntryKind;
using ledger::testing::kCredit;
using ledger::testing::LedgerFixture;

constexpr int64_t kH = 3600;
constexpr int64_t kOct = 1'790'812'800;  // 2026-10-01T00:00:00Z
constexpr int64_t kNov = 1'793'491'200;
constexpr int64_t kDec = 1'796'083'200;
constexpr int64_t kJan = 1'798'761'600;

// Running hours per account and hour at 2 credits, capped at 100 hours a month (so an hour's
// charge depends on the month before it); a 7-credit fee at each month's first hour for acme.
class Rater : public billing::UsageRater {
 public:
  void Set(const std::string& a, int64_t hour, int64_t n, bool revise) {
    std::lock_guard l(mu_);
    usage_[a][hour] = n;
    if (revise) ++mark_;
  }
  void SetClosedBefore(int64_t t) {
    std::lock_guard l(mu_);
    closed_ = t;
  }
  MicroCredits Accrued(const std::string& a, int64_t month, int64_t t) const {
    int64_t hours = 0;
    if (auto it = usage_.find(a); it != usage_.end()) {
      for (auto h = it->second.lower_bound(month); h != it->second.end() && h->first < t; ++h) {
        hours += h->second;
      }
    }
    return 2 * kCredit * std::min<int64_t>(hours, 100);
  }
  // [from, to) within one month.
  AccountCharges Charges(const std::string& a, int64_t from, int64_t to) const {
    const int64_t month = pricebook::MonthStart(from);
    AccountCharges c;
    c.usage = Accrued(a, month, to) - Accrued(a, month, from);
    if (a == "acme" && month >= from && month < to) c.fees = 7 * kCredit;
    return c;
  }
  Result<ChargesByAccount> Rate(int64_t from, int64_t to, std::string_view account) override {
    std::lock_guard l(mu_);
    ChargesByAccount out;
    for (const char* a : {"acme", "bolt", "cash"}) {
      if (!account.empty() && account != a) continue;
      AccountCharges c = Charges(a, from, to);
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
  // The invoice's RateFn: one usage line and the fee per account, per month of the window.
  Result<std::unordered_map<std::string, std::vector<RatedLine>>> Lines(
      int64_t from, int64_t to, const std::vector<std::string>& accounts) {
    std::lock_guard l(mu_);
    std::unordered_map<std::string, std::vector<RatedLine>> out;
    for (const char* a : {"acme", "bolt", "cash"}) {
      if (!accounts.empty() && accounts[0] != a) continue;
      for (int64_t m = pricebook::MonthStart(from); m < to; m = pricebook::NextMonthStart(m)) {
        const AccountCharges c =
            Charges(a, std::max(from, m), std::min(to, pricebook::NextMonthStart(m)));
        if (c.usage != 0) {
          RatedLine u;
          u.group = "Running VM";
          u.product_id = "vm";
          u.unit = "h";
          u.raw_quantity = static_cast<uint64_t>(c.usage / (2 * kCredit));
          u.unit_price = 2 * kCredit;
          u.amount = c.usage;
          out[a].push_back(u);
        }
        if (c.fees != 0) {
          RatedLine f;
          f.kind = LineKind::kMonthlyFee;
          f.product_id = "support";
          f.unit = "month";
          f.raw_quantity = 1;
          f.unit_price = f.amount = c.fees;
          out[a].push_back(f);
        }
      }
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<int64_t, int64_t>> usage_;
  int64_t closed_ = 0;
  uint64_t mark_ = 0;
};

pricebook::BillingSnapshot Snapshot(const std::vector<tenancy::BillingProfile>& profiles = {}) {
  pricebook::BillingSnapshot s;
  s.tenancy = ledger::testing::SmallTenancy();
  if (!profiles.empty()) {  // ledger::testing::SmallTenancy with billing profiles
    tenancy::TenancyData d;
    d.domains = {{"root", "Root", ""}, {"reseller", "Reseller", "root"}};
    d.accounts = {{"acme", "root", "Acme", "", false},
                  {"bolt", "reseller", "Bolt", "", false},
                  {"cash", "root", "Cash", "", true}};
    d.billing_profiles = profiles;
    auto t = tenancy::Tenancy::Build(std::move(d));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    s.tenancy = t.value();
  }
  pricebook::PriceBookVersion v;
  v.version = 1;
  v.effective_from = kOct;
  v.default_currency = "GBP";
  v.currencies = {pricebook::Currency{"GBP", pricebook::Decimal::FromInt(1), "GBP ", "", 2}};
  auto book = pricebook::PriceBook::Build({v});
  EXPECT_TRUE(book.ok()) << book.status().ToString();
  s.price_book = book.value();
  return s;
}

struct Harness {
  // The clock bills from `clock_start` (fewer hours to book: a faster test).
  explicit Harness(const std::string& dir, int64_t clock_start = kOct) : f(dir) {
    auto s = InvoiceStore::Open(&f.db());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    store = std::move(s).value();
    auto inv = Invoicer::Open(
        &f.ledger(), store.get(), [this] { return Snapshot(profiles); },
        [this](int64_t from, int64_t to, const std::vector<std::string>& accounts) {
          return rater.Lines(from, to, accounts);
        },
        1);
    EXPECT_TRUE(inv.ok()) << inv.status().ToString();
    invoicer = std::move(inv).value();
    billing::ClockOptions o;
    o.start = clock_start;
    o.max_hours_per_call = 10000;
    clock = std::make_unique<billing::BillingClock>(&f.ledger(), &rater, o);
  }
  void CloseUntil(int64_t t) {
    rater.SetClosedBefore(t);
    auto n = clock->CloseDue();
    ASSERT_TRUE(n.ok()) << n.status().ToString();
  }
  LedgerFixture f;
  Rater rater;
  std::vector<tenancy::BillingProfile> profiles;  // the catalog's billing profiles
  std::unique_ptr<InvoiceStore> store;
  std::unique_ptr<Invoicer> invoicer;
  std::unique_ptr<billing::BillingClock> clock;
};

// The clock's entries of `account` (usage, fee, adjustment with an hour), as charges.
std::vector<Entry> ClockEntries(ledger::Ledger& l, const std::string& account) {
  std::vector<Entry> out;
  auto all = l.Entries(account, kOct - kH, kJan + 90 * 86400);
  EXPECT_TRUE(all.ok()) << all.status().ToString();
  for (const Entry& e : all.value()) {
    if (e.hour && (e.kind == EntryKind::kUsage || e.kind == EntryKind::kFee ||
                   e.kind == EntryKind::kAdjustment)) {
      out.push_back(e);
    }
  }
  return out;
}

TEST(Invoicer, PropertySubtotalsAreExactlyTheLedgerEntriesTheyCover) {
  // Two seeds in CI (each books about 2,300 hours); METERD_INVOICE_SEEDS=N for more.
  const uint64_t seeds = std::getenv("METERD_INVOICE_SEEDS") != nullptr
                             ? std::strtoull(std::getenv("METERD_INVOICE_SEEDS"), nullptr, 10)
                             : 2;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    meterd::testing::TempDir dir;
    Harness h(dir.path());
    std::mt19937_64 rng(seed);
    // Sparse enough that a month stays mostly under the 100-hour cap (a revision then
    // changes its charges), dense enough that some months reach it.
    auto usage = [&](int64_t from, int64_t to, bool revise) {
      for (int64_t t = from; t < to; t += kH) {
        for (const char* a : {"acme", "bolt", "cash"}) {
          if (rng() % (revise ? 2 : 12) == 0) {
            h.rater.Set(a, t, static_cast<int64_t>(rng() % 3), revise);
          }
        }
      }
    };
    usage(kOct, kJan, false);
    const int64_t months[] = {kOct, kNov, kDec};
    for (int m = 0; m < 3; ++m) {
      const int64_t month = months[m], next = pricebook::NextMonthStart(month);
      h.CloseUntil(next + static_cast<int64_t>(rng() % 48) * kH);  // into the next month
      // Late data for this month before the run: the clock books it within its next call.
      if (rng() % 2) {
        usage(month + 24 * kH, month + 26 * kH, true);
        h.CloseUntil(next + 50 * kH);
      }
      RunRequest req;
      req.at = month;
      req.now = next + 50 * kH;
      auto run = h.invoicer->Run(req);
      ASSERT_TRUE(run.ok()) << run.status().ToString();
      ASSERT_TRUE(run->refused.empty())
          << run->refused[0].account << ": " << run->refused[0].reason;
      auto issued = h.invoicer->IssueDrafts(ScopeKind::kAll, "", month, "test", req.now);
      ASSERT_TRUE(issued.ok()) << issued.status().ToString();
      ASSERT_TRUE(issued->refused.empty()) << issued->refused[0].reason;
      // Running again issues nothing twice.
      auto again = h.invoicer->Run(req);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(again->drafts, 0u);
      EXPECT_EQ(again->already_issued, issued->invoices.size());
      // Late data after the issue (this month and, once, the previous one): booked by the
      // clock as adjustments, carried by the next invoice.
      usage(month + 100 * kH, month + 103 * kH, true);
      h.CloseUntil(next + 60 * kH);
    }
    // Every invoice against the ledger.
    int carried = 0;  // adjustment lines: revisions of invoiced months
    for (const char* a : {"acme", "bolt", "cash"}) {
      ListFilter f;
      f.account = a;
      auto list = h.store->List(f);
      ASSERT_TRUE(list.ok());
      const std::vector<Entry> entries = ClockEntries(h.f.ledger(), a);
      int64_t previous_watermark = 0;
      int64_t previous_month = INT64_MIN;
      __int128 invoiced = 0;
      for (const StoredInvoice& s : *list) {
        const int64_t month = s.invoice.period_start;
        for (const InvoiceLine& l : s.invoice.lines) carried += l.kind == LineKind::kAdjustment;
        __int128 covered = 0;
        for (const Entry& e : entries) {
          if (e.id > s.coverage.watermark) continue;
          if (*e.month == month) covered -= e.amount;  // the month's own entries
          if (e.kind == EntryKind::kAdjustment && *e.month < month && e.id > previous_watermark &&
              previous_month != INT64_MIN) {
            covered -= e.amount;  // revisions of invoiced months since the previous invoice
          }
        }
        EXPECT_EQ(s.invoice.subtotal.micro, static_cast<MicroCredits>(covered))
            << a << " " << s.invoice.number << " seed " << seed;
        // The month part is the month's rating when it was issued (lines without adjustments).
        invoiced += s.invoice.subtotal.micro;
        previous_watermark = s.coverage.watermark;
        previous_month = month;
      }
      // Everything booked for the invoiced months up to the last watermark was invoiced once.
      __int128 booked = 0;
      for (const Entry& e : entries) {
        if (e.id <= previous_watermark && *e.month < kJan) booked -= e.amount;
      }
      EXPECT_EQ(invoiced, booked) << a << " seed " << seed;
    }
    EXPECT_GT(carried, 0) << "seed " << seed << " carried no revision: the property was not tested";
  }
}

TEST(Invoicer, OpenHoursAreRefusedAndACycleOtherThanUtcMonthsIsRefusedByName) {
  meterd::testing::TempDir dir;
  Harness h(dir.path());
  h.rater.Set("acme", kOct + 5 * kH, 1, false);
  h.CloseUntil(kOct + 200 * kH);
  RunRequest req;
  req.at = kOct;
  auto run = h.invoicer->Run(req);
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.status().message().find("has not booked yet"), std::string::npos);
  req.provisional = true;
  run = h.invoicer->Run(req);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->drafts, 1u);
  EXPECT_TRUE(run->invoices[0].provisional);
  EXPECT_FALSE(run->open_hours.empty());
  auto issued = h.invoicer->IssueDrafts(ScopeKind::kAll, "", kOct, "t", 2);
  ASSERT_TRUE(issued.ok());
  EXPECT_TRUE(issued->invoices.empty());
  EXPECT_EQ(issued->refused.size(), 1u);
}

// A crash between issuing (one transaction) and booking the discounts and taxes (the next):
// the document stands without its `booked` event, and the next Open books it, once.
TEST(Invoicer, AnIssueWhoseBookingWasCutShortIsBookedAtTheNextOpen) {
  meterd::testing::TempDir dir;
  Harness h(dir.path());
  h.rater.Set("acme", kOct + 5 * kH, 1, false);
  h.CloseUntil(kNov + 2 * kH);
  RunRequest req;
  req.at = kOct;
  ASSERT_TRUE(h.invoicer->Run(req).ok());
  // Issued by the store alone, as if the process died right after: with a discount and a tax
  // to book (the draft is rewritten with them first).
  auto draft = h.store->Draft("acme", kOct);
  ASSERT_TRUE(draft.ok() && draft->has_value());
  Invoice inv = (*draft)->first;
  inv.discounts.push_back({"d", "d", "account", "", 0, inv.subtotal.micro, {kCredit, 100}});
  inv.discount_total = {kCredit, 100};
  inv.taxes.push_back(
      {"VAT", "GB", "", 200000, false, inv.subtotal.micro - kCredit, {kCredit, 100}});
  inv.tax_total = {kCredit, 100};
  ASSERT_TRUE(h.store->PutDraft(inv, (*draft)->second).ok());
  auto issued = h.store->Issue("acme", kOct, NumberingOptions{"*", "INV-", 6, 0}, 5);
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  ASSERT_EQ(h.store->Unbooked()->size(), 1u);
  const MicroCredits before = h.f.ledger().Balance("acme")->balance;
  for (int open = 0; open < 2; ++open) {  // booked once, however often it is opened
    auto again = Invoicer::Open(
        &h.f.ledger(), h.store.get(), [] { return Snapshot(); },
        [&h](int64_t from, int64_t to, const std::vector<std::string>& accounts) {
          return h.rater.Lines(from, to, accounts);
        },
        6);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
  }
  EXPECT_TRUE(h.store->Unbooked()->empty());
  EXPECT_EQ(h.f.ledger().Balance("acme")->balance, before + kCredit - kCredit);
  int taxes = 0, discounts = 0;
  auto entries = h.f.ledger().Entries("acme", 0, kJan);
  ASSERT_TRUE(entries.ok());
  for (const Entry& e : *entries) {
    taxes += e.reference == "invoice:INV-000001:taxes" && e.amount == -kCredit;
    discounts += e.reference == "invoice:INV-000001:discounts" && e.amount == kCredit;
  }
  EXPECT_EQ(taxes, 1);
  EXPECT_EQ(discounts, 1);
}

// ---- Billing cycles other than UTC calendar months (docs/invoices.md, "Cycles") ----

constexpr int64_t kDay = 86400;

tenancy::BillingProfile ProfileOf(const std::string& account, cycles::CycleKind kind,
                                  const std::string& zone, unsigned anchor_day = 1) {
  tenancy::BillingProfile p;
  p.account = account;
  p.time_zone = zone;
  p.cycle.kind = kind;
  if (kind == cycles::CycleKind::kMonthlyAnchored) p.cycle.anchor_day = anchor_day;
  return p;
}

// `n` running hours of `account` from `from`, one a bucket.
void Hours(Harness& h, const std::string& account, int64_t from, int n, bool revise = false) {
  for (int i = 0; i < n; ++i) h.rater.Set(account, from + i * kH, 1, revise);
}

// Runs the period of `account` containing `at` and issues it: the issued invoice.
Invoice RunAndIssue(Harness& h, const std::string& account, int64_t at, int64_t now) {
  RunRequest req;
  req.at = at;
  req.scope = ScopeKind::kAccount;
  req.scope_id = account;
  req.now = now;
  auto run = h.invoicer->Run(req);
  EXPECT_TRUE(run.ok()) << run.status().ToString();
  if (!run.ok()) return {};
  EXPECT_TRUE(run->refused.empty()) << run->refused[0].reason;
  EXPECT_EQ(run->drafts, 1u);
  auto issued = h.invoicer->Issue(account, at, "test", now);
  EXPECT_TRUE(issued.ok()) << issued.status().ToString();
  return issued.ok() ? issued->invoice : Invoice{};
}

// Anchored on the 15th in UTC: the period from October 15 to November 15 holds October's last
// hours, whose charges the October cap (100 hours a UTC month, the rater's) already limits,
// and November's first: 95 + 10 hours in October, 5 of the 10 billed (2 credits each), plus 5
// in November = 20 credits. The clock bills from October 15: the period before has nothing.
TEST(InvoicerCycles, AnAnniversaryCycleAcrossAMonthEnd) {
  meterd::testing::TempDir dir;
  const int64_t oct15 = kOct + 14 * kDay, nov15 = kNov + 14 * kDay;
  Harness h(dir.path(), oct15);
  h.profiles = {ProfileOf("bolt", cycles::CycleKind::kMonthlyAnchored, "UTC", 15)};
  Hours(h, "bolt", kOct + 4 * kDay, 95);   // Oct 5-8, before the clock: counts for the cap
  Hours(h, "bolt", kOct + 19 * kDay, 10);  // Oct 20
  Hours(h, "bolt", kNov + 2 * kDay, 5);    // Nov 3
  Hours(h, "bolt", nov15 + 5 * kDay, 4);   // Nov 20: the next period
  h.CloseUntil(nov15 + kH);

  RunRequest before;
  before.at = kOct + 4 * kDay;  // September 15 - October 15: before the clock
  before.scope = ScopeKind::kAccount;
  before.scope_id = "bolt";
  auto none = h.invoicer->Run(before);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->period_start, kOct - 16 * kDay);  // 2026-09-15T00:00:00Z
  EXPECT_EQ(none->drafts, 0u);
  EXPECT_EQ(none->nothing_to_invoice, 1u);

  const Invoice inv = RunAndIssue(h, "bolt", kOct + 19 * kDay, nov15 + kH);
  EXPECT_EQ(inv.period_start, oct15);
  EXPECT_EQ(inv.period_end, nov15);
  EXPECT_EQ(inv.cycle, "monthly_anchored");
  EXPECT_EQ(inv.subtotal.micro, 20 * kCredit);
  ASSERT_EQ(inv.lines.size(), 1u);
  EXPECT_EQ(inv.lines[0].quantity, "10");
  // Exactly the clock's entries of its hours.
  __int128 booked = 0;
  for (const Entry& e : ClockEntries(h.f.ledger(), "bolt")) {
    if (*e.hour >= oct15 && *e.hour < nov15) booked -= e.amount;
  }
  EXPECT_EQ(booked, inv.subtotal.micro);
  // The next period's hours are not closed: refused with them, never drafted.
  RunRequest next = before;
  next.at = nov15 + 5 * kDay;
  auto open = h.invoicer->Run(next);
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.status().message().find("has not booked yet"), std::string::npos);
}

// Daily in Europe/London on 2026-10-25, when clocks go back: the local day is
// [Oct 24 23:00Z, Oct 26 00:00Z), 25 buckets; usage in every hour from Oct 24 22:00Z to Oct 26
// 00:00Z (27 hours) bills 25 of them that day = 50 credits. Daily in Asia/Kolkata (+05:30) on
// 2026-10-20: [Oct 19 18:30Z, Oct 20 18:30Z); the bucket Oct 19 18:00Z starts before it (the
// day before's), Oct 20 18:00Z inside it, Oct 20 19:00Z after it: 1 bucket = 2 credits.
// The same run drafts acme's calendar month (1 hour, 2 credits) beside bolt's day.
TEST(InvoicerCycles, ZonesAcrossADstChangeAndAHalfHourOffset) {
  meterd::testing::TempDir dir;
  const int64_t oct19 = kOct + 18 * kDay, oct20 = kOct + 19 * kDay, oct24 = kOct + 23 * kDay;
  Harness h(dir.path(), oct19);
  h.profiles = {ProfileOf("bolt", cycles::CycleKind::kDaily, "Europe/London"),
                ProfileOf("cash", cycles::CycleKind::kDaily, "Asia/Kolkata")};
  Hours(h, "acme", oct20, 1);
  Hours(h, "bolt", oct24 + 22 * kH, 27);
  Hours(h, "cash", oct19 + 18 * kH, 1);
  Hours(h, "cash", oct20 + 18 * kH, 2);
  h.CloseUntil(kNov + kH);

  RunRequest req;
  req.at = oct24 + 36 * kH;  // 2026-10-25T12:00:00Z
  req.now = kNov + kH;
  auto run = h.invoicer->Run(req);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_TRUE(run->refused.empty()) << run->refused[0].account << ": " << run->refused[0].reason;
  EXPECT_EQ(run->drafts, 2u);  // acme's October, bolt's October 25; cash has nothing that day
  EXPECT_EQ(run->nothing_to_invoice, 1u);
  std::map<std::string, Invoice> by_account;
  for (const Invoice& inv : run->invoices) by_account[inv.account] = inv;
  ASSERT_EQ(by_account.count("bolt"), 1u);
  const Invoice& bolt = by_account["bolt"];
  EXPECT_EQ(bolt.period_start, oct24 + 23 * kH);
  EXPECT_EQ(bolt.period_end, oct24 + 48 * kH);
  EXPECT_EQ(bolt.time_zone, "Europe/London");
  EXPECT_EQ(bolt.cycle, "daily");
  EXPECT_EQ(bolt.subtotal.micro, 25 * 2 * kCredit);
  EXPECT_EQ(by_account["acme"].period_start, kOct);
  EXPECT_EQ(by_account["acme"].subtotal.micro, 2 * kCredit);
  auto issued = h.invoicer->IssueDrafts(ScopeKind::kAll, "", req.at, "test", req.now);
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  EXPECT_EQ(issued->invoices.size(), 2u);
  EXPECT_TRUE(issued->refused.empty());

  const Invoice cash = RunAndIssue(h, "cash", oct20 + 6 * kH, kNov + kH);
  EXPECT_EQ(cash.period_start, oct19 + 18 * kH + 30 * 60);
  EXPECT_EQ(cash.period_end, oct20 + 18 * kH + 30 * 60);
  EXPECT_EQ(cash.time_zone, "Asia/Kolkata");
  EXPECT_EQ(cash.subtotal.micro, 2 * kCredit);
}

// Monthly in UTC until October is invoiced, then weekly from Monday: November 1, 2026 is a
// Sunday, so the first period of the new cycle is the rest of the week the change fell in,
// November 1 (5 hours, 10 credits); run first, the week after it, November 2 - 9, would start
// where the previous invoice ended (a draft of November 1 - 9, replaced by the day's). Late data: 2
// hours of November 1 after its invoice (+4 credits booked by the clock) and 1 hour of November 4
// before the next run (+2): the week rates 5 hours (10 credits) while the clock's usage entries of
// its hours hold 4 (8), and it carries the revisions booked since the previous invoice, 6, less the
// 2 its rating holds: 10 + 4 = 14 = 8 + 6. Nothing is invoiced twice and the invoices add up to
// every clock entry.
TEST(InvoicerCycles, ACycleChangeMidPeriodInvoicesTheRestOfItAndNothingTwice) {
  meterd::testing::TempDir dir;
  const int64_t nov2 = kNov + kDay, nov9 = kNov + 8 * kDay;
  Harness h(dir.path(), kOct + 19 * kDay);
  Hours(h, "bolt", kOct + 24 * kDay, 3);  // Oct 25
  Hours(h, "bolt", kNov, 5);              // Nov 1
  Hours(h, "bolt", kNov + 2 * kDay, 4);   // Nov 3
  h.CloseUntil(nov9 + kH);
  const Invoice october = RunAndIssue(h, "bolt", kOct, nov9 + kH);
  EXPECT_EQ(october.period_start, kOct);
  EXPECT_EQ(october.subtotal.micro, 6 * kCredit);

  h.profiles = {ProfileOf("bolt", cycles::CycleKind::kWeekly, "UTC")};
  RunRequest req;
  req.at = nov2 + 3 * kDay;
  req.scope = ScopeKind::kAccount;
  req.scope_id = "bolt";
  auto gap = h.invoicer->Run(req);
  ASSERT_TRUE(gap.ok()) << gap.status().ToString();
  EXPECT_TRUE(gap->refused.empty());
  ASSERT_EQ(gap->invoices.size(), 1u);
  EXPECT_EQ(gap->invoices[0].period_start, kNov);  // from the previous invoice's end
  EXPECT_EQ(gap->invoices[0].period_end, nov9);

  const Invoice rest = RunAndIssue(h, "bolt", kNov + 12 * kH, nov9 + kH);
  EXPECT_EQ(rest.period_start, kNov);
  EXPECT_EQ(rest.period_end, nov2);
  EXPECT_EQ(rest.cycle, "weekly");
  EXPECT_EQ(rest.subtotal.micro, 10 * kCredit);

  Hours(h, "bolt", kNov + 10 * kH, 2, /*revise=*/true);  // Nov 1, already invoiced
  h.CloseUntil(nov9 + 2 * kH);
  Hours(h, "bolt", kNov + 3 * kDay, 1, /*revise=*/true);  // Nov 4, not yet invoiced
  h.CloseUntil(nov9 + 3 * kH);

  const Invoice week = RunAndIssue(h, "bolt", nov2 + 3 * kDay, nov9 + 3 * kH);
  EXPECT_EQ(week.period_start, nov2);
  EXPECT_EQ(week.period_end, nov9);
  EXPECT_EQ(week.subtotal.micro, 14 * kCredit);
  MicroCredits usage = 0, revised = 0;
  for (const InvoiceLine& l : week.lines) {
    (l.kind == LineKind::kAdjustment ? revised : usage) += l.amount.micro;
  }
  EXPECT_EQ(usage, 10 * kCredit);
  EXPECT_EQ(revised, 4 * kCredit);

  // Nothing is invoiced twice: the week of the change is covered now.
  req.at = kNov + 12 * kH;
  auto again = h.invoicer->Run(req);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->drafts, 0u);
  EXPECT_EQ(again->already_issued, 1u);
  // The three invoices are every clock entry of bolt (it has no usage after November 4, and
  // every revision was booked before the last run).
  __int128 booked = 0;
  for (const Entry& e : ClockEntries(h.f.ledger(), "bolt")) booked -= e.amount;
  EXPECT_EQ(booked, october.subtotal.micro + rest.subtotal.micro + week.subtotal.micro);
}

// The property of "What an invoice covers" for periods other than calendar months, over random
// cycles, zones and late data: each account is invoiced period after period (daily in
// Asia/Kathmandu, weekly from Sunday in America/New_York across its DST change, anchored on
// the 31st in Europe/London), with revisions of earlier and current hours booked between the
// runs. Every invoice's subtotal is exactly the clock's usage and fee entries of its hour
// buckets up to its watermark plus the clock's adjustments booked since the previous invoice's
// watermark; consecutive periods tile the hours; an account's invoices add up to every clock
// entry of their hours and every revision up to the last watermark.
TEST(InvoicerCycles, PropertyPeriodsTileTheLedgerUnderLateData) {
  meterd::testing::TempDir dir;
  const int64_t start = kOct + 20 * kDay, end = kNov + 8 * kDay + 6 * kH;  // Oct 21 - Nov 9
  Harness h(dir.path(), start);
  h.profiles = {ProfileOf("acme", cycles::CycleKind::kDaily, "Asia/Kathmandu"),
                ProfileOf("bolt", cycles::CycleKind::kWeekly, "America/New_York"),
                ProfileOf("cash", cycles::CycleKind::kMonthlyAnchored, "Europe/London", 31)};
  h.profiles[1].cycle.week_start = 0;  // Sunday
  std::mt19937_64 rng(7);
  for (int64_t t = start - 5 * kDay; t < end; t += kH) {
    for (const char* a : {"acme", "bolt", "cash"}) {
      if (rng() % 5 == 0) h.rater.Set(a, t, static_cast<int64_t>(rng() % 3), false);
    }
  }
  h.CloseUntil(end);
  int64_t closed = end;
  int issued = 0, revisions = 0;
  for (const char* a : {"acme", "bolt", "cash"}) {
    int64_t at = start;
    for (;;) {
      auto period = h.invoicer->PeriodOf(a, at);
      ASSERT_TRUE(period.ok()) << period.status().ToString();
      if (period->end_hour > closed) break;
      // Late data of a random earlier hour (invoiced or not) before the run, booked by the
      // clock as an adjustment of its month.
      if (rng() % 2 == 0) {
        h.rater.Set(a, start + static_cast<int64_t>(rng() % ((end - start) / kH)) * kH,
                    static_cast<int64_t>(rng() % 3), true);
        closed += kH;
        h.CloseUntil(closed);
      }
      RunRequest req;
      req.at = at;
      req.scope = ScopeKind::kAccount;
      req.scope_id = a;
      req.now = closed;
      auto run = h.invoicer->Run(req);
      ASSERT_TRUE(run.ok()) << run.status().ToString();
      ASSERT_TRUE(run->refused.empty()) << a << ": " << run->refused[0].reason;
      if (run->drafts == 1) {
        auto s = h.invoicer->Issue(a, at, "test", closed);
        ASSERT_TRUE(s.ok()) << s.status().ToString();
        ++issued;
      }
      at = period->end;
    }
    // Every invoice against the ledger.
    ListFilter f;
    f.account = a;
    auto list = h.store->List(f);
    ASSERT_TRUE(list.ok());
    const std::vector<Entry> entries = ClockEntries(h.f.ledger(), a);
    int64_t previous_watermark = 0, previous_end = 0;
    __int128 invoiced = 0;
    for (const StoredInvoice& s : *list) {
      const int64_t first = (s.invoice.period_start + kH - 1) / kH * kH;
      const int64_t last = (s.invoice.period_end + kH - 1) / kH * kH;
      if (previous_end != 0) EXPECT_EQ(first, previous_end) << a << " " << s.invoice.number;
      __int128 covered = 0;
      for (const Entry& e : entries) {
        if (e.id > s.coverage.watermark) continue;
        if (e.kind == EntryKind::kAdjustment) {
          if (e.id > previous_watermark) covered -= e.amount;
        } else if (*e.hour >= first && *e.hour < last) {
          covered -= e.amount;
        }
      }
      EXPECT_EQ(s.invoice.subtotal.micro, static_cast<MicroCredits>(covered))
          << a << " " << s.invoice.number;
      for (const InvoiceLine& l : s.invoice.lines) revisions += l.kind == LineKind::kAdjustment;
      invoiced += s.invoice.subtotal.micro;
      previous_watermark = s.coverage.watermark;
      previous_end = last;
    }
    __int128 booked = 0;
    for (const Entry& e : entries) {
      if (e.id > previous_watermark) continue;
      if (e.kind == EntryKind::kAdjustment || *e.hour < previous_end) booked -= e.amount;
    }
    EXPECT_EQ(invoiced, booked) << a;
  }
  EXPECT_GT(issued, 20);
  EXPECT_GT(revisions, 0) << "no revision was carried: the property was not tested";
}

}  // namespace invoicer_test
}  // namespace meterd::engine::invoicing
