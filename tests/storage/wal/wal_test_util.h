// meterd — tests/storage/wal/wal_test_util.h
//
// Helpers shared by the WAL tests: deterministic payloads that name themselves, and a replay that
// collects everything. Thread-safety: pure functions.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "storage/base/coding.h"
#include "storage/wal.h"

namespace meterd::storage::testing_wal {

// A payload of `size` bytes whose content is a function of `id` (the first 8 bytes are the id
// when they fit), so a delivered record can be checked byte for byte.
inline std::string Payload(uint64_t id, size_t size) {
  std::string s(size, '\0');
  std::mt19937_64 rng(id * 7919 + size);
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>(rng());
  if (size >= 8) base::EncodeFixed64(s.data(), id);
  return s;
}

struct Replayed {
  std::vector<std::pair<uint64_t, std::string>> records;  // (file number, payload)
  WalReplayResult result;
};

inline Replayed ReplayAll(const std::string& dir, uint64_t min_number = 0) {
  Replayed out;
  auto r = ReplayWal(dir, min_number, [&](uint64_t file, std::string_view record) {
    out.records.emplace_back(file, std::string(record));
    return Status::OK();
  });
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (r.ok()) out.result = std::move(r).value();
  return out;
}

}  // namespace meterd::storage::testing_wal
