// meterd — engine/downsample/downsampler.cc
#include "engine/downsample/downsampler.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <ctime>

#include "storage/base/check.h"
#include "storage/base/clock.h"
#include "storage/rollup/rollup_manifest.h"

namespace meterd::engine {

using storage::HourOf;
using storage::kSecondsPerHour;
using storage::RollupRow;
using namespace storage;  // kCol* names

namespace {

// Where the newest sample's hold has been credited to once hours below `watermark` are sealed:
// sealing credits the tail of a hold that has no successor yet.
int64_t HeldUntilAfterSeals(int64_t ts, int64_t staleness, int64_t watermark) {
  return std::max(ts, std::min(ts + staleness, watermark));
}

bool HourLess(const RollupRow& r, int64_t h) { return r.hour < h; }

}  // namespace

Downsampler::Downsampler(DownsampleOptions options, storage::Store* store,
                         const SeriesRegistry* registry)
    : options_(std::move(options)), store_(store), registry_(registry) {}

Downsampler::~Downsampler() = default;

int64_t Downsampler::Now() const {
  return options_.now ? options_.now() : static_cast<int64_t>(std::time(nullptr));
}

Result<std::unique_ptr<Downsampler>> Downsampler::Open(const std::string& dir,
                                                       DownsampleOptions options,
                                                       storage::Store* store,
                                                       const SeriesRegistry* registry,
                                                       std::vector<std::string>* report) {
  if (options.staleness_seconds < 1 || options.staleness_seconds > kSecondsPerHour) {
    return Status::InvalidArgument("staleness must be 1..3600 seconds");
  }
  if (options.grace_seconds < 0) return Status::InvalidArgument("grace must be >= 0 seconds");
  if (options.revision_buffer_rows < 1) {
    return Status::InvalidArgument("the revision buffer must hold at least one row");
  }
  std::unique_ptr<Downsampler> d(new Downsampler(std::move(options), store, registry));
  const auto started = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(d->mu_);
    METERD_ASSIGN_OR_RETURN(d->rollups_, storage::RollupStore::Open(dir, report, d->options_.env));
    d->watermark_ = d->rollups_->sealed_before();
    if (d->watermark_ == 0) {
      d->watermark_ = HourOf(d->Now() - d->options_.initial_lookback_seconds);
    }
    // Replays the revision logs the month files do not hold yet: at most about one buffer's
    // worth, unless the store was written before revisions were folded (a version 1 manifest:
    // its one log holds every revision). Then the rows are folded as the replay goes, whenever
    // a buffer's worth has gathered, without moving the manifest's revision_log (a crash makes
    // the next start fold the same rows again, which changes nothing), so memory stays bounded.
    const uint64_t first = d->rollups_->revision_log();
    uint64_t folded_at_open = 0;
    auto sink = [&d, first, &folded_at_open](std::vector<RollupRow>&& rows) -> Status {
      for (const RollupRow& r : rows) d->buffered_.Add(r);
      if (d->buffered_.rows() < d->options_.revision_buffer_rows) return Status::OK();
      std::vector<RollupRow> latest;
      std::map<int64_t, bool> can_fold;
      latest.reserve(d->buffered_.keys());
      for (const uint32_t slot : d->buffered_.Sorted()) {
        const int64_t month = storage::rollup::MonthStart(d->buffered_.KeyOf(slot).second);
        auto [it, fresh] = can_fold.try_emplace(month, false);
        if (fresh) it->second = d->rollups_->CanFold(month);
        if (!it->second) return Status::OK();  // a damaged month: keep buffering (reported)
        latest.push_back(d->buffered_.LatestOf(slot));
      }
      METERD_RETURN_IF_ERROR(d->rollups_->FoldRevisions(latest, first, d->watermark_));
      folded_at_open += latest.size();
      d->buffered_.Clear();
      return Status::OK();
    };
    std::string damage;
    METERD_ASSIGN_OR_RETURN(
        d->revisions_, RevisionLog::Open(dir + "/rollup", first, sink, &damage, d->options_.env));
    if (!damage.empty()) report->push_back("revision log: " + damage);
    METERD_ASSIGN_OR_RETURN(d->imports_, ImportJournals::Open(dir + "/rollup", d->options_.env));
    if (d->revisions_->replayed_rows() > 0) {
      report->push_back("rollup: " + std::to_string(d->revisions_->replayed_rows()) +
                        " revision rows replayed from the revision log (" +
                        std::to_string(folded_at_open) + " folded into month files on the way)");
    }
    d->closing_ = d->watermark_;
    d->startup_series_ = static_cast<uint32_t>(registry->size());
    METERD_RETURN_IF_ERROR(d->RebuildOpen(report));
    METERD_RETURN_IF_ERROR(d->ResolvePending(report));
    d->stats_.revisions = d->revisions_->replayed_rows();
  }
  METERD_RETURN_IF_ERROR(d->FoldRevisions(false));
  report->push_back(
      "rollup: open hours rebuilt from raw in " +
      std::to_string(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()) +
      " s; sealed before " + std::to_string(d->watermark_));
  return d;
}

int64_t Downsampler::sealed_before() const {
  std::lock_guard lock(mu_);
  return watermark_;
}

int64_t Downsampler::closing_before() const {
  std::lock_guard lock(mu_);
  return closing_;
}

Downsampler::SeriesState* Downsampler::StateFor(uint64_t series_id, const SeriesSlot& slot) {
  if (slot.index >= states_.size()) {
    states_.GrowTo(slot.index + 1);
    hot_.resize(states_.size());
  }
  SeriesState& st = states_[slot.index];
  if (!st.used) {
    st.used = true;
    st.id = series_id;
    st.index = slot.index;
    st.shape = SeriesShape{slot.kind, slot.type};
    // A series defined after start has no raw data older than what this process applied.
    st.known = slot.index >= startup_series_;
  }
  return &st;
}

Downsampler::SeriesState* Downsampler::StateById(uint64_t series_id) {
  SeriesSlot slot;
  registry_->LookupMany({&series_id, 1}, &slot);
  if (slot.index == UINT32_MAX) return nullptr;
  SeriesState* st = StateFor(series_id, slot);
  Settle(st);
  return st;
}

void Downsampler::Arm(SeriesState* st) {
  if (!st->has_last || st->open.empty() || st->held_until != st->last_ts) return;
  const RollupRow& row = st->open.back();
  if (HourOf(st->last_ts) != row.hour) return;
  hot_[st->index].Arm(st->shape.kind, st->shape.type, row, st->last_ts, st->last_value);
}

