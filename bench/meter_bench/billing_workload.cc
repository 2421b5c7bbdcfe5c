// meterd — bench/meter_bench/billing_workload.cc
#include "bench/meter_bench/billing_workload.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <utility>

#include "bench/meter_bench/bench_stats.h"
#include "bench/meter_bench/catalog_apply.h"
#include "bench/meter_bench/rate_month.h"
#include "bench/meter_bench/server_process.h"
#include "engine/billing/account_charges.h"
#include "engine/billing/billing_clock.h"
#include "engine/billing/usage_rater.h"
#include "engine/events/event_log.h"
#include "engine/ledger/ledger.h"
#include "engine/pricebook/money.h"
#include "engine/pricebook/pricing.h"
#include "engine/rating/rating_engine.h"
#include "engine/tenancy/billing_db.h"
#include "engine/tenancy/tenancy.h"
#include "net/client/client.h"
#include "net/protocol/messages.h"
#include "storage/base/calendar.h"
#include "storage/io/file.h"

namespace meterd::bench {
namespace {

namespace billing = engine::billing;
namespace ledger = engine::ledger;
namespace pb = engine::pricebook;
namespace rating = engine::rating;
namespace tn = engine::tenancy;
using Clock = std::chrono::steady_clock;
using pb::MicroCredits;
using rate::RateMonth;

constexpr size_t kDomainCount = 5;
// Written into <dir>/clock once its month is sealed; --reuse keeps a directory that says the same.
constexpr const char* kClockSetupFile = "meter-bench-billing.json";

Spread SpreadOf(std::vector<double> v) {
  Spread s;
  std::sort(v.begin(), v.end());
  s.n = v.size();
  if (v.empty()) return s;
  s.median = Median(v);
  s.p99 = Quantile(v, 0.99);
  s.min = v.front();
  s.max = v.back();
  return s;
}

// A seeded permutation of 0..n-1.
Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status::IOError("cannot create " + path + ": " + ec.message());
  return Status::OK();
}

// Removes a SQLite database with its WAL and shared-memory files.
void RemoveDb(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

// Copies a closed SQLite database (and its WAL, if one was left) to `to`, synced: the first
// commit timed on the copy must not pay for writing the whole copied file back.
Status CopyDb(const std::string& from, const std::string& to) {
  RemoveDb(to);
  for (const char* suffix : {"", "-wal"}) {
    const std::string src = from + suffix;
    if (!storage::FileExists(src)) continue;
    std::error_code ec;
    std::filesystem::copy_file(src, to + suffix, std::filesystem::copy_options::overwrite_existing,
                               ec);
    if (ec) return Status::IOError("cannot copy " + src + ": " + ec.message());
    const int fd = ::open((to + suffix).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open " + to + suffix, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return Status::FromErrno("fsync " + to + suffix, err);
  }
  return storage::SyncDir(std::filesystem::path(to).parent_path().string());
}

uint64_t DbBytes(const std::string& path) {
  uint64_t total = 0;
  for (const char* suffix : {"", "-wal"}) {
    if (auto s = storage::FileSize(path + suffix); s.ok()) total += s.value();
  }
  return total;
}

// Bytes this process has written (write/pwrite calls, /proc/self/io wchar): SQLite's WAL
// frames and checkpoints.
uint64_t WrittenBytes() {
  std::ifstream in("/proc/self/io");
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "wchar:") return value;
  }
  return 0;
}

// "acct-000042": six digits, so 100,000 accounts sort as they are numbered.
std::string BillingAccountId(size_t a) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "acct-%06zu", a);
  return buf;
}
std::string BillingDomainId(size_t d) { return "dom-" + std::to_string(d); }

// `accounts` accounts in kDomainCount top-level domains, nothing else.
Result<std::shared_ptr<const tn::Tenancy>> AccountsTenancy(size_t accounts) {
  tn::TenancyData d;
  for (size_t i = 0; i < kDomainCount; ++i) {
    d.domains.push_back({BillingDomainId(i), "Domain " + std::to_string(i), ""});
  }
  d.accounts.reserve(accounts);
  for (size_t a = 0; a < accounts; ++a) {
    tn::Account acct;
    acct.id = BillingAccountId(a);
    acct.domain = BillingDomainId(a % kDomainCount);
    acct.name = "Account " + std::to_string(a);
    d.accounts.push_back(std::move(acct));
  }
  return tn::Tenancy::Build(std::move(d));
}

// Micro-credits as the decimal text PostEntry takes ("1234.000567").
std::string CreditsText(MicroCredits micro) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%lld.%06lld",
                static_cast<long long>(micro / pb::kMicrosPerCredit),
                static_cast<long long>(micro % pb::kMicrosPerCredit));
  return buf;
}

// A top-up between 100 and 10,000 credits, to the micro-credit.
MicroCredits RandomTopUp(std::mt19937_64& rng) {
  return pb::kMicrosPerCredit * static_cast<MicroCredits>(100 + rng() % 9900) +
         static_cast<MicroCredits>(rng() % pb::kMicrosPerCredit);
}

// billing.db with its event log and ledger, closed and reopened as a server restart would.
class LedgerHandle {
 public:
  ~LedgerHandle() { Close(); }
  Status Open(const std::string& path, std::shared_ptr<const tn::Tenancy> tenancy) {
    Close();
    METERD_ASSIGN_OR_RETURN(db_, tn::BillingDb::Open(path));
    METERD_ASSIGN_OR_RETURN(events_, engine::events::EventLog::Open(db_.get()));
    return OpenLedger(std::move(tenancy));
  }
  // The ledger alone, on the open database (its balances loaded again).
  Status OpenLedger(std::shared_ptr<const tn::Tenancy> tenancy) {
    ledger_.reset();
    METERD_ASSIGN_OR_RETURN(
        ledger_, ledger::Ledger::Open(db_.get(), events_.get(), [tenancy] { return tenancy; }));
    return Status::OK();
  }
  void CloseLedger() { ledger_.reset(); }
  void Close() {
    ledger_.reset();
    events_.reset();
    db_.reset();
  }
  ledger::Ledger* ledger() { return ledger_.get(); }
  tn::BillingDb* db() { return db_.get(); }

 private:
  std::unique_ptr<tn::BillingDb> db_;
  std::unique_ptr<engine::events::EventLog> events_;
  std::unique_ptr<ledger::Ledger> ledger_;
};

ledger::ManualEntry TopUpEntry(const std::string& account, MicroCredits amount) {
  ledger::ManualEntry m;
  m.account = account;
  m.kind = ledger::EntryKind::kTopUp;
  m.amount = amount;
  m.reference = "bench-topup-" + account;
  m.actor = "meter-bench";
  return m;
}

// Records the first failed check; returns `ok`.
bool Expect(bool ok, const std::string& what, bool* check, std::string* detail) {
  if (!ok) {
    if (detail->empty()) *detail = what;
    *check = false;
  }
  return ok;
}

}  // namespace

// ---- book ----------------------------------------------------------------------------------

