// meterd — query/scan/usage_scan.cc: ScanUsage (query/usage.h).
//
// Plan of one scan:
//   1. Files. For each file, walk its blocks and the requested ids together (both sorted by
//      series: a merge-join, jumping with LowerBound / galloping over gaps), skip blocks whose
//      hours miss [from, min(to, sealed_before)), and ReadBlock the rest with the union of the
//      requested kinds' column masks (one reused RollupBlock). In a block, each requested
//      series is a run of rows; the run is cut to the hour range by binary search, rows that a
//      revision or an open bucket overrides are removed with a selection vector (only when
//      one falls in the run: usually the run stays a plain range), the run is split into
//      periods (runs of consecutive hours: a month file's block is typically one group), and
//      AggregateGroups runs the column kernels (query/scan/usage_kernels.h).
//   2. Buckets are appended to *out, merged into the previous one when the key repeats; files
//      hold disjoint hours, so a (series, period) split across files shows up out of order and
//      is merged by one sort at the end (skipped when the output came out sorted).
//   3. Overlay: the view's revisions and open buckets, row at a time (they are few), with open
//      rows winning over revisions of the same hour, into a second sorted list that is
//      merge-joined into the output.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <tuple>

#include "query/scan/period.h"
#include "query/scan/usage_bucket.h"
#include "query/scan/visible_rows.h"
#include "query/usage.h"
#include "query/vector/selection_vector.h"
#include "storage/base/check.h"
#include "storage/rollup.h"

namespace meterd::query {
namespace {

using scan::Groups;
using scan::kNoHour;
using scan::RowSource;
using storage::RollupBlock;
using storage::RollupBlockInfo;
using storage::RollupFileReader;
using storage::RollupRow;

// How far ahead ScanFile prefetches block headers: a block takes 0.3-3 us to scan, a miss to
// memory ~0.1 us, so a few blocks ahead hides it without evicting what is in use.
constexpr size_t kPrefetchBlocks = 4;

bool KeyLess(const UsageBucket& a, const UsageBucket& b) {
  return a.series_id < b.series_id || (a.series_id == b.series_id && a.start < b.start);
}
bool SameKey(const UsageBucket& a, const UsageBucket& b) {
  return a.series_id == b.series_id && a.start == b.start;
}

// Buffers a scan reuses, kept per thread between calls so that a scan allocates nothing in
// steady state. Trim() bounds what an idle thread keeps.
struct ScanScratch {
  std::vector<uint64_t> ids;         // the request's ids, contiguous for binary searches
  std::vector<int64_t> last_hour;    // per output bucket of this call (see BucketList)
  std::vector<int64_t> group_last;   // per group of the current run
  std::vector<int64_t> group_start;  // per group of the current run
  std::vector<uint32_t> seg;         // group boundaries of the current run
  std::vector<UsageBucket> overlay;  // buckets of revisions and open rows
  std::vector<int64_t> overlay_last;
  RollupBlock block;
  SelectionVector sel;

  void Trim() {
    // 4 M buckets' side data (32 MB) covers a day-granularity scan of a large fleet; a thread
    // that ran a bigger one gives the memory back.
    constexpr size_t kKeep = size_t{4} << 20;
    if (last_hour.capacity() > kKeep) std::vector<int64_t>().swap(last_hour);
    if (overlay.capacity() > kKeep / 16) {
      std::vector<UsageBucket>().swap(overlay);
      std::vector<int64_t>().swap(overlay_last);
    }
    if (ids.capacity() > kKeep) std::vector<uint64_t>().swap(ids);
  }
};

// A list of partial buckets, with per bucket the hour its `last` came from (merging keeps the
// newer one). Appending merges into the tail when the key repeats and notes when the keys stop
// ascending (then SortResult runs).
struct BucketList {
  std::vector<UsageBucket>* buckets = nullptr;
  size_t base = 0;                            // buckets before this index are not ours
  std::vector<int64_t>* last_hour = nullptr;  // one per bucket from `base`
  bool sorted = true;

