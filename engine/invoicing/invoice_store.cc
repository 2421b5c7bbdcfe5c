// meterd — engine/invoicing/invoice_store.cc
#include "engine/invoicing/invoice_store.h"

#include <cstdio>

#include "engine/invoicing/invoice_event.h"
#include "engine/invoicing/invoice_json.h"

namespace meterd::engine::invoicing {
namespace {

using Json = nlohmann::ordered_json;
using tenancy::Statement;
using tenancy::Transaction;

constexpr std::string_view kModule = "invoicing";
constexpr int64_t kSchemaVersion = 1;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS invoice_drafts (
  account TEXT NOT NULL,
  period_start INTEGER NOT NULL,
  period_end INTEGER NOT NULL,
  provisional INTEGER NOT NULL,
  watermark INTEGER NOT NULL,
  coverage TEXT NOT NULL,
  document TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account, period_start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS invoices (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind = 'invoice' OR kind = 'credit_note'),
  scope TEXT NOT NULL,
  sequence INTEGER NOT NULL CHECK (sequence >= 1),
  number TEXT NOT NULL UNIQUE,
  account TEXT NOT NULL,
  period_start INTEGER NOT NULL,
  period_end INTEGER NOT NULL,
  credit_for INTEGER REFERENCES invoices(id),
  watermark INTEGER NOT NULL,
  total INTEGER NOT NULL,
  amount_due INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  due_at INTEGER NOT NULL,
  document TEXT NOT NULL,
  UNIQUE (scope, kind, sequence),
  CHECK ((kind = 'credit_note') = (credit_for IS NOT NULL)));
CREATE INDEX IF NOT EXISTS invoices_account ON invoices(account, period_start);
CREATE INDEX IF NOT EXISTS invoices_credit_for ON invoices(credit_for) WHERE credit_for IS NOT NULL;
CREATE TABLE IF NOT EXISTS invoice_months (
  invoice_id INTEGER NOT NULL REFERENCES invoices(id),
  month INTEGER NOT NULL,
  amount INTEGER NOT NULL,
  PRIMARY KEY (invoice_id, month)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS invoice_events (
  id INTEGER PRIMARY KEY,
  invoice_id INTEGER NOT NULL REFERENCES invoices(id),
  kind TEXT NOT NULL CHECK (kind = 'booked' OR kind = 'payment' OR kind = 'paid' OR
                            kind = 'void' OR kind = 'reminder'),
  amount INTEGER NOT NULL,
  reference TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS invoice_events_invoice ON invoice_events(invoice_id, id);
)sql";

constexpr const char* kAppendOnly[] = {"invoices", "invoice_months", "invoice_events"};

std::string Ddl() {
  std::string ddl(kSchema);
  for (const char* t : kAppendOnly) {
    for (const char* op : {"UPDATE", "DELETE"}) {
      ddl += std::string("CREATE TRIGGER IF NOT EXISTS ") + t + "_no_" + op + " BEFORE " + op +
             " ON " + t + " BEGIN SELECT RAISE(ABORT, '" + t + " is append-only'); END;\n";
    }
  }
  return ddl;
}

std::string CoverageText(const Coverage& c) {
  Json months = Json::object();
  for (const auto& [month, amount] : c.months) months[std::to_string(month)] = amount;
  return months.dump();
}

Result<Coverage> CoverageFrom(int64_t watermark, std::string_view text) {
  Coverage c;
  c.watermark = watermark;
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("invoice draft: coverage");
  for (const auto& [k, v] : j.items()) {
    if (!v.is_number_integer()) return Status::Corruption("invoice draft: coverage amount");
    c.months[std::stoll(k)] = v.get<int64_t>();
  }
  return c;
}

std::string Number(const NumberingOptions& n, int64_t sequence) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%0*lld", std::clamp(n.width, 1, 18),
                static_cast<long long>(sequence));
  return n.prefix + digits;
}

// The statements that complete a stored document (events, coverage, credit notes), prepared
// once per transaction: a list reads thousands.
struct ReadStatements {
  static Result<ReadStatements> Prepare(Transaction& txn) {
    METERD_ASSIGN_OR_RETURN(Statement events, txn.Prepare(R"sql(
      SELECT id, kind, amount, reference, actor, reason, at FROM invoice_events
      WHERE invoice_id = ?1 ORDER BY id)sql"));
    METERD_ASSIGN_OR_RETURN(Statement months,
                            txn.Prepare("SELECT month, amount FROM invoice_months WHERE "
                                        "invoice_id = ?1 ORDER BY month"));
    METERD_ASSIGN_OR_RETURN(
        Statement credited,
        txn.Prepare("SELECT COALESCE(SUM(total), 0) FROM invoices WHERE credit_for = ?1"));
    return ReadStatements{std::move(events), std::move(months), std::move(credited)};
  }
  Statement events, months, credited;
};

// Reads the events of invoice `id` (deriving the document's state from them), its coverage and
// what credit notes credited against it.
Status Complete(ReadStatements& r, int64_t id, StoredInvoice* out) {
  r.events.Bind(1, id);
  Invoice& inv = out->invoice;
  inv.state = InvoiceState::kIssued;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, r.events.Step());
    if (!row) break;
    const Statement& ev = r.events;
    InvoiceEvent e{ev.Int(0), ev.Text(1), ev.Int(2), ev.Text(3), ev.Text(4), ev.Text(5), ev.Int(6)};
    if (e.kind == "payment") out->paid += e.amount;
    if (e.kind == "booked") out->booked = true;
    if (e.kind == "paid" && inv.state != InvoiceState::kVoid) inv.state = InvoiceState::kPaid;
    if (e.kind == "void") inv.state = InvoiceState::kVoid;
    out->events.push_back(std::move(e));
  }
  METERD_RETURN_IF_ERROR(r.events.Reset());
  r.months.Bind(1, id);
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, r.months.Step());
    if (!row) break;
    out->coverage.months[r.months.Int(0)] = r.months.Int(1);
  }
  METERD_RETURN_IF_ERROR(r.months.Reset());
  r.credited.Bind(1, id);
  METERD_ASSIGN_OR_RETURN(bool row, r.credited.Step());
  if (row) out->credited = r.credited.Int(0);
  return r.credited.Reset();
}

