// meterd — storage/rollup/rollup_file_reader.cc: opens, verifies and decodes one rollup file
// (docs/format-rollup.md). The whole file is read into memory at Open, which verifies the
// footer, the index and every block's checksum, header and column descriptors once (a failing
// block is recorded as damaged and never decoded); ReadBlock checks every column it decodes and
// the keys, so a damaged block is never decoded into wrong rows.
#include <algorithm>
#include <cstring>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/codec.h"
#include "storage/rollup.h"
#include "storage/rollup/rollup_format.h"

namespace meterd::storage {
namespace fmt = rollup_format;

struct RollupFileReader::Impl {
  std::string path;
  std::string data;  // the whole file
  RollupFileInfo info;
  RollupLayout layout = RollupLayout::kPacked;
  std::vector<RollupBlockInfo> blocks;
  // Per block: OK, or the Corruption its verification at Open found (returned by ReadBlock).
  std::vector<Status> damage;
  // LowerBound's index: every block's last_series, dense (8 bytes a block), and the last one
  // of each group of kGroup consecutive blocks. Searching the groups (400 KB for 400,000
  // blocks) and then one group's 64 bytes touches a few cache lines, where a binary search
  // over `blocks` touches ~log2(n) lines spread over the whole index (22 MB there): a rating
  // of one account does one search per series.
  static constexpr size_t kGroup = 8;
  std::vector<uint64_t> last_series, group_last;

  // Where each column's bytes are, from the block header. Filled by ParseBlock.
  struct Columns {
    uint32_t offset[fmt::kBlockColumns];
    uint32_t size[fmt::kBlockColumns];
    uint8_t source[fmt::kBlockColumns];  // the column whose bytes hold column c (c, or its alias)
  };

