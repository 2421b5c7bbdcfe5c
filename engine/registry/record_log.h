// meterd — engine/registry/record_log.h
//
// RecordLog: a small durable append-only file of checksummed records, for the server's
// directories (series, resources) whose entries are written rarely and read back whole at
// start (docs/format-registry.md):
//
//   header   8 bytes  "MTRLOG01" (format version 1 in the magic)
//   record   u32 payload length | u64 XXH3-64(payload, seed = length) | payload
//
// Append returns only after the records are on disk (one fdatasync per call, so a caller
// appends a whole request's records at once). Open replays every intact record; a torn or
// damaged tail (a crash during an append, whose caller was never told "done") is reported and
// cut off, so later appends start from a clean end.
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

class RecordLog {
 public:
  // Opens or creates `path`, calling `replay` for every intact record in order. A damaged
  // tail is truncated and described in *damage (empty when the file was clean).
  static Result<std::unique_ptr<RecordLog>> Open(
      const std::string& path, const std::function<Status(std::string_view)>& replay,
      std::string* damage);

  // Appends the records and syncs.
  Status Append(const std::vector<std::string>& records);
  uint64_t size() const { return size_; }

 private:
  RecordLog(std::unique_ptr<storage::File> file, uint64_t size)
      : file_(std::move(file)), size_(size) {}
  std::unique_ptr<storage::File> file_;
  uint64_t size_;
};

}  // namespace meterd::engine
