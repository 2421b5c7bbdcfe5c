// meterd — storage/codec/bit_unpack_avx2.cc: AVX2 versions of the fused delta unpackers of
// bit_packing.cc, chosen at run time (baseline x86-64 has no AVX2, so nothing here runs unless
// the CPU reports it; other targets build only the stubs at the bottom).
//
// Layout trick: eight values of width W take exactly W bytes, so value j of every 8-value chunk
// sits at the same byte offset (j * W / 8) and shift (j * W % 8) within its chunk. Four chunks
// (32 values) go into the four 64-bit lanes of a register, one register per j: every lane
// shifts by the same constant, and the unpacking, masking, reference and zigzag decoding run on
// four values an instruction. The running sums go along j within each lane; the lanes' starting
// sums come from a prefix sum across the lanes of their chunk totals; a 4x4 transpose turns the
// eight registers back into rows for the stores. Widths above 56 (a value may straddle nine
// bytes) stay scalar.
#include "storage/codec/bit_unpack_simd.h"

#include <cstring>
#include <utility>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define METERD_AVX2 __attribute__((target("avx2")))

namespace meterd::storage::codec::simd {
namespace {

METERD_AVX2 inline __m256i Load4(const uint8_t* p, size_t stride) {
  int64_t w[4];
  std::memcpy(&w[0], p, 8);
  std::memcpy(&w[1], p + stride, 8);
  std::memcpy(&w[2], p + 2 * stride, 8);
  std::memcpy(&w[3], p + 3 * stride, 8);
  const __m128i lo = _mm_insert_epi64(_mm_cvtsi64_si128(w[0]), w[1], 1);
  const __m128i hi = _mm_insert_epi64(_mm_cvtsi64_si128(w[2]), w[3], 1);
  return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

// Lane c gets x[c - 1] (lane 0 gets 0), and x[c - 2].
METERD_AVX2 inline __m256i ShiftLanes1(__m256i x) {
  return _mm256_blend_epi32(_mm256_permute4x64_epi64(x, 0x90), _mm256_setzero_si256(), 0x03);
}
METERD_AVX2 inline __m256i ShiftLanes2(__m256i x) {
  return _mm256_blend_epi32(_mm256_permute4x64_epi64(x, 0x40), _mm256_setzero_si256(), 0x0f);
}
// Exclusive prefix sum across the four lanes: lane c gets x[0] + ... + x[c - 1].
METERD_AVX2 inline __m256i ExclusiveScan(__m256i x) {
  __m256i incl = _mm256_add_epi64(x, ShiftLanes1(x));
  incl = _mm256_add_epi64(incl, ShiftLanes2(incl));
  return _mm256_sub_epi64(incl, x);
}
METERD_AVX2 inline __m256i BroadcastLane3(__m256i x) { return _mm256_permute4x64_epi64(x, 0xff); }

// Rows r0..r3 hold values j0..j0+3 of chunks 0..3 (one chunk a lane); stores them as
// out[8c + j0 .. 8c + j0 + 3] for every chunk c.
METERD_AVX2 inline void Transpose4Store(__m256i r0, __m256i r1, __m256i r2, __m256i r3,
                                        uint64_t* out) {
  const __m256i t0 = _mm256_unpacklo_epi64(r0, r1), t1 = _mm256_unpackhi_epi64(r0, r1);
  const __m256i t2 = _mm256_unpacklo_epi64(r2, r3), t3 = _mm256_unpackhi_epi64(r2, r3);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permute2x128_si256(t0, t2, 0x20));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8), _mm256_permute2x128_si256(t1, t3, 0x20));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16),
                      _mm256_permute2x128_si256(t0, t2, 0x31));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 24),
                      _mm256_permute2x128_si256(t1, t3, 0x31));
}

// Value j of each of the four chunks at src, reference added, zigzag decoded.
template <int kWidth, int kJ>
METERD_AVX2 inline __m256i Deltas(const uint8_t* src, __m256i mask, __m256i reference) {
  constexpr int kBit = kJ * kWidth;
  __m256i v = Load4(src + kBit / 8, kWidth);
  if constexpr (kBit % 8 != 0) v = _mm256_srli_epi64(v, kBit % 8);
  v = _mm256_add_epi64(_mm256_and_si256(v, mask), reference);
  const __m256i sign =
      _mm256_sub_epi64(_mm256_setzero_si256(), _mm256_and_si256(v, _mm256_set1_epi64x(1)));
  return _mm256_xor_si256(_mm256_srli_epi64(v, 1), sign);
}

template <int kWidth, bool kDelta2, int kJ>
METERD_AVX2 inline void Step(const uint8_t* src, __m256i mask, __m256i reference, __m256i* acc,
                             __m256i* acc2, __m256i* s) {
  *acc = _mm256_add_epi64(*acc, Deltas<kWidth, kJ>(src, mask, reference));
  if constexpr (kDelta2) {
    *acc2 = _mm256_add_epi64(*acc2, *acc);
    s[kJ] = *acc2;
  } else {
    s[kJ] = *acc;
  }
}