void Downsampler::Settle(SeriesState* st) {
  HotHour& hot = hot_[st->index];
  if (!hot.armed()) {
    hot.Disarm();  // clears a deferral
    return;
  }
  // Only Arm and HotHour::Apply run while armed, so the armed row is still open.back().
  RollupRow& row = st->open.back();
  assert(row.hour == hot.hour);
  hot.WriteBack(&row);
  st->last_ts = hot.newest_ts();
  st->last_value = hot.last_value;
  st->held_until = st->last_ts;
  hot.Disarm();
}

RollupRow* Downsampler::OpenRow(SeriesState* st, int64_t hour) {
  auto& open = st->open;
  if (!open.empty() && open.back().hour == hour) return &open.back();
  auto it = std::lower_bound(open.begin(), open.end(), hour, HourLess);
  if (it != open.end() && it->hour == hour) return &*it;
  RollupRow row;
  row.series_id = st->id;
  row.hour = hour;
  return &*open.insert(it, row);
}

void Downsampler::ApplyInOrder(SeriesState* st, int64_t ts, uint64_t value) {
  if (st->has_last) {
    if (st->shape.kind == MetricKind::kCounter) {
      AddCounterDelta(st->last_value, value, OpenRow(st, HourOf(ts)));
    } else {
      // Credit the previous sample's hold up to this one, one piece per hour.
      int64_t from = st->held_until;
      const int64_t to = std::min(ts, st->last_ts + options_.staleness_seconds);
      while (from < to) {
        const int64_t hour = HourOf(from);
        const int64_t end = std::min(to, hour + kSecondsPerHour);
        CreditHold(st->shape, st->last_value, end - from, OpenRow(st, hour));
        from = end;
      }
    }
  }
  AddSampleStats(st->shape, ts, value, OpenRow(st, HourOf(ts)));
  st->has_last = true;
  st->last_ts = ts;
  st->last_value = value;
  st->held_until = ts;
  ++stats_.in_order_samples;
}

Result<std::vector<RawSample>> Downsampler::LoadRaw(uint64_t series_id, int64_t from, int64_t to) {
  std::vector<RawSample> out;
  storage::ScanRequest req;
  req.series = {series_id};
  req.from = from;
  req.to = to;
  storage::ScanStats scan_stats;
  METERD_RETURN_IF_ERROR(store_->Scan(
      req,
      [&](uint64_t, storage::ValueType, std::span<const int64_t> ts,
          std::span<const uint64_t> values) {
        for (size_t i = 0; i < ts.size(); ++i) out.push_back(RawSample{ts[i], values[i]});
      },
      &scan_stats));
  if (!scan_stats.damaged.empty()) {
    // Recomputing from a partial series would bill less than was used: refuse instead.
    return Status::Corruption("raw data of series " + std::to_string(series_id) +
                              " is damaged: " + scan_stats.damaged.front());
  }
  return out;
}

Result<std::optional<RawSample>> Downsampler::PrevSample(uint64_t series_id, int64_t before) {
  // Widening windows: nearly always the previous second; rarely a long gap.
  const int64_t retention = store_->options().retention_seconds > 0
                                ? store_->options().retention_seconds
                                : int64_t{400} * 86400;
  int64_t hi = before;
  for (int64_t width : {kSecondsPerHour, int64_t{86400}, retention}) {
    const int64_t lo = before - width;
    if (lo >= hi) continue;
    METERD_ASSIGN_OR_RETURN(std::vector<RawSample> s, LoadRaw(series_id, lo, hi));
    if (!s.empty()) return std::optional<RawSample>(s.back());
    hi = lo;
  }
  return std::optional<RawSample>();
}

Status Downsampler::LoadPrevIfUnknown(SeriesState* st, int64_t before) {
  if (st->known) return Status::OK();
  st->known = true;
  // Only a counter needs its previous value (for the first delta); a gauge's or state's hold
  // cannot reach an open hour from before the window RebuildOpen replayed.
  if (st->shape.kind != MetricKind::kCounter) return Status::OK();
  METERD_ASSIGN_OR_RETURN(std::optional<RawSample> prev, PrevSample(st->id, before));
  if (prev && (!st->has_last || prev->ts > st->last_ts)) {
    st->has_last = true;
    st->last_ts = prev->ts;
    st->last_value = prev->value;
    st->held_until = HeldUntilAfterSeals(prev->ts, options_.staleness_seconds, watermark_);
  }
  return Status::OK();
}

Result<uint64_t> Downsampler::MarkLate(const std::vector<LateSample>& samples) {
  std::lock_guard lock(mu_);
  return revisions_->AddPending(samples);
}

Status Downsampler::Apply(const storage::SampleBatch& batch, std::span<const SeriesSlot> slots,
                          bool suspect, uint64_t late_id, uint64_t lsn) {
  std::lock_guard lock(mu_);
  last_lsn_ = std::max(last_lsn_, lsn);
  const size_t n = batch.size();
  const uint64_t* ids = batch.series().data();
  const int64_t* times = batch.timestamps().data();
  const uint64_t* values = batch.values().data();
  std::map<SeriesState*, std::vector<int64_t>> dirty;
  LateBatch late{lsn, late_id, {}};
  const int64_t stale = options_.staleness_seconds;
  const int64_t closing = closing_;  // a local: the stores below cannot alias it
  // The agents' clocks, for the closing clock (only rows the store surely took).
  if (!suspect && n > 0) closing_clock_.NoteSample(*std::max_element(times, times + n));
  // Pass 1, the common case: in order, in the hour of the series' newest sample, one cache
  // line per sample. Every other row goes to pass 2, and its series is marked deferred so that
  // its later rows follow it there in batch order.
  slow_rows_.clear();
  const uint32_t table_size = static_cast<uint32_t>(hot_.size());
  HotHour* const hot_table = hot_.data();
  if (!suspect) {
    // No software prefetch: an agent defines its series together, so its batch walks
    // consecutive hot hours, which the hardware prefetcher streams in.
    for (size_t i = 0; i < n; ++i) {
      const int64_t ts = times[i];
      const uint32_t index = slots[i].index;
      // closing is a whole hour: below it the sample's hour is closed.
      if (ts >= closing && index < table_size) {
        HotHour& hot = hot_table[index];
        const uint64_t offset = static_cast<uint64_t>(ts - hot.hour);
        if (hot.Takes(offset)) {
          hot.Apply(static_cast<uint16_t>(offset), values[i], stale);
          continue;
        }
        hot.Defer();
      }
      slow_rows_.push_back(static_cast<uint32_t>(i));
    }
    stats_.in_order_samples += n - slow_rows_.size();
  } else {
    // Some rows may have been refused by the store: every row is recomputed from raw.
    slow_rows_.resize(n);
    for (size_t i = 0; i < n; ++i) slow_rows_[i] = static_cast<uint32_t>(i);
  }
  // Pass 2, in batch order.
  for (const uint32_t i : slow_rows_) {
    const int64_t ts = times[i];
    if (ts < closing) {
      late.samples.push_back(LateSample{ids[i], ts});
      continue;
    }
    const uint64_t v = values[i];
    const uint32_t index = slots[i].index;
    SeriesState* st = index < table_size ? &states_[index] : nullptr;
    if (st == nullptr || !st->used) st = StateFor(ids[i], slots[i]);
    Settle(st);
    if (!st->known) METERD_RETURN_IF_ERROR(LoadPrevIfUnknown(st, ts));
    if (!suspect && (!st->has_last || ts > st->last_ts)) {
      ApplyInOrder(st, ts, v);
      Arm(st);
      continue;
    }
    // A resend of the newest sample changes nothing.
    if (!suspect && st->has_last && ts == st->last_ts && v == st->last_value) continue;
    ++stats_.out_of_order_samples;
    dirty[st].push_back(ts);
  }
  // Out of order within open hours: only open hours change (no revisions).
  std::vector<RollupRow> new_revisions;
  for (auto& [st, ts] : dirty) {
    METERD_RETURN_IF_ERROR(RecomputeAround(st, std::move(ts), &new_revisions));
  }
  METERD_RETURN_IF_ERROR(WriteRevisions(&new_revisions, 0));
  if (!late.samples.empty() || late_id != 0) {
    stats_.late_samples += late.samples.size();
    CoalesceLate(&late.samples);
    late_.push_back(std::move(late));
  }
  return Status::OK();
}

