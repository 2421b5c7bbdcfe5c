// meterd — storage/store/store.cc: open, recovery, stats and close.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "storage/base/clock.h"
#include "storage/store/batch_record.h"
#include "storage/store/store_impl.h"

namespace meterd::storage {
namespace {

std::string WalDir(const std::string& dir) { return dir + "/wal"; }

// Removes segment files (and partition directories) a crash left behind unpublished: a flush
// writes and renames its segments before switching the manifest, so anything not listed there
// was never part of the store.
Result<uint64_t> RemoveOrphans(Env* env, const std::string& dir, const Manifest& manifest) {
  std::set<std::string> live;
  std::set<std::string> live_partitions;
  for (const SegmentRecord& s : manifest.segments) {
    live.insert(SegmentPath(dir, s.partition_start, s.segment_id));
    live_partitions.insert(PartitionDir(dir, s.partition_start));
  }
  uint64_t removed = 0;
  const std::string seg_root = dir + "/segments";
  METERD_ASSIGN_OR_RETURN(auto partitions, env->ListDir(seg_root));
  for (const std::string& p : partitions) {
    const std::string pdir = seg_root + "/" + p;
    METERD_ASSIGN_OR_RETURN(auto files, env->ListDir(pdir));
    for (const std::string& f : files) {
      const std::string path = pdir + "/" + f;
      if (live.count(path) == 0) {
        METERD_RETURN_IF_ERROR(env->RemoveFile(path));
        ++removed;
      }
    }
    if (live_partitions.count(pdir) == 0) METERD_RETURN_IF_ERROR(env->RemoveTree(pdir));
  }
  return removed;
}

}  // namespace

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  Status s = Close();
  if (!s.ok()) std::fprintf(stderr, "meterd store: close: %s\n", s.ToString().c_str());
}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options_in) {
  const int64_t started = base::MonotonicNanos();
  auto impl = std::make_unique<Impl>();
  impl->options = options_in;
  StoreOptions& options = impl->options;
  if (!options.now) options.now = [] { return base::UnixSecondsNow(); };
  if (options.dir.empty()) return Status::InvalidArgument("store: no directory given");
  if (options.partition_seconds <= 0) return Status::InvalidArgument("store: partition_seconds");
  if (options.env == nullptr) options.env = Env::Default();
  Env* env = options.env;
  const std::string& dir = options.dir;
  METERD_RETURN_IF_ERROR(env->CreateDirIfMissing(dir));
  METERD_RETURN_IF_ERROR(env->CreateDirIfMissing(WalDir(dir)));
  METERD_RETURN_IF_ERROR(env->CreateDirIfMissing(dir + "/segments"));

  // One process per directory: a second writer would interleave WAL files and manifests.
  auto lock = env->LockFile(dir + "/LOCK");
  if (!lock.ok()) {
    if (lock.status().IsBusy()) {
      return Status::Busy("store " + dir + " is in use by another process");
    }
    return lock.status();
  }
  impl->lock = std::move(lock).value();
  std::unique_ptr<Store> store(new Store(std::move(impl)));
  Impl& s = *store->impl_;

  // 1. Manifest.
  METERD_ASSIGN_OR_RETURN(auto manifest, ReadManifest(dir, env));
  if (manifest) {
    if (manifest->partition_seconds != options.partition_seconds) {
      // Existing segments were cut with the recorded length; it stays the store's length.
      options.partition_seconds = manifest->partition_seconds;
    }
    s.manifest = std::move(*manifest);
  } else {
    s.manifest.partition_seconds = options.partition_seconds;
    METERD_RETURN_IF_ERROR(WriteManifest(dir, s.manifest, env));
  }

  // 2. Segments: verify every footer; keep what can be read.
  auto segments = std::make_shared<std::vector<LiveSegment>>();
  for (const SegmentRecord& rec : s.manifest.segments) {
    const std::string path = SegmentPath(dir, rec.partition_start, rec.segment_id);
    auto reader = SegmentReader::Open(path, env);
    if (!reader.ok()) {
      s.report.segment_damage.push_back(path +
                                        ": unreadable, not served: " + reader.status().ToString());
      continue;
    }
    if ((*reader)->salvaged()) {
      s.report.segment_damage.push_back(path + ": salvaged intact blocks: " + (*reader)->damage());
    }
    segments->push_back(LiveSegment{rec, std::shared_ptr<SegmentReader>(std::move(*reader))});
  }
  s.segments = std::move(segments);
  METERD_ASSIGN_OR_RETURN(s.report.orphan_files_removed, RemoveOrphans(env, dir, s.manifest));
  METERD_RETURN_IF_ERROR(s.LoadQuarantine());

  // 3. WAL: forget files the manifest says segments cover, replay the rest into the head.
  METERD_ASSIGN_OR_RETURN(auto wal_files, ListWalFiles(WalDir(dir), env));
  for (uint64_t n : wal_files) {
    if (n < s.manifest.wal_min_number) {
      METERD_RETURN_IF_ERROR(env->RemoveFile(WalFileName(WalDir(dir), n)));
    }
  }
  s.head = std::make_unique<Head>();
  SampleBatch batch;
  uint64_t replay_type_conflicts = 0;
  auto replay = ReplayWal(
      WalDir(dir), s.manifest.wal_min_number,
      [&](uint64_t, std::string_view record) -> Status {
        batch.Clear();
        Status st = DecodeBatchRecord(record, &batch);
        if (!st.ok()) return st;  // checksum passed: a bug, not bit rot
        for (size_t i = 0; i < batch.size(); ++i) {
          const Sample x = batch.at(i);
          if (!s.head->Insert(x.series_id, x.ts, x.value_bits, x.type)) {
            ++replay_type_conflicts;
          }
        }
        s.report.wal_samples += batch.size();
        return Status::OK();
      },
      env);
  if (!replay.ok()) return replay.status().WithContext("store: WAL replay");
  s.report.wal_files = replay->file_numbers.size();
  s.report.wal_records = replay->records;
  for (const WalDamage& d : replay->damage) {
    s.report.wal_damage.push_back(d.file + " offset " + std::to_string(d.offset) + ": " +
                                  std::to_string(d.bytes) + " bytes " +
                                  (d.torn_tail ? "of torn tail cut" : "corrupt, skipped") + " (" +
                                  d.reason + ")");
  }
  if (!s.head->empty()) s.head_started = s.Now();

  // WAL files that hold no record at all (a process stopped by a crash before it logged
  // anything) are needed by nothing: move the low-water mark past them and delete them, so
  // that repeated crashes of an idle server do not pile up preallocated files and lengthen
  // every recovery. The manifest is switched first (atomically); a crash before the deletions
  // leaves files below the mark, which the next open deletes above.
  if (replay->records == 0 && replay->damage.empty() && !replay->file_numbers.empty()) {
    s.manifest.wal_min_number = replay->file_numbers.back() + 1;
    METERD_RETURN_IF_ERROR(WriteManifest(dir, s.manifest, env));
    for (uint64_t n : replay->file_numbers) {
      METERD_RETURN_IF_ERROR(env->RemoveFile(WalFileName(WalDir(dir), n)));
    }
    replay->file_numbers.clear();
  }

  // 4. A new WAL file after every existing one.
  uint64_t next_wal = s.manifest.wal_min_number;
  if (!replay->file_numbers.empty()) next_wal = replay->file_numbers.back() + 1;
  // (After the clean-up above, wal_min_number is already past every removed file, so file
  // numbers keep increasing across restarts.)
  WalOptions wal_options;
  wal_options.dir = WalDir(dir);
  wal_options.file_size = options.wal_file_size;
  wal_options.max_pending_bytes = options.wal_max_pending_bytes;
  wal_options.backend = options.io_backend;
  wal_options.env = env;
  wal_options.sync_observer = options.wal_sync_observer;
  METERD_ASSIGN_OR_RETURN(s.wal, WalWriter::Open(wal_options, next_wal));

  // A replayed head over budget is flushed now, before new appends pile onto it.
  if (s.head->memory_bytes() >= options.head_memory_budget) {
    std::lock_guard<std::mutex> flush_lock(s.flush_mu);
    METERD_RETURN_IF_ERROR(s.FlushLocked());
  }
  if (options.background_flush) s.flusher = std::thread([&s] { s.FlusherLoop(); });
  s.report.seconds = static_cast<double>(base::MonotonicNanos() - started) / 1e9;
  return store;
}

