// meterd — engine/ingest/ingest_pipeline.h
//
// IngestPipeline: turns one columnar ingest batch from an authenticated client into an append
// to the store. Per sample it checks, in this order (docs/protocol.md, "Rejections"):
//   1. the series is defined                                   NotFound
//   2. an agent key's hypervisor owns the series               PermissionDenied
//   3. the timestamp is not too far ahead of the clock, nor
//      older than the raw retention                            OutOfRange
//   4. a float gauge's value is finite (no NaN, no ±inf), a state
//      code is 0..7 (what rollups keep seconds for)            InvalidArgument
//   5. a counter sample does not replace a stored one: a second
//      of a counter that already holds another value (in the
//      store, or earlier in the batch) is refused; the same value
//      again (a resend) is taken and changes nothing           InvalidArgument
//      Any counter value is otherwise taken: a decrease, however small, is a reset
//      (docs/metrics.md, "Counters"), so no decrease is refused as noise.
// Bad samples are counted and the first few reasons kept; the batch's good samples are stored.
//
// Resends: (agent, sequence) identifies a batch. The outcome of the last kDedupWindow batches
// of each agent is remembered; a batch seen before is not stored again, and its
// acknowledgement repeats the first one's counts once that batch is durable. A resend older
// than the window, or one that arrives after a server restart, is stored again, which changes
// nothing: the store keeps one value per (series, second), and a resend carries the same values.
//
// Rollups: with a Downsampler, every accepted sample is rolled up after the append, under the
// same mutex (so the downsampler sees the store's append order). A sample for a closed hour is
// recorded durably as late (Downsampler::MarkLate) before it is appended, so the revision it
// causes survives a crash; CloseDue moves the closing watermark under this mutex, so no sample
// is classified against a stale watermark.
//
// Order of an ingest (and where an acknowledgement comes from): validate; MarkLate (durable)
// for samples of closed hours; Store::Append (the WAL queues the record, then the head takes
// the samples: readable from here); roll up; remember (agent, sequence). The service
// (engine/service) then sends the IngestAck from Store::OnDurable, after the fdatasync covering
// the record; if the sync fails it fails the connection instead, and the client resends. When
// Store::Append fails nothing was stored and the batch is not remembered for deduplication, so
// its resend is stored; IsFinalIngestRefusal says which errors the client must not resend.
//
// Counter seconds: why rule 5. The store keeps the last value written for a second, and a
// counter's increase is made of its samples' deltas: replacing a value can erase an increase
// already counted (0, 1000, 5 is an increase of 1005; rewriting 1000 as 0 leaves 5), while
// adding a sample never lowers a counter's total increase. So a counter second, once stored,
// keeps its first value. The check costs nothing in order: per series the pipeline knows the
// newest stored second, and only a sample at or before it (a resend, a backlog, late data) or
// the first sample of a series since the start is looked up in the store, with one Scan per
// batch over those series from the oldest such second on.
//
// Thread-safety: thread-safe. Batches are validated and appended under one mutex, which keeps
// per-series counter state exact and costs little: the store serialises appends anyway.
#pragma once

#include <array>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/auth/key_store.h"
#include "engine/downsample/downsampler.h"
#include "engine/registry/series_registry.h"
#include "storage/store.h"

