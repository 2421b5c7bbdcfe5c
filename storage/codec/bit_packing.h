// meterd — storage/codec/bit_packing.h
//
// Frame-of-reference bit packing in groups (DuckDB's scheme): each group of up to
// kPackGroupSize values is stored as
//   u8 width | varint reference (the group minimum) | ceil(count * width / 8) bytes
// where every value is (v - reference), packed LSB-first in `width` bits. A group's width adapts
// to its own values, so a burst widens one group, not the column.
//
// Thread-safety: pure functions. Invariant: UnpackGroups never reads outside its input and
// returns false for any malformed group.
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
// Steps over n values' groups without decoding them.
bool SkipGroups(base::ByteReader* r, size_t n);

inline int BitWidth(uint64_t v) { return v == 0 ? 0 : 64 - __builtin_clzll(v); }

}  // namespace meterd::storage::codec
