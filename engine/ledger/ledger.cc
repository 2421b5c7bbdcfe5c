// meterd — engine/ledger/ledger.cc: posting manual entries, booking closed hours, settings
// and reads. Every change is one transaction: entries, states and events are
// written, committed (synchronous=FULL), and only then published to the in-memory books.
#include "engine/ledger/ledger.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/events/email_address.h"
#include "engine/events/event_log.h"
#include "engine/ledger/ledger_impl.h"
#include "engine/pricebook/money.h"
#include "engine/pricebook/pricing.h"

namespace meterd::engine::ledger {

using tenancy::Statement;
using tenancy::Transaction;

const char* EntryKindName(EntryKind k) {
  switch (k) {
    case EntryKind::kTopUp:
      return "topup";
    case EntryKind::kPayment:
      return "payment";
    case EntryKind::kUsage:
      return "usage";
    case EntryKind::kFee:
      return "fee";
    case EntryKind::kAdjustment:
      return "adjustment";
    case EntryKind::kRefund:
      return "refund";
    case EntryKind::kCredit:
      return "credit";
    case EntryKind::kGrant:
      return "grant";
    case EntryKind::kGrantExpiry:
      return "grant_expiry";
  }
  return "adjustment";
}

std::optional<EntryKind> ParseEntryKind(std::string_view name) {
  for (int k = 1; k <= 9; ++k) {
    if (name == EntryKindName(static_cast<EntryKind>(k))) return static_cast<EntryKind>(k);
  }
  return std::nullopt;
}

namespace {

constexpr std::string_view kClockActor = "billing-clock";

// The clock's reason for each kind it books.
std::string_view ClockReason(EntryKind kind) {
  switch (kind) {
    case EntryKind::kAdjustment:
      return "usage revised after it was billed";
    case EntryKind::kUsage:
      return "hourly usage";
    case EntryKind::kFee:
      return "subscription fees";
    default:
      return "";
  }
}

// Clock entries written per INSERT statement (multi-row VALUES): 3 shared parameters and 7
// per row, well under SQLite's 32,766.
constexpr size_t kRowsPerInsert = 128;

// The statements one change uses, prepared once per transaction.
//
// Entry ids are assigned here, not by SQLite: the next id is read once per transaction
// (write_mu held, so nothing else inserts) and every insert names its id, so that an entry's
// id is known before its row is written. That lets the clock's entries of an hour go in
// multi-row INSERTs (one statement per kRowsPerInsert rows) instead of one `RETURNING id`
// statement each. Ids stay ascending in the order entries are added, as before; an explicit
// id above the AUTOINCREMENT sequence moves the sequence too.
class Writer {
 public:
  static Result<Writer> Make(Transaction& txn) {
    int64_t last_id = 0;
    {
      METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
        SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'ledger_entries'), 0),
                   COALESCE((SELECT MAX(id) FROM ledger_entries), 0)))sql"));
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (row && !st.IsNull(0)) last_id = st.Int(0);
    }
    METERD_ASSIGN_OR_RETURN(Statement insert, txn.Prepare(R"sql(
      INSERT INTO ledger_entries (id, account, kind, amount, at, hour, month, grant_id, reference,
        expires_at, currency, currency_amount, actor, reason, created_at)
      VALUES (?15, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14))sql"));
    METERD_ASSIGN_OR_RETURN(Statement state, txn.Prepare(R"sql(
      INSERT INTO account_states (account, state, balance, entry_id, at)
      VALUES (?1, ?2, ?3, ?4, ?5))sql"));
    METERD_ASSIGN_OR_RETURN(Statement account, txn.Prepare(R"sql(
      INSERT OR IGNORE INTO ledger_accounts (account, first_entry) VALUES (?1, ?2))sql"));
    return Writer(&txn, last_id + 1, std::move(insert), std::move(state), std::move(account));
  }

  // Inserts `e` (its id is set) and applies it to `book`.
  Status Add(Entry* e, Book* book) {
    METERD_RETURN_IF_ERROR(Flush());  // ids ascend in insertion order
    Statement& st = insert_;
    e->id = next_id_++;
    st.Bind(1, e->account).Bind(2, EntryKindName(e->kind)).Bind(3, e->amount).Bind(4, e->at);
    st.BindOptional(5, e->hour).BindOptional(6, e->month);
    if (e->grant_id) {
      st.Bind(7, e->grant_id);
    } else {
      st.BindNull(7);
    }
    if (e->reference.empty()) {
      st.BindNull(8);
    } else {
      st.Bind(8, e->reference);
    }
    if (e->kind == EntryKind::kGrant) {
      st.Bind(9, e->expires_at);
    } else {
      st.BindNull(9);
    }
    st.Bind(10, e->currency).Bind(11, e->currency_amount).Bind(12, e->actor);
    st.Bind(13, e->reason).Bind(14, e->created_at).Bind(15, e->id);
    METERD_RETURN_IF_ERROR(st.Run());
    METERD_RETURN_IF_ERROR(st.Reset());
    return Applied(e->account, e->id, e->amount, book);
  }

  // One clock entry of the hour being booked (SetClockHour): its row is written with the next
  // kRowsPerInsert - 1 others in one statement (or by Flush), and applied to `book` now.
  // REQUIRES: `account` outlives the Writer's next Flush.
  Status AddClock(std::string_view account, EntryKind kind, MicroCredits amount, int64_t month,
                  int64_t grant_id, Book* book) {
    const int64_t id = next_id_++;
    pending_.push_back(ClockRow{id, account, kind, amount, month, grant_id});
    if (pending_.size() == kRowsPerInsert) METERD_RETURN_IF_ERROR(Flush());
    return Applied(account, id, amount, book);
  }

  // The columns every clock entry of this change shares. REQUIRES: before AddClock.
  void SetClockHour(int64_t hour, int64_t created_at) {
    clock_hour_ = hour;
    clock_created_at_ = created_at;
  }

  // Writes the clock entries not written yet. Call before committing.
  Status Flush() {
    size_t done = 0;
    while (done < pending_.size()) {
      const size_t n = pending_.size() - done >= kRowsPerInsert ? kRowsPerInsert : 1;
      Statement* st = nullptr;
      std::optional<Statement>& slot = n == kRowsPerInsert ? many_ : one_;
      if (!slot) {
        Result<Statement> prepared = PrepareClockInsert(n);
        if (!prepared.ok()) return prepared.status();
        slot.emplace(std::move(prepared).value());
      }
      st = &*slot;
      st->Bind(1, clock_hour_).BindStatic(2, kClockActorText).Bind(3, clock_created_at_);
      for (size_t i = 0; i < n; ++i) {
        const ClockRow& r = pending_[done + i];
        const int p = 4 + static_cast<int>(i) * 7;
        st->Bind(p, r.id).BindStatic(p + 1, r.account).BindStatic(p + 2, EntryKindName(r.kind));
        st->Bind(p + 3, r.amount).Bind(p + 4, r.month);
        if (r.grant_id != 0) {
          st->Bind(p + 5, r.grant_id);
        } else {
          st->BindNull(p + 5);
        }
        st->BindStatic(p + 6, ClockReason(r.kind));
      }
      METERD_RETURN_IF_ERROR(st->Run());
      METERD_RETURN_IF_ERROR(st->Reset());
      done += n;
    }
    pending_.clear();
    return Status::OK();
  }

  // Moves `book` to the state its balance calls for; records the state and its events.
  Status Thresholds(std::string_view account, Book* book, const ResolvedSettings& settings,
                    int64_t at, std::vector<std::string>* emitted) {
    // A held account stays suspended whatever its balance (Ledger::SetHold).
    const AccountState next = book->holds > 0 ? AccountState::kSuspended
                                              : NextState(book->state, book->balance, settings);
    if (next == book->state) return Status::OK();
    METERD_RETURN_IF_ERROR(Flush());  // the state names an entry id: keep rows in id order
    for (std::string_view kind : TransitionEvents(book->state, next, settings)) {
      events::Event ev;
      ev.account = std::string(account);
      ev.kind = std::string(kind);
      ev.at = at;
      nlohmann::json payload = {{"balance", pricebook::FormatCredits(book->balance)},
                                {"balance_micro", book->balance},
                                {"state", AccountStateName(next)},
                                {"previous_state", AccountStateName(book->state)},
                                {"mode", BillingModeName(settings.mode)},
                                {"credit_limit", pricebook::FormatCredits(settings.credit_limit)},
                                {"entry_id", book->last_entry}};
      if (settings.low_balance) {
        payload["low_balance"] = pricebook::FormatCredits(*settings.low_balance);
      }
      ev.payload = payload.dump();
      METERD_RETURN_IF_ERROR(events::EventLog::Append(*txn_, ev).status());
      if (emitted) emitted->push_back(ev.kind);
      ++events_;
    }
    state_.Bind(1, account).Bind(2, AccountStateName(next)).Bind(3, book->balance);
    state_.Bind(4, book->last_entry).Bind(5, at);
    METERD_RETURN_IF_ERROR(state_.Run());
    METERD_RETURN_IF_ERROR(state_.Reset());
    book->state = next;
    return Status::OK();
  }

  size_t entries() const { return entries_; }
  size_t events() const { return events_; }

 private:
  static constexpr std::string_view kClockActorText = kClockActor;
  struct ClockRow {
    int64_t id;
    std::string_view account;
    EntryKind kind;
    MicroCredits amount;
    int64_t month;
    int64_t grant_id;
  };

  Writer(Transaction* txn, int64_t next_id, Statement insert, Statement state, Statement account)
      : txn_(txn),
        next_id_(next_id),
        insert_(std::move(insert)),
        state_(std::move(state)),
        account_(std::move(account)) {}

  // INSERT of `rows` clock entries: ?1 hour (and at), ?2 actor, ?3 created_at; then per row
  // id, account, kind, amount, month, grant_id, reason.
  Result<Statement> PrepareClockInsert(size_t rows) {
    std::string sql =
        "INSERT INTO ledger_entries (id, account, kind, amount, at, hour, month, grant_id, "
        "reference, expires_at, currency, currency_amount, actor, reason, created_at) VALUES ";
    for (size_t i = 0; i < rows; ++i) {
      const int p = 4 + static_cast<int>(i) * 7;
      auto q = [](int n) { return "?" + std::to_string(n); };
      sql += (i ? ",(" : "(") + q(p) + "," + q(p + 1) + "," + q(p + 2) + "," + q(p + 3) +
             ",?1,?1," + q(p + 4) + "," + q(p + 5) + ",NULL,NULL,'',''," + "?2," + q(p + 6) +
             ",?3)";
    }
    return txn_->Prepare(sql);
  }

  // Applies a written (or pending) entry to the account's book.
  Status Applied(std::string_view account, int64_t id, MicroCredits amount, Book* book) {
    if (book->last_entry == 0) {  // the account's first entry: list the account (Load reads it)
      account_.Bind(1, account).Bind(2, id);
      METERD_RETURN_IF_ERROR(account_.Run());
      METERD_RETURN_IF_ERROR(account_.Reset());
    }
    book->balance += amount;
    book->last_entry = id;
    ++entries_;
    return Status::OK();
  }

  Transaction* txn_;
  int64_t next_id_;
  Statement insert_, state_, account_;
  std::optional<Statement> many_, one_;  // clock inserts of kRowsPerInsert rows and of one
  std::vector<ClockRow> pending_;
  int64_t clock_hour_ = 0, clock_created_at_ = 0;
  size_t entries_ = 0, events_ = 0;
};

// A kept month-to-date state is written in parts of at most this many bytes (SQLite's limit
// on one value is 1e9 by default; parts also keep each row's write moderate).
constexpr size_t kStatePartBytes = size_t{64} << 20;

// Replaces the kept month-to-date state (docs/ledger.md, "Month-to-date state"): the latest
// only, written in the caller's transaction.
Status WriteClockState(Transaction& txn, const ClockState& state, int64_t now) {
  METERD_RETURN_IF_ERROR(txn.Exec("DELETE FROM clock_month_state"));
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    INSERT INTO clock_month_state (through, part, parts, month, revision_mark, data, created_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7))sql"));
  const std::string_view data = state.data;
  const size_t parts = std::max<size_t>(1, (data.size() + kStatePartBytes - 1) / kStatePartBytes);
  for (size_t p = 0; p < parts; ++p) {
    st.Bind(1, state.through).Bind(2, static_cast<int64_t>(p)).Bind(3, static_cast<int64_t>(parts));
    st.Bind(4, state.month).Bind(5, state.revision_mark);
    st.BindBlobStatic(6, data.substr(std::min(data.size(), p * kStatePartBytes), kStatePartBytes));
    st.Bind(7, now);
    METERD_RETURN_IF_ERROR(st.Run());
    METERD_RETURN_IF_ERROR(st.Reset());
  }
  return Status::OK();
}

