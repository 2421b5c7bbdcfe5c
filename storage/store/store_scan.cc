// meterd — storage/store/store_scan.cc: reads merging segments and heads; quarantine.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <numeric>

#include <unistd.h>

#include "storage/base/clock.h"
#include "storage/store/store_impl.h"

namespace meterd::storage {
namespace {

// One source's samples of the series being merged; a higher priority is a newer write.
struct Run {
  int priority;
  ValueType type;
  std::vector<int64_t> ts;
  std::vector<uint64_t> values;
};

// Merges runs (each sorted, unique) into one sorted run with one value per second: the value of
// the highest-priority run holding that second. Time-disjoint runs (the usual case: a series'
// older data in segments, its newer data in the head) are concatenated without sorting.
void MergeRuns(std::vector<Run>& runs, Run* out) {
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) {
    return a.ts.front() < b.ts.front() || (a.ts.front() == b.ts.front() && a.priority < b.priority);
  });
  bool disjoint = true;
  for (size_t i = 1; i < runs.size(); ++i) {
    if (runs[i].ts.front() <= runs[i - 1].ts.back()) disjoint = false;
  }
  out->ts.clear();
  out->values.clear();
  out->type = runs.back().type;
  if (disjoint) {
    for (const Run& r : runs) {
      out->ts.insert(out->ts.end(), r.ts.begin(), r.ts.end());
      out->values.insert(out->values.end(), r.values.begin(), r.values.end());
    }
    return;
  }
  struct Entry {
    int64_t ts;
    int priority;
    uint64_t value;
  };
  std::vector<Entry> all;
  for (const Run& r : runs) {
    for (size_t i = 0; i < r.ts.size(); ++i) all.push_back(Entry{r.ts[i], r.priority, r.values[i]});
  }
  std::sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) {
    return a.ts < b.ts || (a.ts == b.ts && a.priority < b.priority);
  });
  for (size_t i = 0; i < all.size(); ++i) {
    if (i + 1 < all.size() && all[i + 1].ts == all[i].ts) continue;  // a newer write follows
    out->ts.push_back(all[i].ts);
    out->values.push_back(all[i].value);
  }
}

// Keeps [from, to) of a sorted run; returns the index range.
std::pair<size_t, size_t> Clip(const std::vector<int64_t>& ts, int64_t from, int64_t to) {
  const size_t b = static_cast<size_t>(std::lower_bound(ts.begin(), ts.end(), from) - ts.begin());
  const size_t e = static_cast<size_t>(std::lower_bound(ts.begin(), ts.end(), to) - ts.begin());
  return {b, e};
}

}  // namespace

