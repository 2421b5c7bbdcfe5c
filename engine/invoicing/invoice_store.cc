// meterd — engine/invoicing/invoice_store.cc
#include "engine/invoicing/invoice_store.h"

#include <cstdio>

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

// Reads the events of invoice `id` and derives the document's state from them.
Status Complete(Transaction& txn, int64_t id, StoredInvoice* out) {
  METERD_ASSIGN_OR_RETURN(Statement ev, txn.Prepare(R"sql(
    SELECT id, kind, amount, reference, actor, reason, at FROM invoice_events
    WHERE invoice_id = ?1 ORDER BY id)sql"));
  ev.Bind(1, id);
  Invoice& inv = out->invoice;
  inv.state = InvoiceState::kIssued;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, ev.Step());
    if (!row) break;
    InvoiceEvent e{ev.Int(0), ev.Text(1), ev.Int(2), ev.Text(3), ev.Text(4), ev.Text(5), ev.Int(6)};
    if (e.kind == "payment") out->paid += e.amount;
    if (e.kind == "booked") out->booked = true;
    if (e.kind == "paid" && inv.state != InvoiceState::kVoid) inv.state = InvoiceState::kPaid;
    if (e.kind == "void") inv.state = InvoiceState::kVoid;
    out->events.push_back(std::move(e));
  }
  METERD_ASSIGN_OR_RETURN(Statement cm,
                          txn.Prepare("SELECT month, amount FROM invoice_months WHERE "
                                      "invoice_id = ?1 ORDER BY month"));
  cm.Bind(1, id);
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, cm.Step());
    if (!row) break;
    out->coverage.months[cm.Int(0)] = cm.Int(1);
  }
  METERD_ASSIGN_OR_RETURN(Statement cn,
                          txn.Prepare("SELECT document FROM invoices WHERE credit_for = ?1"));
  cn.Bind(1, id);
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, cn.Step());
    if (!row) break;
    METERD_ASSIGN_OR_RETURN(Invoice note, FromJsonText(cn.Text(0)));
    out->credited += note.total.micro;
  }
  return Status::OK();
}

constexpr std::string_view kIssuedColumns = "id, watermark, document";

Result<StoredInvoice> StoredFrom(Transaction& txn, const Statement& st) {
  StoredInvoice s;
  METERD_ASSIGN_OR_RETURN(s.invoice, FromJsonText(st.Text(2)));
  s.invoice.id = st.Int(0);
  s.coverage.watermark = st.Int(1);
  METERD_RETURN_IF_ERROR(Complete(txn, st.Int(0), &s));
  return s;
}

Result<std::vector<StoredInvoice>> ReadAll(Transaction& txn, Statement& st) {
  std::vector<StoredInvoice> out;
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    METERD_ASSIGN_OR_RETURN(StoredInvoice s, StoredFrom(txn, st));
    out.push_back(std::move(s));
  }
  return out;
}

constexpr std::string_view kNotVoid =
    "NOT EXISTS (SELECT 1 FROM invoice_events e WHERE e.invoice_id = i.id AND e.kind = 'void')";

// Inserts an issued document; returns it with its id, number and dates set.
Result<StoredInvoice> Insert(Transaction& txn, Invoice inv, const Coverage& coverage,
                             std::optional<int64_t> credit_for, const NumberingOptions& numbering,
                             int64_t now) {
  const char* kind = InvoiceKindName(inv.kind);
  METERD_ASSIGN_OR_RETURN(Statement seq,
                          txn.Prepare("SELECT COALESCE(MAX(sequence), 0) + 1 FROM invoices "
                                      "WHERE scope = ?1 AND kind = ?2"));
  seq.Bind(1, numbering.scope).Bind(2, kind);
  METERD_ASSIGN_OR_RETURN(bool row, seq.Step());
  if (!row) return Status::Corruption("invoice sequence: no row");
  inv.sequence = seq.Int(0);
  inv.number = Number(numbering, inv.sequence);
  inv.state = InvoiceState::kIssued;
  inv.issued_at = now;
  inv.due_at = now + numbering.payment_terms;
  METERD_ASSIGN_OR_RETURN(Statement ins, txn.Prepare(R"sql(
    INSERT INTO invoices (kind, scope, sequence, number, account, period_start, period_end,
                          credit_for, watermark, total, amount_due, issued_at, due_at, document)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING id)sql"));
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
  METERD_ASSIGN_OR_RETURN(Statement months,
                          txn.Prepare("INSERT INTO invoice_months (invoice_id, month, "
                                      "amount) VALUES (?1, ?2, ?3)"));
  for (const auto& [month, amount] : coverage.months) {
    months.Bind(1, inv.id).Bind(2, month).Bind(3, amount);
    METERD_RETURN_IF_ERROR(months.Run());
    METERD_RETURN_IF_ERROR(months.Reset());
  }
  StoredInvoice out;
  out.invoice = std::move(inv);
  out.coverage = coverage;
  return out;
}

}  // namespace