bool SameManual(const Entry& e, const ManualEntry& m, MicroCredits signed_amount) {
  return e.account == m.account && e.kind == m.kind && e.amount == signed_amount;
}

Status ValidateManual(const ManualEntry& m) {
  switch (m.kind) {
    case EntryKind::kUsage:
    case EntryKind::kFee:
    case EntryKind::kGrantExpiry:
      return Status::InvalidArgument(std::string(EntryKindName(m.kind)) +
                                     " entries are booked by the billing clock only");
    case EntryKind::kAdjustment:
      if (m.amount == 0) return Status::InvalidArgument("an adjustment must not be zero");
      break;
    default:
      if (m.amount <= 0) {
        return Status::InvalidArgument(std::string("the amount of a ") + EntryKindName(m.kind) +
                                       " must be positive");
      }
  }
  if ((m.kind == EntryKind::kTopUp || m.kind == EntryKind::kPayment) && m.reference.empty()) {
    return Status::InvalidArgument(std::string("a ") + EntryKindName(m.kind) +
                                   " needs a reference (the payment's id: it makes the entry "
                                   "idempotent)");
  }
  if (m.reason.empty() && m.kind != EntryKind::kTopUp && m.kind != EntryKind::kPayment) {
    return Status::InvalidArgument(std::string("a ") + EntryKindName(m.kind) + " needs a reason");
  }
  if (m.kind == EntryKind::kGrant && m.expires_at <= m.at) {
    return Status::InvalidArgument("a grant needs an expiry after it is granted");
  }
  if (m.kind != EntryKind::kGrant && m.expires_at != 0) {
    return Status::InvalidArgument("only a grant has an expiry");
  }
  if (m.kind != EntryKind::kTopUp && !m.taxes.empty()) {
    return Status::InvalidArgument("only a top-up carries taxes");
  }
  if (m.actor.empty()) return Status::InvalidArgument("a manual entry needs its actor");
  return Status::OK();
}

}  // namespace

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;