int64_t Downsampler::CloseDue() {
  std::lock_guard lock(mu_);
  // Hour h closes at h + 1h + grace: the first hour still open is the one holding now - grace,
  // `now` read from the closing clock, which a step of the wall clock does not fool.
  const int64_t monotonic = options_.monotonic_nanos ? options_.monotonic_nanos()
                            : options_.now           ? Now() * 1'000'000'000
                                                     : base::MonotonicNanos();
  const int64_t now = closing_clock_.Advance(Now(), monotonic);
  closing_ = std::max(closing_, HourOf(now - options_.grace_seconds));
  return closing_;
}

Status Downsampler::ProcessLate() {
  METERD_RETURN_IF_ERROR(ProcessLateBatches());
  return FoldRevisions(false);
}

Status Downsampler::ProcessLateBatches() {
  std::deque<LateBatch> ready;
  {
    std::lock_guard lock(mu_);
    ready.swap(late_);
  }
  if (ready.empty()) return Status::OK();
  // Revisions are computed only from durable raw data.
  Status durable = store_->WaitDurable(ready.back().lsn);
  std::lock_guard lock(mu_);
  if (!durable.ok()) {
    // The samples may never have reached the disk; their pending records stay unresolved and
    // are recomputed at the next start.
    return durable;
  }
  // One recomputation per series for everything that queued up, then every id resolved.
  std::vector<LateSample> all;
  std::vector<uint64_t> ids;
  for (LateBatch& b : ready) {
    all.insert(all.end(), b.samples.begin(), b.samples.end());
    if (b.late_id != 0) ids.push_back(b.late_id);
  }
  CoalesceLate(&all);
  std::vector<RollupRow> new_revisions;
  for (size_t i = 0; i < all.size();) {
    std::vector<int64_t> times;
    size_t j = i;
    for (; j < all.size() && all[j].series_id == all[i].series_id; ++j) times.push_back(all[j].ts);
    SeriesState* st = StateById(all[i].series_id);
    if (st != nullptr)
      METERD_RETURN_IF_ERROR(RecomputeAround(st, std::move(times), &new_revisions));
    i = j;
    // Bounded batches of revisions per synced record write.
    if (new_revisions.size() >= 4096) METERD_RETURN_IF_ERROR(WriteRevisions(&new_revisions, 0));
  }
  METERD_RETURN_IF_ERROR(WriteRevisions(&new_revisions, 0));
  METERD_RETURN_IF_ERROR(revisions_->Resolve(ids));
  return Status::OK();
}

Status Downsampler::WriteRevisions(std::vector<RollupRow>* rows, uint64_t resolved_id) {
  pending_revisions_.clear();
  if (rows->empty() && resolved_id == 0) return Status::OK();
  METERD_RETURN_IF_ERROR(revisions_->AddRevisions(*rows, resolved_id));
  for (const RollupRow& r : *rows) buffered_.Add(r);
  stats_.revisions += rows->size();
  rows->clear();
  return Status::OK();
}

Status Downsampler::RecomputeAround(SeriesState* st, std::vector<int64_t> times,
                                    std::vector<RollupRow>* new_revisions) {
  Settle(st);  // a later sample of the same batch may have armed it again
  std::sort(times.begin(), times.end());
  const int64_t stale = options_.staleness_seconds;
  const int64_t from_hour = HourOf(times.front());
  METERD_ASSIGN_OR_RETURN(std::vector<RawSample> samples,
                          LoadRaw(st->id, from_hour - stale, INT64_MAX));
  // The store is the truth: the newest sample may have changed (or, for a batch the store
  // partly refused, never arrived).
  if (!samples.empty() && (!st->has_last || samples.back().ts >= st->last_ts)) {
    st->has_last = true;
    st->last_ts = samples.back().ts;
    st->last_value = samples.back().value;
    st->held_until = HeldUntilAfterSeals(st->last_ts, stale, watermark_);
  }
  st->known = true;
  // Hours a changed sample at t affects: its own; those its hold reaches; for a counter the
  // hour of the next sample, whose delta now starts from it. (The previous sample's hold now
  // ends at t: that is in t's hour or later too.)
  int64_t to_hour = from_hour;
  for (int64_t t : times) {
    to_hour = std::max(to_hour, HourOf(t + stale - 1));
    if (st->shape.kind == MetricKind::kCounter) {
      auto next = std::upper_bound(samples.begin(), samples.end(), t,
                                   [](int64_t x, const RawSample& s) { return x < s.ts; });
      if (next != samples.end()) to_hour = std::max(to_hour, HourOf(next->ts));
    }
  }
  if (st->shape.kind == MetricKind::kCounter &&
      (samples.empty() || samples.front().ts >= from_hour)) {
    METERD_ASSIGN_OR_RETURN(std::optional<RawSample> prev, PrevSample(st->id, from_hour - stale));
    if (prev) samples.insert(samples.begin(), *prev);
  }
  return RecomputeHours(st, samples, from_hour, to_hour, new_revisions, nullptr);
}

