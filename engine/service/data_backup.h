// meterd — engine/service/data_backup.h
//
// BackupDataDir: a consistent online backup of a running meterd's data directory (`meterctl
// backup --to DIR`). Everything is taken at one point in time, with meterd serving: the rollup
// clock is paused between passes, the ingest lock is held (no batch is appended or applied to
// the rollups), flushes and retention wait, and every record already appended is made durable
// in the WAL. Then, under those pauses,
//   * immutable files (store segments *.seg, rollup hour parts *.mrp and month files *.mru) are
//     hard-linked into the backup (copied when the backup is on another file system);
//   * every other file (MANIFEST, WAL files, QUARANTINE, ROLLUP, revision logs, the registries'
//     record logs, keys.json, admin.key, ...) is copied as it is on disk;
//   * billing.db is copied through SQLite's online backup API (one committed state);
// skipping LOCK files, *.tmp files, and billing.db's own -wal/-shm/-journal. The pauses end, and
// the copied files and directories are fsynced before the backup is reported done.
// The copy is what a crash of meterd at that moment would leave, minus nothing: `meterd
// --data-dir DIR` recovers it as after a restart (the WAL is replayed into the head, open
// rollup hours are rebuilt from the raw samples) and serves the data as of the backup point.
// Registries are append-only record logs defined outside the ingest lock: a series defined
// during the copy may or may not be in the backup (a torn last record is cut at open).
//
// Thread-safety: call from any thread but the io threads; one backup at a time is enough (a
// second waits for the first's pauses).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "engine/ingest/ingest_pipeline.h"
#include "engine/ingest/rollup_clock.h"
#include "engine/tenancy/billing_db.h"
#include "storage/store.h"

namespace meterd::engine {

struct BackupSources {
  std::string data_dir;
  storage::Store* store = nullptr;           // required
  IngestPipeline* ingest = nullptr;          // required
  RollupClock* rollup_clock = nullptr;       // null: rollups off
  tenancy::BillingDb* billing_db = nullptr;  // null: no billing.db to copy
};

struct BackupReport {
  uint64_t files = 0;         // files in the backup
  uint64_t linked = 0;        // of them, hard links
  uint64_t copied_bytes = 0;  // bytes copied (billing.db included)
  std::chrono::microseconds paused{0};
};

// Writes the backup into `to`, which must not exist (its parent must) and must not lie inside
// the data directory. InvalidArgument for a bad `to`; on any failure the partial backup is
// removed.
Result<BackupReport> BackupDataDir(const BackupSources& sources, const std::string& to);

}  // namespace meterd::engine