Result<std::unique_ptr<Ledger>> Ledger::Open(tenancy::BillingDb* db, events::EventLog* events,
                                             TenancySource tenancy) {
  auto impl = std::make_unique<Impl>();
  impl->db = db;
  impl->events = events;
  impl->tenancy = std::move(tenancy);
  // A closed hour writes one entry per account into two indexes keyed by account: with
  // SQLite's default 2 MB page cache, 100,000 accounts' index pages spill to the WAL many
  // times within the one transaction (~1.6 GB written per hour). A cache that holds an hour's
  // index pages writes each page once. A limit, not an allocation: pages are cached as used.
  {
    METERD_ASSIGN_OR_RETURN(tenancy::Transaction txn, db->Begin());
    METERD_RETURN_IF_ERROR(txn.Exec("PRAGMA cache_size=" + std::to_string(-kPageCacheKiB)));
    METERD_RETURN_IF_ERROR(txn.Commit());
  }
  METERD_RETURN_IF_ERROR(impl->Load());
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

namespace {

// An account's settings scopes from the most specific: the account, its domain and the
// domain's ancestors, "*".
std::vector<std::string> ScopesOf(std::string_view account, const tenancy::Tenancy* t) {
  std::vector<std::string> scopes = {"account:" + std::string(account)};
  if (t != nullptr) {
    const tenancy::Account* a = t->FindAccount(account);
    std::string domain = a ? a->domain : "";
    for (int depth = 0; !domain.empty() && depth < 64; ++depth) {
      scopes.push_back("domain:" + domain);
      const tenancy::Domain* d = t->FindDomain(domain);
      domain = d ? d->parent : "";
    }
  }
  scopes.push_back("*");
  return scopes;
}

}  // namespace

ResolvedSettings Ledger::Impl::ResolveLocked(std::string_view account,
                                             const tenancy::Tenancy* t) const {
  // Nothing set below the global scope (the common case): no scope list to build.
  const bool global_only = GlobalOnlyLocked();
  const std::vector<std::string> scopes =
      global_only ? std::vector<std::string>{"*"} : ScopesOf(account, t);
  ResolvedSettings r;
  bool mode = false, low = false, limit = false, hyst = false;
  for (const std::string& scope : scopes) {
    auto it = settings.find(scope);
    if (it == settings.end()) continue;
    const SettingsChange& v = it->second.values;
    if (!mode && v.mode) r.mode = *v.mode, mode = true;
    if (!low && v.low_balance) {
      if (*v.low_balance != kNoLowBalance) r.low_balance = *v.low_balance;
      low = true;
    }
    if (!limit && v.credit_limit) r.credit_limit = *v.credit_limit, limit = true;
    if (!hyst && v.hysteresis) r.hysteresis = *v.hysteresis, hyst = true;
  }
  return r;
}

ResolvedSettings Ledger::Resolve(std::string_view account) const {
  auto t = impl_->tenancy ? impl_->tenancy() : nullptr;
  std::shared_lock lock(impl_->mu);
  return impl_->ResolveLocked(account, t.get());
}

std::vector<std::string> Ledger::NotifyEmails(std::string_view account) const {
  auto t = impl_->tenancy ? impl_->tenancy() : nullptr;
  const std::vector<std::string> scopes = ScopesOf(account, t.get());
  std::shared_lock lock(impl_->mu);
  for (const std::string& scope : scopes) {
    auto it = impl_->settings.find(scope);
    if (it == impl_->settings.end() || !it->second.values.notify_email) continue;
    // Stored normalised by SetSettings; a row that no longer parses mails nobody.
    auto list = events::ParseAddressList(*it->second.values.notify_email);
    return list.ok() ? std::move(list).value() : std::vector<std::string>{};
  }
  return {};
}

CollectionPolicy Ledger::Collections(std::string_view account) const {
  auto t = impl_->tenancy ? impl_->tenancy() : nullptr;
  const std::vector<std::string> scopes = ScopesOf(account, t.get());
  CollectionPolicy p;
  bool days = false, limit = false;
  std::shared_lock lock(impl_->mu);
  for (const std::string& scope : scopes) {
    auto it = impl_->settings.find(scope);
    if (it == impl_->settings.end()) continue;
    const SettingsChange& v = it->second.values;
    if (!days && v.reminder_days) {
      // Stored normalised by SetSettings; a row that no longer parses reminds nobody.
      auto list = ParseReminderDays(*v.reminder_days);
      if (list.ok()) p.reminder_days = std::move(list).value();
      days = true;
    }
    if (!limit && v.overdue_days) {
      if (*v.overdue_days != kNoOverdueLimit) p.overdue_days = *v.overdue_days;
      limit = true;
    }
  }
  return p;
}

Result<PostResult> Ledger::Post(const ManualEntry& m_in, int64_t now) {
  METERD_ASSIGN_OR_RETURN(std::vector<PostResult> out, PostMany({m_in}, now));
  return std::move(out.front());
}

Result<std::vector<PostResult>> Ledger::PostMany(const std::vector<ManualEntry>& entries,
                                                 int64_t now) {
  auto t = impl_->tenancy ? impl_->tenancy() : nullptr;
  std::vector<ManualEntry> ms = entries;
  for (ManualEntry& m : ms) {
    if (m.at == 0) m.at = now;
    METERD_RETURN_IF_ERROR(ValidateManual(m));
    if (t == nullptr || t->FindAccount(m.account) == nullptr) {
      return Status::NotFound("unknown account '" + m.account + "'");
    }
  }

  std::lock_guard write(impl_->write_mu);
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  METERD_ASSIGN_OR_RETURN(Statement by_reference,
                          txn.Prepare("SELECT " + std::string(kEntryColumns) +
                                      " FROM ledger_entries WHERE reference = ?1"));
  METERD_ASSIGN_OR_RETURN(Writer w, Writer::Make(txn));
  // Each account's book as the batch leaves it (the live one untouched until the commit).
  AccountMap<Book> staged;
  std::vector<PostResult> out(ms.size());
  std::vector<bool> duplicate(ms.size(), false);
  std::map<std::string, size_t, std::less<>> batch_references;  // reference -> index
  for (size_t i = 0; i < ms.size(); ++i) {
    const ManualEntry& m = ms[i];
    const MicroCredits amount = m.kind == EntryKind::kRefund ? -m.amount : m.amount;
    if (!m.reference.empty()) {
      // Booked before, or earlier in this batch: the first entry stands (invariant 4).
      std::optional<Entry> first;
      if (auto it = batch_references.find(m.reference); it != batch_references.end()) {
        first = out[it->second].entry;
      } else {
        by_reference.Bind(1, m.reference);
        METERD_ASSIGN_OR_RETURN(bool row, by_reference.Step());
        if (row) first = EntryFromRow(by_reference);
        METERD_RETURN_IF_ERROR(by_reference.Reset());
      }
      if (first) {
        if (!SameManual(*first, m, amount)) {
          return Status::AlreadyExists(
              "reference '" + m.reference + "' was already used for " + EntryKindName(first->kind) +
              " entry " + std::to_string(first->id) + " of account '" + first->account + "' (" +
              pricebook::FormatCredits(first->amount) + " credits)");
        }
        out[i].entry = std::move(*first);
        out[i].duplicate = true;
        duplicate[i] = true;
        continue;
      }
    }
    auto sb = staged.find(m.account);
    ResolvedSettings settings;
    {
      std::shared_lock lock(impl_->mu);
      if (sb == staged.end()) {
        auto live = impl_->books.find(m.account);
        sb = staged.emplace(m.account, live != impl_->books.end() ? live->second : Book{}).first;
      }
      settings = impl_->ResolveLocked(m.account, t.get());
    }
    Book& book = sb->second;
    if (m.kind == EntryKind::kRefund) {
      const MicroCredits paid = book.balance - book.GrantTotal();
      if (m.amount > paid) {
        return Status::InvalidArgument(
            "a refund of " + pricebook::FormatCredits(m.amount) +
            " credits exceeds the paid credit of account '" + m.account + "' (" +
            pricebook::FormatCredits(std::max<MicroCredits>(paid, 0)) + ")");
      }
    }
    Entry e;
    e.account = m.account;
    e.kind = m.kind;
    e.amount = amount;
    e.at = m.at;
    e.reference = m.reference;
    e.expires_at = m.expires_at;
    e.currency = m.currency;
    e.currency_amount = m.currency_amount;
    e.actor = m.actor;
    e.reason = m.reason;
    e.created_at = now;
    METERD_RETURN_IF_ERROR(w.Add(&e, &book));
    if (!m.taxes.empty()) {
      // In the entry's transaction: a top-up is never stored without its taxes.
      METERD_ASSIGN_OR_RETURN(Statement tax, txn.Prepare(R"sql(
        INSERT INTO topup_taxes (entry_id, seq, name, country, region, rate_ppm, reverse_charge,
                                 base, amount) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9))sql"));
      for (size_t k = 0; k < m.taxes.size(); ++k) {
        const EntryTax& x = m.taxes[k];
        tax.Bind(1, e.id).Bind(2, static_cast<int64_t>(k)).Bind(3, x.name).Bind(4, x.country);
        tax.Bind(5, x.region).Bind(6, x.rate_ppm).Bind(7, int64_t{x.reverse_charge ? 1 : 0});
        tax.Bind(8, x.base).Bind(9, x.amount);
        METERD_RETURN_IF_ERROR(tax.Step().status());
        METERD_RETURN_IF_ERROR(tax.Reset());
      }
      out[i].taxes = m.taxes;
    }
    if (e.kind == EntryKind::kGrant) {
      book.grants.push_back(Grant{e.id, e.amount, e.expires_at});
      std::sort(book.grants.begin(), book.grants.end(), [](const Grant& a, const Grant& b) {
        return std::tie(a.expires_at, a.id) < std::tie(b.expires_at, b.id);
      });
    }
    METERD_RETURN_IF_ERROR(w.Thresholds(m.account, &book, settings, m.at, &out[i].events));
    if (!m.reference.empty()) batch_references.emplace(m.reference, i);
    out[i].entry = std::move(e);
  }
  if (w.entries() == 0) {
    txn.Rollback();  // only duplicates: nothing to write
  } else {
    METERD_RETURN_IF_ERROR(txn.Commit());
  }
  {
    std::unique_lock lock(impl_->mu);
    for (auto& [account, book] : staged) impl_->books[account] = book;
  }
  if (w.entries() > 0) {
    impl_->entries_since_checkpoint += w.entries();
    impl_->CheckpointAfterCommit(now);
    if (impl_->events && w.events() > 0) impl_->events->Notify();
  }
  for (size_t i = 0; i < ms.size(); ++i) {
    if (duplicate[i]) {
      METERD_ASSIGN_OR_RETURN(out[i].balance, Balance(ms[i].account));
      if (out[i].entry.kind == EntryKind::kTopUp) {
        METERD_ASSIGN_OR_RETURN(
            auto taxes, TopUpTaxes(out[i].entry.account, out[i].entry.at, out[i].entry.at + 1));
        if (auto it = taxes.find(out[i].entry.id); it != taxes.end()) {
          out[i].taxes = std::move(it->second);
        }
      }
    } else {
      const Book& book = staged.at(ms[i].account);
      out[i].balance = AccountBalance{ms[i].account, book.balance, book.GrantTotal(), book.state,
                                      book.last_entry};
    }
  }
  return out;
}

Result<BookReport> Ledger::BookHour(const HourBooking& booking) {
  return BookCharges(booking, /*close_hour=*/true);
}

Result<BookReport> Ledger::BookAdjustments(const HourBooking& booking) {
  for (const HourCharge& c : booking.charges) {
    if (c.usage != 0 || c.fees != 0) {
      return Status::InvalidArgument("only adjustments are booked between hours");
    }
  }
  return BookCharges(booking, /*close_hour=*/false);
}

Result<BookReport> Ledger::BookCharges(const HourBooking& booking, bool close_hour) {
  if (booking.hour % tenancy::kHour != 0) {
    return Status::InvalidArgument("a billing hour must be a whole hour");
  }
  auto t = impl_->tenancy ? impl_->tenancy() : nullptr;
  std::lock_guard write(impl_->write_mu);
  // Every account the booking touches, once: a copy of its book to change, the live book it
  // replaces on commit (books are only changed under write_mu, which is held, and a map node
  // never moves), its settings. One hash lookup per account (an hour books 100,000 of them).
  struct Staged {
    std::string_view account;  // into booking.charges or `expired`
    Book book;
    Book* live = nullptr;  // null: the account's first entry
    bool own = false;      // settings below "*" apply: own_settings, else the global ones
    ResolvedSettings own_settings;
    std::vector<const HourCharge*> charges;  // by month
  };
  std::vector<Staged> staged;
  staged.reserve(booking.charges.size());
  std::unordered_map<std::string_view, uint32_t> index;
  index.reserve(booking.charges.size());
  std::optional<bool> global_settings;  // nothing set below "*": resolved once, below
  std::optional<ResolvedSettings> global_resolved;
  // REQUIRES: impl_->mu held (shared).
  auto stage = [&](std::string_view account) -> uint32_t {
    auto [it, fresh] = index.try_emplace(account, static_cast<uint32_t>(staged.size()));
    if (fresh) {
      Staged& st = staged.emplace_back();
      st.account = account;
      if (auto b = impl_->books.find(account); b != impl_->books.end()) {
        st.book = b->second;
        st.live = &b->second;
      }
      // Settings set below the global scope are resolved per account; else every account
      // has the global ones, resolved once.
      if (!global_settings) global_settings = impl_->GlobalOnlyLocked();
      if (!*global_settings) {
        st.own = true;
        st.own_settings = impl_->ResolveLocked(account, t.get());
      }
    }
    return it->second;
  };
  std::vector<std::pair<std::string, Grant>> expired;  // grants that expired before this hour
  {
    std::shared_lock lock(impl_->mu);
    global_resolved = impl_->ResolveLocked("", t.get());
    if (!close_hour) {
      if (!impl_->next_hour || booking.hour != *impl_->next_hour - tenancy::kHour) {
        return Status::InvalidArgument("adjustments are booked with the last hour booked");
      }
    } else if (impl_->next_hour && booking.hour != *impl_->next_hour) {
      if (booking.hour < *impl_->next_hour) {
        return Status::AlreadyExists("hour " + std::to_string(booking.hour) + " is already booked");
      }
      return Status::InvalidArgument("hour " + std::to_string(booking.hour) +
                                     " is not the next hour to book (" +
                                     std::to_string(*impl_->next_hour) + ")");
    }
    for (const HourCharge& c : booking.charges) {
      const uint32_t i = stage(c.account);  // may grow `staged`: index it after
      staged[i].charges.push_back(&c);
    }
    // Grants that expired before this hour, across every account (not only those charged).
    if (close_hour) {
      for (const auto& [account, book] : impl_->books) {
        for (const Grant& g : book.grants) {
          if (g.expires_at <= booking.hour) expired.emplace_back(account, g);
        }
      }
      std::sort(expired.begin(), expired.end(),
                [](const auto& a, const auto& b) { return a.second.id < b.second.id; });
      for (const auto& [account, g] : expired) stage(account);
    }
  }
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  METERD_ASSIGN_OR_RETURN(Writer w, Writer::Make(txn));
  BookReport report;

  for (const auto& [account, g] : expired) {
    Book& book = staged[index.at(account)].book;
    auto it = std::find_if(book.grants.begin(), book.grants.end(),
                           [&](const Grant& x) { return x.id == g.id; });
    if (it == book.grants.end()) continue;
    Entry e;
    e.account = account;
    e.kind = EntryKind::kGrantExpiry;
    e.amount = -it->remaining;
    e.at = g.expires_at;
    e.grant_id = g.id;
    e.actor = std::string(kClockActor);
    e.reason = "grant " + std::to_string(g.id) + " expired";
    e.created_at = booking.now;
    METERD_RETURN_IF_ERROR(w.Add(&e, &book));
    report.expired += it->remaining;
    book.grants.erase(it);
  }

  // Charges: an amount owed draws on grants first (the one expiring first), then paid credit.
  w.SetClockHour(booking.hour, booking.now);
  auto charge = [&](std::string_view account, Book* book, EntryKind kind, MicroCredits owed,
                    int64_t month) -> Status {
    if (owed == 0) return Status::OK();
    MicroCredits rest = owed;
    if (owed > 0 && !book->grants.empty()) {
      for (Grant& g : book->grants) {
        if (rest == 0) break;
        if (g.expires_at <= booking.hour || g.remaining == 0) continue;
        const MicroCredits take = std::min(rest, g.remaining);
        METERD_RETURN_IF_ERROR(w.AddClock(account, kind, -take, month, g.id, book));
        g.remaining -= take;
        rest -= take;
      }
      std::erase_if(book->grants, [](const Grant& g) { return g.remaining == 0; });
    }
    if (rest != 0) METERD_RETURN_IF_ERROR(w.AddClock(account, kind, -rest, month, 0, book));
    return Status::OK();
  };

  // Accounts in order (entries and events in a deterministic order), each account's charges
  // by month; then its thresholds and snapshot.
  std::vector<uint32_t> order(staged.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  auto by_account = [&](uint32_t a, uint32_t b) { return staged[a].account < staged[b].account; };
  // The clock hands its charges over in account order mostly: sort only when they are not.
  if (!std::is_sorted(order.begin(), order.end(), by_account)) {
    std::sort(order.begin(), order.end(), by_account);
  }
  for (const uint32_t i : order) {
    Staged& st = staged[i];
    if (st.charges.size() > 1) {
      std::sort(st.charges.begin(), st.charges.end(),
                [](const HourCharge* a, const HourCharge* b) { return a->month < b->month; });
    }
    Book& book = st.book;
    for (const HourCharge* c : st.charges) {
      METERD_RETURN_IF_ERROR(
          charge(st.account, &book, EntryKind::kAdjustment, c->adjustment, c->month));
      METERD_RETURN_IF_ERROR(charge(st.account, &book, EntryKind::kUsage, c->usage, c->month));
      METERD_RETURN_IF_ERROR(charge(st.account, &book, EntryKind::kFee, c->fees, c->month));
      report.usage += c->usage;
      report.fees += c->fees;
      report.adjustments += c->adjustment;
    }
    METERD_RETURN_IF_ERROR(w.Thresholds(st.account, &book,
                                        st.own ? st.own_settings : *global_resolved,
                                        booking.hour + tenancy::kHour, nullptr));
  }
  METERD_RETURN_IF_ERROR(w.Flush());
  report.accounts = staged.size();
  report.entries = w.entries();
  report.events = w.events();
  if (close_hour) {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      INSERT INTO billing_hours (hour, accounts, usage, fees, adjustments, closed_at)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6))sql"));
    st.Bind(1, booking.hour).Bind(2, static_cast<int64_t>(report.accounts)).Bind(3, report.usage);
    st.Bind(4, report.fees).Bind(5, report.adjustments).Bind(6, booking.now);
    Status s = st.Run();
    if (!s.ok()) return Status::AlreadyExists("hour already booked: " + s.ToString());
  }
  METERD_RETURN_IF_ERROR(txn.Commit());
  {
    std::unique_lock lock(impl_->mu);
    for (Staged& st : staged) {
      if (st.live != nullptr) {
        *st.live = std::move(st.book);
      } else {
        impl_->books.emplace(std::string(st.account), std::move(st.book));
      }
      for (const HourCharge* c : st.charges) {
        const MicroCredits d = c->adjustment + c->usage + c->fees;
        auto& m = impl_->billed[c->month];
        if (auto it = m.find(st.account); it != m.end()) {
          it->second += d;
        } else {
          m.emplace(std::string(st.account), d);
        }
      }
    }
    if (close_hour) {
      if (!impl_->clock_start) impl_->clock_start = booking.hour;
      impl_->next_hour = booking.hour + tenancy::kHour;
    }
    // Keep the months the clock may still adjust: this one and the one before.
    const int64_t keep = pricebook::MonthStart(pricebook::MonthStart(booking.hour) - 1);
    impl_->billed.erase(impl_->billed.begin(), impl_->billed.lower_bound(keep));
  }
  impl_->entries_since_checkpoint += w.entries();
  impl_->CheckpointAfterCommit(booking.now);
  if (impl_->events && report.events > 0) impl_->events->Notify();
  return report;
}

