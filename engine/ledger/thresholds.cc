// meterd — engine/ledger/thresholds.cc
#include "engine/ledger/thresholds.h"

namespace meterd::engine::ledger {

const char* AccountStateName(AccountState s) {
  switch (s) {
    case AccountState::kOk:
      return "ok";
    case AccountState::kLow:
      return "low";
    case AccountState::kNegative:
      return "negative";
    case AccountState::kSuspended:
      return "suspended";
  }
  return "ok";
}

std::optional<AccountState> ParseAccountState(std::string_view name) {
  for (AccountState s :
       {AccountState::kOk, AccountState::kLow, AccountState::kNegative, AccountState::kSuspended}) {
    if (name == AccountStateName(s)) return s;
  }
  return std::nullopt;
}

const char* BillingModeName(BillingMode m) {
  return m == BillingMode::kPostpaid ? "postpaid" : "prepaid";
}

std::optional<BillingMode> ParseBillingMode(std::string_view name) {
  if (name == "prepaid") return BillingMode::kPrepaid;
  if (name == "postpaid") return BillingMode::kPostpaid;
  return std::nullopt;
}

AccountState StateOf(MicroCredits balance, const ResolvedSettings& s) {
  if (balance < -s.credit_limit) return AccountState::kSuspended;
  if (s.mode == BillingMode::kPostpaid) return AccountState::kOk;
  if (balance < 0) return AccountState::kNegative;
  if (s.low_balance && balance < *s.low_balance) return AccountState::kLow;
  return AccountState::kOk;
}

namespace {

// Whether an account with these settings can be in `state` at all.
bool Applies(AccountState state, const ResolvedSettings& s) {
  switch (state) {
    case AccountState::kLow:
      return s.mode == BillingMode::kPrepaid && s.low_balance.has_value();
    case AccountState::kNegative:
      return s.mode == BillingMode::kPrepaid;
    case AccountState::kOk:
    case AccountState::kSuspended:
      return true;
  }
  return true;
}

// The bound whose crossing put an account in `state` (the way out is this plus hysteresis).
MicroCredits EntryBound(AccountState state, const ResolvedSettings& s) {
  switch (state) {
    case AccountState::kSuspended:
      return -s.credit_limit;
    case AccountState::kNegative:
      return 0;
    case AccountState::kLow:
      return s.low_balance.value_or(0);
    case AccountState::kOk:
      break;
  }
  return 0;
}

}  // namespace

AccountState NextState(AccountState from, MicroCredits balance, const ResolvedSettings& s) {
  AccountState raw = StateOf(balance, s);
  if (raw >= from) return raw;  // worse or equal: at once
  // Better: climb one state at a time while the balance clears each bound plus hysteresis.
  AccountState state = from;
  while (state > raw) {
    const __int128 way_out = static_cast<__int128>(EntryBound(state, s)) + s.hysteresis;
    if (balance < way_out) break;
    state = static_cast<AccountState>(static_cast<uint8_t>(state) - 1);
    // Skip states that do not apply (postpaid has no low or negative; no threshold set).
    while (state > raw && !Applies(state, s)) {
      state = static_cast<AccountState>(static_cast<uint8_t>(state) - 1);
    }
  }
  return state;
}

std::vector<std::string_view> TransitionEvents(AccountState from, AccountState to,
                                               const ResolvedSettings& s) {
  std::vector<std::string_view> out;
  if (to > from) {
    if (from < AccountState::kLow && to >= AccountState::kLow && s.low_balance &&
        s.mode == BillingMode::kPrepaid) {
      out.push_back("low_balance");
    }
    if (from < AccountState::kNegative && to >= AccountState::kNegative &&
        s.mode == BillingMode::kPrepaid) {
      out.push_back("negative");
    }
    if (to == AccountState::kSuspended) out.push_back("suspend");
  } else if (from == AccountState::kSuspended && to < from) {
    out.push_back("resume");
  }
  return out;
}

}  // namespace meterd::engine::ledger
