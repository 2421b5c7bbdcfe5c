// meterd — storage/io/file.h
//
// The storage layer's only door to the operating system (LevelDB's Env): an Env opens Files
// (positional writes, durable writes, reads) and does the directory operations. The POSIX Env
// has two backends behind the one File interface:
//   * kIoUring: writes go through io_uring; WriteAtAndSync submits a linked WRITE + FSYNC
//     (IORING_FSYNC_DATASYNC) pair in one io_uring_enter, so a group commit is one syscall.
//   * kPosix:   pwrite + fdatasync.
// The backend is chosen at runtime: kAuto tries io_uring and falls back to POSIX when the kernel
// or a seccomp policy refuses it (METERD_IO=posix forces the fallback).
// Every other Env (tests/testing/fault_env.h) wraps the File of the one below it, so a fault
// is injected on the io_uring path as well as the POSIX one.
//
// Thread-safety: a File may be used by one thread at a time (the WAL's sync thread, a segment
// writer, or readers calling ReadAt, which is safe concurrently with other ReadAt calls).
// Env methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/base/result.h"
#include "storage/base/status.h"

namespace meterd::storage {

enum class IoBackend : uint8_t { kAuto = 0, kIoUring = 1, kPosix = 2 };
const char* IoBackendName(IoBackend backend);

class File {
 public:
  virtual ~File() = default;
  // Writes all of `data` at `offset` (not durable until a sync).
  virtual Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // Writes all of `data` at `offset`, then fdatasyncs; returns only when both completed.
  virtual Status WriteAtAndSync(uint64_t offset, std::string_view data) = 0;
  virtual Status Sync() = 0;
  // Reads up to n bytes at offset into scratch; *read < n only at end of file.
  virtual Status ReadAt(uint64_t offset, size_t n, char* scratch, size_t* read) const = 0;
  // Reserves (and zero-fills) [0, size) so later writes need no metadata sync (fallocate).
  virtual Status Preallocate(uint64_t size) = 0;
  virtual Status Truncate(uint64_t size) = 0;
  virtual Result<uint64_t> Size() const = 0;
  virtual Status Close() = 0;
  virtual IoBackend backend() const = 0;
  virtual const std::string& path() const = 0;
};

enum class OpenMode : uint8_t {
  kRead,            // existing file, read only
  kReadWrite,       // existing file
  kCreateTruncate,  // create or truncate, read-write
};

// The backend kAuto resolves to: io_uring if a ring can be created and METERD_IO != "posix".
IoBackend DefaultIoBackend();

// Holds an exclusive advisory lock on a file until destroyed (flock; one process per store).
class FileLock {
 public:
  virtual ~FileLock() = default;
};

// What a path names.
struct PathInfo {
  bool exists = false;
  bool is_dir = false;
  uint64_t size = 0;  // regular files only
};

// Env: every file operation of the store (WAL, segments, manifest), the registries' record logs
// and the rollups goes through one Env, given in their options (StoreOptions::env, ...). The
// default, Env::Default(), is the real POSIX one (with io_uring for writes when available);
// tests substitute a fault-injecting one (tests/testing/fault_env.h) to cut the power at any
// file operation, tear writes, and return EIO or ENOSPC.
//
// Durability contract (what the POSIX Env gives and what the fault layer simulates):
//   * file data is durable only after a File::Sync / WriteAtAndSync that follows the write;
//   * a file's name (after OpenFile with kCreateTruncate, RenameFile or RemoveFile) is durable
//     only after SyncDir on the directory that holds it;
//   * CreateDirIfMissing is durable when it returns (it syncs every parent it changed).
//
// Thread-safety: every method is thread-safe; a File is used by one thread at a time.
class Env {
 public:
  virtual ~Env() = default;
  // The POSIX Env, alive for the whole process.
  static Env* Default();

  // Opens `path`. With kAuto the process-wide default backend is used (see DefaultIoBackend).
  virtual Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode,
                                                 IoBackend backend = IoBackend::kAuto) = 0;
  // Creates one directory (its parent must exist); OK if it exists already. Not durable until
  // the parent is synced.
  virtual Status CreateDir(const std::string& path) = 0;
  // fsyncs a directory, making the names created, renamed or removed in it durable.
  virtual Status SyncDir(const std::string& path) = 0;
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // Removes a file; OK if it does not exist.
  virtual Status RemoveFile(const std::string& path) = 0;
  // Removes an empty directory; OK if it does not exist.
  virtual Status RemoveDir(const std::string& path) = 0;
  virtual Result<PathInfo> Stat(const std::string& path) = 0;
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;  // no . or ..
  // Locks `path` (created if missing) for this process; Busy when another process holds it.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;

  // ---- Built on the operations above (the same in every Env). ----
  bool FileExists(const std::string& path);
  Result<uint64_t> FileSize(const std::string& path);
  // Reads a whole file into *out.
  Status ReadWholeFile(const std::string& path, std::string* out);
  // Writes `data` to `path` durably and atomically: tmp file, fdatasync, rename, fsync directory.
  Status WriteFileAtomic(const std::string& path, std::string_view data);
  // Creates `path` and any missing parents, durably: each parent it changed is fsynced.
  Status CreateDirIfMissing(const std::string& path);
  // Removes a directory and everything below it (not synced).
  Status RemoveTree(const std::string& path);
  // Total bytes of the regular files below `path`.
  Result<uint64_t> DirectoryBytes(const std::string& path);
};

// The directory part of `path` ("." when it has none).
std::string DirName(const std::string& path);

// The same operations on Env::Default(), for tools, benchmarks and tests. The store, the
// registries and the rollups never call these: they use the Env in their options.
Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode,
                                       IoBackend backend = IoBackend::kAuto);
Status ReadWholeFile(const std::string& path, std::string* out);
Status WriteFileAtomic(const std::string& path, std::string_view data);
Status CreateDirIfMissing(const std::string& path);
Status SyncDir(const std::string& path);
Status RenameFile(const std::string& from, const std::string& to);
Status RemoveFile(const std::string& path);
Status RemoveTree(const std::string& path);
bool FileExists(const std::string& path);
Result<std::vector<std::string>> ListDir(const std::string& path);
Result<uint64_t> FileSize(const std::string& path);
Result<uint64_t> DirectoryBytes(const std::string& path);

}  // namespace meterd::storage
