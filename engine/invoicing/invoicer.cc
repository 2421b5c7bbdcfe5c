// meterd — engine/invoicing/invoicer.cc
#include "engine/invoicing/invoicer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "engine/invoicing/collections.h"
#include "engine/invoicing/discounts.h"
#include "engine/invoicing/invoice_period.h"
#include "engine/invoicing/taxes.h"
#include "engine/pricebook/pricing.h"
#include "storage/base/time_text.h"

namespace meterd::engine::invoicing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kHour = 3600;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool InScope(const tenancy::Tenancy& t, const tenancy::Account& a, ScopeKind scope,
             const std::string& id) {
  switch (scope) {
    case ScopeKind::kAll:
      return true;
    case ScopeKind::kAccount:
      return a.id == id;
    case ScopeKind::kDomain:
      // The domain or any of its subdomains.
      for (const tenancy::Domain* d = t.FindDomain(a.domain); d != nullptr;
           d = d->parent.empty() ? nullptr : t.FindDomain(d->parent)) {
        if (d->id == id) return true;
      }
      return false;
  }
  return false;
}

std::string HourText(int64_t t) { return base::FormatRfc3339(t); }

// The accounts of the scope, by id; NotFound for an unknown account or domain.
Result<std::vector<const tenancy::Account*>> AccountsOf(const tenancy::Tenancy& t, ScopeKind scope,
                                                        const std::string& id) {
  if (scope == ScopeKind::kAccount && t.FindAccount(id) == nullptr) {
    return Status::NotFound("unknown account '" + id + "'");
  }
  if (scope == ScopeKind::kDomain && t.FindDomain(id) == nullptr) {
    return Status::NotFound("unknown domain '" + id + "'");
  }
  std::vector<const tenancy::Account*> out;
  for (const tenancy::Account& a : t.accounts()) {
    if (InScope(t, a, scope, id)) out.push_back(&a);
  }
  std::sort(out.begin(), out.end(),
            [](const tenancy::Account* a, const tenancy::Account* b) { return a->id < b->id; });
  return out;
}

// The issuer of the account's domain (issuer.h); without an invoice_issuers section, the top
// domain's name, numbered in one scope "*" as INV-000001 and CN-000001.
Result<Issuer> IssuerOf(const tenancy::Tenancy& t, const tenancy::Account& a) {
  if (!t.invoice_issuers().empty()) return IssuerFor(t, a.domain);
  Issuer issuer;
  issuer.scope = "*";
  issuer.number_prefix = "INV-";
  issuer.credit_note_prefix = "CN-";
  const tenancy::Domain* top = t.FindDomain(a.domain);
  while (top != nullptr && !top->parent.empty()) top = t.FindDomain(top->parent);
  issuer.party.name = top != nullptr ? top->name : "";
  return issuer;
}

NumberingOptions Numbering(const Issuer& issuer, InvoiceKind kind) {
  NumberingOptions n;
  n.scope = issuer.scope;
  n.prefix = kind == InvoiceKind::kInvoice ? issuer.number_prefix : issuer.credit_note_prefix;
  n.width = static_cast<int>(issuer.sequence_width);
  n.payment_terms = kind == InvoiceKind::kInvoice ? DueAt(issuer, 0) : 0;
  return n;
}

std::string PeriodText(int64_t start, int64_t end) {
  return HourText(start) + " to " + HourText(end);
}

}  // namespace

Result<std::unique_ptr<Invoicer>> Invoicer::Open(ledger::Ledger* ledger, InvoiceStore* store,
                                                 SnapshotFn snapshot, RateFn rate, int64_t now) {
  std::unique_ptr<Invoicer> inv(new Invoicer(ledger, store, std::move(snapshot), std::move(rate)));
  METERD_ASSIGN_OR_RETURN(std::vector<std::string> unbooked, store->Unbooked());
  for (const std::string& number : unbooked) {
    // One document the ledger refuses (its account removed from the catalog) must not keep
    // the server from starting: it stays unbooked, logged, and is tried again at the next start.
    Result<StoredInvoice> s = store->Get(number);
    Status booked = s.ok() ? inv->Book(*s, "invoicing", now) : s.status();
    if (!booked.ok()) {
      spdlog::error("event=invoice_booking_failed number={} error=\"{}\"", number,
                    booked.ToString());
      continue;
    }
    spdlog::info("event=invoice_booked_after_restart number={}", number);
  }
  return inv;
}

