// meterd — query/scan/simd_kernels.cc: see simd_kernels.h.
#include "query/scan/simd_kernels.h"

#include <algorithm>

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_*(), which its
// (un)initialized-use analysis reports at every inlined call (GCC PR 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#define METERD_AVX2 __attribute__((target("avx2")))
#define METERD_AVX512 __attribute__((target("avx512f")))

namespace meterd::query::scan::simd {
namespace {

constexpr uint64_t kSign = uint64_t{1} << 63;

Level limit = Level::kAvx512;

Level Active() { return std::min(CpuLevel(), limit); }

// AVX-512 has unsigned 64-bit min / max: one instruction per eight values; two accumulators
// hide its latency, a masked load takes the tail.
template <bool kMax>
METERD_AVX512 uint64_t Extreme512(const uint64_t* d, size_t n) {
  const __m512i identity = _mm512_set1_epi64(kMax ? 0 : -1);
  __m512i a0 = identity, a1 = identity;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i x = _mm512_loadu_si512(d + i), y = _mm512_loadu_si512(d + i + 8);
    a0 = kMax ? _mm512_max_epu64(a0, x) : _mm512_min_epu64(a0, x);
    a1 = kMax ? _mm512_max_epu64(a1, y) : _mm512_min_epu64(a1, y);
  }
  if (i + 8 <= n) {
    const __m512i x = _mm512_loadu_si512(d + i);
    a0 = kMax ? _mm512_max_epu64(a0, x) : _mm512_min_epu64(a0, x);
    i += 8;
  }
  if (i < n) {
    const __mmask8 tail = static_cast<__mmask8>((1u << (n - i)) - 1);
    const __m512i x = _mm512_mask_loadu_epi64(identity, tail, d + i);
    a1 = kMax ? _mm512_max_epu64(a1, x) : _mm512_min_epu64(a1, x);
  }
  return kMax ? _mm512_reduce_max_epu64(_mm512_max_epu64(a0, a1))
              : _mm512_reduce_min_epu64(_mm512_min_epu64(a0, a1));
}

// As the AVX2 sum below: low and high 32-bit halves in separate 64-bit lanes.
METERD_AVX512 unsigned __int128 Sum512(const uint64_t* d, size_t n) {
  constexpr size_t kChunk = size_t{1} << 30;
  unsigned __int128 total = 0;
  const __m512i low = _mm512_set1_epi64(0xffffffff);
  for (size_t start = 0; start < n; start += kChunk) {
    const size_t end = std::min(n, start + kChunk);
    __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
    size_t i = start;
    for (; i + 8 <= end; i += 8) {
      const __m512i x = _mm512_loadu_si512(d + i);
      lo = _mm512_add_epi64(lo, _mm512_and_si512(x, low));
      hi = _mm512_add_epi64(hi, _mm512_srli_epi64(x, 32));
    }
    if (i < end) {
      const __mmask8 tail = static_cast<__mmask8>((1u << (end - i)) - 1);
      const __m512i x = _mm512_maskz_loadu_epi64(tail, d + i);
      lo = _mm512_add_epi64(lo, _mm512_and_si512(x, low));
      hi = _mm512_add_epi64(hi, _mm512_srli_epi64(x, 32));
    }
    alignas(64) uint64_t l[8], h[8];
    _mm512_store_si512(l, lo);
    _mm512_store_si512(h, hi);
    unsigned __int128 sum_lo = 0, sum_hi = 0;
    for (int k = 0; k < 8; ++k) {
      sum_lo += l[k];
      sum_hi += h[k];
    }
    total += sum_lo + (sum_hi << 32);
  }
  return total;
}

// Unsigned extreme over d[0, n): keys are the values with the sign bit flipped, so the signed
// 64-bit compare of AVX2 orders them as unsigned; two accumulators hide the blend latency.
template <bool kMax>
METERD_AVX2 uint64_t Extreme(const uint64_t* d, size_t n) {
  const __m256i sign = _mm256_set1_epi64x(static_cast<int64_t>(kSign));
  const __m256i identity = _mm256_set1_epi64x(kMax ? INT64_MIN : INT64_MAX);
  __m256i a0 = identity, a1 = identity;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i x =
        _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + i)), sign);
    const __m256i y =
        _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + i + 4)), sign);
    if constexpr (kMax) {
      a0 = _mm256_blendv_epi8(a0, x, _mm256_cmpgt_epi64(x, a0));
      a1 = _mm256_blendv_epi8(a1, y, _mm256_cmpgt_epi64(y, a1));
    } else {
      a0 = _mm256_blendv_epi8(a0, x, _mm256_cmpgt_epi64(a0, x));
      a1 = _mm256_blendv_epi8(a1, y, _mm256_cmpgt_epi64(a1, y));
    }
  }
  alignas(32) int64_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), a0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 4), a1);
  uint64_t r = kMax ? 0 : ~uint64_t{0};
  for (int64_t k : lanes) {
    const uint64_t v = static_cast<uint64_t>(k) ^ kSign;
    r = kMax ? std::max(r, v) : std::min(r, v);
  }
  for (; i < n; ++i) r = kMax ? std::max(r, d[i]) : std::min(r, d[i]);
  return r;
}

