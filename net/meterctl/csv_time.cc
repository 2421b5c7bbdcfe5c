// meterd — net/meterctl/csv_time.cc
#include "net/meterctl/csv_time.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "storage/base/calendar.h"

namespace meterd::cli {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::optional<int64_t> ParseTimestamp(std::string_view t) {
  if (t.empty()) return std::nullopt;
  if (t.find('-', 1) == std::string_view::npos && t.find(':') == std::string_view::npos) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
    return v;
  }
  int y, mo, d, h, mi, s;
  if (!Digits(t, 0, 4, &y) || t.size() < 20 || t[4] != '-' || !Digits(t, 5, 2, &mo) ||
      t[7] != '-' || !Digits(t, 8, 2, &d) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') ||
      !Digits(t, 11, 2, &h) || t[13] != ':' || !Digits(t, 14, 2, &mi) || t[16] != ':' ||
      !Digits(t, 17, 2, &s)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  size_t pos = 19;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    const size_t start = pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      if (t[pos] != '0') return std::nullopt;  // sub-second precision is not meaningful here
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int64_t offset = 0;
  if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
    ++pos;
  } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
    int oh, om;
    if (!Digits(t, pos + 1, 2, &oh) || pos + 3 >= t.size() || t[pos + 3] != ':' ||
        !Digits(t, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = (t[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != t.size()) return std::nullopt;
  return base::DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
         h * 3600 + mi * 60 + s - offset;
}

bool LacksTimeZone(std::string_view text) {
  return !ParseTimestamp(text) && ParseTimestamp(std::string(text) + "Z").has_value();
}

std::string FormatRfc3339(int64_t t) {
  const int64_t days = base::DayOf(t);
  const int64_t secs = t - days * 86400;
  const base::CivilDate c = base::CivilFromDays(days);
  const int64_t y = c.year;
  const unsigned m = c.month, d = c.day;
  char buf[96];  // room for any int64 year, so the compiler sees no truncation
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  return buf;
}

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
