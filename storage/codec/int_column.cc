// meterd — storage/codec/int_column.cc: integer columns (docs/format-segment-columns.md).
#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "storage/base/check.h"
#include "storage/base/coding.h"
#include "storage/codec.h"
#include "storage/codec/bit_packing.h"
#include "storage/sample_batch.h"

namespace meterd::storage {
namespace {

using codec::PackedSize;
using codec::PackGroups;
using codec::SkipGroups;
using codec::UnpackDelta2Groups;
using codec::UnpackDeltaGroups;
using codec::UnpackGroups;

// zigzag(v[i] - v[i-1]) for i in [1, n), with wrapping subtraction (a counter passing 2^64
// has a small delta).
void ZigZagDeltas(const uint64_t* v, size_t n, std::vector<uint64_t>* out) {
  out->resize(n > 0 ? n - 1 : 0);
  for (size_t i = 1; i < n; ++i) {
    (*out)[i - 1] = base::ZigZagEncode(static_cast<int64_t>(v[i] - v[i - 1]));
  }
}

void ZigZagDelta2(const uint64_t* v, size_t n, std::vector<uint64_t>* out) {
  out->resize(n > 2 ? n - 2 : 0);
  for (size_t i = 2; i < n; ++i) {
    const uint64_t d1 = v[i] - v[i - 1], d0 = v[i - 1] - v[i - 2];
    (*out)[i - 2] = base::ZigZagEncode(static_cast<int64_t>(d1 - d0));
  }
}

// The nonzero zigzag deltas, and the presence bitmap's size.
size_t BitmapBytes(size_t deltas) { return (deltas + 7) / 8; }

// Portable 64-bit popcount (SWAR): baseline x86-64 has no POPCNT instruction, and
// __builtin_popcountll would call libgcc's __popcountdi2 a word.
inline uint64_t PopCount64(uint64_t x) {
  x -= (x >> 1) & 0x5555555555555555ull;
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return (x * 0x0101010101010101ull) >> 56;
}

// Bitmap bytes [at, at + 8) as a little-endian word, zero past `size`.
inline uint64_t LoadBits(const uint8_t* bits, size_t size, size_t at) {
  uint64_t w = 0;
  std::memcpy(&w, bits + at, std::min<size_t>(8, size - at));
  return w;
}

// dst[0, n) = v. Plain loops of unknown length are not vectorised at -O2 (GCC's very-cheap cost
// model), so this stores two values at a time.
inline void Fill(uint64_t* dst, size_t n, uint64_t v) {
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    dst[i] = v;
    dst[i + 1] = v;
  }
  if (i < n) dst[i] = v;
}

// words[0, 64) = 0 with 16-byte stores (a 512-byte `= {}` becomes `rep stos`, whose start-up
// costs more than the stores).
inline void ZeroWord(uint64_t* words) {
#if defined(__SSE2__)
  // Straight-line stores: GCC turns a loop of them back into memset.
  [words]<size_t... I>(std::index_sequence<I...>) {
    ((_mm_storeu_si128(reinterpret_cast<__m128i*>(words + 2 * I), _mm_setzero_si128())), ...);
  }
  (std::make_index_sequence<32>());
#else
  for (size_t i = 0; i < 64; ++i) words[i] = 0;
#endif
}

size_t PopCount(const uint8_t* bits, size_t size) {
  size_t total = 0;
  for (size_t at = 0; at < size; at += 8) total += PopCount64(LoadBits(bits, size, at));
  return static_cast<size_t>(total);
}

struct Candidates {
  std::vector<uint64_t> deltas, delta2, nonzero;
};
thread_local Candidates scratch;

}  // namespace

ColumnPlan AnalyzeIntColumn(const uint64_t* v, size_t n) {
  const size_t first = static_cast<size_t>(base::VarintLength(v[0]));
  ColumnPlan plan{ColumnEncoding::kIntConst, 1 + first, 0};
  if (n == 1) return plan;
  bool constant = true, const_delta = true;
  const uint64_t d = v[1] - v[0];
  for (size_t i = 1; i < n; ++i) {
    constant &= v[i] == v[0];
    const_delta &= v[i] - v[i - 1] == d;
  }
  if (constant) return plan;
  if (const_delta) {
    return ColumnPlan{
        ColumnEncoding::kIntConstDelta,
        1 + first +
            static_cast<size_t>(base::VarintLength(base::ZigZagEncode(static_cast<int64_t>(d)))),
        0};
  }
  Candidates& c = scratch;
  ZigZagDeltas(v, n, &c.deltas);
  plan = ColumnPlan{ColumnEncoding::kIntDeltaPacked, 1 + first + PackedSize(c.deltas.data(), n - 1),
                    0};
  if (n > 2) {
    ZigZagDelta2(v, n, &c.delta2);
    const size_t size = 1 + first + static_cast<size_t>(base::VarintLength(c.deltas[0])) +
                        PackedSize(c.delta2.data(), n - 2);
    if (size < plan.encoded_size) plan = ColumnPlan{ColumnEncoding::kIntDelta2Packed, size, 0};
  }
  c.nonzero.clear();
  for (uint64_t x : c.deltas) {
    if (x != 0) c.nonzero.push_back(x);
  }
  if (c.nonzero.size() * 2 < c.deltas.size()) {  // sparse only pays when most deltas are zero
    const size_t size = 1 + first + BitmapBytes(n - 1) +
                        (c.nonzero.empty() ? 0 : PackedSize(c.nonzero.data(), c.nonzero.size()));
    if (size < plan.encoded_size) plan = ColumnPlan{ColumnEncoding::kIntDeltaSparse, size, 0};
  }
  return plan;
}