namespace {

// What one account's draft is made of, however its period is covered.
struct DraftParts {
  const tenancy::Account* account = nullptr;
  InvoicePeriod period;
  std::vector<RatedLine> lines;
  std::map<int64_t, MicroCredits> revisions;  // calendar months: per revised month
  MicroCredits revisions_since_last = 0;      // by hours: one line
  MicroCredits balance = 0, grants_used = 0;
  bool provisional = false;
};

// Builds one draft (header, discounts, taxes: docs/invoices.md, "Building an invoice").
Result<Invoice> BuildDraft(const ledger::Ledger& ledger, const tenancy::Tenancy& t,
                           const pricebook::PriceBookVersion& version, DraftParts& d, int64_t now) {
  const tenancy::Account* a = d.account;
  BuildInput in;
  Invoice& h = in.header;
  h.kind = InvoiceKind::kInvoice;
  h.state = InvoiceState::kDraft;
  h.provisional = d.provisional;
  h.account = a->id;
  h.account_name = a->name;
  h.domain = a->domain;
  if (const tenancy::Domain* dom = t.FindDomain(a->domain)) h.domain_name = dom->name;
  const tenancy::BillingProfile* profile = t.FindBillingProfile(a->id);
  h.customer.name = a->name.empty() ? a->id : a->name;
  if (profile != nullptr) {
    h.customer.address = profile->address;
    h.customer.country = profile->country;
    h.customer.vat_number = profile->vat_number;
  }
  const std::vector<std::string> emails = ledger.NotifyEmails(a->id);
  if (!emails.empty()) h.customer.email = emails.front();
  METERD_ASSIGN_OR_RETURN(Issuer issuer, IssuerOf(t, *a));
  h.issuer = issuer.party;
  const int64_t start = d.period.start, end = d.period.end;
  h.period_start = start;
  h.period_end = end;
  h.time_zone = d.period.time_zone;
  h.cycle = std::string(cycles::CycleKindName(d.period.cycle.kind));
  h.price_version = version.version;
  h.created_at = now;
  const std::string currency_code =
      profile != nullptr && !profile->currency.empty() ? profile->currency : a->currency;
  in.currency = version.DisplayCurrency(currency_code);
  in.rounding = version.rounding;
  in.rated = std::move(d.lines);
  in.revisions = std::move(d.revisions);
  in.revisions_since_last = d.revisions_since_last;
  in.balance = d.balance;
  in.grants_used = d.grants_used;
  // Discounts and coupons of the account (discounts.h), over its cycle in its zone.
  const cycles::Cycle cycle = d.period.cycle;
  METERD_ASSIGN_OR_RETURN(cycles::TimeZone zone, cycles::TimeZone::Find(h.time_zone));
  in.discounts = [&](const std::vector<InvoiceLine>& l) {
    return ComputeDiscounts(t.discount_catalog(), a->id, cycle, zone, start, end, l,
                            version.rounding);
  };
  // Taxes of the domain's settings (taxes.h); none when the catalog configures no tax.
  if (!t.tax_settings().empty() || !t.tax_table().rates.empty()) {
    in.taxes = [&](MicroCredits base,
                   std::vector<std::string>* notes) -> Result<std::vector<TaxLine>> {
      METERD_ASSIGN_OR_RETURN(TaxContext ctx, CustomerTaxContext(t, a->id, end - 1));
      ctx.prepaid = ledger.Resolve(a->id).mode == ledger::BillingMode::kPrepaid;
      const tenancy::TaxSettings& settings = t.TaxSettingsFor(a->domain);
      METERD_ASSIGN_OR_RETURN(std::vector<TaxLine> lines,
                              ComputeTaxes(t.tax_table(), settings, ctx, base, version.rounding));
      for (std::string& n : TaxNotes(settings, ctx, lines)) notes->push_back(std::move(n));
      if (lines.empty() && ctx.prepaid &&
          settings.vat_on_prepaid == tenancy::VatOnPrepaid::kTopup) {
        // What the top-ups of the period were taxed (topup_taxes.h), for the record.
        METERD_ASSIGN_OR_RETURN(auto taxes, ledger.TopUpTaxes(a->id, start, end));
        MicroCredits total = 0;
        for (const auto& [entry, list] : taxes) {
          for (const ledger::EntryTax& x : list) total += x.amount;
        }
        if (!taxes.empty()) {
          METERD_ASSIGN_OR_RETURN(int64_t minor,
                                  pricebook::ToMinorUnits(total, in.currency, version.rounding));
          notes->push_back(
              "Tax charged on the " + std::to_string(taxes.size()) +
              " top-up(s) of this period: " + pricebook::FormatMinor(minor, in.currency));
        }
      }
      return lines;
    };
  }
  return BuildInvoice(in);
}

// Adds a built draft with the usage it covers, or the account's refusal to the run's report.
void AddDraft(Result<Invoice> built, const std::string& account, Coverage coverage, RunReport* rep,
              std::vector<std::pair<Invoice, Coverage>>* drafts) {
  if (!built.ok()) {
    rep->refused.push_back({account, std::string(built.status().message())});
    return;
  }
  drafts->emplace_back(std::move(built).value(), std::move(coverage));
}

std::string OpenHoursText(const std::vector<int64_t>& open, int64_t start, int64_t end) {
  return "the period " + PeriodText(start, end) + " has " + std::to_string(open.size()) +
         " hours the billing clock has not booked yet (" + HourText(open.front()) + " to " +
         HourText(open.back() + kHour) +
         "); run it once they are closed, or with --provisional for a draft that cannot be issued";
}

}  // namespace

Result<std::vector<std::pair<const tenancy::Account*, InvoicePeriod>>> Invoicer::PeriodsOf(
    const tenancy::Tenancy& t, ScopeKind scope, const std::string& scope_id, int64_t at,
    std::vector<AccountRefusal>* refused) const {
  METERD_ASSIGN_OR_RETURN(std::vector<const tenancy::Account*> accounts,
                          AccountsOf(t, scope, scope_id));
  METERD_ASSIGN_OR_RETURN(auto lasts,
                          store_->LastPeriods(scope == ScopeKind::kAccount ? scope_id : ""));
  std::vector<std::pair<const tenancy::Account*, InvoicePeriod>> out;
  out.reserve(accounts.size());
  for (const tenancy::Account* a : accounts) {
    std::optional<LastPeriod> last;
    if (auto it = lasts.find(a->id); it != lasts.end()) last = it->second;
    Result<InvoicePeriod> p = InvoicePeriodOf(t.FindBillingProfile(a->id), at, last);
    if (!p.ok()) {
      refused->push_back({a->id, std::string(p.status().message())});
      continue;
    }
    out.emplace_back(a, std::move(p).value());
  }
  return out;
}