  size_t size() const { return buckets->size() - base; }
};

class UsageScanner {
 public:
  UsageScanner(const RollupView& view, const UsageRequest& req, std::vector<UsageBucket>* out,
               UsageStats* stats, ScanScratch* scratch)
      : view_(view), req_(req), stats_(stats), x_(*scratch) {
    result_.buckets = out;
    result_.base = out->size();
    result_.last_hour = &x_.last_hour;
    x_.last_hour.clear();
    x_.overlay.clear();
    x_.overlay_last.clear();
    overlay_.buckets = &x_.overlay;
    overlay_.last_hour = &x_.overlay_last;
  }

  Status Run();

 private:
  Status ScanFile(const RollupFileReader& file);
  Status ScanBlock(const RollupFileReader& file, size_t index, size_t req_begin, size_t req_end);
  // The columns block `index` may decode in any order for request series `req` (0: none).
  storage::ColumnMask AnyOrderColumns(const RollupFileReader& file, size_t index, size_t req);
  // Makes [period_start_, period_next_) the period of `hour` (kept while consecutive series fall
  // in it, since a month's bounds are a civil-calendar computation).
  void CoverPeriodOf(int64_t hour);
  void ScanRun(size_t req, uint32_t begin, uint32_t end);
  template <typename HourAt>
  void SplitPeriods(const RowSet& rows, HourAt hour_at);
  void Append(BucketList* list, size_t req, const UsageBucket& b, int64_t last_hour);
  const UsageSeries& SeriesOf(uint64_t id) const {
    const auto it = std::lower_bound(x_.ids.begin(), x_.ids.end(), id);
    return req_.series[static_cast<size_t>(it - x_.ids.begin())];
  }
  void SortResult();
  void ScanOverlay();
  void MergeOverlay();

