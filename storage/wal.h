// meterd — storage/wal.h
//
// The write-ahead log: segmented, preallocated files under one directory, each record framed in
// 32 KiB blocks like LevelDB's log (FULL/FIRST/MIDDLE/LAST fragments, zero-filled block tails)
// with an XXH3 checksum over type, length, file number and payload (docs/format-wal.md).
//
// Group commit: any number of threads Append records; one sync thread takes everything queued,
// frames it, and writes it with a single write + fdatasync (io_uring linked WRITE+FSYNC, or
// pwrite + fdatasync). A record is *durable* only once the sync covering it has returned;
// WaitDurable/OnDurable report exactly that.
//
// Thread-safety: WalWriter is thread-safe. Replay functions are not meant to run concurrently
// with a writer on the same files.
// Invariants:
//   1. LSNs are assigned 1, 2, 3, ... in Append order, and records reach disk in LSN order.
//   2. durable_lsn() never decreases; every record with lsn <= durable_lsn() has been fdatasync'ed.
//   3. Pending (appended, not yet written) bytes never exceed max_pending_bytes + one record:
//      Append blocks until the sync thread catches up (backpressure).
//   4. After an I/O error the writer is failed for good: WaitDurable on a record not yet durable
//      returns the error; every later Append and Rotate returns IOError "WAL failed earlier:
//      ..." naming it. A closed writer's Append and Rotate return Unavailable.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/base/result.h"
#include "storage/base/status.h"
#include "storage/io/file.h"

namespace meterd::storage {

struct WalOptions {
  std::string dir;                       // holds <16-digit number>.wal files
  uint64_t file_size = 64ull << 20;      // preallocated size; a full file rotates to the next
  size_t max_pending_bytes = 32u << 20;  // bound on queued, unwritten bytes (backpressure)
  IoBackend backend = IoBackend::kAuto;
  Env* env = Env::Default();  // every file operation goes through it
  // Called by the sync thread after each group write and its fdatasync succeeded, with the time
  // the two took (meterd's /metrics histogram). Must be cheap and must not call back into the
  // writer. Empty: nothing is timed.
  std::function<void(std::chrono::nanoseconds)> sync_observer;
};

// Path of WAL file `number` in `dir`.
std::string WalFileName(const std::string& dir, uint64_t number);

struct WalStats {
  uint64_t records = 0;
  uint64_t payload_bytes = 0;
  uint64_t written_bytes = 0;  // including headers and block padding
  uint64_t syncs = 0;
  uint64_t durable_lsn = 0;
};

class WalWriter {
 public:
  // Starts writing at file `first_number` (created, preallocated). The directory must exist.
  static Result<std::unique_ptr<WalWriter>> Open(const WalOptions& options, uint64_t first_number);
  ~WalWriter();  // Close()s if not closed
  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

  // Queues `record` (any size; copied) and returns its LSN. Blocks while the queue is full.
  Result<uint64_t> Append(std::string_view record);
  // Blocks until the record `lsn` (and all before it) is durable, or the writer failed.
  Status WaitDurable(uint64_t lsn);
  // Runs `done(status)` on the sync thread once `lsn` is durable (immediately, on the calling
  // thread, if it already is). `done` must not call back into this writer's blocking methods.
  void OnDurable(uint64_t lsn, std::function<void(const Status&)> done);
  uint64_t durable_lsn() const;
  uint64_t last_lsn() const;

  // Records appended after this call go to a new file; returns that file's number. Every file
  // with a smaller number holds only records appended before the call.
  Result<uint64_t> Rotate();
  // The number of the file being written now.
  uint64_t current_file_number() const;

  // Makes everything appended so far durable, stops the sync thread, closes the file.
  Status Close();
  WalStats stats() const;
  IoBackend backend() const;

  // Test hook: the largest number of pending (appended, unwritten) payload bytes ever queued.
  uint64_t TEST_pending_high_water() const;

 private:
  struct Impl;
  explicit WalWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A damaged range found while replaying.
struct WalDamage {
  std::string file;
  uint64_t offset = 0;     // first byte of the dropped range
  uint64_t bytes = 0;      // length of the dropped range
  bool torn_tail = false;  // true: the file's last write was incomplete and has been cut;
                           // false: corruption in the middle, reported and skipped
  std::string reason;
};

struct WalReplayResult {
  std::vector<uint64_t> file_numbers;  // replayed, ascending
  uint64_t records = 0;
  uint64_t payload_bytes = 0;
  std::vector<WalDamage> damage;
};

// Replays every WAL file in `dir` whose number is >= min_number, in number order, calling
// `fn(file_number, record)` for each intact record in order. Never passes a record whose checksum
// fails. A torn tail (a bad record with no good record after it in that file) is cut: the file
// is truncated to the end of its last good record. Corruption in the middle is reported in
// damage and skipped (reading resumes at the next 32 KiB block). An error returned by fn stops
// the replay and is returned.
Result<WalReplayResult> ReplayWal(const std::string& dir, uint64_t min_number,
                                  const std::function<Status(uint64_t, std::string_view)>& fn,
                                  Env* env = Env::Default());

// Numbers of the WAL files present in `dir`, ascending.
Result<std::vector<uint64_t>> ListWalFiles(const std::string& dir, Env* env = Env::Default());

}  // namespace meterd::storage
