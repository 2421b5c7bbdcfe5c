// meterd — storage/wal/wal_record.h
//
// Framing of WAL records into 32 KiB blocks (docs/format-wal.md), shared by the writer, the
// reader and the tests: emit a record as FULL or FIRST/MIDDLE*/LAST fragments, and parse one
// fragment header. Thread-safety: pure functions.
// Invariants: an emitted fragment never crosses a block boundary; a block tail shorter than a
// header is zero-filled; every fragment's checksum is seeded with its file number.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/base/status.h"
#include "storage/wal/wal_format.h"

namespace meterd::storage::wal {

// The checksum seed of every fragment of file `file_number` (RocksDB's recycling guard: a record
// copied from another file fails its checksum).
uint64_t RecordSeed(uint64_t file_number);

// Appends `payload` framed as one record to *out; `offset` is the file offset at which the
// appended bytes will land (block boundaries are computed from it). `type_bits` is OR-ed into every
// fragment's type (0, or kSkippableBit). Returns the file offset after the record.
uint64_t AppendRecord(std::string* out, uint64_t offset, uint64_t seed, std::string_view payload,
                      uint8_t type_bits = 0);
// Appends one fragment (header + payload) of `type`. REQUIRES: it fits in the current block.
void AppendFragment(std::string* out, uint64_t seed, uint8_t type, std::string_view payload);
// The number of bytes AppendRecord would append for a record of `size` at `offset`.
uint64_t FramedSize(uint64_t offset, size_t size);

// The payload of the file header record (kFileHeaderKind).
std::string EncodeFileHeader(uint64_t file_number);
// Checks magic, version and number. NotSupported for a version this code cannot read,
// Corruption for anything else wrong.
Status CheckFileHeader(std::string_view payload, uint64_t file_number);

enum class FragmentCheck : uint8_t {
  kOk,
  kZero,         // an all-zero header: preallocated space
  kBadLength,    // the length runs past the block or the file
  kBadChecksum,  // includes records of another file number
  kBadType,      // reserved bits set, or kind 0 with a non-zero header
};
const char* FragmentCheckName(FragmentCheck check);

struct Fragment {
  uint8_t type = 0;
  std::string_view payload;
  size_t size = 0;  // header + payload
};
// Parses the fragment header at `p`, where `avail` bytes remain in both the block and the file
// (REQUIRES: avail >= kHeaderSize), and verifies its checksum with `seed`.
FragmentCheck ParseFragment(const char* p, size_t avail, uint64_t seed, Fragment* out);

}  // namespace meterd::storage::wal
