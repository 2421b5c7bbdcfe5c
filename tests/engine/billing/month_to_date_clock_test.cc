// meterd — tests/engine/billing/month_to_date_clock_test.cc: the billing clock over the real
// rating engine, its hours rated incrementally (UsageRater::RateMonthToDate), against a full
// re-rate. Random catalogs (two accounts, VMs changing plan and one moving between the
// accounts, a price book version taking effect mid-month, a per-line cap, a minimum, graduated
// and volume tiers on the account scale, a monthly fee) and random usage; the clock is driven
// in random batches of closed hours through November into December, with random revisions of
// booked hours (this month's and last month's) and random restarts (a new clock, the ledger
// reopened). Property: after every CloseDue, each account's debits and adjustments of the month
// equal RatingEngine::Rate of the month's hours booked, to the micro-credit (and at the end
// for November and December in billing.db too), and most hours went the incremental way.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <tuple>

#include "engine/billing/account_charges.h"
#include "engine/billing/billing_clock.h"
#include "engine/pricebook/pricing.h"
#include "tests/engine/ledger/ledger_test_util.h"
#include "tests/engine/rating/rating_fixture.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::billing {
namespace month_to_date_clock_test {

namespace rt = rating::testing;
using ledger::testing::LedgerFixture;
using storage::RollupRow;

constexpr int64_t kH = 3600;
constexpr int64_t kNov = 1'793'491'200;  // 2026-11-01T00:00:00Z
constexpr int64_t kDec = kNov + 30 * 24 * kH;

// The server's rater in miniature: a RatingEngine over sealed files plus revised rows.
class EngineRater : public UsageRater {
 public:
  EngineRater(std::unique_ptr<rating::RatingEngine> engine, query::RollupView view)
      : engine_(std::move(engine)), view_(std::move(view)) {}

  Result<ChargesByAccount> Rate(int64_t from, int64_t to, std::string_view account) override {
    std::lock_guard l(mu_);
    ++full_;
    METERD_ASSIGN_OR_RETURN(rating::RatingResult r,
                            engine_->Rate(view_, AccountsRequest(from, to, account)));
    return SumByAccount(r);
  }
  Result<ChargesByAccount> RateMonthToDate(int64_t from, int64_t to,
                                           rating::MonthToDate* state) override {
    std::lock_guard l(mu_);
    ++incremental_;
    METERD_ASSIGN_OR_RETURN(rating::RatingResult r,
                            engine_->RateMonthToDate(view_, from, to, state));
    return SumByAccount(r);
  }
  Status RestoreMonthToDate(std::string_view bytes, rating::MonthToDate* state) override {
    std::lock_guard l(mu_);
    return engine_->RestoreMonthToDate(bytes, state);
  }
  // The rater outlives the clocks of a test: its mark is what survives their restarts.
  std::optional<std::string> DurableRevisionMark() override {
    std::lock_guard l(mu_);
    return std::to_string(mark_);
  }
  int64_t ClosedBefore() override {
    std::lock_guard l(mu_);
    return closed_;
  }
  uint64_t RevisionMark() override {
    std::lock_guard l(mu_);
    return mark_;
  }
  void SetClosedBefore(int64_t t) {
    std::lock_guard l(mu_);
    closed_ = t;
  }
  void Revise(const RollupRow& row) {
    std::lock_guard l(mu_);
    revised_[{row.series_id, row.hour}] = row;
    view_.revised.clear();
    for (const auto& [k, r] : revised_) view_.revised.push_back(r);
    ++mark_;
  }
  // The month's hours [from, to) rated at once, per account (usage + fees).
  std::map<std::string, MicroCredits> Whole(int64_t from, int64_t to) {
    std::lock_guard l(mu_);
    std::map<std::string, MicroCredits> out;
    auto r = engine_->Rate(view_, AccountsRequest(from, to, ""));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) {
      for (const auto& [a, c] : SumByAccount(*r)) out[a] = c.total();
    }
    return out;
  }
  int full() const { return full_; }
  int incremental() const { return incremental_; }

 private:
  mutable std::mutex mu_;
  std::unique_ptr<rating::RatingEngine> engine_;
  query::RollupView view_;
  std::map<std::pair<uint64_t, int64_t>, RollupRow> revised_;
  int64_t closed_ = 0;
  uint64_t mark_ = 0;
  int full_ = 0, incremental_ = 0;
};

