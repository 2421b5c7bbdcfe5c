// meterd — net/meterctl/csv_backfill.h: `meterctl backfill FILE.csv`.
//
// Imports hourly usage from another system (CloudStack usage records, a previous biller) as
// hourly buckets. Rows are `resource,metric,hour,value` after a header line:
//   * hour: unix seconds or RFC 3339, a whole hour that meterd has sealed;
//   * metric: a catalog metric; for a state metric, `metric:state` (vm.state:running) and the
//     value is the seconds spent in that state in the hour (0..3600);
//   * value: a gauge's average level over the hour (its integral is value x 3600 s), a
//     counter's increase in the hour; in the metric's value type (an integer may be written
//     as an exactly integral decimal, "2.0" or "1e3").
// The series are defined as needed. Importing the same file again changes nothing (the server
// compares each bucket with its latest revision). A bad line is reported with its number and
// the good ones are imported. An hour without a time zone ("2026-11-01 00:00:00") is refused
// as such: it is a different hour in every zone.
//
// The file is streamed: rows are read and parsed 65,536 at a time (BackfillReader,
// backfill_reader.h), their new series defined, and sent in requests of at most 16,384 rows,
// each acknowledged before the next rows are read, so memory is one such batch whatever the
// size of the file (plus the ids of the series met). An import that
// takes longer than two seconds reports its progress every two seconds on `progress` (stderr;
// never stdout, which holds the report).
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

struct BackfillReport {
  uint64_t rows = 0;
  uint64_t imported = 0;              // hourly buckets written
  uint64_t unchanged = 0;             // buckets already as imported
  uint64_t refused = 0;               // rows refused, locally or by the server
  std::vector<std::string> examples;  // first refusals, "line N: reason"
};

// `progress`: where progress lines go (nullptr: nowhere).
Result<BackfillReport> BackfillCsv(net::Client* client, const std::string& path,
                                   FILE* progress = stderr);

}  // namespace meterd::cli
