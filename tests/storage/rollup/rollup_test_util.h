// meterd — tests/storage/rollup/rollup_test_util.h: row generators and readers shared by the
// rollup tests. Thread-safety: none needed (test helpers).
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/rollup.h"

namespace meterd::storage::testing {

constexpr int64_t kJan2026 = 1767225600;  // 2026-01-01T00:00:00Z

enum class Shape { kRandom, kConstant, kMixed, kRealistic };

// A value column pattern for row i of a series: random bits, one constant, or a realistic mix
// (count 3600, slowly varying integral, a varying increase, zero state columns).
inline void FillColumns(Shape shape, std::mt19937_64& rng, uint64_t series, size_t i,
                        RollupRow* r) {
  for (size_t c = 0; c < kRollupColumns; ++c) {
    switch (shape) {
      case Shape::kRandom:
        r->col[c] = rng();
        break;
      case Shape::kConstant:
        r->col[c] = c * 1000 + series % 7;
        break;
      case Shape::kMixed:
        r->col[c] = c % 3 == 0 ? rng() % (1ull << (c * 2)) : (c % 3 == 1 ? 42 : i * c);
        break;
      case Shape::kRealistic:
        r->col[c] = 0;
        break;
    }
  }
  if (shape == Shape::kRealistic) {
    r->col[kColCount] = 3600;
    r->col[kColHeld] = 3600;
    r->col[kColLastOffset] = 3599;
    r->col[kColLast] = 1000 + series;
    r->col[kColIntegralLo] = 3600 * (1000 + series) + (i % 24 == 0 ? rng() % 50 : 0);
    r->col[kColIncrease] = 1000 + rng() % 5000;
    r->col[kColState0 + 1] = 3600;
  }
}

// `series` series with `hours` consecutive hours each, sorted by (series, hour).
inline std::vector<RollupRow> MakeRows(Shape shape, size_t series, size_t hours, uint64_t seed,
                                       int64_t first_hour = kJan2026) {
  std::mt19937_64 rng(seed);
  std::vector<RollupRow> rows;
  rows.reserve(series * hours);
  uint64_t id = 1 + rng() % 1000;
  for (size_t s = 0; s < series; ++s) {
    id += 1 + rng() % 100000;
    for (size_t h = 0; h < hours; ++h) {
      RollupRow r;
      r.series_id = id;
      r.hour = first_hour + static_cast<int64_t>(h) * kSecondsPerHour;
      FillColumns(shape, rng, id, h, &r);
      rows.push_back(r);
    }
  }
  return rows;
}

inline Result<RollupFileInfo> WriteRollupFile(const std::string& path, uint64_t id,
                                              RollupLayout layout,
                                              const std::vector<RollupRow>& rows) {
  METERD_ASSIGN_OR_RETURN(auto w, RollupFileWriter::Create(path, id, layout));
  METERD_RETURN_IF_ERROR(w->Add(rows.data(), rows.size()));
  return w->Finish();
}

// Writes `rows` as a file and opens it.
inline Result<std::unique_ptr<RollupFileReader>> WriteAndOpen(const std::string& path, uint64_t id,
                                                              RollupLayout layout,
                                                              const std::vector<RollupRow>& rows) {
  METERD_RETURN_IF_ERROR(WriteRollupFile(path, id, layout, rows).status());
  return RollupFileReader::Open(path);
}

// Writes a file without syncing it (tests rewrite small files thousands of times).
inline bool WriteBytes(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

// Every row of the file, all columns.
inline Status ReadAllRows(const RollupFileReader& r, std::vector<RollupRow>* out) {
  RollupBlock block;
  for (size_t b = 0; b < r.blocks().size(); ++b) {
    METERD_RETURN_IF_ERROR(r.ReadBlock(b, kAllColumns, &block));
    for (size_t i = 0; i < block.rows; ++i) {
      RollupRow row;
      row.series_id = block.series.at(i);
      row.hour = static_cast<int64_t>(block.hour.at(i));
      for (size_t c = 0; c < kRollupColumns; ++c) row.col[c] = block.col[c].at(i);
      out->push_back(row);
    }
  }
  return Status::OK();
}

inline std::vector<RollupRow> SnapshotRows(const RollupSnapshot& snap) {
  std::vector<RollupRow> rows;
  for (const auto& f : snap.files) EXPECT_TRUE(ReadAllRows(*f, &rows).ok()) << f->path();
  std::sort(rows.begin(), rows.end(), [](const RollupRow& a, const RollupRow& b) {
    return a.series_id != b.series_id ? a.series_id < b.series_id : a.hour < b.hour;
  });
  return rows;
}

}  // namespace meterd::storage::testing