constexpr std::string_view kIssuedColumns = "id, watermark, document";

Result<StoredInvoice> StoredFrom(ReadStatements& r, const Statement& st) {
  StoredInvoice s;
  METERD_ASSIGN_OR_RETURN(s.invoice, FromJsonText(st.Text(2)));
  s.invoice.id = st.Int(0);
  s.coverage.watermark = st.Int(1);
  METERD_RETURN_IF_ERROR(Complete(r, st.Int(0), &s));
  return s;
}

Result<std::vector<StoredInvoice>> ReadAll(Transaction& txn, Statement& st) {
  METERD_ASSIGN_OR_RETURN(ReadStatements r, ReadStatements::Prepare(txn));
  std::vector<StoredInvoice> out;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    METERD_ASSIGN_OR_RETURN(StoredInvoice s, StoredFrom(r, st));
    out.push_back(std::move(s));
  }
  return out;
}

constexpr std::string_view kNotVoid =
    "NOT EXISTS (SELECT 1 FROM invoice_events e WHERE e.invoice_id = i.id AND e.kind = 'void')";

// Inserts an issued document; returns it with its id, number and dates set.
// The statements an issue runs, prepared once per transaction (an invoice run issues
// thousands in one).
struct IssueStatements {
  static Result<IssueStatements> Prepare(Transaction& txn) {
    METERD_ASSIGN_OR_RETURN(Statement seq,
                            txn.Prepare("SELECT COALESCE(MAX(sequence), 0) + 1 FROM invoices "
                                        "WHERE scope = ?1 AND kind = ?2"));
    METERD_ASSIGN_OR_RETURN(Statement insert, txn.Prepare(R"sql(
      INSERT INTO invoices (kind, scope, sequence, number, account, period_start, period_end,
                            credit_for, watermark, total, amount_due, issued_at, due_at, document)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING id)sql"));
    METERD_ASSIGN_OR_RETURN(Statement months,
                            txn.Prepare("INSERT INTO invoice_months (invoice_id, month, "
                                        "amount) VALUES (?1, ?2, ?3)"));
    METERD_ASSIGN_OR_RETURN(Statement take, txn.Prepare(R"sql(
      DELETE FROM invoice_drafts WHERE account = ?1 AND period_start = ?2 AND provisional = 0
      RETURNING document, watermark, coverage)sql"));
    METERD_ASSIGN_OR_RETURN(Statement probe,
                            txn.Prepare("SELECT provisional FROM invoice_drafts WHERE "
                                        "account = ?1 AND period_start = ?2"));
    METERD_ASSIGN_OR_RETURN(Statement dup,
                            txn.Prepare(std::string("SELECT number FROM invoices i WHERE "
                                                    "account = ?1 AND period_start = ?2 "
                                                    "AND kind = 'invoice' AND ") +
                                        std::string(kNotVoid)));
    return IssueStatements{&txn,
                           std::move(seq),
                           std::move(insert),
                           std::move(months),
                           std::move(take),
                           std::move(probe),
                           std::move(dup)};
  }
  Transaction* txn;  // the issuing transaction: the document's outbox event goes in it
  Statement seq, insert, months, take, probe, dup;
};

// Inserts an issued document; returns it with its id, number and dates set.
Result<StoredInvoice> Insert(IssueStatements& p, Invoice inv, const Coverage& coverage,
                             std::optional<int64_t> credit_for, const NumberingOptions& numbering,
                             int64_t now) {
  const char* kind = InvoiceKindName(inv.kind);
  p.seq.Bind(1, numbering.scope).Bind(2, kind);
  METERD_ASSIGN_OR_RETURN(bool row, p.seq.Step());
  if (!row) return Status::Corruption("invoice sequence: no row");
  inv.sequence = p.seq.Int(0);
  METERD_RETURN_IF_ERROR(p.seq.Reset());
  inv.number = Number(numbering, inv.sequence);
  inv.state = InvoiceState::kIssued;
  inv.issued_at = now;
  inv.due_at = now + numbering.payment_terms;
  Statement& ins = p.insert;
  ins.Bind(1, kind).Bind(2, numbering.scope).Bind(3, inv.sequence).Bind(4, inv.number);
  ins.Bind(5, inv.account).Bind(6, inv.period_start).Bind(7, inv.period_end);
  ins.BindOptional(8, credit_for).Bind(9, coverage.watermark).Bind(10, inv.total.micro);
  ins.Bind(11, inv.amount_due.micro).Bind(12, inv.issued_at).Bind(13, inv.due_at);
  // The id is not known before the insert; the document carries 0 and readers set it from
  // the row (StoredFrom), so the frozen bytes never need rewriting.
  inv.id = 0;
  const std::string doc = ToJson(inv).dump();
  ins.Bind(14, doc);
  METERD_ASSIGN_OR_RETURN(bool inserted, ins.Step());
  if (!inserted) return Status::Corruption("invoice insert returned no id");
  inv.id = ins.Int(0);
  METERD_RETURN_IF_ERROR(ins.Reset());
  for (const auto& [month, amount] : coverage.months) {
    p.months.Bind(1, inv.id).Bind(2, month).Bind(3, amount);
    METERD_RETURN_IF_ERROR(p.months.Run());
    METERD_RETURN_IF_ERROR(p.months.Reset());
  }
  // invoice_issued / credit_note_issued, in the transaction that numbers the document
  // (invoice_event.h): delivered exactly when the document exists.
  METERD_RETURN_IF_ERROR(events::EventLog::Append(*p.txn, IssuedEvent(inv)).status());
  StoredInvoice out;
  out.invoice = std::move(inv);
  out.coverage = coverage;
  return out;
}

}  // namespace

Result<std::unique_ptr<InvoiceStore>> InvoiceStore::Open(tenancy::BillingDb* db) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db->Begin());
  METERD_RETURN_IF_ERROR(tenancy::BillingDb::EnsureSchema(txn, kModule, kSchemaVersion, Ddl()));
  // Issuing appends to the event outbox (invoice_event.h), which may not be open yet.
  METERD_RETURN_IF_ERROR(events::EventLog::CreateSchema(txn));
  METERD_RETURN_IF_ERROR(txn.Commit());
  return std::unique_ptr<InvoiceStore>(new InvoiceStore(db));
}

