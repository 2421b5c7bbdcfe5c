// meterd — engine/invoicing/statement.h
//
// Statement of account (docs/invoices.md, "Statement of account"): one account's ledger between
// two instants with its opening and closing balance, and the invoices and credit notes issued
// in the period with what was paid and credited against them.
//
// Invariants (by construction):
//   closing = opening + sum(entries[].amount), exactly, in micro-credits;
//   entries[i].balance_after = opening + entries[0..i].amount (ledger id order);
//   opening = the sum of every entry of the account with at < from.
// All of it is one ledger read (every entry with at < to), so a statement of [a, b) closes
// exactly where the statement of [b, c) read at the same moment opens.
//
// Thread-safety: pure functions over thread-safe readers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/invoicing/invoice_store.h"
#include "engine/ledger/ledger.h"

namespace meterd::engine::invoicing {

// A statement lists at most this many entries (a frame's worth); narrow the period for more.
inline constexpr size_t kMaxStatementEntries = 50000;

struct StatementLine {
  ledger::Entry entry;
  MicroCredits balance_after = 0;
  std::vector<ledger::EntryTax> taxes;  // a top-up's taxes (vat_on_prepaid: topup), not in amount
};

struct StatementDocument {
  std::string number, kind, state, credit_note_for;
  int64_t period_start = 0, period_end = 0, issued_at = 0, due_at = 0;
  MicroCredits total = 0, amount_due = 0, paid = 0, credited = 0;
};

struct AccountStatement {
  std::string account;
  int64_t from = 0, to = 0;
  MicroCredits opening = 0, closing = 0;
  MicroCredits credits = 0, debits = 0;  // sums of the positive and negative entries
  MicroCredits topup_taxes = 0;          // taxes charged on the period's top-ups (not entries)
  std::vector<StatementLine> entries;
  std::vector<StatementDocument> documents;  // issued in [from, to), by issue time
};

// InvalidArgument when from >= to or the period has more than kMaxStatementEntries entries;
// NotFound for an account the ledger does not know.
Result<AccountStatement> BuildStatement(const ledger::Ledger& ledger, const InvoiceStore& store,
                                        const std::string& account, int64_t from, int64_t to);

// The statement as JSON (docs/invoices.md, "Statement of account"): amounts as exact credits
// text plus micro-credits.
nlohmann::ordered_json StatementJson(const AccountStatement& s);

}  // namespace meterd::engine::invoicing
