// meterd — storage/segment/segment_format.h
//
// Constants of the segment file format, documented byte by byte in docs/format-segment.md.
//
//   +------------------------------+ 0
//   | data block 0                 |  per block:
//   | data block 1                 |   u32 "SBLK" | u64 series | i64 min_ts | i64 max_ts
//   | ...                          |   u32 rows | u8 type | u8 0 | u32 ts size | u32 value size
//   +------------------------------+   ts column | value column
//   | index block                  |   u64 XXH3(seed = ContextSeed(segment id, block offset))
//   +------------------------------+
//   | footer (96 bytes)            |  index handle, totals, version, checksum, magic
//   +------------------------------+ file size
#pragma once

#include <cstddef>
#include <cstdint>

namespace meterd::storage::segment_format {

constexpr uint32_t kBlockMagic = 0x4B4C4253;  // "SBLK" little-endian: lets salvage resync
constexpr uint32_t kIndexMagic = 0x58444953;  // "SIDX"
constexpr size_t kBlockHeaderSize = 42;
constexpr size_t kBlockTrailerSize = 8;  // checksum
constexpr size_t kIndexEntrySize = 41;
constexpr size_t kIndexHeaderSize = 8;  // magic + count
constexpr size_t kFooterSize = 96;
constexpr char kMagic[8] = {'M', 'T', 'R', 'D', 'S', 'E', 'G', '\x01'};  // version in last byte
constexpr uint32_t kFormatVersion = 1;
// Writer output is handed to the file in chunks of this size: big enough that a segment write
// is a handful of syscalls, small enough to keep a flush's buffer modest.
constexpr size_t kWriteChunk = 1 << 20;

static_assert(4 + 8 + 8 + 8 + 4 + 1 + 1 + 4 + 4 == kBlockHeaderSize);
static_assert(8 + 8 + 8 + 4 + 1 + 8 + 4 == kIndexEntrySize);
static_assert(9 * 8 + 2 * 4 + 8 + sizeof(kMagic) == kFooterSize);

}  // namespace meterd::storage::segment_format
