// meterd — bench/meter_bench/invoice_workload.cc
#include "bench/meter_bench/invoice_workload.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "bench/meter_bench/bench_stats.h"
#include "engine/events/event_log.h"
#include "engine/invoicing/invoice_pdf.h"
#include "engine/invoicing/invoicer.h"
#include "engine/ledger/ledger.h"
#include "engine/pricebook/pricing.h"
#include "engine/tenancy/billing_db.h"
#include "engine/tenancy/tenancy.h"
#include "storage/base/calendar.h"

namespace meterd::bench {
namespace {

namespace inv = engine::invoicing;
namespace ledger = engine::ledger;
namespace pb = engine::pricebook;
namespace tn = engine::tenancy;
using Clock = std::chrono::steady_clock;
using pb::MicroCredits;

constexpr size_t kDomains = 5;

std::string AccountId(size_t a) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "acct-%06zu", a);
  return buf;
}

Result<std::shared_ptr<const tn::Tenancy>> Fleet(size_t accounts, int64_t month) {
  tn::TenancyData d;
  for (size_t i = 0; i < kDomains; ++i) {
    d.domains.push_back({"dom-" + std::to_string(i), "Domain " + std::to_string(i), ""});
  }
  d.accounts.reserve(accounts);
  d.billing_profiles.reserve(accounts);
  for (size_t a = 0; a < accounts; ++a) {
    tn::Account acct;
    acct.id = AccountId(a);
    acct.domain = "dom-" + std::to_string(a % kDomains);
    acct.name = "Account " + std::to_string(a);
    tn::BillingProfile p;
    p.account = acct.id;
    p.country = "GB";
    p.address = std::to_string(a) + " High Street\nLondon";
    d.accounts.push_back(std::move(acct));
    d.billing_profiles.push_back(std::move(p));
  }
  d.tax_rates.push_back({"GB", "", "VAT", 200000, month - 365 * 86400, false});
  tn::TaxSettings ts;
  ts.scope = "*";
  ts.country = "GB";
  d.tax_settings.push_back(ts);
  tn::InvoiceIssuer issuer;
  issuer.scope = "*";
  issuer.name = "Example Cloud Ltd";
  issuer.address = "1 Long Acre\nLondon WC2E 9LH";
  issuer.country = "GB";
  issuer.vat_number = "GB123456789";
  d.invoice_issuers.push_back(issuer);
  tn::Discount disc;
  disc.id = "dom0-running";
  disc.description = "Domain 0 agreement, running VMs";
  disc.scope = tn::DiscountScope::kGroup;
  disc.target = "Running VM";
  disc.percent_ppm = 50000;
  disc.domain = "dom-0";
  d.discounts.push_back(disc);
  return tn::Tenancy::Build(std::move(d));
}

Result<std::shared_ptr<const pb::PriceBook>> Book(int64_t month) {
  pb::PriceBookVersion v;
  v.version = 1;
  v.effective_from = month - 365 * 86400;
  v.default_currency = "GBP";
  v.currencies = {pb::Currency{"GBP", pb::Decimal::FromInt(1), "GBP ", "", 2}};
  return pb::PriceBook::Build({v});
}

// Account a's rated lines for the month: per VM, running hours, a disk's GB·h and network GB,
// seeded by (seed, a) so that the ledger setup and the RateFn agree.
std::vector<inv::RatedLine> LinesOf(uint64_t seed, size_t a, size_t vms) {
  std::mt19937_64 rng(seed * 1'000'003 + a);
  std::vector<inv::RatedLine> out;
  out.reserve(vms * 3);
  for (size_t v = 0; v < vms; ++v) {
    const uint64_t hours = 1 + rng() % 720;
    inv::RatedLine run;
    run.group = "Running VM";
    run.product_id = (v % 3 == 0) ? "copper" : (v % 3 == 1 ? "silver" : "bronze");
    run.product_name = run.product_id;
    run.unit = "h";
    run.raw_quantity = hours * 3600;
    run.divisor = 3600;
    run.unit_price = v % 3 == 0 ? 2'200'000 : (v % 3 == 1 ? 600'000 : 490'000);
    run.amount = static_cast<MicroCredits>(hours) * run.unit_price;
    inv::RatedLine disk = run;
    disk.group = "Storage";
    disk.product_id = "disk";
    disk.product_name = "SATA disk";
    disk.unit = "GB·h";
    disk.raw_quantity = hours * 20;
    disk.divisor = 1;
    disk.unit_price = 3'600;
    disk.amount = static_cast<MicroCredits>(hours) * 20 * 3'600;
    inv::RatedLine net = run;
    net.group = "Network";
    net.product_id = "net-out";
    net.product_name = "Bytes sent";
    net.unit = "GB";
    net.raw_quantity = rng() % 50;
    net.divisor = 1;
    net.unit_price = 10'000;
    net.amount = static_cast<MicroCredits>(net.raw_quantity) * 10'000;
    out.push_back(std::move(run));
    out.push_back(std::move(disk));
    if (net.amount != 0) out.push_back(std::move(net));
  }
  return out;
}

