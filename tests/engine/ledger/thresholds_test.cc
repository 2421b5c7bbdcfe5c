// meterd — tests/engine/ledger/thresholds_test.cc: the balance state machine.
#include "engine/ledger/thresholds.h"

#include <gtest/gtest.h>

#include <random>

namespace meterd::engine::ledger {
namespace thresholds_test {

constexpr MicroCredits C = pricebook::kMicrosPerCredit;

ResolvedSettings Prepaid() {
  ResolvedSettings s;
  s.low_balance = 10 * C;
  s.credit_limit = 5 * C;
  s.hysteresis = 1 * C;
  return s;
}

TEST(Thresholds, StatesOfAPrepaidBalance) {
  const ResolvedSettings s = Prepaid();
  EXPECT_EQ(StateOf(11 * C, s), AccountState::kOk);
  EXPECT_EQ(StateOf(10 * C, s), AccountState::kOk);
  EXPECT_EQ(StateOf(10 * C - 1, s), AccountState::kLow);
  EXPECT_EQ(StateOf(0, s), AccountState::kLow);
  EXPECT_EQ(StateOf(-1, s), AccountState::kNegative);
  EXPECT_EQ(StateOf(-5 * C, s), AccountState::kNegative);
  EXPECT_EQ(StateOf(-5 * C - 1, s), AccountState::kSuspended);
}

TEST(Thresholds, PostpaidOnlySuspends) {
  ResolvedSettings s = Prepaid();
  s.mode = BillingMode::kPostpaid;
  EXPECT_EQ(StateOf(-1, s), AccountState::kOk);
  EXPECT_EQ(StateOf(-5 * C - 1, s), AccountState::kSuspended);
  EXPECT_EQ(TransitionEvents(AccountState::kOk, AccountState::kSuspended, s),
            (std::vector<std::string_view>{"suspend"}));
  // Out of suspension straight to ok: postpaid has no low or negative state.
  EXPECT_EQ(NextState(AccountState::kSuspended, -4 * C, s), AccountState::kOk);
}

TEST(Thresholds, OneEventPerThresholdCrossedInOrder) {
  const ResolvedSettings s = Prepaid();
  EXPECT_EQ(TransitionEvents(AccountState::kOk, AccountState::kSuspended, s),
            (std::vector<std::string_view>{"low_balance", "negative", "suspend"}));
  EXPECT_EQ(TransitionEvents(AccountState::kLow, AccountState::kNegative, s),
            (std::vector<std::string_view>{"negative"}));
  EXPECT_EQ(TransitionEvents(AccountState::kSuspended, AccountState::kNegative, s),
            (std::vector<std::string_view>{"resume"}));
  EXPECT_TRUE(TransitionEvents(AccountState::kNegative, AccountState::kOk, s).empty());
  ResolvedSettings no_low = s;
  no_low.low_balance.reset();
  EXPECT_EQ(TransitionEvents(AccountState::kOk, AccountState::kNegative, no_low),
            (std::vector<std::string_view>{"negative"}));
}

TEST(Thresholds, HysteresisKeepsAHoveringBalanceInItsState) {
  const ResolvedSettings s = Prepaid();
  // Just below zero, then back to just above: still negative until 0 + 1 credit.
  EXPECT_EQ(NextState(AccountState::kLow, -1, s), AccountState::kNegative);
  EXPECT_EQ(NextState(AccountState::kNegative, 1, s), AccountState::kNegative);
  EXPECT_EQ(NextState(AccountState::kNegative, C - 1, s), AccountState::kNegative);
  EXPECT_EQ(NextState(AccountState::kNegative, C, s), AccountState::kLow);
  // Suspended: out at -5 + 1 = -4 credits, and climbing further in one step when the balance
  // clears every bound.
  EXPECT_EQ(NextState(AccountState::kSuspended, -4 * C - 1, s), AccountState::kSuspended);
  EXPECT_EQ(NextState(AccountState::kSuspended, -4 * C, s), AccountState::kNegative);
  EXPECT_EQ(NextState(AccountState::kSuspended, 100 * C, s), AccountState::kOk);
  EXPECT_EQ(NextState(AccountState::kSuspended, 10 * C, s), AccountState::kLow);
  EXPECT_EQ(NextState(AccountState::kSuspended, 11 * C, s), AccountState::kOk);
}

// Property: whatever the walk, the state is never better than the balance alone allows, and
// a balance that stays within one hysteresis band of a bound never produces two events.
TEST(Thresholds, RandomWalksNeverFlap) {
  const ResolvedSettings s = Prepaid();
  std::mt19937_64 rng(7);
  for (int walk = 0; walk < 200; ++walk) {
    AccountState st = AccountState::kOk;
    MicroCredits balance = 20 * C;
    for (int step = 0; step < 500; ++step) {
      balance += static_cast<MicroCredits>(rng() % (4 * C)) - 2 * C;
      const AccountState next = NextState(st, balance, s);
      EXPECT_GE(next, StateOf(balance, s));
      st = next;
    }
  }
  // Hovering around zero within less than the hysteresis: one "negative", nothing else.
  AccountState st = AccountState::kLow;
  int events = 0;
  for (int i = 0; i < 100; ++i) {
    const MicroCredits b = (i % 2 ? 1 : -1) * (C / 3);
    const AccountState next = NextState(st, b, s);
    events += static_cast<int>(TransitionEvents(st, next, s).size());
    st = next;
  }
  EXPECT_EQ(events, 1);
}

}  // namespace thresholds_test
}  // namespace meterd::engine::ledger
