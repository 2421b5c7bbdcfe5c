// meterd — storage/rollup/rollup_file_writer.cc: writes one rollup file
// (docs/format-rollup.md). Rows are buffered column-major for the block being built; a block is
// cut at kRollupBlockRows rows, and for kPerSeries also when the series changes. A value column
// equal to an earlier non-constant one of the block is written as an alias of it.
#include <algorithm>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/codec.h"
#include "storage/rollup.h"
#include "storage/rollup/rollup_format.h"

namespace meterd::storage {
namespace fmt = rollup_format;

struct RollupFileWriter::Impl {
  std::unique_ptr<File> file;
  std::string path;
  RollupLayout layout = RollupLayout::kPacked;
  RollupFileInfo info;
  std::vector<RollupBlockInfo> index;
  std::string out;         // encoded bytes not yet handed to the file
  uint64_t out_start = 0;  // file offset of out[0]
  // The block being built, column-major: [0] series, [1] hour, [2 + c] value column c.
  std::array<std::vector<uint64_t>, fmt::kBlockColumns> cols;
  size_t pending = 0;
  bool has_last = false;
  uint64_t last_series = 0;
  int64_t last_hour = 0;
  bool finished = false;
  Status failed;  // sticky: a failed write poisons the writer

  uint64_t offset() const { return out_start + out.size(); }
  void EncodeBlock();
  size_t FindEqualColumn(size_t c, const size_t* candidates, size_t count, size_t n) const;
  Status Spill(bool force);
};

RollupFileWriter::RollupFileWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RollupFileWriter::~RollupFileWriter() = default;

Result<std::unique_ptr<RollupFileWriter>> RollupFileWriter::Create(const std::string& path,
                                                                   uint64_t file_id,
                                                                   RollupLayout layout,
                                                                   IoBackend backend, Env* env) {
  if (layout != RollupLayout::kPerSeries && layout != RollupLayout::kPacked) {
    return Status::InvalidArgument("rollup writer: unknown layout");
  }
  auto impl = std::make_unique<Impl>();
  METERD_ASSIGN_OR_RETURN(impl->file, env->OpenFile(path, OpenMode::kCreateTruncate, backend));
  impl->path = path;
  impl->layout = layout;
  impl->info.file_id = file_id;
  impl->info.min_hour = INT64_MAX;
  impl->info.max_hour = INT64_MIN;
  for (auto& c : impl->cols) c.resize(kRollupBlockRows);
  impl->out.reserve(fmt::kWriteChunk + (256 << 10));
  return std::unique_ptr<RollupFileWriter>(new RollupFileWriter(std::move(impl)));
}

// The first of the columns `candidates` holding the same n values as column c, or 0.
size_t RollupFileWriter::Impl::FindEqualColumn(size_t c, const size_t* candidates, size_t count,
                                               size_t n) const {
  const uint64_t* v = cols[c].data();
  for (size_t i = 0; i < count; ++i) {
    const uint64_t* w = cols[candidates[i]].data();
    if (w[0] == v[0] && w[n - 1] == v[n - 1] && std::equal(v, v + n, w)) return candidates[i];
  }
  return 0;
}

void RollupFileWriter::Impl::EncodeBlock() {
  const size_t n = pending;
  const uint64_t block_offset = offset();
  const size_t start = out.size();
  const uint64_t* series = cols[0].data();
  const uint64_t* hours = cols[1].data();
  int64_t min_hour = INT64_MAX, max_hour = INT64_MIN;
  for (size_t i = 0; i < n; ++i) {
    min_hour = std::min(min_hour, static_cast<int64_t>(hours[i]));
    max_hour = std::max(max_hour, static_cast<int64_t>(hours[i]));
  }
  base::PutFixed32(&out, fmt::kBlockMagic);
  base::PutFixed32(&out, static_cast<uint32_t>(n));
  base::PutFixed64(&out, series[0]);
  base::PutFixed64(&out, series[n - 1]);
  base::PutFixed64(&out, static_cast<uint64_t>(min_hour));
  base::PutFixed64(&out, static_cast<uint64_t>(max_hour));
  base::PutFixed16(&out, static_cast<uint16_t>(fmt::kBlockColumns));
  base::PutFixed16(&out, 0);
  const size_t enc_at = out.size();
  const size_t sizes_at = enc_at + fmt::kBlockColumns;
  out.resize(start + fmt::kBlockHeaderSize, '\0');  // encodings and sizes, patched below
  // Value columns stored so far that are not constant: candidates for an alias.
  size_t stored[kRollupColumns];
  size_t nstored = 0;
  for (size_t c = 0; c < fmt::kBlockColumns; ++c) {
    const ColumnPlan plan = AnalyzeIntColumn(cols[c].data(), n);
    if (c >= fmt::kKeyColumns && plan.encoding != ColumnEncoding::kIntConst) {
      // A column with exactly the values of an earlier one (a monotonic counter's max and
      // last) is stored as an alias: no bytes, and the reader decodes it once. Constant
      // columns are left alone: they cost two bytes and no decoding.
      const size_t alias = FindEqualColumn(c, stored, nstored, n);
      if (alias != 0) {
        out[enc_at + c] = static_cast<char>(fmt::kColumnAlias);
        base::EncodeFixed32(out.data() + sizes_at + 4 * c, static_cast<uint32_t>(alias));
        continue;
      }
      stored[nstored++] = c;
    }
    const size_t col_start = out.size();
    EncodeIntColumn(cols[c].data(), n, plan, &out);
    out[enc_at + c] = static_cast<char>(plan.encoding);
    base::EncodeFixed32(out.data() + sizes_at + 4 * c,
                        static_cast<uint32_t>(out.size() - col_start));
  }
  base::PutFixed64(&out, base::Checksum64(out.data() + start, out.size() - start,
                                          base::ContextSeed(info.file_id, block_offset)));
  index.push_back(RollupBlockInfo{series[0], series[n - 1], min_hour, max_hour,
                                  static_cast<uint32_t>(n), block_offset,
                                  static_cast<uint32_t>(out.size() - start)});
  info.rows += n;
  ++info.blocks;
  info.min_hour = std::min(info.min_hour, min_hour);
  info.max_hour = std::max(info.max_hour, max_hour);
  pending = 0;
}

Status RollupFileWriter::Impl::Spill(bool force) {
  if (out.empty() || (!force && out.size() < fmt::kWriteChunk)) return Status::OK();
  Status st = file->WriteAt(out_start, out);
  if (!st.ok()) {
    failed = st;
    return st;
  }
  out_start += out.size();
  out.clear();
  return Status::OK();
}

Status RollupFileWriter::Add(const RollupRow* rows, size_t n) {
  Impl& s = *impl_;
  if (s.finished) return Status::InvalidArgument("rollup writer: Add after Finish");
  if (!s.failed.ok()) return s.failed;
  // Validate the whole batch first, so a rejected batch adds nothing.
  bool has_prev = s.has_last;
  uint64_t prev_series = s.last_series;
  int64_t prev_hour = s.last_hour;
  for (size_t i = 0; i < n; ++i) {
    const RollupRow& r = rows[i];
    if (r.hour % kSecondsPerHour != 0) {
      return Status::InvalidArgument("rollup writer: hour " + std::to_string(r.hour) +
                                     " is not a multiple of 3600");
    }
    if (has_prev &&
        (r.series_id < prev_series || (r.series_id == prev_series && r.hour <= prev_hour))) {
      return Status::InvalidArgument(
          "rollup writer: rows must be sorted by (series, hour) "
          "without duplicates (series " +
          std::to_string(r.series_id) + ", hour " + std::to_string(r.hour) + ")");
    }
    has_prev = true;
    prev_series = r.series_id;
    prev_hour = r.hour;
  }
  for (size_t i = 0; i < n; ++i) {
    const RollupRow& r = rows[i];
    const bool new_series = !s.has_last || r.series_id != s.last_series;
    if (s.pending == kRollupBlockRows ||
        (s.pending > 0 && new_series && s.layout == RollupLayout::kPerSeries)) {
      s.EncodeBlock();
      METERD_RETURN_IF_ERROR(s.Spill(false));
    }
    const size_t k = s.pending++;
    s.cols[0][k] = r.series_id;
    s.cols[1][k] = static_cast<uint64_t>(r.hour);
    for (size_t c = 0; c < kRollupColumns; ++c) s.cols[fmt::kKeyColumns + c][k] = r.col[c];
    if (new_series) ++s.info.series;
    s.has_last = true;
    s.last_series = r.series_id;
    s.last_hour = r.hour;
  }
  return Status::OK();
}

Status RollupFileWriter::AddEncodedBlock(const RollupBlockInfo& b, std::string_view body) {
  Impl& s = *impl_;
  if (s.finished) return Status::InvalidArgument("rollup writer: AddEncodedBlock after Finish");
  if (!s.failed.ok()) return s.failed;
  if (b.first_series != b.last_series || b.rows == 0 || b.min_hour > b.max_hour ||
      body.size() < fmt::kBlockHeaderSize) {
    return Status::InvalidArgument("rollup writer: a copied block must hold rows of one series");
  }
  if (s.has_last && (b.first_series < s.last_series ||
                     (b.first_series == s.last_series && b.min_hour <= s.last_hour))) {
    return Status::InvalidArgument(
        "rollup writer: a copied block must sort after the rows written (series " +
        std::to_string(b.first_series) + ", hour " + std::to_string(b.min_hour) + ")");
  }
  if (s.pending > 0) s.EncodeBlock();
  const uint64_t block_offset = s.offset();
  const size_t start = s.out.size();
  s.out.append(body);
  // The checksum is seeded with the file id and the block's offset: computed anew here.
  base::PutFixed64(&s.out, base::Checksum64(s.out.data() + start, body.size(),
                                            base::ContextSeed(s.info.file_id, block_offset)));
  s.index.push_back(RollupBlockInfo{b.first_series, b.last_series, b.min_hour, b.max_hour, b.rows,
                                    block_offset, static_cast<uint32_t>(s.out.size() - start)});
  s.info.rows += b.rows;
  ++s.info.blocks;
  if (!s.has_last || s.last_series != b.first_series) ++s.info.series;
  s.info.min_hour = std::min(s.info.min_hour, b.min_hour);
  s.info.max_hour = std::max(s.info.max_hour, b.max_hour);
  s.has_last = true;
  s.last_series = b.last_series;
  s.last_hour = b.max_hour;  // one series: its rows ascend by hour
  return s.Spill(false);
}

Result<RollupFileInfo> RollupFileWriter::Finish() {
  Impl& s = *impl_;
  if (s.finished) return Status::InvalidArgument("rollup writer: Finish called twice");
  s.finished = true;
  if (!s.failed.ok()) return s.failed;
  if (s.pending > 0) s.EncodeBlock();
  if (s.info.blocks == 0) s.info.min_hour = s.info.max_hour = 0;
  const uint64_t index_offset = s.offset();
  const size_t index_start = s.out.size();
  base::PutFixed32(&s.out, fmt::kIndexMagic);
  base::PutFixed32(&s.out, static_cast<uint32_t>(s.index.size()));
  for (const RollupBlockInfo& b : s.index) {
    base::PutFixed64(&s.out, b.first_series);
    base::PutFixed64(&s.out, b.last_series);
    base::PutFixed64(&s.out, static_cast<uint64_t>(b.min_hour));
    base::PutFixed64(&s.out, static_cast<uint64_t>(b.max_hour));
    base::PutFixed64(&s.out, b.offset);
    base::PutFixed32(&s.out, b.rows);
    base::PutFixed32(&s.out, b.size);
  }
  base::PutFixed64(&s.out, base::Checksum64(s.out.data() + index_start, s.out.size() - index_start,
                                            base::ContextSeed(s.info.file_id, index_offset)));
  const uint64_t index_size = s.offset() - index_offset;
  const uint64_t footer_offset = s.offset();
  const size_t footer_start = s.out.size();
  for (uint64_t v :
       {index_offset, index_size, s.info.file_id, s.info.rows, s.info.series, s.info.blocks,
        static_cast<uint64_t>(s.info.min_hour), static_cast<uint64_t>(s.info.max_hour)}) {
    base::PutFixed64(&s.out, v);
  }
  base::PutFixed8(&s.out, static_cast<uint8_t>(s.layout));
  for (int i = 0; i < 3; ++i) base::PutFixed8(&s.out, 0);
  base::PutFixed32(&s.out, fmt::kFormatVersion);
  base::PutFixed64(&s.out, base::Checksum64(s.out.data() + footer_start, fmt::kFooterChecksumOffset,
                                            base::ContextSeed(s.info.file_id, footer_offset)));
  s.out.append(fmt::kMagic, sizeof(fmt::kMagic));
  METERD_RETURN_IF_ERROR(s.file->WriteAtAndSync(s.out_start, s.out));
  s.out_start += s.out.size();
  s.out.clear();
  s.info.file_bytes = s.out_start;
  METERD_RETURN_IF_ERROR(s.file->Close());
  return s.info;
}

}  // namespace meterd::storage
