// meterd — storage/rollup.h
//
// Hourly rollup files (docs/format-rollup.md). A rollup row is one series' bucket for one hour,
// [hour, hour + 3600): the statistics the engine's downsampler keeps (engine/downsample). The
// storage layer gives the columns no meaning beyond their bit patterns: which ones matter, and
// whether a value column holds an integer or a double, follows from the series' metric kind
// and value type, which the engine knows.
//
// Files, all under <dir>/rollup/:
//   * an hour part, h<hour>.mrp, written when the engine seals an hour: every series' bucket of
//     that hour, in blocks of up to kRollupBlockRows rows that span many series;
//   * a month file, m<YYYYMM>-<generation>.mru, the month's sealed hours merged from its parts:
//     one block per series (its hours ascending), so a steady series' columns are constant
//     and one VM's month is a handful of block reads;
//   * ROLLUP, the rollup manifest (replaced by atomic rename): the live files and the sealed
//     watermark, the first hour that is not yet sealed.
// Both file kinds share one block format: rows sorted by (series, hour), columns encoded with
// the integer codecs of storage/codec.h (or stored as an alias of an earlier, identical column
// of the block), one XXH3 per block seeded with the file id and the block offset; an index
// block; a footer with the version in its magic.
//
// Verification: RollupFileReader::Open reads the whole file into memory, verifies footer and
// index, and verifies every block's checksum, header and column descriptors once; a block that
// fails is recorded as damaged (the file still opens, its other blocks stay readable) and every
// ReadBlock of it returns that Corruption, naming file and offset. ReadBlock checks each column
// it decodes and the keys. The in-memory copy is never written after Open.
//
// Thread-safety: RollupFileWriter is used by one thread. RollupFileReader is immutable after
// Open; ReadBlock may be called concurrently. RollupStore is thread-safe; a RollupSnapshot is
// immutable and keeps its files open (and undeleted) while it lives.
// Invariants:
//   1. Rows in a file are sorted by (series_id, hour) with no duplicate key; hours are
//      multiples of 3600.
//   2. ReadBlock never returns a block whose checksum failed (verified at Open): it returns
//      Corruption naming the file and offset, and the store counts it.
//   3. A file is fsync'ed before the manifest that lists it is written; the manifest is
//      written before the files it replaced are deleted.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/base/result.h"
#include "storage/base/status.h"
#include "storage/io/file.h"

namespace meterd::storage {

constexpr int64_t kSecondsPerHour = 3600;
// State codes 0..kStateSlots-1 each get a seconds column (vm.state uses 1..6).
constexpr size_t kStateSlots = 8;
// Rows per block: a few thousand rows keeps a block's decoded columns in L2 while the scan
// kernels run over them, and a month of one series (at most 744 hours) always fits one block.
constexpr size_t kRollupBlockRows = 4096;

inline int64_t HourOf(int64_t ts) {
  return ts >= 0 ? ts - ts % kSecondsPerHour
                 : ts - ((ts % kSecondsPerHour) + kSecondsPerHour) % kSecondsPerHour;
}

// The value columns of a row, in file order. Every column is a uint64 bit pattern.
enum RollupColumn : uint8_t {
  kColCount = 0,    // samples in the hour
  kColHeld,         // gauge/state: seconds credited by holds
  kColFirstOffset,  // second of the hour of the first sample (0..3599)
  kColLastOffset,   // second of the hour of the last sample
  kColSum,          // gauge: sum of values, a double (for averages)
  kColMin,          // gauge/counter: smallest value, in the series' value type
  kColMax,          // largest value
  kColLast,         // value of the last sample (chains counters and holds across hours)
  kColIntegralLo,   // gauge: value x seconds; int gauges an unsigned 128-bit integer (lo, hi),
  kColIntegralHi,   //   float gauges a double in lo (hi = 0)
  kColIncrease,     // counter: sum of the deltas whose later sample is in this hour
  kColResets,       // counter: decreases seen (each one a reset)
  kColState0,       // state: seconds in state code 0 .. kStateSlots-1
  kColStateLast = kColState0 + kStateSlots - 1,
  kColRevision,   // 0 for the sealed bucket, n for its n-th revision
  kColRevisedAt,  // unix second the revision was made (0 for revision 0)
  kColFlags,      // origin: kRowImported, kRowRebuilt; kRowIncreaseSaturated (format-rollup.md)
  kRollupColumns
};
// Origin flags. A row with neither is live (revision 0) or revised by late data (revision >=
// 1). Readers ignore bits they do not know.
constexpr uint64_t kRowImported = 1;  // backfilled from another system, not computed here
constexpr uint64_t kRowRebuilt = 2;   // a revision written by `meterctl rollup rebuild`
constexpr uint64_t kRowOrigin = kRowImported | kRowRebuilt;
// Not an origin: a counter's increase in the hour reached 2^64 (only absurd data gets there:
// 2^64 bytes is 16 EiB in an hour), so the increase column holds 2^64 - 1, a lower bound,
// instead of wrapping silently (docs/rollup.md, "Counters").
constexpr uint64_t kRowIncreaseSaturated = 4;

struct RollupRow {
  uint64_t series_id = 0;
  int64_t hour = 0;  // multiple of 3600
  std::array<uint64_t, kRollupColumns> col{};