  const RollupView& view_;
  const UsageRequest& req_;
  UsageStats* stats_;
  ScanScratch& x_;
  storage::ColumnMask mask_[4] = {};  // by SeriesKind
  int64_t file_hi_ = 0;               // file rows serve hours in [req_.from, file_hi_)
  // The last period CoverPeriodOf computed: [period_start_, period_next_) (empty at first).
  int64_t period_start_ = INT64_MAX;
  int64_t period_next_ = INT64_MIN;
  BucketList result_;
  BucketList overlay_;
  // Cursors into view_.revised / view_.open, moving forward within one file.
  OverrideCursors cursors_;  // into view_.revised and view_.open
};

Status UsageScanner::Run() {
  const auto& series = req_.series;
  for (size_t i = 1; i < series.size(); ++i) {
    if (series[i].id <= series[i - 1].id) {
      return Status::InvalidArgument("usage scan: request series must be sorted by id, unique");
    }
  }
  if (series.empty() || req_.from >= req_.to) return Status::OK();
  [[maybe_unused]] auto by_key = [](const RollupRow& a, const RollupRow& b) {
    return a.series_id < b.series_id || (a.series_id == b.series_id && a.hour < b.hour);
  };
  METERD_DCHECK(std::is_sorted(view_.revised.begin(), view_.revised.end(), by_key),
                "RollupView::revised must be sorted by (series, hour)");
  METERD_DCHECK(std::is_sorted(view_.open.begin(), view_.open.end(), by_key),
                "RollupView::open must be sorted by (series, hour)");
  if (series.size() > UINT32_MAX) return Status::InvalidArgument("usage scan: too many series");
  x_.ids.resize(series.size());
  for (size_t i = 0; i < series.size(); ++i) x_.ids[i] = series[i].id;
  for (SeriesKind k : {SeriesKind::kGauge, SeriesKind::kCounter, SeriesKind::kState}) {
    mask_[static_cast<size_t>(k)] = scan::KindMask(k);
  }
  file_hi_ = std::min(req_.to, view_.sealed_before);
  if (req_.from < file_hi_) {
    for (const auto& file : view_.files.files) {
      if (file == nullptr) continue;
      Status st = ScanFile(*file);
      if (!st.ok()) {
        result_.buckets->resize(result_.base);  // nothing appended on failure
        return st;
      }
    }
  }
  if (!result_.sorted) SortResult();
  ScanOverlay();
  MergeOverlay();
  return Status::OK();
}

Status UsageScanner::ScanFile(const RollupFileReader& file) {
  const std::vector<RollupBlockInfo>& blocks = file.blocks();
  const storage::RollupFileInfo& info = file.info();
  if (blocks.empty() || info.max_hour < req_.from || info.min_hour >= file_hi_) {
    return Status::OK();
  }
  cursors_ = OverrideCursors{};
  const uint64_t* ids = x_.ids.data();
  const size_t n = x_.ids.size(), nb = blocks.size();
  size_t ri = 0;
  size_t bi = file.LowerBound(ids[0]);
  while (ri < n && bi < nb) {
    const RollupBlockInfo& b = blocks[bi];
    const uint64_t id = ids[ri];
    if (b.last_series < id) {  // the block ends before the next requested series
      bi = (bi + 1 < nb && blocks[bi + 1].last_series >= id) ? bi + 1 : file.LowerBound(id);
      continue;
    }
    if (id < b.first_series) {  // requested series the file does not hold
      ri = static_cast<size_t>(Gallop(ids + ri, ids + n, b.first_series, std::less<uint64_t>()) -
                               ids);
      continue;
    }
    // Unique ids: at most last_series - id + 1 of them fall in the block (1 in a month file).
    const uint64_t span = b.last_series - id;
    const size_t limit = span >= n - ri ? n : ri + static_cast<size_t>(span) + 1;
    const size_t rj =
        static_cast<size_t>(std::upper_bound(ids + ri, ids + limit, b.last_series) - ids);
    if (b.max_hour >= req_.from && b.min_hour < file_hi_) {
      file.PrefetchBlock(bi + kPrefetchBlocks);
      METERD_RETURN_IF_ERROR(ScanBlock(file, bi, ri, rj));
    }
    // The block's last series may continue in the next block.
    ri = ids[rj - 1] == b.last_series ? rj - 1 : rj;
    ++bi;
  }
  return Status::OK();
}

void UsageScanner::CoverPeriodOf(int64_t hour) {
  if (hour < period_start_ || hour >= period_next_) {
    period_start_ = PeriodStart(req_.granularity, hour);
    period_next_ = scan::NextPeriodStart(req_.granularity, period_start_);
  }
}

storage::ColumnMask UsageScanner::AnyOrderColumns(const RollupFileReader& file, size_t index,
                                                  size_t req) {
  const RollupBlockInfo& b = file.blocks()[index];
  const UsageSeries& s = req_.series[req];
  // The block must be this series' run entire, in [from, file_hi_), within one period, with no
  // revised or open row hiding any of its hours, and with samples in every row or none (a
  // constant count: min, max and last are then not gated row by row).
  if (b.first_series != s.id || b.last_series != s.id || b.min_hour < req_.from ||
      b.max_hour >= file_hi_ || req_.granularity == Granularity::kHour) {
    return 0;
  }
  CoverPeriodOf(b.min_hour);
  if (b.max_hour >= period_next_ || AnyOverride(view_, s.id, b.min_hour, b.max_hour, cursors_) ||
      !file.ColumnIsConstant(index, storage::kColCount)) {
    return 0;
  }
  // Every column the kind's kernels reduce with an integer sum, min, max or count, or read only
  // at the last row; not the double sums, whose bits depend on the order of the additions.
  storage::ColumnMask m = ~storage::ColumnBit(storage::kColSum);
  if (s.type == storage::ValueType::kFloat) m &= ~storage::ColumnBit(storage::kColIntegralLo);
  return m;
}

Status UsageScanner::ScanBlock(const RollupFileReader& file, size_t index, size_t req_begin,
                               size_t req_end) {
  storage::ColumnMask mask = 0;
  for (size_t k = req_begin; k < req_end; ++k) {
    mask |= mask_[static_cast<size_t>(req_.series[k].kind)];
  }
  // A block that is one whole bucket (a month file's block, month granularity) lets the
  // decoder leave its varying columns in the vector unpackers' order.
  const storage::ColumnMask any_order =
      req_end == req_begin + 1 ? AnyOrderColumns(file, index, req_begin) & mask : 0;
  Status st = file.ReadBlock(index, mask, &x_.block, any_order);
  if (!st.ok()) {
    if (!st.IsCorruption()) return st;
    if (stats_ != nullptr) stats_->damaged.push_back(st.ToString());
    return Status::OK();  // not served; the scan goes on
  }
  if (stats_ != nullptr) ++stats_->blocks_read;
  const uint32_t rows = static_cast<uint32_t>(x_.block.rows);
  const storage::ColumnVector& series = x_.block.series;
  if (series.constant) {  // one series (the file's index put it in [req_begin, req_end))
    if (req_end == req_begin + 1 && x_.ids[req_begin] == series.value) {
      ScanRun(req_begin, 0, rows);
    }
    return Status::OK();
  }
  const uint64_t* s = series.data;
  uint32_t pos = 0;
  for (size_t k = req_begin; k < req_end && pos < rows; ++k) {
    const uint64_t id = x_.ids[k];
    const uint32_t b =
        static_cast<uint32_t>(Gallop(s + pos, s + rows, id, std::less<uint64_t>()) - s);
    const uint32_t e =
        id == UINT64_MAX  // the largest id: its run goes to the end
            ? rows
            : static_cast<uint32_t>(Gallop(s + b, s + rows, id + 1, std::less<uint64_t>()) - s);
    if (b < e) ScanRun(k, b, e);
    pos = e;
  }
  return Status::OK();
}

// Splits the positions of `rows` (ascending hours) into periods: x_.seg gets the boundaries,
// x_.group_start each group's period start.
template <typename HourAt>
void UsageScanner::SplitPeriods(const RowSet& rows, HourAt hour_at) {
  const uint32_t count = rows.count;
  const Granularity g = req_.granularity;
  x_.seg.resize(1);
  x_.seg[0] = 0;
  x_.group_start.clear();
  if (g == Granularity::kHour) {  // hours are on the hour: each row is its own period
    for (uint32_t k = 0; k < count; ++k) {
      x_.seg.push_back(k + 1);
      x_.group_start.push_back(hour_at(k));
    }
    return;
  }
  const int64_t last = hour_at(count - 1);
  uint32_t p = 0;
  while (p < count) {
    const int64_t h = hour_at(p);
    CoverPeriodOf(h);
    const int64_t start = period_start_, next = period_next_;
    uint32_t q = count;
    if (last >= next) q = NextPosition(p, count, next, hour_at);
    x_.seg.push_back(q);
    x_.group_start.push_back(start);
    p = q;
  }
}

void UsageScanner::ScanRun(size_t req, uint32_t begin, uint32_t end) {
  if (stats_ != nullptr) stats_->rows_scanned += end - begin;
  const RollupBlock& block = x_.block;
  const int64_t lo = req_.from, hi = file_hi_;
  // Hours ascend within a run; cut it to [lo, hi).
  const HourColumn hours(block.hour);
  if (!CutRunToHours(hours, lo, hi, &begin, &end)) return;
  const int64_t* h = hours.data;
  const int64_t h0 = hours.first, step = hours.step;
  const uint64_t id = x_.ids[req];
  // Rows overridden by a revision or an open bucket of the same hour: usually none.
  RowSet rows;
  if (!VisibleRows(view_, id, begin, end, hours, &cursors_, &x_.sel, block.rows, &rows)) {
    return;
  }

  if (hours.constant) {
    SplitPeriods(rows, [&](uint32_t) { return h0; });
  } else if (h == nullptr) {
    if (rows.selected()) {
      SplitPeriods(rows, [&](uint32_t k) { return h0 + static_cast<int64_t>(rows.sel[k]) * step; });
    } else {
      SplitPeriods(rows, [&](uint32_t k) { return h0 + static_cast<int64_t>(begin + k) * step; });
    }
  } else if (rows.selected()) {
    SplitPeriods(rows, [&](uint32_t k) { return h[rows.sel[k]]; });
  } else {
    SplitPeriods(rows, [&](uint32_t k) { return h[begin + k]; });
  }

  // Aggregate straight into the output: the groups' buckets are appended zeroed with their
  // keys, the kernels fill them in.
  std::vector<UsageBucket>& out = *result_.buckets;
  const size_t groups = x_.seg.size() - 1;
  METERD_DCHECK(
      block.any_order == 0 || (begin == 0 && end == block.rows && !rows.selected() && groups == 1),
      "permuted columns must be aggregated over the whole block as one bucket");
  const size_t n0 = out.size();
  out.resize(n0 + groups);
  UsageBucket* dst = out.data() + n0;
  for (size_t k = 0; k < groups; ++k) {
    dst[k].series_id = id;
    dst[k].start = x_.group_start[k];
  }
  x_.group_last.assign(groups, kNoHour);
  scan::AggregateGroups(req_.series[req], block, rows, Groups{x_.seg.data(), groups}, dst,
                        x_.group_last.data());
  std::vector<int64_t>& last = *result_.last_hour;
  last.insert(last.end(), x_.group_last.begin(), x_.group_last.end());
  // The first group may continue the previous bucket (a series' period split across blocks or
  // files); later ones cannot.
  if (n0 > result_.base) {
    UsageBucket& prev = out[n0 - 1];
    if (SameKey(prev, dst[0])) {
      const size_t i = n0 - result_.base;
      scan::MergeBucket(req_.series[req], dst[0], last[i], &prev, &last[i - 1]);
      out.erase(out.begin() + static_cast<ptrdiff_t>(n0));
      last.erase(last.begin() + static_cast<ptrdiff_t>(i));
    } else if (KeyLess(dst[0], prev)) {
      result_.sorted = false;
    }
  }
}

void UsageScanner::Append(BucketList* list, size_t req, const UsageBucket& b, int64_t last_hour) {
  std::vector<UsageBucket>& v = *list->buckets;
  std::vector<int64_t>& last = *list->last_hour;
  if (list->size() > 0) {
    UsageBucket& back = v.back();
    if (SameKey(back, b)) {
      scan::MergeBucket(req_.series[req], b, last_hour, &back, &last.back());
      return;
    }
    if (KeyLess(b, back)) list->sorted = false;
  }
  v.push_back(b);
  last.push_back(last_hour);
}

void UsageScanner::SortResult() {
  const size_t n = result_.size();
  std::vector<UsageBucket>& all = *result_.buckets;
  const size_t base = result_.base;
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const UsageBucket &x = all[base + a], &y = all[base + b];
    return std::tie(x.series_id, x.start) < std::tie(y.series_id, y.start);
  });
  std::vector<UsageBucket> sorted;
  sorted.reserve(n);
  std::vector<int64_t> last;
  last.reserve(n);
  for (uint32_t i : order) {
    const UsageBucket& b = all[base + i];
    const int64_t b_last = (*result_.last_hour)[i];
    if (!sorted.empty() && SameKey(sorted.back(), b)) {
      scan::MergeBucket(SeriesOf(b.series_id), b, b_last, &sorted.back(), &last.back());
    } else {
      sorted.push_back(b);
      last.push_back(b_last);
    }
  }
  all.resize(base);
  all.insert(all.end(), sorted.begin(), sorted.end());
  *result_.last_hour = std::move(last);
  result_.sorted = true;
}