Status Downsampler::RecomputeHours(SeriesState* st, std::span<const RawSample> samples,
                                   int64_t from_hour, int64_t to_hour,
                                   std::vector<RollupRow>* new_revisions, RebuildReport* report) {
  const std::vector<RollupRow> rows =
      ComputeBuckets(st->id, st->shape, samples, options_.staleness_seconds, watermark_,
                     st->has_last ? st->last_ts : INT64_MIN, from_hour, to_hour);
  stats_.recomputed_hours += static_cast<uint64_t>((to_hour - from_hour) / kSecondsPerHour + 1);
  const int64_t now = Now();
  // Whether raw samples are left to recompute `hour` from (a rebuild asks only when its
  // recomputation differs from the sealed bucket): one in the hour, or in the hour before,
  // whose hold may be all the bucket held (a staleness change recomputes that). Retention
  // drops the oldest raw partitions first, so when both hours are empty the samples that made
  // the bucket are gone. `samples` covers the hour itself (Rebuild loads to_hour + 1 h).
  auto has_raw = [&](int64_t hour) -> Result<bool> {
    auto it = std::lower_bound(samples.begin(), samples.end(), hour,
                               [](const RawSample& s, int64_t t) { return s.ts < t; });
    if (it != samples.end() && it->ts < hour + kSecondsPerHour) return true;
    METERD_ASSIGN_OR_RETURN(std::vector<RawSample> before,
                            LoadRaw(st->id, hour - kSecondsPerHour, hour));
    return !before.empty();
  };
  auto next_row = rows.begin();
  for (int64_t hour = from_hour; hour <= to_hour; hour += kSecondsPerHour) {
    RollupRow fresh;
    fresh.series_id = st->id;
    fresh.hour = hour;
    if (next_row != rows.end() && next_row->hour == hour) fresh = *next_row++;
    RebuildHourCounts* counts = nullptr;
    if (report) {
      ++report->hours;
      const size_t i = static_cast<size_t>((hour - report->by_hour.front().hour) / kSecondsPerHour);
      METERD_CHECK(i < report->by_hour.size(), "rebuild: hour outside the report's range");
      counts = &report->by_hour[i];
    }
    if (hour >= watermark_) {
      auto it = std::lower_bound(st->open.begin(), st->open.end(), hour, HourLess);
      const bool present = it != st->open.end() && it->hour == hour;
      if ((present && SameBucket(*it, fresh)) || (!present && RowIsEmpty(fresh))) {
        if (report) {
          ++report->unchanged;
          ++counts->unchanged;
        }
        continue;
      }
      if (report) {
        ++report->open_replaced;
        ++counts->rebuilt;
        if (report->first_changes.size() < 32) report->first_changes.push_back(fresh);
      }
      if (!present) {
        st->open.insert(it, fresh);
      } else if (RowIsEmpty(fresh)) {
        st->open.erase(it);
      } else {
        *it = fresh;
      }
      continue;
    }
    METERD_ASSIGN_OR_RETURN(RollupRow current, SealedRow(st->id, hour));
    if (report && (current.col[kColFlags] & kRowImported) != 0) {
      // Imported usage has no raw samples behind it: a rebuild would replace it with nothing
      // (issue 18). Late data still replaces it (ProcessLate passes no report).
      ++report->kept_imported;
      ++counts->kept_imported;
      continue;
    }
    if (SameBucket(current, fresh)) {
      if (report) {
        ++report->unchanged;
        ++counts->unchanged;
      }
      continue;
    }
    if (report) {
      METERD_ASSIGN_OR_RETURN(const bool raw, has_raw(hour));
      if (!raw) {
        // The raw samples that made this bucket are gone (raw retention): recomputing it from
        // what is left would erase usage that was measured.
        ++report->kept_without_raw;
        ++counts->kept_without_raw;
        continue;
      }
    }
    fresh.col[kColRevision] = current.col[kColRevision] + 1;
    fresh.col[kColRevisedAt] = static_cast<uint64_t>(now);
    // The origin: recomputed from raw by a rebuild, or by late data (an imported bucket
    // recomputed from raw samples is no longer an import).
    // kRowIncreaseSaturated is the recomputation's own (ComputeBuckets sets it).
    // An import's id goes with its origin bit (a recomputed bucket is nobody's import).
    fresh.col[kColFlags] =
        (current.col[kColFlags] & ~(kRowOrigin | kRowIncreaseSaturated | kRowImportIdMask)) |
        fresh.col[kColFlags] | (report ? kRowRebuilt : 0);
    new_revisions->push_back(fresh);
    pending_revisions_[{st->id, hour}] = fresh;
    if (report) {
      ++report->revisions;
      ++counts->rebuilt;
      if (report->first_changes.size() < 32) report->first_changes.push_back(fresh);
    }
  }
  return Status::OK();
}

const RollupRow* Downsampler::BufferedRow(const std::pair<uint64_t, int64_t>& key) const {
  const RollupRow* row = buffered_.Latest(key);
  return row != nullptr ? row : folding_.Latest(key);
}

Result<RollupRow> Downsampler::SealedRow(uint64_t series_id, int64_t hour) const {
  METERD_ASSIGN_OR_RETURN(std::vector<RollupRow> rows, SealedRows({{series_id, hour}}));
  return rows[0];
}

Result<std::vector<RollupRow>> Downsampler::SealedRows(
    const std::vector<std::pair<uint64_t, int64_t>>& keys) const {
  std::vector<RollupRow> out(keys.size());
  std::vector<uint32_t> in_files;  // indexes of the keys the files must answer
  for (size_t i = 0; i < keys.size(); ++i) {
    out[i].series_id = keys[i].first;
    out[i].hour = keys[i].second;
    if (auto it = pending_revisions_.find(keys[i]); it != pending_revisions_.end()) {
      out[i] = it->second;
    } else if (const RollupRow* row = BufferedRow(keys[i])) {
      out[i] = *row;
    } else {
      in_files.push_back(static_cast<uint32_t>(i));
    }
  }
  if (in_files.empty()) return out;
  // File by file (their hours do not overlap), the keys in order: each block is decoded at most
  // once per file however many keys it answers.
  const storage::RollupSnapshot snap = rollups_->Snapshot();
  storage::RollupBlock block;
  for (const auto& file : snap.files) {
    const storage::RollupFileInfo& info = file->info();
    const auto& blocks = file->blocks();
    size_t loaded = SIZE_MAX;
    for (const uint32_t i : in_files) {
      const auto [series_id, hour] = keys[i];
      if (hour < info.min_hour || hour > info.max_hour) continue;
      for (size_t b = file->LowerBound(series_id); b < blocks.size(); ++b) {
        if (blocks[b].first_series > series_id) break;
        if (hour < blocks[b].min_hour || hour > blocks[b].max_hour) continue;
        if (b != loaded) {
          Status s = file->ReadBlock(b, storage::kAllColumns, &block);
          if (!s.ok()) {
            rollups_->CountDamagedBlock();
            return s;
          }
          loaded = b;
        }
        // Rows are sorted by (series, hour): a binary search.
        size_t lo = 0, hi = block.rows;
        while (lo < hi) {
          const size_t m = lo + (hi - lo) / 2;
          const uint64_t ms = block.series.at(m);
          const int64_t mh = static_cast<int64_t>(block.hour.at(m));
          if (ms < series_id || (ms == series_id && mh < hour)) {
            lo = m + 1;
          } else {
            hi = m;
          }
        }
        if (lo < block.rows && block.series.at(lo) == series_id &&
            static_cast<int64_t>(block.hour.at(lo)) == hour) {
          for (size_t c = 0; c < kRollupColumns; ++c) out[i].col[c] = block.col[c].at(lo);
          break;
        }
      }
    }
  }
  return out;
}

