// meterd — storage/codec/bit_packing.cc
#include "storage/codec/bit_packing.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "storage/codec.h"
#include "storage/codec/bit_unpack_simd.h"

namespace meterd::storage::codec {
namespace {

struct GroupShape {
  uint64_t reference;
  int width;
};

GroupShape Shape(const uint64_t* v, size_t count) {
  uint64_t lo = v[0], hi = v[0];
  for (size_t i = 1; i < count; ++i) {
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  return GroupShape{lo, BitWidth(hi - lo)};
}

size_t PayloadBytes(size_t count, int width) {
  return (count * static_cast<size_t>(width) + 7) / 8;
}

// What an unpacker does with each value v (the packed bits plus the group's reference).
enum class Accumulate {
  kNone,    // out[i] = v
  kDelta,   // prev += zz^-1(v); out[i] = prev
  kDelta2,  // delta += zz^-1(v); prev += delta; out[i] = prev
};

// The running sums carried from one group (and one chunk of a group) to the next.
struct RunState {
  uint64_t prev = 0;
  uint64_t delta = 0;
};

inline uint64_t UnZigZag(uint64_t z) { return (z >> 1) ^ (uint64_t{0} - (z & 1)); }

template <Accumulate kAcc>
inline uint64_t Emit(uint64_t v, uint64_t& prev, uint64_t& delta) {
  if constexpr (kAcc == Accumulate::kNone) {
    return v;
  } else if constexpr (kAcc == Accumulate::kDelta) {
    prev += UnZigZag(v);
    return prev;
  } else {
    delta += UnZigZag(v);
    prev += delta;
    return prev;
  }
}

inline uint64_t Load64(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);  // little-endian hosts only, as the rest of the codecs
  return w;
}

// The kWidth-bit value starting at bit `bit` of src. REQUIRES: src[bit / 8, bit / 8 + 8) is
// readable (and, for kWidth > 56, src[bit / 8 + 8] when the value reaches into it).
template <int kWidth>
inline uint64_t Extract(const uint8_t* src, size_t bit) {
  constexpr uint64_t kMask = kWidth == 64 ? ~uint64_t{0} : (uint64_t{1} << kWidth) - 1;
  const size_t byte = bit / 8, shift = bit % 8;
  uint64_t v = Load64(src + byte) >> shift;
  if constexpr (kWidth > 56) {
    if (shift + kWidth > 64) v |= static_cast<uint64_t>(src[byte + 8]) << (64 - shift);
  }
  return v & kMask;
}

// Unpacks `count` values of kWidth bits from `src` (bit 0), adds `reference` and applies kAcc,
// writing out[0, count). REQUIRES: the 8 bytes from the start byte of every value are readable
// (see the padded copy in Unpack). Eight values take exactly kWidth bytes, so the loop runs
// over chunks of eight whose byte offsets and shifts are compile-time constants: one load,
// shift, mask and add a value, no per-value offset arithmetic.
template <int kWidth, Accumulate kAcc>
void UnpackFixed(const uint8_t* src, size_t count, uint64_t reference, RunState* state,
                 uint64_t* out) {
  uint64_t prev = state->prev, delta = state->delta;
  size_t i = 0;
  for (; i + 8 <= count; i += 8, src += kWidth) {
    [&]<size_t... J>(std::index_sequence<J...>) {
      ((out[i + J] = Emit<kAcc>(Extract<kWidth>(src, J * kWidth) + reference, prev, delta)), ...);
    }
    (std::make_index_sequence<8>());
  }
  for (size_t k = 0; i < count; ++i, ++k) {
    out[i] = Emit<kAcc>(Extract<kWidth>(src, k * kWidth) + reference, prev, delta);
  }
  state->prev = prev;
  state->delta = delta;
}

// A width-0 group: every value is `reference`.
template <Accumulate kAcc>
void FillReference(size_t count, uint64_t reference, RunState* state, uint64_t* out) {
  if constexpr (kAcc == Accumulate::kNone) {
    std::fill(out, out + count, reference);
  } else if constexpr (kAcc == Accumulate::kDelta) {
    const uint64_t d = UnZigZag(reference), prev = state->prev;
    for (size_t i = 0; i < count; ++i) out[i] = prev + d * (i + 1);  // vectorises
    state->prev = prev + d * count;
  } else {
    const uint64_t dd = UnZigZag(reference);
    uint64_t prev = state->prev, delta = state->delta;
    for (size_t i = 0; i < count; ++i) {
      delta += dd;
      prev += delta;
      out[i] = prev;
    }
    state->prev = prev;
    state->delta = delta;
  }
}

using UnpackFn = void (*)(const uint8_t*, size_t, uint64_t, RunState*, uint64_t*);
template <Accumulate kAcc, size_t... W>
constexpr auto MakeTable(std::index_sequence<W...>) {
  return std::array<UnpackFn, sizeof...(W)>{&UnpackFixed<static_cast<int>(W), kAcc>...};
}
// One specialised loop per width and accumulation: the shifts and masks become constants.
constexpr std::array<std::array<UnpackFn, 65>, 3> kUnpack = {
    MakeTable<Accumulate::kNone>(std::make_index_sequence<65>()),
    MakeTable<Accumulate::kDelta>(std::make_index_sequence<65>()),
    MakeTable<Accumulate::kDelta2>(std::make_index_sequence<65>()),
};

template <Accumulate kAcc>
bool Unpack(base::ByteReader* r, size_t n, RunState state, uint64_t* out, bool row_order) {
  // Room for a group's largest payload plus the 9 bytes the word-at-a-time reader may touch.
  alignas(8) uint8_t padded[kPackGroupSize * 8 + 16];
  const UnpackFn* table = kUnpack[static_cast<size_t>(kAcc)].data();
  for (size_t begin = 0; begin < n; begin += kPackGroupSize) {
    const size_t count = std::min(kPackGroupSize, n - begin);
    uint8_t width;
    uint64_t reference;
    if (!r->GetFixed8(&width) || width > 64 || !r->GetVarint64(&reference)) return false;
    std::string_view payload;
    if (!r->GetBytes(PayloadBytes(count, width), &payload)) return false;
    if (width == 0) {
      FillReference<kAcc>(count, reference, &state, out + begin);
      continue;
    }
    const auto* src = reinterpret_cast<const uint8_t*>(payload.data());
    // Value i reads the 8 bytes from byte i * width / 8: it may read in place when they lie in
    // the input (this group's payload and whatever of the column follows it). Only the last
    // chunks of the column's last group, at most 8 + width bytes, are copied into a padded
    // buffer.
    const size_t readable = payload.size() + r->remaining();
    size_t direct = readable >= 8 ? (readable - 8) * 8 / width + 1 : 0;
    if (direct >= count) {
      direct = count;
    } else {
      direct &= ~size_t{7};  // whole chunks of eight: the rest starts on a byte boundary
    }
    size_t done = 0;
    if constexpr (kAcc != Accumulate::kNone) {
      // Whole runs of 32 values go to the vector unpackers when the CPU has them.
      if (direct >= 32 && width <= simd::kMaxSimdWidth && simd::Available()) {
        done = direct & ~size_t{31};
        if constexpr (kAcc == Accumulate::kDelta) {
          simd::UnpackDelta(width, src, done, reference, &state.prev, out + begin, row_order);
        } else {
          simd::UnpackDelta2(width, src, done, reference, &state.prev, &state.delta, out + begin,
                             row_order);
        }
      }
    }
    if (direct > done) {
      table[width](src + done / 8 * width, direct - done, reference, &state, out + begin + done);
    }
    if (direct < count) {
      const size_t from = direct / 8 * width;
      const size_t len = payload.size() - from;
      std::memcpy(padded, src + from, len);
      std::memset(padded + len, 0, 16);
      table[width](padded, count - direct, reference, &state, out + begin + direct);
    }
  }
  return true;
}

}  // namespace

size_t PackedSize(const uint64_t* values, size_t n) {
  size_t size = 0;
  for (size_t begin = 0; begin < n; begin += kPackGroupSize) {
    const size_t count = std::min(kPackGroupSize, n - begin);
    const GroupShape g = Shape(values + begin, count);
    size += 1 + static_cast<size_t>(base::VarintLength(g.reference)) + PayloadBytes(count, g.width);
  }
  return size;
}

void PackGroups(const uint64_t* values, size_t n, std::string* out) {
  for (size_t begin = 0; begin < n; begin += kPackGroupSize) {
    const size_t count = std::min(kPackGroupSize, n - begin);
    const uint64_t* v = values + begin;
    const GroupShape g = Shape(v, count);
    base::PutFixed8(out, static_cast<uint8_t>(g.width));
    base::PutVarint64(out, g.reference);
    const size_t start = out->size();
    out->resize(start + PayloadBytes(count, g.width), '\0');
    if (g.width == 0) continue;
    auto* dst = reinterpret_cast<uint8_t*>(out->data() + start);
    size_t bit = 0;
    for (size_t i = 0; i < count; ++i, bit += static_cast<size_t>(g.width)) {
      uint64_t x = v[i] - g.reference;
      // Write the value byte by byte from its first bit (packing is not the hot path).
      size_t pos = bit;
      int left = g.width;
      while (left > 0) {
        const int off = static_cast<int>(pos % 8);
        const int take = std::min(8 - off, left);
        dst[pos / 8] |= static_cast<uint8_t>((x & ((1u << take) - 1)) << off);
        x >>= take;
        pos += static_cast<size_t>(take);
        left -= take;
      }
    }
  }
}

bool UnpackGroups(base::ByteReader* r, size_t n, uint64_t* out) {
  return Unpack<Accumulate::kNone>(r, n, RunState{}, out, true);
}

bool UnpackDeltaGroups(base::ByteReader* r, size_t n, uint64_t prev, uint64_t* out,
                       bool row_order) {
  return Unpack<Accumulate::kDelta>(r, n, RunState{prev, 0}, out, row_order);
}

bool UnpackDelta2Groups(base::ByteReader* r, size_t n, uint64_t prev, uint64_t delta, uint64_t* out,
                        bool row_order) {
  return Unpack<Accumulate::kDelta2>(r, n, RunState{prev, delta}, out, row_order);
}

bool SkipGroups(base::ByteReader* r, size_t n) {
  for (size_t begin = 0; begin < n; begin += kPackGroupSize) {
    const size_t count = std::min(kPackGroupSize, n - begin);
    uint8_t width;
    uint64_t reference;
    if (!r->GetFixed8(&width) || width > 64 || !r->GetVarint64(&reference)) return false;
    if (!r->Skip(PayloadBytes(count, width))) return false;
  }
  return true;
}

}  // namespace meterd::storage::codec
