// meterd — storage/codec.h
//
// Column codecs for immutable segment blocks (docs/format-segment.md, "Column encodings").
// A column is a self-describing byte string: its first byte names the encoding, so a decoder
// needs only the bytes and the row count (kept in the block header). Every codec has the four
// phases DuckDB uses: Analyze (choose the smallest encoding and its exact size without writing),
// Encode, Decode, Skip (the encoded length, without decoding).
//
//   Integer columns (timestamps, counters, states, integer levels) are uint64 with wrapping
//   arithmetic, so a counter that wraps at 2^64 round-trips. Encodings:
//     kIntConst       all rows equal the first                      (first value only)
//     kIntConstDelta  row i = first + i*d                            (first, d)
//     kIntDeltaPacked zigzag(delta) bit-packed in groups of 128, each group with its own width
//                     and frame of reference
//     kIntDelta2Packed  the same over zigzag(delta of delta): steady rates cost a few bits
//     kIntDeltaSparse   mostly-zero deltas: a presence bitmap + the nonzero deltas bit-packed
//   Float columns (gauges) are IEEE-754 bit patterns. Encodings:
//     kFloatScaled  every value is v = m / 10^scale exactly for an int64 m (|m| < 2^53) and a
//                   scale in [0, 9], and decoding reproduces the exact bits: the m's are stored
//                   as an integer column (most real gauges: 0.25, 12.5, 4096)
//     kFloatGorilla XOR with the previous value, leading/trailing-zero windows (Gorilla, VLDB'15)
//
// Thread-safety: pure functions; callers own all buffers.
// Invariants: Decode(Encode(x)) == x bit for bit for every input, including NaN payloads, ±inf,
// -0.0, 0 and 1 rows; Decode never reads outside `in` and returns Corruption for any input that
// is not a valid encoding of n rows; Analyze(x).encoded_size == Encode(x).size().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/base/status.h"

namespace meterd::storage {

enum class ColumnEncoding : uint8_t {
  kIntConst = 1,
  kIntConstDelta = 2,
  kIntDeltaPacked = 3,
  kIntDelta2Packed = 4,
  kIntDeltaSparse = 5,
  kFloatScaled = 16,
  kFloatGorilla = 17,
};
const char* ColumnEncodingName(ColumnEncoding e);

// The choice Analyze makes: which encoding, and exactly how many bytes Encode will write.
struct ColumnPlan {
  ColumnEncoding encoding = ColumnEncoding::kIntConst;
  size_t encoded_size = 0;
  int scale = 0;  // kFloatScaled only: the decimal exponent
};

// Rows per bit-packing group: small enough that one burst widens few rows, large enough that
// the per-group width byte and reference cost under 0.1 bit a row.
constexpr size_t kPackGroupSize = 128;

// REQUIRES for all: n >= 1 (an empty column is never written; blocks have at least one row).
ColumnPlan AnalyzeIntColumn(const uint64_t* values, size_t n);
void EncodeIntColumn(const uint64_t* values, size_t n, const ColumnPlan& plan, std::string* out);
// Decodes exactly n rows from `in` (which must be exactly the column's bytes) into out[0..n).
Status DecodeIntColumn(std::string_view in, size_t n, uint64_t* out);
// As DecodeIntColumn, except that out[0..n) may be a permutation of the rows: the vector
// unpackers then store runs of 32 rows in their register order and skip the transposes back to
// row order (about a sixth of their time). out[0] and out[n - 1] are always the first and last
// rows. For callers that aggregate the whole column order-insensitively (integer sums, min,
// max) and take its last value; the same input is accepted and rejected as by DecodeIntColumn.
Status DecodeIntColumnAnyOrder(std::string_view in, size_t n, uint64_t* out);

ColumnPlan AnalyzeFloatColumn(const uint64_t* bits, size_t n);
void EncodeFloatColumn(const uint64_t* bits, size_t n, const ColumnPlan& plan, std::string* out);
Status DecodeFloatColumn(std::string_view in, size_t n, uint64_t* out_bits);

// Skip phase: the number of bytes the column starting at in.data() occupies, without decoding
// the rows (so a reader can step over a column of a block it does not need).
Status SkipColumn(std::string_view in, size_t n, size_t* encoded_size);

}  // namespace meterd::storage