Result<int> Downsampler::SealDue() {
  uint64_t lsn = 0;
  {
    std::lock_guard lock(mu_);
    if (watermark_ >= closing_) return 0;
    lsn = last_lsn_;
  }
  // Everything applied to the closed hours must be durable before they are sealed: a sealed
  // bucket never counts a sample a crash could still lose. (Samples applied after this point
  // are for open hours, or late and handled by ProcessLate.)
  if (lsn != 0) METERD_RETURN_IF_ERROR(store_->WaitDurable(lsn));
  std::lock_guard lock(mu_);
  const int64_t stale = options_.staleness_seconds;
  // Sealing reads every series' newest sample and writes its rows: bring them up to date.
  states_.ForEachUsed([this](SeriesState& st) { Settle(&st); });
  int sealed = 0;
  while (watermark_ < closing_) {
    const auto started = std::chrono::steady_clock::now();
    const int64_t hour = watermark_;
    const int64_t end = hour + kSecondsPerHour;
    std::vector<RollupRow> rows;
    states_.ForEachUsed([&](SeriesState& st) {
      // The newest sample's hold has no successor yet: credit its part inside this hour. (A
      // successor arriving later inside that span is late data, and revises the hour.)
      if (st.has_last && st.shape.kind != MetricKind::kCounter && st.held_until < end &&
          st.last_ts + stale > st.held_until) {
        const int64_t to = std::min(st.last_ts + stale, end);
        CreditHold(st.shape, st.last_value, to - st.held_until, OpenRow(&st, hour));
        st.held_until = to;
      }
      if (!st.open.empty() && st.open.front().hour == hour && !RowIsEmpty(st.open.front())) {
        rows.push_back(st.open.front());
      }
    });
    std::sort(rows.begin(), rows.end(),
              [](const RollupRow& a, const RollupRow& b) { return a.series_id < b.series_id; });
    METERD_RETURN_IF_ERROR(rollups_->SealHour(hour, rows));
    states_.ForEachUsed([&](SeriesState& st) {
      if (!st.open.empty() && st.open.front().hour == hour) st.open.erase(st.open.begin());
    });
    watermark_ = end;
    ++sealed;
    ++stats_.hours_sealed;
    stats_.last_seal_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  return sealed;
}

Status Downsampler::MergeParts() { return rollups_->MergeParts(options_.merge_min_parts); }

Result<RebuildReport> Downsampler::Rebuild(int64_t from, int64_t to,
                                           const std::vector<uint64_t>& series) {
  METERD_ASSIGN_OR_RETURN(RebuildReport report, RebuildSeries(from, to, series));
  METERD_RETURN_IF_ERROR(FoldRevisions(false));
  return report;
}

Result<RebuildReport> Downsampler::RebuildSeries(int64_t from, int64_t to,
                                                 const std::vector<uint64_t>& series) {
  if (to <= from) return Status::InvalidArgument("rebuild: --to must be after --from");
  const int64_t from_hour = HourOf(from);
  const int64_t to_hour = HourOf(to - 1);
  const int64_t stale = options_.staleness_seconds;
  std::vector<uint64_t> ids = series;
  if (ids.empty()) {
    for (const SeriesInfo& info : registry_->Matching("", "")) ids.push_back(info.id);
  }
  RebuildReport report;
  for (int64_t hour = from_hour; hour <= to_hour; hour += kSecondsPerHour) {
    report.by_hour.push_back(RebuildHourCounts{.hour = hour});
  }
  std::vector<RollupRow> new_revisions;
  for (uint64_t id : ids) {
    // The buffer stays bounded however many series a rebuild revises (not under the lock).
    METERD_RETURN_IF_ERROR(FoldRevisions(false));
    // One series at a time under the lock, so ingest goes on between series.
    std::lock_guard lock(mu_);
    SeriesState* st = StateById(id);
    if (st == nullptr) continue;
    ++report.series;
    if (!st->known) {
      // The newest sample decides how far the last hold in the range reaches.
      st->known = true;
      const int64_t after_newest = Now() + store_->options().max_future_seconds + 1;
      METERD_ASSIGN_OR_RETURN(std::optional<RawSample> newest, PrevSample(id, after_newest));
      if (newest && (!st->has_last || newest->ts > st->last_ts)) {
        st->has_last = true;
        st->last_ts = newest->ts;
        st->last_value = newest->value;
        st->held_until = HeldUntilAfterSeals(newest->ts, stale, watermark_);
      }
    }
    METERD_ASSIGN_OR_RETURN(std::vector<RawSample> samples,
                            LoadRaw(id, from_hour - stale, to_hour + kSecondsPerHour + stale));
    if (st->shape.kind == MetricKind::kCounter &&
        (samples.empty() || samples.front().ts >= from_hour)) {
      METERD_ASSIGN_OR_RETURN(std::optional<RawSample> prev, PrevSample(id, from_hour - stale));
      if (prev) samples.insert(samples.begin(), *prev);
    }
    METERD_RETURN_IF_ERROR(
        RecomputeHours(st, samples, from_hour, to_hour, &new_revisions, &report));
    METERD_RETURN_IF_ERROR(WriteRevisions(&new_revisions, 0));
  }
  return report;
}

Result<ImportReport> Downsampler::Import(const std::vector<ImportedQuantity>& quantities,
                                         const ImportOptions& options) {
  METERD_ASSIGN_OR_RETURN(ImportReport report, ImportLocked(quantities, options));
  // The buffer may be full: fold it before acknowledging, so that an import of any size
  // waits for its folds (backpressure) instead of growing the buffer.
  METERD_RETURN_IF_ERROR(FoldRevisions(false));
  return report;
}

Result<ImportReport> Downsampler::ImportLocked(const std::vector<ImportedQuantity>& quantities,
                                               const ImportOptions& options) {
  ImportReport report;
  auto refuse = [&report](uint32_t index, Status why) {
    ++report.refused;
    if (report.first_refusals.size() < 32)
      report.first_refusals.emplace_back(index, std::move(why));
  };
  std::lock_guard lock(mu_);
  // Build one bucket per (series, hour), remembering which quantities filled which column.
  struct Pending {
    RollupRow row;
    uint32_t filled = 0;  // bit 31: the value; bits 0..7: state codes
  };
  if (!fold_failed_.ok() && buffered_.rows() >= options_.revision_buffer_rows) {
    // The buffer cannot be folded into the month files, and is full: refuse rather than grow.
    return fold_failed_.WithContext("backfill: the revision buffer is full and cannot be folded");
  }
  // The quantities that pass the checks of their own, sorted by (series, hour, position): a
  // flat sort instead of a tree of buckets (a request is 16,384 quantities). Within a bucket the
  // quantities keep their order, so the first of a repeated one is kept and the others refused.
  std::vector<uint64_t> ids(quantities.size());
  for (size_t i = 0; i < quantities.size(); ++i) ids[i] = quantities[i].series_id;
  std::vector<SeriesSlot> slots(quantities.size());
  registry_->LookupMany(ids, slots.data());
  struct ImportEntry {
    uint64_t series_id;
    int64_t hour;
    uint32_t at;  // position in `quantities`
  };
  std::vector<ImportEntry> entries;
  entries.reserve(quantities.size());
  for (size_t i = 0; i < quantities.size(); ++i) {
    const ImportedQuantity& q = quantities[i];
    if (slots[i].index == UINT32_MAX) {
      refuse(q.index, Status::NotFound("series is not defined"));
      continue;
    }
    if (q.hour % kSecondsPerHour != 0) {
      refuse(q.index,
             Status::InvalidArgument("hour " + std::to_string(q.hour) + " is not a whole hour"));
      continue;
    }
    if (q.hour >= watermark_) {
      refuse(q.index, Status::OutOfRange("hour " + std::to_string(q.hour) +
                                         " is not sealed yet: backfill imports past hours only"));
      continue;
    }
    entries.push_back(ImportEntry{q.series_id, q.hour, static_cast<uint32_t>(i)});
  }
  const auto entry_less = [](const ImportEntry& a, const ImportEntry& b) {
    if (a.series_id != b.series_id) return a.series_id < b.series_id;
    if (a.hour != b.hour) return a.hour < b.hour;
    return a.at < b.at;
  };
  if (!std::is_sorted(entries.begin(), entries.end(), entry_less)) {
    std::sort(entries.begin(), entries.end(), entry_less);
  }
  std::vector<Pending> buckets;  // ascending (series, hour)
  buckets.reserve(entries.size());
  for (const ImportEntry& e : entries) {
    const ImportedQuantity& q = quantities[e.at];
    const SeriesSlot& slot = slots[e.at];
    if (buckets.empty() || buckets.back().row.series_id != e.series_id ||
        buckets.back().row.hour != e.hour) {
      Pending& fresh = buckets.emplace_back();
      fresh.row.series_id = e.series_id;
      fresh.row.hour = e.hour;
    }
    Pending& p = buckets.back();
    auto& c = p.row.col;
    if (slot.kind == MetricKind::kState) {
      if (q.state < 1 || q.state >= kStateSlots) {
        refuse(q.index, Status::InvalidArgument("state code " + std::to_string(q.state) +
                                                " is outside 1..7"));
        continue;
      }
      if (q.value_bits > static_cast<uint64_t>(kSecondsPerHour) ||
          c[kColHeld] + q.value_bits > static_cast<uint64_t>(kSecondsPerHour)) {
        refuse(q.index, Status::InvalidArgument("an hour holds at most 3600 seconds of states"));
        continue;
      }
      if (p.filled & (1u << q.state)) {
        refuse(q.index, Status::AlreadyExists("this state of this hour appears twice"));
        continue;
      }
      p.filled |= 1u << q.state;
      c[kColState0 + q.state] = q.value_bits;
      c[kColHeld] += q.value_bits;
      c[kColLast] = c[kColMin] = c[kColMax] = q.state;
    } else {
      if (p.filled & (1u << 31)) {
        refuse(q.index, Status::AlreadyExists("this hour of this series appears twice"));
        continue;
      }
      p.filled |= 1u << 31;
      if (slot.kind == MetricKind::kCounter) {
        c[kColIncrease] = q.value_bits;
      } else {
        // The level held for the whole hour: integral = value x 3600.
        c[kColHeld] = kSecondsPerHour;
        c[kColMin] = c[kColMax] = c[kColLast] = q.value_bits;
        if (slot.type == storage::ValueType::kFloat) {
          c[kColIntegralLo] = storage::DoubleToBits(storage::BitsToDouble(q.value_bits) * 3600.0);
        } else {
          const unsigned __int128 integral =
              static_cast<unsigned __int128>(q.value_bits) * kSecondsPerHour;
          c[kColIntegralLo] = static_cast<uint64_t>(integral);
          c[kColIntegralHi] = static_cast<uint64_t>(integral >> 64);
        }
      }
    }
    c[kColFlags] = kRowImported;
  }
  std::vector<RollupRow> new_revisions;
  const int64_t now = Now();
  std::vector<std::pair<uint64_t, int64_t>> keys;
  keys.reserve(buckets.size());
  for (const Pending& p : buckets) {
    if (p.filled != 0) keys.emplace_back(p.row.series_id, p.row.hour);
  }
  if (!options.dry_run && options.import_id != 0 && !imports_->Exists(options.import_id)) {
    return Status::NotFound("import " + std::to_string(options.import_id) + " does not exist");
  }
  METERD_ASSIGN_OR_RETURN(const std::vector<RollupRow> currents, SealedRows(keys));
  std::vector<ImportUndo> undo;
  size_t k = 0;
  for (Pending& p : buckets) {
    if (p.filled == 0) continue;
    const RollupRow& current = currents[k++];
    if (SameBucket(current, p.row)) {
      ++report.unchanged;
      continue;
    }
    p.row.col[kColRevision] = current.col[kColRevision] + 1;
    p.row.col[kColRevisedAt] = static_cast<uint64_t>(now);
    new_revisions.push_back(p.row);
    ++report.imported;
    // The bucket as it was before this import, unless this import wrote it already (an earlier
    // request of the same file): the journal then holds its content from before the import.
    const bool ours = options.import_id != 0 && (current.col[kColFlags] & kRowImported) != 0 &&
                      RowImportId(current.col[kColFlags]) == options.import_id;
    if (!ours) {
      ImportUndo& u = undo.emplace_back();
      u.prev = current;
      u.prev.series_id = p.row.series_id;
      u.prev.hour = p.row.hour;
      u.had_prev = !RowIsEmpty(current) || current.col[kColRevision] != 0;
    }
  }
  if (options.dry_run) return report;
  uint64_t id = options.import_id;
  if (id == 0) {
    // The first request of an import (an older client's requests are an import each): the
    // import gets its id and journal even if it changes nothing.
    METERD_ASSIGN_OR_RETURN(id, imports_->Begin(now));
  } else if (new_revisions.empty()) {
    METERD_ASSIGN_OR_RETURN(std::optional<ImportChunkCounts> seen,
                            imports_->Chunk(id, options.chunk));
    if (seen) {
      // A resend of a request already applied: nothing to write, the first counts stand.
      report.import_id = id;
      report.imported = seen->imported;
      report.unchanged = seen->unchanged;
      report.refused = seen->refused;
      report.repeated = true;
      return report;
    }
  }
  report.import_id = id;
  if (new_revisions.empty()) return report;
  for (RollupRow& row : new_revisions) row.col[kColFlags] |= RowImportIdFlags(id);
  // The journal first: a crash after it and before the revisions leaves undo entries that a
  // rollback finds without effect (import_journal.h).
  METERD_RETURN_IF_ERROR(
      imports_->Record(id, options.chunk,
                       ImportChunkCounts{report.imported, report.unchanged, report.refused}, undo));
  METERD_RETURN_IF_ERROR(WriteRevisions(&new_revisions, 0));
  return report;
}

Result<RollbackReport> Downsampler::Rollback(uint64_t import_id, bool dry_run) {
  RollbackReport report;
  {
    std::lock_guard lock(mu_);
    if (import_id == 0 || !imports_->Exists(import_id)) {
      return Status::NotFound("import " + std::to_string(import_id) + " does not exist");
    }
    METERD_ASSIGN_OR_RETURN(std::optional<ImportRollbackMark> mark,
                            imports_->RolledBack(import_id));
    if (mark) {
      report.already = true;
      report.restored = mark->restored;
      report.superseded = mark->superseded;
      report.rolled_back_at = mark->at;
      return report;
    }
  }
  // The journal is read without the lock; each batch of it is applied under the lock (ingest
  // goes on between batches) and folded when the buffer is full, like an import.
  METERD_RETURN_IF_ERROR(
      imports_->ForEachUndo(import_id, [&](std::vector<ImportUndo>&& batch) -> Status {
        {
          std::lock_guard lock(mu_);
          std::vector<std::pair<uint64_t, int64_t>> keys;
          keys.reserve(batch.size());
          for (const ImportUndo& u : batch) keys.emplace_back(u.prev.series_id, u.prev.hour);
          std::sort(keys.begin(), keys.end());
          keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
          METERD_ASSIGN_OR_RETURN(const std::vector<RollupRow> currents, SealedRows(keys));
          std::vector<bool> done(keys.size(), false);
          const int64_t now = Now();
          std::vector<RollupRow> new_revisions;
          for (const ImportUndo& u : batch) {
            const auto at = std::lower_bound(keys.begin(), keys.end(),
                                             std::make_pair(u.prev.series_id, u.prev.hour));
            const size_t i = static_cast<size_t>(at - keys.begin());
            const RollupRow& current = currents[i];
            const uint64_t flags = current.col[kColFlags];
            if (done[i] || (flags & kRowImported) == 0 || RowImportId(flags) != import_id) {
              ++report.superseded;
              continue;
            }
            done[i] = true;
            ++report.restored;
            RollupRow row = u.prev;  // all columns 0 when the bucket did not exist
            row.col[kColRevision] = current.col[kColRevision] + 1;
            row.col[kColRevisedAt] = static_cast<uint64_t>(now);
            new_revisions.push_back(row);
          }
          if (!dry_run) METERD_RETURN_IF_ERROR(WriteRevisions(&new_revisions, 0));
        }
        return dry_run ? Status::OK() : FoldRevisions(false);
      }));
  if (dry_run) return report;
  std::lock_guard lock(mu_);
  report.rolled_back_at = Now();
  METERD_RETURN_IF_ERROR(imports_->MarkRolledBack(
      import_id, ImportRollbackMark{report.rolled_back_at, report.restored, report.superseded}));
  return report;
}

query::RollupView Downsampler::View(const std::vector<uint64_t>& series, int64_t from,
                                    int64_t to) const {
  query::RollupView view;
  std::lock_guard lock(mu_);
  view.files = rollups_->Snapshot();
  view.sealed_before = watermark_;
  auto add_open = [&](const SeriesState& st) {
    for (const RollupRow& row : st.open) {
      if (row.hour < from || row.hour >= to || RowIsEmpty(row)) continue;
      view.open.push_back(row);
      const HotHour& hot = hot_[st.index];
      if (&row == &st.open.back() && hot.armed()) hot.WriteBack(&view.open.back());
    }
  };
  // The latest buffered revision of each key in [lo, hi) (keys), the active buffer's over the
  // one being folded, in key order: a merge of the two maps.
  using Key = RevisionBuffer::Key;
  auto add_revised = [&](const Key& lo, const Key& hi) {
    const RevisionBuffer& a = buffered_;
    const RevisionBuffer& f = folding_;
    const std::span<const uint32_t> as = a.Sorted(), fs = f.Sorted();
    size_t ai = a.LowerBound(lo), fi = f.LowerBound(lo);
    const size_t ae = a.LowerBound(hi), fe = f.LowerBound(hi);
    while (ai != ae || fi != fe) {
      if (fi == fe || (ai != ae && a.KeyOf(as[ai]) <= f.KeyOf(fs[fi]))) {
        if (fi != fe && f.KeyOf(fs[fi]) == a.KeyOf(as[ai])) ++fi;
        const int64_t hour = a.KeyOf(as[ai]).second;
        if (hour >= from && hour < to) view.revised.push_back(a.LatestOf(as[ai]));
        ++ai;
      } else {
        const int64_t hour = f.KeyOf(fs[fi]).second;
        if (hour >= from && hour < to) view.revised.push_back(f.LatestOf(fs[fi]));
        ++fi;
      }
    }
  };
  if (series.empty()) {
    add_revised(Key{0, INT64_MIN}, Key{UINT64_MAX, INT64_MAX});
    states_.ForEachUsed(add_open);
    std::sort(view.open.begin(), view.open.end(), [](const RollupRow& a, const RollupRow& b) {
      return a.series_id != b.series_id ? a.series_id < b.series_id : a.hour < b.hour;
    });
    return view;
  }
  std::vector<SeriesSlot> slots(series.size());
  registry_->LookupMany(series, slots.data());
  for (size_t i = 0; i < series.size(); ++i) {
    add_revised(Key{series[i], from}, Key{series[i], to});
    if (slots[i].index < states_.size() && states_[slots[i].index].used) {
      add_open(states_[slots[i].index]);
    }
  }
  return view;
}

std::vector<RollupRow> Downsampler::Revisions(uint64_t series, int64_t hour) const {
  std::lock_guard lock(mu_);
  const RevisionBuffer::Key key{series, hour};
  std::vector<RollupRow> out;
  for (const RevisionBuffer* b : {&folding_, &buffered_}) {
    std::vector<RollupRow> all = b->All(key);
    out.insert(out.end(), all.begin(), all.end());
  }
  if (!out.empty()) {
    // A key both being folded and revised again since: each revision once, in order.
    std::stable_sort(out.begin(), out.end(), [](const RollupRow& a, const RollupRow& b) {
      return a.col[kColRevision] < b.col[kColRevision];
    });
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }
  // Folded: the month file keeps the latest revision only.
  Result<std::vector<RollupRow>> row = SealedRows({key});
  if (row.ok() && (*row)[0].col[kColRevision] != 0) out.push_back((*row)[0]);
  return out;
}

Status Downsampler::FoldRevisions(bool force) {
  std::lock_guard fold(fold_mu_);
  std::vector<RollupRow>& rows = fold_rows_;  // its capacity is kept from fold to fold
  rows.clear();
  uint64_t seq = 0;
  int64_t watermark = 0;
  {
    std::lock_guard lock(mu_);
    watermark = watermark_;
    if (buffered_.empty()) return Status::OK();
    if (!force && buffered_.rows() < options_.revision_buffer_rows) return Status::OK();
    if (!fold_failed_.ok()) return Status::OK();  // reported when it failed; Import refuses
    // Appends go to a new log from here on; the rows buffered so far are all in the older ones.
    METERD_ASSIGN_OR_RETURN(seq, revisions_->Rotate());
    // Swapped, not moved: each buffer keeps its capacity for the next fold.
    std::swap(folding_, buffered_);
    buffered_.Clear();
    // A month with a damaged file cannot take its revisions: they move to the new log and stay
    // buffered (the damage was reported at Open).
    std::vector<RollupRow> carried;
    std::map<int64_t, bool> can_fold;
    rows.reserve(folding_.keys());
    for (const uint32_t slot : folding_.Sorted()) {
      const int64_t month = storage::rollup::MonthStart(folding_.KeyOf(slot).second);
      auto [it, fresh] = can_fold.try_emplace(month, false);
      if (fresh) it->second = rollups_->CanFold(month);
      if (it->second) {
        rows.push_back(folding_.LatestOf(slot));
      } else {
        carried.push_back(folding_.LatestOf(slot));
      }
    }
    if (!carried.empty()) {
      METERD_RETURN_IF_ERROR(revisions_->AddRevisions(carried, 0));
      for (const RollupRow& r : carried) buffered_.Add(r);
    }
  }
  const auto started = std::chrono::steady_clock::now();
  // (With every row carried, this only records that the older logs need no replay.) The
  // watermark: every revision is of an hour below it.
  Status st = rollups_->FoldRevisions(rows, seq, watermark);
  std::lock_guard lock(mu_);
  if (!st.ok()) {
    // The rows stay readable (folding_) and the logs stay: the manifest still names the old
    // one, so a restart replays them and folds again.
    fold_failed_ = st;
    return st;
  }
  folding_.Clear();
  ++stats_.folds;
  stats_.last_fold_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return revisions_->DropBefore(seq);
}

std::string Downsampler::DurableRevisionMark() const {
  std::lock_guard lock(mu_);
  return revisions_->DurableMark();
}

DownsampleStats Downsampler::stats() const {
  std::lock_guard lock(mu_);
  DownsampleStats s = stats_;
  s.sealed_before = watermark_;
  s.closing_before = closing_;
  s.late_queued = late_.size();
  states_.ForEachUsed([&s](const SeriesState& st) {
    ++s.series;
    s.open_buckets += st.open.size();
  });
  s.files = rollups_->stats();
  s.revision_buffer_rows = buffered_.rows() + folding_.rows();
  s.revision_log_bytes = revisions_->bytes();
  return s;
}

Status Downsampler::RebuildOpen(std::vector<std::string>* report) {
  // Every series with samples in the hour before the watermark or later: that hour gives
  // gauges and states the hold reaching into the first open hour, and counters their previous
  // value; a counter quiet for longer looks its previous value up below.
  const int64_t from = watermark_ - kSecondsPerHour;
  storage::ScanRequest req;
  req.from = from;
  storage::ScanStats scan_stats;
  SeriesSlot slot;
  struct FirstOpen {
    SeriesState* st;
    int64_t ts;
    uint64_t value;
  };
  std::vector<FirstOpen> need_prev;  // counters whose first sample is in an open hour
  uint64_t samples = 0;
  METERD_RETURN_IF_ERROR(store_->Scan(
      req,
      [&](uint64_t id, storage::ValueType, std::span<const int64_t> ts,
          std::span<const uint64_t> values) {
        registry_->LookupMany({&id, 1}, &slot);
        if (slot.index == UINT32_MAX) return;  // undefined series never reach the store
        SeriesState* st = StateFor(id, slot);
        samples += ts.size();
        for (size_t i = 0; i < ts.size(); ++i) {
          if (ts[i] < watermark_) {
            st->known = true;
            st->has_last = true;
            st->last_ts = ts[i];
            st->last_value = values[i];
            st->held_until = HeldUntilAfterSeals(ts[i], options_.staleness_seconds, watermark_);
            continue;
          }
          if (!st->known) {
            st->known = true;
            if (st->shape.kind == MetricKind::kCounter) {
              need_prev.push_back(FirstOpen{st, ts[i], values[i]});
            }
          }
          ApplyInOrder(st, ts[i], values[i]);
        }
      },
      &scan_stats));
  for (const std::string& d : scan_stats.damaged) report->push_back("rollup rebuild: " + d);
  for (const FirstOpen& f : need_prev) {
    METERD_ASSIGN_OR_RETURN(std::optional<RawSample> prev, PrevSample(f.st->id, from));
    if (prev) AddCounterDelta(prev->value, f.value, OpenRow(f.st, HourOf(f.ts)));
  }
  stats_.in_order_samples = 0;
  report->push_back("rollup: " + std::to_string(samples) + " raw samples replayed into open hours");
  return Status::OK();
}

Status Downsampler::ResolvePending(std::vector<std::string>* report) {
  // A copy: resolving erases from the log's map.
  const auto unresolved = revisions_->unresolved();
  for (const auto& [id, samples] : unresolved) {
    std::map<SeriesState*, std::vector<int64_t>> by_series;
    for (const LateSample& s : samples) {
      SeriesState* st = StateById(s.series_id);
      if (st != nullptr) by_series[st].push_back(s.ts);
    }
    std::vector<RollupRow> new_revisions;
    for (auto& [st, ts] : by_series) {
      METERD_RETURN_IF_ERROR(RecomputeAround(st, std::move(ts), &new_revisions));
    }
    const size_t n = new_revisions.size();
    METERD_RETURN_IF_ERROR(WriteRevisions(&new_revisions, id));
    report->push_back("rollup: late batch " + std::to_string(id) + " resolved after restart (" +
                      std::to_string(samples.size()) + " samples, " + std::to_string(n) +
                      " revisions)");
  }
  return Status::OK();
}

}  // namespace meterd::engine