// Seeds the top-ups of accounts [first, ids.size()) in one transaction of the rows Ledger::Post
// writes (no threshold moves for a positive balance). REQUIRES: the ledger is closed.
Status SeedTopUps(tn::BillingDb* db, const std::vector<std::string>& ids,
                  const std::vector<MicroCredits>& topup, size_t first, int64_t at) {
  METERD_ASSIGN_OR_RETURN(tn::Transaction txn, db->Begin());
  METERD_ASSIGN_OR_RETURN(tn::Statement st, txn.Prepare(R"sql(
    INSERT INTO ledger_entries (account, kind, amount, at, reference, currency,
      currency_amount, actor, reason, created_at)
    VALUES (?1, 'topup', ?2, ?3, ?4, '', '', 'meter-bench', '', ?3))sql"));
  for (size_t a = first; a < ids.size(); ++a) {
    st.Bind(1, ids[a]).Bind(2, topup[a]).Bind(3, at).Bind(4, "bench-topup-" + ids[a]);
    METERD_RETURN_IF_ERROR(st.Run());
    METERD_RETURN_IF_ERROR(st.Reset());
  }
  // The rows Ledger::Post would write (docs/ledger.md): each account with an entry is listed in
  // ledger_accounts too, or a reopened ledger would not see it.
  METERD_RETURN_IF_ERROR(txn.Exec(R"sql(
    INSERT OR IGNORE INTO ledger_accounts (account, first_entry)
    SELECT account, MIN(id) FROM ledger_entries GROUP BY account)sql"));
  return txn.Commit();
}

Status RunBookPhase(const BillingWorkloadOptions& o, BookPhaseResult* r) {
  if (o.accounts == 0 || o.runs < 1 || o.hours == 0) {
    return Status::InvalidArgument("billing book: --accounts, --runs and --hours must be positive");
  }
  METERD_ASSIGN_OR_RETURN(const int64_t first_hour, rate::ParseMonth(o.month));
  const std::string dir = o.dir + "/book";
  const std::string db_path = dir + "/billing.db";
  METERD_ASSIGN_OR_RETURN(auto tenancy, AccountsTenancy(o.accounts));
  const size_t n = o.accounts;
  r->accounts = n;
  r->hours_per_run = o.hours;
  std::vector<std::string> ids(n);
  for (size_t a = 0; a < n; ++a) ids[a] = BillingAccountId(a);
  std::mt19937_64 rng(o.seed);
  std::vector<MicroCredits> topup(n);
  for (MicroCredits& t : topup) t = RandomTopUp(rng);
  r->check = true;
  auto expect = [&](bool ok, const std::string& what) {
    return Expect(ok, what, &r->check, &r->check_detail);
  };
  const int64_t posted_at = first_hour - base::kSecondsPerHour;
  r->posted = o.post_topups == 0 ? n : std::min(o.post_topups, n);
  ledger::HourBooking booking;
  booking.charges.resize(n);
  for (size_t a = 0; a < n; ++a) booking.charges[a].account = ids[a];

  // Each run on a fresh billing.db, so that the runs are alike and their medians comparable.
  for (int run = 0; run < o.runs; ++run) {
    METERD_RETURN_IF_ERROR(storage::RemoveTree(dir));
    METERD_RETURN_IF_ERROR(MakeDirs(dir));
    LedgerHandle h;
    METERD_RETURN_IF_ERROR(h.Open(db_path, tenancy));

    // 1. Top-ups. The first run posts `posted` of them through Ledger::Post (a synced
    //    transaction each, timed); the rest, and every top-up of later runs, are seeded in one
    //    transaction of the rows Post writes (no threshold moves for a positive balance).
    const size_t posted = run == 0 ? r->posted : 0;
    if (o.progress && posted > 0) {
      std::fprintf(stderr, "  book: %zu top-ups through Ledger::Post\n", posted);
    }
    std::vector<double> post_ms;
    const auto t_posts = Clock::now();
    for (size_t a = 0; a < posted; ++a) {
      const auto t = Clock::now();
      METERD_ASSIGN_OR_RETURN(ledger::PostResult p,
                              h.ledger()->Post(TopUpEntry(ids[a], topup[a]), posted_at));
      post_ms.push_back(MsSince(t));
      if (p.duplicate || p.balance.balance != topup[a]) {
        expect(false, "top-up of " + ids[a] + ": balance " + std::to_string(p.balance.balance));
      }
    }
    if (posted > 0) {
      r->post_per_s = static_cast<double>(posted) / (MsSince(t_posts) / 1e3);
      r->post_ms = SpreadOf(std::move(post_ms));
    }
    h.CloseLedger();
    if (posted < n) {
      const auto t = Clock::now();
      METERD_RETURN_IF_ERROR(SeedTopUps(h.db(), ids, topup, posted, posted_at));
      if (run == 0) {
        r->seeded = n - posted;
        r->seed_ms = MsSince(t);
      }
    }
    {
      const auto t = Clock::now();
      METERD_RETURN_IF_ERROR(h.OpenLedger(tenancy));
      if (run == 0) r->open_ms = MsSince(t);
    }
    for (size_t a = 0; a < n && r->check; ++a) {
      auto b = h.ledger()->Balance(ids[a]);
      expect(b.ok() && b->balance == topup[a], "after the top-ups, " + ids[a] + " has balance " +
                                                   (b.ok() ? std::to_string(b->balance) : "?") +
                                                   ", expected " + std::to_string(topup[a]));
    }

    // 2. BookHour: `hours` consecutive hours, one usage charge per account each.
    std::map<int64_t, std::vector<MicroCredits>> billed;  // month -> per account
    std::vector<MicroCredits> charged(n, 0);
    std::vector<double> ms, written;
    for (size_t i = 0; i < o.hours; ++i) {
      const int64_t hour = first_hour + static_cast<int64_t>(i) * base::kSecondsPerHour;
      const int64_t month = pb::MonthStart(hour);
      std::vector<MicroCredits>& month_billed = billed[month];
      month_billed.resize(n, 0);
      booking.hour = hour;
      booking.now = hour + base::kSecondsPerHour + 600;  // closed after the grace period
      for (size_t a = 0; a < n; ++a) {
        ledger::HourCharge& c = booking.charges[a];
        c.month = month;
        c.usage = 1 + static_cast<MicroCredits>(rng() % 2'000'000);  // up to 2 credits
        month_billed[a] += c.usage;
        charged[a] += c.usage;
      }
      const uint64_t written0 = WrittenBytes();
      const auto t = Clock::now();
      METERD_ASSIGN_OR_RETURN(const ledger::BookReport rep, h.ledger()->BookHour(booking));
      ms.push_back(MsSince(t));
      written.push_back(static_cast<double>(WrittenBytes() - written0) / 1e6);
      expect(rep.accounts == n && rep.entries == n,
             "hour " + std::to_string(hour) + ": " + std::to_string(rep.entries) + " entries for " +
                 std::to_string(rep.accounts) + " accounts, expected " + std::to_string(n));
      if (o.progress) {
        std::fprintf(stderr, "\r  book: run %d of %d, hour %zu of %zu: %.0f ms   ", run + 1, o.runs,
                     i + 1, o.hours, ms.back());
      }
    }
    if (o.progress) std::fprintf(stderr, "\n");
    r->run_median_ms.push_back(Median(ms));
    r->run_max_ms.push_back(*std::max_element(ms.begin(), ms.end()));
    r->run_first_ms.push_back(ms.front());
    r->run_last_ms.push_back(ms.back());
    r->run_written_mb.push_back(Median(written));
    r->hour_ms.push_back(std::move(ms));

    // 3. Check: each balance is its top-up minus what was booked, in memory, in billing.db's
    //    month totals, and after a reopen (balances rebuilt from the tables).
    for (const ledger::AccountBalance& b : h.ledger()->Balances()) {
      const size_t a = static_cast<size_t>(std::strtoull(b.account.c_str() + 5, nullptr, 10));
      if (!expect(a < n && b.balance == topup[a] - charged[a],
                  "in memory, " + b.account + " has balance " + std::to_string(b.balance) +
                      ", expected " + std::to_string(topup[a] - charged[a]))) {
        break;
      }
    }
    expect(h.ledger()->Balances().size() == n, "not every account has a balance");
    for (const auto& [month, per_account] : billed) {
      METERD_ASSIGN_OR_RETURN(auto db_billed, h.ledger()->BilledByAccount(month));
      expect(db_billed.size() == n, "billing.db has the month's charges of " +
                                        std::to_string(db_billed.size()) + " accounts, expected " +
                                        std::to_string(n));
      for (size_t a = 0; a < n; ++a) {
        auto it = db_billed.find(ids[a]);
        const MicroCredits got = it == db_billed.end() ? 0 : it->second;
        if (!expect(got == per_account[a] && h.ledger()->Billed(ids[a], month) == per_account[a],
                    ids[a] + ": billed " + std::to_string(got) + " for month " +
                        std::to_string(month) + ", booked " + std::to_string(per_account[a]))) {
          break;
        }
      }
    }
    {
      const auto t = Clock::now();
      METERD_RETURN_IF_ERROR(h.OpenLedger(tenancy));
      r->reopen_ms = MsSince(t);
    }
    for (size_t a = 0; a < n; ++a) {
      auto b = h.ledger()->Balance(ids[a]);
      if (!expect(b.ok() && b->balance == topup[a] - charged[a],
                  "after reopening, " + ids[a] + " has balance " +
                      (b.ok() ? std::to_string(b->balance) : "?") + ", expected " +
                      std::to_string(topup[a] - charged[a]))) {
        break;
      }
    }
    h.Close();
    r->db_bytes = DbBytes(db_path);
  }
  r->median_ms = Median(r->run_median_ms);
  r->max_ms = *std::max_element(r->run_max_ms.begin(), r->run_max_ms.end());
  r->entries_per_hour = n;
  r->entries_per_s = static_cast<double>(n) / (r->median_ms / 1e3);
  return Status::OK();
}

// ---- clock ---------------------------------------------------------------------------------

namespace {

// The clock's rater over the in-process rating engine and the data directory's sealed rollups,
// as the server's (engine/service/meter_service_billing.cc, MeterService::Rate): each window
// rated with group_by account, line amounts summed per account, subscription lines as fees.
// Hours before `closed_before` are closed; nothing is ever revised.
class BenchRater final : public billing::UsageRater {
 public:
  BenchRater(const rating::RatingEngine* engine, const query::RollupView* view, bool month_to_date)
      : engine_(engine), view_(view), month_to_date_(month_to_date) {}

  Result<billing::ChargesByAccount> Rate(int64_t from, int64_t to,
                                         std::string_view account) override {
    billing::ChargesByAccount out;
    if (from >= to) return out;
    const double cpu0 = ProcessCpuMs();
    const auto t0 = Clock::now();
    Result<rating::RatingResult> rated =
        engine_->Rate(*view_, billing::AccountsRequest(from, to, account));
    wall_ms_ += MsSince(t0);
    cpu_ms_ += ProcessCpuMs() - cpu0;
    METERD_ASSIGN_OR_RETURN(rating::RatingResult res, std::move(rated));
    if (!res.stats.damaged.empty()) {
      return Status::Corruption("damaged rollup block: " + res.stats.damaged[0]);
    }
    return billing::SumByAccount(res);
  }
  Result<billing::ChargesByAccount> RateMonthToDate(int64_t from, int64_t to,
                                                    rating::MonthToDate* state) override {
    if (!month_to_date_) return UsageRater::RateMonthToDate(from, to, state);
    const double cpu0 = ProcessCpuMs();
    const auto t0 = Clock::now();
    Result<rating::RatingResult> rated = engine_->RateMonthToDate(*view_, from, to, state);
    wall_ms_ += MsSince(t0);
    cpu_ms_ += ProcessCpuMs() - cpu0;
    METERD_ASSIGN_OR_RETURN(rating::RatingResult res, std::move(rated));
    phase_ms_[0] += res.stats.plan_ms;
    phase_ms_[1] += res.stats.scan_ms;
    phase_ms_[2] += res.stats.price_ms;
    if (!res.stats.damaged.empty()) {
      state->Clear();
      return Status::Corruption("damaged rollup block: " + res.stats.damaged[0]);
    }
    return billing::SumByAccount(res);
  }
  Status RestoreMonthToDate(std::string_view bytes, rating::MonthToDate* state) override {
    if (!month_to_date_) return UsageRater::RestoreMonthToDate(bytes, state);
    const double cpu0 = ProcessCpuMs();
    const auto t0 = Clock::now();
    Status s = engine_->RestoreMonthToDate(bytes, state);
    wall_ms_ += MsSince(t0);
    cpu_ms_ += ProcessCpuMs() - cpu0;
    return s;
  }
  int64_t ClosedBefore() override { return closed_before_.load(); }
  uint64_t RevisionMark() override { return 0; }
  // Nothing is ever revised, before or after a restart.
  std::optional<std::string> DurableRevisionMark() override { return std::string("0"); }
  void set_closed_before(int64_t t) { closed_before_.store(t); }
  // Wall time and process CPU time (every rating thread) spent rating since the last call, ms.
  double TakeWallMs() { return std::exchange(wall_ms_, 0.0); }
  double TakeCpuMs() { return std::exchange(cpu_ms_, 0.0); }
  // The month-to-date ratings' plan, scan and price ms since the last call.
  std::array<double, 3> TakePhaseMs() { return std::exchange(phase_ms_, {0, 0, 0}); }

 private:
  const rating::RatingEngine* engine_;
  const query::RollupView* view_;
  const bool month_to_date_;  // false: RateMonthToDate is NotSupported (every hour re-rated)
  std::atomic<int64_t> closed_before_{0};
  double wall_ms_ = 0, cpu_ms_ = 0;  // the clock calls Rate from one thread at a time
  std::array<double, 3> phase_ms_{0, 0, 0};
};

std::string ClockSetupText(const BillingWorkloadOptions& o) {
  return "{\"workload\":\"billing-clock\",\"vms\":" + std::to_string(o.vms) +
         ",\"seed\":" + std::to_string(o.seed) + ",\"month\":\"" + o.month +
         "\",\"days\":" + std::to_string(o.days) + ",\"hours\":" + std::to_string(o.clock_hours) +
         ",\"accounts\":" + std::to_string(o.clock_accounts) + "}\n";
}

// This process's resident set now (/proc/self/statm), bytes.
uint64_t SelfRssBytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// This process's peak resident set (getrusage), bytes.
uint64_t SelfPeakRssBytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

bool ClockSetupMatches(const std::string& dir, const BillingWorkloadOptions& o) {
  std::ifstream in(dir + "/" + kClockSetupFile);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  return text.str() == ClockSetupText(o);
}

// Silences the clock's info line per booked hour (stdout) while a phase runs.
class QuietLog {
 public:
  QuietLog() : level_(spdlog::get_level()) { spdlog::set_level(spdlog::level::warn); }
  ~QuietLog() { spdlog::set_level(level_); }

 private:
  spdlog::level::level_enum level_;
};

}  // namespace

Status RunClockPhase(const BillingWorkloadOptions& o, ClockPhaseResult* r) {
  if (o.vms == 0 || o.runs < 1 || o.threads < 1) {
    return Status::InvalidArgument("billing clock: --vms, --runs and --threads must be positive");
  }
  METERD_ASSIGN_OR_RETURN(const int64_t month_start, rate::ParseMonth(o.month));
  rate::RateMonthOptions mo;
  mo.vms = o.vms;
  mo.seed = o.seed;
  mo.month_start = month_start;
  mo.accounts = o.clock_accounts;
  mo.hours = o.clock_hours != 0 ? o.clock_hours : o.days * 24;  // 0: the whole month
  if (o.clock_accounts > o.vms) {
    return Status::InvalidArgument("billing clock: --clock-accounts must not exceed --vms");
  }
  RateMonth month(mo);
  // --days, --clock-hours: the clock runs through the month's first hours only (sealed as hour
  // parts).
  const size_t hours = o.clock_hours != 0 ? std::min(month.hours(), o.clock_hours)
                       : o.days == 0      ? month.hours()
                                     : std::min(month.hours(), static_cast<size_t>(o.days) * 24);
  const bool whole_month = hours == month.hours();
  const int64_t period_end = month_start + static_cast<int64_t>(hours) * base::kSecondsPerHour;
  r->vms = o.vms;
  r->accounts = month.accounts();
  r->hours = hours;
  r->rows = 0;
  METERD_ASSIGN_OR_RETURN(auto tenancy, month.BuildTenancy());
  METERD_ASSIGN_OR_RETURN(auto book, RateMonth::BuildPriceBook(month_start));
  const std::string dir = o.dir + "/clock";
  const std::string db_path = dir + "/billing.db";

  // 1. The month's rollups, sealed and merged by the real rollup store (or kept, --reuse).
  r->reused = o.reuse && ClockSetupMatches(dir, o);
  if (r->reused) {
    if (o.progress)
      std::fprintf(stderr, "  clock: reusing %s; regenerating the month\n", dir.c_str());
    const auto t = Clock::now();
    std::vector<storage::RollupRow> rows;
    for (size_t hr = 0; hr < hours; ++hr) {
      month.NextHour(&rows);
      r->rows += rows.size();
    }
    r->generate_seconds = MsSince(t) / 1e3;
  } else {
    METERD_RETURN_IF_ERROR(storage::RemoveTree(dir));
    METERD_RETURN_IF_ERROR(MakeDirs(dir));
    METERD_ASSIGN_OR_RETURN(const rate::SealedMonth sealed,
                            rate::SealMonth(&month, dir, nullptr, o.progress, hours));
    r->rows = sealed.rows;
    r->generate_seconds = sealed.generate_seconds;
    r->merge_seconds = sealed.merge_seconds;
    METERD_RETURN_IF_ERROR(
        storage::WriteFileAtomic(dir + "/" + kClockSetupFile, ClockSetupText(o)));
  }
  RemoveDb(db_path);
  METERD_ASSIGN_OR_RETURN(const rate::ExpectedCharges expected, month.Expected(*book));

  // 2. The rating engine over the sealed files, and the rater the clock calls.
  auto t = Clock::now();
  std::vector<std::string> damage;
  METERD_ASSIGN_OR_RETURN(const query::RollupView view, rating::OpenRollupView(dir, &damage));
  r->open_ms = MsSince(t);
  if (!damage.empty())
    return Status::Corruption("billing clock: damaged rollup file: " + damage[0]);
  rating::RatingOptions ro;
  ro.threads = o.threads;
  t = Clock::now();
  METERD_ASSIGN_OR_RETURN(
      auto engine,
      rating::RatingEngine::Create(rating::RatingCatalog{tenancy, book, {}}, month.Series(), ro));
  r->create_ms = MsSince(t);
  BenchRater rater(engine.get(), &view, o.month_to_date);
  QuietLog quiet;

  // 3. A top-up per account (twice its month's charges plus 1,000 credits: no account runs
  //    low), then the clock hour by hour through the month.
  //    The first kPostedTopUps through Ledger::Post, the rest seeded in one transaction.
  const size_t accounts = month.accounts();
  std::vector<MicroCredits> topup(accounts);
  std::vector<std::string> account_ids(accounts);
  LedgerHandle h;
  METERD_RETURN_IF_ERROR(h.Open(db_path, tenancy));
  t = Clock::now();
  constexpr size_t kPostedTopUps = 2500;  // a synced transaction each: ~5 ms
  for (size_t a = 0; a < accounts; ++a) {
    account_ids[a] = RateMonth::AccountId(a);
    topup[a] = 2 * expected.account_total[a] + 1000 * pb::kMicrosPerCredit;
    if (a < kPostedTopUps) {
      METERD_RETURN_IF_ERROR(
          h.ledger()
              ->Post(TopUpEntry(account_ids[a], topup[a]), month_start - base::kSecondsPerHour)
              .status());
    }
  }
  if (accounts > kPostedTopUps) {
    h.CloseLedger();
    METERD_RETURN_IF_ERROR(
        SeedTopUps(h.db(), account_ids, topup, kPostedTopUps, month_start - base::kSecondsPerHour));
    METERD_RETURN_IF_ERROR(h.OpenLedger(tenancy));
  }
  r->topup_ms = MsSince(t);

  billing::ClockOptions co;
  co.start = month_start;
  co.max_hours_per_call = 1;
  co.keep_state = o.keep_state;
  const int64_t wall = month.month_end() + 86400;
  co.now = [wall] { return wall; };
  const size_t days = hours / 24;
  r->timed.resize(3);
  r->timed[0].label = "day 1, 00:00";
  r->timed[0].index = 0;
  // The middle hour: day 15, 12:00 of a whole month.
  r->timed[1].index = whole_month ? 14 * 24 + 12 : hours / 2;
  r->timed[1].label = "day " + std::to_string(r->timed[1].index / 24 + 1) + ", " +
                      (r->timed[1].index % 24 < 10 ? "0" : "") +
                      std::to_string(r->timed[1].index % 24) + ":00";
  r->timed[2].label = "day " + std::to_string((hours - 1) / 24 + 1) + ", " +
                      ((hours - 1) % 24 < 10 ? "0" : "") + std::to_string((hours - 1) % 24) + ":00";
  r->timed[2].index = hours - 1;
  auto snapshot_of = [&](size_t i) { return dir + "/billing-before-" + std::to_string(i) + ".db"; };

  auto clock = std::make_unique<billing::BillingClock>(h.ledger(), &rater, co);
  r->hour_ms.resize(hours);
  r->rate_ms.resize(hours);
  r->plan_ms.resize(hours);
  r->scan_ms.resize(hours);
  r->price_ms.resize(hours);
  r->rss_before_clock = SelfRssBytes();
  r->book_cpu_ms.resize(hours);
  r->written_mb.resize(hours);
  const auto t_month = Clock::now();
  for (size_t k = 0; k < hours; ++k) {
    const int64_t hour = month_start + static_cast<int64_t>(k) * base::kSecondsPerHour;
    for (size_t i = 0; i < r->timed.size(); ++i) {
      // A copy of billing.db (and its WAL) as it is before this hour, for the re-timed runs.
      // Taken while the ledger stays open: no transaction runs between two CloseDue calls, and
      // this pass goes on undisturbed (a reopen would make the next commit create a new WAL).
      if (r->timed[i].index == k) METERD_RETURN_IF_ERROR(CopyDb(db_path, snapshot_of(i)));
    }
    rater.set_closed_before(hour + base::kSecondsPerHour);
    rater.TakeWallMs();
    rater.TakeCpuMs();
    rater.TakePhaseMs();
    const uint64_t written0 = WrittenBytes();
    const double cpu0 = ProcessCpuMs();
    const auto th = Clock::now();
    METERD_ASSIGN_OR_RETURN(const int booked, clock->CloseDue());
    r->hour_ms[k] = MsSince(th);
    r->book_cpu_ms[k] = ProcessCpuMs() - cpu0 - rater.TakeCpuMs();
    r->written_mb[k] = static_cast<double>(WrittenBytes() - written0) / 1e6;
    if (booked != 1) {
      return Status::InvalidArgument("billing clock: CloseDue booked " + std::to_string(booked) +
                                     " hours at hour " + std::to_string(k) + ", expected 1");
    }
    r->rate_ms[k] = rater.TakeWallMs();
    const std::array<double, 3> phases = rater.TakePhaseMs();
    r->plan_ms[k] = phases[0];
    r->scan_ms[k] = phases[1];
    r->price_ms[k] = phases[2];
    // The state kept after the hour, as the clock's thread does: not part of closing it.
    const auto tk = Clock::now();
    METERD_RETURN_IF_ERROR(clock->KeepState().status());
    r->keep_ms.push_back(MsSince(tk));
    if (o.progress && (k + 1) % 24 == 0) {
      std::fprintf(stderr, "\r  clock: day %zu of %zu booked (%.1f s; this hour %.0f ms)   ",
                   (k + 1) / 24, days, MsSince(t_month) / 1e3, r->hour_ms[k]);
    }
  }
  if (o.progress) std::fprintf(stderr, "\n");
  r->entries += clock->stats().entries;
  r->state_bytes = clock->stats().state_bytes;
  clock.reset();
  r->month_seconds = std::accumulate(r->hour_ms.begin(), r->hour_ms.end(), 0.0) / 1e3;
  for (ClockPhaseResult::TimedHour& th : r->timed) {
    th.ms.push_back(r->hour_ms[th.index]);
    th.rate_ms.push_back(r->rate_ms[th.index]);
    th.book_cpu_ms.push_back(r->book_cpu_ms[th.index]);
  }

  // 4. Check: each account's debits for the month (billing.db and the ledger's memory) add up
  //    exactly to the month rated at once, which is the generator's answer; balances follow.
  if (o.progress) std::fprintf(stderr, "  clock: checking the month's debits\n");
  r->check = true;
  auto expect = [&](bool ok, const std::string& what) {
    return Expect(ok, what, &r->check, &r->check_detail);
  };
  rating::RatingRequest req;
  req.from = month_start;
  req.to = period_end;
  req.group_by = rating::GroupBy::kAccount;
  METERD_ASSIGN_OR_RETURN(const rating::RatingResult whole, engine->Rate(view, req));
  std::unordered_map<std::string, MicroCredits> rated;
  for (const rating::ChargeLine& l : whole.lines) rated[std::string(l.account)] += l.amount;
  METERD_ASSIGN_OR_RETURN(auto db_billed, h.ledger()->BilledByAccount(month_start));
  expect(whole.unattributed.empty() && whole.unpriced.empty() && !whole.provisional,
         "the month's rating has unattributed, unpriced or provisional usage");
  expect(db_billed.size() <= accounts, "billing.db bills unknown accounts");
  r->month_total = whole.total;
  for (size_t a = 0; a < accounts; ++a) {
    const std::string id = RateMonth::AccountId(a);
    const MicroCredits want = rated.count(id) ? rated[id] : 0;
    const MicroCredits got = db_billed.count(id) ? db_billed[id] : 0;
    r->billed_total += got;
    ++r->accounts_checked;
    expect(got == want, id + ": debited " + std::to_string(got) +
                            " micro-credits for the month in billing.db, rated " +
                            std::to_string(want) + " (difference " + std::to_string(got - want) +
                            ")");
    expect(h.ledger()->Billed(id, month_start) == want,
           id + ": the ledger's memory says billed " +
               std::to_string(h.ledger()->Billed(id, month_start)) + ", rated " +
               std::to_string(want));
    expect(!whole_month || want == expected.account_total[a],
           id + ": rated " + std::to_string(want) + ", the generator's answer is " +
               std::to_string(expected.account_total[a]));
    auto b = h.ledger()->Balance(id);
    expect(b.ok() && b->balance == topup[a] - want,
           id + ": balance " + (b.ok() ? std::to_string(b->balance) : "?") + ", expected " +
               std::to_string(topup[a] - want));
  }
  h.Close();

  // 5. The timed hours again (runs - 1 times), each on a copy of billing.db taken before it.
  const std::string rerun_path = dir + "/billing-rerun.db";
  for (int run = 1; run < o.runs; ++run) {
    for (size_t i = 0; i < r->timed.size(); ++i) {
      ClockPhaseResult::TimedHour& th = r->timed[i];
      if (o.progress) {
        std::fprintf(stderr, "\r  clock: run %d of %d, %s   ", run + 1, o.runs, th.label.c_str());
      }
      METERD_RETURN_IF_ERROR(CopyDb(snapshot_of(i), rerun_path));
      LedgerHandle rh;
      METERD_RETURN_IF_ERROR(rh.Open(rerun_path, tenancy));
      // Untimed first: a read (the schema parsed, the month's index pages cached) and a
      // one-micro-credit top-up on this throw-away copy, so that the timed commit is not the
      // first after opening (which creates the WAL) but a steady-state one, like the pass above.
      METERD_RETURN_IF_ERROR(rh.ledger()->BilledByAccount(month_start).status());
      ledger::ManualEntry warm = TopUpEntry(RateMonth::AccountId(0), 1);
      warm.reference = "bench-warm-up";
      METERD_RETURN_IF_ERROR(rh.ledger()->Post(warm, wall).status());
      // A clock that has just started re-rates the month so far once (BookRevisions: late data
      // may have revised booked hours while it was down); a CloseDue with nothing due does it
      // here, timed apart, so that the hour below is booked as by a clock that keeps running.
      billing::BillingClock c(rh.ledger(), &rater, co);
      const int64_t hour = month_start + static_cast<int64_t>(th.index) * base::kSecondsPerHour;
      rater.set_closed_before(hour);
      const auto tc = Clock::now();
      METERD_ASSIGN_OR_RETURN(const int none, c.CloseDue());
      th.restart_ms.push_back(MsSince(tc));
      r->restart_rescans += c.stats().month_rescans;
      if (none != 0) {
        return Status::InvalidArgument("billing clock: a CloseDue with nothing due booked " +
                                       std::to_string(none) + " hours");
      }
      rater.set_closed_before(hour + base::kSecondsPerHour);
      rater.TakeWallMs();
      rater.TakeCpuMs();
      const double cpu0 = ProcessCpuMs();
      const auto tr = Clock::now();
      METERD_ASSIGN_OR_RETURN(const int booked, c.CloseDue());
      const double ms = MsSince(tr);
      th.book_cpu_ms.push_back(ProcessCpuMs() - cpu0 - rater.TakeCpuMs());
      if (booked != 1) {
        return Status::InvalidArgument("billing clock: a re-timed CloseDue booked " +
                                       std::to_string(booked) + " hours, expected 1");
      }
      th.ms.push_back(ms);
      th.rate_ms.push_back(rater.TakeWallMs());
    }
  }
  if (o.progress && o.runs > 1) std::fprintf(stderr, "\n");
  for (size_t i = 0; i < r->timed.size(); ++i) {
    ClockPhaseResult::TimedHour& th = r->timed[i];
    th.median_ms = Median(th.ms);
    th.median_rate_ms = Median(th.rate_ms);
    std::vector<double> book_ms;
    for (size_t j = 0; j < th.ms.size(); ++j) book_ms.push_back(th.ms[j] - th.rate_ms[j]);
    th.median_book_ms = Median(book_ms);
    th.median_book_cpu_ms = Median(th.book_cpu_ms);
    th.median_restart_ms = Median(th.restart_ms);
    RemoveDb(snapshot_of(i));
  }
  RemoveDb(rerun_path);
  r->peak_rss = SelfPeakRssBytes();
  return Status::OK();
}

// ---- balance -------------------------------------------------------------------------------

namespace {

// The catalog documents of the balance phase: the domains, then the accounts in chunks.
std::vector<std::string> AccountDocuments(size_t accounts, size_t per_document) {
  std::vector<std::string> docs;
  size_t next = 0;
  do {
    nlohmann::json doc;
    if (docs.empty()) {
      doc["schema"] = "meterd/v1";
      nlohmann::json domains = nlohmann::json::array();
      for (size_t d = 0; d < kDomainCount; ++d) {
        domains.push_back({{"id", BillingDomainId(d)}, {"name", "Domain " + std::to_string(d)}});
      }
      doc["domains"] = std::move(domains);
    }
    nlohmann::json list = nlohmann::json::array();
    const size_t end = std::min(accounts, next + std::max<size_t>(per_document, 1));
    for (; next < end; ++next) {
      list.push_back({{"id", BillingAccountId(next)},
                      {"domain", BillingDomainId(next % kDomainCount)},
                      {"name", "Account " + std::to_string(next)}});
    }
    doc["accounts"] = std::move(list);
    docs.push_back(doc.dump());
  } while (next < accounts);
  return docs;
}

net::ClientOptions AdminClient(const ServerProcess& server, const char* name) {
  net::ClientOptions co;
  co.port = server.port();
  co.api_key = server.admin_key();
  co.client_name = name;
  co.request_timeout = std::chrono::milliseconds(600000);  // applying 100k accounts
  co.reconnect_attempts = 0;
  return co;
}

// What one connection's thread saw.
struct ConnectionTally {
  std::vector<double> with_entries_ms, without_ms;
  Status status;
  bool check = true;
  std::string check_detail;
};

// Posts the top-ups of accounts[begin, end) through PostEntry, checking each reply.
void PostTopUps(net::Client* client, const std::vector<size_t>& accounts, size_t begin, size_t end,
                const std::vector<MicroCredits>& amount, ConnectionTally* tally) {
  for (size_t i = begin; i < end && tally->status.ok(); ++i) {
    const size_t a = accounts[i];
    const std::string id = BillingAccountId(a);
    flatbuffers::FlatBufferBuilder fbb(256);
    const uint64_t rid = client->NextRequestId();
    auto req = wire::CreatePostEntry(fbb, rid, fbb.CreateString(id), wire::LedgerKind::TopUp,
                                     fbb.CreateString(CreditsText(amount[a])), fbb.CreateString(""),
                                     fbb.CreateString("bench-topup-" + id), fbb.CreateString(""));
    std::vector<uint8_t> frame = net::FinishFrame(fbb, req);
    const auto t = Clock::now();
    Result<std::vector<uint8_t>> bytes = client->Call(std::move(frame), rid);
    const double ms = MsSince(t);
    if (!bytes.ok()) {
      tally->status = bytes.status();
      return;
    }
    tally->with_entries_ms.push_back(ms);
    const auto* rep = wire::GetEnvelope(bytes->data())->message_as_PostEntryReply();
    const bool ok = rep != nullptr && !rep->duplicate() && rep->balance() != nullptr &&
                    rep->balance()->balance() == amount[a];
    Expect(
        ok,
        "PostEntry top-up of " + id + " was not answered with balance " + std::to_string(amount[a]),
        &tally->check, &tally->check_detail);
  }
}

}  // namespace

Status RunBalancePhase(const BillingWorkloadOptions& o, BalancePhaseResult* r) {
  if (o.accounts == 0 || o.runs < 1 || o.connections == 0 || o.seconds <= 0) {
    return Status::InvalidArgument(
        "billing balance: --accounts, --runs, --connections and --seconds must be positive");
  }
  const size_t n = o.accounts;
  r->accounts = n;
  const std::string dir = o.dir + "/balance";
  METERD_RETURN_IF_ERROR(MakeDirs(o.dir));
  std::remove((dir + ".log").c_str());  // the server's log (ServerProcess appends)
  const std::vector<std::string> docs = AccountDocuments(n, o.accounts_per_document);

  ServerProcess server;
  server.set_start_timeout(std::chrono::seconds(120));
  if (o.progress) std::fprintf(stderr, "  balance: starting meterd on %s\n", dir.c_str());
  auto t = Clock::now();
  METERD_RETURN_IF_ERROR(server.Start(o.meterd_path, dir, o.meterd_args, /*fresh=*/true));
  r->start_seconds = MsSince(t) / 1e3;
  r->server_pid = server.pid();
  r->check = true;
  auto expect = [&](bool ok, const std::string& what) {
    return Expect(ok, what, &r->check, &r->check_detail);
  };

  Status st = [&]() -> Status {
    // 1. The catalog: the domains and every account.
    net::Client admin(AdminClient(server, "meter-bench billing"));
    METERD_RETURN_IF_ERROR(admin.Connect());
    if (o.progress) {
      std::fprintf(stderr, "  balance: applying %zu catalog documents (%zu accounts)\n",
                   docs.size(), n);
    }
    t = Clock::now();
    CatalogApplyTotals applied;
    METERD_RETURN_IF_ERROR(ApplyCatalogDocuments(&admin, docs, &applied));
    r->documents = applied.documents;
    r->document_bytes = applied.document_bytes;
    r->created = applied.created;
    r->apply_seconds = MsSince(t) / 1e3;
    expect(r->created == n + kDomainCount, "the catalog created " + std::to_string(r->created) +
                                               " entities, expected " +
                                               std::to_string(n + kDomainCount));
    admin.Close();

    // 2. A top-up per account of a seeded sample, through PostEntry on every connection.
    std::mt19937_64 rng(o.seed);
    std::vector<MicroCredits> amount(n, 0);
    std::vector<size_t> sample = Permutation(n, o.seed ^ 0xBA1A);
    sample.resize(o.balance_topups == 0 ? n : std::min(o.balance_topups, n));
    for (size_t a : sample) amount[a] = RandomTopUp(rng);
    r->topups = sample.size();
    const size_t conns = o.connections;
    std::vector<std::unique_ptr<net::Client>> clients;
    for (size_t c = 0; c < conns; ++c) {
      clients.push_back(std::make_unique<net::Client>(AdminClient(server, "meter-bench balance")));
      METERD_RETURN_IF_ERROR(clients.back()->Connect());
    }
    if (o.progress) {
      std::fprintf(stderr, "  balance: %zu top-ups through PostEntry on %zu connections\n",
                   sample.size(), conns);
    }
    {
      std::vector<ConnectionTally> tallies(conns);
      std::vector<std::thread> threads;
      t = Clock::now();
      for (size_t c = 0; c < conns; ++c) {
        const size_t begin = sample.size() * c / conns, end = sample.size() * (c + 1) / conns;
        threads.emplace_back(PostTopUps, clients[c].get(), std::cref(sample), begin, end,
                             std::cref(amount), &tallies[c]);
      }
      for (std::thread& th : threads) th.join();
      r->topup_seconds = MsSince(t) / 1e3;
      std::vector<double> ms;
      for (ConnectionTally& tally : tallies) {
        METERD_RETURN_IF_ERROR(tally.status);
        expect(tally.check, tally.check_detail);
        ms.insert(ms.end(), tally.with_entries_ms.begin(), tally.with_entries_ms.end());
      }
      r->topup_ms = SpreadOf(std::move(ms));
    }

    // 3. BalanceRequest in a closed loop on every connection: half the requests for a topped-up
    //    account, half for any account (most have no entry: balance 0). A second of warm-up.
    std::vector<double> all_with, all_without;
    const double server_cpu0 = ProcessCpuSeconds(server.pid());
    const double client_cpu0 = SelfCpuSeconds();
    for (int run = -1; run < o.runs; ++run) {
      const bool warmup = run < 0;
      if (o.progress) {
        if (warmup) {
          std::fprintf(stderr, "  balance: warm-up (1 s)\n");
        } else {
          std::fprintf(stderr, "  balance: run %d of %d, %zu connections, %.0f s\n", run + 1,
                       o.runs, conns, o.seconds);
        }
      }
      std::vector<ConnectionTally> tallies(conns);
      std::vector<std::thread> threads;
      const auto start = Clock::now();
      const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(warmup ? 1.0 : o.seconds));
      for (size_t c = 0; c < conns; ++c) {
        threads.emplace_back([&, c] {
          ConnectionTally& tally = tallies[c];
          net::Client* client = clients[c].get();
          std::mt19937_64 pick(o.seed * 1000003 + c * 7919 + static_cast<uint64_t>(run + 1));
          while (Clock::now() < deadline) {
            const size_t a = (pick() & 1) && !sample.empty() ? sample[pick() % sample.size()]
                                                             : static_cast<size_t>(pick() % n);
            const std::string id = BillingAccountId(a);
            flatbuffers::FlatBufferBuilder fbb(128);
            const uint64_t rid = client->NextRequestId();
            std::vector<uint8_t> frame = net::FinishFrame(
                fbb, wire::CreateBalanceRequest(fbb, rid, fbb.CreateString(id), false));
            const auto t0 = Clock::now();
            Result<std::vector<uint8_t>> bytes = client->Call(std::move(frame), rid);
            const double ms = MsSince(t0);
            if (!bytes.ok()) {
              tally.status = bytes.status();
              return;
            }
            (amount[a] != 0 ? tally.with_entries_ms : tally.without_ms).push_back(ms);
            const auto* rep = wire::GetEnvelope(bytes->data())->message_as_BalanceReply();
            const bool ok = rep != nullptr && rep->balances() != nullptr &&
                            rep->balances()->size() == 1 &&
                            net::View(rep->balances()->Get(0)->account()) == id &&
                            rep->balances()->Get(0)->balance() == amount[a];
            Expect(ok,
                   "BalanceRequest for " + id + " was not answered with balance " +
                       std::to_string(amount[a]),
                   &tally.check, &tally.check_detail);
          }
        });
      }
      for (std::thread& th : threads) th.join();
      const double seconds = MsSince(start) / 1e3;
      std::vector<double> ms;
      for (ConnectionTally& tally : tallies) {
        METERD_RETURN_IF_ERROR(tally.status);
        expect(tally.check, tally.check_detail);
        ms.insert(ms.end(), tally.with_entries_ms.begin(), tally.with_entries_ms.end());
        ms.insert(ms.end(), tally.without_ms.begin(), tally.without_ms.end());
        if (!warmup) {
          all_with.insert(all_with.end(), tally.with_entries_ms.begin(),
                          tally.with_entries_ms.end());
          all_without.insert(all_without.end(), tally.without_ms.begin(), tally.without_ms.end());
        }
      }
      if (warmup) continue;
      std::sort(ms.begin(), ms.end());
      r->run_requests.push_back(ms.size());
      r->requests += ms.size();
      r->run_rps.push_back(static_cast<double>(ms.size()) / seconds);
      r->run_p50.push_back(Quantile(ms, 0.50));
      r->run_p99.push_back(Quantile(ms, 0.99));
      r->run_p999.push_back(Quantile(ms, 0.999));
      r->run_max.push_back(ms.empty() ? 0 : ms.back());
    }
    // Server CPU includes the warm-up second's requests: per request, roughly.
    const double requests = static_cast<double>(std::max<uint64_t>(r->requests, 1));
    r->server_cpu_us = (ProcessCpuSeconds(server.pid()) - server_cpu0) * 1e6 / requests;
    r->client_cpu_us = (SelfCpuSeconds() - client_cpu0) * 1e6 / requests;
    std::sort(all_with.begin(), all_with.end());
    std::sort(all_without.begin(), all_without.end());
    r->p99_with_entries = Quantile(all_with, 0.99);
    r->p99_without = Quantile(all_without, 0.99);
    r->rps = Median(r->run_rps);
    r->p50 = Median(r->run_p50);
    r->p99 = Median(r->run_p99);
    r->p999 = Median(r->run_p999);
    r->max = *std::max_element(r->run_max.begin(), r->run_max.end());
    r->server_rss_bytes = ProcessStatusKiB(server.pid(), "VmRSS:") * 1024;
    for (auto& c : clients) c->Close();
    return Status::OK();
  }();
  r->stop_seconds = server.Stop();
  return st;
}

// ---- output --------------------------------------------------------------------------------

namespace {

std::string Join(const std::vector<double>& v, const char* fmt) {
  std::string out;
  for (double x : v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), fmt, x);
    if (!out.empty()) out += ",";
    out += buf;
  }
  return out;
}