void EncodeIntColumn(const uint64_t* v, size_t n, const ColumnPlan& plan, std::string* out) {
  base::PutFixed8(out, static_cast<uint8_t>(plan.encoding));
  base::PutVarint64(out, v[0]);
  Candidates& c = scratch;
  switch (plan.encoding) {
    case ColumnEncoding::kIntConst:
      return;
    case ColumnEncoding::kIntConstDelta:
      base::PutVarint64(out, base::ZigZagEncode(static_cast<int64_t>(v[1] - v[0])));
      return;
    case ColumnEncoding::kIntDeltaPacked:
      ZigZagDeltas(v, n, &c.deltas);
      PackGroups(c.deltas.data(), n - 1, out);
      return;
    case ColumnEncoding::kIntDelta2Packed:
      base::PutVarint64(out, base::ZigZagEncode(static_cast<int64_t>(v[1] - v[0])));
      ZigZagDelta2(v, n, &c.delta2);
      PackGroups(c.delta2.data(), n - 2, out);
      return;
    case ColumnEncoding::kIntDeltaSparse: {
      ZigZagDeltas(v, n, &c.deltas);
      const size_t start = out->size();
      out->resize(start + BitmapBytes(n - 1), '\0');
      c.nonzero.clear();
      for (size_t i = 0; i < c.deltas.size(); ++i) {
        if (c.deltas[i] != 0) {
          (*out)[start + i / 8] = static_cast<char>((*out)[start + i / 8] | (1 << (i % 8)));
          c.nonzero.push_back(c.deltas[i]);
        }
      }
      if (!c.nonzero.empty()) PackGroups(c.nonzero.data(), c.nonzero.size(), out);
      return;
    }
    default:
      break;
  }
  METERD_CHECK(false, "EncodeIntColumn: not an integer encoding");
}

