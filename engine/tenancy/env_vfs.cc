// meterd — engine/tenancy/env_vfs.cc
#include "engine/tenancy/env_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace meterd::engine::tenancy {
namespace {

// The Env and the VFS SQLite would use otherwise (for temporary files and process calls).
struct VfsData {
  storage::Env* env;
  sqlite3_vfs* base;
};

// A file opened through the Env. SQLite allocates szOsFile bytes and hands them to xOpen; the
// C++ members live behind pointers so the struct stays trivially constructible.
struct EnvFile {
  sqlite3_file base;  // first: SQLite casts between the two
  storage::File* file;
  storage::Env* env;
  std::string* path;
  bool sync_dir;  // created by this open: the directory is fsynced at the first sync
};

VfsData* DataOf(sqlite3_vfs* vfs) { return static_cast<VfsData*>(vfs->pAppData); }
EnvFile* Self(sqlite3_file* f) { return reinterpret_cast<EnvFile*>(f); }

int ErrorCode(const Status& s, int io_error) {
  if (s.ok()) return SQLITE_OK;
  return s.IsNoSpace() ? SQLITE_FULL : io_error;
}

int FileClose(sqlite3_file* f) {
  EnvFile* self = Self(f);
  const Status s = self->file->Close();
  delete self->file;
  delete self->path;
  self->file = nullptr;
  self->path = nullptr;
  return ErrorCode(s, SQLITE_IOERR_CLOSE);
}

int FileRead(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  EnvFile* self = Self(f);
  size_t got = 0;
  const Status s = self->file->ReadAt(static_cast<uint64_t>(offset), static_cast<size_t>(amount),
                                      static_cast<char*>(buf), &got);
  if (!s.ok()) return SQLITE_IOERR_READ;
  if (got < static_cast<size_t>(amount)) {
    // SQLite requires the unread tail zeroed on a short read.
    std::memset(static_cast<char*>(buf) + got, 0, static_cast<size_t>(amount) - got);
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

int FileWrite(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  const Status s = Self(f)->file->WriteAt(
      static_cast<uint64_t>(offset),
      std::string_view(static_cast<const char*>(buf), static_cast<size_t>(amount)));
  return ErrorCode(s, SQLITE_IOERR_WRITE);
}

int FileTruncate(sqlite3_file* f, sqlite3_int64 size) {
  return ErrorCode(Self(f)->file->Truncate(static_cast<uint64_t>(size)), SQLITE_IOERR_TRUNCATE);
}

int FileSync(sqlite3_file* f, int /*flags*/) {
  EnvFile* self = Self(f);
  const Status s = self->file->Sync();
  if (!s.ok()) return ErrorCode(s, SQLITE_IOERR_FSYNC);
  if (self->sync_dir) {
    const Status d = self->env->SyncDir(storage::DirName(*self->path));
    if (!d.ok()) return ErrorCode(d, SQLITE_IOERR_DIR_FSYNC);
    self->sync_dir = false;
  }
  return SQLITE_OK;
}

int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  Result<uint64_t> r = Self(f)->file->Size();
  if (!r.ok()) return SQLITE_IOERR_FSTAT;
  *size = static_cast<sqlite3_int64>(*r);
  return SQLITE_OK;
}

// One connection per database (see the header): locks need not exclude anyone.
int FileLock(sqlite3_file*, int) { return SQLITE_OK; }
int FileUnlock(sqlite3_file*, int) { return SQLITE_OK; }
int FileCheckReservedLock(sqlite3_file*, int* out) {
  *out = 0;
  return SQLITE_OK;
}
int FileControl(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
int FileSectorSize(sqlite3_file*) { return 4096; }
// No promises beyond the Env contract (no atomic or power-safe writes assumed).
int FileDeviceCharacteristics(sqlite3_file*) { return 0; }

const sqlite3_io_methods kEnvFileMethods = {
    1,  // version 1: no shared memory, no mmap
    FileClose,
    FileRead,
    FileWrite,
    FileTruncate,
    FileSync,
    FileSize,
    FileLock,
    FileUnlock,
    FileCheckReservedLock,
    FileControl,
    FileSectorSize,
    FileDeviceCharacteristics,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

// The files whose contents must survive: everything else is temporary.
bool IsDurable(int flags) {
  return (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL |
                   SQLITE_OPEN_SUPER_JOURNAL)) != 0;
}

int VfsOpen(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* out, int flags, int* out_flags) {
  VfsData* data = DataOf(vfs);
  if (name == nullptr || !IsDurable(flags) || (flags & SQLITE_OPEN_DELETEONCLOSE) != 0) {
    return data->base->xOpen(data->base, name, out, flags, out_flags);
  }
  out->pMethods = nullptr;  // SQLite calls no method of a file whose open failed
  const std::string path(name);
  Result<storage::PathInfo> info = data->env->Stat(path);
  if (!info.ok()) return SQLITE_CANTOPEN;
  const bool exists = info->exists;
  if (!exists && (flags & SQLITE_OPEN_CREATE) == 0) return SQLITE_CANTOPEN;
  if (exists && (flags & SQLITE_OPEN_EXCLUSIVE) != 0) return SQLITE_CANTOPEN;
  storage::OpenMode mode = storage::OpenMode::kReadWrite;
  if ((flags & SQLITE_OPEN_READONLY) != 0) mode = storage::OpenMode::kRead;
  if (!exists) mode = storage::OpenMode::kCreateTruncate;
  // pwrite/fdatasync: SQLite writes pages one call at a time, where io_uring gains nothing.
  auto file = data->env->OpenFile(path, mode, storage::IoBackend::kPosix);
  if (!file.ok()) return file.status().IsNoSpace() ? SQLITE_FULL : SQLITE_CANTOPEN;
  EnvFile* self = Self(out);
  self->file = file->release();
  self->env = data->env;
  self->path = new std::string(path);
  self->sync_dir = !exists;
  out->pMethods = &kEnvFileMethods;
  if (out_flags != nullptr) *out_flags = flags;
  return SQLITE_OK;
}

int VfsDelete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  VfsData* data = DataOf(vfs);
  Status s = data->env->RemoveFile(name);
  if (!s.ok()) return ErrorCode(s, SQLITE_IOERR_DELETE);
  if (sync_dir) s = data->env->SyncDir(storage::DirName(name));
  return ErrorCode(s, SQLITE_IOERR_DIR_FSYNC);
}

int VfsAccess(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  Result<storage::PathInfo> info = DataOf(vfs)->env->Stat(name);
  if (!info.ok()) return SQLITE_IOERR_ACCESS;
  // As the unix VFS: an empty regular file does not "exist" (a WAL or journal of no bytes).
  *out = info->exists && (flags != SQLITE_ACCESS_EXISTS || info->is_dir || info->size > 0);
  return SQLITE_OK;
}

int VfsFullPathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  sqlite3_vfs* base = DataOf(vfs)->base;
  return base->xFullPathname(base, name, n, out);
}
void* VfsDlOpen(sqlite3_vfs* vfs, const char* name) {
  sqlite3_vfs* base = DataOf(vfs)->base;
  return base->xDlOpen(base, name);
}
void VfsDlError(sqlite3_vfs* vfs, int n, char* out) {
  sqlite3_vfs* base = DataOf(vfs)->base;
  base->xDlError(base, n, out);
}
void (*VfsDlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  sqlite3_vfs* base = DataOf(vfs)->base;
  return base->xDlSym(base, handle, symbol);
}
void VfsDlClose(sqlite3_vfs* vfs, void* handle) {
  sqlite3_vfs* base = DataOf(vfs)->base;
  base->xDlClose(base, handle);
}
int VfsRandomness(sqlite3_vfs* vfs, int n, char* out) {
  sqlite3_vfs* base = DataOf(vfs)->base;
  return base->xRandomness(base, n, out);
}
int VfsSleep(sqlite3_vfs* vfs, int micros) {
  sqlite3_vfs* base = DataOf(vfs)->base;
  return base->xSleep(base, micros);
}
int VfsCurrentTime(sqlite3_vfs* vfs, double* out) {
  sqlite3_vfs* base = DataOf(vfs)->base;
  return base->xCurrentTime(base, out);
}
int VfsGetLastError(sqlite3_vfs* vfs, int n, char* out) {
  sqlite3_vfs* base = DataOf(vfs)->base;
  return base->xGetLastError ? base->xGetLastError(base, n, out) : 0;
}
int VfsCurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  sqlite3_vfs* base = DataOf(vfs)->base;
  return base->xCurrentTimeInt64(base, out);
}

