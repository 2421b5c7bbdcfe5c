// meterd — net/http/json_format.cc
#include "net/http/json_format.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace meterd::net {

std::string FormatCredits(int64_t micro) {
  // Unsigned arithmetic: INT64_MIN has no positive int64 counterpart.
  const bool negative = micro < 0;
  const uint64_t magnitude =
      negative ? ~static_cast<uint64_t>(micro) + 1 : static_cast<uint64_t>(micro);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s%llu.%06llu", negative ? "-" : "",
                static_cast<unsigned long long>(magnitude / 1000000),
                static_cast<unsigned long long>(magnitude % 1000000));
  return buf;
}

std::string FormatRfc3339(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  tm parts{};
  if (gmtime_r(&t, &parts) == nullptr) return std::to_string(unix_seconds);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return buf;
}

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

std::optional<int64_t> ParseTime(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      (text[0] == '-' && text.size() > 1)) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return v;
  }
  // YYYY-MM-DDTHH:MM:SS then Z or +HH:MM / -HH:MM.
  int year, month, day, hour, minute, second;
  if (text.size() < 20 || !Digits(text, 0, 4, &year) || text[4] != '-' ||
      !Digits(text, 5, 2, &month) || text[7] != '-' || !Digits(text, 8, 2, &day) ||
      (text[10] != 'T' && text[10] != 't') || !Digits(text, 11, 2, &hour) || text[13] != ':' ||
      !Digits(text, 14, 2, &minute) || text[16] != ':' || !Digits(text, 17, 2, &second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  int64_t offset = 0;
  const std::string_view zone = text.substr(19);
  if (zone == "Z" || zone == "z") {
    offset = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int oh, om;
    if (!Digits(zone, 1, 2, &oh) || !Digits(zone, 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = (zone[0] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  const time_t t = timegm(&parts);
  // timegm normalises 31 February into March: refuse dates that do not exist.
  if (parts.tm_mday != day || parts.tm_mon != month - 1) return std::nullopt;
  return static_cast<int64_t>(t) - offset;
}

std::string FormatU128(unsigned __int128 v) {
  if (v == 0) return "0";
  char buf[48];
  size_t n = 0;
  while (v != 0) {
    buf[n++] = static_cast<char>('0' + static_cast<int>(v % 10));
    v /= 10;
  }
  std::reverse(buf, buf + n);
  return std::string(buf, n);
}

unsigned HttpStatusOf(wire::ErrorCode code) {
  switch (code) {
    case wire::ErrorCode::Ok:
      return 200;
    case wire::ErrorCode::NotFound:
      return 404;
    case wire::ErrorCode::InvalidArgument:
    case wire::ErrorCode::OutOfRange:
    case wire::ErrorCode::MalformedFrame:
      return 400;
    case wire::ErrorCode::Unauthenticated:
      return 401;
    case wire::ErrorCode::PermissionDenied:
      return 403;
    case wire::ErrorCode::AlreadyExists:
      return 409;
    case wire::ErrorCode::FrameTooLarge:
      return 413;
    case wire::ErrorCode::Busy:
      return 429;
    case wire::ErrorCode::NotSupported:
    case wire::ErrorCode::UnsupportedVersion:
      return 501;
    case wire::ErrorCode::Unavailable:
    case wire::ErrorCode::ShuttingDown:
    case wire::ErrorCode::TooManyConnections:
    case wire::ErrorCode::ResourceExhausted:  // the disk is full: retry later
      return 503;
    case wire::ErrorCode::IdleTimeout:
      return 408;
    case wire::ErrorCode::Corruption:
    case wire::ErrorCode::IOError:
    case wire::ErrorCode::Internal:
      return 500;
  }
  return 500;
}

}  // namespace meterd::net
