// meterd — storage/options.h
//
// Options of the store, with defaults that suit a per-second fleet on one node. Every default
// says why it has its value.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "storage/io/file.h"

namespace meterd::storage {

struct StoreOptions {
  std::string dir;  // created if missing

  // Raw samples are grouped in partitions of this many seconds; retention drops whole
  // partitions. A day keeps a partition's segments few and lets retention act daily.
  int64_t partition_seconds = 86400;
  // Raw partitions that ended more than this long ago are dropped (0 = keep forever). 35 days
  // covers a billing month plus its late-data and dispute window.
  int64_t retention_seconds = 35 * 86400;
  // Samples more than this far ahead of the clock are refused (OutOfRange): an agent with a
  // wrong clock must not create data in a future billing hour. 10 minutes tolerates NTP drift.
  int64_t max_future_seconds = 600;

  // When the head's accounted memory reaches this, it is frozen and flushed to segments. Appends
  // block (backpressure) while a full head waits for the previous flush, so head memory stays
  // under 2x this budget whatever the load.
  size_t head_memory_budget = 256u << 20;
  // A head older than this is flushed even when small, so WAL replay after a crash stays short.
  int64_t flush_interval_seconds = 3600;
  // Run the background flusher (tests and tools that flush explicitly turn it off).
  bool background_flush = true;
  // Flush the head on Close so a clean restart replays nothing.
  bool flush_on_close = true;

  uint64_t wal_file_size = 64ull << 20;
  size_t wal_max_pending_bytes = 32u << 20;
  IoBackend io_backend = IoBackend::kAuto;
  // Told the duration of every WAL group write + fdatasync (WalOptions::sync_observer).
  std::function<void(std::chrono::nanoseconds)> wal_sync_observer;
  // Every file operation of the store (WAL, segments, manifest, quarantine log) goes through
  // this Env; tests give a fault-injecting one (tests/testing/fault_env.h). Not owned; must
  // outlive the store.
  Env* env = Env::Default();

  // The clock used for the future and retention limits (unix seconds); tests inject one.
  std::function<int64_t()> now;
};

}  // namespace meterd::storage
