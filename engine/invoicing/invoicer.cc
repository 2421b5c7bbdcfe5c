// meterd — engine/invoicing/invoicer.cc
#include "engine/invoicing/invoicer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "engine/invoicing/collections.h"
#include "engine/invoicing/discounts.h"
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

// Invoices follow the clock's UTC calendar months today (invoicer.h).
Status CheckCycle(const tenancy::Tenancy& t, const tenancy::Account& a) {
  const tenancy::BillingProfile* p = t.FindBillingProfile(a.id);
  if (p == nullptr) return Status::OK();
  if (p->cycle.kind == cycles::CycleKind::kMonthly && p->time_zone == "UTC") return Status::OK();
  return Status::NotSupported("account '" + a.id + "' bills on a " +
                              std::string(cycles::CycleKindName(p->cycle.kind)) + " cycle in " +
                              p->time_zone +
                              ": invoices follow the billing clock's calendar months in UTC "
                              "today (docs/invoices.md, \"Cycles\")");
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
  const int64_t start = rep.period_start, end = rep.period_end;

  // Every hour of the period must be booked by the clock (else the drafts are provisional).
  const std::optional<int64_t> next = ledger_->NextHour();
  for (int64_t h = std::max(start, next.value_or(start)); h < end; h += kHour) {
    rep.open_hours.push_back(h);
  }
  if (!rep.open_hours.empty() && !req.provisional) {
    return Status::InvalidArgument(
        "the period " + PeriodText(start, end) + " has " + std::to_string(rep.open_hours.size()) +
        " hours the billing clock has not booked yet (" + HourText(rep.open_hours.front()) +
        " to " + HourText(rep.open_hours.back() + kHour) +
        "); run it once they are closed, or with --provisional for a draft that cannot be issued");
  }
  const pricebook::PriceBookVersion* version = snap.price_book->VersionAt(end - 1);
  if (version == nullptr) version = snap.price_book->Latest();

  METERD_ASSIGN_OR_RETURN(std::vector<const tenancy::Account*> accounts,
                          AccountsOf(t, req.scope, req.scope_id));
  std::vector<std::string> ids;
  if (req.scope == ScopeKind::kAccount) ids.push_back(req.scope_id);

  auto t0 = Clock::now();
  // The clock bills from its start: a period it started in is invoiced from there.
  const int64_t from = std::clamp(ledger_->ClockStart().value_or(start), start, end);
  METERD_ASSIGN_OR_RETURN(auto rated, rate_(from, end, ids));
  METERD_ASSIGN_OR_RETURN(auto watermarks, ledger_->BilledWithWatermarks(start));
  rep.rate_ms = MsSince(t0);

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
      if (Status s = CheckCycle(t, *a); !s.ok()) {
        if (attempt == 0) rep.refused.push_back({a->id, std::string(s.message())});
        continue;
      }
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

  std::vector<std::pair<Invoice, Coverage>> drafts;
  drafts.reserve(pending.size());
  for (Pending& p : pending) {
    const tenancy::Account* a = p.account;
    Coverage& coverage = p.coverage;
    std::map<int64_t, MicroCredits> revisions;
    if (auto it = adjustments.find(a->id); it != adjustments.end()) revisions = it->second;
    for (const auto& [month, amount] : revisions) coverage.months[month] += amount;
    if (p.lines.empty() && revisions.empty()) {
      ++rep.nothing_to_invoice;
      continue;
    }

    BuildInput in;
    Invoice& h = in.header;
    h.kind = InvoiceKind::kInvoice;
    h.state = InvoiceState::kDraft;
    h.provisional = !rep.open_hours.empty();
    h.account = a->id;
    h.account_name = a->name;
    h.domain = a->domain;
    if (const tenancy::Domain* d = t.FindDomain(a->domain)) h.domain_name = d->name;
    const tenancy::BillingProfile* profile = t.FindBillingProfile(a->id);
    h.customer.name = a->name.empty() ? a->id : a->name;
    if (profile != nullptr) {
      h.customer.address = profile->address;
      h.customer.country = profile->country;
      h.customer.vat_number = profile->vat_number;
    }
    const std::vector<std::string> emails = ledger_->NotifyEmails(a->id);
    if (!emails.empty()) h.customer.email = emails.front();
    Result<Issuer> issuer = IssuerOf(t, *a);
    if (!issuer.ok()) {
      rep.refused.push_back({a->id, std::string(issuer.status().message())});
      continue;
    }
    h.issuer = issuer->party;
    h.period_start = start;
    h.period_end = end;
    h.time_zone = profile != nullptr ? profile->time_zone : "UTC";
    h.cycle = "monthly";
    h.price_version = version->version;
    h.created_at = req.now;
    const std::string currency_code =
        profile != nullptr && !profile->currency.empty() ? profile->currency : a->currency;
    in.currency = version->DisplayCurrency(currency_code);
    in.rounding = version->rounding;
    in.rated = std::move(p.lines);
    in.revisions = std::move(revisions);
    in.balance = p.balance;
    if (auto it = grants_used.find(a->id); it != grants_used.end()) in.grants_used = it->second;
    // Discounts and coupons of the account (discounts.h), over its cycle in its zone.
    const cycles::Cycle cycle = profile != nullptr ? profile->cycle : cycles::Cycle{};
    auto zone = cycles::TimeZone::Find(h.time_zone);
    if (!zone.ok()) {
      rep.refused.push_back({a->id, std::string(zone.status().message())});
      continue;
    }
    in.discounts = [&](const std::vector<InvoiceLine>& l) {
      return ComputeDiscounts(t.discount_catalog(), a->id, cycle, *zone, start, end, l,
                              version->rounding);
    };
    // Taxes of the domain's settings (taxes.h); none when the catalog configures no tax.
    if (!t.tax_settings().empty() || !t.tax_table().rates.empty()) {
      in.taxes = [&](MicroCredits base,
                     std::vector<std::string>* notes) -> Result<std::vector<TaxLine>> {
        METERD_ASSIGN_OR_RETURN(TaxContext ctx, CustomerTaxContext(t, a->id, end - 1));
        ctx.prepaid = ledger_->Resolve(a->id).mode == ledger::BillingMode::kPrepaid;
        const tenancy::TaxSettings& settings = t.TaxSettingsFor(a->domain);
        METERD_ASSIGN_OR_RETURN(
            std::vector<TaxLine> lines,
            ComputeTaxes(t.tax_table(), settings, ctx, base, version->rounding));
        for (std::string& n : TaxNotes(settings, ctx, lines)) notes->push_back(std::move(n));
        return lines;
      };
    }
    Result<Invoice> built = BuildInvoice(in);
    if (!built.ok()) {
      rep.refused.push_back({a->id, std::string(built.status().message())});
      continue;
    }
    drafts.emplace_back(std::move(built).value(), std::move(coverage));
  }
  rep.build_ms = MsSince(t0);

  t0 = Clock::now();
  METERD_RETURN_IF_ERROR(store_->PutDrafts(drafts));
  rep.store_ms = MsSince(t0);
  rep.drafts = drafts.size();
  rep.invoices.reserve(drafts.size());
  for (auto& [inv, coverage] : drafts) rep.invoices.push_back(std::move(inv));
  return rep;
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
  return IssueLocked(account, pricebook::MonthStart(at), snapshot_(), actor, now);
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
  METERD_ASSIGN_OR_RETURN(std::vector<const tenancy::Account*> accounts,
                          AccountsOf(*snap.tenancy, scope, scope_id));
  std::set<std::string, std::less<>> in_scope;
  for (const tenancy::Account* a : accounts) in_scope.insert(a->id);
  ListFilter f;
  f.from = rep.period_start;
  f.to = rep.period_start + 1;
  if (scope == ScopeKind::kAccount) f.account = scope_id;
  const auto t0 = Clock::now();
  METERD_ASSIGN_OR_RETURN(auto drafts, store_->DraftAccounts(f));
  rep.build_ms = MsSince(t0);  // reading the drafts, then numbering and storing

  std::map<std::string, Result<Issuer>, std::less<>> issuers;  // by domain
  std::vector<InvoiceStore::IssueItem> items;
  auto flush = [&]() -> Status {
    if (items.empty()) return Status::OK();
    auto t1 = Clock::now();
    // Documents with nothing to book are closed in the issuing transaction.
    METERD_ASSIGN_OR_RETURN(
        auto issued, store_->IssueMany(items, rep.period_start, now, [&](const Invoice& inv) {
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
