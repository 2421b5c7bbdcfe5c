// meterd — engine/downsample/revision_log.cc
#include "engine/downsample/revision_log.h"

#include <algorithm>
#include <optional>

#include "storage/base/coding.h"

namespace meterd::engine {
namespace {

enum RecordType : uint8_t { kPending = 1, kRevision = 2, kResolved = 3 };

void PutRow(std::string* out, const storage::RollupRow& row) {
  base::PutFixed64(out, row.series_id);
  base::PutFixed64(out, static_cast<uint64_t>(row.hour));
  for (uint64_t v : row.col) base::PutVarint64(out, v);
}

}  // namespace

void CoalesceLate(std::vector<LateSample>* samples) {
  std::sort(samples->begin(), samples->end(), [](const LateSample& a, const LateSample& b) {
    return a.series_id != b.series_id ? a.series_id < b.series_id : a.ts < b.ts;
  });
  size_t out = 0;
  for (size_t i = 0; i < samples->size();) {
    size_t j = i;
    while (j + 1 < samples->size() && (*samples)[j + 1].series_id == (*samples)[i].series_id) ++j;
    (*samples)[out++] = (*samples)[i];
    if (j > i && (*samples)[j].ts != (*samples)[i].ts) (*samples)[out++] = (*samples)[j];
    i = j + 1;
  }
  samples->resize(out);
}

std::string RevisionLogName(uint64_t seq) {
  return seq == 0 ? "revisions.log" : "revisions-" + std::to_string(seq) + ".log";
}

namespace {

// The sequence number of a revision log's file name, or nullopt for another name.
std::optional<uint64_t> SeqOfName(const std::string& name) {
  if (name == "revisions.log") return 0;
  constexpr std::string_view kPrefix = "revisions-", kSuffix = ".log";
  if (name.size() <= kPrefix.size() + kSuffix.size() || name.compare(0, kPrefix.size(), kPrefix) ||
      name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix)) {
    return std::nullopt;
  }
  const std::string digits =
      name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  if (digits.empty() || digits.size() > 19 || digits[0] == '0' ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::stoull(digits);
}

}  // namespace

Result<std::unique_ptr<RevisionLog>> RevisionLog::Open(const std::string& rollup_dir,
                                                       uint64_t first, const RowSink& sink,
                                                       std::string* damage, storage::Env* env) {
  std::unique_ptr<RevisionLog> log(new RevisionLog());
  log->dir_ = rollup_dir;
  log->env_ = env;
  METERD_ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(rollup_dir));
  std::vector<uint64_t> seqs;
  bool removed = false;
  for (const std::string& name : names) {
    const std::optional<uint64_t> seq = SeqOfName(name);
    if (!seq) continue;
    if (*seq < first) {
      // Folded into month files (the manifest says so): a crash came between the manifest
      // write and the deletion.
      METERD_RETURN_IF_ERROR(env->RemoveFile(rollup_dir + "/" + name));
      removed = true;
      continue;
    }
    seqs.push_back(*seq);
  }
  if (removed) METERD_RETURN_IF_ERROR(env->SyncDir(rollup_dir));
  std::sort(seqs.begin(), seqs.end());
  if (seqs.empty()) seqs.push_back(std::max<uint64_t>(first, 1));  // created by RecordLog::Open
  damage->clear();
  for (size_t i = 0; i < seqs.size(); ++i) {
    const std::string path = rollup_dir + "/" + RevisionLogName(seqs[i]);
    RecordLogReport report;
    auto opened = RecordLog::Open(
        path,
        [&](std::string_view record) {
          return log->Replay(record, report.damaged_ranges > 0, sink);
        },
        &report, env);
    if (!report.detail.empty()) *damage += (damage->empty() ? "" : "; ") + report.detail;
    METERD_ASSIGN_OR_RETURN(std::unique_ptr<RecordLog> opened_log, std::move(opened));
    if (i + 1 < seqs.size()) {
      log->older_bytes_[seqs[i]] = opened_log->size();
    } else {
      log->seq_ = seqs[i];
      log->log_ = std::move(opened_log);
      log->repaired_ = report.damaged_ranges > 0;
    }
  }
  return log;
}

Status RevisionLog::Replay(std::string_view record, bool after_damage, const RowSink& sink) {
  // A resolution after damaged bytes is not believed: the damage may be the torn first part of
  // the very append that carried it (the records of one append can reach the disk out of
  // order), whose revision rows are then lost. Its pending samples stay unresolved and are
  // recomputed at start, which writes only what changed.
  const auto resolve = [&](uint64_t id) {
    if (!after_damage) pending_.erase(id);
  };
  base::ByteReader in(record);
  uint8_t type = 0;
  if (!in.GetFixed8(&type)) return Status::Corruption("revision log: empty record");
  if (type == kPending || type == kResolved) {
    uint64_t id = 0;
    if (!in.GetFixed64(&id)) return Status::Corruption("revision log: short id");
    next_id_ = std::max(next_id_, id + 1);
    if (type == kResolved) {
      resolve(id);
      return Status::OK();
    }
    // Decoded whole before anything is applied: a refused record (Corruption) changes nothing.
    std::vector<LateSample> list;
    while (!in.empty()) {
      uint64_t series = 0, ts = 0;
      if (!in.GetFixed64(&series) || !in.GetFixed64(&ts)) {
        return Status::Corruption("revision log: short pending entry");
      }
      list.push_back(LateSample{series, static_cast<int64_t>(ts)});
    }
    // A pending record carried into a newer log by Rotate may also be in an older one that a
    // crash kept: the same samples, once.
    std::vector<LateSample>& pending = pending_[id];
    if (pending.empty()) pending = std::move(list);
    return Status::OK();
  }
  if (type != kRevision) return Status::Corruption("revision log: unknown record type");
  uint64_t resolved = 0;
  if (!in.GetFixed64(&resolved)) return Status::Corruption("revision log: short record");
  std::vector<storage::RollupRow> rows;
  while (!in.empty()) {
    storage::RollupRow row;
    uint64_t hour = 0;
    if (!in.GetFixed64(&row.series_id) || !in.GetFixed64(&hour)) {
      return Status::Corruption("revision log: short row");
    }
    row.hour = static_cast<int64_t>(hour);
    for (uint64_t& v : row.col) {
      if (!in.GetVarint64(&v)) return Status::Corruption("revision log: short row");
    }
    if (row.hour % storage::kSecondsPerHour != 0) {
      return Status::Corruption("revision log: a row's hour is not on the hour");
    }
    rows.push_back(row);
  }
  replayed_rows_ += rows.size();
  if (!rows.empty()) {
    Status st = sink(std::move(rows));
    // Corruption from the sink would only skip the record: the sink's failures are not the
    // record's fault, so they fail Open.
    if (st.IsCorruption()) return Status::IOError(st.ToString());
    METERD_RETURN_IF_ERROR(st);
  }
  if (resolved != 0) resolve(resolved);
  return Status::OK();
}