namespace meterd::engine {

struct IngestRequest {
  std::string_view agent;
  uint64_t sequence = 0;
  int64_t base_time = 0;
  std::span<const uint64_t> series;
  std::span<const uint32_t> offsets;
  std::span<const uint64_t> values;
};

// Why a sample was refused, for the rejection counters /metrics reports per reason.
enum class RejectReason : uint8_t {
  kUnknownSeries,    // the series id is not defined
  kForeignSeries,    // an agent sent a series of another hypervisor
  kOutOfRange,       // too far in the future, or older than the raw retention
  kNotFinite,        // a float value that is NaN or infinite
  kBadState,         // a state code outside 0..7
  kCounterConflict,  // a counter second that already holds another value
  kStore,            // refused by the store (storage::Store::Append)
  kCount
};
constexpr size_t kRejectReasons = static_cast<size_t>(RejectReason::kCount);
// "unknown_series", "foreign_series", "out_of_range", "not_finite", "bad_state",
// "counter_conflict", "store".
const char* RejectReasonName(RejectReason reason);

struct IngestOutcome {
  uint64_t lsn = 0;         // wait for this before acknowledging (0: nothing to wait for)
  std::string dedup_agent;  // the batch's identity with its sequence (see Forget)
  uint32_t accepted = 0;
  uint32_t rejected = 0;
  bool duplicate = false;
  std::vector<storage::SampleRejection> first_rejections;
  std::array<uint32_t, kRejectReasons> rejected_by_reason{};  // sums to `rejected` (not dups)
};

// Per-connection lookups reused across batches: agents send the same series column every
// second, so a batch whose series column hashes like the previous one skips the registry.
struct IngestSessionCache {
  uint64_t generation = UINT64_MAX;
  uint64_t series_hash = 0;
  size_t series_count = 0;
  uint32_t owner = 0;
  std::vector<SeriesSlot> slots;
};

struct IngestCounters {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  uint64_t duplicate_batches = 0;
  uint64_t batches = 0;
  std::array<uint64_t, kRejectReasons> rejected_by_reason{};  // sums to `rejected`
};

// True when an Ingest error refuses the batch for good: a bad request, or a key that may not
// send it. The client learns why in the batch's acknowledgement and does not resend it. Any
// other error stored nothing and is retryable (Unavailable: the store is closed or closing;
// IOError: the disk failed; Busy): the connection is failed, and the client reconnects and
// resends every unacknowledged batch.
bool IsFinalIngestRefusal(const Status& status);

class IngestPipeline {
 public:
  static constexpr size_t kDedupWindow = 4096;

  // `downsampler` may be null (no rollups: tools and tests of ingest alone).
  IngestPipeline(storage::Store* store, const SeriesRegistry* registry,
                 Downsampler* downsampler = nullptr)
      : store_(store), registry_(registry), downsampler_(downsampler) {}

  // Validates and appends. An error status means nothing was stored (e.g. the store failed);
  // per-sample problems are in the outcome.
  Result<IngestOutcome> Ingest(const Principal& who, const IngestRequest& request,
                               IngestSessionCache* cache);

  // Forgets batch (agent, sequence) when it is still remembered with `lsn`: its WAL group was
  // never made durable (a full disk, a failed fdatasync), so it was never acknowledged, and its
  // resend must be appended again instead of repeating the failed group's outcome.
  void Forget(const std::string& agent, uint64_t sequence, uint64_t lsn);

  IngestCounters counters() const;

  // Closes the hours whose grace has passed (Downsampler::CloseDue) under the ingest lock.
  // Returns the closing watermark (0 without a downsampler).
  int64_t CloseDue();

  // Runs `fn` under the ingest lock: no batch is appended to the store or applied to the
  // rollups meanwhile (an online backup's point in time). Returns what `fn` returns.
  Status WhilePaused(const std::function<Status()>& fn);

 private:
  struct CounterState {
    int64_t newest = INT64_MIN;  // the series' newest stored second, once known
    bool known = false;          // newest has been looked up in the store since the start
  };
  struct DedupEntry {
    uint64_t lsn;
    uint32_t accepted;
    uint32_t rejected;
  };

  void RefreshCache(const Principal& who, const IngestRequest& request, IngestSessionCache* cache);
  // Rule 5 for the batch_ rows in counter_checks_: refuses (into `out`) and removes from batch_
  // every counter sample whose second already holds another value, and learns the newest
  // stored second of their series. REQUIRES: mu_ held.
  Status CheckCounterSeconds(const IngestSessionCache& cache, IngestOutcome* out);

  storage::Store* store_;
  const SeriesRegistry* registry_;
  Downsampler* downsampler_;
  std::mutex mu_;
  std::vector<CounterState> counters_state_;  // GUARDED_BY(mu_) by series index
  std::unordered_map<std::string, std::map<uint64_t, DedupEntry>> dedup_;  // GUARDED_BY(mu_)
  storage::SampleBatch batch_;            // GUARDED_BY(mu_) reused buffer
  std::vector<uint32_t> batch_rows_;      // GUARDED_BY(mu_) batch_ row -> request index
  std::vector<SeriesSlot> batch_slots_;   // GUARDED_BY(mu_) batch_ row -> its series' slot
  std::vector<LateSample> late_;          // GUARDED_BY(mu_) reused buffer
  std::vector<uint32_t> counter_checks_;  // GUARDED_BY(mu_) batch_ rows rule 5 must look up
  std::atomic<uint64_t> accepted_{0}, rejected_{0}, duplicates_{0}, batches_{0};
  std::array<std::atomic<uint64_t>, kRejectReasons> rejected_by_reason_{};
};

}  // namespace meterd::engine
