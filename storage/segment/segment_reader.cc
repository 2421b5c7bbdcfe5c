// meterd — storage/segment/segment_reader.cc
#include <string.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/codec.h"
#include "storage/segment.h"
#include "storage/segment/segment_format.h"

namespace meterd::storage {
namespace fmt = segment_format;

struct SegmentReader::Impl {
  std::string path;
  std::unique_ptr<File> file;
  uint64_t file_size = 0;
  SegmentInfo info;
  std::vector<SegmentBlockInfo> blocks;
  bool salvaged = false;
  std::string damage;

  Status ReadFooterAndIndex();
  Status Salvage(const std::string& why);
  std::string Where(uint64_t offset, uint64_t series) const {
    return "segment " + path + " block at offset " + std::to_string(offset) + " (series " +
           std::to_string(series) + ")";
  }
};

namespace {

// Parses a block header; false if it cannot be a block of a file of `file_size` bytes.
bool ParseHeader(const char* p, uint64_t offset, uint64_t file_size, SegmentBlockInfo* b,
                 uint32_t* ts_size, uint32_t* value_size) {
  base::ByteReader r(p, fmt::kBlockHeaderSize);
  uint32_t magic = 0, rows = 0;
  uint64_t series = 0, min_ts = 0, max_ts = 0;
  uint8_t type = 0, reserved = 0;
  r.GetFixed32(&magic);
  r.GetFixed64(&series);
  r.GetFixed64(&min_ts);
  r.GetFixed64(&max_ts);
  r.GetFixed32(&rows);
  r.GetFixed8(&type);
  r.GetFixed8(&reserved);
  r.GetFixed32(ts_size);
  r.GetFixed32(value_size);
  if (magic != fmt::kBlockMagic || rows == 0 || rows > kMaxBlockRows ||
      static_cast<int64_t>(min_ts) > static_cast<int64_t>(max_ts) ||
      (type != static_cast<uint8_t>(ValueType::kInt) &&
       type != static_cast<uint8_t>(ValueType::kFloat)) ||
      reserved != 0) {
    return false;
  }
  const uint64_t size =
      fmt::kBlockHeaderSize + uint64_t{*ts_size} + *value_size + fmt::kBlockTrailerSize;
  if (offset + size > file_size) return false;
  *b = SegmentBlockInfo{series,
                        static_cast<int64_t>(min_ts),
                        static_cast<int64_t>(max_ts),
                        rows,
                        static_cast<ValueType>(type),
                        offset,
                        static_cast<uint32_t>(size)};
  return true;
}

// The segment id a file's name carries (16 digits before ".seg"), used when the footer is lost.
uint64_t SegmentIdFromPath(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  return std::strtoull(name.c_str(), nullptr, 10);
}

}  // namespace

Status SegmentReader::Impl::ReadFooterAndIndex() {
  if (file_size < fmt::kFooterSize) return Status::Corruption("file shorter than a footer");
  char footer[fmt::kFooterSize];
  size_t got = 0;
  METERD_RETURN_IF_ERROR(
      file->ReadAt(file_size - fmt::kFooterSize, fmt::kFooterSize, footer, &got));
  if (got != fmt::kFooterSize) return Status::Corruption("short footer read");
  if (std::memcmp(footer + fmt::kFooterSize - 8, fmt::kMagic, 7) != 0) {
    return Status::Corruption("bad magic");
  }
  if (footer[fmt::kFooterSize - 1] != fmt::kMagic[7]) {
    return Status::NotSupported("segment format version " +
                                std::to_string(static_cast<int>(footer[fmt::kFooterSize - 1])));
  }
  if (base::Checksum64(footer, 80) != base::DecodeFixed64(footer + 80)) {
    return Status::Corruption("footer checksum mismatch");
  }
  base::ByteReader r(footer, 80);
  uint64_t v[9];
  for (uint64_t& x : v) r.GetFixed64(&x);
  uint32_t version = 0;
  r.GetFixed32(&version);
  if (version != fmt::kFormatVersion) {
    return Status::NotSupported("segment format version " + std::to_string(version));
  }
  const uint64_t index_offset = v[0], index_size = v[1];
  info = SegmentInfo{v[2],
                     static_cast<int64_t>(v[3]),
                     static_cast<int64_t>(v[4]),
                     static_cast<int64_t>(v[5]),
                     v[6],
                     v[7],
                     v[8],
                     file_size};
  // Checked without wrapping: the index must lie between the data and the footer, and a block
  // count that the index could not hold is rejected before it is multiplied (a wrapped sum or
  // product would pass the equalities and size a multi-exabyte read buffer: found by review of
  // tests/fuzz/segment_fuzz; corpus/segment/regress-index-size-overflow.seg).
  const uint64_t footer_offset = file_size - fmt::kFooterSize;
  if (index_offset > footer_offset || index_size != footer_offset - index_offset ||
      info.blocks > index_size / fmt::kIndexEntrySize ||
      index_size != fmt::kIndexHeaderSize + info.blocks * fmt::kIndexEntrySize + 8) {
    return Status::Corruption("index handle out of range");
  }
  std::string index(index_size, '\0');
  METERD_RETURN_IF_ERROR(file->ReadAt(index_offset, index_size, index.data(), &got));
  if (got != index_size) return Status::Corruption("short index read");
  if (base::Checksum64(index.data(), index_size - 8,
                       base::ContextSeed(info.segment_id, index_offset)) !=
      base::DecodeFixed64(index.data() + index_size - 8)) {
    return Status::Corruption("index checksum mismatch");
  }
  base::ByteReader ir(index.data(), index_size - 8);
  uint32_t magic = 0, count = 0;
  ir.GetFixed32(&magic);
  ir.GetFixed32(&count);
  if (magic != fmt::kIndexMagic || count != info.blocks) return Status::Corruption("bad index");
  blocks.resize(count);
  uint64_t expected_offset = 0, samples = 0, series = 0;
  for (uint32_t i = 0; i < count; ++i) {
    SegmentBlockInfo& b = blocks[i];
    uint64_t min_ts = 0, max_ts = 0;
    uint8_t type = 0;
    ir.GetFixed64(&b.series_id);
    ir.GetFixed64(&min_ts);
    ir.GetFixed64(&max_ts);
    ir.GetFixed32(&b.rows);
    ir.GetFixed8(&type);
    ir.GetFixed64(&b.offset);
    ir.GetFixed32(&b.size);
    b.min_ts = static_cast<int64_t>(min_ts);
    b.max_ts = static_cast<int64_t>(max_ts);
    b.type = static_cast<ValueType>(type);
    const bool new_series = i == 0 || b.series_id != blocks[i - 1].series_id;
    if (b.offset != expected_offset || b.rows == 0 || b.rows > kMaxBlockRows ||
        b.min_ts > b.max_ts || (type != 1 && type != 2) ||
        (i > 0 && (b.series_id < blocks[i - 1].series_id ||
                   (!new_series && b.min_ts <= blocks[i - 1].max_ts)))) {
      return Status::Corruption("index entry " + std::to_string(i) + " is inconsistent");
    }
    expected_offset += b.size;
    samples += b.rows;
    series += new_series ? 1 : 0;
  }
  if (expected_offset != index_offset || samples != info.samples || series != info.series) {
    return Status::Corruption("index totals do not match the footer");
  }
  return Status::OK();
}

// Walks the data region block by block, keeping every block whose checksum verifies; after a bad
// block it resynchronises on the next block magic.
Status SegmentReader::Impl::Salvage(const std::string& why) {
  salvaged = true;
  damage = why;
  blocks.clear();
  std::string data(file_size, '\0');
  size_t got = 0;
  METERD_RETURN_IF_ERROR(file->ReadAt(0, file_size, data.data(), &got));
  data.resize(got);
  const uint64_t segment_id = SegmentIdFromPath(path);
  info = SegmentInfo{};
  info.segment_id = segment_id;
  info.min_ts = INT64_MAX;
  info.max_ts = INT64_MIN;
  info.file_bytes = file_size;
  uint64_t skipped = 0;
  uint64_t offset = 0;
  while (offset + fmt::kBlockHeaderSize + fmt::kBlockTrailerSize <= data.size()) {
    SegmentBlockInfo b;
    uint32_t ts_size, value_size;
    if (ParseHeader(data.data() + offset, offset, data.size(), &b, &ts_size, &value_size) &&
        base::Checksum64(data.data() + offset, b.size - fmt::kBlockTrailerSize,
                         base::ContextSeed(segment_id, offset)) ==
            base::DecodeFixed64(data.data() + offset + b.size - fmt::kBlockTrailerSize) &&
        (blocks.empty() || b.series_id > blocks.back().series_id ||
         (b.series_id == blocks.back().series_id && b.min_ts > blocks.back().max_ts))) {
      if (blocks.empty() || b.series_id != blocks.back().series_id) ++info.series;
      blocks.push_back(b);
      info.min_ts = std::min(info.min_ts, b.min_ts);
      info.max_ts = std::max(info.max_ts, b.max_ts);
      info.samples += b.rows;
      offset += b.size;
      continue;
    }
    ++skipped;
    // Resynchronise: the next place the block magic appears.
    const char magic[4] = {'S', 'B', 'L', 'K'};
    const char* next = static_cast<const char*>(
        memmem(data.data() + offset + 1, data.size() - offset - 1, magic, 4));
    if (next == nullptr) break;
    offset = static_cast<uint64_t>(next - data.data());
  }
  info.blocks = blocks.size();
  if (blocks.empty()) return Status::Corruption("no intact block (" + why + ")");
  return Status::OK();
}

SegmentReader::SegmentReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SegmentReader::~SegmentReader() = default;

Result<std::unique_ptr<SegmentReader>> SegmentReader::Open(const std::string& path, Env* env) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  METERD_ASSIGN_OR_RETURN(impl->file, env->OpenFile(path, OpenMode::kRead, IoBackend::kPosix));
  METERD_ASSIGN_OR_RETURN(impl->file_size, impl->file->Size());
  Status st = impl->ReadFooterAndIndex();
  if (st.code() == Status::Code::kNotSupported) return st.WithContext("segment " + path);
  if (!st.ok()) {
    Status salvage = impl->Salvage(st.ToString());
    if (!salvage.ok()) return salvage.WithContext("segment " + path);
  }
  return std::unique_ptr<SegmentReader>(new SegmentReader(std::move(impl)));
}

