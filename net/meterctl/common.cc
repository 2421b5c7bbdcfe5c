// meterd — net/meterctl/common.cc
#include "net/meterctl/common.h"

#include <cstdio>

namespace meterd::cli {

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
