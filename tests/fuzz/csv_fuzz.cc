// meterd — tests/fuzz/csv_fuzz.cc: libFuzzer target for meterctl's CSV parsers.
//
// The input is a CSV file for `meterctl ingest` (header resource,metric,timestamp,value) or
// `meterctl backfill` (resource,metric,hour,value), split into lines as std::getline splits the
// file in the commands, and every line is parsed by the functions the commands call
// (net/meterctl/csv_rows.h: field splitting, RFC 3339 and unix timestamps, exact integral
// values, state names). A file whose first line is neither header runs both row parsers, so
// the fuzzer need not find a header first. The metric types are the built-in catalog's.
// Besides the sanitizers it checks that CsvField quotes a field so that SplitCsvLine reads it
// back unchanged (what meterctl writes, meterctl reads).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/catalog.h"
#include "net/meterctl/csv_rows.h"
#include "net/meterctl/csv_time.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {
namespace {

const cli::MetricTypes& Types() {
  static const cli::MetricTypes types = [] {
    cli::MetricTypes t;
    for (const engine::MetricDef& d : engine::MetricCatalog::Builtins()) {
      t[d.name] =
          d.type == storage::ValueType::kFloat ? wire::ValueType::Float : wire::ValueType::Int;
    }
    return t;
  }();
  return types;
}

void CheckQuotingRoundTrip(std::string_view line) {
  std::vector<std::string> fields, again;
  if (!cli::SplitCsvLine(line, &fields)) return;
  std::string joined;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) joined.push_back(',');
    joined += cli::CsvField(fields[i]);
  }
  if (!cli::SplitCsvLine(joined, &again) || again != fields) {
    std::fprintf(stderr, "csv: CsvField/SplitCsvLine do not round-trip a line of %zu fields\n",
                 fields.size());
    std::abort();
  }
}

}  // namespace

Decoded DecodeCsv(std::string_view input) {
  Decoded out;
  // std::getline's lines: split at '\n'; a last line without one counts, an empty one does not.
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < input.size();) {
    const size_t nl = input.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? input.size() : nl;
    lines.push_back(input.substr(pos, end - pos));
    pos = end + 1;
  }
  if (lines.empty()) {
    out.status = Status::InvalidArgument("empty file: no header");
    return out;
  }
  const bool ingest = cli::IsIngestCsvHeader(lines[0]);
  const bool backfill = cli::IsBackfillCsvHeader(lines[0]);
  if (!ingest && !backfill) out.status = Status::InvalidArgument("no ingest or backfill header");
  cli::IngestCsvRow irow;
  cli::BackfillCsvRow brow;
  std::string reason, detail;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    CheckQuotingRoundTrip(line);
    if (line.empty() || line == "\r") continue;
    const std::string at = "line " + std::to_string(i + 1);
    if (!backfill) {
      if (cli::ParseIngestCsvRow(line, Types(), &irow, &reason, &detail)) {
        out.items.push_back(at + " ok " + irow.resource + "|" + irow.metric + " " +
                            std::to_string(irow.ts) + " " + std::to_string(irow.value));
      } else {
        out.items.push_back(at + " refused " + reason + ": " + detail);
      }
    }
    if (!ingest) {
      if (cli::ParseBackfillCsvRow(line, Types(), &brow, &reason)) {
        out.items.push_back(at + " ok " + brow.resource + "|" + brow.metric + ":" +
                            std::to_string(brow.state) + " " + std::to_string(brow.hour) + " " +
                            std::to_string(brow.value));
      } else {
        out.items.push_back(at + " refused " + reason);
      }
    }
  }
  return out;
}

}  // namespace meterd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)meterd::fuzz::DecodeCsv(meterd::fuzz::AsView(data, size));
  return 0;
}
