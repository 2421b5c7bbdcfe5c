// meterd — engine/ledger/thresholds.h
//
// The balance state machine of one account (docs/ledger.md, "Thresholds"): which state a
// balance puts an account in, and which events a change of balance emits. Pure functions.
//
// States, worst last: ok, low, negative, suspended. With the account's resolved settings
// (low-balance threshold L, optional; credit limit C >= 0; hysteresis H >= 0):
//
//   prepaid    suspended  when balance < -C
//              negative   when balance < 0
//              low        when L is set and balance < L
//   postpaid   suspended  when balance < -C (postpaid balances are negative between
//              invoices; low and negative do not apply)
//
// Worsening is immediate. Improving needs the balance back at or above the bound that was
// crossed plus H (the way out of negative is balance >= 0 + H), so a balance hovering at a
// threshold does not flap. One event per threshold crossed downwards, in order
// (low_balance, negative, suspend), and `resume` when an account leaves suspended.
//
// Thread-safety: pure functions and values.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/pricebook/money.h"

namespace meterd::engine::ledger {

using pricebook::MicroCredits;

enum class AccountState : uint8_t { kOk = 0, kLow = 1, kNegative = 2, kSuspended = 3 };
const char* AccountStateName(AccountState s);  // "ok", "low", "negative", "suspended"
std::optional<AccountState> ParseAccountState(std::string_view name);

enum class BillingMode : uint8_t { kPrepaid = 0, kPostpaid = 1 };
const char* BillingModeName(BillingMode m);  // "prepaid", "postpaid"
std::optional<BillingMode> ParseBillingMode(std::string_view name);

// One account's settings after resolution (account, then its domains, then the global row,
// then these defaults).
struct ResolvedSettings {
  BillingMode mode = BillingMode::kPrepaid;
  std::optional<MicroCredits> low_balance;                // no low-balance notice when unset
  MicroCredits credit_limit = 0;                          // >= 0
  MicroCredits hysteresis = pricebook::kMicrosPerCredit;  // 1 credit
};

// The state a balance puts an account in, ignoring history (no hysteresis).
AccountState StateOf(MicroCredits balance, const ResolvedSettings& s);

// The state after a balance change from an account in state `from`: worsening at once,
// improving only past the crossed bound plus the hysteresis (above).
AccountState NextState(AccountState from, MicroCredits balance, const ResolvedSettings& s);

// Event kinds emitted by a move from `from` to `to` (empty when none), in order.
std::vector<std::string_view> TransitionEvents(AccountState from, AccountState to,
                                               const ResolvedSettings& s);

}  // namespace meterd::engine::ledger