Status InvoiceStore::PutDraft(const Invoice& draft, const Coverage& coverage) {
  return PutDrafts({{draft, coverage}});
}

Status InvoiceStore::PutDrafts(const std::vector<std::pair<Invoice, Coverage>>& drafts) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    INSERT OR REPLACE INTO invoice_drafts (account, period_start, period_end, provisional,
                                           watermark, coverage, document, created_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8))sql"));
  for (const auto& [draft, coverage] : drafts) {
    st.Bind(1, draft.account).Bind(2, draft.period_start).Bind(3, draft.period_end);
    st.Bind(4, int64_t{draft.provisional}).Bind(5, coverage.watermark);
    st.Bind(6, CoverageText(coverage)).Bind(7, ToJson(draft).dump()).Bind(8, draft.created_at);
    METERD_RETURN_IF_ERROR(st.Run());
    METERD_RETURN_IF_ERROR(st.Reset());
  }
  return txn.Commit();
}

Result<std::vector<Invoice>> InvoiceStore::Drafts(const ListFilter& f) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    SELECT document FROM invoice_drafts
    WHERE (?1 = '' OR account = ?1) AND period_start >= ?2 AND period_start < ?3
    ORDER BY period_start, account LIMIT ?4)sql"));
  st.Bind(1, f.account).Bind(2, f.from).Bind(3, f.to);
  st.Bind(4, f.limit == 0 ? int64_t{-1} : static_cast<int64_t>(f.limit));
  std::vector<Invoice> out;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    METERD_ASSIGN_OR_RETURN(Invoice inv, FromJsonText(st.Text(0)));
    out.push_back(std::move(inv));
  }
  return out;
}