Status Store::Scan(const ScanRequest& request, const ScanVisitor& visit, ScanStats* stats_out) {
  Impl& s = *impl_;
  ScanStats local_stats;
  ScanStats& stats = stats_out ? *stats_out : local_stats;
  const int64_t from = request.from, to = request.to;
  if (from >= to) return Status::OK();

  // A consistent view: the segment list is copy-on-write, a frozen head is immutable.
  std::shared_ptr<const std::vector<LiveSegment>> all_segments;
  std::shared_ptr<const Head> imm;
  std::vector<uint64_t> ids = request.series;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    all_segments = s.segments;
    imm = s.imm;
    if (request.series.empty()) {
      std::vector<uint64_t> head_ids = s.head->SortedSeriesIds();
      ids.insert(ids.end(), head_ids.begin(), head_ids.end());
    }
  }
  std::vector<const LiveSegment*> segs;
  for (const LiveSegment& seg : *all_segments) {
    if (seg.record.max_ts >= from && seg.record.min_ts < to) segs.push_back(&seg);
  }
  if (request.series.empty()) {
    if (imm) {
      std::vector<uint64_t> imm_ids = imm->SortedSeriesIds();
      ids.insert(ids.end(), imm_ids.begin(), imm_ids.end());
    }
    for (const LiveSegment* seg : segs) {
      uint64_t last = 0;
      bool first = true;
      for (const SegmentBlockInfo& b : seg->reader->blocks()) {
        if (first || b.series_id != last) ids.push_back(b.series_id);
        last = b.series_id;
        first = false;
      }
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());

  std::vector<size_t> cursor(segs.size(), 0);  // per segment: first block not yet passed
  DecodedBlock block;
  std::vector<Run> runs;
  Run merged;
  for (uint64_t id : ids) {
    runs.clear();
    bool emitted_direct = false;
    uint64_t series_samples = 0;
    // Segment blocks, oldest segment first (lowest priority).
    int direct_candidates = 0;
    std::vector<std::pair<size_t, size_t>> ranges(segs.size());  // block index range per segment
    for (size_t k = 0; k < segs.size(); ++k) {
      const auto& blocks = segs[k]->reader->blocks();
      size_t i = request.series.empty() ? cursor[k] : segs[k]->reader->LowerBound(id);
      while (i < blocks.size() && blocks[i].series_id < id) ++i;
      size_t j = i;
      while (j < blocks.size() && blocks[j].series_id == id) ++j;
      cursor[k] = j;
      ranges[k] = {i, j};
      for (size_t b = i; b < j; ++b) {
        if (blocks[b].max_ts >= from && blocks[b].min_ts < to) {
          ++direct_candidates;
          break;
        }
      }
    }
    // Head data (live head read under the lock; the frozen head needs none).
    Run head_run{1 << 30, ValueType::kInt, {}, {}};
    Run imm_run{(1 << 30) - 1, ValueType::kInt, {}, {}};
    if (imm) imm->Read(id, from, to, &imm_run.type, &imm_run.ts, &imm_run.values);
    {
      std::lock_guard<std::mutex> lock(s.mu);
      s.head->Read(id, from, to, &head_run.type, &head_run.ts, &head_run.values);
    }
    const bool heads_empty = head_run.ts.empty() && imm_run.ts.empty();

    for (size_t k = 0; k < segs.size(); ++k) {
      const LiveSegment& seg = *segs[k];
      const auto& blocks = seg.reader->blocks();
      for (size_t b = ranges[k].first; b < ranges[k].second; ++b) {
        const SegmentBlockInfo& info = blocks[b];
        if (info.max_ts < from || info.min_ts >= to) continue;
        bool quarantined;
        {
          std::lock_guard<std::mutex> lock(s.mu);
          quarantined = s.quarantined.count({seg.record.segment_id, info.offset}) > 0;
        }
        if (quarantined) {
          stats.damaged.push_back(seg.reader->path() + " block at offset " +
                                  std::to_string(info.offset) + " (series " + std::to_string(id) +
                                  "): quarantined, not served");
          continue;
        }
        Status st = seg.reader->ReadBlock(b, &block);
        ++stats.blocks_read;
        if (!st.ok()) {
          stats.damaged.push_back(st.ToString());
          s.Quarantine(seg, info.offset, st.ToString());
          continue;
        }
        auto [lo, hi] = Clip(block.ts, from, to);
        if (lo == hi) continue;
        if (direct_candidates == 1 && heads_empty) {
          // The common case: one source, already sorted and unique. No copy.
          visit(id, block.type, std::span<const int64_t>(block.ts.data() + lo, hi - lo),
                std::span<const uint64_t>(block.values.data() + lo, hi - lo));
          series_samples += hi - lo;
          emitted_direct = true;
          continue;
        }
        Run run{static_cast<int>(k), block.type, {}, {}};
        run.ts.assign(block.ts.begin() + lo, block.ts.begin() + hi);
        run.values.assign(block.values.begin() + lo, block.values.begin() + hi);
        runs.push_back(std::move(run));
      }
    }
    if (!imm_run.ts.empty()) runs.push_back(std::move(imm_run));
    if (!head_run.ts.empty()) runs.push_back(std::move(head_run));
    if (!emitted_direct && !runs.empty()) {
      if (runs.size() == 1) {
        visit(id, runs[0].type, runs[0].ts, runs[0].values);
        series_samples += runs[0].ts.size();
      } else {
        MergeRuns(runs, &merged);
        visit(id, merged.type, merged.ts, merged.values);
        series_samples += merged.ts.size();
      }
    }
    if (series_samples > 0) {
      stats.samples += series_samples;
      ++stats.series;
    }
  }
  return Status::OK();
}

void Store::Impl::Quarantine(const LiveSegment& seg, uint64_t offset, const std::string& what) {
  std::lock_guard<std::mutex> lock(mu);
  if (!quarantined.insert({seg.record.segment_id, offset}).second) return;
  // An operator-readable log; also reloaded at open so a damaged block stays out of service.
  char line[256];
  std::snprintf(line, sizeof(line), "%" PRId64 " segment=%" PRIu64 " offset=%" PRIu64 " ",
                base::UnixSecondsNow(), seg.record.segment_id, offset);
  std::string entry = std::string(line) + what + "\n";
  const std::string path = options.dir + "/QUARANTINE";
  Status st = AppendLine(path, entry);
  std::fprintf(stderr, "meterd store: quarantined: %s", entry.c_str());
  // The block stays out of service in this process either way; a lost line only means the next
  // start finds the damage again when a scan reads the block.
  if (!st.ok()) std::fprintf(stderr, "meterd store: quarantine log: %s\n", st.ToString().c_str());
}

// Appends `line` to `path` durably (created, and its name synced, if missing).
Status Store::Impl::AppendLine(const std::string& path, const std::string& line) {
  Env* env = options.env;
  const bool existed = env->FileExists(path);
  METERD_ASSIGN_OR_RETURN(
      auto file, env->OpenFile(path, existed ? OpenMode::kReadWrite : OpenMode::kCreateTruncate));
  METERD_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  METERD_RETURN_IF_ERROR(file->WriteAtAndSync(size, line));
  METERD_RETURN_IF_ERROR(file->Close());
  return existed ? Status::OK() : env->SyncDir(options.dir);
}

Status Store::Impl::LoadQuarantine() {
  const std::string path = options.dir + "/QUARANTINE";
  if (!options.env->FileExists(path)) return Status::OK();
  std::string data;
  METERD_RETURN_IF_ERROR(options.env->ReadWholeFile(path, &data));
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    const std::string line = data.substr(pos, end - pos);
    uint64_t segment, offset;
    int64_t when;
    if (std::sscanf(line.c_str(), "%" SCNd64 " segment=%" SCNu64 " offset=%" SCNu64, &when,
                    &segment, &offset) == 3) {
      quarantined.insert({segment, offset});
    }
    pos = end + 1;
  }
  return Status::OK();
}

}  // namespace meterd::storage