const char* CheckText(bool ok) { return ok ? "true" : "false"; }

}  // namespace

void PrintBookTable(std::FILE* out, const BillingWorkloadOptions& o, const BookPhaseResult& r) {
  std::fprintf(out,
               "\nmeterd ledger write path (Ledger::BookHour) — %zu accounts, %zu hours x %d runs, "
               "one usage entry per account per hour\n",
               r.accounts, r.hours_per_run, o.runs);
  std::fprintf(out,
               "  top-ups                %zu through Ledger::Post: %.0f/s, p50 %.2f ms, p99 %.2f "
               "ms (a synced transaction each)\n",
               r.posted, r.post_per_s, r.post_ms.median, r.post_ms.p99);
  if (r.seeded > 0) {
    std::fprintf(out, "                         %zu seeded in one transaction in %.0f ms\n",
                 r.seeded, r.seed_ms);
  }
  std::fprintf(out,
               "  Ledger::Open           %.0f ms with every top-up (balances loaded); later runs' "
               "top-ups seeded in one transaction\n",
               r.open_ms);
  std::fprintf(out, "\n  %-8s %12s %10s %10s %10s %12s %14s\n", "run", "median ms/h", "first h",
               "last h", "max ms/h", "entries/s", "MB written/h");
  for (size_t i = 0; i < r.run_median_ms.size(); ++i) {
    std::fprintf(out, "  %-8zu %12.1f %10.1f %10.1f %10.1f %11.0fK %14.1f\n", i + 1,
                 r.run_median_ms[i], r.run_first_ms[i], r.run_last_ms[i], r.run_max_ms[i],
                 static_cast<double>(r.entries_per_hour) / (r.run_median_ms[i] / 1e3) / 1e3,
                 r.run_written_mb[i]);
  }
  std::fprintf(out, "  %-8s %12.1f %10.1f %10.1f %10.1f %11.0fK %14.1f\n", "median", r.median_ms,
               Median(r.run_first_ms), Median(r.run_last_ms), r.max_ms, r.entries_per_s / 1e3,
               Median(r.run_written_mb));
  std::fprintf(out, "\n  one hour for %zu accounts: %.1f ms (median of the runs' medians) -> %s\n",
               r.accounts, r.median_ms,
               r.median_ms < 1000 ? "the booking alone fits in 1 s"
                                  : "the booking alone takes more than 1 s");
  std::fprintf(out, "  billing.db             %.1f MB after the runs; reopened in %.0f ms\n",
               static_cast<double>(r.db_bytes) / 1e6, r.reopen_ms);
  std::fprintf(out, "  check                  %s\n",
               r.check ? "OK: every balance (in memory, after a reopen) is its top-up minus the "
                         "usage booked; billing.db's month totals match"
                       : ("FAILED: " + r.check_detail).c_str());
}