  Status VerifyFooterAndIndex();
  void VerifyBlocks();
  // Validates block `index`'s header against the index entry and its column descriptors (with
  // kVerify), and fills `cols`. REQUIRES (without kVerify): the block passed at Open.
  template <bool kVerify>
  Status ParseBlock(size_t index, Columns* cols) const;
  Status BlockError(size_t index, const std::string& what) const {
    return Status::Corruption("rollup file " + path + ": block " + std::to_string(index) +
                              " at offset " + std::to_string(blocks[index].offset) + ": " + what);
  }
  Status FileError(uint64_t offset, const std::string& what) const {
    return Status::Corruption("rollup file " + path + " at offset " + std::to_string(offset) +
                              ": " + what);
  }
};

namespace {

bool IsIntEncoding(uint8_t e) {
  return e >= static_cast<uint8_t>(ColumnEncoding::kIntConst) &&
         e <= static_cast<uint8_t>(ColumnEncoding::kIntDeltaSparse);
}

bool IsHour(int64_t h) { return h % kSecondsPerHour == 0; }

// The keys must match the header: sorted by (series, hour), no duplicates, hours on the hour,
// within [min_hour, max_hour] with both reached, series from first to last; a kPerSeries block
// has a constant series column. A constant or linear hour column is checked in O(1) (a month
// block: one series, hours first + 3600 i); only a flat one costs a pass over the rows.
bool KeysMatch(RollupLayout layout, const RollupBlockInfo& b, const ColumnVector& sv,
               const ColumnVector& hv) {
  const size_t n = b.rows;
  if (layout == RollupLayout::kPerSeries && !sv.constant) return false;
  if (sv.constant) {
    if (sv.value != b.first_series || sv.value != b.last_series) return false;
  } else if (sv.data[0] != b.first_series || sv.data[n - 1] != b.last_series) {
    return false;
  }
  if (hv.constant) {
    // One hour: the series must be distinct (strictly ascending).
    const auto h = static_cast<int64_t>(hv.value);
    if (h != b.min_hour || h != b.max_hour) return false;
    if (sv.constant) return n == 1;
    bool ok = true;
    for (size_t i = 1; i < n; ++i) ok &= sv.data[i] > sv.data[i - 1];
    return ok;
  }
  if (hv.linear()) {
    // hour i = first + i * step (n > 2), all on the hour iff first and step are. Ascending
    // hours (step > 0, no wrap past max_hour) need series merely non-decreasing; otherwise
    // every row must start a new series.
    const auto first = static_cast<int64_t>(hv.value);
    const auto step = static_cast<int64_t>(hv.step);
    if (!IsHour(first) || !IsHour(step)) return false;
    const __int128 last = static_cast<__int128>(first) + static_cast<__int128>(step) * (n - 1);
    const __int128 lo = step > 0 ? first : last, hi = step > 0 ? last : first;
    if (lo != b.min_hour || hi != b.max_hour) return false;
    if (sv.constant) return step > 0;
    bool ok = true;
    if (step > 0) {
      for (size_t i = 1; i < n; ++i) ok &= sv.data[i] >= sv.data[i - 1];
    } else {
      for (size_t i = 1; i < n; ++i) ok &= sv.data[i] > sv.data[i - 1];
    }
    return ok;
  }
  const int64_t* h = reinterpret_cast<const int64_t*>(hv.data);
  int64_t lo = h[0], hi = h[0];
  bool ok = true, on_hour = IsHour(h[0]);
  if (sv.constant) {
    for (size_t i = 1; i < n; ++i) {
      ok &= h[i] > h[i - 1];
      on_hour &= IsHour(h[i]);
    }
    hi = h[n - 1];
  } else {
    const uint64_t* sd = sv.data;
    for (size_t i = 1; i < n; ++i) {
      ok &= sd[i] > sd[i - 1] || (sd[i] == sd[i - 1] && h[i] > h[i - 1]);
      on_hour &= IsHour(h[i]);
      lo = std::min(lo, h[i]);
      hi = std::max(hi, h[i]);
    }
  }
  return ok && on_hour && lo == b.min_hour && hi == b.max_hour;
}

}  // namespace

Status RollupFileReader::Impl::VerifyFooterAndIndex() {
  const uint64_t size = data.size();
  if (size < fmt::kFooterSize) return FileError(0, "file shorter than a footer");
  const uint64_t footer_offset = size - fmt::kFooterSize;
  const char* footer = data.data() + footer_offset;
  if (std::memcmp(footer + fmt::kFooterSize - 8, fmt::kMagic, 7) != 0) {
    return FileError(footer_offset, "bad footer magic");
  }
  if (footer[fmt::kFooterSize - 1] != fmt::kMagic[7]) {
    return Status::NotSupported("rollup file " + path + ": format version " +
                                std::to_string(static_cast<uint8_t>(footer[fmt::kFooterSize - 1])) +
                                " (this build reads version 1)");
  }
  base::ByteReader r(footer, fmt::kFooterChecksumOffset + 8);
  uint64_t v[8];
  for (uint64_t& x : v) r.GetFixed64(&x);
  uint8_t layout_byte = 0, reserved[3] = {0, 0, 0};
  uint32_t version = 0;
  uint64_t checksum = 0;
  r.GetFixed8(&layout_byte);
  for (uint8_t& x : reserved) r.GetFixed8(&x);
  r.GetFixed32(&version);
  r.GetFixed64(&checksum);
  const uint64_t index_offset = v[0], index_size = v[1];
  info = RollupFileInfo{
      v[2], v[3], v[4], v[5], static_cast<int64_t>(v[6]), static_cast<int64_t>(v[7]), size};
  if (base::Checksum64(footer, fmt::kFooterChecksumOffset,
                       base::ContextSeed(info.file_id, footer_offset)) != checksum) {
    return FileError(footer_offset, "footer checksum mismatch");
  }
  if (version != fmt::kFormatVersion) {
    return Status::NotSupported("rollup file " + path + ": format version " +
                                std::to_string(version));
  }
  if ((layout_byte != static_cast<uint8_t>(RollupLayout::kPerSeries) &&
       layout_byte != static_cast<uint8_t>(RollupLayout::kPacked)) ||
      reserved[0] != 0 || reserved[1] != 0 || reserved[2] != 0) {
    return FileError(footer_offset, "bad footer layout or reserved bytes");
  }
  layout = static_cast<RollupLayout>(layout_byte);
  // The index sits right before the footer and is exactly as long as its block count says.
  if (info.blocks > footer_offset / fmt::kMinBlockSize || index_offset > footer_offset ||
      index_size != footer_offset - index_offset ||
      index_size !=
          fmt::kIndexHeaderSize + info.blocks * fmt::kIndexEntrySize + fmt::kIndexTrailerSize) {
    return FileError(footer_offset, "index handle out of range");
  }
  const char* index = data.data() + index_offset;
  if (base::Checksum64(index, index_size - fmt::kIndexTrailerSize,
                       base::ContextSeed(info.file_id, index_offset)) !=
      base::DecodeFixed64(index + index_size - fmt::kIndexTrailerSize)) {
    return FileError(index_offset, "index checksum mismatch");
  }
  base::ByteReader ir(index, index_size - fmt::kIndexTrailerSize);
  uint32_t magic = 0, count = 0;
  ir.GetFixed32(&magic);
  ir.GetFixed32(&count);
  if (magic != fmt::kIndexMagic || count != info.blocks) {
    return FileError(index_offset, "bad index magic or count");
  }
  blocks.resize(count);
  uint64_t expected_offset = 0, rows = 0, series = 0;
  int64_t min_hour = INT64_MAX, max_hour = INT64_MIN;
  for (uint32_t i = 0; i < count; ++i) {
    RollupBlockInfo& b = blocks[i];
    uint64_t lo = 0, hi = 0;
    ir.GetFixed64(&b.first_series);
    ir.GetFixed64(&b.last_series);
    ir.GetFixed64(&lo);
    ir.GetFixed64(&hi);
    ir.GetFixed64(&b.offset);
    ir.GetFixed32(&b.rows);
    ir.GetFixed32(&b.size);
    b.min_hour = static_cast<int64_t>(lo);
    b.max_hour = static_cast<int64_t>(hi);
    const RollupBlockInfo* prev = i > 0 ? &blocks[i - 1] : nullptr;
    bool ok = b.offset == expected_offset && b.size >= fmt::kMinBlockSize &&
              b.size <= index_offset - b.offset && b.rows >= 1 && b.rows <= kRollupBlockRows &&
              b.first_series <= b.last_series && b.min_hour <= b.max_hour && IsHour(b.min_hour) &&
              IsHour(b.max_hour) &&
              (b.rows > 1 || (b.first_series == b.last_series && b.min_hour == b.max_hour));
    if (layout == RollupLayout::kPerSeries) {
      // One series a block; a series longer than a block continues in later hours.
      ok = ok && b.first_series == b.last_series &&
           static_cast<uint64_t>(b.max_hour - b.min_hour) / kSecondsPerHour + 1 >= b.rows &&
           (prev == nullptr || prev->last_series < b.first_series ||
            (prev->last_series == b.first_series && prev->max_hour < b.min_hour));
    } else {
      ok = ok && (prev == nullptr || prev->last_series <= b.first_series);
    }
    if (!ok)
      return FileError(index_offset, "index entry " + std::to_string(i) + " is inconsistent");
    expected_offset += b.size;
    rows += b.rows;
    if (layout == RollupLayout::kPerSeries &&
        (prev == nullptr || prev->last_series != b.first_series)) {
      ++series;
    }
    min_hour = std::min(min_hour, b.min_hour);
    max_hour = std::max(max_hour, b.max_hour);
  }
  if (count == 0) min_hour = max_hour = 0;
  const bool series_ok = layout == RollupLayout::kPerSeries
                             ? series == info.series
                             : (info.series <= rows && (rows == 0) == (info.series == 0));
  if (expected_offset != index_offset || rows != info.rows || !series_ok ||
      min_hour != info.min_hour || max_hour != info.max_hour) {
    return FileError(index_offset, "index totals do not match the footer");
  }
  return Status::OK();
}

// Every block's checksum, header and column descriptors, once: ReadBlock then decodes bytes
// known to be intact and well-framed (the copy in memory is never written after Open). A
// damaged block does not fail the file: the other blocks stay readable, and ReadBlock returns
// the block's Corruption each time it is asked for it.
void RollupFileReader::Impl::VerifyBlocks() {
  damage.assign(blocks.size(), Status::OK());
  Columns cols;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const RollupBlockInfo& b = blocks[i];
    const char* p = data.data() + b.offset;  // offset and size were range-checked above
    const size_t body = b.size - fmt::kBlockTrailerSize;
    if (base::Checksum64(p, body, base::ContextSeed(info.file_id, b.offset)) !=
        base::DecodeFixed64(p + body)) {
      damage[i] = BlockError(i, "checksum mismatch");
    } else {
      damage[i] = ParseBlock<true>(i, &cols);
    }
  }
}

