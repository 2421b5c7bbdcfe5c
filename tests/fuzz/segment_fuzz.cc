// meterd — tests/fuzz/segment_fuzz.cc: libFuzzer target for the segment reader and its block
// decoder.
//
// The input is one segment file (docs/format-segment.md), written to a scratch file named as
// segment kSegmentFuzzId and opened with SegmentReader::Open (footer, index, and the salvage
// walk when either is damaged); every block is then read with ReadBlock (checksum, header
// against index, the timestamp and value column codecs, timestamp order). A second pass opens
// the input with its checksums recomputed, so that the codecs see arbitrary column bytes.
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/segment.h"
#include "storage/segment/segment_format.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {

namespace sf = storage::segment_format;

Decoded DecodeSegment(std::string_view input) {
  static const std::string path = [] {
    char name[32];
    std::snprintf(name, sizeof(name), "/%016" PRIu64 ".seg", kSegmentFuzzId);
    return FreshScratchDir("segment") + name;
  }();
  WriteScratchFile(path, input);
  Decoded out;
  auto reader = storage::SegmentReader::Open(path);
  if (!reader.ok()) {
    out.status = reader.status();
    return out;
  }
  const storage::SegmentReader& r = **reader;
  if (r.salvaged()) out.status = Status::Corruption("salvaged: " + r.damage());
  storage::DecodedBlock block;
  for (size_t i = 0; i < r.blocks().size(); ++i) {
    Status st = r.ReadBlock(i, &block);
    if (!st.ok()) {
      if (out.status.ok()) out.status = st;
      continue;
    }
    for (size_t k = 0; k < block.ts.size(); ++k) {
      out.items.push_back(std::to_string(block.series_id) + "/" +
                          std::to_string(static_cast<int>(block.type)) + " " +
                          std::to_string(block.ts[k]) + "=" + std::to_string(block.values[k]));
    }
  }
  (void)r.LowerBound(0);
  (void)r.LowerBound(UINT64_MAX);
  return out;
}

namespace {

// Recomputes the checksum of the block at `offset` if a block of `size` bytes fits there.
void ResealBlock(std::string* s, uint64_t segment_id, uint64_t offset, uint64_t size,
                 uint64_t limit) {
  if (size < sf::kBlockTrailerSize || offset > limit || size > limit - offset) return;
  char* p = s->data() + offset;
  base::EncodeFixed64(
      p + size - sf::kBlockTrailerSize,
      base::Checksum64(p, size - sf::kBlockTrailerSize, base::ContextSeed(segment_id, offset)));
}

}  // namespace

std::string ResealSegment(std::string_view input) {
  std::string s(input);
  // Blocks found by walking their headers (what salvage does, with the id of the file name).
  uint64_t offset = 0;
  while (offset + sf::kBlockHeaderSize + sf::kBlockTrailerSize <= s.size()) {
    const char* p = s.data() + offset;
    if (base::DecodeFixed32(p) != sf::kBlockMagic) break;
    const uint64_t size = sf::kBlockHeaderSize + uint64_t{base::DecodeFixed32(p + 34)} +
                          base::DecodeFixed32(p + 38) + sf::kBlockTrailerSize;
    if (size > s.size() - offset) break;
    ResealBlock(&s, kSegmentFuzzId, offset, size, s.size());
    offset += size;
  }
  if (s.size() < sf::kFooterSize) return s;
  // Blocks through the index, then the index and the footer.
  const size_t footer_offset = s.size() - sf::kFooterSize;
  char* footer = s.data() + footer_offset;
  const uint64_t index_offset = base::DecodeFixed64(footer);
  const uint64_t index_size = base::DecodeFixed64(footer + 8);
  const uint64_t segment_id = base::DecodeFixed64(footer + 16);
  if (index_offset <= footer_offset && index_size >= sf::kIndexHeaderSize + 8 &&
      index_size <= footer_offset - index_offset) {
    char* index = s.data() + index_offset;
    const size_t entries = (index_size - sf::kIndexHeaderSize - 8) / sf::kIndexEntrySize;
    for (size_t i = 0; i < entries; ++i) {
      const char* e = index + sf::kIndexHeaderSize + i * sf::kIndexEntrySize;
      ResealBlock(&s, segment_id, base::DecodeFixed64(e + 29), base::DecodeFixed32(e + 37),
                  index_offset);
    }
    base::EncodeFixed64(
        index + index_size - 8,
        base::Checksum64(index, index_size - 8, base::ContextSeed(segment_id, index_offset)));
  }
  base::EncodeFixed64(footer + 80, base::Checksum64(footer, 80));
  return s;
}

}  // namespace meterd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = meterd::fuzz::AsView(data, size);
  (void)meterd::fuzz::DecodeSegment(input);
  (void)meterd::fuzz::DecodeSegment(meterd::fuzz::ResealSegment(input));
  return 0;
}
