// meterd — engine/tenancy/billing_db.cc
#include "engine/tenancy/billing_db.h"

#include <sqlite3.h>

namespace meterd::engine::tenancy {
namespace {

// How long a statement waits for another process's lock before failing with Busy. One meterd
// owns its data directory, so this only covers an operator's sqlite3 shell reading it.
constexpr int kBusyTimeoutMs = 5000;

Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Status::Busy(msg);
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) return Status::Corruption(msg);
  if (primary == SQLITE_CONSTRAINT) return Status::InvalidArgument(msg);
  if (primary == SQLITE_FULL) return Status::ResourceExhausted(msg);
  return Status::IOError(msg);
}

}  // namespace

// ---- Statement ----

Statement::Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindStatic(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  return *this;
}

Statement& Statement::BindBlobStatic(int index, std::string_view bytes) {
  sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_STATIC);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::BindOptional(int index, const std::optional<int64_t>& value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Result<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, rc, "sqlite step");
}

Status Statement::Run() {
  for (;;) {
    METERD_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::OK();
  }
}

Status Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return Status::OK();
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::Blob(int column) const {
  const void* p = sqlite3_column_blob(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
}

std::string Statement::Text(int column) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  const int n = sqlite3_column_bytes(stmt_, column);
  return p ? std::string(p, static_cast<size_t>(n)) : std::string();
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// ---- Transaction ----

Transaction::Transaction(Transaction&& other) noexcept
    : db_(other.db_), lock_(std::move(other.lock_)), open_(other.open_) {
  other.open_ = false;
}

Transaction::~Transaction() { Rollback(); }

Result<Statement> Transaction::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc =
      sqlite3_prepare_v2(db_->db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db_->db_, rc, "sqlite prepare");
  return Statement(db_->db_, stmt);
}

Status Transaction::Exec(std::string_view sql) { return db_->ExecLocked(sql); }

Status Transaction::Commit() {
  if (!open_) return Status::InvalidArgument("transaction is not open");
  Status s = db_->ExecLocked("COMMIT");
  if (!s.ok()) {
    Rollback();
    return s;
  }
  open_ = false;
  lock_.unlock();
  return Status::OK();
}

void Transaction::Rollback() {
  if (!open_) return;
  open_ = false;
  (void)db_->ExecLocked("ROLLBACK");
  if (lock_.owns_lock()) lock_.unlock();
}

// ---- BillingDb ----

Result<std::unique_ptr<BillingDb>> BillingDb::Open(const std::string& path, storage::Env* env) {
  std::unique_ptr<EnvVfs> vfs;
  if (env != nullptr && env != storage::Env::Default()) vfs = EnvVfs::Register(env);
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 vfs ? vfs->name().c_str() : nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteError(db, rc, "open " + path);
    sqlite3_close(db);
    return s;
  }
  const bool env_vfs = vfs != nullptr;
  std::unique_ptr<BillingDb> out(new BillingDb(db, path, std::move(vfs)));
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  sqlite3_extended_result_codes(db, 1);
  // The EnvVfs has no shared memory: SQLite keeps the WAL index in the heap, which it does only
  // in exclusive locking mode, set before the WAL is first used.
  if (env_vfs) METERD_RETURN_IF_ERROR(out->ExecLocked("PRAGMA locking_mode=EXCLUSIVE"));
  // WAL: readers never block the writer; synchronous=FULL: the WAL is synced at every commit,
  // so a committed apply or ledger entry survives power loss (NORMAL would not, in WAL mode).
  METERD_RETURN_IF_ERROR(out->ExecLocked("PRAGMA journal_mode=WAL"));
  METERD_RETURN_IF_ERROR(out->ExecLocked("PRAGMA synchronous=FULL"));
  METERD_RETURN_IF_ERROR(out->ExecLocked("PRAGMA foreign_keys=ON"));
  METERD_RETURN_IF_ERROR(out->ExecLocked(
      "CREATE TABLE IF NOT EXISTS meta (module TEXT PRIMARY KEY, schema_version INTEGER NOT "
      "NULL)"));
  return out;
}

std::string BillingDb::PathIn(const std::string& data_dir) { return data_dir + "/billing.db"; }

Result<uint64_t> BillingDb::BackupTo(const std::string& path) {
  sqlite3* dest = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  auto close_dest = [&dest] {
    if (dest != nullptr) sqlite3_close(dest);
    dest = nullptr;
  };
  if (rc != SQLITE_OK) {
    Status s = SqliteError(dest, rc, "backup: open " + path);
    close_dest();
    return s;
  }
  // The copy is a self-contained file (no -wal beside it); synced when the backup commits.
  rc = sqlite3_exec(dest, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL", nullptr, nullptr,
                    nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteError(dest, rc, "backup: " + path);
    close_dest();
    return s;
  }
  {
    std::lock_guard lock(mu_);
    sqlite3_backup* b = sqlite3_backup_init(dest, "main", db_, "main");
    if (b == nullptr) {
      Status s = SqliteError(dest, sqlite3_errcode(dest), "backup: start");
      close_dest();
      return s;
    }
    rc = sqlite3_backup_step(b, -1);  // every page at once: one consistent state
    const int finish = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE || finish != SQLITE_OK) {
      Status s = SqliteError(dest, rc != SQLITE_DONE ? rc : finish, "backup: copy");
      close_dest();
      return s;
    }
  }
  close_dest();
  return storage::FileSize(path);
}

BillingDb::~BillingDb() {
  if (db_) sqlite3_close(db_);
  vfs_.reset();  // after the connection that used it
}

Status BillingDb::ExecLocked(std::string_view sql) {
  char* err = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return SqliteError(nullptr, rc, "sqlite: " + msg);
  }
  return Status::OK();
}

Result<Transaction> BillingDb::Begin() {
  std::unique_lock<std::mutex> lock(mu_);
  METERD_RETURN_IF_ERROR(ExecLocked("BEGIN IMMEDIATE"));
  return Transaction(this, std::move(lock));
}

Result<int64_t> BillingDb::SchemaVersion(Transaction& txn, std::string_view module) {
  METERD_ASSIGN_OR_RETURN(Statement st,
                          txn.Prepare("SELECT schema_version FROM meta WHERE module = ?1"));
  st.Bind(1, module);
  METERD_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.Int(0) : int64_t{0};
}

Status BillingDb::EnsureSchema(Transaction& txn, std::string_view module, int64_t version,
                               std::string_view schema) {
  METERD_ASSIGN_OR_RETURN(int64_t stored, SchemaVersion(txn, module));
  if (stored > version) {
    return Status::NotSupported("billing.db: " + std::string(module) + " schema version " +
                                std::to_string(stored) + " is newer than this meterd (" +
                                std::to_string(version) + ")");
  }
  if (stored < version) {
    METERD_RETURN_IF_ERROR(txn.Exec(schema));
    METERD_RETURN_IF_ERROR(SetSchemaVersion(txn, module, version));
  }
  return Status::OK();
}

Status BillingDb::SetSchemaVersion(Transaction& txn, std::string_view module, int64_t version) {
  METERD_ASSIGN_OR_RETURN(
      Statement st,
      txn.Prepare("INSERT INTO meta(module, schema_version) VALUES(?1, ?2) "
                  "ON CONFLICT(module) DO UPDATE SET schema_version = excluded.schema_version"));
  st.Bind(1, module).Bind(2, version);
  return st.Run();
}

}  // namespace meterd::engine::tenancy