void PrintBookJson(const BillingWorkloadOptions& o, const BookPhaseResult& r) {
  std::string runs;
  for (const std::vector<double>& v : r.hour_ms) {
    runs += std::string(runs.empty() ? "" : ",") + "[" + Join(v, "%.2f") + "]";
  }
  std::printf(
      "{\"workload\":\"billing\",\"phase\":\"book\",\"accounts\":%zu,\"hours_per_run\":%zu,"
      "\"runs\":%d,\"posted\":%zu,\"post_per_s\":%.1f,\"post_p50_ms\":%.3f,\"post_p99_ms\":%.3f,"
      "\"seeded\":%zu,\"seed_ms\":%.1f,\"open_ms\":%.1f,\"reopen_ms\":%.1f,"
      "\"hour_median_ms\":%.2f,\"hour_max_ms\":%.2f,\"run_median_ms\":[%s],\"run_written_mb\":[%s],"
      "\"hour_ms\":[%s],"
      "\"entries_per_hour\":%zu,\"entries_per_s\":%.0f,\"db_bytes\":%llu,\"check\":%s}\n",
      r.accounts, r.hours_per_run, o.runs, r.posted, r.post_per_s, r.post_ms.median, r.post_ms.p99,
      r.seeded, r.seed_ms, r.open_ms, r.reopen_ms, r.median_ms, r.max_ms,
      Join(r.run_median_ms, "%.2f").c_str(), Join(r.run_written_mb, "%.1f").c_str(), runs.c_str(),
      r.entries_per_hour, r.entries_per_s, static_cast<unsigned long long>(r.db_bytes),
      CheckText(r.check));
}