Result<std::vector<std::pair<std::string, bool>>> InvoiceStore::DraftAccounts(
    const ListFilter& f) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    SELECT account, provisional FROM invoice_drafts
    WHERE (?1 = '' OR account = ?1) AND period_start >= ?2 AND period_start < ?3
    ORDER BY period_start, account LIMIT ?4)sql"));
  st.Bind(1, f.account).Bind(2, f.from).Bind(3, f.to);
  st.Bind(4, f.limit == 0 ? int64_t{-1} : static_cast<int64_t>(f.limit));
  std::vector<std::pair<std::string, bool>> out;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.emplace_back(st.Text(0), st.Int(1) != 0);
  }
  return out;
}

Result<std::optional<std::pair<Invoice, Coverage>>> InvoiceStore::Draft(
    std::string_view account, int64_t period_start) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    SELECT document, watermark, coverage FROM invoice_drafts
    WHERE account = ?1 AND period_start = ?2)sql"));
  st.Bind(1, account).Bind(2, period_start);
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<std::pair<Invoice, Coverage>>();
  METERD_ASSIGN_OR_RETURN(Invoice inv, FromJsonText(st.Text(0)));
  METERD_ASSIGN_OR_RETURN(Coverage c, CoverageFrom(st.Int(1), st.Text(2)));
  return std::optional<std::pair<Invoice, Coverage>>(std::pair(std::move(inv), std::move(c)));
}

Status InvoiceStore::DropDraft(std::string_view account, int64_t period_start) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st,
                          txn.Prepare("DELETE FROM invoice_drafts WHERE account = ?1 AND "
                                      "period_start = ?2"));
  st.Bind(1, account).Bind(2, period_start);
  METERD_RETURN_IF_ERROR(st.Run());
  return txn.Commit();
}

namespace {

// Issue's work inside a transaction: checks first (a refused draft changes nothing), then
// the draft is taken and the document inserted.
Result<StoredInvoice> IssueIn(IssueStatements& p, std::string_view account, int64_t period_start,
                              const NumberingOptions& numbering, int64_t now) {
  p.dup.Bind(1, account).Bind(2, period_start);
  METERD_ASSIGN_OR_RETURN(bool exists, p.dup.Step());
  if (exists) {
    const std::string number = p.dup.Text(0);
    METERD_RETURN_IF_ERROR(p.dup.Reset());
    return Status::AlreadyExists("account '" + std::string(account) + "' already has invoice " +
                                 number + " for this period");
  }
  METERD_RETURN_IF_ERROR(p.dup.Reset());
  p.take.Bind(1, account).Bind(2, period_start);
  METERD_ASSIGN_OR_RETURN(bool row, p.take.Step());
  if (!row) {
    METERD_RETURN_IF_ERROR(p.take.Reset());
    p.probe.Bind(1, account).Bind(2, period_start);
    METERD_ASSIGN_OR_RETURN(bool draft, p.probe.Step());
    METERD_RETURN_IF_ERROR(p.probe.Reset());
    if (draft) {
      return Status::InvalidArgument("the draft of account '" + std::string(account) +
                                     "' is provisional (some hours of its period are open); it "
                                     "cannot be issued");
    }
    return Status::NotFound("no draft invoice of account '" + std::string(account) +
                            "' for the period starting " + std::to_string(period_start) +
                            " (run `meterctl invoice run` first)");
  }
  Result<Invoice> inv = FromJsonText(p.take.Text(0));
  Result<Coverage> coverage = CoverageFrom(p.take.Int(1), p.take.Text(2));
  METERD_RETURN_IF_ERROR(p.take.Reset());
  if (!inv.ok()) return inv.status();
  if (!coverage.ok()) return coverage.status();
  return Insert(p, std::move(inv).value(), *coverage, std::nullopt, numbering, now);
}

Status AddEventIn(Transaction& txn, std::string_view number, const InvoiceEvent& e) {
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    INSERT INTO invoice_events (invoice_id, kind, amount, reference, actor, reason, at)
    SELECT id, ?2, ?3, ?4, ?5, ?6, ?7 FROM invoices WHERE number = ?1 RETURNING id)sql"));
  st.Bind(1, number).Bind(2, e.kind).Bind(3, e.amount).Bind(4, e.reference).Bind(5, e.actor);
  st.Bind(6, e.reason).Bind(7, e.at);
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("no invoice numbered '" + std::string(number) + "'");
  return st.Reset();
}

}  // namespace