const SegmentInfo& SegmentReader::info() const { return impl_->info; }
const std::vector<SegmentBlockInfo>& SegmentReader::blocks() const { return impl_->blocks; }
bool SegmentReader::salvaged() const { return impl_->salvaged; }
const std::string& SegmentReader::damage() const { return impl_->damage; }
const std::string& SegmentReader::path() const { return impl_->path; }

size_t SegmentReader::LowerBound(uint64_t series_id) const {
  const auto& b = impl_->blocks;
  return static_cast<size_t>(
      std::lower_bound(b.begin(), b.end(), series_id,
                       [](const SegmentBlockInfo& x, uint64_t id) { return x.series_id < id; }) -
      b.begin());
}

Status SegmentReader::ReadBlock(size_t index, DecodedBlock* out) const {
  const Impl& s = *impl_;
  if (index >= s.blocks.size()) return Status::InvalidArgument("segment: block index");
  const SegmentBlockInfo& b = s.blocks[index];
  thread_local std::string buffer;
  buffer.resize(b.size);
  size_t got = 0;
  METERD_RETURN_IF_ERROR(s.file->ReadAt(b.offset, b.size, buffer.data(), &got));
  if (got != b.size) return Status::Corruption(s.Where(b.offset, b.series_id) + ": short read");
  const char* p = buffer.data();
  if (base::Checksum64(p, b.size - fmt::kBlockTrailerSize,
                       base::ContextSeed(s.info.segment_id, b.offset)) !=
      base::DecodeFixed64(p + b.size - fmt::kBlockTrailerSize)) {
    return Status::Corruption(s.Where(b.offset, b.series_id) + ": checksum mismatch");
  }
  SegmentBlockInfo h;
  uint32_t ts_size, value_size;
  if (!ParseHeader(p, b.offset, s.file_size, &h, &ts_size, &value_size) ||
      h.series_id != b.series_id || h.rows != b.rows || h.min_ts != b.min_ts ||
      h.max_ts != b.max_ts || h.type != b.type || h.size != b.size) {
    return Status::Corruption(s.Where(b.offset, b.series_id) + ": header disagrees with index");
  }
  out->series_id = b.series_id;
  out->type = b.type;
  out->ts.resize(b.rows);
  out->values.resize(b.rows);
  const std::string_view ts_col(p + fmt::kBlockHeaderSize, ts_size);
  const std::string_view value_col(p + fmt::kBlockHeaderSize + ts_size, value_size);
  Status st = DecodeIntColumn(ts_col, b.rows, reinterpret_cast<uint64_t*>(out->ts.data()));
  if (st.ok()) {
    st = b.type == ValueType::kFloat ? DecodeFloatColumn(value_col, b.rows, out->values.data())
                                     : DecodeIntColumn(value_col, b.rows, out->values.data());
  }
  if (!st.ok()) return Status::Corruption(s.Where(b.offset, b.series_id) + ": " + st.ToString());
  const int64_t* ts = out->ts.data();
  bool increasing = ts[0] == b.min_ts && ts[b.rows - 1] == b.max_ts;
  for (uint32_t i = 1; i < b.rows; ++i) increasing &= ts[i] > ts[i - 1];
  if (!increasing) {
    return Status::Corruption(s.Where(b.offset, b.series_id) + ": timestamps out of order");
  }
  return Status::OK();
}

}  // namespace meterd::storage
