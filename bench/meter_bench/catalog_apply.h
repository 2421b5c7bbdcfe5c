// meterd — bench/meter_bench/catalog_apply.h
//
// Applies catalog documents (catalog_document.h) to a real meterd in order, one ApplyCatalog
// request each, for the workloads that rate or bill through the protocol (`meter-bench query`,
// `meter-bench billing --phase balance`). A refused document stops the run with its first errors.
//
// Thread-safety: one call per client at a time (the client is not shared).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/client/client.h"
#include "storage/base/status.h"

namespace meterd::bench {

struct CatalogApplyTotals {
  size_t documents = 0;
  uint64_t document_bytes = 0;
  uint32_t created = 0, updated = 0, unchanged = 0;
};

// Adds what the documents' replies counted to *totals.
Status ApplyCatalogDocuments(net::Client* client, const std::vector<std::string>& docs,
                             CatalogApplyTotals* totals);

}  // namespace meterd::bench
