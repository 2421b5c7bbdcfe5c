// meterd — storage/store/store_impl.h
//
// The state behind Store (storage/store.h), shared by store.cc (open, recovery, close),
// store_write.cc (append, flush, retention) and store_scan.cc (reads).
//
// Locking: `mu` guards the live head, the flushing head, the segment set, the manifest copy and
// the quarantine set. `flush_mu` serialises flushes and retention (the two manifest writers);
// it is always taken before `mu`, never while holding it. The WAL has its own lock and is
// appended to under `mu`, before the head insert, so WAL order equals head order and the head
// holds only samples the WAL took.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/head/head.h"
#include "storage/manifest/manifest.h"
#include "storage/segment.h"
#include "storage/store.h"
#include "storage/wal.h"

namespace meterd::storage {

struct LiveSegment {
  SegmentRecord record;
  std::shared_ptr<SegmentReader> reader;
};

struct Store::Impl {
  StoreOptions options;
  std::unique_ptr<FileLock> lock;  // the directory's LOCK, held while open
  std::unique_ptr<WalWriter> wal;
  RecoveryReport report;

  std::mutex flush_mu;  // serialises Flush and EnforceRetention

  mutable std::mutex mu;
  std::condition_variable state_cv;  // signalled when a flush ends (backpressure waiters)
  std::condition_variable flusher_cv;
  std::unique_ptr<Head> head;       // GUARDED_BY(mu)
  std::shared_ptr<const Head> imm;  // GUARDED_BY(mu): frozen, being flushed
  int64_t head_started = 0;         // GUARDED_BY(mu): clock when head got its first sample
  Manifest manifest;                // GUARDED_BY(mu); written with flush_mu held too
  std::shared_ptr<const std::vector<LiveSegment>> segments;  // GUARDED_BY(mu); copy-on-write
  std::set<std::pair<uint64_t, uint64_t>> quarantined;       // GUARDED_BY(mu): (segment, offset)
  bool flush_requested = false;                              // GUARDED_BY(mu)
  bool stopping = false;                                     // GUARDED_BY(mu)
  bool closed = false;                                       // GUARDED_BY(mu)
  Status background_error;  // GUARDED_BY(mu): last background flush failure

  std::thread flusher;

  std::atomic<uint64_t> appended_samples{0};
  std::atomic<uint64_t> rejected_samples{0};
  std::atomic<uint64_t> flushes{0};
  std::atomic<uint64_t> partitions_dropped{0};

  int64_t Now() const { return options.now(); }
  int64_t PartitionOf(int64_t ts) const {
    const int64_t p = options.partition_seconds;
    return (ts >= 0 ? ts / p : (ts - p + 1) / p) * p;  // floor, also before 1970
  }

  // store_write.cc
  Status FlushLocked();      // REQUIRES: flush_mu held
  Status RetentionLocked();  // REQUIRES: flush_mu held
  void FlusherLoop();
  // store_scan.cc
  void Quarantine(const LiveSegment& seg, uint64_t offset, const std::string& what);
  Status LoadQuarantine();
  Status AppendLine(const std::string& path, const std::string& line);
};

}  // namespace meterd::storage