void PrintClockTable(std::FILE* out, const BillingWorkloadOptions& o, const ClockPhaseResult& r) {
  std::fprintf(out,
               "\nmeterd billing clock (BillingClock::CloseDue, real rating) — %zu VMs x 8 "
               "metrics, %zu accounts, month %s (%zu h%s), %s\n",
               r.vms, r.accounts, o.month.c_str(), r.hours,
               o.days || o.clock_hours ? " from its start" : "",
               o.month_to_date ? "hours rated from the month-to-date state"
                               : "every hour rated with the month so far scanned");
  if (r.reused) {
    std::fprintf(out, "  rollups                %llu rows reused (regenerated in memory, %.1f s)\n",
                 static_cast<unsigned long long>(r.rows), r.generate_seconds);
  } else {
    std::fprintf(out, "  rollups                %llu rows; generate + seal %.1f s, merge %.1f s\n",
                 static_cast<unsigned long long>(r.rows), r.generate_seconds, r.merge_seconds);
  }
  std::fprintf(out,
               "  engine                 reopen %.0f ms, RatingEngine::Create %.0f ms, %d rating "
               "threads; %zu top-ups %.0f ms\n",
               r.open_ms, r.create_ms, o.threads, r.accounts, r.topup_ms);
  std::fprintf(out, "\n  %-16s %5s %12s %10s %11s %12s   %s\n", "hour closed", "runs",
               "ms (median)", "rating ms", "booking ms", "booking CPU", "each run, ms");
  for (const ClockPhaseResult::TimedHour& th : r.timed) {
    std::fprintf(out, "  %-16s %5zu %12.1f %10.1f %11.1f %12.1f   %s\n", th.label.c_str(),
                 th.ms.size(), th.median_ms, th.median_rate_ms, th.median_book_ms,
                 th.median_book_cpu_ms, Join(th.ms, "%.1f").c_str());
  }
  std::fprintf(out,
               "  (rating ms: the rater's calls; booking: the rest of CloseDue. A reopened clock's "
               "first CloseDue %s:",
               o.keep_state && o.month_to_date
                   ? "restores the month-to-date state kept with the watermark"
                   : "re-rates the month so far");
  for (const ClockPhaseResult::TimedHour& th : r.timed) {
    if (!th.restart_ms.empty()) std::fprintf(out, " %.0f ms", th.median_restart_ms);
  }
  std::fprintf(out, "; months re-rated by them: %llu)\n",
               static_cast<unsigned long long>(r.restart_rescans));
  if (!r.keep_ms.empty()) {
    std::fprintf(out,
                 "  state kept after each hour (BillingClock::KeepState, its own transaction, not "
                 "in the hour's ms): %.1f MB, median %.1f ms, max %.1f ms\n",
                 static_cast<double>(r.state_bytes) / 1e6, Median(r.keep_ms),
                 *std::max_element(r.keep_ms.begin(), r.keep_ms.end()));
  }
  std::fprintf(out,
               "\n  the whole month, hour by hour (one pass): %.1f s for %zu hours, %.1f ms "
               "per hour on average; %zu entries\n",
               r.month_seconds, r.hours, r.month_seconds * 1e3 / static_cast<double>(r.hours),
               r.entries);
  std::fprintf(out,
               "\n  %-16s %10s %10s %11s %12s %11s   (one pass; medians of the day's 24 hours)\n",
               "day", "ms", "rating ms", "booking ms", "booking CPU", "MB written");
  const size_t step = r.hours / 24 > 7 ? 7 : 1;
  for (size_t day = 1; day <= r.hours / 24; day += step) {
    std::vector<double> total, rate, book, cpu, mb;
    for (size_t k = (day - 1) * 24; k < day * 24 && k < r.hour_ms.size(); ++k) {
      total.push_back(r.hour_ms[k]);
      rate.push_back(r.rate_ms[k]);
      book.push_back(r.hour_ms[k] - r.rate_ms[k]);
      cpu.push_back(r.book_cpu_ms[k]);
      mb.push_back(r.written_mb[k]);
    }
    std::fprintf(out, "  %-16zu %10.1f %10.1f %11.1f %12.1f %11.1f\n", day, Median(total),
                 Median(rate), Median(book), Median(cpu), Median(mb));
  }
  if (r.hours > 1) {  // the hours after the first: each reuses the state and plan
    std::vector<double> total, rate, plan, scan, price, book;
    for (size_t k = 1; k < r.hours; ++k) {
      total.push_back(r.hour_ms[k]);
      rate.push_back(r.rate_ms[k]);
      plan.push_back(r.plan_ms[k]);
      scan.push_back(r.scan_ms[k]);
      price.push_back(r.price_ms[k]);
      book.push_back(r.hour_ms[k] - r.rate_ms[k]);
    }
    std::fprintf(out,
                 "\n  hours 2..%zu (one pass, medians): %.1f ms per hour closed; rating %.1f ms "
                 "(plan %.1f, scan %.1f, price %.1f), booking %.1f ms\n",
                 r.hours, Median(total), Median(rate), Median(plan), Median(scan), Median(price),
                 Median(book));
  }
  std::fprintf(out, "  memory                 RSS %.0f MiB before the clock, peak %.0f MiB\n",
               static_cast<double>(r.rss_before_clock) / 1048576.0,
               static_cast<double>(r.peak_rss) / 1048576.0);
  std::fprintf(out,
               "\n  month rated            %lld micro-credits; debited %lld over %zu accounts\n",
               static_cast<long long>(r.month_total), static_cast<long long>(r.billed_total),
               r.accounts_checked);
  std::fprintf(out, "  check                  %s\n",
               r.check ? (o.days || o.clock_hours
                              ? "OK: each account's debits for the hours booked equal "
                                "RatingEngine::Rate of those hours at once to the micro-credit; "
                                "balances match"
                              : "OK: each account's debits for the month equal RatingEngine::Rate "
                                "of the whole month (and the generator's answer) to the "
                                "micro-credit; balances match")
                       : ("FAILED: " + r.check_detail).c_str());
}