Result<StoredInvoice> InvoiceStore::Issue(std::string_view account, int64_t period_start,
                                          const NumberingOptions& numbering, int64_t now) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(IssueStatements p, IssueStatements::Prepare(txn));
  METERD_ASSIGN_OR_RETURN(StoredInvoice out, IssueIn(p, account, period_start, numbering, now));
  METERD_RETURN_IF_ERROR(txn.Commit());
  NotifyIssued();
  return out;
}

Result<std::vector<Result<StoredInvoice>>> InvoiceStore::IssueMany(
    const std::vector<IssueItem>& items, int64_t period_start, int64_t now,
    const std::function<std::vector<InvoiceEvent>(const Invoice&)>& events) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(IssueStatements p, IssueStatements::Prepare(txn));
  std::vector<Result<StoredInvoice>> out;
  out.reserve(items.size());
  for (const IssueItem& item : items) {
    // A refused draft changed nothing (every check precedes the writes), so the others go on.
    Result<StoredInvoice> s = IssueIn(p, item.account, period_start, item.numbering, now);
    if (s.ok() && events) {
      for (const InvoiceEvent& e : events(s->invoice)) {
        METERD_RETURN_IF_ERROR(AddEventIn(txn, s->invoice.number, e));
        s->events.push_back(e);
        if (e.kind == "booked") s->booked = true;
        if (e.kind == "paid") s->invoice.state = InvoiceState::kPaid;
      }
    }
    out.push_back(std::move(s));
  }
  METERD_RETURN_IF_ERROR(txn.Commit());
  NotifyIssued();
  return out;
}

Status InvoiceStore::AddEvents(const std::vector<std::pair<std::string, InvoiceEvent>>& events) {
  if (events.empty()) return Status::OK();
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  for (const auto& [number, e] : events) METERD_RETURN_IF_ERROR(AddEventIn(txn, number, e));
  return txn.Commit();
}

Result<std::map<std::string, std::pair<int64_t, Coverage>, std::less<>>>
InvoiceStore::LastCoverages() const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  // Per account, its latest issued, not void, invoice (by period, then id).
  METERD_ASSIGN_OR_RETURN(
      Statement st,
      txn.Prepare("SELECT account, id, watermark, period_start FROM invoices i WHERE kind = "
                  "'invoice' AND " +
                  std::string(kNotVoid) + " ORDER BY account, period_start, id"));
  // The rows come by period within an account: the last one assigned is the latest. Only the
  // watermark is read (a run needs no more of the previous invoice).
  std::map<std::string, std::pair<int64_t, Coverage>, std::less<>> out;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out[st.Text(0)] = {st.Int(3), Coverage{st.Int(2), {}}};
  }
  return out;
}

Result<std::map<std::string, LastPeriod, std::less<>>> InvoiceStore::LastPeriods(
    std::string_view account) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  // By period within an account: the last row assigned is the latest.
  METERD_ASSIGN_OR_RETURN(
      Statement st,
      txn.Prepare("SELECT account, period_start, period_end, watermark FROM invoices i WHERE "
                  "kind = 'invoice' AND (?1 = '' OR account = ?1) AND " +
                  std::string(kNotVoid) + " ORDER BY account, period_start, id"));
  st.Bind(1, account);
  std::map<std::string, LastPeriod, std::less<>> out;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out[st.Text(0)] = LastPeriod{st.Int(1), st.Int(2), st.Int(3)};
  }
  return out;
}

