// meterd — engine/downsample/downsampler.h
//
// Downsampler: keeps every series' hourly buckets (engine/downsample/bucket.h) as samples
// arrive, seals hours into rollup files, and turns late data into revisions (DESIGN.md
// section 4; docs/rollup.md).
//
//   * In order (the norm: a sample newer than its series' newest, in an open hour): O(1) per
//     sample, no second pass. The previous sample's hold is credited up to the new one, a
//     counter's delta goes to the new sample's hour, the sample's own statistics to its hour.
//     A sample in the same hour as its series' newest (all but one an hour) only touches the
//     series' HotHour (engine/downsample/hot_hour.h), one cache line; the full bucket row is
//     brought up to date from it (Settle) before anything else reads or changes the series.
//   * Out of order within open hours (a resend with another value, a backlog interleaving): the
//     affected open hours are recomputed from the raw store, which keeps one value per
//     (series, second), so a duplicate is never counted twice.
//   * Late (a sample for a closed hour): the ingest pipeline records its (series, second)
//     durably as *pending* before the sample reaches the WAL; once the WAL has synced it, the
//     hours it affects are recomputed from raw and, where a sealed bucket changed, revision n+1
//     is written to the revision log with its time, and the pending record is resolved. After
//     a crash, unresolved pending samples are recomputed at start. A revision is only ever
//     computed from durable raw data (a later sync failure cannot leave a phantom revision).
//   * Closing and sealing: an hour h closes when now >= h + 3600 + grace, `now` being the
//     closing clock (engine/downsample/closing_clock.h: the wall clock, never moving back and
//     never running ahead of real time or of accepted samples). CloseDue (called with
//     the ingest pipeline's lock held) moves the closing watermark, so every sample the
//     pipeline classifies afterwards as late gets a pending record; SealDue then credits the
//     pending tails of holds into h, waits until everything applied to h is durable, and
//     writes every series' bucket of h as a part (storage/rollup.h).
//   * Open buckets live in memory only: Open rebuilds them from the raw store (whose WAL replay
//     already restored everything acknowledged), so a kill -9 loses nothing and counts nothing
//     twice.
//
// Thread-safety: thread-safe; one mutex guards all state. Apply and MarkLate are called by the
// ingest pipeline under its own lock (order: pipeline lock, then this one), which keeps the
// downsampler's order equal to the store's append order. CloseDue must be called under the
// pipeline's lock too (IngestPipeline::CloseDue). Everything else may be called from any thread.
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/downsample/bucket.h"
#include "engine/downsample/closing_clock.h"
#include "engine/downsample/hot_hour.h"
#include "engine/downsample/import_journal.h"
#include "engine/downsample/revision_buffer.h"
#include "engine/downsample/revision_log.h"
#include "engine/registry/series_registry.h"
#include "query/usage.h"
#include "storage/rollup.h"
#include "storage/store.h"

