// meterd — storage/segment.h
//
// Immutable columnar segment files (docs/format-segment.md). One segment holds the samples of
// one time partition written by one flush: per-series blocks (at most kMaxBlockRows rows each)
// of a timestamp column and a value column (storage/codec.h), each block checksummed with a seed
// mixing the segment id and the block's offset; then an index block listing every data block;
// then a fixed-size footer with the index handle, the format version and the magic.
//
// Thread-safety: SegmentWriter is used by one thread. SegmentReader is immutable after Open and
// safe for concurrent ReadBlock calls.
// Invariants:
//   1. Within a segment, index entries are sorted by (series_id, min_ts); blocks of one series
//      do not overlap in time; timestamps within a block strictly increase.
//   2. ReadBlock never returns data whose checksum failed: it returns Corruption naming the
//      file, offset and series instead.
//   3. A written segment is durable (fsync'ed) before Finish returns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/base/result.h"
#include "storage/base/status.h"
#include "storage/io/file.h"
#include "storage/sample_batch.h"

namespace meterd::storage {

// Rows per block: 8192 (as VictoriaMetrics) bounds the decode buffer of one block to 128 KiB
// and keeps per-block header cost under 0.01 byte a sample for per-second series.
constexpr size_t kMaxBlockRows = 8192;

struct SegmentBlockInfo {
  uint64_t series_id = 0;
  int64_t min_ts = 0;
  int64_t max_ts = 0;
  uint32_t rows = 0;
  ValueType type = ValueType::kInt;
  uint64_t offset = 0;  // of the block's first byte in the file
  uint32_t size = 0;    // bytes, header and checksum included
};

struct SegmentInfo {
  uint64_t segment_id = 0;
  int64_t partition_start = 0;  // unix seconds, inclusive
  int64_t min_ts = 0;
  int64_t max_ts = 0;
  uint64_t series = 0;
  uint64_t blocks = 0;
  uint64_t samples = 0;
  uint64_t file_bytes = 0;
};

class SegmentWriter {
 public:
  // Creates `path` (truncating it). The caller writes to a temporary name and renames it after
  // Finish (the store does this, then publishes it in the manifest).
  static Result<std::unique_ptr<SegmentWriter>> Create(const std::string& path, uint64_t segment_id,
                                                       int64_t partition_start,
                                                       IoBackend backend = IoBackend::kAuto,
                                                       Env* env = Env::Default());
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Appends one series' samples. REQUIRES: n >= 1; ts strictly increasing; series_id greater
  // than the previous call's. Splits into blocks of at most kMaxBlockRows.
  Status AddSeries(uint64_t series_id, ValueType type, const int64_t* ts, const uint64_t* values,
                   size_t n);
  // Writes the index and footer, fdatasyncs, closes. No call may follow.
  Result<SegmentInfo> Finish();

 private:
  struct Impl;
  explicit SegmentWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One block decoded.
struct DecodedBlock {
  uint64_t series_id = 0;
  ValueType type = ValueType::kInt;
  std::vector<int64_t> ts;
  std::vector<uint64_t> values;  // bit patterns, as in SampleBatch
};

class SegmentReader {
 public:
  // Opens and verifies the footer and index. If the footer or index is damaged, the reader
  // salvages: it walks the data blocks from offset 0 using their self-describing headers and
  // keeps every block whose checksum verifies; `salvaged()` is then true and `damage()` says why.
  // Returns Corruption only when nothing at all can be read.
  static Result<std::unique_ptr<SegmentReader>> Open(const std::string& path,
                                                     Env* env = Env::Default());
  ~SegmentReader();

  const SegmentInfo& info() const;
  // Sorted by (series_id, min_ts).
  const std::vector<SegmentBlockInfo>& blocks() const;
  // Index of the first block of `series_id` (blocks().size() if absent).
  size_t LowerBound(uint64_t series_id) const;

  // Reads, verifies and decodes block `index`. On checksum or decode failure returns Corruption
  // ("segment <path> block at offset <o> (series <id>): <why>") and leaves *out unspecified.
  Status ReadBlock(size_t index, DecodedBlock* out) const;

  bool salvaged() const;
  const std::string& damage() const;  // empty unless salvaged()
  const std::string& path() const;

 private:
  struct Impl;
  explicit SegmentReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meterd::storage
