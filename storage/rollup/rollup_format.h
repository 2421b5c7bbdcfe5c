// meterd — storage/rollup/rollup_format.h
//
// Constants of the rollup file format and the ROLLUP manifest, documented byte by byte in
// docs/format-rollup.md. Only constants and size checks live here.
//
//   +------------------------------+ 0
//   | data block 0                 |  per block (rows sorted by (series, hour)):
//   | data block 1                 |   u32 "RBLK" | u32 rows | u64 first_series | u64 last_series
//   | ...                          |   i64 min_hour | i64 max_hour | u16 columns (25) | u16 0
//   |                              |   u8 encoding[25] | u32 size[25]
//   |                              |   series column | hour column | 23 value columns
//   |                              |   (an alias column, encoding 0x80, has no bytes)
//   |                              |   u64 XXH3(seed = ContextSeed(file id, block offset))
//   +------------------------------+ index_offset
//   | index block                  |  u32 "RIDX" | u32 count | count x 48-byte entries
//   |                              |  u64 XXH3(seed = ContextSeed(file id, index_offset))
//   +------------------------------+ file_size - 88
//   | footer (88 bytes)            |  index handle, file id, totals, layout, version,
//   |                              |  XXH3(seed = ContextSeed(file id, footer offset)),
//   |                              |  magic "MTRDRLP" + version byte
//   +------------------------------+ file_size
//
// ROLLUP manifest (version 2): "MTRDRLM" + version | generation | next_file_id | sealed_before |
// count | reserved | revision_log | count x 40-byte entries | XXH3 (seed 0).
#pragma once

#include <cstddef>
#include <cstdint>

#include "storage/rollup.h"

namespace meterd::storage::rollup_format {

// ---- data blocks ----
constexpr uint32_t kBlockMagic = 0x4B4C4252;  // "RBLK" little-endian
// Every block stores the two key columns and then the value columns, in RollupColumn order.
constexpr size_t kKeyColumns = 2;  // series, hour
constexpr size_t kBlockColumns = kKeyColumns + kRollupColumns;
constexpr size_t kBlockFixedHeaderSize = 44;
constexpr size_t kBlockHeaderSize = kBlockFixedHeaderSize + kBlockColumns * (1 + 4);
constexpr size_t kBlockTrailerSize = 8;  // checksum
// The smallest column: the encoding byte and a one-byte varint (a constant below 128).
constexpr size_t kMinColumnSize = 2;
// encoding[c] == kColumnAlias: value column c holds exactly the values of the earlier value
// column size[c] (kKeyColumns <= size[c] < c, itself not an alias) and occupies no bytes. Not a
// ColumnEncoding (codes 1..17): it exists only in rollup block headers.
constexpr uint8_t kColumnAlias = 0x80;
// Columns that can never be aliases: the key columns and the first value column.
constexpr size_t kMinStoredColumns = kKeyColumns + 1;
constexpr size_t kMinBlockSize =
    kBlockHeaderSize + kMinStoredColumns * kMinColumnSize + kBlockTrailerSize;

// ---- index ----
constexpr uint32_t kIndexMagic = 0x58444952;  // "RIDX"
constexpr size_t kIndexHeaderSize = 8;        // magic + count
constexpr size_t kIndexEntrySize = 48;
constexpr size_t kIndexTrailerSize = 8;

// ---- footer ----
constexpr size_t kFooterSize = 88;
constexpr size_t kFooterChecksumOffset = 72;
constexpr char kMagic[8] = {'M', 'T', 'R', 'D', 'R', 'L', 'P', '\x01'};  // version in last byte
constexpr uint32_t kFormatVersion = 1;

// Writer output is handed to the file in chunks of this size: a month file of 100k series is
// tens of MB, so this keeps the writer's buffer modest while a part is a handful of syscalls.
constexpr size_t kWriteChunk = 1 << 20;

// ---- ROLLUP manifest ----
// Version 2 (issue 18) adds revision_log (u64) after the reserved word; version 1 is still read
// (as revision_log 0), never written.
constexpr char kManifestMagic[8] = {'M', 'T', 'R', 'D', 'R', 'L', 'M', '\x02'};
constexpr uint8_t kManifestVersion = 2;
constexpr uint8_t kManifestMinReadVersion = 1;
constexpr size_t kManifestHeaderSizeV1 = 40;
constexpr size_t kManifestHeaderSize = 48;
constexpr size_t kManifestEntrySize = 40;
constexpr size_t kManifestTrailerSize = 8;
constexpr uint8_t kKindMonth = 1;
constexpr uint8_t kKindPart = 2;
constexpr char kManifestName[] = "ROLLUP";

static_assert(kBlockColumns == 25, "docs/format-rollup.md describes 25 columns a block");
static_assert(4 + 4 + 8 + 8 + 8 + 8 + 2 + 2 == kBlockFixedHeaderSize);
static_assert(kBlockHeaderSize == 169);
static_assert(kMinBlockSize == 183, "docs/format-rollup.md gives the smallest block size");
static_assert(8 + 8 + 8 + 8 + 8 + 4 + 4 == kIndexEntrySize);
static_assert(8 * 8 + 1 + 3 + 4 == kFooterChecksumOffset);
static_assert(kFooterChecksumOffset + 8 + sizeof(kMagic) == kFooterSize);
static_assert(8 + 8 + 8 + 8 + 4 + 4 == kManifestHeaderSizeV1);
static_assert(kManifestHeaderSizeV1 + 8 == kManifestHeaderSize);
static_assert(kManifestMagic[7] == kManifestVersion);
static_assert(8 + 8 + 4 + 1 + 3 + 8 + 8 == kManifestEntrySize);
// A block of kRollupBlockRows rows of 64-bit values cannot overflow a u32 column size.
static_assert(kRollupBlockRows * 8 * 2 < UINT32_MAX);

}  // namespace meterd::storage::rollup_format