template <bool kVerify>
Status RollupFileReader::Impl::ParseBlock(size_t index, Columns* cols) const {
  const RollupBlockInfo& b = blocks[index];
  const char* p = data.data() + b.offset;
  const size_t body = b.size - fmt::kBlockTrailerSize;
  // The header must agree with the index entry (both were written from the same rows).
  if (kVerify &&
      (base::DecodeFixed32(p) != fmt::kBlockMagic || base::DecodeFixed32(p + 4) != b.rows ||
       base::DecodeFixed64(p + 8) != b.first_series ||
       base::DecodeFixed64(p + 16) != b.last_series ||
       static_cast<int64_t>(base::DecodeFixed64(p + 24)) != b.min_hour ||
       static_cast<int64_t>(base::DecodeFixed64(p + 32)) != b.max_hour ||
       base::DecodeFixed16(p + 40) != fmt::kBlockColumns || base::DecodeFixed16(p + 42) != 0)) {
    return BlockError(index, "header disagrees with the index");
  }
  const uint8_t* enc = reinterpret_cast<const uint8_t*>(p + fmt::kBlockFixedHeaderSize);
  const char* sizes = p + fmt::kBlockFixedHeaderSize + fmt::kBlockColumns;
  uint64_t pos = fmt::kBlockHeaderSize;
  for (size_t c = 0; c < fmt::kBlockColumns; ++c) {
    const uint32_t size = base::DecodeFixed32(sizes + 4 * c);
    cols->offset[c] = static_cast<uint32_t>(pos);
    if (enc[c] == fmt::kColumnAlias) {
      // An alias names an earlier stored value column and has no bytes of its own.
      if (kVerify && (c < fmt::kMinStoredColumns || size < fmt::kKeyColumns || size >= c ||
                      enc[size] == fmt::kColumnAlias)) {
        return BlockError(index, "column " + std::to_string(c) + " is a bad alias");
      }
      cols->source[c] = static_cast<uint8_t>(size);
      cols->size[c] = 0;
      continue;
    }
    cols->source[c] = static_cast<uint8_t>(c);
    cols->size[c] = size;
    pos += size;
    if (kVerify && (size < fmt::kMinColumnSize || pos > body || !IsIntEncoding(enc[c]) ||
                    static_cast<uint8_t>(p[cols->offset[c]]) != enc[c])) {
      return BlockError(index, "column " + std::to_string(c) + " descriptor is invalid");
    }
  }
  if (kVerify && pos != body) {
    return BlockError(index, "column sizes do not add up to the block size");
  }
  return Status::OK();
}