MicroCredits TotalOf(const std::vector<inv::RatedLine>& lines) {
  MicroCredits t = 0;
  for (const auto& l : lines) t += l.amount;
  return t;
}

void Fail(InvoiceWorkloadResult* r, const std::string& what) {
  if (r->check) r->detail = what;
  r->check = false;
}

}  // namespace

Status RunInvoiceWorkload(const InvoiceWorkloadOptions& o, InvoiceWorkloadResult* r) {
  int year = 0;
  unsigned mon = 0;
  if (std::sscanf(o.month.c_str(), "%d-%u", &year, &mon) != 2 || mon < 1 || mon > 12) {
    return Status::InvalidArgument("--month takes YYYY-MM");
  }
  const int64_t month = base::DaysFromCivil(year, mon, 1) * base::kSecondsPerDay;
  const int64_t next = base::NextMonthStart(month);
  spdlog::set_level(spdlog::level::warn);
  std::error_code ec;
  std::filesystem::remove_all(o.dir, ec);
  std::filesystem::create_directories(o.dir, ec);
  if (ec) return Status::IOError("cannot create " + o.dir + ": " + ec.message());

  auto t0 = Clock::now();
  METERD_ASSIGN_OR_RETURN(auto tenancy, Fleet(o.accounts, month));
  METERD_ASSIGN_OR_RETURN(auto book, Book(month));
  pb::BillingSnapshot snap;
  snap.tenancy = tenancy;
  snap.price_book = book;
  METERD_ASSIGN_OR_RETURN(auto db, tn::BillingDb::Open(o.dir + "/billing.db"));
  METERD_ASSIGN_OR_RETURN(auto events, engine::events::EventLog::Open(db.get()));
  METERD_ASSIGN_OR_RETURN(
      auto led, ledger::Ledger::Open(db.get(), events.get(), [tenancy] { return tenancy; }));
  // The ledger as the clock leaves the month: each account's month at its first hour, then
  // every hour closed.
  ledger::HourBooking first;
  first.hour = month;
  first.now = next;
  std::vector<MicroCredits> booked(o.accounts);
  for (size_t a = 0; a < o.accounts; ++a) {
    const auto lines = LinesOf(o.seed, a, o.vms_per_account);
    booked[a] = TotalOf(lines);
    r->lines += lines.size();
    first.charges.push_back({AccountId(a), month, 0, booked[a], 0});
  }
  METERD_RETURN_IF_ERROR(led->BookHour(first).status());
  for (int64_t h = month + base::kSecondsPerHour; h < next; h += base::kSecondsPerHour) {
    METERD_RETURN_IF_ERROR(led->BookHour({h, {}, next}).status());
  }
  METERD_ASSIGN_OR_RETURN(auto store, inv::InvoiceStore::Open(db.get()));
  const uint64_t seed = o.seed;
  const size_t vms = o.vms_per_account;
  METERD_ASSIGN_OR_RETURN(
      auto invoicer,
      inv::Invoicer::Open(
          led.get(), store.get(), [snap] { return snap; },
          [seed, vms, n = o.accounts](int64_t, int64_t, const std::vector<std::string>& accounts)
              -> Result<std::unordered_map<std::string, std::vector<inv::RatedLine>>> {
            std::unordered_map<std::string, std::vector<inv::RatedLine>> out;
            out.reserve(n);
            for (size_t a = 0; a < n; ++a) {
              std::string id = AccountId(a);
              if (!accounts.empty() && accounts[0] != id) continue;
              out.emplace(std::move(id), LinesOf(seed, a, vms));
            }
            return out;
          },
          next));
  r->accounts = o.accounts;
  r->vms = o.accounts * o.vms_per_account;
  r->setup_ms = MsSince(t0);
  if (o.progress) std::fprintf(stderr, "setup: %.0f ms\n", r->setup_ms);

  // Run.
  t0 = Clock::now();
  inv::RunRequest req;
  req.at = month;
  req.now = next + base::kSecondsPerHour;
  METERD_ASSIGN_OR_RETURN(inv::RunReport run, invoicer->Run(req));
  r->run_ms = MsSince(t0);
  r->run_rate_ms = run.rate_ms;
  r->run_build_ms = run.build_ms;
  r->run_store_ms = run.store_ms;
  if (o.progress) std::fprintf(stderr, "run: %.0f ms, %zu drafts\n", r->run_ms, run.drafts);
  if (run.drafts != o.accounts || !run.refused.empty()) {
    Fail(r,
         "run drafted " + std::to_string(run.drafts) + " of " + std::to_string(o.accounts) +
             (run.refused.empty() ? ""
                                  : "; " + run.refused[0].account + ": " + run.refused[0].reason));
  }
  run.invoices.clear();
  run.invoices.shrink_to_fit();

  // Issue.
  t0 = Clock::now();
  METERD_ASSIGN_OR_RETURN(inv::RunReport issued,
                          invoicer->IssueDrafts(inv::ScopeKind::kAll, "", month, "bench", next));
  r->issue_ms = MsSince(t0);
  r->invoices = issued.invoices.size();
  if (o.progress) std::fprintf(stderr, "issue: %.0f ms, %zu invoices\n", r->issue_ms, r->invoices);

  // Checks.
  if (r->invoices != o.accounts) Fail(r, "issued " + std::to_string(r->invoices));
  std::vector<bool> seen(o.accounts + 1, false);
  __int128 discounts = 0, taxes = 0;
  for (const inv::Invoice& i : issued.invoices) {
    if (i.sequence < 1 || static_cast<size_t>(i.sequence) > o.accounts || seen[i.sequence]) {
      Fail(r, "number " + i.number + " out of sequence or repeated");
    } else {
      seen[i.sequence] = true;
    }
    const size_t a = std::stoul(i.account.substr(5));
    if (i.subtotal.micro != booked[a]) Fail(r, i.number + ": subtotal differs from the ledger");
    if (i.total.micro != i.subtotal.micro - i.discount_total.micro + i.tax_total.micro) {
      Fail(r, i.number + ": total does not add up");
    }
    if (i.taxes.empty()) Fail(r, i.number + ": no VAT line");
    discounts += i.discount_total.micro;
    taxes += i.tax_total.micro;
  }
  __int128 balances = 0, expected = 0;
  for (size_t a = 0; a < o.accounts; ++a) {
    auto b = led->Balance(AccountId(a));
    if (!b.ok()) return b.status();
    balances += b->balance;
    expected -= booked[a];
  }
  expected += discounts - taxes;
  if (balances != expected) Fail(r, "balances do not reflect the booked discounts and taxes");

  // PDFs.
  if (o.pdf) {
    issued.invoices.clear();
    inv::ListFilter f;
    METERD_ASSIGN_OR_RETURN(std::vector<inv::StoredInvoice> docs, store->List(f));
    t0 = Clock::now();
    std::atomic<size_t> next_doc{0};
    std::atomic<uint64_t> bytes{0};
    std::atomic<bool> failed{false};
    std::vector<std::thread> pool;
    for (int t = 0; t < std::max(1, o.threads); ++t) {
      pool.emplace_back([&] {
        for (size_t i; (i = next_doc.fetch_add(1)) < docs.size();) {
          auto pdf = inv::RenderInvoicePdf(docs[i].invoice);
          if (!pdf.ok() || pdf->rfind("%PDF-", 0) != 0) {
            failed = true;
            continue;
          }
          bytes += pdf->size();
        }
      });
    }
    for (auto& t : pool) t.join();
    r->pdf_ms = MsSince(t0);
    r->pdf_bytes = bytes;
    if (failed) Fail(r, "a PDF failed");
    if (o.progress) std::fprintf(stderr, "pdf: %.0f ms\n", r->pdf_ms);
  }
  r->db_bytes = std::filesystem::file_size(o.dir + "/billing.db", ec);
  return Status::OK();
}

