// meterd — storage/store/store_write.cc: append, flush, retention, the background flusher.
#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>

#include "storage/base/check.h"
#include "storage/base/clock.h"
#include "storage/store/batch_record.h"
#include "storage/store/store_impl.h"

namespace meterd::storage {
namespace {

void Reject(AppendResult* result, uint32_t index, Status reason) {
  ++result->rejected;
  if (result->first_rejections.size() < kMaxReportedRejections) {
    result->first_rejections.push_back(SampleRejection{index, std::move(reason)});
  }
}

constexpr uint32_t kNewSeries = UINT32_MAX;

// Removes from *rows (and rejects) the samples Head::Insert would refuse: a series that holds
// another value type in `head`, or, for a series new to the head, in an earlier row of this
// batch. Checking before the WAL append lets the head take the batch only once it is logged.
// (*chunks)[k] is kept row k's head chunk (Head::InsertInto), or kNewSeries: the head is
// probed once per row here, not again when inserting.
void RejectTypeChanges(const Head& head, const SampleBatch& batch, std::vector<uint32_t>* rows,
                       std::vector<uint32_t>* chunks, AppendResult* result) {
  const std::vector<uint64_t>& ids = batch.series();
  const std::vector<ValueType>& types = batch.types();
  std::unordered_map<uint64_t, ValueType> new_series;  // allocates only for series new to head
  uint64_t last_id = 0;
  ValueType last_type{};
  uint32_t last_chunk = kNewSeries;
  bool have_last = false;
  size_t kept = 0;
  chunks->clear();
  for (uint32_t row : *rows) {
    const uint64_t id = ids[row];
    if (!have_last || id != last_id) {  // agents send a series' rows together: look up once
      ValueType type;
      last_chunk = kNewSeries;
      if (!head.LookupType(id, &type, &last_chunk)) {
        type = new_series.try_emplace(id, types[row]).first->second;
      }
      last_id = id;
      last_type = type;
      have_last = true;
    }
    if (types[row] == last_type) {
      (*rows)[kept++] = row;
      chunks->push_back(last_chunk);
    } else {
      Reject(result, row, Status::InvalidArgument("series changes value type"));
    }
  }
  rows->resize(kept);
}

}  // namespace

Result<AppendResult> Store::Append(const SampleBatch& batch) {
  Impl& s = *impl_;
  AppendResult result;
  // Time limits are checked outside the lock; the record is encoded outside it too.
  const int64_t now = s.Now();
  const int64_t newest = now + s.options.max_future_seconds;
  const int64_t oldest =
      s.options.retention_seconds > 0 ? now - s.options.retention_seconds : INT64_MIN;
  std::vector<uint32_t> rows;
  rows.reserve(batch.size());
  const auto& ts = batch.timestamps();
  for (uint32_t i = 0; i < batch.size(); ++i) {
    if (ts[i] > newest) {
      Reject(&result, i,
             Status::OutOfRange("sample at " + std::to_string(ts[i]) + " is more than " +
                                std::to_string(s.options.max_future_seconds) + " s in the future"));
    } else if (ts[i] < oldest) {
      Reject(&result, i,
             Status::OutOfRange("sample at " + std::to_string(ts[i]) +
                                " is older than the retention period"));
    } else {
      rows.push_back(i);
    }
  }
  if (rows.empty()) {
    s.rejected_samples += result.rejected;
    return result;
  }
  std::string record;
  EncodeBatchRecord(batch, result.rejected ? &rows : nullptr, &record);

  std::unique_lock<std::mutex> lock(s.mu);
  // Backpressure: a head at its budget waits until the flusher has frozen it (and, if the
  // previous head is still being flushed, until that flush is done), so the live head stays
  // under budget + one batch and at most one frozen head exists. Without the background
  // flusher, Append flushes inline below instead. A failing flush makes appends fail rather
  // than wait forever.
  if (s.options.background_flush && s.head->memory_bytes() >= s.options.head_memory_budget) {
    s.flush_requested = true;
    s.flusher_cv.notify_one();
    s.state_cv.wait(lock, [&] {
      return s.stopping || !s.background_error.ok() ||
             s.head->memory_bytes() < s.options.head_memory_budget;
    });
    if (!s.background_error.ok() && s.head->memory_bytes() >= s.options.head_memory_budget) {
      // A full disk is ResourceExhausted (the client retries; the flusher retries by itself
      // once space returns); any other flush failure is Busy.
      if (s.background_error.IsResourceExhausted()) {
        return s.background_error.WithContext("store: head is full and flushing fails");
      }
      return Status::Busy("store: head is full and flushing fails: " +
                          s.background_error.ToString());
    }
  }
  // Unavailable, not InvalidArgument: the batch is fine, and the ingest path has the client
  // resend it (to the restarted server) instead of refusing it for good.
  if (s.closed) return Status::Unavailable("store is closed");
  // Log first, then insert: the head (which scans and exports read) only ever holds samples
  // whose record the WAL took. A failed WAL refuses every later append (WalWriter invariant 4),
  // so nothing reaches the head unlogged. Both happen under `mu`, so WAL order == head order.
  // The type check the head would do runs first, so the record holds exactly what the head
  // accepts and replay rebuilds the same head.
  const size_t before_type_check = rows.size();
  std::vector<uint32_t> chunks;
  RejectTypeChanges(*s.head, batch, &rows, &chunks, &result);
  const size_t kept = rows.size();
  if (kept != before_type_check) {  // rare: re-encode what the head will accept
    record.clear();
    if (kept > 0) EncodeBatchRecord(batch, &rows, &record);
  }
  if (kept > 0) {
    auto lsn = s.wal->Append(record);
    if (!lsn.ok()) return lsn.status();
    result.lsn = *lsn;
    if (s.head_started == 0) s.head_started = now;
    for (size_t k = 0; k < rows.size(); ++k) {
      const Sample x = batch.at(rows[k]);
      if (chunks[k] != kNewSeries) {  // chunk numbers stay valid while the head takes series
        s.head->InsertInto(chunks[k], x.ts, x.value_bits);
      } else {
        METERD_CHECK(s.head->Insert(x.series_id, x.ts, x.value_bits, x.type),
                     "a logged sample was refused by the head (RejectTypeChanges missed it)");
      }
    }
  }
  result.accepted = static_cast<uint32_t>(kept);
  const bool over_budget = s.head->memory_bytes() >= s.options.head_memory_budget;
  if (over_budget) s.flush_requested = true;
  lock.unlock();

  s.appended_samples += result.accepted;
  s.rejected_samples += result.rejected;
  if (over_budget) {
    if (s.options.background_flush) {
      s.flusher_cv.notify_one();
    } else {
      METERD_RETURN_IF_ERROR(Flush());
    }
  }
  return result;
}

Status Store::WaitDurable(uint64_t lsn) {
  if (lsn == 0) return Status::OK();
  return impl_->wal->WaitDurable(lsn);
}

void Store::OnDurable(uint64_t lsn, std::function<void(const Status&)> done) {
  if (lsn == 0) {
    done(Status::OK());
    return;
  }
  impl_->wal->OnDurable(lsn, std::move(done));
}

Result<AppendResult> Store::AppendDurable(const SampleBatch& batch) {
  METERD_ASSIGN_OR_RETURN(AppendResult result, Append(batch));
  METERD_RETURN_IF_ERROR(WaitDurable(result.lsn));
  return result;
}

Status Store::Flush() {
  std::lock_guard<std::mutex> flush_lock(impl_->flush_mu);
  return impl_->FlushLocked().NoSpaceAsExhausted();
}

Status Store::Impl::FlushLocked() {
  std::shared_ptr<const Head> frozen;
  uint64_t new_wal_min;
  Manifest next;
  {
    std::lock_guard<std::mutex> lock(mu);
    flush_requested = false;
    if (imm == nullptr) {  // else: a failed flush left its head to retry
      if (head->empty()) return Status::OK();
      // Records appended from now on go to a new WAL file; every older file is covered by
      // the frozen head.
      METERD_ASSIGN_OR_RETURN(new_wal_min, wal->Rotate());
      imm = std::shared_ptr<const Head>(std::move(head));
      head = std::make_unique<Head>();
      head_started = 0;
      state_cv.notify_all();  // appenders waiting for an empty head may go on
    } else {
      new_wal_min = wal->current_file_number();
    }
    frozen = imm;
    next = manifest;
  }

  // Write one segment per partition the frozen head touches, series in ascending id order.
  struct Output {
    uint64_t segment_id;
    std::string path;
    std::unique_ptr<SegmentWriter> writer;
  };
  std::map<int64_t, Output> outputs;
  std::vector<int64_t> ts;
  std::vector<uint64_t> values;
  for (uint64_t id : frozen->SortedSeriesIds()) {
    ts.clear();
    values.clear();
    ValueType type;
    frozen->Read(id, INT64_MIN, INT64_MAX, &type, &ts, &values);
    size_t begin = 0;
    while (begin < ts.size()) {
      const int64_t partition = PartitionOf(ts[begin]);
      size_t end = begin + 1;
      while (end < ts.size() && ts[end] < partition + options.partition_seconds) ++end;
      auto it = outputs.find(partition);
      if (it == outputs.end()) {
        Output out;
        out.segment_id = next.next_segment_id++;
        out.path = SegmentPath(options.dir, partition, out.segment_id);
        METERD_RETURN_IF_ERROR(
            options.env->CreateDirIfMissing(PartitionDir(options.dir, partition)));
        METERD_ASSIGN_OR_RETURN(out.writer,
                                SegmentWriter::Create(out.path + ".tmp", out.segment_id, partition,
                                                      options.io_backend, options.env));
        it = outputs.emplace(partition, std::move(out)).first;
      }
      METERD_RETURN_IF_ERROR(
          it->second.writer->AddSeries(id, type, &ts[begin], &values[begin], end - begin));
      begin = end;
    }
  }
  std::vector<LiveSegment> added;
  for (auto& [partition, out] : outputs) {
    METERD_ASSIGN_OR_RETURN(SegmentInfo info, out.writer->Finish());
    METERD_RETURN_IF_ERROR(options.env->RenameFile(out.path + ".tmp", out.path));
    METERD_RETURN_IF_ERROR(options.env->SyncDir(PartitionDir(options.dir, partition)));
    SegmentRecord rec{out.segment_id, partition,   info.min_ts, info.max_ts,
                      info.samples,   info.series, info.blocks, info.file_bytes};
    METERD_ASSIGN_OR_RETURN(auto reader, SegmentReader::Open(out.path, options.env));
    added.push_back(LiveSegment{rec, std::shared_ptr<SegmentReader>(std::move(reader))});
    next.segments.push_back(rec);
  }
  METERD_RETURN_IF_ERROR(
      options.env->SyncDir(options.dir + "/segments"));  // new partition directories

  // The switch: from here on the segments are the store's and the old WAL files are not.
  next.generation++;
  next.wal_min_number = new_wal_min;
  METERD_RETURN_IF_ERROR(WriteManifest(options.dir, next, options.env));
  {
    std::lock_guard<std::mutex> lock(mu);
    auto segs = std::make_shared<std::vector<LiveSegment>>(*segments);
    segs->insert(segs->end(), added.begin(), added.end());
    segments = std::move(segs);
    manifest = std::move(next);
    imm = nullptr;
  }
  state_cv.notify_all();
  flushes++;

  METERD_ASSIGN_OR_RETURN(auto wal_files, ListWalFiles(options.dir + "/wal", options.env));
  for (uint64_t n : wal_files) {
    if (n < new_wal_min)
      METERD_RETURN_IF_ERROR(options.env->RemoveFile(WalFileName(options.dir + "/wal", n)));
  }
  return Status::OK();
}

Status Store::WithFilesStill(const std::function<Status()>& fn) {
  std::lock_guard<std::mutex> flush_lock(impl_->flush_mu);
  METERD_RETURN_IF_ERROR(WaitDurable(impl_->wal->last_lsn()));
  return fn();
}

Status Store::EnforceRetention() {
  std::lock_guard<std::mutex> flush_lock(impl_->flush_mu);
  return impl_->RetentionLocked();
}

Status Store::Impl::RetentionLocked() {
  if (options.retention_seconds <= 0) return Status::OK();
  const int64_t horizon = Now() - options.retention_seconds;
  Manifest next;
  std::set<int64_t> dropped;
  {
    std::lock_guard<std::mutex> lock(mu);
    next = manifest;
  }
  std::vector<SegmentRecord> kept;
  for (const SegmentRecord& rec : next.segments) {
    if (rec.partition_start + next.partition_seconds <= horizon) {
      dropped.insert(rec.partition_start);
    } else {
      kept.push_back(rec);
    }
  }
  if (dropped.empty()) return Status::OK();
  next.segments = std::move(kept);
  next.generation++;
  METERD_RETURN_IF_ERROR(WriteManifest(options.dir, next, options.env));
  {
    std::lock_guard<std::mutex> lock(mu);
    auto segs = std::make_shared<std::vector<LiveSegment>>();
    for (const LiveSegment& seg : *segments) {
      if (dropped.count(seg.record.partition_start) == 0) segs->push_back(seg);
    }
    segments = std::move(segs);
    manifest = std::move(next);
  }
  // Readers still scanning a dropped segment keep their open descriptor; unlink is safe.
  for (int64_t p : dropped)
    METERD_RETURN_IF_ERROR(options.env->RemoveTree(PartitionDir(options.dir, p)));
  partitions_dropped += dropped.size();
  return Status::OK();
}

void Store::Impl::FlusherLoop() {
  // Retention is checked once a minute: partitions are at least hours long, so a minute of lag
  // changes nothing, and the check is a walk over the segment list.
  constexpr int64_t kRetentionCheckSeconds = 60;
  int64_t last_retention = 0;
  std::unique_lock<std::mutex> lock(mu);
  while (!stopping) {
    flusher_cv.wait_for(lock, std::chrono::seconds(1),
                        [this] { return stopping || flush_requested; });
    if (stopping) break;
    const int64_t now = Now();
    // A failed flush is retried every second (a full disk: it succeeds once space returns),
    // even when it failed before freezing the head (the WAL could not rotate).
    const bool due = flush_requested || imm != nullptr || !background_error.ok() ||
                     (head_started != 0 && now - head_started >= options.flush_interval_seconds);
    const bool retention_due = now - last_retention >= kRetentionCheckSeconds;
    if (!due && !retention_due) continue;
    lock.unlock();
    {
      std::lock_guard<std::mutex> flush_lock(flush_mu);
      Status st = due ? FlushLocked() : Status::OK();
      if (st.ok() && retention_due) {
        st = RetentionLocked();
        last_retention = now;
      }
      std::lock_guard<std::mutex> relock(mu);
      background_error = st.NoSpaceAsExhausted();  // cleared by the next successful flush
      if (!st.ok()) state_cv.notify_all();
    }
    lock.lock();
  }
}

}  // namespace meterd::storage
