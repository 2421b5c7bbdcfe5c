// meterd — engine/pricebook/money.h
//
// Exact money. Amounts are integers of micro-credits (10^-6 of the price book's credit unit);
// exchange rates and other factors are Decimals (fixed point, 9 fractional digits, parsed from
// text, never through a double). An exact charge is a fraction num / den (128-bit) that is
// rounded once, per line, with the price book's RoundingMode (docs/rating.md, "Rounding"):
//
//   half_even            nearest; a tie (exactly .5 of the last unit) goes to the even neighbour
//   half_away_from_zero  nearest; a tie goes away from zero (2.5 -> 3, -2.5 -> -3)
//   up                   away from zero (any remainder rounds 2.1 -> 3, -2.1 -> -3)
//   down                 towards zero (truncation: 2.9 -> 2, -2.9 -> -2)
//
// For the non-negative amounts of usage charges, up is the ceiling and down the floor.
//
// Thread-safety: pure functions and values.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/base/result.h"

namespace meterd::engine::pricebook {

using MicroCredits = int64_t;
constexpr int64_t kMicrosPerCredit = 1'000'000;

// A decimal with 9 fractional digits: value = units / 10^9, |value| < 9.2 x 10^9.
class Decimal {
 public:
  static constexpr int kScale = 9;
  static constexpr int64_t kOne = 1'000'000'000;

  constexpr Decimal() = default;
  static constexpr Decimal FromUnits(int64_t units) { return Decimal(units); }
  static constexpr Decimal FromInt(int64_t v) { return Decimal(v * kOne); }
  // "12", "-3", "1.2345", "0.000000001", ".5", "2."; at most 9 fractional digits; an optional
  // leading sign; no exponent, no thousands separators, no spaces. InvalidArgument naming the
  // problem ("has more than 9 decimal places", "is not a decimal number", "is too large").
  static Result<Decimal> Parse(std::string_view text);

  constexpr int64_t units() const { return units_; }
  constexpr bool is_zero() const { return units_ == 0; }
  constexpr bool is_negative() const { return units_ < 0; }
  // Shortest exact text: "1.2345", "12", "-0.5".
  std::string ToString() const;
  // value x 10^digits when that is an integer (e.g. digits = 6: micro-credits); nullopt when
  // the value has more than `digits` fractional digits. REQUIRES: 0 <= digits <= 9.
  std::optional<int64_t> ScaledExact(int digits) const;
  // value x factor when integral and it fits in 128 bits (a tier edge in raw units).
  std::optional<__int128> TimesExact(uint64_t factor) const;

  constexpr auto operator<=>(const Decimal&) const = default;

 private:
  constexpr explicit Decimal(int64_t units) : units_(units) {}
  int64_t units_ = 0;
};

enum class RoundingMode : uint8_t {
  kHalfEven = 0,  // the default
  kHalfAwayFromZero = 1,
  kUp = 2,
  kDown = 3,
};
// "half_even", "half_away_from_zero", "up", "down".
const char* RoundingModeName(RoundingMode mode);
std::optional<RoundingMode> ParseRoundingMode(std::string_view name);

// num / den rounded by `mode`. REQUIRES: den > 0.
__int128 RoundDiv(__int128 num, __int128 den, RoundingMode mode);

struct Currency {
  std::string code;          // "GBP", "EUR"
  Decimal per_credit;        // how much of this currency one credit is worth (> 0)
  std::string prefix;        // "GBP ", "€"
  std::string suffix;        // " kr"
  uint8_t minor_digits = 2;  // 0..4 (pence: 2)

  bool operator==(const Currency&) const = default;
};

// An amount of micro-credits in the currency's minor unit, rounded once:
//   minor = round(micro x per_credit.units x 10^minor_digits / (10^6 x 10^9)).
// OutOfRange on overflow (cannot happen for |micro| < 9.2e18, per_credit <= 10^6).
Result<int64_t> ToMinorUnits(__int128 micro_credits, const Currency& currency, RoundingMode mode);
// A whole amount in minor units with prefix/suffix and thousands separators:
// 295591 -> "GBP 2,955.91"; -5 -> "-GBP 0.05".
std::string FormatMinor(int64_t minor, const Currency& currency);
// A unit price in the currency (not rounded to the minor unit): at least 4 decimals, more when
// needed to be exact, at most 9 then rounded half-even: 2200000 micro-credits at 1 GBP/credit
// -> "GBP 2.2000"; 6900 -> "GBP 0.0069".
std::string FormatUnitPrice(MicroCredits unit_price, const Currency& currency);
// Micro-credits as credits, exact: 2955910000 -> "2955.91", 1 -> "0.000001".
std::string FormatCredits(__int128 micro_credits);

// Text of an unsigned / signed 128-bit integer.
std::string ToString128(unsigned __int128 v);
std::string ToString128(__int128 v);

}  // namespace meterd::engine::pricebook
