// meterd — net/http/wire_json.h
//
// The JSON form of the binary protocol's replies, for the HTTP API (docs/http-api.md). Each
// function reads the verified reply frames of one request (a streamed reply is several
// chunks, in order) and returns the response body. Money follows json_format.h: a decimal
// string of credits plus the exact `_micro` integer; times are RFC 3339 UTC.
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "net/schema/meterd_generated.h"

namespace meterd::net {

using Json = nlohmann::ordered_json;
using Replies = std::vector<const wire::Envelope*>;

Json UsageJson(const Replies& replies);
Json ChargesJson(const Replies& replies);
Json EstimateJson(const Replies& replies);
Json BalancesJson(const Replies& replies);  // {"balances": [...]}
Json BalanceJson(const wire::BalanceInfo& b);
Json LedgerJson(const Replies& replies);
Json PostEntryJson(const Replies& replies);
Json EventsJson(const Replies& replies);
Json CatalogJson(const Replies& replies);  // the catalog document itself
Json ResourceHostsJson(const Replies& replies);
Json StatsJson(const Replies& replies);
Json MetricsJson(const Replies& replies);

}  // namespace meterd::net