namespace meterd::engine {

struct DownsampleOptions {
  // A sample holds its value for at most this long (a gauge or state whose agent went quiet is
  // not billed for the silence). 60 s tolerates a missed second or two of a per-second agent.
  int64_t staleness_seconds = 60;
  // An hour stays open this long after it ends; later samples produce revisions. 10 minutes
  // covers an agent reconnecting and resending its backlog.
  int64_t grace_seconds = 600;
  // Hour parts of a month are merged into its month file once this many exist (daily).
  size_t merge_min_parts = 24;
  // On a fresh rollup directory, raw data this far back is rolled up at start; older raw data
  // can be rolled up with `meterctl rollup rebuild`.
  int64_t initial_lookback_seconds = 86400;
  // Revised and imported buckets are buffered in memory (and logged durably) until this many
  // have gathered, then folded into the month files (RollupStore::FoldRevisions). It bounds
  // the buffer's memory: about 300 bytes a row, twice over while a fold runs (the rows being
  // folded stay readable), so the default of 262,144 rows costs at most ~160 MB. Each fold
  // rewrites the months it touches, so a larger buffer folds a big import in fewer rewrites.
  size_t revision_buffer_rows = size_t{1} << 18;
  std::function<int64_t()> now;  // unix seconds; tests inject a clock
  // Nanoseconds of a clock that never steps, for the closing clock's guard against wall-clock
  // steps (engine/downsample/closing_clock.h). Null: the steady clock, or, when `now` is
  // injected, `now` itself (a simulated clock has no other time: the guard then trusts it).
  std::function<int64_t()> monotonic_nanos;
  // The rollup files and the revision log go through this Env (not owned; must outlive the
  // downsampler and every view taken from it).
  storage::Env* env = storage::Env::Default();
};

struct DownsampleStats {
  int64_t sealed_before = 0;
  int64_t closing_before = 0;
  uint64_t series = 0;
  uint64_t open_buckets = 0;
  uint64_t in_order_samples = 0;
  uint64_t out_of_order_samples = 0;
  uint64_t late_samples = 0;
  uint64_t late_queued = 0;  // late batches waiting for their WAL sync
  uint64_t recomputed_hours = 0;
  uint64_t revisions = 0;
  uint64_t revision_buffer_rows = 0;  // revision rows buffered, not yet in month files
  uint64_t revision_log_bytes = 0;    // bytes of revision log a restart replays
  uint64_t folds = 0;                 // folds of the buffer into month files
  double last_fold_seconds = 0;
  uint64_t hours_sealed = 0;
  double last_seal_seconds = 0;
  storage::RollupStoreStats files;
};

// What a rebuild did in one hour of its range, over the series it covered. Every (series, hour)
// bucket compared lands in exactly one of the four counts.
struct RebuildHourCounts {
  int64_t hour = 0;
  uint32_t rebuilt = 0;           // replaced (open) or revised (sealed) from raw samples
  uint32_t unchanged = 0;         // the raw samples give the bucket it already has
  uint32_t kept_imported = 0;     // imported by backfill: never recomputed by a rebuild
  uint32_t kept_without_raw = 0;  // no raw sample left for the hour (retention): kept as it is
};

struct RebuildReport {
  uint64_t series = 0;
  uint64_t hours = 0;  // (series, hour) buckets compared
  uint64_t unchanged = 0;
  uint64_t open_replaced = 0;     // open buckets that differed and were replaced
  uint64_t revisions = 0;         // sealed buckets that differed: a revision each
  uint64_t kept_imported = 0;     // sealed buckets flagged kRowImported, left as they are
  uint64_t kept_without_raw = 0;  // sealed buckets with no raw sample to recompute them from
  std::vector<RebuildHourCounts> by_hour;         // every hour of the range, ascending
  std::vector<storage::RollupRow> first_changes;  // the new rows, at most 32
};

// One hourly quantity imported from another system (`meterctl backfill`): a state metric's
// seconds in one state, a gauge's average level over the hour (its integral is value x 3600),
// or a counter's increase in the hour.
struct ImportedQuantity {
  uint32_t index = 0;  // caller's row number, echoed in refusals
  uint64_t series_id = 0;
  int64_t hour = 0;
  uint32_t state = 0;       // state metrics: the state code (1..7)
  uint64_t value_bits = 0;  // in the series' value type (float gauges: a double)
};

// Which import a request belongs to (`meterctl backfill`, import_journal.h).
struct ImportOptions {
  uint64_t import_id = 0;  // 0: start a new import (its id comes back in the report)
  uint64_t chunk = 0;      // the request's sequence number within the import
  bool dry_run = false;    // count what would change; write nothing, start no import
};

struct ImportReport {
  uint64_t import_id = 0;  // 0 for a dry run
  uint64_t imported = 0;   // buckets written (a revision each); a dry run: would be written
  uint64_t unchanged = 0;  // buckets already equal to the import (re-imports)
  uint64_t refused = 0;    // quantities refused
  // The request's chunk was recorded before and nothing of it needed writing again (a resend
  // after an interruption): the counts are those recorded the first time.
  bool repeated = false;
  std::vector<std::pair<uint32_t, Status>> first_refusals;  // (index, reason), at most 32
};

struct RollbackReport {
  uint64_t restored = 0;  // buckets given back their content from before the import
  // Buckets the import wrote that no longer hold its row (changed since by late data, a
  // rebuild or another import, or never written: a request interrupted by a crash): left as
  // they are.
  uint64_t superseded = 0;
  bool already = false;  // rolled back before (the counts are that rollback's)
  int64_t rolled_back_at = 0;
};

class Downsampler {
 public:
  static Result<std::unique_ptr<Downsampler>> Open(const std::string& dir,
                                                   DownsampleOptions options, storage::Store* store,
                                                   const SeriesRegistry* registry,
                                                   std::vector<std::string>* report);
  ~Downsampler();

