// meterd — query/scan/simd_kernels.h
//
// Vector versions of the hottest flat-column kernels of usage_kernels.h (unsigned min / max and
// the exact 128-bit sum over a contiguous range), picked at run time: AVX-512 (F) where the CPU
// has it (native unsigned 64-bit min / max, eight lanes), else AVX2; baseline x86-64 builds
// cannot assume either, and elsewhere Available() is false. Results are identical to the scalar
// loops (integer min, max and sum do not depend on the order of the rows).
//
// Thread-safety: pure functions over caller-owned memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace meterd::query::scan::simd {

// Ranges shorter than this stay scalar (the vector loop's setup and reduction cost more).
constexpr size_t kMinRows = 32;

// Whether the CPU runs the kernels below (AVX2 or better).
bool Available();

enum class Level : uint8_t { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
// The best level this CPU runs, whatever the test cap.
Level CpuLevel();
// Test hook: the kernels use at most `max` (kScalar makes Available() false). Not thread-safe.
void TEST_Limit(Level max);

// REQUIRES for all: Available(), n >= 1.
uint64_t MaxU64(const uint64_t* d, size_t n);
uint64_t MinU64(const uint64_t* d, size_t n);
unsigned __int128 SumU128(const uint64_t* d, size_t n);

}  // namespace meterd::query::scan::simd