RollupFileReader::RollupFileReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RollupFileReader::~RollupFileReader() = default;

Result<std::unique_ptr<RollupFileReader>> RollupFileReader::Open(const std::string& path,
                                                                 Env* env) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  METERD_RETURN_IF_ERROR(env->ReadWholeFile(path, &impl->data));
  METERD_RETURN_IF_ERROR(impl->VerifyFooterAndIndex());
  impl->VerifyBlocks();
  const auto& blocks = impl->blocks;
  impl->last_series.reserve(blocks.size());
  for (const RollupBlockInfo& b : blocks) impl->last_series.push_back(b.last_series);
  for (size_t i = Impl::kGroup; i < blocks.size() + Impl::kGroup; i += Impl::kGroup) {
    impl->group_last.push_back(blocks[std::min(i, blocks.size()) - 1].last_series);
  }
  return std::unique_ptr<RollupFileReader>(new RollupFileReader(std::move(impl)));
}

const RollupFileInfo& RollupFileReader::info() const { return impl_->info; }
const std::vector<RollupBlockInfo>& RollupFileReader::blocks() const { return impl_->blocks; }
const std::string& RollupFileReader::path() const { return impl_->path; }

size_t RollupFileReader::LowerBound(uint64_t series_id) const {
  const std::vector<uint64_t>& last = impl_->last_series;
  const std::vector<uint64_t>& groups = impl_->group_last;
  // The first group whose last block ends at or after series_id holds the answer (blocks'
  // last_series ascend); none: every block ends before it.
  const size_t g = static_cast<size_t>(std::lower_bound(groups.begin(), groups.end(), series_id) -
                                       groups.begin());
  if (g == groups.size()) return last.size();
  const auto first = last.begin() + static_cast<ptrdiff_t>(g * Impl::kGroup);
  const auto end =
      last.begin() + static_cast<ptrdiff_t>(std::min(last.size(), (g + 1) * Impl::kGroup));
  return static_cast<size_t>(std::lower_bound(first, end, series_id) - last.begin());
}