Status Ledger::KeepClockState(const ClockState& state, int64_t now) {
  if (state.through % tenancy::kHour != 0 || state.through < state.month) {
    return Status::InvalidArgument("a kept month-to-date state ends at a whole hour of its month");
  }
  std::lock_guard write(impl_->write_mu);  // the watermark does not move meanwhile
  {
    std::shared_lock lock(impl_->mu);
    if (!impl_->next_hour || state.through > *impl_->next_hour) {
      return Status::InvalidArgument(
          "a kept month-to-date state must not be ahead of the hours booked");
    }
  }
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  METERD_RETURN_IF_ERROR(WriteClockState(txn, state, now));
  return txn.Commit();
}

Result<std::optional<ClockState>> Ledger::LoadClockState() const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    SELECT through, part, parts, month, revision_mark, data FROM clock_month_state
    WHERE through = (SELECT MAX(through) FROM clock_month_state) ORDER BY part)sql"));
  std::optional<ClockState> out;
  int64_t parts = 0, next_part = 0;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (!out) {
      out.emplace();
      out->through = st.Int(0);
      parts = st.Int(2);
      out->month = st.Int(3);
      out->revision_mark = st.Text(4);
    }
    if (st.Int(1) != next_part || st.Int(2) != parts) {
      return Status::Corruption("clock_month_state: parts of the kept state are missing");
    }
    out->data += st.Blob(5);
    ++next_part;
  }
  if (out && next_part != parts) {
    return Status::Corruption("clock_month_state: parts of the kept state are missing");
  }
  return out;
}