Result<InvoicePeriod> Invoicer::PeriodOf(const std::string& account, int64_t at) {
  std::lock_guard lock(mu_);
  const pricebook::BillingSnapshot snap = snapshot_();
  if (!snap.tenancy) return Status::InvalidArgument("no catalog applied");
  std::vector<AccountRefusal> refused;
  METERD_ASSIGN_OR_RETURN(auto periods,
                          PeriodsOf(*snap.tenancy, ScopeKind::kAccount, account, at, &refused));
  if (!refused.empty()) return Status::InvalidArgument(refused.front().reason);
  return periods.front().second;
}

Result<RunReport> Invoicer::Run(const RunRequest& req) {
  std::lock_guard lock(mu_);
  const pricebook::BillingSnapshot snap = snapshot_();
  if (!snap.tenancy || !snap.price_book || snap.price_book->Latest() == nullptr) {
    return Status::InvalidArgument("no price book: apply a catalog with one first");
  }
  const tenancy::Tenancy& t = *snap.tenancy;
  RunReport rep;
  rep.period_start = pricebook::MonthStart(req.at);
  rep.period_end = pricebook::NextMonthStart(rep.period_start);
  std::vector<AccountRefusal> refused;
  METERD_ASSIGN_OR_RETURN(auto periods, PeriodsOf(t, req.scope, req.scope_id, req.at, &refused));
  // Calendar months together (one month for all); other periods grouped by their bounds.
  std::vector<const tenancy::Account*> months;
  std::map<std::pair<int64_t, int64_t>,
           std::vector<std::pair<const tenancy::Account*, InvoicePeriod>>>
      by_hours;
  for (auto& [a, p] : periods) {
    if (req.scope == ScopeKind::kAccount) {
      rep.period_start = p.start;
      rep.period_end = p.end;
    }
    if (p.calendar_month) {
      months.push_back(a);
    } else if (p.covered) {
      ++rep.already_issued;
    } else {
      by_hours[{p.start, p.end}].emplace_back(a, std::move(p));
    }
  }
  std::vector<std::pair<Invoice, Coverage>> drafts;
  if (!months.empty()) METERD_RETURN_IF_ERROR(RunMonth(req, snap, months, &rep, &drafts));
  for (auto& [bounds, group] : by_hours) {
    METERD_RETURN_IF_ERROR(RunHours(req, snap, group, &rep, &drafts));
  }
  for (AccountRefusal& r : refused) rep.refused.push_back(std::move(r));

  const auto t0 = Clock::now();
  METERD_RETURN_IF_ERROR(store_->PutDrafts(drafts));
  rep.store_ms = MsSince(t0);
  rep.drafts = drafts.size();
  rep.invoices.reserve(drafts.size());
  for (auto& [inv, coverage] : drafts) rep.invoices.push_back(std::move(inv));
  return rep;
}