void PrintClockJson(const BillingWorkloadOptions& o, const ClockPhaseResult& r) {
  std::string timed;
  for (const ClockPhaseResult::TimedHour& th : r.timed) {
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "%s{\"hour\":\"%s\",\"index\":%zu,\"median_ms\":%.2f,\"rate_ms\":%.2f,"
                  "\"book_ms\":%.2f,\"book_cpu_ms\":%.2f,\"restart_ms\":%.2f,\"runs_ms\":[",
                  timed.empty() ? "" : ",", th.label.c_str(), th.index, th.median_ms,
                  th.median_rate_ms, th.median_book_ms, th.median_book_cpu_ms,
                  th.median_restart_ms);
    timed += buf + Join(th.ms, "%.2f") + "]}";
  }
  std::printf(
      "{\"workload\":\"billing\",\"phase\":\"clock\",\"vms\":%zu,\"accounts\":%zu,\"seed\":%llu,"
      "\"month\":\"%s\",\"rows\":%llu,\"threads\":%d,\"runs\":%d,\"timed\":[%s],"
      "\"month_seconds\":%.2f,\"hour_ms\":[%s],\"rate_ms\":[%s],\"plan_ms\":[%s],"
      "\"scan_ms\":[%s],\"price_ms\":[%s],\"book_cpu_ms\":[%s],\"entries\":%zu,"
      "\"rss_before_clock\":%llu,\"peak_rss\":%llu,"
      "\"month_total_micro\":%lld,\"billed_total_micro\":%lld,\"check\":%s}\n",
      r.vms, r.accounts, static_cast<unsigned long long>(o.seed), o.month.c_str(),
      static_cast<unsigned long long>(r.rows), o.threads, o.runs, timed.c_str(), r.month_seconds,
      Join(r.hour_ms, "%.1f").c_str(), Join(r.rate_ms, "%.1f").c_str(),
      Join(r.plan_ms, "%.1f").c_str(), Join(r.scan_ms, "%.1f").c_str(),
      Join(r.price_ms, "%.1f").c_str(), Join(r.book_cpu_ms, "%.1f").c_str(), r.entries,
      static_cast<unsigned long long>(r.rss_before_clock),
      static_cast<unsigned long long>(r.peak_rss), static_cast<long long>(r.month_total),
      static_cast<long long>(r.billed_total), CheckText(r.check));
}