struct World {
  std::shared_ptr<const tenancy::Tenancy> tenancy;
  std::shared_ptr<const pricebook::PriceBook> book;
  std::vector<pricebook::Subscription> subs;
  std::vector<SeriesInfo> series;
  std::vector<RollupRow> rows;
};

RollupRow RandomRow(std::mt19937_64& rng, const SeriesInfo& s, int64_t hour) {
  if (s.kind == MetricKind::kState) {
    const uint64_t running = rng() % 4 == 0 ? rng() % 3601 : 3600;
    return rt::StateRow(s.id, hour, running, 3600 - running);
  }
  if (s.kind == MetricKind::kGauge) return rt::GaugeRow(s.id, hour, 1 + rng() % 8);
  return rt::CounterRow(s.id, hour, rng() % (300 * rt::kGB));
}

World RandomWorld(std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  World w;
  tenancy::TenancyData td = rt::BaseTenancy();
  td.accounts = {{"acme", "d1", "Acme", "", false}, {"bolt", "d2", "Bolt", "EUR", false}};
  td.projects = {{"pa", "acme", "A"}, {"pb", "bolt", "B"}};
  const char* plans[] = {"copper", "silver", "gold"};
  const size_t vms = 3 + pick(5);
  for (size_t i = 0; i < vms; ++i) {
    tenancy::Resource r;
    r.id = "vm-" + std::to_string(i);
    std::string project = i % 2 ? "pb" : "pa";
    int64_t t = kNov - 5 * rt::kDay + static_cast<int64_t>(pick(20 * 24)) * kH;
    for (size_t v = 0, n = 1 + pick(3); v < n; ++v) {
      r.versions.push_back(rt::V(t, project, plans[pick(3)]));
      t += static_cast<int64_t>(1 + pick(15 * 24)) * kH + static_cast<int64_t>(pick(3600));
      if (i == 0 && v == 0) project = "pb";  // vm-0 moves from acme to bolt
    }
    td.resources.push_back(r);
    w.series.push_back(rt::Series(r.id, "vm.state", MetricKind::kState));
    w.series.push_back(rt::Series(r.id, "vm.vcpus", MetricKind::kGauge));
    w.series.push_back(rt::Series(r.id, "net.tx_bytes", MetricKind::kCounter));
    w.series.push_back(rt::Series(r.id, "net.rx_bytes", MetricKind::kCounter));
  }
  w.tenancy = rt::BuildTenancy(td);
  auto version = [&](uint32_t number, int64_t from) {
    std::vector<rt::Product> ps;
    rt::Product run = rt::StateHours("running", 1 << 1, 100'000 + rng() % 3'000'000);
    rt::SetCap(&run, std::to_string(50 + pick(500)));
    if (pick(2)) run.minimum = 1 + rng() % 90'000'000;
    ps.push_back(run);
    rt::Product gold = rt::StateHours("running.gold", 1 << 1, 1'000'000 + rng() % 5'000'000);
    gold.match.plan = "gold";
    ps.push_back(gold);
    ps.push_back(rt::StateHours("stopped", 1 << 2, rng() % 600'000));
    ps.push_back(rt::PerUnit("vcpu", "vm.vcpus", MetricKind::kGauge, "h", 3600, rng() % 900'000));
    rt::Product eg =
        rt::UsageProduct("egress", "net.tx_bytes", MetricKind::kCounter, "GB", rt::kGB);
    eg.model = pricebook::PriceModel::kGraduated;
    eg.tiers = rt::Tiers({{std::to_string(1000 + pick(20000)), 90'000 + rng() % 10'000},
                          {std::to_string(30000 + pick(60000)), 40'000 + rng() % 10'000},
                          {"", 10'000 + rng() % 10'000}},
                         rt::kGB);
    rt::SetFree(&eg, std::to_string(pick(500)));
    ps.push_back(eg);
    rt::Product in =
        rt::UsageProduct("ingress", "net.rx_bytes", MetricKind::kCounter, "GB", rt::kGB);
    in.model = pricebook::PriceModel::kVolume;
    in.tiers = rt::Tiers({{std::to_string(5000 + pick(20000)), 30'000 + rng() % 10'000},
                          {"", 5'000 + rng() % 10'000}},
                         rt::kGB);
    ps.push_back(in);
    ps.push_back(rt::Subscription("support", 0, rng() % 50'000'000));
    const pricebook::RoundingMode modes[] = {pricebook::RoundingMode::kHalfEven,
                                             pricebook::RoundingMode::kUp,
                                             pricebook::RoundingMode::kDown};
    return rt::Version(number, from, ps, modes[pick(3)]);
  };
  w.book = rt::Book({version(1, kNov - 40 * rt::kDay),
                     version(2, kNov + static_cast<int64_t>(1 + pick(25 * 24)) * kH)});
  pricebook::Subscription sub;
  sub.id = "sub-1";
  sub.account = "acme";
  sub.product = "support";
  sub.start = kNov - rt::kDay;
  w.subs.push_back(sub);
  for (const SeriesInfo& s : w.series) {
    for (int64_t h = kNov; h < kDec + 4 * rt::kDay; h += kH) {
      if (rng() % 10 != 0) w.rows.push_back(RandomRow(rng, s, h));
    }
  }
  return w;
}

TEST(MonthToDateClock, DebitsEqualAFullReRateThroughRevisionsAndRestarts) {
  int incremental = 0, full = 0, checks = 0;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    std::mt19937_64 rng(seed * 104729);
    meterd::testing::TempDir dir;
    World w = RandomWorld(rng);
    EngineRater rater(rt::Engine(w.tenancy, w.book, w.series, w.subs),
                      rt::ViewOf(dir.path(), std::move(w.rows)));
    LedgerFixture f(dir.path());
    ClockOptions o;
    o.start = kNov + (seed % 2 ? 0 : static_cast<int64_t>(rng() % 48) * kH);  // maybe mid-month
    o.max_hours_per_call = 24;
    auto clock = std::make_unique<BillingClock>(&f.ledger(), &rater, o);
    int64_t closed = o.start;
    const int64_t end = kDec + 3 * rt::kDay;
    while (closed < end) {
      closed = std::min(end, closed + static_cast<int64_t>(1 + rng() % 30) * kH);
      rater.SetClosedBefore(closed);
      while (true) {
        auto booked = clock->CloseDue();
        ASSERT_TRUE(booked.ok()) << booked.status().ToString();
        if (*booked == 0) break;
      }
      const int64_t next = *f.ledger().NextHour();
      ASSERT_EQ(next, closed);
      // After every CloseDue: what was billed for the month so far is its rating, so far.
      const int64_t month = pricebook::MonthStart(next - kH);
      const auto want = rater.Whole(std::max(month, o.start), next);
      for (const std::string a : {"acme", "bolt"}) {
        const MicroCredits rated = want.count(a) ? want.at(a) : 0;
        ASSERT_EQ(f.ledger().Billed(a, month), rated)
            << "seed " << seed << " account " << a << " booked until " << next;
      }
      ++checks;
      if (rng() % 2 == 0) {  // revisions of booked hours of this month or the last
        const int64_t lo =
            std::max(o.start, pricebook::MonthStart(pricebook::MonthStart(next - kH) - 1));
        const int64_t hours = (next - lo) / kH;
        for (uint64_t k = 0, n = 1 + rng() % 3; k < n && hours > 0; ++k) {
          const int64_t h = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hours)) * kH;
          // Half of them a VM's state (a whole hour more or less towards its cap).
          const SeriesInfo& s = rng() % 2 ? w.series[4 * (rng() % (w.series.size() / 4))]
                                          : w.series[rng() % w.series.size()];
          RollupRow r = s.kind == MetricKind::kState
                            ? rt::StateRow(s.id, h, rng() % 2 ? 0 : 3600, 0)
                            : RandomRow(rng, s, h);
          r.col[storage::kColRevision] = 1 + rng() % 5;
          rater.Revise(r);
        }
      }
      if (rng() % 8 == 0) {  // a restart
        clock.reset();
        f.Reopen();
        clock = std::make_unique<BillingClock>(&f.ledger(), &rater, o);
      }
    }
    // Revisions after the last hour are booked by the next CloseDue (nothing due).
    ASSERT_TRUE(clock->CloseDue().ok());
    for (const auto& [month, from, to] :
         {std::tuple{kNov, o.start, kDec}, std::tuple{kDec, kDec, end}}) {
      const auto want = rater.Whole(from, to);
      for (const std::string a : {"acme", "bolt"}) {
        const MicroCredits rated = want.count(a) ? want.at(a) : 0;
        EXPECT_EQ(f.ledger().Billed(a, month), rated)
            << "seed " << seed << " account " << a << " month " << month;
        auto db = f.ledger().BilledByAccount(month);
        ASSERT_TRUE(db.ok());
        EXPECT_EQ(db->count(a) ? db->at(a) : 0, rated) << "billing.db, seed " << seed;
      }
      EXPECT_NE(want.size(), 0u);
    }
    incremental += rater.incremental();
    full += rater.full();
  }
  // Most hours went the incremental way; full ratings only for the previous month's revisions.
  EXPECT_GT(checks, 4 * 30);
  EXPECT_GT(incremental, 4 * 500);
  EXPECT_LT(full, incremental / 4);
}

// The clock's entries in billing.db as (hour, account, kind, amount, month), in id order.
using ClockRows = std::vector<std::tuple<int64_t, std::string, std::string, MicroCredits, int64_t>>;
ClockRows ClockEntries(LedgerFixture& f) {
  ClockRows out;
  auto txn = f.db().Begin();
  EXPECT_TRUE(txn.ok());
  if (!txn.ok()) return out;
  auto st = txn->Prepare(
      "SELECT hour, account, kind, amount, month FROM ledger_entries WHERE hour IS NOT NULL "
      "ORDER BY id");
  EXPECT_TRUE(st.ok());
  if (!st.ok()) return out;
  for (;;) {
    auto row = st->Step();
    EXPECT_TRUE(row.ok());
    if (!row.ok() || !*row) break;
    out.emplace_back(st->Int(0), st->Text(1), st->Text(2), st->Int(3), st->Int(4));
  }
  return out;
}

// The month-to-date state kept with the ledger: random worlds, the clock driven in random
// batches through November into December, its state kept after most batches (KeepState, as the
// thread does; skipped at random, so a restart adds the hours after it), restarted at random
// (the ledger reopened, a new clock and a new engine over the same catalog and rollups), no
// revisions. Properties: a restarted clock whose ledger kept a state of the month restores it
// and rates no month so far (month_rescans stays 0), and every entry it books is the entry an
// uninterrupted clock books, to the micro-credit.
TEST(MonthToDateClock, RestartFromTheKeptStateRescansNothingAndDebitsTheSame) {
  int restored = 0;
  uint64_t replayed = 0;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    std::mt19937_64 rng(seed * 7919);
    World w = RandomWorld(rng);
    ClockOptions o;
    o.start = kNov + (seed % 2 ? 0 : static_cast<int64_t>(rng() % 48) * kH);
    o.max_hours_per_call = 24;
    const int64_t end = kDec + 3 * rt::kDay;
    struct Batch {
      int64_t closed;
      bool keep, restart;
    };
    std::vector<Batch> batches;
    for (int64_t closed = o.start; closed < end;) {
      closed = std::min(end, closed + static_cast<int64_t>(1 + rng() % 30) * kH);
      batches.push_back(Batch{closed, rng() % 3 != 0, rng() % 4 == 0});
    }
    auto run = [&](bool restarts) -> ClockRows {
      meterd::testing::TempDir dir;
      auto make_rater = [&] {
        return std::make_unique<EngineRater>(rt::Engine(w.tenancy, w.book, w.series, w.subs),
                                             rt::ViewOf(dir.path(), w.rows));
      };
      std::unique_ptr<EngineRater> rater = make_rater();
      LedgerFixture f(dir.path());
      auto clock = std::make_unique<BillingClock>(&f.ledger(), rater.get(), o);
      bool fresh = false;  // restarted, not looked yet
      for (const auto& [closed, keep, restart] : batches) {
        rater->SetClosedBefore(closed);
        const std::optional<int64_t> before = f.ledger().NextHour();
        std::optional<ledger::ClockState> kept;
        if (fresh) {
          auto k = f.ledger().LoadClockState();
          EXPECT_TRUE(k.ok());
          if (k.ok()) kept = *k;
        }
        for (;;) {
          auto booked = clock->CloseDue();
          EXPECT_TRUE(booked.ok()) << booked.status().ToString();
          if (!booked.ok() || *booked == 0) break;
        }
        if (fresh) {
          const ClockStats s = clock->stats();
          const int64_t month = pricebook::MonthStart(*before);
          if (kept && (kept->month == month || kept->through == month)) {
            EXPECT_TRUE(s.state_restored) << "seed " << seed << " restart at " << *before;
            EXPECT_EQ(s.month_rescans, 0u) << "seed " << seed << " restart at " << *before;
            restored += s.state_restored ? 1 : 0;
            replayed += s.hours_replayed;
          }
          fresh = false;
        }
        if (keep) {
          auto k = clock->KeepState();
          EXPECT_TRUE(k.ok()) << k.status().ToString();
        }
        if (restarts && restart) {
          clock.reset();
          f.Reopen();
          rater = make_rater();
          rater->SetClosedBefore(closed);
          clock = std::make_unique<BillingClock>(&f.ledger(), rater.get(), o);
          fresh = true;
        }
      }
      EXPECT_EQ(*f.ledger().NextHour(), end);
      return ClockEntries(f);
    };
    const ClockRows uninterrupted = run(false);
    const ClockRows restarted = run(true);
    ASSERT_FALSE(uninterrupted.empty());
    ASSERT_EQ(restarted.size(), uninterrupted.size()) << "seed " << seed;
    for (size_t i = 0; i < restarted.size(); ++i) {
      ASSERT_EQ(restarted[i], uninterrupted[i]) << "seed " << seed << " entry " << i;
    }
  }
  EXPECT_GT(restored, 4);
  EXPECT_GT(replayed, 0u);  // some restarts added hours booked after the state was kept
}

// A kept state is not trusted when usage was revised since it was kept (the durable mark moved)
// nor when the catalog changed (another price book): the restart re-rates the month, and books
// what that finds.
TEST(MonthToDateClock, KeptStateOfOtherRevisionsOrCatalogIsRebuilt) {
  std::mt19937_64 rng(12345);
  World w = RandomWorld(rng);
  meterd::testing::TempDir dir;
  auto rater = std::make_unique<EngineRater>(rt::Engine(w.tenancy, w.book, w.series, w.subs),
                                             rt::ViewOf(dir.path(), w.rows));
  LedgerFixture f(dir.path());
  ClockOptions o;
  o.start = kNov;
  o.max_hours_per_call = 1000;
  auto clock = std::make_unique<BillingClock>(&f.ledger(), rater.get(), o);
  rater->SetClosedBefore(kNov + 400 * kH);
  ASSERT_TRUE(clock->CloseDue().ok());
  auto kept_now = clock->KeepState();
  ASSERT_TRUE(kept_now.ok() && *kept_now);
  EXPECT_FALSE(*clock->KeepState());  // unchanged since
  EXPECT_EQ(clock->stats().states_saved, 1u);
  EXPECT_GT(clock->stats().state_bytes, 0u);
  auto kept = f.ledger().LoadClockState();
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->through, kNov + 400 * kH);
  {
    rating::MonthToDate check;
    ASSERT_TRUE(rater->RestoreMonthToDate((*kept)->data, &check).ok());
    EXPECT_GT(check.lines(), 0u);  // the world has usage by then
  }
  EXPECT_EQ((*kept)->month, kNov);

  // 1. A revision of a booked hour, then a restart: the kept state is discarded.
  RollupRow r = rt::StateRow(w.series[0].id, kNov + 3 * kH, 0, 3600);
  r.col[storage::kColRevision] = 1;
  rater->Revise(r);
  clock = std::make_unique<BillingClock>(&f.ledger(), rater.get(), o);
  rater->SetClosedBefore(kNov + 410 * kH);
  ASSERT_TRUE(clock->CloseDue().ok());
  EXPECT_FALSE(clock->stats().state_restored);
  EXPECT_GE(clock->stats().month_rescans, 1u);
  ASSERT_TRUE(clock->KeepState().ok());
  auto want = rater->Whole(kNov, kNov + 410 * kH);
  for (const std::string a : {"acme", "bolt"}) {
    EXPECT_EQ(f.ledger().Billed(a, kNov), want.count(a) ? want.at(a) : 0) << a;
  }

  // 2. The same revisions, the same catalog: restored.
  clock = std::make_unique<BillingClock>(&f.ledger(), rater.get(), o);
  rater->SetClosedBefore(kNov + 411 * kH);
  ASSERT_TRUE(clock->CloseDue().ok());
  EXPECT_TRUE(clock->stats().state_restored);
  EXPECT_EQ(clock->stats().month_rescans, 0u);

  // 3. Another price book (one price changed): the fingerprint differs, the state is rebuilt.
  std::mt19937_64 rng2(12345);
  World w2 = RandomWorld(rng2);
  ASSERT_EQ(w2.rows.size(), w.rows.size());
  std::vector<pricebook::PriceBookVersion> versions = w2.book->versions();
  versions[0].products[0].unit_price += 1;
  auto book2 = pricebook::PriceBook::Build(std::move(versions));
  ASSERT_TRUE(book2.ok()) << book2.status().ToString();
  std::filesystem::create_directories(dir.path() + "/2");
  auto rater2 = std::make_unique<EngineRater>(rt::Engine(w2.tenancy, *book2, w2.series, w2.subs),
                                              rt::ViewOf(dir.path() + "/2", w2.rows));
  rater2->Revise(r);  // the same revision: the same durable mark, only the catalog differs
  clock = std::make_unique<BillingClock>(&f.ledger(), rater2.get(), o);
  rater2->SetClosedBefore(kNov + 412 * kH);
  ASSERT_TRUE(clock->CloseDue().ok());
  EXPECT_FALSE(clock->stats().state_restored);
  EXPECT_GE(clock->stats().month_rescans, 1u);
  want = rater2->Whole(kNov, kNov + 412 * kH);
  for (const std::string a : {"acme", "bolt"}) {
    EXPECT_EQ(f.ledger().Billed(a, kNov), want.count(a) ? want.at(a) : 0) << a;
  }
}

