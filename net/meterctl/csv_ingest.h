// meterd — net/meterctl/csv_ingest.h: `meterctl ingest FILE.csv`.
//
// Reads rows `resource,metric,timestamp,value` (a header line first; timestamp in unix seconds
// or RFC 3339; vm.state values may be names such as "running"; an integer metric's value may be
// an exactly integral decimal such as "2.0", never "2.5"), defines the series it meets,
// and sends the samples as pipelined batches. A row that cannot be parsed is rejected locally
// with its line number; the rest are sent. The report counts accepted and rejected samples and
// lists the reasons.
//
// Thread-safety: not synchronised (one call per process).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/client/client.h"
#include "net/meterctl/csv_rows.h"

namespace meterd::cli {

struct CsvIngestReport {
  uint64_t rows = 0;
  uint64_t sent = 0;
  uint64_t accepted = 0;
  uint64_t rejected = 0;  // by the server and by the parser
  uint64_t unacknowledged = 0;
  std::map<std::string, uint64_t> reasons;  // reason -> count
  std::vector<std::string> examples;        // first few, with line numbers
  double seconds = 0;
};

// The value type of every metric in the server's catalog.
Result<std::unordered_map<std::string, wire::ValueType>> ListMetricTypes(net::Client* client);
// Defines every series in `keys` (idempotent); returns the refused ones with their reasons.
Result<std::unordered_map<uint64_t, std::string>> DefineAllSeries(
    net::Client* client, const std::map<uint64_t, net::SeriesKey>& keys);
// `batch_samples` caps a batch; `agent` names the dedup identity of admin clients.
Result<CsvIngestReport> IngestCsv(net::Client* client, const std::string& path,
                                  size_t batch_samples, const std::string& agent);

}  // namespace meterd::cli
