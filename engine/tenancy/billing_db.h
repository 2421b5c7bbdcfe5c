// meterd — engine/tenancy/billing_db.h
//
// BillingDb: the SQLite database `<data-dir>/billing.db` that holds the billing state — the
// tenancy model and the price book now, the ledger and invoices next. One connection, WAL
// journal, synchronous=FULL (a committed transaction survives a crash or a power cut),
// foreign keys enforced. Every change is one transaction: a Transaction begins IMMEDIATE
// (takes the write lock at once) and rolls back unless Commit() succeeds.
//
// A full disk (SQLITE_FULL) is ResourceExhausted: the transaction was rolled back, nothing
// committed is lost, and the same change succeeds once space returns.
//
// Thread-safety: thread-safe. The connection is used under one mutex, which a Transaction
// holds for its whole life: statements of two threads never interleave. Do not begin a
// second Transaction on the same thread while one is alive (it would deadlock).
// Ownership: the BillingDb outlives every Transaction and Statement made from it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "engine/tenancy/env_vfs.h"
#include "storage/base/result.h"
#include "storage/io/file.h"

struct sqlite3;
struct sqlite3_stmt;

namespace meterd::engine::tenancy {

class BillingDb;

// A prepared statement, valid within the Transaction that made it. Parameters are 1-based,
// columns 0-based (SQLite's convention).
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  // Text that outlives the statement's next Step (a literal, or a string not changed until
  // then): bound without a copy.
  Statement& BindStatic(int index, std::string_view text);
  Statement& BindNull(int index);
  // Bytes bound as a BLOB without a copy (they must outlive the statement's next Step).
  Statement& BindBlobStatic(int index, std::string_view bytes);
  Statement& BindOptional(int index, const std::optional<int64_t>& value);
  // Steps once: true when a row is available, false when done.
  Result<bool> Step();
  // Steps to the end (an INSERT, UPDATE or DELETE).
  Status Run();
  Status Reset();  // clears bindings too

  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;  // a BLOB (or text) column's bytes
  bool IsNull(int column) const;

 private:
  friend class Transaction;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Transaction {
 public:
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();  // rolls back when not committed

  Result<Statement> Prepare(std::string_view sql);
  Status Exec(std::string_view sql);  // one or more statements without results
  // Commits (durable on return: synchronous=FULL). After a failed commit the transaction is
  // rolled back.
  Status Commit();
  // Rolls back now (the destructor does it too).
  void Rollback();

 private:
  friend class BillingDb;
  Transaction(BillingDb* db, std::unique_lock<std::mutex> lock) : db_(db), lock_(std::move(lock)) {}
  BillingDb* db_;
  std::unique_lock<std::mutex> lock_;
  bool open_ = true;
};

class BillingDb {
 public:
  // Opens or creates the database at `path` (the parent directory must exist). With an `env`
  // other than Env::Default(), the database, its WAL and journals go through that Env (an
  // EnvVfs, engine/tenancy/env_vfs.h; the connection then runs in exclusive locking mode, so
  // no other process can read the file while it is open); otherwise SQLite's own unix VFS.
  static Result<std::unique_ptr<BillingDb>> Open(const std::string& path,
                                                 storage::Env* env = storage::Env::Default());
  // `<data_dir>/billing.db`.
  static std::string PathIn(const std::string& data_dir);
  ~BillingDb();
  BillingDb(const BillingDb&) = delete;
  BillingDb& operator=(const BillingDb&) = delete;

  // A read-write transaction (BEGIN IMMEDIATE). Reads go through a transaction too, so they
  // see one consistent state.
  Result<Transaction> Begin();

  // The schema version a module recorded in the `meta` table (0 when none), and setting it
  // (inside the transaction that creates or migrates the module's tables).
  static Result<int64_t> SchemaVersion(Transaction& txn, std::string_view module);
  static Status SetSchemaVersion(Transaction& txn, std::string_view module, int64_t version);
  // Creates a module's tables inside `txn`: runs `schema` (idempotent DDL) and records
  // `version` when the stored version is older; NotSupported when the database was written by
  // a newer meterd (a higher version than this one reads).
  static Status EnsureSchema(Transaction& txn, std::string_view module, int64_t version,
                             std::string_view schema);

  const std::string& path() const { return path_; }

  // Copies the database, as of one committed state, into a new database file at `path`
  // (SQLite's online backup API, in one step under the connection's mutex: no transaction of
  // this process runs meanwhile). The copy is synced. Returns its size in bytes.
  Result<uint64_t> BackupTo(const std::string& path);

 private:
  friend class Transaction;
  BillingDb(sqlite3* db, std::string path, std::unique_ptr<EnvVfs> vfs)
      : db_(db), path_(std::move(path)), vfs_(std::move(vfs)) {}
  Status ExecLocked(std::string_view sql);
  sqlite3* db_;
  std::string path_;
  std::unique_ptr<EnvVfs> vfs_;  // null with the default Env; closed after db_
  std::mutex mu_;                // guards db_
};

}  // namespace meterd::engine::tenancy