std::atomic<uint64_t> next_vfs_id{1};

}  // namespace

std::unique_ptr<EnvVfs> EnvVfs::Register(storage::Env* env) {
  sqlite3_initialize();
  sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
  std::unique_ptr<EnvVfs> out(new EnvVfs());
  out->name_ = "meterd-env-" + std::to_string(next_vfs_id.fetch_add(1));
  out->vfs_ = std::make_unique<sqlite3_vfs>();
  sqlite3_vfs* v = out->vfs_.get();
  std::memset(v, 0, sizeof(*v));
  v->iVersion = 2;
  v->szOsFile = std::max(static_cast<int>(sizeof(EnvFile)), base->szOsFile);
  v->mxPathname = base->mxPathname;
  v->zName = out->name_.c_str();
  v->pAppData = new VfsData{env, base};
  v->xOpen = VfsOpen;
  v->xDelete = VfsDelete;
  v->xAccess = VfsAccess;
  v->xFullPathname = VfsFullPathname;
  v->xDlOpen = VfsDlOpen;
  v->xDlError = VfsDlError;
  v->xDlSym = VfsDlSym;
  v->xDlClose = VfsDlClose;
  v->xRandomness = VfsRandomness;
  v->xSleep = VfsSleep;
  v->xCurrentTime = VfsCurrentTime;
  v->xGetLastError = VfsGetLastError;
  v->xCurrentTimeInt64 = VfsCurrentTimeInt64;
  sqlite3_vfs_register(v, /*makeDflt=*/0);
  return out;
}

EnvVfs::~EnvVfs() {
  if (vfs_) {
    sqlite3_vfs_unregister(vfs_.get());
    delete static_cast<VfsData*>(vfs_->pAppData);
  }
}

}  // namespace meterd::engine::tenancy
