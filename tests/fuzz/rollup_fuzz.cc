// meterd — tests/fuzz/rollup_fuzz.cc: libFuzzer target for the rollup file reader.
//
// The input is one rollup file (docs/format-rollup.md), written to a scratch file and opened
// with RollupFileReader::Open (footer, index, every block's checksum and column descriptors);
// every block is then read with all columns (and once more with the value columns allowed in
// any order, the scan kernels' fast path), and the header-only helpers run on it. A second pass
// opens the input with every checksum recomputed, so that the column codecs, the alias rules and
// the key checks see arbitrary bytes.
#include <cstdint>
#include <string>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/rollup.h"
#include "storage/rollup/rollup_format.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {

namespace rf = storage::rollup_format;

Decoded DecodeRollup(std::string_view input) {
  static const std::string path = FreshScratchDir("rollup") + "/h0.mrp";
  WriteScratchFile(path, input);
  Decoded out;
  auto reader = storage::RollupFileReader::Open(path);
  if (!reader.ok()) {
    out.status = reader.status();
    return out;
  }
  const storage::RollupFileReader& r = **reader;
  storage::RollupBlock block;
  for (size_t i = 0; i < r.blocks().size(); ++i) {
    r.PrefetchBlock(i);
    Status st = r.ReadBlock(i, storage::kAllColumns, &block);
    if (!st.ok()) {
      if (out.status.ok()) out.status = st;
      continue;
    }
    for (size_t k = 0; k < block.rows; ++k) {
      std::string row = std::to_string(block.series.at(k)) + "@" + std::to_string(block.hour.at(k));
      for (const storage::ColumnVector& c : block.col) row += " " + std::to_string(c.at(k));
      out.items.push_back(std::move(row));
    }
    for (size_t c = 0; c < storage::kRollupColumns; ++c) {
      (void)r.ColumnIsConstant(i, static_cast<storage::RollupColumn>(c));
    }
    // The scan kernels' request: some columns in any order, one of them shared with an ordered
    // one when the block aliases it.
    const storage::ColumnMask any = storage::ColumnBit(storage::kColSum) |
                                    storage::ColumnBit(storage::kColIncrease) |
                                    storage::ColumnBit(storage::kColState0);
    (void)r.ReadBlock(i, any | storage::ColumnBit(storage::kColLast), &block, any);
  }
  (void)r.LowerBound(0);
  (void)r.LowerBound(UINT64_MAX);
  return out;
}

std::string ResealRollup(std::string_view input) {
  std::string s(input);
  if (s.size() < rf::kFooterSize) return s;
  const size_t footer_offset = s.size() - rf::kFooterSize;
  char* footer = s.data() + footer_offset;
  const uint64_t index_offset = base::DecodeFixed64(footer);
  const uint64_t index_size = base::DecodeFixed64(footer + 8);
  const uint64_t file_id = base::DecodeFixed64(footer + 16);
  if (index_offset <= footer_offset && index_size >= rf::kIndexHeaderSize + rf::kIndexTrailerSize &&
      index_size <= footer_offset - index_offset) {
    char* index = s.data() + index_offset;
    const size_t entries =
        (index_size - rf::kIndexHeaderSize - rf::kIndexTrailerSize) / rf::kIndexEntrySize;
    for (size_t i = 0; i < entries; ++i) {
      const char* e = index + rf::kIndexHeaderSize + i * rf::kIndexEntrySize;
      const uint64_t offset = base::DecodeFixed64(e + 32);
      const uint64_t size = base::DecodeFixed32(e + 44);
      if (size < rf::kBlockTrailerSize || offset > index_offset || size > index_offset - offset) {
        continue;
      }
      char* p = s.data() + offset;
      base::EncodeFixed64(
          p + size - rf::kBlockTrailerSize,
          base::Checksum64(p, size - rf::kBlockTrailerSize, base::ContextSeed(file_id, offset)));
    }
    base::EncodeFixed64(index + index_size - rf::kIndexTrailerSize,
                        base::Checksum64(index, index_size - rf::kIndexTrailerSize,
                                         base::ContextSeed(file_id, index_offset)));
  }
  base::EncodeFixed64(footer + rf::kFooterChecksumOffset,
                      base::Checksum64(footer, rf::kFooterChecksumOffset,
                                       base::ContextSeed(file_id, footer_offset)));
  return s;
}

}  // namespace meterd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = meterd::fuzz::AsView(data, size);
  (void)meterd::fuzz::DecodeRollup(input);
  (void)meterd::fuzz::DecodeRollup(meterd::fuzz::ResealRollup(input));
  return 0;
}