Result<uint64_t> RevisionLog::AddPending(const std::vector<LateSample>& samples) {
  const uint64_t id = next_id_++;
  std::string rec;
  rec.push_back(static_cast<char>(kPending));
  base::PutFixed64(&rec, id);
  for (const LateSample& s : samples) {
    base::PutFixed64(&rec, s.series_id);
    base::PutFixed64(&rec, static_cast<uint64_t>(s.ts));
  }
  METERD_RETURN_IF_ERROR(log_->Append({rec}));
  pending_[id] = samples;
  return id;
}

Status RevisionLog::AddRevisions(const std::vector<storage::RollupRow>& rows,
                                 uint64_t resolved_id) {
  if (rows.empty() && resolved_id == 0) return Status::OK();
  // One record per chunk of rows keeps records far below the log's 1 MiB limit.
  constexpr size_t kRowsPerRecord = 2048;
  std::vector<std::string> records;
  for (size_t i = 0; i < rows.size() || records.empty(); i += kRowsPerRecord) {
    std::string rec;
    rec.push_back(static_cast<char>(kRevision));
    const bool last = i + kRowsPerRecord >= rows.size();
    base::PutFixed64(&rec, last ? resolved_id : 0);
    for (size_t j = i; j < std::min(rows.size(), i + kRowsPerRecord); ++j) PutRow(&rec, rows[j]);
    records.push_back(std::move(rec));
  }
  METERD_RETURN_IF_ERROR(log_->Append(records));
  if (resolved_id != 0) pending_.erase(resolved_id);
  return Status::OK();
}

Status RevisionLog::Resolve(const std::vector<uint64_t>& ids) {
  if (ids.empty()) return Status::OK();
  std::vector<std::string> records;
  for (uint64_t id : ids) {
    std::string rec;
    rec.push_back(static_cast<char>(kResolved));
    base::PutFixed64(&rec, id);
    records.push_back(std::move(rec));
  }
  METERD_RETURN_IF_ERROR(log_->Append(records));
  for (uint64_t id : ids) pending_.erase(id);
  return Status::OK();
}

Result<uint64_t> RevisionLog::Rotate() {
  const uint64_t next = seq_ + 1;
  const std::string path = dir_ + "/" + RevisionLogName(next);
  // A leftover of a rotation a crash interrupted (never named by a manifest, so its pending
  // records are also in the older logs): started afresh.
  if (env_->FileExists(path)) METERD_RETURN_IF_ERROR(env_->RemoveFile(path));
  std::string damage;
  METERD_ASSIGN_OR_RETURN(std::unique_ptr<RecordLog> fresh,
                          RecordLog::Open(
                              path, [](std::string_view) { return Status::OK(); }, &damage, env_));
  // Unresolved pending records move with the appends: the older logs are about to be dropped.
  std::vector<std::string> records;
  for (const auto& [id, samples] : pending_) {
    std::string rec;
    rec.push_back(static_cast<char>(kPending));
    base::PutFixed64(&rec, id);
    for (const LateSample& s : samples) {
      base::PutFixed64(&rec, s.series_id);
      base::PutFixed64(&rec, static_cast<uint64_t>(s.ts));
    }
    records.push_back(std::move(rec));
  }
  METERD_RETURN_IF_ERROR(fresh->Append(records));
  older_bytes_[seq_] = log_->size();
  log_ = std::move(fresh);
  seq_ = next;
  repaired_ = false;
  return next;
}

Status RevisionLog::DropBefore(uint64_t seq) {
  bool removed = false;
  for (auto it = older_bytes_.begin(); it != older_bytes_.end() && it->first < seq;) {
    METERD_RETURN_IF_ERROR(env_->RemoveFile(dir_ + "/" + RevisionLogName(it->first)));
    removed = true;
    it = older_bytes_.erase(it);
  }
  if (removed) METERD_RETURN_IF_ERROR(env_->SyncDir(dir_));
  return Status::OK();
}

uint64_t RevisionLog::bytes() const {
  uint64_t n = log_ ? log_->size() : 0;
  for (const auto& [seq, size] : older_bytes_) n += size;
  return n;
}

std::string RevisionLog::DurableMark() const {
  std::string mark = std::to_string(seq_) + ":" + std::to_string(log_ ? log_->size() : 0);
  if (repaired_) mark += ":repaired";
  return mark;
}

}  // namespace meterd::engine