void RollupFileReader::PrefetchBlock(size_t index) const {
  const Impl& s = *impl_;
  if (index >= s.blocks.size()) return;
  // The header (169 bytes) spans up to four cache lines; the column bytes follow it in order, where
  // the hardware's stream prefetch picks them up.
  const char* p = s.data.data() + s.blocks[index].offset;
  __builtin_prefetch(p);
  __builtin_prefetch(p + 64);
  __builtin_prefetch(p + 128);
  __builtin_prefetch(p + 168);
}

bool RollupFileReader::ColumnIsConstant(size_t index, RollupColumn c) const {
  const Impl& s = *impl_;
  const char* p = s.data.data() + s.blocks[index].offset;
  const auto* enc = reinterpret_cast<const uint8_t*>(p + fmt::kBlockFixedHeaderSize);
  size_t col = fmt::kKeyColumns + c;
  // An alias names its stored column in its size field (verified at Open).
  if (enc[col] == fmt::kColumnAlias) {
    col = base::DecodeFixed32(p + fmt::kBlockFixedHeaderSize + fmt::kBlockColumns + 4 * col);
  }
  return enc[col] == static_cast<uint8_t>(ColumnEncoding::kIntConst);
}

Result<std::string_view> RollupFileReader::RawBlock(size_t index) const {
  const Impl& s = *impl_;
  if (index >= s.blocks.size()) return Status::InvalidArgument("rollup: block index out of range");
  if (!s.damage[index].ok()) return s.damage[index];
  const RollupBlockInfo& b = s.blocks[index];
  return std::string_view(s.data.data() + b.offset, b.size - fmt::kBlockTrailerSize);
}

