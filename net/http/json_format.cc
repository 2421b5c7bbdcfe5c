// meterd — net/http/json_format.cc
#include "net/http/json_format.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "storage/base/time_text.h"

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

std::string FormatRfc3339(int64_t unix_seconds) { return base::FormatRfc3339(unix_seconds); }

std::optional<int64_t> ParseTime(std::string_view text) { return base::ParseTimestamp(text); }

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
