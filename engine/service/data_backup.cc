// meterd — engine/service/data_backup.cc
#include "engine/service/data_backup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <vector>

namespace meterd::engine {
namespace {

namespace fs = std::filesystem;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Never in a backup: locks, unfinished temporaries, and billing.db's own files (it is copied
// through SQLite).
bool Skipped(const std::string& name) {
  return name == "LOCK" || EndsWith(name, ".tmp") || name == "billing.db" ||
         name == "billing.db-wal" || name == "billing.db-shm" || name == "billing.db-journal";
}

// Written once and never changed again: safe to share by a hard link.
bool Immutable(const std::string& name) {
  return EndsWith(name, ".seg") || EndsWith(name, ".mrp") || EndsWith(name, ".mru");
}

Status FsError(const std::string& what, const std::error_code& ec) {
  return Status::FromErrno(what, ec.value());
}

Status SyncPath(const std::string& path, bool dir) {
  const int fd = ::open(path.c_str(), (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("backup: open " + path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::FromErrno("backup: fsync " + path, err);
  return Status::OK();
}

// Copies or links every file below `from` into `to` (both existing directories).
Status CopyTree(const std::string& from, const std::string& to, const std::string& exclude,
                BackupReport* report, std::vector<std::string>* dirs,
                std::vector<std::string>* copied) {
  std::error_code ec;
  for (fs::directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string src = it->path().string();
    const std::string dst = to + "/" + name;
    if (src == exclude || Skipped(name)) continue;
    const fs::file_status st = it->symlink_status(ec);
    if (ec) return FsError("backup: stat " + src, ec);
    if (fs::is_directory(st)) {
      if (!fs::create_directory(dst, ec) || ec) return FsError("backup: mkdir " + dst, ec);
      dirs->push_back(dst);
      METERD_RETURN_IF_ERROR(CopyTree(src, dst, exclude, report, dirs, copied));
      continue;
    }
    if (!fs::is_regular_file(st)) continue;
    if (Immutable(name)) {
      fs::create_hard_link(src, dst, ec);
      if (!ec) {
        ++report->files;
        ++report->linked;
        continue;
      }
      ec.clear();  // another file system: copy it
    }
    if (!fs::copy_file(src, dst, fs::copy_options::none, ec) || ec) {
      return FsError("backup: copy " + src, ec);
    }
    ++report->files;
    report->copied_bytes += fs::file_size(dst, ec);
    copied->push_back(dst);
  }
  if (ec) return FsError("backup: list " + from, ec);
  return Status::OK();
}

Status Backup(const BackupSources& src, const std::string& to, BackupReport* report) {
  std::vector<std::string> dirs{to};
  std::vector<std::string> copied;
  auto copy = [&]() -> Status {
    const auto started = std::chrono::steady_clock::now();
    Status st = src.store->WithFilesStill([&]() -> Status {
      METERD_RETURN_IF_ERROR(CopyTree(src.data_dir, to, to, report, &dirs, &copied));
      if (src.billing_db != nullptr) {
        const std::string db = tenancy::BillingDb::PathIn(to);
        METERD_ASSIGN_OR_RETURN(uint64_t bytes, src.billing_db->BackupTo(db));
        ++report->files;
        report->copied_bytes += bytes;
      }
      return Status::OK();
    });
    report->paused = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
    return st;
  };
  // Lock order: the rollup clock's pass (it takes the ingest lock inside), then the ingest
  // lock, then the store's flush lock (an append waiting for a flush holds the ingest lock).
  auto paused_ingest = [&] { return src.ingest->WhilePaused(copy); };
  METERD_RETURN_IF_ERROR(src.rollup_clock != nullptr ? src.rollup_clock->WhilePaused(paused_ingest)
                                                     : paused_ingest());
  // Durable before it is reported: the copies' data, then every directory's names (deepest
  // first, the backup's own name in its parent last).
  for (const std::string& f : copied) METERD_RETURN_IF_ERROR(SyncPath(f, false));
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
    METERD_RETURN_IF_ERROR(SyncPath(*it, true));
  return SyncPath(fs::path(to).parent_path().string(), true);
}

}  // namespace

Result<BackupReport> BackupDataDir(const BackupSources& sources, const std::string& to_arg) {
  if (sources.store == nullptr || sources.ingest == nullptr) {
    return Status::InvalidArgument("backup: no store to back up");
  }
  if (to_arg.empty()) return Status::InvalidArgument("backup: --to is required");
  std::error_code ec;
  const fs::path to = fs::absolute(fs::path(to_arg), ec).lexically_normal();
  if (ec) return FsError("backup: " + to_arg, ec);
  const fs::path data = fs::weakly_canonical(fs::path(sources.data_dir), ec);
  if (ec) return FsError("backup: " + sources.data_dir, ec);
  const fs::path parent = fs::weakly_canonical(to.parent_path(), ec);
  if (ec || !fs::is_directory(parent)) {
    return Status::InvalidArgument("backup: the parent of " + to.string() +
                                   " is not a directory on the server");
  }
  const fs::path target = parent / to.filename();
  if (fs::exists(fs::symlink_status(target, ec))) {
    return Status::InvalidArgument("backup: " + target.string() +
                                   " exists already (a backup goes into a new directory)");
  }
  const std::string t = target.string(), d = data.string();
  if (t == d || (t.size() > d.size() && t.compare(0, d.size(), d) == 0 && t[d.size()] == '/')) {
    return Status::InvalidArgument("backup: " + t + " is inside the data directory " + d);
  }
  if (!fs::create_directory(target, ec) || ec) return FsError("backup: mkdir " + t, ec);
  BackupSources src = sources;
  src.data_dir = d;
  BackupReport report;
  Status st = Backup(src, t, &report);
  if (!st.ok()) {
    fs::remove_all(target, ec);  // a partial backup is no backup
    return st;
  }
  return report;
}

}  // namespace meterd::engine
