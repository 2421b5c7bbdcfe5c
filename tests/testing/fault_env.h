// meterd — tests/testing/fault_env.h
//
// FaultEnv: a storage::Env for tests that wraps another one (the real POSIX Env by default,
// io_uring included) and can, at any file operation,
//   * cut the power: the operation and every later mutating one fail with IOError ("simulated
//     power loss"); SimulatePowerLoss() then undoes, on disk, everything the durability
//     contract of storage/io/file.h does not promise: unsynced writes, truncations and
//     preallocations (file data), and unsynced creations, renames, removals and mkdirs
//     (directory entries) — LevelDB's fault_injection_test, extended to positional writes;
//   * tear the write it cuts at any byte (the first `torn_bytes` reach the file);
//   * return an error (EIO, ENOSPC, ...) from chosen kinds of operation, on chosen paths, for a
//     chosen number of times (disk full, a failing disk, a failed fsync);
//   * slow chosen kinds of operation down (a saturated disk).
// It counts mutating operations (Op below; reads are not counted), so a test can run a scenario
// once to learn how many there are and then cut at each one.
//
// Not linked into meterd: built only into the test binaries (target meterd_fault_env).
//
// Power-loss model. A global journal records, for each mutating operation, how to undo it: a
// write keeps the bytes it overwrote and the file's old size; a create, rename or remove keeps
// what the directory held before (a removed or replaced file is kept as a hard link in a
// private trash directory). A file Sync marks that file's data entries durable; a SyncDir marks
// the directory-entry entries of that directory durable. SimulatePowerLoss(kDropUnsynced)
// applies the undo of every non-durable entry, newest first, so the disk looks as after a power
// cut at that moment with the most pessimistic cache (nothing unsynced survived).
// kKeepUnsynced undoes nothing (a kill -9: the page cache survives), so only a torn write shows.
//
// Thread-safety: thread-safe (one mutex). Files opened through it must be closed (or
// destroyed) before SimulatePowerLoss.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/io/file.h"

namespace meterd::testing {

// Kinds of mutating operation, as bits of a mask.
enum Op : uint32_t {
  kOpWrite = 1,          // File::WriteAt, and the write of WriteAtAndSync
  kOpSync = 2,           // File::Sync, and the sync of WriteAtAndSync
  kOpCreate = 4,         // OpenFile with kCreateTruncate
  kOpRename = 8,         // RenameFile
  kOpRemove = 16,        // RemoveFile, RemoveDir
  kOpSyncDir = 32,       // SyncDir
  kOpMkdir = 64,         // CreateDir
  kOpTruncate = 128,     // File::Truncate
  kOpPreallocate = 256,  // File::Preallocate
  kOpRead = 512,         // File::ReadAt, ListDir, Stat: never counted nor cut; only SetDelay
};
constexpr uint32_t kAllOps = 511;  // the mutating ones
const char* OpName(uint32_t op);

enum class PowerLossMode {
  kDropUnsynced,  // a power cut: every unsynced write and directory change is lost
  kKeepUnsynced,  // a process crash: everything that reached the kernel stays
};

// An error returned from matching operations.
struct ErrorRule {
  uint32_t ops = 0;             // mask of Op
  int err = 0;                  // errno, e.g. EIO or ENOSPC
  std::string path_contains;    // only operations on paths containing this (empty: any)
  uint64_t skip = 0;            // let this many matching operations through first
  uint64_t times = UINT64_MAX;  // then fail this many (UINT64_MAX: until cleared)
};

class FaultEnv : public storage::Env {
 public:
  // `base` is not owned. The trash directory (for undoing removals and replacing renames, kept
  // as hard links) is created under `scratch_parent` (empty: $TMPDIR or /tmp), which must be on
  // the file system of the files under test, and is removed by the destructor.
  explicit FaultEnv(storage::Env* base = storage::Env::Default(), std::string scratch_parent = "");
  ~FaultEnv() override;
  FaultEnv(const FaultEnv&) = delete;
  FaultEnv& operator=(const FaultEnv&) = delete;