void PrintBalanceTable(std::FILE* out, const BillingWorkloadOptions& o,
                       const BalancePhaseResult& r) {
  std::fprintf(out,
               "\nmeterd balance queries through the binary protocol — %zu accounts, "
               "BalanceRequest (provisional=false, one account), %zu connections closed-loop, "
               "%.0f s x %d runs\n",
               r.accounts, o.connections, o.seconds, o.runs);
  std::fprintf(out, "  meterd                 pid %d, listening after %.2f s; RSS %.0f MiB\n",
               static_cast<int>(r.server_pid), r.start_seconds,
               static_cast<double>(r.server_rss_bytes) / 1048576.0);
  std::fprintf(
      out, "  catalog                ApplyCatalog x %zu (%.1f MB JSON) in %.2f s, %u created\n",
      r.documents, static_cast<double>(r.document_bytes) / 1e6, r.apply_seconds, r.created);
  std::fprintf(out,
               "  top-ups                %zu through PostEntry in %.1f s = %.0f/s; p50 %.2f ms, "
               "p99 %.2f ms\n",
               r.topups, r.topup_seconds,
               static_cast<double>(r.topups) / std::max(r.topup_seconds, 1e-9), r.topup_ms.median,
               r.topup_ms.p99);
  std::fprintf(out, "\n  %-8s %10s %12s %10s %10s %10s %10s\n", "run", "requests", "requests/s",
               "p50 ms", "p99 ms", "p99.9 ms", "max ms");
  for (size_t i = 0; i < r.run_rps.size(); ++i) {
    std::fprintf(out, "  %-8zu %10llu %12.0f %10.3f %10.3f %10.3f %10.3f\n", i + 1,
                 static_cast<unsigned long long>(r.run_requests[i]), r.run_rps[i], r.run_p50[i],
                 r.run_p99[i], r.run_p999[i], r.run_max[i]);
  }
  std::vector<double> per_run(r.run_requests.begin(), r.run_requests.end());
  std::fprintf(out, "  %-8s %10.0f %12.0f %10.3f %10.3f %10.3f %10.3f   (max: of every run)\n",
               "median", Median(per_run), r.rps, r.p50, r.p99, r.p999, r.max);
  std::fprintf(out,
               "\n  p99 by account        %.3f ms with a top-up, %.3f ms without entries "
               "(all runs pooled)\n",
               r.p99_with_entries, r.p99_without);
  std::fprintf(out, "  CPU per request        server %.1f us, client %.1f us (same 2 cores)\n",
               r.server_cpu_us, r.client_cpu_us);
  std::fprintf(out, "  p99 target (< 1 ms)    %s\n", r.p99 < 1.0 ? "holds" : "MISSED");
  std::fprintf(out, "  server stop            %.2f s\n", r.stop_seconds);
  std::fprintf(out, "  check                  %s\n",
               r.check ? "OK: every PostEntry and BalanceRequest reply carries the balance posted"
                       : ("FAILED: " + r.check_detail).c_str());
}