// Accounts on UTC calendar months (invoice_period.h, calendar_month): the clock's entries of
// the month, checked against its rating.
Status Invoicer::RunMonth(const RunRequest& req, const pricebook::BillingSnapshot& snap,
                          std::vector<const tenancy::Account*> accounts, RunReport* out,
                          std::vector<std::pair<Invoice, Coverage>>* drafts) {
  const tenancy::Tenancy& t = *snap.tenancy;
  RunReport& rep = *out;
  const int64_t start = pricebook::MonthStart(req.at), end = pricebook::NextMonthStart(start);

  // Every hour of the period must be booked by the clock (else the drafts are provisional).
  std::vector<int64_t> open;
  const std::optional<int64_t> next = ledger_->NextHour();
  for (int64_t h = std::max(start, next.value_or(start)); h < end; h += kHour) open.push_back(h);
  if (!open.empty() && !req.provisional) {
    return Status::InvalidArgument(OpenHoursText(open, start, end));
  }
  if (rep.open_hours.empty()) rep.open_hours = open;
  const pricebook::PriceBookVersion* version = snap.price_book->VersionAt(end - 1);
  if (version == nullptr) version = snap.price_book->Latest();

  std::vector<std::string> ids;
  if (req.scope == ScopeKind::kAccount) ids.push_back(req.scope_id);

  auto t0 = Clock::now();
  // The clock bills from its start: a period it started in is invoiced from there.
  const int64_t from = std::clamp(ledger_->ClockStart().value_or(start), start, end);
  METERD_ASSIGN_OR_RETURN(auto rated, rate_(from, end, ids));
  METERD_ASSIGN_OR_RETURN(auto watermarks, ledger_->BilledWithWatermarks(start));
  rep.rate_ms += MsSince(t0);

  t0 = Clock::now();
  ListFilter issued_filter;
  issued_filter.from = start;
  issued_filter.to = start + 1;
  issued_filter.kind = InvoiceKind::kInvoice;
  issued_filter.account = req.scope == ScopeKind::kAccount ? req.scope_id : "";
  METERD_ASSIGN_OR_RETURN(std::vector<StoredInvoice> issued, store_->List(issued_filter));
  std::set<std::string, std::less<>> issued_accounts;
  for (const StoredInvoice& s : issued) {
    if (s.invoice.state != InvoiceState::kVoid) issued_accounts.insert(s.invoice.account);
  }

  // Accounts whose rating matches the ledger, to build once the revisions of their invoiced
  // months are read (in one transaction for all of them).
  struct Pending {
    const tenancy::Account* account;
    std::vector<RatedLine> lines;
    MicroCredits balance;
    Coverage coverage;
  };
  std::vector<Pending> pending;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::vector<const tenancy::Account*> mismatched;
    for (const tenancy::Account* a : accounts) {
      if (issued_accounts.contains(a->id)) {
        if (attempt == 0) ++rep.already_issued;
        continue;
      }
      std::vector<RatedLine> lines;
      if (auto it = rated.find(a->id); it != rated.end()) lines = std::move(it->second);
      __int128 rated_total = 0;
      for (const RatedLine& l : lines) rated_total += l.amount;
      METERD_ASSIGN_OR_RETURN(ledger::AccountBalance balance, ledger_->Balance(a->id));
      ledger::Ledger::MonthWatermark wm{0, balance.last_entry};
      if (auto it = watermarks.find(a->id); it != watermarks.end()) wm = it->second;
      if (!req.provisional && rated_total != wm.billed) {
        if (attempt == 0) {
          mismatched.push_back(a);
        } else {
          rep.refused.push_back(
              {a->id, "rated " + pricebook::FormatCredits(rated_total) +
                          " credits but the billing clock billed " +
                          pricebook::FormatCredits(wm.billed) +
                          " for the month: a revision is being booked; run again"});
        }
        continue;
      }
      Coverage coverage;
      coverage.watermark = std::max(wm.last_entry, int64_t{0});
      coverage.months[start] = req.provisional ? static_cast<MicroCredits>(rated_total) : wm.billed;
      pending.push_back({a, std::move(lines), balance.balance, std::move(coverage)});
    }
    if (mismatched.empty()) break;
    // The clock books a revision within a second of seeing it: wait for it once, then rate
    // those accounts again.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    accounts = std::move(mismatched);
    std::vector<std::string> again;
    for (const tenancy::Account* a : accounts) again.push_back(a->id);
    METERD_ASSIGN_OR_RETURN(
        rated, rate_(from, end, again.size() == 1 ? again : std::vector<std::string>{}));
    METERD_ASSIGN_OR_RETURN(watermarks, ledger_->BilledWithWatermarks(start));
  }

  // The clock's revisions of months an earlier invoice covered, booked since it.
  METERD_ASSIGN_OR_RETURN(auto lasts, store_->LastCoverages());
  std::vector<ledger::Ledger::AdjustmentQuery> queries;
  for (const Pending& p : pending) {
    auto last = lasts.find(p.account->id);
    if (last != lasts.end() && last->second.first < start) {
      queries.push_back({p.account->id, last->second.second.watermark, p.coverage.watermark});
    }
  }
  METERD_ASSIGN_OR_RETURN(auto adjustments, ledger_->ClockAdjustmentsOf(queries, start));

  // Promotional credit the month's clock entries used, up to each account's watermark.
  std::unordered_map<std::string, int64_t> upto;
  for (const Pending& p : pending) upto.emplace(p.account->id, p.coverage.watermark);
  METERD_ASSIGN_OR_RETURN(auto grants_used, ledger_->GrantsUsed(upto, start));

  for (Pending& p : pending) {
    const tenancy::Account* a = p.account;
    DraftParts d;
    d.account = a;
    d.period.start = start;
    d.period.end = end;
    d.provisional = !open.empty();
    if (auto it = adjustments.find(a->id); it != adjustments.end()) d.revisions = it->second;
    for (const auto& [month, amount] : d.revisions) p.coverage.months[month] += amount;
    if (p.lines.empty() && d.revisions.empty()) {
      ++rep.nothing_to_invoice;
      continue;
    }
    d.lines = std::move(p.lines);
    d.balance = p.balance;
    if (auto it = grants_used.find(a->id); it != grants_used.end()) d.grants_used = it->second;
    AddDraft(BuildDraft(*ledger_, t, *version, d, req.now), a->id, std::move(p.coverage), &rep,
             drafts);
  }
  rep.build_ms += MsSince(t0);
  return Status::OK();
}

