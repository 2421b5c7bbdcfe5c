// meterd — engine/downsample/revision_log.h
//
// RevisionLog: the durable record of late data and imported buckets (docs/format-rollup.md,
// "Revision log"), a sequence of RecordLogs (engine/registry/record_log.h) in <dir>/rollup,
// revisions-<seq>.log, with three records:
//   kPending   id, then (series, second) pairs: late samples about to be appended to the store
//   kRevision  a whole bucket row whose revision column is n >= 1: it replaces revision n-1
//   kResolved  id: the pending samples with that id have been rolled into revisions
// A pending record is synced before its samples reach the WAL, so after a crash at any point
// the engine knows which sealed hours may be stale and recomputes them from raw data; since a
// recomputation that changes nothing writes nothing, doing it twice is harmless. After damage
// in the middle of the log (RecordLog keeps the intact records after it), resolutions that
// follow the damage are ignored once, so their pending samples are recomputed.
//
// The log is a write-ahead log for revision rows, not their home: it keeps no row in memory.
// The Downsampler buffers the rows and folds them into the month files (RollupStore::
// FoldRevisions) once enough have gathered: it rotates to a new log first (Rotate), folds the
// rows of the older logs, whose manifest then names the new log as the first to replay, and
// drops the older logs (DropBefore). A restart replays only the logs from the manifest's
// revision_log on: at most one buffer's worth of rows.
//
// Thread-safety: not synchronised; the Downsampler serialises calls.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/registry/record_log.h"
#include "storage/rollup.h"

namespace meterd::engine {

struct LateSample {
  uint64_t series_id;
  int64_t ts;
};

// Reduces late samples to the first and last second of each series (sorted by series): the
// hours a recomputation must cover follow from those two, so pending records and queued late
// batches stay at most two entries per series however many samples arrive late.
void CoalesceLate(std::vector<LateSample>* samples);

// The name of revision log `seq` in the rollup directory: "revisions.log" for 0 (the one log of
// a store written before issue 18), "revisions-<seq>.log" from 1 on.
std::string RevisionLogName(uint64_t seq);

class RevisionLog {
 public:
  // Called at Open with the rows of each revision record, in log order (oldest log first).
  using RowSink = std::function<Status(std::vector<storage::RollupRow>&& rows)>;

  // Opens the revision logs of `rollup_dir` from sequence `first` on (the manifest's
  // revision_log: the older ones are folded into month files, and are deleted here), replaying
  // them oldest first: revision rows go to `sink`, pending records are kept. Appends go to the
  // newest log (a new one, max(first, 1), if none exists). Damage is described in *damage.
  // Every file operation goes through `env`.
  static Result<std::unique_ptr<RevisionLog>> Open(const std::string& rollup_dir, uint64_t first,
                                                   const RowSink& sink, std::string* damage,
                                                   storage::Env* env = storage::Env::Default());

  // Durably records late samples; returns the id to resolve later.
  Result<uint64_t> AddPending(const std::vector<LateSample>& samples);
  // Durably records revisions (and, when id != 0, that pending `id` is resolved).
  Status AddRevisions(const std::vector<storage::RollupRow>& rows, uint64_t resolved_id);
  // Durably records that the pending ids are resolved (one synced append).
  Status Resolve(const std::vector<uint64_t>& ids);

  // Starts log seq() + 1 (created and its name synced) holding every unresolved pending
  // record, and appends there from now on. Returns the new sequence number. The rows of the
  // older logs are the caller's to fold (RollupStore::FoldRevisions) before DropBefore.
  Result<uint64_t> Rotate();
  // Deletes the logs below `seq` (folded: the manifest says so). REQUIRES: seq <= seq().
  Status DropBefore(uint64_t seq);
  uint64_t seq() const { return seq_; }
  // Bytes in the logs not yet dropped.
  uint64_t bytes() const;

  // The durable revision mark (docs/format-rollup.md, "Durable revision mark"):
  // "<seq>:<bytes of log seq>", plus ":repaired" when Open rewrote log seq without damaged
  // ranges. Every append that returned (a revision, a pending or a resolved record; all synced
  // before they return, so before what they record is acknowledged or visible) grows the
  // newest log, and Rotate moves to a higher seq, so two equal marks, in one process or across
  // a restart, mean that nothing was appended between them. A crash cannot take back an append
  // that returned, and a torn append that never returned is cut by the next Open (RecordLog),
  // which restores the size the mark had; damage that Open repairs shrinks the log, which the
  // suffix keeps from ever matching a mark of before.
  std::string DurableMark() const;

  // Pending samples not yet resolved (after a crash), by id.
  const std::map<uint64_t, std::vector<LateSample>>& unresolved() const { return pending_; }
  void ForgetResolved(uint64_t id) { pending_.erase(id); }
  // Revision rows replayed at Open.
  uint64_t replayed_rows() const { return replayed_rows_; }

 private:
  RevisionLog() = default;
  Status Replay(std::string_view record, bool after_damage, const RowSink& sink);

  std::string dir_;
  storage::Env* env_ = nullptr;
  uint64_t seq_ = 0;                          // the log appended to
  std::map<uint64_t, uint64_t> older_bytes_;  // logs below seq_ not dropped yet: their sizes
  std::unique_ptr<RecordLog> log_;
  uint64_t next_id_ = 1;
  uint64_t replayed_rows_ = 0;
  bool repaired_ = false;  // Open rewrote log seq_ without damaged ranges
  std::map<uint64_t, std::vector<LateSample>> pending_;
};

}  // namespace meterd::engine
