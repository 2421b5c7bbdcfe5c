// meterd — storage/rollup/rollup_manifest.h
//
// The ROLLUP manifest (docs/format-rollup.md, "ROLLUP manifest"): which rollup files are live,
// the sealed watermark, the next file id. Encoded and decoded here; RollupStore replaces the
// file by atomic rename (WriteFileAtomic). Also the UTC calendar arithmetic that maps an hour to
// its month, and the file names derived from a manifest entry.
//
// Thread-safety: pure functions and value types.
// Invariants of a decoded manifest (DecodeRollupManifest checks them all):
//   1. every file id is < next_file_id and appears once;
//   2. a part's hour and a month's start are < sealed_before; a month key is a month start;
//   3. at most one month file per month, at most one part per hour.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/base/result.h"

namespace meterd::storage::rollup {

struct ManifestFile {
  uint64_t file_id = 0;
  uint8_t kind = 0;         // rollup_format::kKindMonth or kKindPart
  int64_t key = 0;          // a part: its hour; a month file: the month's first second (UTC)
  uint32_t generation = 0;  // a month file: +1 on every merge into it; a part: 0
  uint64_t rows = 0;
  uint64_t file_bytes = 0;

  bool operator==(const ManifestFile&) const = default;
};

struct Manifest {
  uint64_t generation = 0;  // +1 on every write; diagnostics
  uint64_t next_file_id = 1;
  int64_t sealed_before = 0;
  // Version 2: the sequence number of the oldest revision log whose rows are not all in the
  // listed files (engine/downsample/revision_log.h). Logs below it are folded and may be
  // deleted; a restart replays only the logs from it on. A version 1 manifest reads as 0 (the
  // legacy log, revisions.log, holds every revision).
  uint64_t revision_log = 0;
  std::vector<ManifestFile> files;

  bool operator==(const Manifest&) const = default;
};

std::string EncodeRollupManifest(const Manifest& m);
Result<Manifest> DecodeRollupManifest(std::string_view data);

// UTC calendar months, by days-from-civil arithmetic (no time zone functions).
// The first second of the month containing `ts`.
int64_t MonthStart(int64_t ts);
// The first second of the month after the one containing `ts`.
int64_t NextMonthStart(int64_t ts);
// YYYYMM of the month containing `ts`, e.g. 202601.
int64_t MonthNumber(int64_t ts);

// "h<hour>.mrp" or "m<YYYYMM>-<generation>.mru".
std::string FileName(const ManifestFile& f);

}  // namespace meterd::storage::rollup
