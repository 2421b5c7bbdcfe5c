// meterd — storage/wal/wal_format.h
//
// Constants of the write-ahead log format, version 1. The layout is documented byte by byte in
// docs/format-wal.md; change both together. Constants only (plus static_asserts): the framing
// code lives in wal_record.h.
//
// A file is a sequence of 32 KiB blocks; every fragment header starts inside one block:
//
//   block 0                                  block 1
//   +--------+------------+-------+--- ... --+--------+-----------+--- ... -+
//   | hdr(11)| file header| hdr   | payload  |00 tail | hdr       | payload |
//   |        | record (16)| FIRST |          |(< 11 B)| LAST      |         |
//   +--------+------------+-------+--- ... --+--------+-----------+--- ... -+
//
//   fragment header (11 bytes, little-endian):
//   +----------------------+-------------+---------+
//   | checksum u64 (0..7)  | length u16  | type u8 |  then `length` payload bytes
//   +----------------------+  (8..9)     |  (10)   |
//                          +-------------+---------+
//   checksum = XXH3-64(bytes 8 .. 11+length, seed = ContextSeed(file_number, 0))
#pragma once

#include <cstddef>
#include <cstdint>

namespace meterd::storage::wal_format {

// 32 KiB, as LevelDB: large enough that per-block padding (< 11 bytes) is noise, small enough that
// mid-file corruption costs at most one block of neighbouring records.
constexpr size_t kBlockSize = 32 * 1024;

// checksum (8) + length (2) + type (1). 64 checksum bits rather than 32: the log holds billing
// data, a false accept would deliver wrong bytes, and the 4 extra bytes are 0.03 % of a
// 14 KB sample batch.
constexpr size_t kChecksumSize = 8;
constexpr size_t kLengthOffset = 8;
constexpr size_t kTypeOffset = 10;
constexpr size_t kHeaderSize = 11;
static_assert(kChecksumSize + 2 + 1 == kHeaderSize);
static_assert(kLengthOffset == kChecksumSize && kTypeOffset == kLengthOffset + 2);
// The largest payload one fragment can carry (a whole block minus its header); fits in u16.
constexpr size_t kMaxFragmentPayload = kBlockSize - kHeaderSize;
static_assert(kMaxFragmentPayload <= 0xFFFF, "fragment length is a u16");

// Type byte: bits 0..4 = kind, bit 5 = kSkippableBit, bits 6..7 must be zero.
enum RecordKind : uint8_t {
  kZeroKind = 0,  // reserved: zero bytes are preallocated space (end of written data)
  kFullKind = 1,
  kFirstKind = 2,
  kMiddleKind = 3,
  kLastKind = 4,
  kFileHeaderKind = 5,  // only at offset 0: magic, version, file number
};
constexpr uint8_t kMaxKnownKind = kFileHeaderKind;
// A fragment whose type has this bit may be skipped by a reader that does not understand it
// (RocksDB's kRecordTypeSafeIgnoreMask). A version-1 reader skips every fragment with this bit;
// an unknown kind *without* it means a newer writer: replay fails with NotSupported.
constexpr uint8_t kSkippableBit = 0x20;
constexpr uint8_t kKindMask = 0x1F;
constexpr uint8_t kReservedTypeBits = 0xC0;

// File header record payload (16 bytes): magic "MTRWAL", version u8, flags u8 (0), file number
// u64. The version lives here, once per file, so record headers stay 11 bytes.
constexpr char kMagic[6] = {'M', 'T', 'R', 'W', 'A', 'L'};
constexpr size_t kMagicSize = sizeof(kMagic);
constexpr size_t kVersionOffset = 6;
constexpr size_t kFlagsOffset = 7;
constexpr size_t kFileNumberOffset = 8;
constexpr size_t kFileHeaderPayloadSize = 16;
static_assert(kMagicSize + 1 + 1 + 8 == kFileHeaderPayloadSize);
// The whole file header record, the first bytes of every file.
constexpr size_t kFileHeaderRecordSize = kHeaderSize + kFileHeaderPayloadSize;

// Version policy (RocksDB's separate minimums): this code writes kWriteVersion and reads files
// whose version lies in [kMinReadVersion, kMaxReadVersion].
constexpr uint8_t kWriteVersion = 1;
constexpr uint8_t kMinReadVersion = 1;
constexpr uint8_t kMaxReadVersion = 1;

// File names: <dir>/<16-digit zero-padded decimal number>.wal
constexpr int kFileNumberDigits = 16;
constexpr char kFileSuffix[] = ".wal";

}  // namespace meterd::storage::wal_format