namespace {

// Decodes the rows after the first from the reader; shared by Decode and Skip.
Status DecodeIntBody(base::ByteReader* r, ColumnEncoding e, size_t n, uint64_t* out, bool skip,
                     bool row_order) {
  switch (e) {
    case ColumnEncoding::kIntConst:
      if (!skip) std::fill(out + 1, out + n, out[0]);
      return Status::OK();
    case ColumnEncoding::kIntConstDelta: {
      uint64_t zz;
      if (!r->GetVarint64(&zz)) return Status::Corruption("int column: truncated delta");
      if (!skip) {
        const uint64_t first = out[0], d = static_cast<uint64_t>(base::ZigZagDecode(zz));
        for (size_t i = 1; i < n; ++i) out[i] = first + d * i;  // vectorises, unlike a running sum
      }
      return Status::OK();
    }
    case ColumnEncoding::kIntDeltaPacked:
      if (n < 2) return Status::Corruption("int column: packed deltas need 2 rows");
      if (skip) return SkipGroups(r, n - 1) ? Status::OK() : Status::Corruption("int column");
      if (!UnpackDeltaGroups(r, n - 1, out[0], out + 1, row_order)) {
        return Status::Corruption("int column: bad group");
      }
      return Status::OK();
    case ColumnEncoding::kIntDelta2Packed: {
      uint64_t zz;
      if (n < 3 || !r->GetVarint64(&zz)) return Status::Corruption("int column: bad delta2");
      if (skip) return SkipGroups(r, n - 2) ? Status::OK() : Status::Corruption("int column");
      const uint64_t d = static_cast<uint64_t>(base::ZigZagDecode(zz));
      out[1] = out[0] + d;
      if (!UnpackDelta2Groups(r, n - 2, out[1], d, out + 2, row_order)) {
        return Status::Corruption("int column: bad group");
      }
      return Status::OK();
    }
    case ColumnEncoding::kIntDeltaSparse: {
      if (n < 2) return Status::Corruption("int column: sparse deltas need 2 rows");
      std::string_view bitmap;
      if (!r->GetBytes(BitmapBytes(n - 1), &bitmap)) {
        return Status::Corruption("int column: truncated bitmap");
      }
      const auto* bits = reinterpret_cast<const uint8_t*>(bitmap.data());
      const size_t nonzero = PopCount(bits, bitmap.size());
      const size_t tail_bits = (n - 1) % 8;
      if (tail_bits != 0 && (bits[bitmap.size() - 1] >> tail_bits) != 0) {
        return Status::Corruption("int column: bitmap bits past the last row");
      }
      if (skip) {
        return nonzero == 0 || SkipGroups(r, nonzero) ? Status::OK()
                                                      : Status::Corruption("int column");
      }
      // Unpack the nonzero deltas into the tail of out, then expand forwards: row i reads the
      // packed value at n - nonzero + k >= i, before writing out[i], so the in-place expansion
      // never overwrites an unread value.
      uint64_t* packed = out + n - nonzero;
      if (nonzero > 0 && !UnpackGroups(r, nonzero, packed)) {
        return Status::Corruption("int column: bad group");
      }
      // Expand 64 rows (one bitmap word) at a time, zigzag-decoding each nonzero delta as it
      // is read: a word without set bits repeats the previous value; a word with a few fills
      // the runs between them; a denser one is expanded into a word of deltas and summed.
      auto delta = [](uint64_t z) { return static_cast<uint64_t>(base::ZigZagDecode(z)); };
      uint64_t prev = out[0];
      const uint64_t* next = packed;
      for (size_t base_row = 0; base_row < n - 1; base_row += 64) {
        const size_t rows = std::min<size_t>(64, n - 1 - base_row);
        const uint64_t word = LoadBits(bits, bitmap.size(), base_row / 8);
        uint64_t* dst = out + 1 + base_row;
        size_t j = 0;
        if (word != 0 && PopCount64(word) <= 16) {
          // A few deltas (a reset): fill the runs between them.
          for (uint64_t w = word; w != 0; w &= w - 1) {
            const size_t at = static_cast<size_t>(__builtin_ctzll(w));
            Fill(dst + j, at - j, prev);
            prev += delta(*next++);
            dst[at] = prev;
            j = at + 1;
          }
        } else if (word != 0) {
          // Many deltas: scatter them into a zeroed word of deltas (this word's packed values
          // are all read before any of its rows is written), then one running sum.
          uint64_t deltas[64];
          ZeroWord(deltas);
          for (uint64_t w = word; w != 0; w &= w - 1) {
            deltas[static_cast<unsigned>(__builtin_ctzll(w))] = delta(*next++);
          }
          for (; j + 4 <= rows; j += 4) {
            dst[j] = prev += deltas[j];
            dst[j + 1] = prev += deltas[j + 1];
            dst[j + 2] = prev += deltas[j + 2];
            dst[j + 3] = prev += deltas[j + 3];
          }
          for (; j < rows; ++j) dst[j] = prev += deltas[j];
        }
        Fill(dst + j, rows - j, prev);
      }
      return Status::OK();
    }
    default:
      return Status::Corruption("int column: unknown encoding " +
                                std::to_string(static_cast<int>(e)));
  }
}

}  // namespace

namespace {

Status DecodeInt(std::string_view in, size_t n, uint64_t* out, bool row_order) {
  base::ByteReader r(in);
  uint8_t e;
  if (n == 0) return Status::Corruption("int column: zero rows");
  if (!r.GetFixed8(&e) || !r.GetVarint64(&out[0])) {
    return Status::Corruption("int column: truncated header");
  }
  METERD_RETURN_IF_ERROR(
      DecodeIntBody(&r, static_cast<ColumnEncoding>(e), n, out, false, row_order));
  if (!r.empty()) return Status::Corruption("int column: trailing bytes");
  return Status::OK();
}

}  // namespace

Status DecodeIntColumn(std::string_view in, size_t n, uint64_t* out) {
  return DecodeInt(in, n, out, true);
}

Status DecodeIntColumnAnyOrder(std::string_view in, size_t n, uint64_t* out) {
  return DecodeInt(in, n, out, false);
}

// Used by SkipColumn (float_column.cc) for integer columns and for a scaled float's embedded
// integer column.
Status SkipIntColumn(base::ByteReader* r, size_t n) {
  uint8_t e;
  uint64_t first;
  if (n == 0) return Status::Corruption("int column: zero rows");
  if (!r->GetFixed8(&e) || !r->GetVarint64(&first)) {
    return Status::Corruption("int column: truncated header");
  }
  return DecodeIntBody(r, static_cast<ColumnEncoding>(e), n, nullptr, true, true);
}

}  // namespace meterd::storage