Status RollupFileReader::ReadBlock(size_t index, ColumnMask mask, RollupBlock* out,
                                   ColumnMask any_order) const {
  const Impl& s = *impl_;
  if (index >= s.blocks.size()) return Status::InvalidArgument("rollup: block index out of range");
  const RollupBlockInfo& b = s.blocks[index];
  out->rows = 0;
  out->any_order = 0;
  if (!s.damage[index].ok()) return s.damage[index];
  // Header, descriptors and checksum were verified at Open: only the column offsets are
  // needed (from the header's first 169 bytes; no column byte is touched here).
  Impl::Columns cols;
  (void)s.ParseBlock<false>(index, &cols);
  const char* p = s.data.data() + b.offset;
  const uint8_t* enc = reinterpret_cast<const uint8_t*>(p + fmt::kBlockFixedHeaderSize);
  const uint32_t* col_offset = cols.offset;
  const uint32_t* col_size = cols.size;
  const uint8_t* source = cols.source;

  // Which columns decode into arrays: the series column always, value columns when masked, and
  // only when not constant (a constant column is its first value: no array) and not an alias of
  // a column decoded here anyway. A const-delta hour column is linear: no array either.
  const size_t n = b.rows;
  ColumnVector* vec[fmt::kBlockColumns];
  vec[0] = &out->series;
  vec[1] = &out->hour;
  for (size_t c = 0; c < kRollupColumns; ++c) vec[fmt::kKeyColumns + c] = &out->col[c];
  const uint64_t wanted = (uint64_t{mask & kAllColumns} << fmt::kKeyColumns) | 3u;
  constexpr auto kConst = static_cast<uint8_t>(ColumnEncoding::kIntConst);
  constexpr auto kConstDelta = static_cast<uint8_t>(ColumnEncoding::kIntConstDelta);
  // Only the wanted columns are visited (a kind needs 9 to 13 of the 23 value columns).
  size_t arrays = 0;
  for (uint64_t w = wanted; w != 0; w &= w - 1) {
    const auto c = static_cast<size_t>(__builtin_ctzll(w));
    const size_t src = source[c];
    if (enc[src] == kConst || (c == 1 && enc[1] == kConstDelta && n > 2)) continue;
    if (src != c && (wanted >> src & 1)) continue;  // shares the decoded array of `src`
    ++arrays;
  }
  // Stored columns that must keep row order: those of every wanted column not allowed any order.
  const uint64_t permutable = uint64_t{any_order & mask & kAllColumns} << fmt::kKeyColumns;
  uint64_t ordered = 0;
  for (uint64_t w = wanted & ~permutable; w != 0; w &= w - 1) {
    ordered |= uint64_t{1} << source[__builtin_ctzll(w)];
  }
  if (out->buffer.size() < arrays * n) out->buffer.resize(arrays * n);
  uint64_t* next = out->buffer.data();
  for (size_t c = 0; c < fmt::kBlockColumns; ++c) *vec[c] = ColumnVector{};
  for (uint64_t w = wanted; w != 0; w &= w - 1) {
    const auto c = static_cast<size_t>(__builtin_ctzll(w));
    ColumnVector& v = *vec[c];
    const size_t src = source[c];
    if (src != c && (wanted >> src & 1)) {
      v = *vec[src];  // decoded above (src < c): the same values, no second decode
      if (out->any_order >> (src - fmt::kKeyColumns) & 1) {
        out->any_order |= ColumnMask{1} << (c - fmt::kKeyColumns);
      }
      continue;
    }
    const std::string_view col(p + col_offset[src], col_size[src]);
    Status st;
    // Constant and const-delta columns (most of a block) are parsed here: a varint or two, with
    // the codec's exact-length check, at a fraction of a generic DecodeIntColumn call.
    base::ByteReader r(col.substr(1));  // after the encoding byte (checked at Open)
    if (enc[src] == kConst) {
      if (!r.GetVarint64(&v.value) || !r.empty()) st = Status::Corruption("bad const column");
    } else if (enc[src] == kConstDelta && n > 2) {
      // The hour column stays linear; others are filled as first + i * step, which vectorises
      // where a running sum cannot.
      uint64_t first = 0, zz = 0;
      if (!r.GetVarint64(&first) || !r.GetVarint64(&zz) || !r.empty()) {
        st = Status::Corruption("bad const-delta column");
      }
      const auto step = static_cast<uint64_t>(base::ZigZagDecode(zz));
      v.constant = false;
      if (c == 1) {
        v.value = first;
        v.step = step;
      } else {
        uint64_t* __restrict dst = next;
        for (size_t i = 0; i < n; ++i) dst[i] = first + step * i;
        v.data = next;
        next += n;
      }
    } else {
      v.constant = false;
      v.data = next;
      if ((permutable >> c & 1) && !(ordered >> src & 1)) {
        st = DecodeIntColumnAnyOrder(col, n, next);
        out->any_order |= ColumnMask{1} << (c - fmt::kKeyColumns);
      } else {
        st = DecodeIntColumn(col, n, next);
      }
      next += n;
    }
    if (!st.ok()) {
      out->rows = 0;
      return s.BlockError(index, "column " + std::to_string(c) + ": " + st.ToString());
    }
  }
  if (!KeysMatch(s.layout, b, out->series, out->hour)) {
    out->rows = 0;
    return s.BlockError(index, "keys out of order or disagree with the header");
  }
  out->rows = n;
  return Status::OK();
}

}  // namespace meterd::storage
