// meterd — storage/store/batch_record.h
//
// The payload of a WAL record holding a batch of samples (docs/format-wal.md, "Sample batch
// payload"): columnar, so the series ids, time offsets, types and values each sit together.
//
//   u8      kind = 1 (sample batch, version 1)
//   varint  n (rows)
//   varint  zigzag(base_ts)        base_ts = the smallest timestamp of the batch
//   n x u64 series id              little-endian
//   n x varint ts - base_ts
//   n x u8  value type             1 = int, 2 = float
//   n x     value                  int: varint; float: u64 bit pattern, little-endian
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/base/status.h"
#include "storage/sample_batch.h"

namespace meterd::storage {

constexpr uint8_t kBatchRecordKind = 1;

// Appends to *out the record of batch's rows listed in `rows` (all rows when rows is null).
void EncodeBatchRecord(const SampleBatch& batch, const std::vector<uint32_t>* rows,
                       std::string* out);
// Appends the record's samples to *out. Corruption on any malformed byte.
Status DecodeBatchRecord(std::string_view record, SampleBatch* out);

}  // namespace meterd::storage
