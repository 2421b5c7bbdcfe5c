// meterd — net/meterctl/backfill_reader.cc
#include "net/meterctl/backfill_reader.h"

#include "storage/base/check.h"

namespace meterd::cli {

BackfillReader::BackfillReader(std::istream* in, const MetricTypes* types, size_t batch_rows)
    : in_(in), types_(types), batch_rows_(batch_rows) {
  METERD_CHECK(batch_rows >= 1, "BackfillReader: a batch holds at least one row");
}

Status BackfillReader::ReadHeader() {
  if (!std::getline(*in_, line_) || !IsBackfillCsvHeader(line_)) {
    return Status::InvalidArgument(
        "the first line must be the header \"resource,metric,hour,value\"");
  }
  lineno_ = 1;
  bytes_read_ += line_.size() + 1;
  return Status::OK();
}

bool BackfillReader::SkipTo(uint64_t line, uint64_t rows) {
  while (lineno_ < line) {
    if (!std::getline(*in_, line_)) return false;
    ++lineno_;
    bytes_read_ += line_.size() + 1;
  }
  rows_ = rows;
  return true;
}

bool BackfillReader::Next(std::vector<BackfillLine>* batch, const RefusalFn& refused) {
  // Elements are overwritten in place: their strings keep their capacity from batch to batch.
  size_t n = 0;
  while (n < batch_rows_ && std::getline(*in_, line_)) {
    ++lineno_;
    bytes_read_ += line_.size() + 1;
    if (line_.empty() || line_ == "\r") continue;
    ++rows_;
    if (n == batch->size()) batch->emplace_back();
    BackfillLine& out = (*batch)[n];
    if (!ParseBackfillCsvRow(line_, *types_, &out.row, &why_)) {
      refused(lineno_, why_);
      continue;
    }
    out.line = lineno_;
    ++n;
  }
  batch->resize(n);
  largest_batch_ = std::max(largest_batch_, n);
  return n > 0;
}

}  // namespace meterd::cli