  // Hours < sealed_before() are in rollup files; hours < closing_before() take no more
  // in-order samples (a sample for them is late). sealed_before <= closing_before.
  int64_t sealed_before() const;
  int64_t closing_before() const;
  const DownsampleOptions& options() const { return options_; }

  // --- Called by the ingest pipeline, under its lock. ---

  // Durably records samples for closed hours before they are appended; returns an id for Apply.
  Result<uint64_t> MarkLate(const std::vector<LateSample>& samples);
  // Rolls up samples the store has accepted at `lsn`; slots[i] describes batch row i.
  // `suspect` means some rows may have been refused by the store: every row is then recomputed
  // from raw. `late_id` (0 = none) is the MarkLate id of this batch's late samples.
  Status Apply(const storage::SampleBatch& batch, std::span<const SeriesSlot> slots, bool suspect,
               uint64_t late_id, uint64_t lsn);
  // Closes every hour whose grace has passed. Returns the new closing watermark.
  int64_t CloseDue();

  // --- Any thread (the rollup clock, tools, tests). ---

  // Resolves late batches whose WAL group is durable: recomputes and writes revisions.
  Status ProcessLate();
  // Seals every closed hour. Returns the number of hours sealed.
  Result<int> SealDue();
  // Merges hour parts into month files when enough have accumulated (storage/rollup.h).
  Status MergeParts();
  // Recomputes hours [from, to) from raw for the given series (empty = all) and reports what
  // changed, per hour: open buckets are replaced, sealed ones revised (flagged kRowRebuilt).
  // A rebuild never replaces usage it cannot recompute: a sealed bucket flagged kRowImported
  // is kept (its usage came from another system; the raw store has nothing to replace it
  // with), and so is a sealed bucket whose hour has no raw sample left (past raw retention).
  Result<RebuildReport> Rebuild(int64_t from, int64_t to, const std::vector<uint64_t>& series);

  // Imports hourly buckets for sealed hours as revisions flagged imported: idempotent (a bucket
  // equal to its latest revision writes nothing), all of one call written in one synced batch.
  // Quantities of one (series, hour) combine into one bucket (a state metric's states); an
  // unknown series, an hour not aligned or not yet sealed, a state code outside 1..7 or a
  // repeated quantity is refused with its index, and the rest are imported.
  // With an import id (options), the buckets it changes carry the id (RowImportId) and the
  // journal records their previous content before they are logged (import_journal.h).
  Result<ImportReport> Import(const std::vector<ImportedQuantity>& quantities,
                              const ImportOptions& options = {});
  // Rolls back import `import_id`: every bucket it changed that still holds its row gets a new
  // revision with its content from before the import (a revision like any other: the billing
  // clock books the difference of hours already debited as an adjustment). Others are counted
  // as superseded and left alone. `dry_run` counts without writing. NotFound for an unknown id.
  Result<RollbackReport> Rollback(uint64_t import_id, bool dry_run);

