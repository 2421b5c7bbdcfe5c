// meterd — engine/ledger/ledger_holds.cc
//
// Holds (ledger.h, "holds"; docs/ledger.md, "Holds"): a cause other than the balance that keeps
// an account suspended, today an invoice overdue past the credit limit by days overdue. Each
// change is an `account_holds` row written with the account's state row and its event in one
// transaction, so a hold, its suspension and its `suspend` event exist together or not at all.
// Also the reminder-days list of the collections settings.
#include <charconv>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/events/event_log.h"
#include "engine/ledger/ledger.h"
#include "engine/ledger/ledger_impl.h"
#include "engine/pricebook/pricing.h"

namespace meterd::engine::ledger {

using tenancy::Statement;
using tenancy::Transaction;

namespace {
constexpr size_t kMaxReminderSteps = 16;
}

Result<std::vector<int64_t>> ParseReminderDays(std::string_view text) {
  std::set<int64_t> days;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    int64_t v = 0;
    const char* begin = item.data();
    if (!item.empty() && item.front() == '+') ++begin;
    auto [end, ec] = std::from_chars(begin, item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() ||
        v < -kMaxCollectionDays || v > kMaxCollectionDays) {
      return Status::InvalidArgument(
          "'" + std::string(item) +
          "' is not a whole number of days from the due date (negative before it, 0 on it, "
          "positive overdue), between -" +
          std::to_string(kMaxCollectionDays) + " and " + std::to_string(kMaxCollectionDays));
    }
    days.insert(v);
    pos = comma + 1;
  }
  if (days.size() > kMaxReminderSteps) {
    return Status::InvalidArgument("at most " + std::to_string(kMaxReminderSteps) +
                                   " reminder days");
  }
  return std::vector<int64_t>(days.begin(), days.end());
}

std::string FormatReminderDays(const std::vector<int64_t>& days) {
  std::string out;
  for (int64_t d : days) out += (out.empty() ? "" : ",") + std::to_string(d);
  return out;
}

Result<HoldResult> Ledger::SetHold(const HoldChange& c, int64_t now) {
  if (c.reference.empty()) return Status::InvalidArgument("a hold needs its reference");
  if (c.actor.empty()) return Status::InvalidArgument("a hold needs its actor");
  auto t = impl_->tenancy ? impl_->tenancy() : nullptr;
  if (t == nullptr || t->FindAccount(c.account) == nullptr) {
    return Status::NotFound("unknown account '" + c.account + "'");
  }
  std::lock_guard write(impl_->write_mu);
  Book book;
  std::set<std::string> refs;
  ResolvedSettings settings;
  {
    std::shared_lock lock(impl_->mu);
    if (auto it = impl_->books.find(c.account); it != impl_->books.end()) book = it->second;
    if (auto it = impl_->holds.find(c.account); it != impl_->holds.end()) refs = it->second;
    settings = impl_->ResolveLocked(c.account, t.get());
  }
  HoldResult out;
  out.state = book.state;
  if (c.hold == (refs.count(c.reference) > 0)) return out;  // already so
  if (c.hold) {
    refs.insert(c.reference);
  } else {
    refs.erase(c.reference);
  }
  const AccountState next =
      !refs.empty() ? AccountState::kSuspended : NextState(book.state, book.balance, settings);
  METERD_ASSIGN_OR_RETURN(Transaction txn, impl_->db->Begin());
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      INSERT INTO account_holds (account, reference, held, state, actor, reason, at, created_at)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8))sql"));
    st.Bind(1, c.account).Bind(2, c.reference).Bind(3, int64_t{c.hold ? 1 : 0});
    st.Bind(4, AccountStateName(next)).Bind(5, c.actor).Bind(6, c.reason).Bind(7, c.at);
    st.Bind(8, now);
    METERD_RETURN_IF_ERROR(st.Run());
  }
  if (next != book.state) {
    // Only suspend or resume: a hold moves an account in or out of suspended, never through
    // the balance's low and negative notices (those follow the balance alone).
    const std::string_view kind = next == AccountState::kSuspended         ? events::kKindSuspend
                                  : book.state == AccountState::kSuspended ? events::kKindResume
                                                                           : std::string_view{};
    if (!kind.empty()) {
      nlohmann::json payload = {{"balance", pricebook::FormatCredits(book.balance)},
                                {"balance_micro", book.balance},
                                {"state", AccountStateName(next)},
                                {"previous_state", AccountStateName(book.state)},
                                {"mode", BillingModeName(settings.mode)},
                                {"credit_limit", pricebook::FormatCredits(settings.credit_limit)},
                                {"entry_id", book.last_entry},
                                {"cause", "overdue"},
                                {"reference", c.reference},
                                {"reason", c.reason},
                                {"holds", refs.size()}};
      events::Event ev;
      ev.account = c.account;
      ev.kind = std::string(kind);
      ev.at = c.at;
      ev.payload = payload.dump();
      METERD_RETURN_IF_ERROR(events::EventLog::Append(txn, ev).status());
      out.events.push_back(ev.kind);
    }
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare(R"sql(
      INSERT INTO account_states (account, state, balance, entry_id, at)
      VALUES (?1, ?2, ?3, ?4, ?5))sql"));
    st.Bind(1, c.account).Bind(2, AccountStateName(next)).Bind(3, book.balance);
    st.Bind(4, book.last_entry).Bind(5, c.at);
    METERD_RETURN_IF_ERROR(st.Run());
  }
  METERD_RETURN_IF_ERROR(txn.Commit());
  {
    std::unique_lock lock(impl_->mu);
    Book& live = impl_->books[c.account];
    live.state = next;
    live.holds = static_cast<uint32_t>(refs.size());
    if (refs.empty()) {
      impl_->holds.erase(c.account);
    } else {
      impl_->holds[c.account] = std::move(refs);
    }
  }
  if (impl_->events && !out.events.empty()) impl_->events->Notify();
  out.changed = true;
  out.state = next;
  return out;
}

std::vector<std::string> Ledger::Holds(std::string_view account) const {
  std::shared_lock lock(impl_->mu);
  auto it = impl_->holds.find(account);
  if (it == impl_->holds.end()) return {};
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

std::map<std::string, std::vector<std::string>> Ledger::AllHolds() const {
  std::shared_lock lock(impl_->mu);
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [account, refs] : impl_->holds) {
    out[account] = std::vector<std::string>(refs.begin(), refs.end());
  }
  return out;
}

}  // namespace meterd::engine::ledger
