// meterd — storage/io/file.h
//
// The storage layer's only door to the operating system (LevelDB's Env): positional writes,
// durable writes, reads, and directory operations. Two backends behind one interface:
//   * kIoUring: writes go through io_uring; WriteAtAndSync submits a linked WRITE + FSYNC
//     (IORING_FSYNC_DATASYNC) pair in one io_uring_enter, so a group commit is one syscall.
//   * kPosix:   pwrite + fdatasync.
// The backend is chosen at runtime: kAuto tries io_uring and falls back to POSIX when the kernel
// or a seccomp policy refuses it (METERD_IO=posix forces the fallback).
//
// Thread-safety: a File may be used by one thread at a time (the WAL's sync thread, a segment
// writer, or readers calling ReadAt, which is safe concurrently with other ReadAt calls).
// FileSystem functions are thread-safe.
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

// Opens `path`. With kAuto the process-wide default backend is used (see DefaultIoBackend).
Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode,
                                       IoBackend backend = IoBackend::kAuto);

// The backend kAuto resolves to: io_uring if a ring can be created and METERD_IO != "posix".
IoBackend DefaultIoBackend();

// Reads a whole file into *out.
Status ReadWholeFile(const std::string& path, std::string* out);
// Writes `data` to `path` durably and atomically: tmp file, fsync, rename, fsync directory.
Status WriteFileAtomic(const std::string& path, std::string_view data);

// Creates `path` and any missing parents.
Status CreateDirIfMissing(const std::string& path);
Status SyncDir(const std::string& path);
Status RenameFile(const std::string& from, const std::string& to);
Status RemoveFile(const std::string& path);
// Removes a directory and everything below it.
Status RemoveTree(const std::string& path);
bool FileExists(const std::string& path);
Result<std::vector<std::string>> ListDir(const std::string& path);  // names, no "." or ".."
Result<uint64_t> FileSize(const std::string& path);
// Total bytes of the regular files below `path`.
Result<uint64_t> DirectoryBytes(const std::string& path);

}  // namespace meterd::storage