  // series: sorted ids, or empty for every series. Hours in [from, to).
  query::RollupView View(const std::vector<uint64_t>& series, int64_t from, int64_t to) const;
  // The revisions of (series, hour), oldest first: every one still buffered; once folded into
  // the month file only the latest is kept (its revision column numbers it). Empty when the
  // bucket was never revised.
  std::vector<storage::RollupRow> Revisions(uint64_t series, int64_t hour) const;
  // Folds the buffered revisions into the month files when at least
  // options().revision_buffer_rows have gathered, or whenever any are buffered with `force`.
  // Called by the writers of revisions after they released the lock; a fold runs without it
  // (readers see the rows being folded until the new month files are published).
  Status FoldRevisions(bool force);
  DownsampleStats stats() const;
  // The revision log's durable mark (RevisionLog::DurableMark, docs/format-rollup.md "Durable
  // revision mark"): two equal marks, even across a restart or a kill -9, mean that no sealed
  // hour was revised between them. Read under the lock under which a revision is logged and
  // made visible, so a revision a mark counts is in every View taken after the mark was read.
  std::string DurableRevisionMark() const;

 private:
  // One series' rollup state. The open buckets live inline (usually one or two: the current
  // hour and the one in its grace period), so the in-order path touches one contiguous object.
  // While the series' HotHour is armed, last_ts / last_value / held_until and open.back()'s
  // mirrored columns are stale: Settle before reading them.
  struct SeriesState {
    uint64_t id = 0;
    uint32_t index = 0;  // registry index (of states_ and hot_)
    SeriesShape shape;
    bool used = false;  // created (states_ is indexed by registry index and has holes)
    // False until the newest sample before anything this process applied has been looked up
    // in the raw store (after a restart, for a counter quiet since before the rebuilt window).
    bool known = false;
    bool has_last = false;
    int64_t last_ts = 0;  // the series' newest sample in the store
    uint64_t last_value = 0;
    int64_t held_until = 0;  // its hold has been credited over [last_ts, held_until)
    boost::container::small_vector<storage::RollupRow, 2> open;  // ascending hour >= watermark_
  };
  struct LateBatch {
    uint64_t lsn;
    uint64_t late_id;  // 0: late only by the store's refusal or a race, no pending record
    std::vector<LateSample> samples;
  };
  Downsampler(DownsampleOptions options, storage::Store* store, const SeriesRegistry* registry);
  int64_t Now() const;

  SeriesState* StateFor(uint64_t series_id, const SeriesSlot& slot);
  SeriesState* StateById(uint64_t series_id);
  void ApplyInOrder(SeriesState* st, int64_t ts, uint64_t value);
  // Arms the series' HotHour when its newest sample's bucket is open.back().
  void Arm(SeriesState* st);
  // Writes an armed HotHour back into the state and its row, and disarms it (and clears a
  // deferral).
  void Settle(SeriesState* st);
  storage::RollupRow* OpenRow(SeriesState* st, int64_t hour);
  Status LoadPrevIfUnknown(SeriesState* st, int64_t before);
  Result<std::vector<RawSample>> LoadRaw(uint64_t series_id, int64_t from, int64_t to);
  Result<std::optional<RawSample>> PrevSample(uint64_t series_id, int64_t before);
  // Recomputes the hours affected by changed samples at `times` of one series.
  Status RecomputeAround(SeriesState* st, std::vector<int64_t> times,
                         std::vector<storage::RollupRow>* new_revisions);
  // Recomputes [from_hour, to_hour] from `samples` (see ComputeBuckets for what they must hold).
  Status RecomputeHours(SeriesState* st, std::span<const RawSample> samples, int64_t from_hour,
                        int64_t to_hour, std::vector<storage::RollupRow>* new_revisions,
                        RebuildReport* report);
  // The current bucket of each sealed (series, hour) in `keys` (sorted, unique): a revision
  // being written, a buffered one, or the files' row (all columns 0 where there is none).
  Result<std::vector<storage::RollupRow>> SealedRows(
      const std::vector<std::pair<uint64_t, int64_t>>& keys) const;
  Result<storage::RollupRow> SealedRow(uint64_t series_id, int64_t hour) const;
  // The latest buffered revision of a key: the active buffer's, else the one being folded.
  const storage::RollupRow* BufferedRow(const std::pair<uint64_t, int64_t>& key) const;
  Status RebuildOpen(std::vector<std::string>* report);
  Status ResolvePending(std::vector<std::string>* report);
  Status WriteRevisions(std::vector<storage::RollupRow>* rows, uint64_t resolved_id);
  Result<ImportReport> ImportLocked(const std::vector<ImportedQuantity>& quantities,
                                    const ImportOptions& options);
  Status ProcessLateBatches();
  Result<RebuildReport> RebuildSeries(int64_t from, int64_t to,
                                      const std::vector<uint64_t>& series);