void PrintBalanceJson(const BillingWorkloadOptions& o, const BalancePhaseResult& r) {
  std::printf(
      "{\"workload\":\"billing\",\"phase\":\"balance\",\"accounts\":%zu,\"connections\":%zu,"
      "\"seconds\":%.1f,\"runs\":%d,\"apply_s\":%.3f,\"topups\":%zu,\"topup_s\":%.3f,"
      "\"topup_p50_ms\":%.3f,\"topup_p99_ms\":%.3f,\"requests\":%llu,\"requests_per_s\":%.0f,"
      "\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"p999_ms\":%.4f,\"max_ms\":%.4f,\"run_rps\":[%s],"
      "\"run_p99_ms\":[%s],\"p99_with_entries_ms\":%.4f,\"p99_without_entries_ms\":%.4f,"
      "\"server_cpu_us\":%.2f,\"client_cpu_us\":%.2f,\"server_rss_bytes\":%llu,\"check\":%s}\n",
      r.accounts, o.connections, o.seconds, o.runs, r.apply_seconds, r.topups, r.topup_seconds,
      r.topup_ms.median, r.topup_ms.p99, static_cast<unsigned long long>(r.requests), r.rps, r.p50,
      r.p99, r.p999, r.max, Join(r.run_rps, "%.0f").c_str(), Join(r.run_p99, "%.4f").c_str(),
      r.p99_with_entries, r.p99_without, r.server_cpu_us, r.client_cpu_us,
      static_cast<unsigned long long>(r.server_rss_bytes), CheckText(r.check));
}

}  // namespace meterd::bench
