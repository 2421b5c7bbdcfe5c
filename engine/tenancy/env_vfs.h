// meterd — engine/tenancy/env_vfs.h
//
// EnvVfs: a SQLite VFS whose durable files (the main database, its WAL and rollback journals)
// go through a storage::Env, so billing.db lives under the same file layer as the store, the
// registries and the rollups, and a fault-injecting Env (tests/testing/fault_env.h) can cut the
// power, tear a write, or return EIO or ENOSPC inside SQLite. BillingDb::Open installs one when
// it is given an Env other than Env::Default(); with the default Env billing.db uses SQLite's
// own unix VFS, unchanged.
//
// What it forwards: open (create without truncating an existing file), read, write, truncate,
// sync (and, after a file's creation, one fsync of its directory, so the new name is durable
// as the Env contract requires), size, delete (with the directory sync SQLite asks for), and
// access. Temporary files (nameless, temp databases and journals, sub-journals) and the
// process-wide calls (randomness, time, sleep, full path names) go to the default VFS.
// A short read zero-fills the rest and reports SQLITE_IOERR_SHORT_READ; a write refused for
// space is SQLITE_FULL (BillingDb reports it as ResourceExhausted), any other failure the
// matching SQLITE_IOERR_* code.
//
// Limits (why BillingDb sets locking_mode=EXCLUSIVE on it): the io methods are version 1, with
// no shared-memory or mmap calls, so SQLite keeps the WAL index in the connection's heap; that
// is what exclusive locking mode does. Locks are in-process only: one connection per database,
// which the data directory's LOCK already guarantees for meterd.
//
// Thread-safety: SQLite serialises calls per connection (BillingDb uses one, under a mutex);
// the Env is thread-safe. Ownership: the EnvVfs outlives every connection opened through it,
// and the Env outlives the EnvVfs.
#pragma once

#include <memory>
#include <string>

#include "storage/io/file.h"

struct sqlite3_vfs;

namespace meterd::engine::tenancy {

class EnvVfs {
 public:
  // Registers a VFS over `env` under a process-unique name (not the default VFS).
  static std::unique_ptr<EnvVfs> Register(storage::Env* env);
  ~EnvVfs();  // unregisters; REQUIRES: no connection uses it any more
  EnvVfs(const EnvVfs&) = delete;
  EnvVfs& operator=(const EnvVfs&) = delete;

  // The name to pass to sqlite3_open_v2.
  const std::string& name() const { return name_; }

 private:
  EnvVfs() = default;
  std::string name_;
  std::unique_ptr<sqlite3_vfs> vfs_;
};

}  // namespace meterd::engine::tenancy