void UsageScanner::ScanOverlay() {
  const auto& rev = view_.revised;
  const auto& open = view_.open;
  if (rev.empty() && open.empty()) return;
  size_t ri = 0, oi = 0;
  const Granularity g = req_.granularity;
  const uint64_t* ids = x_.ids.data();
  const size_t n = x_.ids.size();
  for (size_t k = 0; k < n; ++k) {
    // Jump to the next requested series that has a revision or an open row.
    if (ri == rev.size() && oi == open.size()) break;
    uint64_t next = UINT64_MAX;
    if (ri < rev.size()) next = rev[ri].series_id;
    if (oi < open.size()) next = std::min(next, open[oi].series_id);
    if (next > ids[k]) {
      k = static_cast<size_t>(Gallop(ids + k, ids + n, next, std::less<uint64_t>()) - ids);
      if (k == n) break;
    }
    const uint64_t id = ids[k];
    const auto key_lo = std::make_pair(id, req_.from);
    const auto key_hi = std::make_pair(id, req_.to);
    ri = static_cast<size_t>(
        Gallop(rev.begin() + static_cast<ptrdiff_t>(ri), rev.end(), key_lo, RowLess) - rev.begin());
    oi = static_cast<size_t>(
        Gallop(open.begin() + static_cast<ptrdiff_t>(oi), open.end(), key_lo, RowLess) -
        open.begin());
    auto in_range = [&](const std::vector<RollupRow>& v, size_t i) {
      return i < v.size() && RowLess(v[i], key_hi);
    };
    const UsageSeries& s = req_.series[k];
    while (in_range(rev, ri) || in_range(open, oi)) {
      const RollupRow* row;
      RowSource source;
      if (in_range(open, oi) && (!in_range(rev, ri) || open[oi].hour <= rev[ri].hour)) {
        if (in_range(rev, ri) && rev[ri].hour == open[oi].hour) ++ri;  // the open bucket wins
        row = &open[oi++];
        source = RowSource::kOpen;
      } else {
        row = &rev[ri++];
        source = RowSource::kRevised;
      }
      if (stats_ != nullptr) ++stats_->rows_scanned;
      UsageBucket b;
      int64_t last_hour;
      b.series_id = id;
      b.start = PeriodStart(g, row->hour);
      scan::RowBucket(s, *row, source, &b, &last_hour);
      Append(&overlay_, k, b, last_hour);
    }
  }
}