Result<std::unique_ptr<InvoiceStore>> InvoiceStore::Open(tenancy::BillingDb* db) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db->Begin());
  METERD_RETURN_IF_ERROR(tenancy::BillingDb::EnsureSchema(txn, kModule, kSchemaVersion, Ddl()));
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

Result<StoredInvoice> InvoiceStore::Issue(std::string_view account, int64_t period_start,
                                          const NumberingOptions& numbering, int64_t now) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement d, txn.Prepare(R"sql(
    SELECT document, watermark, coverage, provisional FROM invoice_drafts
    WHERE account = ?1 AND period_start = ?2)sql"));
  d.Bind(1, account).Bind(2, period_start);
  METERD_ASSIGN_OR_RETURN(bool row, d.Step());
  if (!row) {
    return Status::NotFound("no draft invoice of account '" + std::string(account) +
                            "' for the period starting " + std::to_string(period_start) +
                            " (run `meterctl invoice run` first)");
  }
  if (d.Int(3) != 0) {
    return Status::InvalidArgument("the draft of account '" + std::string(account) +
                                   "' is provisional (some hours of its period are open); it "
                                   "cannot be issued");
  }
  METERD_ASSIGN_OR_RETURN(Invoice inv, FromJsonText(d.Text(0)));
  METERD_ASSIGN_OR_RETURN(Coverage coverage, CoverageFrom(d.Int(1), d.Text(2)));
  METERD_ASSIGN_OR_RETURN(Statement dup,
                          txn.Prepare(std::string("SELECT number FROM invoices i WHERE "
                                                  "account = ?1 AND period_start = ?2 AND "
                                                  "kind = 'invoice' AND ") +
                                      std::string(kNotVoid)));
  dup.Bind(1, account).Bind(2, period_start);
  METERD_ASSIGN_OR_RETURN(bool exists, dup.Step());
  if (exists) {
    return Status::AlreadyExists("account '" + std::string(account) + "' already has invoice " +
                                 dup.Text(0) + " for this period");
  }
  METERD_ASSIGN_OR_RETURN(StoredInvoice out,
                          Insert(txn, std::move(inv), coverage, std::nullopt, numbering, now));
  METERD_ASSIGN_OR_RETURN(Statement del,
                          txn.Prepare("DELETE FROM invoice_drafts WHERE account = ?1 AND "
                                      "period_start = ?2"));
  del.Bind(1, account).Bind(2, period_start);
  METERD_RETURN_IF_ERROR(del.Run());
  METERD_RETURN_IF_ERROR(txn.Commit());
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
  METERD_ASSIGN_OR_RETURN(StoredInvoice out, Insert(txn, note, none, invoice_id, numbering, now));
  METERD_RETURN_IF_ERROR(txn.Commit());
  return out;
}

Status InvoiceStore::AddEvent(std::string_view number, const InvoiceEvent& e) {
  METERD_ASSIGN_OR_RETURN(Transaction txn, db_->Begin());
  METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
    INSERT INTO invoice_events (invoice_id, kind, amount, reference, actor, reason, at)
    SELECT id, ?2, ?3, ?4, ?5, ?6, ?7 FROM invoices WHERE number = ?1 RETURNING id)sql"));
  st.Bind(1, number).Bind(2, e.kind).Bind(3, e.amount).Bind(4, e.reference).Bind(5, e.actor);
  st.Bind(6, e.reason).Bind(7, e.at);
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("no invoice numbered '" + std::string(number) + "'");
  METERD_RETURN_IF_ERROR(st.Reset());
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
  return StoredFrom(txn, st);
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
  METERD_ASSIGN_OR_RETURN(StoredInvoice s, StoredFrom(txn, st));
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
