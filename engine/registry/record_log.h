// meterd — engine/registry/record_log.h
//
// RecordLog: a small durable append-only file of checksummed records, for the server's
// directories (series, resources, custom metrics, rollup revisions) whose entries are written
// rarely and read back whole at start (docs/format-registry.md, "Record log"):
//
//   header   8 bytes  "MTRLOG01" (format version 1 in the magic)
//   record   u32 payload length | u64 XXH3-64(payload, seed = length) | payload
//
// Append returns only after the records are on disk (one fdatasync per call, so a caller
// appends a whole request's records at once). After a failed fdatasync the log refuses every
// later Append (IOError "record log failed earlier") until it is reopened: the kernel may have
// dropped the failed pages, and a later sync's success would say nothing about them (the WAL's
// rule, docs/architecture.md "Files, faults and a full disk"). A failed write (a full disk)
// is not sticky: the next Append first cuts whatever it may have left, then writes.
//
// Recovery (Open). Every intact record is replayed, in file order, and no other: a record is
// intact when its length is at most 1 MiB, its payload lies inside the file and its checksum
// matches. Where a record is not intact, Open scans forward byte by byte for the next offset
// at which an intact record starts (the format has no sync marker; a 64-bit checksum seeded
// with the length makes a false match in damaged bytes a 2^-64 event per offset), and goes on
// from there. So:
//   * a torn or damaged tail (no intact record after it: a crash during an append, whose
//     caller was never told "done") is cut off: the file is truncated after the last intact
//     record, so later appends start from a clean end;
//   * damage in the middle (the disk changed bytes) costs only the damaged bytes: a copy of
//     the whole file as found is kept as <path>.damaged-<unix seconds> (quarantine) and the log
//     is rewritten atomically without the damaged ranges, so the next start finds it clean;
//   * a record that is intact but that the owner's replay refuses (it returns Corruption: an
//     unknown version or kind, trailing bytes) is skipped and counted, and stays in the file.
// Everything Open skips is counted in a RecordLogReport and described in its `detail`.
//
// Thread-safety: not synchronised; the owning registry serialises calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/base/result.h"
#include "storage/io/file.h"

namespace meterd::engine {

// What RecordLog::Open found. Filled while the replay runs: a replay callback may read it to
// learn whether damage lies before the record it is handed (damaged_ranges > 0).
struct RecordLogReport {
  uint64_t records = 0;          // intact records replayed and taken
  uint64_t refused_records = 0;  // intact records the replay refused (Corruption): skipped
  uint64_t damaged_ranges = 0;   // damaged byte ranges followed by intact records: skipped
  uint64_t damaged_bytes = 0;    // bytes in those ranges
  uint64_t torn_tail_bytes = 0;  // bytes cut from the end of the file
  std::string quarantine;        // where the file as found was copied (damaged_ranges > 0)
  std::string detail;            // a description of everything above; empty when clean

  bool clean() const { return detail.empty(); }
};

class RecordLog {
 public:
  // Opens or creates `path`, calling `replay` for every intact record in order (see the
  // recovery rules above). `replay` returning Corruption refuses that record (it is skipped
  // and counted); any other error fails Open. A file without the magic is refused
  // (Corruption); I/O errors fail Open.
  static Result<std::unique_ptr<RecordLog>> Open(
      const std::string& path, const std::function<Status(std::string_view)>& replay,
      RecordLogReport* report, storage::Env* env = storage::Env::Default());
  // As above, with only the report's `detail` (empty when the file was clean).
  static Result<std::unique_ptr<RecordLog>> Open(
      const std::string& path, const std::function<Status(std::string_view)>& replay,
      std::string* damage, storage::Env* env = storage::Env::Default());

  // Calls `fn` with the payload of every intact record of a log's bytes `data`, in order, up to
  // the first one that is not intact (read-only: nothing is cut or repaired, so it may read a
  // log that another RecordLog appends to). Corruption if `data` lacks the magic; stops at the
  // first error `fn` returns.
  static Status ForEachIntact(std::string_view data,
                              const std::function<Status(std::string_view)>& fn);

  // Appends the records and syncs.
  Status Append(const std::vector<std::string>& records);
  uint64_t size() const { return size_; }

 private:
  RecordLog(std::unique_ptr<storage::File> file, uint64_t size)
      : file_(std::move(file)), size_(size) {}
  std::unique_ptr<storage::File> file_;
  uint64_t size_;
  Status failed_;       // a failed sync: every later Append refuses
  bool dirty_ = false;  // a write failed: bytes past size_ may be partial records
};

}  // namespace meterd::engine