// Accounts of one period that is not a calendar month (invoice_period.h): the clock's usage
// and fee entries of the period's hours, plus its revisions booked since the previous invoice
// less what the period's rating already holds of them (docs/invoices.md, "Cycles").
Status Invoicer::RunHours(
    const RunRequest& req, const pricebook::BillingSnapshot& snap,
    const std::vector<std::pair<const tenancy::Account*, InvoicePeriod>>& group, RunReport* out,
    std::vector<std::pair<Invoice, Coverage>>* drafts) {
  const tenancy::Tenancy& t = *snap.tenancy;
  RunReport& rep = *out;
  const InvoicePeriod& period = group.front().second;
  const int64_t first = period.first_hour, end = period.end_hour;

  std::vector<int64_t> open;
  const std::optional<int64_t> next = ledger_->NextHour();
  for (int64_t h = std::max(first, next.value_or(first)); h < end; h += kHour) open.push_back(h);
  if (!open.empty() && !req.provisional) {
    const std::string why = OpenHoursText(open, period.start, period.end);
    if (req.scope == ScopeKind::kAccount) return Status::InvalidArgument(why);
    for (const auto& [a, p] : group) rep.refused.push_back({a->id, why});
    return Status::OK();
  }
  if (req.scope == ScopeKind::kAccount) rep.open_hours = open;
  const pricebook::PriceBookVersion* version =
      snap.price_book->VersionAt(std::max(first, end - kHour));
  if (version == nullptr) version = snap.price_book->Latest();

  std::vector<std::string> ids;
  for (const auto& [a, p] : group) ids.push_back(a->id);
  auto t0 = Clock::now();
  const int64_t from = std::clamp(ledger_->ClockStart().value_or(first), first, end);
  // Rating a window that starts inside a UTC month counts the month's earlier usage towards
  // its tiers and caps (rating_engine.h): the window's lines are exactly what the clock
  // debited for its hours, less any revision it has not booked as usage.
  METERD_ASSIGN_OR_RETURN(auto rated,
                          rate_(from, end, ids.size() == 1 ? ids : std::vector<std::string>{}));
  METERD_ASSIGN_OR_RETURN(auto billed, ledger_->BilledInHours(from, end, ids));
  rep.rate_ms += MsSince(t0);

  t0 = Clock::now();
  struct Pending {
    DraftParts parts;
    MicroCredits rated = 0, billed = 0;
    Coverage coverage;
  };
  std::vector<Pending> pending;
  std::vector<ledger::Ledger::AdjustmentQuery> queries;
  for (const auto& [a, p] : group) {
    Pending pe;
    pe.parts.account = a;
    pe.parts.period = p;
    pe.parts.provisional = !open.empty();
    if (auto it = rated.find(a->id); it != rated.end()) pe.parts.lines = std::move(it->second);
    __int128 rated_total = 0;
    for (const RatedLine& l : pe.parts.lines) rated_total += l.amount;
    if (rated_total > INT64_MAX || rated_total < INT64_MIN) {
      return Status::OutOfRange("the rating of account '" + a->id + "' leaves int64");
    }
    pe.rated = static_cast<MicroCredits>(rated_total);
    METERD_ASSIGN_OR_RETURN(ledger::AccountBalance balance, ledger_->Balance(a->id));
    pe.parts.balance = balance.balance;
    int64_t watermark = balance.last_entry;
    if (auto it = billed.find(a->id); it != billed.end()) {
      pe.billed = it->second.billed;
      pe.parts.grants_used = it->second.grants_used;
      watermark = it->second.last_entry;
    }
    pe.coverage.watermark = std::max(watermark, int64_t{0});
    // The revisions booked since the previous invoice (of any month; all of them for the
    // account's first invoice).
    queries.push_back({a->id, p.last ? p.last->watermark : 0, pe.coverage.watermark});
    pending.push_back(std::move(pe));
  }
  METERD_ASSIGN_OR_RETURN(auto adjustments, ledger_->ClockAdjustmentsOf(queries, INT64_MAX));
  for (Pending& pe : pending) {
    DraftParts& d = pe.parts;
    const tenancy::Account* a = d.account;
    __int128 revised = 0;
    pe.coverage.months[d.period.start] = req.provisional ? pe.rated : pe.billed;
    if (auto it = adjustments.find(a->id); it != adjustments.end()) {
      for (const auto& [month, amount] : it->second) {
        revised += amount;
        pe.coverage.months[month] += amount;
      }
    }
    // The rating holds the period's hours as revised now; what the clock booked of that
    // revision is among the adjustments. The line carries the rest, so that the subtotal is
    // billed + revised exactly. A provisional draft (hours not booked) shows the revisions.
    d.revisions_since_last =
        static_cast<MicroCredits>(req.provisional ? revised : revised - (pe.rated - pe.billed));
    if (d.lines.empty() && d.revisions_since_last == 0) {
      ++rep.nothing_to_invoice;
      continue;
    }
    AddDraft(BuildDraft(*ledger_, t, *version, d, req.now), a->id, std::move(pe.coverage), &rep,
             drafts);
  }
  rep.build_ms += MsSince(t0);
  return Status::OK();
}

namespace {

// The ledger entries an issued document books (docs/invoices.md, "Numbering, states and the
// ledger"), each idempotent on a reference derived from its number.
std::vector<ledger::ManualEntry> BookingEntries(const Invoice& inv, const std::string& actor,
                                                int64_t now) {
  std::vector<ledger::ManualEntry> out;
  auto add = [&](ledger::EntryKind kind, MicroCredits amount, const std::string& suffix,
                 std::string reason) {
    if (amount == 0) return;
    ledger::ManualEntry e;
    e.account = inv.account;
    e.kind = kind;
    e.amount = amount;
    e.reference =
        (inv.kind == InvoiceKind::kInvoice ? "invoice:" : "credit-note:") + inv.number + suffix;
    e.actor = actor;
    e.reason = std::move(reason);
    e.at = now;
    out.push_back(std::move(e));
  };
  if (inv.kind == InvoiceKind::kInvoice) {
    add(ledger::EntryKind::kCredit, inv.discount_total.micro, ":discounts",
        "discounts of invoice " + inv.number);
    std::string taxes;
    for (const TaxLine& tl : inv.taxes) {
      if (!taxes.empty()) taxes += ", ";
      taxes += tl.name + " " + pricebook::FormatQuantity(tl.rate_ppm, 10000) + " %";
    }
    add(ledger::EntryKind::kAdjustment, -inv.tax_total.micro, ":taxes",
        "taxes of invoice " + inv.number + " (" + taxes + ")");
  } else {
    add(ledger::EntryKind::kCredit, inv.total.micro, "",
        "credit note " + inv.number + " for invoice " + inv.credit_note_for + ": " + inv.reason);
  }
  return out;
}

// The events that close a document's booking: `booked`, and `paid` when nothing is due.
std::vector<InvoiceEvent> BookedEvents(const Invoice& inv, const std::string& actor, int64_t now) {
  std::vector<InvoiceEvent> out{{0, "booked", 0, "", actor, "discounts and taxes booked", now}};
  if (inv.kind == InvoiceKind::kInvoice && inv.amount_due.micro == 0) {
    out.push_back({0, "paid", 0, "", actor, "paid from the account's balance", now});
  }
  return out;
}

// Documents issued per transaction by IssueDrafts.
constexpr size_t kIssueBatch = 2000;

}  // namespace

