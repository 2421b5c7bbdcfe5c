// meterd — net/meterctl/usage_cmd.h: `meterctl usage` and `meterctl rollup rebuild`.
//
// Thread-safety: not synchronised (one command per process).
#pragma once

#include <string>

#include "net/client/client.h"
#include "net/meterctl/table.h"

namespace meterd::cli {

// Prints the usage lines of `query`. Returns the process exit code (0 ok, 1 failure or damaged
// rollup blocks reported).
int RunUsage(net::Client* client, const net::UsageQuery& query, Format format);

// Recomputes [from, to) from raw samples and prints what changed: the counts, then the first
// changed buckets (JSON: one object, the buckets in "first_changes").
int RunRollupRebuild(net::Client* client, int64_t from, int64_t to, const std::string& resource,
                     const std::string& metric, Format format);

}  // namespace meterd::cli