// MonthToDate bytes: a state restored from them rates the following hours exactly as the
// state it was taken from, and is refused by an engine of another catalog or when damaged.
TEST(MonthToDateState, SerializedStateRatesOnIdentically) {
  std::mt19937_64 rng(777);
  World w = RandomWorld(rng);
  meterd::testing::TempDir dir;
  auto engine = rt::Engine(w.tenancy, w.book, w.series, w.subs);
  const query::RollupView view = rt::ViewOf(dir.path(), w.rows);
  rating::MonthToDate a;
  a.Reset(kNov);
  for (int64_t h = kNov; h < kNov + 100 * kH; h += 10 * kH) {
    ASSERT_TRUE(engine->RateMonthToDate(view, h, h + 10 * kH, &a).ok());
  }
  const std::string bytes = a.Serialize();
  rating::MonthToDate b;
  ASSERT_TRUE(engine->RestoreMonthToDate(bytes, &b).ok());
  EXPECT_EQ(b.month(), kNov);
  EXPECT_EQ(b.through(), kNov + 100 * kH);
  EXPECT_EQ(b.lines(), a.lines());
  EXPECT_EQ(b.groups(), a.groups());
  EXPECT_EQ(b.Serialize(), bytes);
  for (int64_t h = kNov + 100 * kH; h < kDec; h += 7 * kH) {
    const int64_t to = std::min(kDec, h + 7 * kH);
    auto ra = engine->RateMonthToDate(view, h, to, &a);
    auto rb = engine->RateMonthToDate(view, h, to, &b);
    ASSERT_TRUE(ra.ok() && rb.ok());
    EXPECT_EQ(SumByAccount(*ra).size(), SumByAccount(*rb).size());
    for (const auto& [acct, c] : SumByAccount(*ra)) {
      EXPECT_EQ(SumByAccount(*rb)[acct].total(), c.total()) << acct << " at " << h;
    }
    EXPECT_EQ(ra->total, rb->total);
  }
  EXPECT_EQ(a.Serialize(), b.Serialize());

  // Damaged bytes: every truncation is refused, and the state is cleared.
  for (size_t n : {size_t{0}, size_t{3}, size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    rating::MonthToDate c;
    EXPECT_FALSE(engine->RestoreMonthToDate(std::string_view(bytes).substr(0, n), &c).ok()) << n;
    EXPECT_FALSE(c.valid());
  }
  // Another catalog: one resource fewer.
  tenancy::TenancyData td;
  for (const auto& a2 : w.tenancy->accounts()) td.accounts.push_back(a2);
  for (const auto& d : w.tenancy->domains()) td.domains.push_back(d);
  for (const auto& p : w.tenancy->projects()) td.projects.push_back(p);
  for (const auto& p : w.tenancy->plans()) td.plans.push_back(p);
  for (const auto& g : w.tenancy->plan_groups()) td.plan_groups.push_back(g);
  for (const auto& l : w.tenancy->locations()) td.locations.push_back(l);
  for (size_t i = 0; i + 1 < w.tenancy->resources().size(); ++i) {
    td.resources.push_back(w.tenancy->resources()[i]);
  }
  auto other = rt::Engine(rt::BuildTenancy(td), w.book, w.series, w.subs);
  rating::MonthToDate d;
  Status s = other->RestoreMonthToDate(bytes, &d);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_FALSE(d.valid());
}

}  // namespace month_to_date_clock_test
}  // namespace meterd::engine::billing