Result<AccountBalance> Ledger::Balance(std::string_view account) const {
  auto t = impl_->tenancy ? impl_->tenancy() : nullptr;
  std::shared_lock lock(impl_->mu);
  auto it = impl_->books.find(std::string(account));
  if (it == impl_->books.end()) {
    if (t == nullptr || t->FindAccount(account) == nullptr) {
      return Status::NotFound("unknown account '" + std::string(account) + "'");
    }
    return AccountBalance{std::string(account), 0, 0, AccountState::kOk, 0};
  }
  const Book& b = it->second;
  return AccountBalance{std::string(account), b.balance, b.GrantTotal(), b.state, b.last_entry};
}

std::vector<AccountBalance> Ledger::Balances() const {
  std::vector<AccountBalance> out;
  {
    std::shared_lock lock(impl_->mu);
    out.reserve(impl_->books.size());
    for (const auto& [account, b] : impl_->books) {
      out.push_back(AccountBalance{account, b.balance, b.GrantTotal(), b.state, b.last_entry});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const AccountBalance& a, const AccountBalance& b) { return a.account < b.account; });
  return out;
}

Result<std::vector<Entry>> Ledger::Entries(std::string_view account, int64_t from, int64_t to,
                                           size_t limit) const {
  // Manual entries (hour IS NULL) by (account, id); the clock's by (hour, account), one seek
  // per hour the clock booked within [from, to) (a clock entry's `at` is its hour).
  int64_t first_hour = 0, end_hour = 0;
  {
    std::shared_lock lock(impl_->mu);
    if (impl_->clock_start && impl_->next_hour) {
      first_hour = std::max(*impl_->clock_start, from);
      if (first_hour % tenancy::kHour != 0) {
        first_hour +=
            tenancy::kHour - ((first_hour % tenancy::kHour) + tenancy::kHour) % tenancy::kHour;
      }
      end_hour = std::min(*impl_->next_hour, to);
    }
  }
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  const std::string columns(kEntryColumns);
  METERD_ASSIGN_OR_RETURN(
      Statement st, txn.Prepare("WITH RECURSIVE hours(h) AS (SELECT ?5 WHERE ?5 < ?6 UNION ALL "
                                "SELECT h + 3600 FROM hours WHERE h + 3600 < ?6) "
                                "SELECT " +
                                columns +
                                " FROM ledger_entries WHERE account = ?1 AND hour IS NULL"
                                " AND at >= ?2 AND at < ?3 "
                                "UNION ALL SELECT " +
                                columns +
                                " FROM hours JOIN ledger_entries"
                                " ON hour = hours.h AND account = ?1 "
                                "ORDER BY id LIMIT ?4"));
  st.Bind(1, account).Bind(2, from).Bind(3, to);
  st.Bind(4, limit == 0 ? INT64_MAX : static_cast<int64_t>(limit));
  st.Bind(5, first_hour).Bind(6, end_hour);
  std::vector<Entry> out;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(EntryFromRow(st));
  }
  return out;
}