Result<StoredInvoice> InvoiceStore::IssueCreditNote(const Invoice& note, std::string_view of,
                                                    const NumberingOptions& numbering,
                                                    int64_t now) {
  if (note.kind != InvoiceKind::kCreditNote) {
    return Status::InvalidArgument("IssueCreditNote: not a credit note");
  }
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st,
                          txn.Prepare("SELECT id FROM invoices WHERE number = ?1 AND kind "
                                      "= 'invoice'"));
  st.Bind(1, of);
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("no invoice numbered '" + std::string(of) + "'");
  const int64_t invoice_id = st.Int(0);
  Coverage none;
  METERD_ASSIGN_OR_RETURN(IssueStatements p, IssueStatements::Prepare(txn));
  METERD_ASSIGN_OR_RETURN(StoredInvoice out, Insert(p, note, none, invoice_id, numbering, now));
  METERD_RETURN_IF_ERROR(txn.Commit());
  NotifyIssued();
  return out;
}

Status InvoiceStore::AddEvent(std::string_view number, const InvoiceEvent& e) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_RETURN_IF_ERROR(AddEventIn(txn, number, e));
  return txn.Commit();
}

Result<StoredInvoice> InvoiceStore::Get(std::string_view number) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT " + std::string(kIssuedColumns) +
                                                    " FROM invoices WHERE number = ?1"));
  st.Bind(1, number);
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row)
    return Status::NotFound("no invoice or credit note numbered '" + std::string(number) + "'");
  METERD_ASSIGN_OR_RETURN(ReadStatements r, ReadStatements::Prepare(txn));
  return StoredFrom(r, st);
}

Result<std::vector<StoredInvoice>> InvoiceStore::List(const ListFilter& f) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT " + std::string(kIssuedColumns) + R"sql(
    FROM invoices WHERE (?1 = '' OR account = ?1) AND period_start >= ?2 AND period_start < ?3
      AND (?4 = '' OR kind = ?4)
    ORDER BY period_start, account, id LIMIT ?5)sql"));
  st.Bind(1, f.account).Bind(2, f.from).Bind(3, f.to);
  st.Bind(4, f.kind ? InvoiceKindName(*f.kind) : "");
  st.Bind(5, f.limit == 0 ? int64_t{-1} : static_cast<int64_t>(f.limit));
  return ReadAll(txn, st);
}

Result<std::optional<StoredInvoice>> InvoiceStore::IssuedFor(std::string_view account,
                                                             int64_t period_start) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(
      Statement st,
      txn.Prepare("SELECT " + std::string(kIssuedColumns) +
                  " FROM invoices i WHERE account = ?1 AND period_start = ?2 AND kind = "
                  "'invoice' AND " +
                  std::string(kNotVoid)));
  st.Bind(1, account).Bind(2, period_start);
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<StoredInvoice>();
  METERD_ASSIGN_OR_RETURN(ReadStatements r, ReadStatements::Prepare(txn));
  METERD_ASSIGN_OR_RETURN(StoredInvoice s, StoredFrom(r, st));
  return std::optional<StoredInvoice>(std::move(s));
}

Result<std::optional<std::pair<int64_t, Coverage>>> InvoiceStore::LastCoverage(
    std::string_view account) const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(
      Statement st,
      txn.Prepare("SELECT id, watermark, period_start FROM invoices i WHERE account = ?1 AND "
                  "kind = 'invoice' AND " +
                  std::string(kNotVoid) + " ORDER BY period_start DESC, id DESC LIMIT 1"));
  st.Bind(1, account);
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<std::pair<int64_t, Coverage>>();
  Coverage c;
  c.watermark = st.Int(1);
  const int64_t period_start = st.Int(2);
  METERD_ASSIGN_OR_RETURN(Statement cm,
                          txn.Prepare("SELECT month, amount FROM invoice_months WHERE "
                                      "invoice_id = ?1"));
  cm.Bind(1, st.Int(0));
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool r, cm.Step());
    if (!r) break;
    c.months[cm.Int(0)] = cm.Int(1);
  }
  return std::optional<std::pair<int64_t, Coverage>>(std::pair(period_start, std::move(c)));
}

Result<std::vector<std::string>> InvoiceStore::Unbooked() const {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    SELECT number FROM invoices i WHERE NOT EXISTS
      (SELECT 1 FROM invoice_events e WHERE e.invoice_id = i.id AND e.kind = 'booked')
    ORDER BY id)sql"));
  std::vector<std::string> out;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(st.Text(0));
  }
  return out;
}

}  // namespace meterd::engine::invoicing
