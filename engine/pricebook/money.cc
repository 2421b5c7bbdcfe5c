// meterd — engine/pricebook/money.cc
#include "engine/pricebook/money.h"

#include <algorithm>

namespace meterd::engine::pricebook {
namespace {

constexpr __int128 Pow10(int n) {
  __int128 v = 1;
  for (int i = 0; i < n; ++i) v *= 10;
  return v;
}

__int128 Abs(__int128 v) { return v < 0 ? -v : v; }

// Digits of a non-negative integer.
std::string Digits(unsigned __int128 v) {
  if (v == 0) return "0";
  std::string out;
  while (v != 0) {
    out.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string WithThousands(const std::string& digits) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i != 0 && (n - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// v / 10^scale as text with between min_frac and scale fractional digits (trailing zeros
// beyond min_frac dropped).
std::string FixedText(__int128 v, int scale, int min_frac, bool thousands) {
  const bool neg = v < 0;
  const unsigned __int128 a = static_cast<unsigned __int128>(neg ? -v : v);
  const unsigned __int128 p = static_cast<unsigned __int128>(Pow10(scale));
  std::string whole = Digits(a / p);
  if (thousands) whole = WithThousands(whole);
  std::string frac = scale == 0 ? std::string() : Digits(a % p);
  frac.insert(0, static_cast<size_t>(scale) - frac.size(), '0');
  while (static_cast<int>(frac.size()) > min_frac && frac.back() == '0') frac.pop_back();
  std::string out = neg ? "-" : "";
  out += whole;
  if (!frac.empty()) {
    out += '.';
    out += frac;
  }
  return out;
}

}  // namespace

Result<Decimal> Decimal::Parse(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  size_t i = 0;
  bool neg = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
    neg = text[i] == '-';
    ++i;
  }
  __int128 whole = 0;
  size_t whole_digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    whole = whole * 10 + (text[i] - '0');
    ++whole_digits;
    ++i;
    if (whole > INT64_MAX / kOne) return Status::InvalidArgument(quoted + " is too large");
  }
  __int128 frac = 0;
  size_t frac_digits = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (frac_digits == kScale) {
        return Status::InvalidArgument(quoted + " has more than 9 decimal places");
      }
      frac = frac * 10 + (text[i] - '0');
      ++frac_digits;
      ++i;
    }
  }
  if (i != text.size() || whole_digits + frac_digits == 0) {
    return Status::InvalidArgument(quoted + " is not a decimal number (digits, one optional '.')");
  }
  frac *= Pow10(kScale - static_cast<int>(frac_digits));
  __int128 units = whole * kOne + frac;
  if (units > INT64_MAX) return Status::InvalidArgument(quoted + " is too large");
  return Decimal(static_cast<int64_t>(neg ? -units : units));
}

std::string Decimal::ToString() const { return FixedText(units_, kScale, 0, false); }

std::optional<int64_t> Decimal::ScaledExact(int digits) const {
  const int64_t div = static_cast<int64_t>(Pow10(kScale - digits));
  if (units_ % div != 0) return std::nullopt;
  return units_ / div;
}

std::optional<__int128> Decimal::TimesExact(uint64_t factor) const {
  __int128 prod;
  if (__builtin_mul_overflow(static_cast<__int128>(units_), static_cast<__int128>(factor), &prod)) {
    return std::nullopt;
  }
  if (prod % kOne != 0) return std::nullopt;
  return prod / kOne;
}

const char* RoundingModeName(RoundingMode mode) {
  switch (mode) {
    case RoundingMode::kHalfEven:
      return "half_even";
    case RoundingMode::kHalfAwayFromZero:
      return "half_away_from_zero";
    case RoundingMode::kUp:
      return "up";
    case RoundingMode::kDown:
      return "down";
  }
  return "?";
}

std::optional<RoundingMode> ParseRoundingMode(std::string_view name) {
  for (RoundingMode m : {RoundingMode::kHalfEven, RoundingMode::kHalfAwayFromZero,
                         RoundingMode::kUp, RoundingMode::kDown}) {
    if (name == RoundingModeName(m)) return m;
  }
  return std::nullopt;
}

__int128 RoundDiv(__int128 num, __int128 den, RoundingMode mode) {
  const __int128 q = num / den;  // truncates towards zero
  const __int128 r = num % den;  // same sign as num
  if (r == 0) return q;
  const __int128 away = num < 0 ? -1 : 1;
  const __int128 ar = Abs(r);
  const __int128 rest = den - ar;  // compare ar with den / 2 without overflow: ar vs rest
  switch (mode) {
    case RoundingMode::kDown:
      return q;
    case RoundingMode::kUp:
      return q + away;
    case RoundingMode::kHalfAwayFromZero:
      return ar >= rest ? q + away : q;
    case RoundingMode::kHalfEven:
      if (ar > rest) return q + away;
      if (ar < rest) return q;
      return (q % 2 == 0) ? q : q + away;
  }
  return q;
}

Result<int64_t> ToMinorUnits(__int128 micro_credits, const Currency& currency, RoundingMode mode) {
  __int128 num;
  if (__builtin_mul_overflow(micro_credits, static_cast<__int128>(currency.per_credit.units()),
                             &num) ||
      __builtin_mul_overflow(num, Pow10(currency.minor_digits), &num)) {
    return Status::OutOfRange("amount too large to convert to " + currency.code);
  }
  const __int128 minor = RoundDiv(num, Pow10(6 + Decimal::kScale), mode);
  if (minor > INT64_MAX || minor < INT64_MIN) {
    return Status::OutOfRange("amount too large to convert to " + currency.code);
  }
  return static_cast<int64_t>(minor);
}

std::string FormatMinor(int64_t minor, const Currency& currency) {
  const bool neg = minor < 0;
  const __int128 a = Abs(static_cast<__int128>(minor));
  std::string out = neg ? "-" : "";
  out += currency.prefix;
  out += FixedText(a, currency.minor_digits, currency.minor_digits, true);
  out += currency.suffix;
  return out;
}

std::string FormatUnitPrice(MicroCredits unit_price, const Currency& currency) {
  // value x 10^9 in the currency = micro x per_credit.units / 10^6, rounded half-even.
  const __int128 scaled = RoundDiv(static_cast<__int128>(unit_price) * currency.per_credit.units(),
                                   Pow10(6), RoundingMode::kHalfEven);
  const bool neg = scaled < 0;
  std::string out = neg ? "-" : "";
  out += currency.prefix;
  out += FixedText(Abs(scaled), Decimal::kScale, 4, true);
  out += currency.suffix;
  return out;
}

std::string FormatCredits(__int128 micro_credits) { return FixedText(micro_credits, 6, 0, false); }

std::string ToString128(unsigned __int128 v) { return Digits(v); }

std::string ToString128(__int128 v) {
  if (v >= 0) return Digits(static_cast<unsigned __int128>(v));
  return "-" + Digits(static_cast<unsigned __int128>(-(v + 1)) + 1);
}

}  // namespace meterd::engine::pricebook
