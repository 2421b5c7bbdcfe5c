// meterd — engine/downsample/import_journal.h: what each `meterctl backfill` import changed,
// so that it can be rolled back and resumed (docs/format-rollup.md, "Import journals").
//
// Every import has an id (1, 2, ...; never reused) and a journal, <rollup>/imports/import-<id>.log,
// a RecordLog (engine/registry/record_log.h) holding:
//   * begin      when the import started;
//   * undo       for every bucket the import changed, the bucket as it was before (or "none");
//   * chunk      a request of the import applied: its sequence number and its counts;
//   * rollback   the import was rolled back (and what that restored).
// The bucket an import writes carries its id in the flags column (storage/rollup.h,
// RowImportId), so a rollback restores a bucket only while it still holds this import's row:
// usage written since (late data, another import) is never undone by it.
//
// Ordering and crashes: a request's undo and chunk records are synced before its revisions are
// logged. A crash in between leaves undo entries for rows never written: a rollback finds the
// bucket without the import's id and leaves it; a resend of the request imports it again (the
// import compares contents) and records it again.
//
// Memory: the journals of imports used since the start are kept open (at most
// kImportJournalsOpen), each with its chunk counts (24 bytes a request). A journal is read
// whole when it is opened (RecordLog::Open): about 3 bytes a bucket imported into empty hours.
//
// Thread-safety: not synchronised; the Downsampler serialises calls (under its lock).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/registry/record_log.h"
#include "storage/rollup.h"

namespace meterd::engine {

struct ImportChunkCounts {
  uint64_t imported = 0;
  uint64_t unchanged = 0;
  uint64_t refused = 0;
};

struct ImportRollbackMark {
  int64_t at = 0;
  uint64_t restored = 0;
  uint64_t superseded = 0;
};

// One journal entry: a bucket the import changed, as it was before. `prev.col` all zero with
// had_prev false: the bucket did not exist.
struct ImportUndo {
  bool had_prev = false;
  storage::RollupRow prev;  // series_id and hour always set
};

class ImportJournals {
 public:
  // Opens <rollup_dir>/imports (created if missing) and finds the highest id used.
  static Result<std::unique_ptr<ImportJournals>> Open(const std::string& rollup_dir,
                                                      storage::Env* env);

  // Starts a new import: creates its journal (durably) with a begin record. Returns its id.
  Result<uint64_t> Begin(int64_t now);
  // Whether import `id` has a journal.
  bool Exists(uint64_t id);
  // The counts recorded for request `chunk` of import `id`, if it was recorded.
  Result<std::optional<ImportChunkCounts>> Chunk(uint64_t id, uint64_t chunk);
  // Durably records request `chunk` of import `id`: the undo entries of the buckets it is about
  // to change (sorted by (series, hour)) and its counts. One fdatasync.
  Status Record(uint64_t id, uint64_t chunk, const ImportChunkCounts& counts,
                const std::vector<ImportUndo>& undo);
  // Every undo entry of import `id`, in journal order, in batches of at most 2,048. Reads only
  // the file (never the open journals): it may run without the serialising lock, concurrently
  // with the other calls. REQUIRES: Exists(id).
  Status ForEachUndo(uint64_t id, const std::function<Status(std::vector<ImportUndo>&&)>& fn);
  // The rollback recorded for `id`, if any.
  Result<std::optional<ImportRollbackMark>> RolledBack(uint64_t id);
  Status MarkRolledBack(uint64_t id, const ImportRollbackMark& mark);

  uint64_t last_id() const { return last_id_; }
  std::string PathOf(uint64_t id) const;

 private:
  struct Journal {
    std::unique_ptr<RecordLog> log;
    std::unordered_map<uint64_t, ImportChunkCounts> chunks;
    std::optional<ImportRollbackMark> rolled_back;
    uint64_t used = 0;  // for eviction: the newest use wins
  };
  ImportJournals(std::string dir, storage::Env* env, uint64_t last_id)
      : dir_(std::move(dir)), env_(env), last_id_(last_id) {}
  Result<Journal*> Get(uint64_t id);

  const std::string dir_;
  storage::Env* const env_;
  uint64_t last_id_;
  uint64_t uses_ = 0;
  std::map<uint64_t, Journal> open_;
};

// How many journals stay open at once (an import in progress uses one; a resume reopens it).
inline constexpr size_t kImportJournalsOpen = 8;

}  // namespace meterd::engine
