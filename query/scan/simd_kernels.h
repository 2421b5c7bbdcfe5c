// meterd — query/scan/simd_kernels.h
//
// AVX2 versions of the hottest flat-column kernels of usage_kernels.h (unsigned min / max and
// the exact 128-bit sum over a contiguous range), picked at run time: baseline x86-64 builds
// cannot assume AVX2, and elsewhere Available() is false. Results are identical to the scalar
// loops (integer min, max and sum do not depend on the order of the rows).
//
// Thread-safety: pure functions over caller-owned memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace meterd::query::scan::simd {

// Ranges shorter than this stay scalar (the vector loop's setup and reduction cost more).
constexpr size_t kMinRows = 32;

// Whether the CPU runs the kernels below.
bool Available();

// REQUIRES for all: Available(), n >= 1.
uint64_t MaxU64(const uint64_t* d, size_t n);
uint64_t MinU64(const uint64_t* d, size_t n);
unsigned __int128 SumU128(const uint64_t* d, size_t n);

}  // namespace meterd::query::scan::simd
