// meterd — storage/io/file.cc
#include "storage/io/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace meterd::storage {
namespace {

// Depth of each file's ring: the WAL submits one linked WRITE+FSYNC pair at a time, a segment
// writer one WRITE; 8 leaves room without pinning much kernel memory per open file.
constexpr unsigned kRingDepth = 8;

Status PwriteAll(int fd, uint64_t offset, std::string_view data, const std::string& path) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::pwrite(fd, p, left, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("pwrite " + path, errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

class PosixFile : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    return PwriteAll(fd_, offset, data, path_);
  }
  Status WriteAtAndSync(uint64_t offset, std::string_view data) override {
    METERD_RETURN_IF_ERROR(WriteAt(offset, data));
    return Sync();
  }
  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Status::FromErrno("fdatasync " + path_, errno);
    return Status::OK();
  }
  Status ReadAt(uint64_t offset, size_t n, char* scratch, size_t* read) const override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, scratch + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("pread " + path_, errno);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    *read = done;
    return Status::OK();
  }
  Status Preallocate(uint64_t size) override {
    int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
    if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
      return Status::FromErrno("fallocate " + path_, rc);
    }
    return Status::OK();
  }
  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return Status::FromErrno("ftruncate " + path_, errno);
    }
    return Status::OK();
  }
  Result<uint64_t> Size() const override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Status::FromErrno("fstat " + path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }
  Status Close() override {
    if (fd_ >= 0 && ::close(fd_) != 0) {
      fd_ = -1;
      return Status::FromErrno("close " + path_, errno);
    }
    fd_ = -1;
    return Status::OK();
  }
  IoBackend backend() const override { return IoBackend::kPosix; }
  const std::string& path() const override { return path_; }

 protected:
  int fd_;
  std::string path_;
};

// io_uring backend. Reads stay on pread (a blocking single read gains nothing from a ring);
// writes and syncs go through the ring so that a group commit is one submission.
class UringFile : public PosixFile {
 public:
  UringFile(int fd, std::string path, io_uring ring)
      : PosixFile(fd, std::move(path)), ring_(ring) {}
  ~UringFile() override { io_uring_queue_exit(&ring_); }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    return Submit(offset, data, /*sync=*/false);
  }
  Status WriteAtAndSync(uint64_t offset, std::string_view data) override {
    return Submit(offset, data, /*sync=*/true);
  }
  Status Sync() override { return Submit(0, std::string_view(), /*sync=*/true); }
  IoBackend backend() const override { return IoBackend::kIoUring; }

 private:
  // Submits a WRITE of `data` (if any) linked to an FSYNC (if sync), waits for both. A short
  // write cancels the linked fsync; the remainder is then resubmitted, so the loop always ends
  // with every byte written and (if asked) synced.
  Status Submit(uint64_t offset, std::string_view data, bool sync) {
    while (true) {
      unsigned expected = 0;
      if (!data.empty()) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        io_uring_prep_write(sqe, fd_, data.data(), static_cast<unsigned>(data.size()), offset);
        sqe->user_data = 1;
        if (sync) sqe->flags |= IOSQE_IO_LINK;
        ++expected;
      }
      if (sync) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        io_uring_prep_fsync(sqe, fd_, IORING_FSYNC_DATASYNC);
        sqe->user_data = 2;
        ++expected;
      }
      if (expected == 0) return Status::OK();
      int rc;
      do {
        rc = io_uring_submit_and_wait(&ring_, expected);
      } while (rc == -EINTR);
      if (rc < 0) return Status::FromErrno("io_uring_submit " + path_, -rc);
      size_t written = 0;
      int write_err = 0, sync_err = 0;
      for (unsigned i = 0; i < expected; ++i) {
        io_uring_cqe* cqe = nullptr;
        do {
          rc = io_uring_wait_cqe(&ring_, &cqe);
        } while (rc == -EINTR);
        if (rc < 0) return Status::FromErrno("io_uring_wait_cqe " + path_, -rc);
        if (cqe->user_data == 1) {
          if (cqe->res < 0)
            write_err = -cqe->res;
          else
            written = static_cast<size_t>(cqe->res);
        } else if (cqe->res < 0) {
          sync_err = -cqe->res;
        }
        io_uring_cqe_seen(&ring_, cqe);
      }
      if (write_err == EINTR || write_err == EAGAIN) continue;
      if (write_err != 0) return Status::FromErrno("io_uring write " + path_, write_err);
      if (written < data.size()) {  // short write: the linked fsync was cancelled
        data.remove_prefix(written);
        offset += written;
        continue;
      }
      if (sync_err != 0) return Status::FromErrno("io_uring fsync " + path_, sync_err);
      return Status::OK();
    }
  }

  io_uring ring_;
};