// kDelta2 false: prev += zz^-1(v); out = prev. True: delta += zz^-1(v); prev += delta.
// row_order false stores s[j] as is (out[4j + c] = row 8c + j): a branch the predictor never
// misses, in place of the eight-register transpose.
template <int kWidth, bool kDelta2>
METERD_AVX2 void Kernel(const uint8_t* src, size_t count, uint64_t reference, uint64_t* prev,
                        uint64_t* delta, uint64_t* out, bool row_order) {
  static_assert(kWidth >= 1 && kWidth <= kMaxSimdWidth);
  const __m256i mask = _mm256_set1_epi64x(static_cast<int64_t>((uint64_t{1} << kWidth) - 1));
  const __m256i ref = _mm256_set1_epi64x(static_cast<int64_t>(reference));
  __m256i pv = _mm256_set1_epi64x(static_cast<int64_t>(*prev));
  __m256i dv = _mm256_set1_epi64x(static_cast<int64_t>(*delta));
  for (size_t i = 0; i + 32 <= count; i += 32, src += 4 * kWidth, out += 32) {
    // s[j]: per lane, the running sum of the chunk's deltas (kDelta2: of their running sum).
    __m256i s[8];
    __m256i acc = _mm256_setzero_si256(), acc2 = _mm256_setzero_si256();
    Step<kWidth, kDelta2, 0>(src, mask, ref, &acc, &acc2, s);
    Step<kWidth, kDelta2, 1>(src, mask, ref, &acc, &acc2, s);
    Step<kWidth, kDelta2, 2>(src, mask, ref, &acc, &acc2, s);
    Step<kWidth, kDelta2, 3>(src, mask, ref, &acc, &acc2, s);
    Step<kWidth, kDelta2, 4>(src, mask, ref, &acc, &acc2, s);
    Step<kWidth, kDelta2, 5>(src, mask, ref, &acc, &acc2, s);
    Step<kWidth, kDelta2, 6>(src, mask, ref, &acc, &acc2, s);
    Step<kWidth, kDelta2, 7>(src, mask, ref, &acc, &acc2, s);
    if constexpr (!kDelta2) {
      // Lane c starts from prev plus the totals of the chunks before it.
      const __m256i base = _mm256_add_epi64(pv, ExclusiveScan(acc));
      pv = BroadcastLane3(_mm256_add_epi64(base, acc));
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) s[j] = _mm256_add_epi64(s[j], base);
    } else {
      // Chunk c starts with delta d_c = d + (its predecessors' delta totals) and prev p_c; row
      // j of it is p_c + (j + 1) d_c + s[j]. p_{c+1} = p_c + 8 d_c + (chunk c's s[7]).
      const __m256i d = _mm256_add_epi64(dv, ExclusiveScan(acc));
      const __m256i q = _mm256_add_epi64(_mm256_slli_epi64(d, 3), acc2);
      const __m256i p = _mm256_add_epi64(pv, ExclusiveScan(q));
      pv = BroadcastLane3(_mm256_add_epi64(p, q));
      dv = BroadcastLane3(_mm256_add_epi64(d, acc));
      __m256i b = p;
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        b = _mm256_add_epi64(b, d);
        s[j] = _mm256_add_epi64(s[j], b);
      }
    }
    if (row_order) {
      Transpose4Store(s[0], s[1], s[2], s[3], out);
      Transpose4Store(s[4], s[5], s[6], s[7], out + 4);
    } else {
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 4 * j), s[j]);
      }
    }
  }
  *prev = static_cast<uint64_t>(_mm256_extract_epi64(pv, 0));
  *delta = static_cast<uint64_t>(_mm256_extract_epi64(dv, 0));
}

using KernelFn = void (*)(const uint8_t*, size_t, uint64_t, uint64_t*, uint64_t*, uint64_t*, bool);
template <bool kDelta2, int... W>
constexpr auto MakeTable(std::integer_sequence<int, W...>) {
  return std::array<KernelFn, sizeof...(W)>{&Kernel<W + 1, kDelta2>...};
}
constexpr auto kDeltaKernels = MakeTable<false>(std::make_integer_sequence<int, kMaxSimdWidth>());
constexpr auto kDelta2Kernels = MakeTable<true>(std::make_integer_sequence<int, kMaxSimdWidth>());

bool disabled_for_test = false;

}  // namespace

bool Available() {
  static const bool cpu = __builtin_cpu_supports("avx2");
  return cpu && !disabled_for_test;
}

void TEST_Disable(bool disable) { disabled_for_test = disable; }

void UnpackDelta(int width, const uint8_t* src, size_t count, uint64_t reference, uint64_t* prev,
                 uint64_t* out, bool row_order) {
  uint64_t unused = 0;
  kDeltaKernels[static_cast<size_t>(width - 1)](src, count, reference, prev, &unused, out,
                                                row_order);
}

void UnpackDelta2(int width, const uint8_t* src, size_t count, uint64_t reference, uint64_t* prev,
                  uint64_t* delta, uint64_t* out, bool row_order) {
  kDelta2Kernels[static_cast<size_t>(width - 1)](src, count, reference, prev, delta, out,
                                                 row_order);
}

}  // namespace meterd::storage::codec::simd

#else  // not x86-64: the scalar unpackers do everything

namespace meterd::storage::codec::simd {

bool Available() { return false; }
void TEST_Disable(bool) {}
void UnpackDelta(int, const uint8_t*, size_t, uint64_t, uint64_t*, uint64_t*, bool) {}
void UnpackDelta2(int, const uint8_t*, size_t, uint64_t, uint64_t*, uint64_t*, uint64_t*, bool) {}

}  // namespace meterd::storage::codec::simd

#endif
