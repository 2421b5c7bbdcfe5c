// meterd — storage/store.h
//
// Store: the append-only time-series store. A write goes to the WAL (group commit) and into the
// compressed in-memory head; a full or old head is frozen and flushed into immutable columnar
// segments, one per time partition, published by an atomic manifest switch, after which the WAL
// files it covered are deleted. Reads merge segments and heads.
//
// Duplicates: the store keeps one value per (series, second): the one written last. "Last" is
// WAL order (LSN), which is also head order; a head is newer than every segment, and a segment
// with a higher id is newer than one with a lower id. Replaying the same records again (after a
// crash between a segment's publication and its WAL's deletion) therefore changes nothing.
//
// Durability: Append returns an LSN; the samples are durable once WaitDurable(lsn) returns OK
// (or OnDurable fires). Reads may see samples whose WAL group is still syncing; a crash before
// the sync (or a failed sync) loses them, and they were never acknowledged.
//
// Order of a write: (1) Append queues the batch's record in the WAL, then (2) inserts its
// samples into the head, both under one mutex; (3) the WAL's group commit writes and
// fdatasyncs the record; (4) the caller acknowledges from OnDurable (the ingest path,
// engine/service, sends the IngestAck only then). A batch the WAL does not take never reaches
// the head: once the WAL has failed, every later Append fails with IOError ("WAL failed
// earlier: ...") until the store is reopened, so reads never serve a sample a restart would
// not have beyond the group whose sync failed. A closed store answers Unavailable (retry later,
// elsewhere), never InvalidArgument (which the ingest path treats as a final refusal).
//
// Thread-safety: every method is thread-safe. Appends are serialised by one mutex (WAL order ==
// head order); scans run concurrently with appends and flushes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "storage/base/result.h"
#include "storage/base/status.h"
#include "storage/options.h"
#include "storage/sample_batch.h"

namespace meterd::storage {

// Why one sample of a batch was refused (the rest of the batch is kept).
struct SampleRejection {
  uint32_t index;  // in the batch
  Status reason;   // OutOfRange (future / past retention), InvalidArgument (type change)
};

struct AppendResult {
  uint64_t lsn = 0;  // 0 when nothing was accepted (nothing to wait for)
  uint32_t accepted = 0;
  uint32_t rejected = 0;
  std::vector<SampleRejection> first_rejections;  // at most kMaxReportedRejections
};
constexpr size_t kMaxReportedRejections = 8;

struct ScanRequest {
  std::vector<uint64_t> series;  // empty = every series
  int64_t from = INT64_MIN;      // inclusive
  int64_t to = INT64_MAX;        // exclusive
};

// Called for consecutive runs of one series' samples: runs of a series arrive together, in
// ascending time, without duplicates; series arrive in ascending id order. The spans are valid
// only during the call.
using ScanVisitor =
    std::function<void(uint64_t series_id, ValueType type, std::span<const int64_t> ts,
                       std::span<const uint64_t> values)>;

struct ScanStats {
  uint64_t samples = 0;
  uint64_t series = 0;
  uint64_t blocks_read = 0;
  // Blocks that failed verification (now quarantined) or were already quarantined: their data
  // was not served. Each entry names the file, offset and series.
  std::vector<std::string> damaged;
};

struct RecoveryReport {
  uint64_t wal_files = 0;
  uint64_t wal_records = 0;
  uint64_t wal_samples = 0;
  std::vector<std::string> wal_damage;      // file, offset, bytes, torn tail or not
  std::vector<std::string> segment_damage;  // segments salvaged or unreadable
  uint64_t orphan_files_removed = 0;        // segment files a crash left unpublished
  double seconds = 0;
};

struct StoreStats {
  uint64_t segments = 0;
  uint64_t segment_bytes = 0;
  uint64_t segment_samples = 0;
  uint64_t head_samples = 0;  // live head + the one being flushed
  uint64_t head_series = 0;
  uint64_t head_memory_bytes = 0;
  uint64_t wal_bytes = 0;  // on disk (files are preallocated)
  uint64_t appended_samples = 0;
  uint64_t rejected_samples = 0;
  uint64_t flushes = 0;
  uint64_t quarantined_blocks = 0;
  uint64_t partitions_dropped = 0;
  const char* io_backend = "";
};

class Store {
 public:
  // Opens or creates the store in options.dir: reads the manifest, opens and verifies every
  // segment's footer (a damaged one is salvaged or quarantined and reported), removes files a
  // crash left unpublished, and replays the WAL into the head.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();  // Close()s
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Validates, logs and buffers a batch (logged first; see "Order of a write"). Bad samples are
  // refused and counted; good ones kept. May block while the head is over budget and a flush is
  // running (backpressure). Errors store nothing: Unavailable (closed), IOError (the WAL failed,
  // now or earlier), ResourceExhausted (the disk is full: the WAL, or the flush a full head
  // waits for), Busy (the head is full and flushing fails otherwise).
  Result<AppendResult> Append(const SampleBatch& batch);
  Status WaitDurable(uint64_t lsn);
  void OnDurable(uint64_t lsn, std::function<void(const Status&)> done);
  // Append + WaitDurable.
  Result<AppendResult> AppendDurable(const SampleBatch& batch);

  // Flushes the head into segments now and returns when they are published. A full disk is
  // ResourceExhausted (nothing published; the background flusher retries by itself).
  Status Flush();
  // Drops the raw partitions that ended before now - retention_seconds.
  Status EnforceRetention();

  // Runs `fn` with the store's files still: no flush or retention runs meanwhile (the
  // manifest, segment set and WAL file set stay as they are), and every record appended before
  // the call is durable in the WAL first. Appends are not held back (pause the caller's ingest
  // for that). For an online backup: segments are immutable (hard links), the rest is copied.
  Status WithFilesStill(const std::function<Status()>& fn);

  // Visits the samples matching `request` (see ScanVisitor). A damaged block is reported in
  // stats->damaged, quarantined, and skipped; the scan goes on and returns OK.
  Status Scan(const ScanRequest& request, const ScanVisitor& visit, ScanStats* stats = nullptr);

  StoreStats stats() const;
  const RecoveryReport& recovery_report() const;
  const StoreOptions& options() const;

  // Flushes (if flush_on_close), syncs and closes. Idempotent.
  Status Close();

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meterd::storage