Status Invoicer::Book(const StoredInvoice& s, const std::string& actor, int64_t now) {
  const std::vector<ledger::ManualEntry> entries = BookingEntries(s.invoice, actor, now);
  if (!entries.empty()) METERD_RETURN_IF_ERROR(ledger_->PostMany(entries, now).status());
  std::vector<std::pair<std::string, InvoiceEvent>> events;
  for (InvoiceEvent& e : BookedEvents(s.invoice, actor, now)) {
    events.emplace_back(s.invoice.number, std::move(e));
  }
  return store_->AddEvents(events);
}

Result<StoredInvoice> Invoicer::IssueLocked(const std::string& account, int64_t period_start,
                                            const pricebook::BillingSnapshot& snap,
                                            const std::string& actor, int64_t now) {
  const tenancy::Account* a = snap.tenancy ? snap.tenancy->FindAccount(account) : nullptr;
  if (a == nullptr) return Status::NotFound("unknown account '" + account + "'");
  METERD_ASSIGN_OR_RETURN(Issuer issuer, IssuerOf(*snap.tenancy, *a));
  METERD_ASSIGN_OR_RETURN(
      StoredInvoice s,
      store_->Issue(account, period_start, Numbering(issuer, InvoiceKind::kInvoice), now));
  METERD_RETURN_IF_ERROR(Book(s, actor, now));
  return store_->Get(s.invoice.number);
}

Result<StoredInvoice> Invoicer::Issue(const std::string& account, int64_t at,
                                      const std::string& actor, int64_t now) {
  std::lock_guard lock(mu_);
  const pricebook::BillingSnapshot snap = snapshot_();
  if (!snap.tenancy) return Status::InvalidArgument("no catalog applied");
  std::vector<AccountRefusal> refused;
  METERD_ASSIGN_OR_RETURN(auto periods,
                          PeriodsOf(*snap.tenancy, ScopeKind::kAccount, account, at, &refused));
  if (!refused.empty()) return Status::InvalidArgument(refused.front().reason);
  const InvoicePeriod& p = periods.front().second;
  if (p.covered) {
    return Status::AlreadyExists("account '" + account + "' is invoiced through " +
                                 HourText(p.last->end));
  }
  return IssueLocked(account, p.start, snap, actor, now);
}

// In batches: each batch's documents are numbered and stored in one transaction (those with
// nothing to book in the ledger closed in it too), their discounts and taxes booked in one
// ledger transaction, then their `booked` events in one more. A crash between them leaves
// documents without `booked`, which Open books.
Result<RunReport> Invoicer::IssueDrafts(ScopeKind scope, const std::string& scope_id, int64_t at,
                                        const std::string& actor, int64_t now) {
  std::lock_guard lock(mu_);
  const pricebook::BillingSnapshot snap = snapshot_();
  if (!snap.tenancy) return Status::InvalidArgument("no catalog applied");
  RunReport rep;
  rep.period_start = pricebook::MonthStart(at);
  rep.period_end = pricebook::NextMonthStart(rep.period_start);
  // Each account's period containing `at` (invoice_period.h), the accounts by period start.
  METERD_ASSIGN_OR_RETURN(auto periods,
                          PeriodsOf(*snap.tenancy, scope, scope_id, at, &rep.refused));
  std::map<int64_t, std::set<std::string, std::less<>>> by_start;
  for (const auto& [a, p] : periods) {
    if (scope == ScopeKind::kAccount) {
      rep.period_start = p.start;
      rep.period_end = p.end;
    }
    if (p.covered) {
      ++rep.already_issued;
    } else {
      by_start[p.start].insert(a->id);
    }
  }
  int64_t period_start = 0;  // of the batch being issued

  std::map<std::string, Result<Issuer>, std::less<>> issuers;  // by domain
  std::vector<InvoiceStore::IssueItem> items;
  auto flush = [&]() -> Status {
    if (items.empty()) return Status::OK();
    auto t1 = Clock::now();
    // Documents with nothing to book are closed in the issuing transaction.
    METERD_ASSIGN_OR_RETURN(
        auto issued, store_->IssueMany(items, period_start, now, [&](const Invoice& inv) {
          return BookingEntries(inv, actor, now).empty() ? BookedEvents(inv, actor, now)
                                                         : std::vector<InvoiceEvent>{};
        }));
    rep.build_ms += MsSince(t1);
    t1 = Clock::now();
    std::vector<ledger::ManualEntry> entries;
    std::vector<std::pair<std::string, InvoiceEvent>> events;
    for (size_t i = 0; i < issued.size(); ++i) {
      if (!issued[i].ok()) {
        if (issued[i].status().code() == Status::Code::kAlreadyExists) {
          ++rep.already_issued;
        } else {
          rep.refused.push_back({items[i].account, std::string(issued[i].status().message())});
        }
        continue;
      }
      StoredInvoice& s = issued[i].value();
      if (!s.booked) {
        for (ledger::ManualEntry& e : BookingEntries(s.invoice, actor, now)) {
          entries.push_back(std::move(e));
        }
        for (InvoiceEvent& e : BookedEvents(s.invoice, actor, now)) {
          if (e.kind == "paid") s.invoice.state = InvoiceState::kPaid;
          events.emplace_back(s.invoice.number, std::move(e));
        }
      }
      rep.invoices.push_back(std::move(s.invoice));
    }
    if (!entries.empty()) METERD_RETURN_IF_ERROR(ledger_->PostMany(entries, now).status());
    METERD_RETURN_IF_ERROR(store_->AddEvents(events));
    rep.store_ms += MsSince(t1);
    items.clear();
    return Status::OK();
  };
  for (const auto& [start, in_scope] : by_start) {
    ListFilter f;
    f.from = start;
    f.to = start + 1;
    if (scope == ScopeKind::kAccount) f.account = scope_id;
    const auto t0 = Clock::now();
    METERD_ASSIGN_OR_RETURN(auto drafts, store_->DraftAccounts(f));
    rep.build_ms += MsSince(t0);  // reading the drafts, then numbering and storing
    period_start = start;
    for (const auto& [account, provisional] : drafts) {
      if (!in_scope.contains(account)) continue;
      if (provisional) {
        rep.refused.push_back({account, "the draft is provisional"});
        continue;
      }
      const tenancy::Account* a = snap.tenancy->FindAccount(account);
      if (a == nullptr) {
        rep.refused.push_back({account, "unknown account"});
        continue;
      }
      auto it = issuers.find(a->domain);
      if (it == issuers.end()) it = issuers.emplace(a->domain, IssuerOf(*snap.tenancy, *a)).first;
      if (!it->second.ok()) {
        rep.refused.push_back({account, std::string(it->second.status().message())});
        continue;
      }
      items.push_back({account, Numbering(*it->second, InvoiceKind::kInvoice)});
      if (items.size() == kIssueBatch) METERD_RETURN_IF_ERROR(flush());
    }
    METERD_RETURN_IF_ERROR(flush());
  }
  return rep;
}