  const DownsampleOptions options_;
  storage::Store* const store_;
  const SeriesRegistry* const registry_;
  mutable std::mutex mu_;
  std::unique_ptr<storage::RollupStore> rollups_;
  std::unique_ptr<RevisionLog> revisions_;     // GUARDED_BY(mu_)
  std::unique_ptr<ImportJournals> imports_;    // GUARDED_BY(mu_)
  RevisionBuffer buffered_;                    // GUARDED_BY(mu_) revisions logged, not folded
  RevisionBuffer folding_;                     // GUARDED_BY(mu_) the rows a fold is writing
  std::mutex fold_mu_;                         // one fold at a time; taken before mu_
  std::vector<storage::RollupRow> fold_rows_;  // GUARDED_BY(fold_mu_) the rows a fold writes
  Status fold_failed_;           // GUARDED_BY(mu_) a failed fold: no more until restart
  int64_t watermark_ = 0;        // GUARDED_BY(mu_) sealed_before
  int64_t closing_ = 0;          // GUARDED_BY(mu_) closing_before
  ClosingClock closing_clock_;   // GUARDED_BY(mu_) what CloseDue closes by
  uint32_t startup_series_ = 0;  // series defined before Open: only they may have older raw data
  uint64_t last_lsn_ = 0;        // GUARDED_BY(mu_) newest LSN applied
  // Per-series tables by registry index, in chunks of kStateChunk: an element's address stays
  // valid while the table grows, and agents' batches (series in registry order) walk memory
  // sequentially.
  static constexpr uint32_t kStateChunk = 4096;
  template <typename T>
  class ChunkedTable {
   public:
    uint32_t size() const { return static_cast<uint32_t>(chunks_.size()) * kStateChunk; }
    T& operator[](uint32_t i) { return chunks_[i / kStateChunk][i % kStateChunk]; }
    const T& operator[](uint32_t i) const { return chunks_[i / kStateChunk][i % kStateChunk]; }
    void GrowTo(uint32_t n) {
      while (size() < n) chunks_.push_back(std::make_unique<T[]>(kStateChunk));
    }
    template <typename F>
    void ForEachUsed(F&& f) {
      for (auto& c : chunks_)
        for (uint32_t i = 0; i < kStateChunk; ++i)
          if (c[i].used) f(c[i]);
    }
    template <typename F>
    void ForEachUsed(F&& f) const {
      for (const auto& c : chunks_)
        for (uint32_t i = 0; i < kStateChunk; ++i)
          if (c[i].used) f(c[i]);
    }

   private:
    std::vector<std::unique_ptr<T[]>> chunks_;
  };
  ChunkedTable<SeriesState> states_;  // GUARDED_BY(mu_)
  // Hot hours by registry index, flat (the in-order path indexes it twice per sample), the
  // same size as states_; no reference to an element is kept across StateFor.
  std::vector<HotHour> hot_;         // GUARDED_BY(mu_)
  std::deque<LateBatch> late_;       // GUARDED_BY(mu_) ascending lsn
  std::vector<uint32_t> slow_rows_;  // GUARDED_BY(mu_) Apply's scratch: rows for its pass 2
  // Revisions computed in the current Apply/ProcessLate, visible to a second change of the same
  // hour before they reach the log.
  std::map<std::pair<uint64_t, int64_t>, storage::RollupRow> pending_revisions_;  // GUARDED_BY(mu_)
  DownsampleStats stats_;                                                         // GUARDED_BY(mu_)
};

}  // namespace meterd::engine