bool UringUsable() {
  const char* env = std::getenv("METERD_IO");
  if (env != nullptr && std::strcmp(env, "posix") == 0) return false;
  io_uring ring;
  if (io_uring_queue_init(kRingDepth, &ring, 0) != 0) return false;
  io_uring_queue_exit(&ring);
  return true;
}

}  // namespace

const char* IoBackendName(IoBackend backend) {
  switch (backend) {
    case IoBackend::kAuto:
      return "auto";
    case IoBackend::kIoUring:
      return "io_uring";
    case IoBackend::kPosix:
      return "posix";
  }
  return "?";
}

IoBackend DefaultIoBackend() {
  static const IoBackend backend = UringUsable() ? IoBackend::kIoUring : IoBackend::kPosix;
  return backend;
}

namespace {

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }  // releases the flock

 private:
  int fd_;
};

// The real file system. Stateless: one instance serves the whole process.
class PosixEnv : public Env {
 public:
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode,
                                         IoBackend backend) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kRead:
        flags |= O_RDONLY;
        break;
      case OpenMode::kReadWrite:
        flags |= O_RDWR;
        break;
      case OpenMode::kCreateTruncate:
        flags |= O_RDWR | O_CREAT | O_TRUNC;
        break;
    }
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return Status::FromErrno("open " + path, errno);
    if (backend == IoBackend::kAuto) backend = DefaultIoBackend();
    if (backend == IoBackend::kIoUring && mode != OpenMode::kRead) {
      io_uring ring;
      int rc = io_uring_queue_init(kRingDepth, &ring, 0);
      if (rc == 0) return std::unique_ptr<File>(new UringFile(fd, path, ring));
      // Fall through to POSIX: a ring can fail under memlock limits even where io_uring exists.
    }
    return std::unique_ptr<File>(new PosixFile(fd, path));
  }

  Status CreateDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::FromErrno("mkdir " + path, errno);
    }
    return Status::OK();
  }

  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open dir " + path, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return Status::FromErrno("fsync dir " + path, err);
    return Status::OK();
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return Status::FromErrno("rename " + from + " -> " + to, errno);
    }
    return Status::OK();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno("unlink " + path, errno);
    }
    return Status::OK();
  }

  Status RemoveDir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno("rmdir " + path, errno);
    }
    return Status::OK();
  }

  Result<PathInfo> Stat(const std::string& path) override {
    struct stat st;
    PathInfo info;
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return info;
      return Status::FromErrno("stat " + path, errno);
    }
    info.exists = true;
    info.is_dir = S_ISDIR(st.st_mode);
    info.size = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
    return info;
  }

  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return Status::FromErrno("opendir " + path, errno);
    std::vector<std::string> names;
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(dir);
    return names;
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::FromErrno("open " + path, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return Status::Busy(path + " is locked by another process");
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();  // never destroyed: used until the process exits
  return env;
}

bool Env::FileExists(const std::string& path) {
  auto info = Stat(path);
  return info.ok() && info->exists;
}