  bool operator==(const RollupRow&) const = default;
};

// Which columns a reader needs: bit c for column c.
using ColumnMask = uint32_t;
static_assert(kRollupColumns <= 32);
constexpr ColumnMask kAllColumns = (1u << kRollupColumns) - 1;
constexpr ColumnMask ColumnBit(RollupColumn c) { return 1u << c; }

// One decoded column of a block, in one of three layouts:
//   constant  (constant):                every row is `value`; no array (scan kernels take the
//                                        constant path);
//   linear    (!constant, data == null): row i is value + i * step (wrapping); no array. Only
//                                        the hour column comes back linear (a month block's
//                                        hours are first + 3600 i); value columns never do;
//   flat      (!constant, data != null): `rows` values at data, valid until the next ReadBlock
//                                        of the block (two columns may share one array when the
//                                        file stores one as an alias of the other).
struct ColumnVector {
  bool constant = true;
  uint64_t value = 0;              // constant: every row's value; linear: row 0's
  uint64_t step = 0;               // linear: the difference between consecutive rows
  const uint64_t* data = nullptr;  // flat: the rows' values
  bool linear() const { return !constant && data == nullptr; }
  uint64_t at(size_t i) const {
    return constant ? value : data != nullptr ? data[i] : value + step * i;
  }
};

struct RollupBlockInfo {
  uint64_t first_series = 0;
  uint64_t last_series = 0;
  int64_t min_hour = 0;
  int64_t max_hour = 0;
  uint32_t rows = 0;
  uint64_t offset = 0;
  uint32_t size = 0;
};

// A decoded block: the key columns and the requested value columns. Owns its buffers; reuse
// one across ReadBlock calls to avoid allocation.
struct RollupBlock {
  size_t rows = 0;
  ColumnVector series;
  ColumnVector hour;
  std::array<ColumnVector, kRollupColumns> col;
  // Value columns whose rows may be permuted (ReadBlock's any_order; DecodeIntColumnAnyOrder):
  // only their whole-block sums, min, max and last row mean anything.
  ColumnMask any_order = 0;
  std::vector<uint64_t> buffer;  // backing store of the non-constant vectors
};

struct RollupFileInfo {
  uint64_t file_id = 0;
  uint64_t rows = 0;
  uint64_t series = 0;
  uint64_t blocks = 0;
  int64_t min_hour = 0;
  int64_t max_hour = 0;
  uint64_t file_bytes = 0;
};

enum class RollupLayout : uint8_t {
  kPerSeries = 1,  // a block never holds two series (month files)
  kPacked = 2,     // blocks of kRollupBlockRows rows across series (hour parts)
};

class RollupFileWriter {
 public:
  static Result<std::unique_ptr<RollupFileWriter>> Create(const std::string& path, uint64_t file_id,
                                                          RollupLayout layout,
                                                          IoBackend backend = IoBackend::kAuto,
                                                          Env* env = Env::Default());
  ~RollupFileWriter();
  RollupFileWriter(const RollupFileWriter&) = delete;
  RollupFileWriter& operator=(const RollupFileWriter&) = delete;

  // REQUIRES: rows sorted by (series_id, hour), strictly after the previous call's rows.
  Status Add(const RollupRow* rows, size_t n);
  // Appends a block another writer encoded (RollupFileReader::RawBlock: its bytes without the
  // checksum), given a new checksum for this file and offset: a merge copies a series no input
  // row changes without decoding and re-encoding it. The block must hold one series (first ==
  // last series) whose rows sort after every row added before; rows added after must sort
  // after its last (max_hour). The bytes are trusted (RawBlock hands out verified blocks only).
  Status AddEncodedBlock(const RollupBlockInfo& block, std::string_view body);
  // Writes the index and footer, fdatasyncs, closes.
  Result<RollupFileInfo> Finish();