// The low and high 32-bit halves are summed in separate 64-bit lanes: exact for fewer than 2^32
// rows, which a block (<= 4,096 rows) always is; ranges longer than that are split.
METERD_AVX2 unsigned __int128 Sum256(const uint64_t* d, size_t n) {
  constexpr size_t kChunk = size_t{1} << 30;
  unsigned __int128 total = 0;
  for (size_t start = 0; start < n; start += kChunk) {
    const size_t end = std::min(n, start + kChunk);
    const __m256i low = _mm256_set1_epi64x(0xffffffff);
    __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
    size_t i = start;
    for (; i + 4 <= end; i += 4) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + i));
      lo = _mm256_add_epi64(lo, _mm256_and_si256(x, low));
      hi = _mm256_add_epi64(hi, _mm256_srli_epi64(x, 32));
    }
    alignas(32) uint64_t l[4], h[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(l), lo);
    _mm256_store_si256(reinterpret_cast<__m256i*>(h), hi);
    unsigned __int128 sum_lo = 0, sum_hi = 0;
    for (int k = 0; k < 4; ++k) {
      sum_lo += l[k];
      sum_hi += h[k];
    }
    for (; i < end; ++i) total += d[i];
    total += sum_lo + (sum_hi << 32);
  }
  return total;
}

}  // namespace

Level CpuLevel() {
  static const Level cpu = __builtin_cpu_supports("avx512f") ? Level::kAvx512
                           : __builtin_cpu_supports("avx2")  ? Level::kAvx2
                                                             : Level::kScalar;
  return cpu;
}

void TEST_Limit(Level max) { limit = max; }

bool Available() { return Active() != Level::kScalar; }

uint64_t MaxU64(const uint64_t* d, size_t n) {
  return Active() == Level::kAvx512 ? Extreme512<true>(d, n) : Extreme<true>(d, n);
}
uint64_t MinU64(const uint64_t* d, size_t n) {
  return Active() == Level::kAvx512 ? Extreme512<false>(d, n) : Extreme<false>(d, n);
}
unsigned __int128 SumU128(const uint64_t* d, size_t n) {
  return Active() == Level::kAvx512 ? Sum512(d, n) : Sum256(d, n);
}

}  // namespace meterd::query::scan::simd

#else

namespace meterd::query::scan::simd {

bool Available() { return false; }
Level CpuLevel() { return Level::kScalar; }
void TEST_Limit(Level) {}
uint64_t MaxU64(const uint64_t*, size_t) { return 0; }
uint64_t MinU64(const uint64_t*, size_t) { return 0; }
unsigned __int128 SumU128(const uint64_t*, size_t) { return 0; }

}  // namespace meterd::query::scan::simd

#endif
