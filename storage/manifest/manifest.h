// meterd — storage/manifest/manifest.h
//
// The manifest: the one file that says which segments are live, which WAL files still matter
// and which ids come next (docs/format-manifest.md). It is replaced whole: written to
// MANIFEST.tmp, fsync'ed, renamed over MANIFEST, then the directory fsync'ed (LevelDB's CURRENT,
// VictoriaMetrics' parts.json), so a crash leaves either the old or the new manifest, never a mix.
//
// Thread-safety: pure encode/decode functions; the Store serialises writers.
// Invariants: segments are listed in ascending segment_id; every listed segment file exists and
// is immutable; WAL files numbered below wal_min_number are fully covered by listed segments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/base/result.h"
#include "storage/base/status.h"
#include "storage/io/file.h"

namespace meterd::storage {

struct SegmentRecord {
  uint64_t segment_id = 0;
  int64_t partition_start = 0;
  int64_t min_ts = 0;
  int64_t max_ts = 0;
  uint64_t samples = 0;
  uint64_t series = 0;
  uint64_t blocks = 0;
  uint64_t file_bytes = 0;
};

struct Manifest {
  uint64_t generation = 0;  // +1 on every write
  uint64_t next_segment_id = 1;
  uint64_t wal_min_number = 1;  // WAL files below this are covered by segments
  int64_t partition_seconds = 86400;
  std::vector<SegmentRecord> segments;
};

std::string EncodeManifest(const Manifest& manifest);
// Corruption for a bad magic, version, checksum or length.
Result<Manifest> DecodeManifest(std::string_view data);

std::string ManifestPath(const std::string& dir);
// Returns std::nullopt when the directory holds no manifest (a fresh store).
Result<std::optional<Manifest>> ReadManifest(const std::string& dir, Env* env = Env::Default());
// Atomic replace (tmp, fsync, rename, fsync dir).
Status WriteManifest(const std::string& dir, const Manifest& manifest, Env* env = Env::Default());

// Segment files live under segments/p<partition_start>/<16-digit segment id>.seg; a whole
// partition directory is dropped by retention.
std::string PartitionDir(const std::string& dir, int64_t partition_start);
std::string SegmentPath(const std::string& dir, int64_t partition_start, uint64_t segment_id);

}  // namespace meterd::storage