 private:
  struct Impl;
  explicit RollupFileWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class RollupFileReader {
 public:
  // Reads the file into memory and verifies the footer and index (Corruption if damaged) and
  // every block's checksum (a failing block is recorded as damaged: see ReadBlock).
  static Result<std::unique_ptr<RollupFileReader>> Open(const std::string& path,
                                                        Env* env = Env::Default());
  ~RollupFileReader();

  const RollupFileInfo& info() const;
  const std::vector<RollupBlockInfo>& blocks() const;  // sorted by first_series
  // Index of the first block whose last_series >= series_id.
  size_t LowerBound(uint64_t series_id) const;
  // Validates and decodes block `index`; only the columns in `mask` are decoded (the others are
  // left constant 0). Corruption (naming the file and offset) if the block failed its checksum
  // at Open or fails validation now.
  // Columns in `any_order` (a subset of `mask`) may be decoded with their rows permuted (the
  // vector unpackers' order, about a sixth faster; the first and last rows stay in place), for a
  // caller that aggregates those columns over the whole block order-insensitively. A column that
  // shares its bytes with a wanted column not in `any_order` keeps row order.
  Status ReadBlock(size_t index, ColumnMask mask, RollupBlock* out, ColumnMask any_order = 0) const;
  // Block `index`'s encoded bytes without its checksum trailer (verified at Open), for
  // RollupFileWriter::AddEncodedBlock; the block's Corruption if it failed verification.
  // Valid while the reader lives. REQUIRES: index < blocks().size().
  Result<std::string_view> RawBlock(size_t index) const;
  // Whether value column `c` of block `index` is one value for every row (a constant, or an
  // alias of one), read from the block header alone. REQUIRES: index < blocks().size().
  bool ColumnIsConstant(size_t index, RollupColumn c) const;
  // A hint: starts loading block `index`'s header into the cache (a scan calls it a few blocks
  // ahead, so that ReadBlock does not wait on memory for it). No effect past the last block.
  void PrefetchBlock(size_t index) const;
  const std::string& path() const;

 private:
  struct Impl;
  explicit RollupFileReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The live rollup files at one moment. Files do not overlap in (series, hour): an hour is in
// exactly one part or one month file.
struct RollupSnapshot {
  int64_t sealed_before = 0;  // hours < this are sealed (and in these files)
  std::vector<std::shared_ptr<const RollupFileReader>> files;  // months, then parts, by hour
};

struct RollupStoreStats {
  uint64_t month_files = 0;
  uint64_t part_files = 0;
  uint64_t rows = 0;
  uint64_t bytes = 0;
  uint64_t merges = 0;
  uint64_t folds = 0;        // FoldRevisions calls that published
  uint64_t folded_rows = 0;  // revision rows they folded into month files
  uint64_t damaged_blocks = 0;
};

class RollupStore {
 public:
  // Opens or creates <dir>/rollup: reads ROLLUP, opens every listed file (a damaged one is
  // reported in *damage and left out), removes files no manifest lists.
  // Every file operation goes through `env` (not owned; it must outlive the store and every
  // snapshot taken from it).
  static Result<std::unique_ptr<RollupStore>> Open(const std::string& dir,
                                                   std::vector<std::string>* damage,
                                                   Env* env = Env::Default());
  ~RollupStore();

  // The first hour not yet sealed (0 for a fresh store: nothing sealed).
  int64_t sealed_before() const;
  // Writes `rows` (all of hour `hour`, sorted by series) as a part, and publishes it with
  // sealed_before = hour + 3600. REQUIRES: hour >= sealed_before() (or sealed_before() == 0).
  // Hours between the old watermark and `hour` are sealed empty. A full disk is
  // ResourceExhausted and seals nothing; the same call succeeds once space returns.
  Status SealHour(int64_t hour, const std::vector<RollupRow>& rows);
  // Merges the parts of every month that has at least `min_parts` of them (or whose month is
  // fully sealed) into that month's file; the replaced files are deleted.
  Status MergeParts(size_t min_parts);
  // Folds revised and imported buckets into the month files: for each month among `rows`
  // (sorted by (series, hour), unique, all of hours < max(sealed_before(), `sealed_before`)),
  // its month file and hour parts are merged with the rows, a row replacing the bucket of its
  // key (MergeParts' merge), into the month's next file generation; then one manifest lists
  // every new file, records `revision_log` (>= revision_log()): the revision logs below it are
  // folded, and moves the watermark to `sealed_before` if that is later (the hours between are
  // sealed empty, as SealHour does: a new store's engine counts hours before its first sealed
  // hour as sealed). Nothing is published unless every month was written. Corruption if a
  // month has a damaged file (see CanFold).
  Status FoldRevisions(std::span<const RollupRow> rows, uint64_t revision_log,
                       int64_t sealed_before = 0);
  // The revision_log of the manifest (0 for a version 1 manifest or a new store).
  uint64_t revision_log() const;
  // Whether revisions of `month` (a month start) can be folded: no file of it is damaged and
  // the store accepts changes.
  bool CanFold(int64_t month) const;
  RollupSnapshot Snapshot() const;
  RollupStoreStats stats() const;
  void CountDamagedBlock();

 private:
  struct Impl;
  explicit RollupStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meterd::storage