Status Store::Close() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.closed) return Status::OK();
    s.closed = true;
    s.stopping = true;
  }
  s.flusher_cv.notify_all();
  s.state_cv.notify_all();
  if (s.flusher.joinable()) s.flusher.join();
  Status result;
  if (s.options.flush_on_close && s.wal) {
    std::lock_guard<std::mutex> flush_lock(s.flush_mu);
    result = s.FlushLocked();
  }
  if (s.wal) {
    Status st = s.wal->Close();
    if (result.ok()) result = st;
  }
  s.lock.reset();  // releases the flock
  return result;
}

StoreStats Store::stats() const {
  const Impl& s = *impl_;
  StoreStats st;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    for (const LiveSegment& seg : *s.segments) {
      ++st.segments;
      st.segment_bytes += seg.record.file_bytes;
      st.segment_samples += seg.record.samples;
    }
    st.head_samples = s.head->samples() + (s.imm ? s.imm->samples() : 0);
    st.head_series = s.head->series_count();
    st.head_memory_bytes = s.head->memory_bytes() + (s.imm ? s.imm->memory_bytes() : 0);
    st.quarantined_blocks = s.quarantined.size();
  }
  auto wal_bytes = s.options.env->DirectoryBytes(s.options.dir + "/wal");
  st.wal_bytes = wal_bytes.ok() ? *wal_bytes : 0;
  st.appended_samples = s.appended_samples.load();
  st.rejected_samples = s.rejected_samples.load();
  st.flushes = s.flushes.load();
  st.partitions_dropped = s.partitions_dropped.load();
  st.io_backend = s.wal ? IoBackendName(s.wal->backend()) : "";
  return st;
}

const RecoveryReport& Store::recovery_report() const { return impl_->report; }
const StoreOptions& Store::options() const { return impl_->options; }

}  // namespace meterd::storage
