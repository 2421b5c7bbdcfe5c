// meterd — storage/codec/bit_unpack_simd.h
//
// Vector versions of the fused delta unpackers of bit_packing.cc (AVX2, picked at run time:
// baseline x86-64 builds cannot assume it; elsewhere Available() is false). They decode whole
// runs of 32 values of one packed group with the same results, bit for bit, as the scalar
// unpackers; bit_packing.cc decides what runs where.
//
// Thread-safety: pure functions (TEST_Disable is for single-threaded tests only).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace meterd::storage::codec::simd {

// Widest value the vector unpackers handle: a 56-bit value at any bit offset fits one 8-byte
// load, which wider ones may not.
constexpr int kMaxSimdWidth = 56;

// Whether the CPU runs the vector unpackers (and a test did not turn them off).
bool Available();
// Test hook: forces the scalar unpackers (true) or allows the vector ones again (false).
void TEST_Disable(bool disable);

// REQUIRES for both: Available(); 1 <= width <= kMaxSimdWidth; count a multiple of 32; the
// 8 bytes from the start byte of every value (value i starts at bit i * width of src) readable.
// *prev += zz^-1(v) for each value v (packed bits + reference), out[i] = *prev. With row_order
// false, each run of 32 is stored in register order: out[4j + c] holds row 8c + j of the run
// (rows 0 and 31 stay in place), without the transposes.
void UnpackDelta(int width, const uint8_t* src, size_t count, uint64_t reference, uint64_t* prev,
                 uint64_t* out, bool row_order);
// *delta += zz^-1(v); *prev += *delta; out[i] = *prev.
void UnpackDelta2(int width, const uint8_t* src, size_t count, uint64_t reference, uint64_t* prev,
                  uint64_t* delta, uint64_t* out, bool row_order);

}  // namespace meterd::storage::codec::simd