void PrintInvoiceTable(std::FILE* out, const InvoiceWorkloadOptions& o,
                       const InvoiceWorkloadResult& r) {
  std::fprintf(out, "meter-bench invoices: %zu accounts, %zu VMs, %zu rated lines, month %s\n",
               r.accounts, r.vms, r.lines, o.month.c_str());
  std::fprintf(out, "  setup (not timed below)      %10.0f ms\n", r.setup_ms);
  std::fprintf(out,
               "  run (drafts)                 %10.0f ms  (lines %.0f, build %.0f, store %.0f)\n",
               r.run_ms, r.run_rate_ms, r.run_build_ms, r.run_store_ms);
  std::fprintf(out, "  issue (numbers, ledger)      %10.0f ms\n", r.issue_ms);
  std::fprintf(
      out, "  run + issue                  %10.0f ms  (target: 60,000 ms at 100,000 accounts)\n",
      r.run_ms + r.issue_ms);
  if (o.pdf) {
    std::fprintf(out, "  pdf (%d threads)              %10.0f ms  (%.2f ms each, %.0f kB each)\n",
                 o.threads, r.pdf_ms, r.invoices ? r.pdf_ms / r.invoices : 0.0,
                 r.invoices ? r.pdf_bytes / 1024.0 / r.invoices : 0.0);
    std::fprintf(
        out, "  run + issue + pdf            %10.0f ms  (target: 300,000 ms at 100,000 accounts)\n",
        r.run_ms + r.issue_ms + r.pdf_ms);
  }
  std::fprintf(out, "  invoices %zu, billing.db %.1f MB, check %s%s%s\n", r.invoices,
               r.db_bytes / 1e6, r.check ? "passed" : "FAILED", r.check ? "" : ": ",
               r.detail.c_str());
}

void PrintInvoiceJson(const InvoiceWorkloadOptions& o, const InvoiceWorkloadResult& r) {
  nlohmann::json j{{"workload", "invoices"},   {"accounts", r.accounts}, {"vms", r.vms},
                   {"lines", r.lines},         {"month", o.month},       {"run_ms", r.run_ms},
                   {"issue_ms", r.issue_ms},   {"pdf", o.pdf},           {"pdf_ms", r.pdf_ms},
                   {"pdf_bytes", r.pdf_bytes}, {"db_bytes", r.db_bytes}, {"check", r.check},
                   {"detail", r.detail}};
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace meterd::bench
