// meterd — tests/crash/crash_workload.h
//
// The deterministic workload shared by the crash child (which writes it) and the crash test
// (which checks what survived): batch k holds one sample for each of kCrashSeries series at
// second kCrashBase + k, with a value derived from (k, series). So every (series, second) is
// written by exactly one batch, and any sample found can be traced to the batch that wrote it.
#pragma once

#include <cstdint>

#include "storage/base/checksum.h"
#include "storage/sample_batch.h"

namespace meterd::testing {

constexpr uint64_t kCrashSeries = 400;
constexpr int64_t kCrashBase = 1700000000;
constexpr int64_t kCrashNow = kCrashBase + 10000000;  // the injected clock: all data is past

inline uint64_t CrashSeriesId(uint64_t j) { return base::Checksum64(&j, sizeof(j), 0x5eed); }
inline bool CrashIsFloat(uint64_t j) { return j % 4 == 0; }
inline uint64_t CrashValue(uint64_t k, uint64_t j) {
  const uint64_t words[2] = {k, j};
  const uint64_t h = base::Checksum64(words, sizeof(words));
  if (CrashIsFloat(j)) return storage::DoubleToBits(static_cast<double>(h % 100000) / 100.0);
  return h;
}
inline void MakeCrashBatch(uint64_t k, storage::SampleBatch* batch) {
  batch->Clear();
  for (uint64_t j = 0; j < kCrashSeries; ++j) {
    batch->Add(CrashSeriesId(j), kCrashBase + static_cast<int64_t>(k), CrashValue(k, j),
               CrashIsFloat(j) ? storage::ValueType::kFloat : storage::ValueType::kInt);
  }
}

}  // namespace meterd::testing
