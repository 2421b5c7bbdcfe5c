// meterd — storage/manifest/manifest_format.h
//
// Constants of the manifest file format; the layout is documented in docs/format-manifest.md.
//
//   +--------------------------+ 0
//   | magic "MTRDMAN" + ver u8 | 8
//   | generation          u64  | 16
//   | next_segment_id     u64  | 24
//   | wal_min_number      u64  | 32
//   | partition_seconds   i64  | 40
//   | segment count       u32  | 44
//   | count x entry (64 bytes) |
//   | XXH3-64 of all above u64 |
//   +--------------------------+
#pragma once

#include <cstddef>
#include <cstdint>

namespace meterd::storage::manifest_format {

constexpr char kMagic[7] = {'M', 'T', 'R', 'D', 'M', 'A', 'N'};
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderSize = 44;
constexpr size_t kEntrySize = 64;
constexpr size_t kTrailerSize = 8;
static_assert(sizeof(kMagic) + 1 + 4 * 8 + 4 == kHeaderSize);
static_assert(8 * 8 == kEntrySize);

}  // namespace meterd::storage::manifest_format