  // ---- Faults. ----
  // The `n`-th mutating operation from now on (1 = the next one) and every later one fail: the
  // power is cut there. If operation n is a write and torn_bytes >= 0, its first
  // min(torn_bytes, size) bytes reach the file first (a torn write).
  void CrashAtOp(uint64_t n, int64_t torn_bytes = -1);
  // Cuts the power now (every later mutating operation fails).
  void CrashNow();
  bool crashed() const;
  void AddErrorRule(const ErrorRule& rule);
  void ClearErrorRules();
  // Every operation of a kind in `ops` sleeps `delay` first.
  void SetDelay(uint32_t ops, std::chrono::microseconds delay);
  // Every mutating operation of a kind in `ops` on a path containing `path_contains` waits
  // (before it is counted or cut) until ReleaseHeld(): a disk that stalls, for tests that must
  // show what goes on while an operation is provably stuck (held() says how many wait now).
  void Hold(uint32_t ops, std::string path_contains);
  void ReleaseHeld();
  uint64_t held() const;

  // Undoes what a power loss (or crash) at this moment would lose, per `mode`, then clears the
  // crash and the journal: the Env is healthy again, for the recovery that follows.
  // REQUIRES: every File opened through this Env for writing is closed or destroyed.
  Status SimulatePowerLoss(PowerLossMode mode = PowerLossMode::kDropUnsynced);
  // Forgets the journal (everything so far counts as durable) and every fault.
  void Reset();

  // ---- Counters. ----
  uint64_t ops() const;  // mutating operations attempted so far (including failed ones)
  uint64_t injected_errors() const;
  // Mutating operations attempted so far, by kind.
  std::map<std::string, uint64_t> ops_by_kind() const;

  // ---- storage::Env. ----
  Result<std::unique_ptr<storage::File>> OpenFile(const std::string& path, storage::OpenMode mode,
                                                  storage::IoBackend backend) override;
  Status CreateDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;
  Result<storage::PathInfo> Stat(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Result<std::unique_ptr<storage::FileLock>> LockFile(const std::string& path) override;

 private:
  friend class FaultFile;
  struct Entry;
  // Counts a mutating operation on `path` and decides its fate: OK to go on, or the error to
  // return. *torn receives the torn length when this is the crash operation of a write.
  Status Admit(uint32_t op, const std::string& path, int64_t* torn);
  void Sleep(uint32_t op);
  void WaitWhileHeld(uint32_t op, const std::string& path);
  uint64_t FileIdOf(const std::string& path);      // REQUIRES: mu_ held
  std::string TrashCopy(const std::string& path);  // REQUIRES: mu_ held; "" if absent
  void Journal(Entry entry);                       // REQUIRES: mu_ held
  // File hooks (FaultFile): journal a write/truncate/preallocate, mark a sync.
  void NoteData(uint64_t file_id, const std::string& path, uint64_t offset, uint64_t length,
                uint64_t old_size, std::string old_bytes);
  void NoteSynced(uint64_t file_id);

  storage::Env* const base_;
  std::string trash_;
  mutable std::mutex mu_;
  uint64_t ops_ = 0;                 // GUARDED_BY(mu_)
  uint64_t crash_at_ = 0;            // GUARDED_BY(mu_): 0 = none
  int64_t crash_torn_ = -1;          // GUARDED_BY(mu_)
  bool crashed_ = false;             // GUARDED_BY(mu_)
  uint64_t injected_ = 0;            // GUARDED_BY(mu_)
  uint64_t trash_seq_ = 0;           // GUARDED_BY(mu_)
  uint64_t next_file_id_ = 1;        // GUARDED_BY(mu_)
  std::vector<ErrorRule> rules_;     // GUARDED_BY(mu_)
  std::vector<uint64_t> rule_seen_;  // GUARDED_BY(mu_): matching operations per rule
  std::map<uint32_t, std::chrono::microseconds> delays_;  // GUARDED_BY(mu_)
  uint32_t hold_ops_ = 0;                                 // GUARDED_BY(mu_)
  std::string hold_path_;                                 // GUARDED_BY(mu_)
  uint64_t held_ = 0;                                     // GUARDED_BY(mu_): waiting now
  std::condition_variable hold_cv_;
  std::map<uint32_t, uint64_t> by_kind_;      // GUARDED_BY(mu_)
  std::map<std::string, uint64_t> file_ids_;  // GUARDED_BY(mu_): path -> file id
  std::vector<Entry> journal_;                // GUARDED_BY(mu_)
};

}  // namespace meterd::testing
