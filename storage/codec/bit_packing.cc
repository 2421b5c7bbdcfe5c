// meterd — storage/codec/bit_packing.cc
#include "storage/codec/bit_packing.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "storage/codec.h"

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

// Unpacks `count` values of `width` bits from `src` (which has at least 8 readable bytes past
// the packed data: see the padded copy in UnpackGroups), adding `reference`.
template <int kWidth>
void UnpackFixed(const uint8_t* src, size_t count, uint64_t reference, uint64_t* out) {
  constexpr uint64_t mask = kWidth == 64 ? ~uint64_t{0} : (uint64_t{1} << kWidth) - 1;
  for (size_t i = 0; i < count; ++i) {
    const size_t bit = i * kWidth;
    uint64_t word;
    std::memcpy(&word, src + bit / 8, 8);
    uint64_t v = word >> (bit % 8);
    if constexpr (kWidth > 56) {
      if (bit % 8 + kWidth > 64) v |= static_cast<uint64_t>(src[bit / 8 + 8]) << (64 - bit % 8);
    }
    out[i] = (v & mask) + reference;
  }
}

using UnpackFn = void (*)(const uint8_t*, size_t, uint64_t, uint64_t*);
template <size_t... W>
constexpr auto MakeTable(std::index_sequence<W...>) {
  return std::array<UnpackFn, sizeof...(W)>{&UnpackFixed<static_cast<int>(W)>...};
}
// One specialised loop per width: the shift and mask become constants.
constexpr auto kUnpack = MakeTable(std::make_index_sequence<65>());

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
  // Room for a group's largest payload plus the 9 bytes the word-at-a-time reader may touch.
  alignas(8) uint8_t padded[kPackGroupSize * 8 + 16];
  for (size_t begin = 0; begin < n; begin += kPackGroupSize) {
    const size_t count = std::min(kPackGroupSize, n - begin);
    uint8_t width;
    uint64_t reference;
    if (!r->GetFixed8(&width) || width > 64 || !r->GetVarint64(&reference)) return false;
    std::string_view payload;
    if (!r->GetBytes(PayloadBytes(count, width), &payload)) return false;
    if (width == 0) {
      std::fill(out + begin, out + begin + count, reference);
      continue;
    }
    std::memcpy(padded, payload.data(), payload.size());
    std::memset(padded + payload.size(), 0, 16);
    kUnpack[width](padded, count, reference, out + begin);
  }
  return true;
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
