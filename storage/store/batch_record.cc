// meterd — storage/store/batch_record.cc
#include "storage/store/batch_record.h"

#include <algorithm>

#include "storage/base/coding.h"

namespace meterd::storage {

void EncodeBatchRecord(const SampleBatch& batch, const std::vector<uint32_t>* rows,
                       std::string* out) {
  const size_t n = rows ? rows->size() : batch.size();
  auto row = [&](size_t i) -> size_t { return rows ? (*rows)[i] : i; };
  const auto& ids = batch.series();
  const auto& ts = batch.timestamps();
  const auto& values = batch.values();
  const auto& types = batch.types();
  int64_t base_ts = n ? ts[row(0)] : 0;
  for (size_t i = 1; i < n; ++i) base_ts = std::min(base_ts, ts[row(i)]);

  // Worst case: header + per row 8 (id) + 10 (ts) + 1 (type) + 10 (value).
  const size_t start = out->size();
  out->resize(start + 1 + 2 * base::kMaxVarint64Bytes + n * 29);
  char* p = out->data() + start;
  *p++ = static_cast<char>(kBatchRecordKind);
  p = base::EncodeVarint64(p, n);
  p = base::EncodeVarint64(p, base::ZigZagEncode(base_ts));
  for (size_t i = 0; i < n; ++i, p += 8) base::EncodeFixed64(p, ids[row(i)]);
  for (size_t i = 0; i < n; ++i) {
    p = base::EncodeVarint64(p, static_cast<uint64_t>(ts[row(i)]) - static_cast<uint64_t>(base_ts));
  }
  for (size_t i = 0; i < n; ++i) *p++ = static_cast<char>(types[row(i)]);
  for (size_t i = 0; i < n; ++i) {
    const size_t r = row(i);
    if (types[r] == ValueType::kFloat) {
      base::EncodeFixed64(p, values[r]);
      p += 8;
    } else {
      p = base::EncodeVarint64(p, values[r]);
    }
  }
  out->resize(static_cast<size_t>(p - out->data()));
}

Status DecodeBatchRecord(std::string_view record, SampleBatch* out) {
  base::ByteReader r(record);
  uint8_t kind;
  uint64_t n, zz_base;
  if (!r.GetFixed8(&kind) || kind != kBatchRecordKind) {
    return Status::Corruption("batch record: unknown kind");
  }
  if (!r.GetVarint64(&n) || !r.GetVarint64(&zz_base) || n > r.remaining() / 11) {
    return Status::Corruption("batch record: bad header");  // each row needs >= 11 bytes
  }
  const int64_t base_ts = base::ZigZagDecode(zz_base);
  std::string_view ids;
  if (!r.GetBytes(n * 8, &ids)) return Status::Corruption("batch record: truncated ids");
  std::vector<int64_t> ts(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t off;
    if (!r.GetVarint64(&off)) return Status::Corruption("batch record: truncated timestamps");
    ts[i] = static_cast<int64_t>(static_cast<uint64_t>(base_ts) + off);
  }
  std::string_view types;
  if (!r.GetBytes(n, &types)) return Status::Corruption("batch record: truncated types");
  out->Reserve(out->size() + n);
  for (uint64_t i = 0; i < n; ++i) {
    const auto type = static_cast<ValueType>(types[i]);
    uint64_t value;
    bool ok;
    if (type == ValueType::kFloat) {
      ok = r.GetFixed64(&value);
    } else if (type == ValueType::kInt) {
      ok = r.GetVarint64(&value);
    } else {
      return Status::Corruption("batch record: unknown value type");
    }
    if (!ok) return Status::Corruption("batch record: truncated values");
    out->Add(base::DecodeFixed64(ids.data() + 8 * i), ts[i], value, type);
  }
  if (!r.empty()) return Status::Corruption("batch record: trailing bytes");
  return Status::OK();
}

}  // namespace meterd::storage
