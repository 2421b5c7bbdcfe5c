// meterd — engine/downsample/revision_log.h
//
// RevisionLog: the durable record of late data (docs/format-rollup.md, "Revision log"), a
// RecordLog (engine/registry/record_log.h) at <dir>/rollup/revisions.log with three records:
//   kPending   id, then (series, second) pairs: late samples about to be appended to the store
//   kRevision  a whole bucket row whose revision column is n >= 1: it replaces revision n-1
//   kResolved  id: the pending samples with that id have been rolled into revisions
// A pending record is synced before its samples reach the WAL, so after a crash at any point
// the engine knows which sealed hours may be stale and recomputes them from raw data; since a
// recomputation that changes nothing writes nothing, doing it twice is harmless. After damage
// in the middle of the log (RecordLog keeps the intact records after it), resolutions that
// follow the damage are ignored once, so their pending samples are recomputed.
//
// Thread-safety: not synchronised; the Downsampler serialises calls.
#pragma once

#include <cstdint>
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

class RevisionLog {
 public:
  static Result<std::unique_ptr<RevisionLog>> Open(const std::string& path, std::string* damage,
                                                   storage::Env* env = storage::Env::Default());

  // Durably records late samples; returns the id to resolve later.
  Result<uint64_t> AddPending(const std::vector<LateSample>& samples);
  // Durably records revisions (and, when id != 0, that pending `id` is resolved).
  Status AddRevisions(const std::vector<storage::RollupRow>& rows, uint64_t resolved_id);
  // Durably records that the pending ids are resolved (one synced append).
  Status Resolve(const std::vector<uint64_t>& ids);

  // Pending samples not yet resolved (after a crash), by id.
  const std::map<uint64_t, std::vector<LateSample>>& unresolved() const { return pending_; }
  void ForgetResolved(uint64_t id) { pending_.erase(id); }

  // Every revision of (series, hour), oldest first.
  using Key = std::pair<uint64_t, int64_t>;
  const std::map<Key, std::vector<storage::RollupRow>>& revisions() const { return revisions_; }
  uint64_t revision_count() const { return revision_count_; }

 private:
  RevisionLog() = default;
  Status Replay(std::string_view record, bool after_damage);

  std::unique_ptr<RecordLog> log_;
  uint64_t next_id_ = 1;
  uint64_t revision_count_ = 0;
  std::map<uint64_t, std::vector<LateSample>> pending_;
  std::map<Key, std::vector<storage::RollupRow>> revisions_;
};

}  // namespace meterd::engine
