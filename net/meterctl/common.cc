// meterd — net/meterctl/common.cc
#include "net/meterctl/common.h"

#include <cinttypes>
#include <cstdio>

#include "storage/base/time_text.h"

namespace meterd::cli {

std::string Credits(int64_t micro) {
  // Unsigned arithmetic: INT64_MIN has no positive int64 counterpart.
  const bool neg = micro < 0;
  const uint64_t v = neg ? 0 - static_cast<uint64_t>(micro) : static_cast<uint64_t>(micro);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s%" PRIu64 ".%06" PRIu64, neg ? "-" : "", v / 1000000,
                v % 1000000);
  return buf;
}

std::string Time(int64_t unix_seconds) {
  return unix_seconds > 0 ? base::FormatRfc3339(unix_seconds) : std::string();
}

int Fail(const Status& st) {
  std::fprintf(stderr, "meterctl: %s\n", st.ToString().c_str());
  return 1;
}

Result<std::unique_ptr<net::Client>> Connect(const Common& common) {
  net::ClientOptions o;
  o.client_name = "meterctl/0.1";
  METERD_RETURN_IF_ERROR(net::ResolveEndpoint(common.endpoint, &o));
  auto client = std::make_unique<net::Client>(o);
  METERD_RETURN_IF_ERROR(client->Connect());
  return client;
}

}  // namespace meterd::cli
