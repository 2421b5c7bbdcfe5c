// meterd — storage/codec/int_column.cc: integer columns (docs/format-segment-columns.md).
#include <algorithm>
#include <vector>

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
Status DecodeIntBody(base::ByteReader* r, ColumnEncoding e, size_t n, uint64_t* out, bool skip) {
  switch (e) {
    case ColumnEncoding::kIntConst:
      if (!skip) std::fill(out + 1, out + n, out[0]);
      return Status::OK();
    case ColumnEncoding::kIntConstDelta: {
      uint64_t zz;
      if (!r->GetVarint64(&zz)) return Status::Corruption("int column: truncated delta");
      if (!skip) {
        const uint64_t d = static_cast<uint64_t>(base::ZigZagDecode(zz));
        for (size_t i = 1; i < n; ++i) out[i] = out[i - 1] + d;
      }
      return Status::OK();
    }
    case ColumnEncoding::kIntDeltaPacked:
      if (n < 2) return Status::Corruption("int column: packed deltas need 2 rows");
      if (skip) return SkipGroups(r, n - 1) ? Status::OK() : Status::Corruption("int column");
      if (!UnpackGroups(r, n - 1, out + 1)) return Status::Corruption("int column: bad group");
      for (size_t i = 1; i < n; ++i) {
        out[i] = out[i - 1] + static_cast<uint64_t>(base::ZigZagDecode(out[i]));
      }
      return Status::OK();
    case ColumnEncoding::kIntDelta2Packed: {
      uint64_t zz;
      if (n < 3 || !r->GetVarint64(&zz)) return Status::Corruption("int column: bad delta2");
      if (skip) return SkipGroups(r, n - 2) ? Status::OK() : Status::Corruption("int column");
      if (!UnpackGroups(r, n - 2, out + 2)) return Status::Corruption("int column: bad group");
      uint64_t d = static_cast<uint64_t>(base::ZigZagDecode(zz));
      out[1] = out[0] + d;
      for (size_t i = 2; i < n; ++i) {
        d += static_cast<uint64_t>(base::ZigZagDecode(out[i]));
        out[i] = out[i - 1] + d;
      }
      return Status::OK();
    }
    case ColumnEncoding::kIntDeltaSparse: {
      if (n < 2) return Status::Corruption("int column: sparse deltas need 2 rows");
      std::string_view bitmap;
      if (!r->GetBytes(BitmapBytes(n - 1), &bitmap)) {
        return Status::Corruption("int column: truncated bitmap");
      }
      size_t nonzero = 0;
      for (size_t i = 0; i < bitmap.size(); ++i) {
        nonzero += static_cast<size_t>(__builtin_popcount(static_cast<uint8_t>(bitmap[i])));
      }
      const size_t tail_bits = (n - 1) % 8;
      if (tail_bits != 0 && (static_cast<uint8_t>(bitmap.back()) >> tail_bits) != 0) {
        return Status::Corruption("int column: bitmap bits past the last row");
      }
      if (skip) {
        return nonzero == 0 || SkipGroups(r, nonzero) ? Status::OK()
                                                      : Status::Corruption("int column");
      }
      // Unpack the nonzero deltas into the tail of out, then expand forwards: position i reads
      // index k <= i, so the in-place expansion never overwrites an unread value.
      uint64_t* packed = out + n - nonzero;
      if (nonzero > 0 && !UnpackGroups(r, nonzero, packed)) {
        return Status::Corruption("int column: bad group");
      }
      size_t k = 0;
      for (size_t i = 1; i < n; ++i) {
        const bool present = (static_cast<uint8_t>(bitmap[(i - 1) / 8]) >> ((i - 1) % 8)) & 1;
        uint64_t delta = 0;
        if (present) delta = static_cast<uint64_t>(base::ZigZagDecode(packed[k++]));
        out[i] = out[i - 1] + delta;
      }
      return Status::OK();
    }
    default:
      return Status::Corruption("int column: unknown encoding " +
                                std::to_string(static_cast<int>(e)));
  }
}

}  // namespace

Status DecodeIntColumn(std::string_view in, size_t n, uint64_t* out) {
  base::ByteReader r(in);
  uint8_t e;
  if (n == 0) return Status::Corruption("int column: zero rows");
  if (!r.GetFixed8(&e) || !r.GetVarint64(&out[0])) {
    return Status::Corruption("int column: truncated header");
  }
  METERD_RETURN_IF_ERROR(DecodeIntBody(&r, static_cast<ColumnEncoding>(e), n, out, false));
  if (!r.empty()) return Status::Corruption("int column: trailing bytes");
  return Status::OK();
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
  return DecodeIntBody(r, static_cast<ColumnEncoding>(e), n, nullptr, true);
}

}  // namespace meterd::storage