void UsageScanner::MergeOverlay() {
  const std::vector<UsageBucket>& ov = x_.overlay;
  if (ov.empty()) return;
  std::vector<UsageBucket>& all = *result_.buckets;
  const std::vector<int64_t>& all_last = *result_.last_hour;
  const size_t base = result_.base;
  const size_t n = result_.size(), m = ov.size();
  std::vector<UsageBucket> merged;
  merged.reserve(n + m);
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (j == m || (i < n && KeyLess(all[base + i], ov[j]))) {
      merged.push_back(all[base + i++]);
    } else if (i == n || KeyLess(ov[j], all[base + i])) {
      merged.push_back(ov[j++]);
    } else {
      UsageBucket b = all[base + i];
      int64_t last_hour = all_last[i];
      scan::MergeBucket(SeriesOf(b.series_id), ov[j], x_.overlay_last[j], &b, &last_hour);
      merged.push_back(b);
      ++i;
      ++j;
    }
  }
  all.resize(base);
  all.insert(all.end(), merged.begin(), merged.end());
}

}  // namespace

Status ScanUsage(const RollupView& view, const UsageRequest& request, std::vector<UsageBucket>* out,
                 UsageStats* stats) {
  thread_local ScanScratch scratch;
  Status st = UsageScanner(view, request, out, stats, &scratch).Run();
  scratch.Trim();
  return st;
}

}  // namespace meterd::query