Result<StoredInvoice> Invoicer::Pay(const std::string& number, MicroCredits amount,
                                    const std::string& reference, const std::string& actor,
                                    int64_t now) {
  std::lock_guard lock(mu_);
  if (amount <= 0) return Status::InvalidArgument("a payment must be positive");
  if (reference.empty()) return Status::InvalidArgument("a payment needs a --reference");
  METERD_ASSIGN_OR_RETURN(StoredInvoice s, store_->Get(number));
  for (const InvoiceEvent& e : s.events) {
    if (e.kind == "payment" && e.reference == reference) {
      if (e.amount != amount) {
        return Status::AlreadyExists("payment reference '" + reference +
                                     "' was used with another amount");
      }
      return s;  // the same payment again: already recorded
    }
  }
  if (s.invoice.kind != InvoiceKind::kInvoice) {
    return Status::InvalidArgument(number + " is a credit note, not an invoice");
  }
  if (s.invoice.state == InvoiceState::kVoid) return Status::InvalidArgument(number + " is void");
  if (s.invoice.state == InvoiceState::kPaid) return Status::InvalidArgument(number + " is paid");
  ledger::ManualEntry e;
  e.account = s.invoice.account;
  e.kind = ledger::EntryKind::kPayment;
  e.amount = amount;
  e.reference = reference;
  e.actor = actor;
  e.reason = "payment of invoice " + number;
  e.at = now;
  METERD_RETURN_IF_ERROR(ledger_->Post(e, now).status());
  METERD_RETURN_IF_ERROR(
      store_->AddEvent(number, InvoiceEvent{0, "payment", amount, reference, actor, "", now}));
  if (s.paid + amount >= s.invoice.amount_due.micro - s.credited) {
    METERD_RETURN_IF_ERROR(store_->AddEvent(
        number, InvoiceEvent{0, "paid", 0, reference, actor, "paid in full", now}));
  }
  return Settled(number, now);
}

Result<StoredInvoice> Invoicer::MarkPaid(const std::string& number, const std::string& reference,
                                         const std::string& actor, int64_t now) {
  MicroCredits rest = 0;
  {
    std::lock_guard lock(mu_);
    METERD_ASSIGN_OR_RETURN(StoredInvoice s, store_->Get(number));
    if (s.invoice.state == InvoiceState::kPaid) return s;
    if (s.invoice.state == InvoiceState::kVoid) return Status::InvalidArgument(number + " is void");
    rest = s.invoice.amount_due.micro - s.credited - s.paid;
    if (rest <= 0) {
      METERD_RETURN_IF_ERROR(store_->AddEvent(
          number, InvoiceEvent{0, "paid", 0, reference, actor, "marked paid", now}));
      return Settled(number, now);
    }
  }
  return Pay(number, rest, reference, actor, now);
}

