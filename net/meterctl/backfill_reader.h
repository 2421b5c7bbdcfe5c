// meterd — net/meterctl/backfill_reader.h: a `meterctl backfill` file read in bounded batches.
//
// BackfillReader reads the file from a stream and hands out its parsed rows in batches of at
// most `batch_rows`: the command sends each batch before reading the next, so its memory is one
// batch (plus one line) whatever the size of the file. Lines that do not parse go to the
// caller's callback with their line number and reason (csv_rows.h) and take no room in a batch.
//
// Thread-safety: not synchronised. The reader borrows the stream and the metric types, which
// must outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <vector>

#include "net/meterctl/csv_rows.h"
#include "storage/base/status.h"

namespace meterd::cli {

struct BackfillLine {
  uint64_t line = 0;  // 1-based line number in the file (the header is line 1)
  BackfillCsvRow row;
};

class BackfillReader {
 public:
  using RefusalFn = std::function<void(uint64_t line, const std::string& why)>;

  // REQUIRES: batch_rows >= 1.
  BackfillReader(std::istream* in, const MetricTypes* types, size_t batch_rows);

  // Reads the header line; InvalidArgument unless it is "resource,metric,hour,value".
  Status ReadHeader();
  // Replaces *batch with the next parsed rows, at most batch_rows of them, reporting refused
  // lines to `refused`. Returns false, with *batch empty, once the input is exhausted.
  // REQUIRES: ReadHeader() succeeded.
  bool Next(std::vector<BackfillLine>* batch, const RefusalFn& refused);
  // Skips the lines up to and including line `line` (a resumed import: those were imported),
  // counting them as read (`rows` as given, bytes as found) without parsing them. False when
  // the input ends first. REQUIRES: ReadHeader() succeeded, nothing read yet, line >= 1.
  bool SkipTo(uint64_t line, uint64_t rows);

  uint64_t rows() const { return rows_; }                  // data lines read (blank ones skipped)
  uint64_t line() const { return lineno_; }                // the last line read (header: 1)
  uint64_t bytes_read() const { return bytes_read_; }      // for progress against the file size
  size_t largest_batch() const { return largest_batch_; }  // never above batch_rows

 private:
  std::istream* const in_;
  const MetricTypes* const types_;
  const size_t batch_rows_;
  std::string line_;  // reused: one line is the only text held outside the batch
  std::string why_;
  uint64_t lineno_ = 0;
  uint64_t rows_ = 0;
  uint64_t bytes_read_ = 0;
  size_t largest_batch_ = 0;
};

}  // namespace meterd::cli
