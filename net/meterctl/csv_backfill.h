// meterd — net/meterctl/csv_backfill.h: `meterctl backfill FILE`, and the rollback of an import.
//
// Imports hourly usage from another system (CloudStack usage records, a previous biller) as
// hourly buckets. Rows are `resource,metric,hour,value` after a header line:
//   * hour: unix seconds or RFC 3339, a whole hour that meterd has sealed;
//   * metric: a catalog metric; for a state metric, `metric:state` (vm.state:running) and the
//     value is the seconds spent in that state in the hour (0..3600);
//   * value: a gauge's average level over the hour (its integral is value x 3600 s), a
//     counter's increase in the hour; in the metric's value type (an integer may be written
//     as an exactly integral decimal, "2.0" or "1e3").
// The file may be gzip or zstd compressed (recognised by its first bytes, not its name;
// compressed_input.h). The series are defined as needed. Importing the same file again changes
// nothing (the server compares each bucket with its latest revision). A bad line is reported
// with its number and the good ones are imported. An hour without a time zone ("2026-11-01
// 00:00:00") is refused as such: it is a different hour in every zone.
//
// Every import has an id (the server's, from the first request's reply): the buckets it
// writes carry it, and `meterctl backfill --rollback ID` gives them back their content from
// before the import (RollbackImport). A dry run (`--dry-run`) defines no series and writes
// nothing: the server counts what the import would change.
//
// The file is streamed: rows are read and parsed 65,536 at a time (BackfillReader,
// backfill_reader.h), their new series defined, and sent in requests of at most 16,384 rows
// (request n of the import is its chunk n), each acknowledged before the next rows are read,
// so memory is one such batch whatever the size of the file (plus the ids of the series met).
// After each batch the command writes a checkpoint (`FILE.backfill-checkpoint` unless given):
// the import id, the last line acknowledged, the next chunk and the counts so far. An
// interrupted import (the command killed, the connection lost) continues from there with
// `--resume`: the same import id and chunk numbers, so a request that was applied but not
// acknowledged is recognised by the server and counted once. A finished import removes the
// checkpoint; without `--resume`, an existing checkpoint is refused rather than overwritten.
// An import that takes longer than two seconds reports its progress every two seconds on
// `progress` (stderr; never stdout, which holds the report).
//
// Thread-safety: not synchronised (one call per process).
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "net/client/client.h"

namespace meterd::cli {

struct BackfillOptions {
  bool dry_run = false;
  bool resume = false;
  std::string checkpoint;  // empty: FILE + ".backfill-checkpoint"
};

struct BackfillReport {
  uint64_t import_id = 0;   // 0 for a dry run
  std::string compression;  // "none", "gzip", "zstd"
  uint64_t rows = 0;
  uint64_t imported = 0;              // hourly buckets written (a dry run: would be written)
  uint64_t unchanged = 0;             // buckets already as imported
  uint64_t refused = 0;               // rows refused, locally or by the server
  uint64_t new_series_rows = 0;       // dry run: rows of series not defined yet
  uint64_t series = 0;                // distinct series in the rows sent
  uint64_t hours = 0;                 // distinct hours in the rows sent
  uint64_t resumed_after_line = 0;    // --resume: the lines skipped (imported before)
  uint64_t repeated_chunks = 0;       // requests the server had applied already (a resume)
  std::vector<std::string> examples;  // first refusals, "line N: reason"
};

// `progress`: where progress lines go (nullptr: nowhere).
Result<BackfillReport> BackfillCsv(net::Client* client, const std::string& path,
                                   const BackfillOptions& options = {}, FILE* progress = stderr);

struct RollbackResult {
  uint64_t restored = 0;
  uint64_t superseded = 0;
  bool already = false;
  int64_t rolled_back_at = 0;
};
Result<RollbackResult> RollbackImport(net::Client* client, uint64_t import_id, bool dry_run);

}  // namespace meterd::cli
