// meterd — net/meterctl/csv_rows.h: one line of a `meterctl ingest` or `meterctl backfill` CSV
// file, parsed.
//
// The commands read their file line by line and hand each line here; every rule about a line
// lives in these functions (and csv_time.h), so that tests/fuzz/csv_fuzz.cc fuzzes exactly what
// the commands run, without a server. The formats are described in csv_ingest.h and
// csv_backfill.h.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "net/protocol/messages.h"

namespace meterd::cli {

// The value type of every metric in the server's catalog, by name.
using MetricTypes = std::unordered_map<std::string, wire::ValueType>;

// A vm.state name ("running") as its code; nullopt for other text.
std::optional<uint64_t> ParseStateName(std::string_view name);

// Whether `line` is the header "resource,metric,timestamp,value" (ingest) or
// "resource,metric,hour,value" (backfill).
bool IsIngestCsvHeader(std::string_view line);
bool IsBackfillCsvHeader(std::string_view line);

struct IngestCsvRow {
  std::string resource;
  std::string metric;
  int64_t ts = 0;
  uint64_t value = 0;  // bit pattern, as in SampleBatch
};
// Parses one data line of an ingest file. On failure returns false with *reason, the report's
// category ("malformed row", "unknown metric", "bad timestamp", "bad value"), and *detail.
bool ParseIngestCsvRow(std::string_view line, const MetricTypes& types, IngestCsvRow* row,
                       std::string* reason, std::string* detail);

struct BackfillCsvRow {
  std::string resource;
  std::string metric;  // without ":state"
  int64_t hour = 0;
  uint8_t state = 0;  // the state code of a state metric's row, else 0
  uint64_t value = 0;
};
// Parses one data line of a backfill file. On failure returns false with *why.
bool ParseBackfillCsvRow(std::string_view line, const MetricTypes& types, BackfillCsvRow* row,
                         std::string* why);

}  // namespace meterd::cli
