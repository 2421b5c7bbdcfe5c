// meterd — storage/codec/bit_packing.h
//
// Frame-of-reference bit packing in groups (DuckDB's scheme): each group of up to
// kPackGroupSize values is stored as
//   u8 width | varint reference (the group minimum) | ceil(count * width / 8) bytes
// where every value is (v - reference), packed LSB-first in `width` bits. A group's width adapts
// to its own values, so a burst widens one group, not the column.
//
// Decoding is one pass a group: UnpackDeltaGroups and UnpackDelta2Groups fuse the unpacking
// with the zigzag decoding and the running sums of the delta codecs (no second loop over the
// output). The unpackers read the payload in 8-byte words straight from the input while at least
// 8 readable bytes of the input follow the word; only a group's last few words go through a
// zero-padded copy.
//
// Thread-safety: pure functions. Invariant: the unpackers never read outside their input and
// return false for any malformed group.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "storage/base/coding.h"

namespace meterd::storage::codec {

// Exact encoded size of PackGroups(values, n).
size_t PackedSize(const uint64_t* values, size_t n);
void PackGroups(const uint64_t* values, size_t n, std::string* out);
// Decodes n values from r into out. False on malformed or truncated input.
bool UnpackGroups(base::ByteReader* r, size_t n, uint64_t* out);
// Decodes n zigzag deltas z[i] from r and writes their running sum from `prev`:
// out[i] = prev + zz^-1(z[0]) + ... + zz^-1(z[i]) (wrapping). False on malformed input.
// With row_order false, runs of 32 values decoded by the vector unpackers may be stored in
// their register order (a permutation of the run with its first and last values in place).
bool UnpackDeltaGroups(base::ByteReader* r, size_t n, uint64_t prev, uint64_t* out,
                       bool row_order = true);
// Decodes n zigzag deltas of deltas z[i] and integrates them twice from `prev` and `delta`:
// delta += zz^-1(z[i]); prev += delta; out[i] = prev (wrapping). False on malformed input.
bool UnpackDelta2Groups(base::ByteReader* r, size_t n, uint64_t prev, uint64_t delta, uint64_t* out,
                        bool row_order = true);
// Steps over n values' groups without decoding them.
bool SkipGroups(base::ByteReader* r, size_t n);

inline int BitWidth(uint64_t v) { return v == 0 ? 0 : 64 - __builtin_clzll(v); }

}  // namespace meterd::storage::codec