Result<uint64_t> Env::FileSize(const std::string& path) {
  METERD_ASSIGN_OR_RETURN(PathInfo info, Stat(path));
  if (!info.exists) return Status::NotFound("stat " + path + ": no such file");
  return info.size;
}

Status Env::ReadWholeFile(const std::string& path, std::string* out) {
  METERD_ASSIGN_OR_RETURN(auto file, OpenFile(path, OpenMode::kRead, IoBackend::kPosix));
  METERD_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  out->resize(size);
  size_t read = 0;
  METERD_RETURN_IF_ERROR(file->ReadAt(0, size, out->data(), &read));
  out->resize(read);
  return Status::OK();
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status Env::WriteFileAtomic(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  {
    METERD_ASSIGN_OR_RETURN(auto file, OpenFile(tmp, OpenMode::kCreateTruncate));
    METERD_RETURN_IF_ERROR(file->WriteAtAndSync(0, data));
    METERD_RETURN_IF_ERROR(file->Close());
  }
  METERD_RETURN_IF_ERROR(RenameFile(tmp, path));
  return SyncDir(DirName(path));
}

Status Env::CreateDirIfMissing(const std::string& path) {
  if (FileExists(path)) return Status::OK();
  // Parents first (mkdir -p).
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    METERD_RETURN_IF_ERROR(CreateDirIfMissing(path.substr(0, slash)));
  }
  METERD_RETURN_IF_ERROR(CreateDir(path));
  // The new name is durable only once its parent directory is.
  return SyncDir(DirName(path));
}

Status Env::RemoveTree(const std::string& path) {
  METERD_ASSIGN_OR_RETURN(PathInfo info, Stat(path));
  if (!info.exists) return Status::OK();
  if (!info.is_dir) return RemoveFile(path);
  METERD_ASSIGN_OR_RETURN(auto names, ListDir(path));
  for (const auto& name : names) METERD_RETURN_IF_ERROR(RemoveTree(path + "/" + name));
  return RemoveDir(path);
}

Result<uint64_t> Env::DirectoryBytes(const std::string& path) {
  METERD_ASSIGN_OR_RETURN(auto names, ListDir(path));
  uint64_t total = 0;
  for (const auto& name : names) {
    const std::string child = path + "/" + name;
    auto info = Stat(child);
    if (!info.ok() || !info->exists) continue;  // raced with a delete
    if (info->is_dir) {
      METERD_ASSIGN_OR_RETURN(uint64_t sub, DirectoryBytes(child));
      total += sub;
    } else {
      total += info->size;
    }
  }
  return total;
}

Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode, IoBackend backend) {
  return Env::Default()->OpenFile(path, mode, backend);
}
Status ReadWholeFile(const std::string& path, std::string* out) {
  return Env::Default()->ReadWholeFile(path, out);
}
Status WriteFileAtomic(const std::string& path, std::string_view data) {
  return Env::Default()->WriteFileAtomic(path, data);
}
Status CreateDirIfMissing(const std::string& path) {
  return Env::Default()->CreateDirIfMissing(path);
}
Status SyncDir(const std::string& path) { return Env::Default()->SyncDir(path); }
Status RenameFile(const std::string& from, const std::string& to) {
  return Env::Default()->RenameFile(from, to);
}
Status RemoveFile(const std::string& path) { return Env::Default()->RemoveFile(path); }
Status RemoveTree(const std::string& path) { return Env::Default()->RemoveTree(path); }
bool FileExists(const std::string& path) { return Env::Default()->FileExists(path); }
Result<std::vector<std::string>> ListDir(const std::string& path) {
  return Env::Default()->ListDir(path);
}
Result<uint64_t> FileSize(const std::string& path) { return Env::Default()->FileSize(path); }
Result<uint64_t> DirectoryBytes(const std::string& path) {
  return Env::Default()->DirectoryBytes(path);
}

}  // namespace meterd::storage