Status Ledger::SetSettings(std::string_view scope, const SettingsChange& change,
                           std::string_view actor, std::string_view reason, int64_t now) {
  auto t = impl_->tenancy ? impl_->tenancy() : nullptr;
  if (scope != "*") {
    const bool account = scope.starts_with("account:");
    const bool domain = scope.starts_with("domain:");
    const std::string_view id = scope.substr(scope.find(':') + 1);
    if (!account && !domain) {
      return Status::InvalidArgument("a settings scope is '*', 'domain:<id>' or 'account:<id>'");
    }
    if (t == nullptr || (account ? t->FindAccount(id) == nullptr : t->FindDomain(id) == nullptr)) {
      return Status::NotFound(std::string("unknown ") + (account ? "account" : "domain") + " '" +
                              std::string(id) + "'");
    }
  }
  if (change.credit_limit && *change.credit_limit < 0) {
    return Status::InvalidArgument("a credit limit is a non-negative amount");
  }
  if (change.hysteresis && *change.hysteresis < 0) {
    return Status::InvalidArgument("hysteresis is a non-negative amount");
  }
  if (actor.empty()) return Status::InvalidArgument("a settings change needs its actor");
  if (change.overdue_days && *change.overdue_days != kNoOverdueLimit &&
      (*change.overdue_days < 0 || *change.overdue_days > kMaxCollectionDays)) {
    return Status::InvalidArgument("overdue_days is a whole number of days from 0 to " +
                                   std::to_string(kMaxCollectionDays) + ", or none");
  }
  std::optional<std::string> reminder_days;
  if (change.reminder_days) {
    Result<std::vector<int64_t>> days = ParseReminderDays(*change.reminder_days);
    if (!days.ok()) return days.status().WithContext("reminder_days");
    reminder_days = FormatReminderDays(*days);
  }
  std::optional<std::string> notify_email;
  if (change.notify_email) {
    Result<std::vector<std::string>> list = events::ParseAddressList(*change.notify_email);
    if (!list.ok()) return list.status().WithContext("notify_email");
    notify_email = events::JoinAddresses(*list);
  }
  std::lock_guard write(impl_->write_mu);
  ScopeSettings next;
  {
    std::shared_lock lock(impl_->mu);
    auto it = impl_->settings.find(scope);
    if (it != impl_->settings.end()) next = it->second;
  }
  next.scope = std::string(scope);
  if (change.mode) next.values.mode = change.mode;
  if (change.low_balance) next.values.low_balance = change.low_balance;
  if (change.credit_limit) next.values.credit_limit = change.credit_limit;
  if (change.hysteresis) next.values.hysteresis = change.hysteresis;
  if (notify_email) next.values.notify_email = notify_email;
  if (reminder_days) next.values.reminder_days = reminder_days;
  if (change.overdue_days) next.values.overdue_days = change.overdue_days;
  next.actor = std::string(actor);
  next.reason = std::string(reason);
  next.created_at = now;
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      INSERT INTO billing_settings (scope, mode, low_balance, credit_limit, hysteresis, actor,
        reason, created_at, notify_email, reminder_days, overdue_days)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11))sql"));
    st.Bind(1, next.scope);
    if (next.values.mode) {
      st.Bind(2, BillingModeName(*next.values.mode));
    } else {
      st.BindNull(2);
    }
    st.BindOptional(3, next.values.low_balance).BindOptional(4, next.values.credit_limit);
    st.BindOptional(5, next.values.hysteresis).Bind(6, next.actor).Bind(7, next.reason);
    st.Bind(8, now);
    if (next.values.notify_email) {
      st.Bind(9, *next.values.notify_email);
    } else {
      st.BindNull(9);
    }
    if (next.values.reminder_days) {
      st.Bind(10, *next.values.reminder_days);
    } else {
      st.BindNull(10);
    }
    st.BindOptional(11, next.values.overdue_days);
    METERD_RETURN_IF_ERROR(st.Run());
  }
  METERD_RETURN_IF_ERROR(txn.Commit());
  std::unique_lock lock(impl_->mu);
  impl_->settings[next.scope] = std::move(next);
  // A change of thresholds applies at the account's next balance change (no event now).
  return Status::OK();
}