Result<StoredInvoice> Invoicer::Void(const std::string& number, const std::string& reason,
                                     const std::string& actor, int64_t now) {
  std::lock_guard lock(mu_);
  if (reason.empty()) return Status::InvalidArgument("voiding needs a --reason");
  METERD_ASSIGN_OR_RETURN(StoredInvoice s, store_->Get(number));
  const Invoice& inv = s.invoice;
  if (inv.kind != InvoiceKind::kInvoice) {
    return Status::InvalidArgument(number + " is a credit note: it cannot be voided");
  }
  if (inv.state == InvoiceState::kVoid) return s;
  if (s.paid > 0 || s.credited > 0) {
    return Status::InvalidArgument(number +
                                   " has payments or credit notes: correct it with a credit note");
  }
  METERD_ASSIGN_OR_RETURN(auto last, store_->LastCoverage(inv.account));
  if (last && last->first > inv.period_start) {
    return Status::InvalidArgument("account '" + inv.account +
                                   "' has a later invoice: void that one first, or issue a "
                                   "credit note for " +
                                   number);
  }
  auto post = [&](ledger::EntryKind kind, MicroCredits amount, const char* suffix,
                  const std::string& why) -> Status {
    if (amount == 0) return Status::OK();
    ledger::ManualEntry e;
    e.account = inv.account;
    e.kind = kind;
    e.amount = amount;
    e.reference = "invoice:" + number + suffix;
    e.actor = actor;
    e.reason = why;
    e.at = now;
    return ledger_->Post(e, now).status();
  };
  METERD_RETURN_IF_ERROR(post(ledger::EntryKind::kAdjustment, -inv.discount_total.micro,
                              ":void:discounts", "invoice " + number + " void: " + reason));
  METERD_RETURN_IF_ERROR(post(ledger::EntryKind::kCredit, inv.tax_total.micro, ":void:taxes",
                              "invoice " + number + " void: " + reason));
  METERD_RETURN_IF_ERROR(
      store_->AddEvent(number, InvoiceEvent{0, "void", 0, "", actor, reason, now}));
  return Settled(number, now);
}

Result<StoredInvoice> Invoicer::CreditNote(const std::string& number, MicroCredits amount,
                                           const std::string& reason, const std::string& actor,
                                           int64_t now) {
  std::lock_guard lock(mu_);
  if (amount <= 0) return Status::InvalidArgument("a credit note's amount must be positive");
  if (reason.empty()) return Status::InvalidArgument("a credit note needs a --reason");
  METERD_ASSIGN_OR_RETURN(StoredInvoice s, store_->Get(number));
  const Invoice& inv = s.invoice;
  if (inv.kind != InvoiceKind::kInvoice) {
    return Status::InvalidArgument(number + " is a credit note");
  }
  if (inv.state == InvoiceState::kVoid) return Status::InvalidArgument(number + " is void");
  if (amount > inv.total.micro - s.credited) {
    return Status::InvalidArgument("the credit (" + pricebook::FormatCredits(amount) +
                                   ") exceeds what is left of " + number + "'s total (" +
                                   pricebook::FormatCredits(inv.total.micro - s.credited) + ")");
  }
  const pricebook::BillingSnapshot snap = snapshot_();
  const tenancy::Account* a = snap.tenancy ? snap.tenancy->FindAccount(inv.account) : nullptr;
  if (a == nullptr) return Status::NotFound("unknown account '" + inv.account + "'");
  METERD_ASSIGN_OR_RETURN(Issuer issuer, IssuerOf(*snap.tenancy, *a));
  Invoice note;
  note.kind = InvoiceKind::kCreditNote;
  note.account = inv.account;
  note.account_name = inv.account_name;
  note.domain = inv.domain;
  note.domain_name = inv.domain_name;
  note.issuer = inv.issuer;
  note.customer = inv.customer;
  note.period_start = inv.period_start;
  note.period_end = inv.period_end;
  note.time_zone = inv.time_zone;
  note.cycle = inv.cycle;
  note.price_version = inv.price_version;
  note.currency = inv.currency;
  note.rounding = inv.rounding;
  note.created_at = now;
  note.credit_note_for = number;
  note.reason = reason;
  const pricebook::Currency currency = CurrencyOf(inv.currency);
  const auto mode = pricebook::ParseRoundingMode(inv.rounding);
  METERD_ASSIGN_OR_RETURN(
      int64_t minor,
      pricebook::ToMinorUnits(amount, currency, mode.value_or(pricebook::RoundingMode::kHalfEven)));
  InvoiceLine l;
  l.kind = LineKind::kAdjustment;
  l.group = "Credit";
  l.description = "Credit for invoice " + number + ": " + reason;
  l.quantity = "1";
  l.unit_price = amount;
  l.amount = {amount, minor};
  note.lines.push_back(l);
  note.groups.push_back(GroupSubtotal{"Credit", l.amount});
  note.subtotal = note.total = l.amount;
  note.prepaid_applied = l.amount;  // credited to the account's balance
  METERD_ASSIGN_OR_RETURN(
      StoredInvoice cn,
      store_->IssueCreditNote(note, number, Numbering(issuer, InvoiceKind::kCreditNote), now));
  METERD_RETURN_IF_ERROR(Book(cn, actor, now));
  METERD_RETURN_IF_ERROR(Settled(number, now).status());
  return store_->Get(cn.invoice.number);
}

Result<StoredInvoice> Invoicer::Settled(const std::string& number, int64_t now) {
  METERD_ASSIGN_OR_RETURN(StoredInvoice s, store_->Get(number));
  METERD_RETURN_IF_ERROR(ReleaseIfSettled(ledger_, s, now, now));
  return s;
}

}  // namespace meterd::engine::invoicing
