// meterd — storage/segment/segment_writer.cc
#include <algorithm>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/codec.h"
#include "storage/segment.h"
#include "storage/segment/segment_format.h"

namespace meterd::storage {
namespace fmt = segment_format;

struct SegmentWriter::Impl {
  std::unique_ptr<File> file;
  SegmentInfo info;
  std::vector<SegmentBlockInfo> index;
  std::string out;         // encoded bytes not yet handed to the file
  uint64_t out_start = 0;  // file offset of out[0]
  bool has_series = false;
  uint64_t last_series = 0;
  bool finished = false;
  std::vector<uint64_t> ts_bits;  // scratch

  uint64_t offset() const { return out_start + out.size(); }
  Status Spill() {
    if (out.size() < fmt::kWriteChunk) return Status::OK();
    METERD_RETURN_IF_ERROR(file->WriteAt(out_start, out));
    out_start += out.size();
    out.clear();
    return Status::OK();
  }
  void AddBlock(uint64_t series, ValueType type, const int64_t* ts, const uint64_t* values,
                size_t n);
};

SegmentWriter::SegmentWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SegmentWriter::~SegmentWriter() = default;

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::Create(const std::string& path,
                                                             uint64_t segment_id,
                                                             int64_t partition_start,
                                                             IoBackend backend, Env* env) {
  auto impl = std::make_unique<Impl>();
  METERD_ASSIGN_OR_RETURN(impl->file, env->OpenFile(path, OpenMode::kCreateTruncate, backend));
  impl->info.segment_id = segment_id;
  impl->info.partition_start = partition_start;
  impl->info.min_ts = INT64_MAX;
  impl->info.max_ts = INT64_MIN;
  impl->out.reserve(fmt::kWriteChunk + (64 << 10));
  return std::unique_ptr<SegmentWriter>(new SegmentWriter(std::move(impl)));
}

void SegmentWriter::Impl::AddBlock(uint64_t series, ValueType type, const int64_t* ts,
                                   const uint64_t* values, size_t n) {
  const uint64_t block_offset = offset();
  const size_t start = out.size();
  base::PutFixed32(&out, fmt::kBlockMagic);
  base::PutFixed64(&out, series);
  base::PutFixed64(&out, static_cast<uint64_t>(ts[0]));
  base::PutFixed64(&out, static_cast<uint64_t>(ts[n - 1]));
  base::PutFixed32(&out, static_cast<uint32_t>(n));
  base::PutFixed8(&out, static_cast<uint8_t>(type));
  base::PutFixed8(&out, 0);
  const size_t sizes_at = out.size();
  base::PutFixed32(&out, 0);  // ts column size, patched below
  base::PutFixed32(&out, 0);  // value column size
  ts_bits.assign(reinterpret_cast<const uint64_t*>(ts), reinterpret_cast<const uint64_t*>(ts) + n);
  const size_t ts_start = out.size();
  EncodeIntColumn(ts_bits.data(), n, AnalyzeIntColumn(ts_bits.data(), n), &out);
  const size_t values_start = out.size();
  if (type == ValueType::kFloat) {
    EncodeFloatColumn(values, n, AnalyzeFloatColumn(values, n), &out);
  } else {
    EncodeIntColumn(values, n, AnalyzeIntColumn(values, n), &out);
  }
  base::EncodeFixed32(out.data() + sizes_at, static_cast<uint32_t>(values_start - ts_start));
  base::EncodeFixed32(out.data() + sizes_at + 4, static_cast<uint32_t>(out.size() - values_start));
  base::PutFixed64(&out, base::Checksum64(out.data() + start, out.size() - start,
                                          base::ContextSeed(info.segment_id, block_offset)));
  index.push_back(SegmentBlockInfo{series, ts[0], ts[n - 1], static_cast<uint32_t>(n), type,
                                   block_offset, static_cast<uint32_t>(out.size() - start)});
  info.min_ts = std::min(info.min_ts, ts[0]);
  info.max_ts = std::max(info.max_ts, ts[n - 1]);
  info.samples += n;
  ++info.blocks;
}

Status SegmentWriter::AddSeries(uint64_t series_id, ValueType type, const int64_t* ts,
                                const uint64_t* values, size_t n) {
  Impl& s = *impl_;
  if (s.finished) return Status::InvalidArgument("segment writer: AddSeries after Finish");
  if (n == 0) return Status::InvalidArgument("segment writer: empty series");
  if (s.has_series && series_id <= s.last_series) {
    return Status::InvalidArgument("segment writer: series ids must increase");
  }
  if (type != ValueType::kInt && type != ValueType::kFloat) {
    return Status::InvalidArgument("segment writer: unknown value type");
  }
  for (size_t i = 1; i < n; ++i) {
    if (ts[i] <= ts[i - 1]) {
      return Status::InvalidArgument("segment writer: timestamps must strictly increase");
    }
  }
  s.has_series = true;
  s.last_series = series_id;
  ++s.info.series;
  for (size_t begin = 0; begin < n; begin += kMaxBlockRows) {
    const size_t count = std::min(kMaxBlockRows, n - begin);
    s.AddBlock(series_id, type, ts + begin, values + begin, count);
    METERD_RETURN_IF_ERROR(s.Spill());
  }
  return Status::OK();
}

Result<SegmentInfo> SegmentWriter::Finish() {
  Impl& s = *impl_;
  if (s.finished) return Status::InvalidArgument("segment writer: Finish called twice");
  s.finished = true;
  if (s.info.blocks == 0) s.info.min_ts = s.info.max_ts = 0;
  const uint64_t index_offset = s.offset();
  const size_t index_start = s.out.size();
  base::PutFixed32(&s.out, fmt::kIndexMagic);
  base::PutFixed32(&s.out, static_cast<uint32_t>(s.index.size()));
  for (const SegmentBlockInfo& b : s.index) {
    base::PutFixed64(&s.out, b.series_id);
    base::PutFixed64(&s.out, static_cast<uint64_t>(b.min_ts));
    base::PutFixed64(&s.out, static_cast<uint64_t>(b.max_ts));
    base::PutFixed32(&s.out, b.rows);
    base::PutFixed8(&s.out, static_cast<uint8_t>(b.type));
    base::PutFixed64(&s.out, b.offset);
    base::PutFixed32(&s.out, b.size);
  }
  base::PutFixed64(&s.out, base::Checksum64(s.out.data() + index_start, s.out.size() - index_start,
                                            base::ContextSeed(s.info.segment_id, index_offset)));
  const uint64_t index_size = s.offset() - index_offset;
  const size_t footer_start = s.out.size();
  for (uint64_t v :
       {index_offset, index_size, s.info.segment_id, static_cast<uint64_t>(s.info.partition_start),
        static_cast<uint64_t>(s.info.min_ts), static_cast<uint64_t>(s.info.max_ts), s.info.series,
        s.info.blocks, s.info.samples}) {
    base::PutFixed64(&s.out, v);
  }
  base::PutFixed32(&s.out, fmt::kFormatVersion);
  base::PutFixed32(&s.out, 0);
  base::PutFixed64(&s.out,
                   base::Checksum64(s.out.data() + footer_start, s.out.size() - footer_start));
  s.out.append(fmt::kMagic, sizeof(fmt::kMagic));
  METERD_RETURN_IF_ERROR(s.file->WriteAtAndSync(s.out_start, s.out));
  s.out_start += s.out.size();
  s.out.clear();
  s.info.file_bytes = s.out_start;
  METERD_RETURN_IF_ERROR(s.file->Close());
  return s.info;
}

}  // namespace meterd::storage
