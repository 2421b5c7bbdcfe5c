// meterd — storage/codec/float_column.cc: float columns and the Skip phase
// (docs/format-segment-columns.md).
#include <cmath>
#include <cstring>
#include <vector>

#include "storage/base/check.h"
#include "storage/base/coding.h"
#include "storage/codec.h"
#include "storage/codec/bit_stream.h"
#include "storage/codec/gorilla.h"
#include "storage/sample_batch.h"

namespace meterd::storage {

Status SkipIntColumn(base::ByteReader* r, size_t n);  // int_column.cc

namespace {

// Scales a gauge may carry: 10^0 .. 10^9. Beyond nine decimals real gauges are not decimal.
constexpr int kMaxScale = 9;
constexpr double kPow10[kMaxScale + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
// |m| below 2^53: every such integer is exact in a double, so m / 10^s is one correctly rounded
// division on both sides.
constexpr double kMaxMantissa = 9007199254740992.0;

bool ScaledExact(uint64_t bits, int scale, int64_t* m) {
  const double v = BitsToDouble(bits);
  if (!std::isfinite(v)) return false;
  const double scaled = v * kPow10[scale];
  if (!(std::fabs(scaled) < kMaxMantissa)) return false;
  const double rounded = std::nearbyint(scaled);
  *m = static_cast<int64_t>(rounded);
  return DoubleToBits(static_cast<double>(*m) / kPow10[scale]) == bits;
}

// The smallest scale at which every value is exactly m / 10^scale, or -1.
int FindScale(const uint64_t* bits, size_t n, std::vector<uint64_t>* mantissas) {
  mantissas->resize(n);
  for (int scale = 0; scale <= kMaxScale; ++scale) {
    size_t i = 0;
    for (; i < n; ++i) {
      int64_t m;
      if (!ScaledExact(bits[i], scale, &m)) break;
      (*mantissas)[i] = static_cast<uint64_t>(m);
    }
    if (i == n) return scale;
  }
  return -1;
}

// Gorilla XOR stream of rows 1..n-1 (row 0 is stored whole before it).
void GorillaEncode(const uint64_t* bits, size_t n, BitWriter* w) {
  codec::GorillaWindow window;
  for (size_t i = 1; i < n; ++i) codec::GorillaAppend(w, bits[i - 1], bits[i], &window);
}

thread_local std::vector<uint64_t> mantissa_scratch;

}  // namespace

ColumnPlan AnalyzeFloatColumn(const uint64_t* bits, size_t n) {
  const int scale = FindScale(bits, n, &mantissa_scratch);
  ColumnPlan best{ColumnEncoding::kFloatGorilla, 0, 0};
  BitWriter w;
  GorillaEncode(bits, n, &w);
  const size_t stream = (w.size_bits() + 7) / 8;
  best.encoded_size = 1 + static_cast<size_t>(base::VarintLength(stream)) + 8 + stream;
  if (scale >= 0) {
    const ColumnPlan inner = AnalyzeIntColumn(mantissa_scratch.data(), n);
    const size_t size = 1 + 1 + inner.encoded_size;
    if (size <= best.encoded_size) best = ColumnPlan{ColumnEncoding::kFloatScaled, size, scale};
  }
  return best;
}

void EncodeFloatColumn(const uint64_t* bits, size_t n, const ColumnPlan& plan, std::string* out) {
  base::PutFixed8(out, static_cast<uint8_t>(plan.encoding));
  if (plan.encoding == ColumnEncoding::kFloatScaled) {
    base::PutFixed8(out, static_cast<uint8_t>(plan.scale));
    std::vector<uint64_t>& m = mantissa_scratch;
    m.resize(n);
    for (size_t i = 0; i < n; ++i) {
      int64_t mi = 0;
      METERD_CHECK(ScaledExact(bits[i], plan.scale, &mi), "scaled plan does not fit the column");
      m[i] = static_cast<uint64_t>(mi);
    }
    EncodeIntColumn(m.data(), n, AnalyzeIntColumn(m.data(), n), out);
    return;
  }
  METERD_CHECK(plan.encoding == ColumnEncoding::kFloatGorilla, "not a float encoding");
  BitWriter w;
  GorillaEncode(bits, n, &w);
  const size_t stream = (w.size_bits() + 7) / 8;
  base::PutVarint64(out, stream);
  base::PutFixed64(out, bits[0]);
  const auto& words = w.words();
  for (size_t i = 0; i < stream; ++i) {
    out->push_back(static_cast<char>(words[i / 8] >> (8 * (i % 8))));
  }
}

Status DecodeFloatColumn(std::string_view in, size_t n, uint64_t* out) {
  base::ByteReader r(in);
  uint8_t e;
  if (n == 0 || !r.GetFixed8(&e)) return Status::Corruption("float column: truncated header");
  if (static_cast<ColumnEncoding>(e) == ColumnEncoding::kFloatScaled) {
    uint8_t scale;
    if (!r.GetFixed8(&scale) || scale > kMaxScale) {
      return Status::Corruption("float column: bad scale");
    }
    METERD_RETURN_IF_ERROR(DecodeIntColumn(in.substr(2), n, out));
    const double divisor = kPow10[scale];
    for (size_t i = 0; i < n; ++i) {
      out[i] = DoubleToBits(static_cast<double>(static_cast<int64_t>(out[i])) / divisor);
    }
    return Status::OK();
  }
  if (static_cast<ColumnEncoding>(e) != ColumnEncoding::kFloatGorilla) {
    return Status::Corruption("float column: unknown encoding " + std::to_string(e));
  }
  uint64_t stream;
  std::string_view bytes;
  if (!r.GetVarint64(&stream) || !r.GetFixed64(&out[0]) || !r.GetBytes(stream, &bytes) ||
      !r.empty()) {
    return Status::Corruption("float column: bad Gorilla stream length");
  }
  std::vector<uint64_t> words((stream + 7) / 8 + 1, 0);
  std::memcpy(words.data(), bytes.data(), stream);
  BitReader br(words.data(), stream * 8);
  codec::GorillaWindow window;
  for (size_t i = 1; i < n; ++i) {
    if (!codec::GorillaRead(&br, out[i - 1], &window, &out[i])) {
      return Status::Corruption("float column: malformed Gorilla stream");
    }
  }
  if (br.remaining() >= 8) return Status::Corruption("float column: trailing Gorilla bits");
  return Status::OK();
}

Status SkipColumn(std::string_view in, size_t n, size_t* encoded_size) {
  base::ByteReader r(in);
  if (in.empty()) return Status::Corruption("column: empty");
  const auto e = static_cast<ColumnEncoding>(in[0]);
  if (e == ColumnEncoding::kFloatScaled) {
    r.Skip(2);
    METERD_RETURN_IF_ERROR(SkipIntColumn(&r, n));
  } else if (e == ColumnEncoding::kFloatGorilla) {
    uint64_t stream;
    r.Skip(1);
    if (!r.GetVarint64(&stream) || !r.Skip(8) || !r.Skip(stream)) {
      return Status::Corruption("float column: truncated");
    }
  } else {
    METERD_RETURN_IF_ERROR(SkipIntColumn(&r, n));
  }
  *encoded_size = in.size() - r.remaining();
  return Status::OK();
}

const char* ColumnEncodingName(ColumnEncoding e) {
  switch (e) {
    case ColumnEncoding::kIntConst:
      return "int-const";
    case ColumnEncoding::kIntConstDelta:
      return "int-const-delta";
    case ColumnEncoding::kIntDeltaPacked:
      return "int-delta-packed";
    case ColumnEncoding::kIntDelta2Packed:
      return "int-delta2-packed";
    case ColumnEncoding::kIntDeltaSparse:
      return "int-delta-sparse";
    case ColumnEncoding::kFloatScaled:
      return "float-scaled";
    case ColumnEncoding::kFloatGorilla:
      return "float-gorilla";
  }
  return "unknown";
}

}  // namespace meterd::storage
