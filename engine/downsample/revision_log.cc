// meterd — engine/downsample/revision_log.cc
#include "engine/downsample/revision_log.h"

#include <algorithm>

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

Result<std::unique_ptr<RevisionLog>> RevisionLog::Open(const std::string& path, std::string* damage,
                                                       storage::Env* env) {
  std::unique_ptr<RevisionLog> log(new RevisionLog());
  RecordLogReport report;
  auto opened = RecordLog::Open(
      path, [&](std::string_view record) { return log->Replay(record, report.damaged_ranges > 0); },
      &report, env);
  *damage = report.detail;
  METERD_ASSIGN_OR_RETURN(log->log_, std::move(opened));
  return log;
}

Status RevisionLog::Replay(std::string_view record, bool after_damage) {
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
    std::vector<LateSample>& pending = pending_[id];
    pending.insert(pending.end(), list.begin(), list.end());
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
    rows.push_back(row);
  }
  for (const storage::RollupRow& row : rows) {
    revisions_[{row.series_id, row.hour}].push_back(row);
    ++revision_count_;
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
  for (const storage::RollupRow& row : rows) {
    revisions_[{row.series_id, row.hour}].push_back(row);
    ++revision_count_;
  }
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

}  // namespace meterd::engine