std::vector<ScopeSettings> Ledger::ListSettings() const {
  std::shared_lock lock(impl_->mu);
  std::vector<ScopeSettings> out;
  for (const auto& [scope, s] : impl_->settings) out.push_back(s);
  return out;
}

std::optional<int64_t> Ledger::NextHour() const {
  std::shared_lock lock(impl_->mu);
  return impl_->next_hour;
}

std::optional<int64_t> Ledger::ClockStart() const {
  std::shared_lock lock(impl_->mu);
  return impl_->clock_start;
}

MicroCredits Ledger::Billed(std::string_view account, int64_t month) const {
  std::shared_lock lock(impl_->mu);
  auto m = impl_->billed.find(month);
  if (m == impl_->billed.end()) return 0;
  auto it = m->second.find(std::string(account));
  return it == m->second.end() ? 0 : it->second;
}

Result<std::unordered_map<std::string, MicroCredits>> Ledger::BilledByAccount(int64_t month) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  // A month's clock entries are booked in its hours and, as adjustments, in the next month's
  // (docs/ledger.md): a range of the (hour, account) index.
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    SELECT account, -SUM(amount) FROM ledger_entries
    WHERE hour >= ?1 AND hour < ?2 AND month = ?1 GROUP BY account)sql"));
  const int64_t next = pricebook::MonthStart(month + 32 * 86400);
  st.Bind(1, month).Bind(2, pricebook::MonthStart(next + 32 * 86400));
  std::unordered_map<std::string, MicroCredits> out;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out[st.Text(0)] = st.Int(1);
  }
  return out;
}

std::vector<std::string> Ledger::BilledAccounts(int64_t month) const {
  std::shared_lock lock(impl_->mu);
  std::vector<std::string> out;
  auto m = impl_->billed.find(month);
  if (m != impl_->billed.end()) {
    for (const auto& [account, amount] : m->second) out.push_back(account);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace meterd::engine::ledger
