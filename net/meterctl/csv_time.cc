// meterd — net/meterctl/csv_time.cc
#include "net/meterctl/csv_time.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace meterd::cli {

bool SplitCsvLine(std::string_view line, std::vector<std::string>* fields) {
  fields->clear();
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string cur;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur.push_back(c);
      }
    } else if (c == '"' && cur.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      fields->push_back(std::move(cur));
      cur.clear();
      was_quoted = false;
    } else {
      cur.push_back(c);
    }
  }
  if (quoted) return false;
  fields->push_back(std::move(cur));
  return true;
}

std::string CsvField(std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::optional<uint64_t> ParseIntegralValue(std::string_view t, std::string* why) {
  auto refuse = [why](const char* reason) -> std::optional<uint64_t> {
    if (why) *why = reason;
    return std::nullopt;
  };
  // [-] digits [. digits] [(e|E) [+|-] digits], at least one mantissa digit.
  size_t i = 0;
  const bool negative = i < t.size() && t[i] == '-';
  if (negative) ++i;
  std::string digits;  // the mantissa's digits, the decimal point removed
  int64_t exponent = 0;
  auto take_digits = [&](bool fraction) {
    for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
      digits.push_back(t[i]);
      if (fraction) --exponent;
    }
  };
  take_digits(false);
  if (i < t.size() && t[i] == '.') {
    ++i;
    take_digits(true);
  }
  if (digits.empty()) return refuse("is not a number");
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    const bool exp_negative = i < t.size() && t[i] == '-';
    if (i < t.size() && (t[i] == '-' || t[i] == '+')) ++i;
    if (i == t.size()) return refuse("is not a number");
    int64_t e = 0;
    for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
      e = std::min<int64_t>(e * 10 + (t[i] - '0'), 1'000'000);  // saturates: far past 10^20
    }
    exponent += exp_negative ? -e : e;
  }
  if (i != t.size()) return refuse("is not a number");
  // value = digits x 10^exponent.
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return 0;  // zero, however written ("0.0", "-0", "0e5")
  digits.erase(0, first);
  if (exponent < 0) {
    const size_t shift = static_cast<size_t>(-exponent);
    if (shift >= digits.size() ||
        digits.find_first_not_of('0', digits.size() - shift) != std::string::npos) {
      return refuse("has a fractional part");
    }
    digits.resize(digits.size() - shift);
  } else {
    if (static_cast<int64_t>(digits.size()) + exponent > 20) return refuse("is out of range");
    digits.append(static_cast<size_t>(exponent), '0');
  }
  if (negative) return refuse("is negative");
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size()) return refuse("is out of range");
  return v;
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, p);
}

}  // namespace meterd::cli
