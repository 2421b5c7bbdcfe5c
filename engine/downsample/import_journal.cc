// meterd — engine/downsample/import_journal.cc
#include "engine/downsample/import_journal.h"

#include <algorithm>
#include <charconv>

#include "storage/base/coding.h"

namespace meterd::engine {
namespace {

// Record types (docs/format-rollup.md, "Import journals").
constexpr uint8_t kJournalBegin = 1;
constexpr uint8_t kJournalUndo = 2;
constexpr uint8_t kJournalChunk = 3;
constexpr uint8_t kJournalRollback = 4;
// Undo entries per record: a record stays far below RecordLog's 1 MiB limit (an entry with a
// previous bucket is at most 2 + 10 + 10 + 1 + 23 x 10 bytes).
constexpr size_t kJournalUndoPerRecord = 2048;

std::string JournalName(uint64_t id) { return "import-" + std::to_string(id) + ".log"; }

std::optional<uint64_t> JournalIdOf(const std::string& name) {
  constexpr std::string_view kPrefix = "import-", kSuffix = ".log";
  if (name.size() <= kPrefix.size() + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix)) {
    return std::nullopt;
  }
  const char* b = name.data() + kPrefix.size();
  const char* e = name.data() + name.size() - kSuffix.size();
  uint64_t id = 0;
  auto [p, ec] = std::from_chars(b, e, id);
  if (ec != std::errc() || p != e || id == 0) return std::nullopt;
  return id;
}

void EncodeUndo(const ImportUndo* first, size_t n, std::string* out) {
  out->push_back(static_cast<char>(kJournalUndo));
  base::PutVarint64(out, n);
  uint64_t prev_series = 0;
  int64_t prev_hour = 0;
  for (size_t i = 0; i < n; ++i) {
    const ImportUndo& u = first[i];
    const uint64_t series = u.prev.series_id;
    // Entries are sorted by (series, hour) within a request: the series as a delta, the hour in
    // hours, relative to the previous entry's within the same series.
    base::PutVarint64(out, series - prev_series);
    const int64_t hours = u.prev.hour / 3600;
    base::PutVarint64(
        out, base::ZigZagEncode(i > 0 && series == prev_series ? hours - prev_hour : hours));
    prev_series = series;
    prev_hour = hours;
    out->push_back(u.had_prev ? 1 : 0);
    if (u.had_prev) {
      for (size_t c = 0; c < storage::kRollupColumns; ++c) {
        base::PutVarint64(out, u.prev.col[c]);
      }
    }
  }
}

Status DecodeUndo(base::ByteReader* in, std::vector<ImportUndo>* out) {
  uint64_t n = 0;
  if (!in->GetVarint64(&n) || n > kJournalUndoPerRecord) {
    return Status::Corruption("import journal: bad undo count");
  }
  uint64_t series = 0;
  int64_t hours = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t ds = 0, zh = 0;
    uint8_t had = 0;
    if (!in->GetVarint64(&ds) || !in->GetVarint64(&zh) || !in->GetFixed8(&had) || had > 1) {
      return Status::Corruption("import journal: truncated undo entry");
    }
    const int64_t h = base::ZigZagDecode(zh);
    hours = (i > 0 && ds == 0) ? hours + h : h;
    series += ds;
    ImportUndo u;
    u.had_prev = had == 1;
    u.prev.series_id = series;
    u.prev.hour = hours * 3600;
    if (u.had_prev) {
      for (size_t c = 0; c < storage::kRollupColumns; ++c) {
        if (!in->GetVarint64(&u.prev.col[c])) {
          return Status::Corruption("import journal: truncated undo row");
        }
      }
    }
    out->push_back(u);
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<ImportJournals>> ImportJournals::Open(const std::string& rollup_dir,
                                                             storage::Env* env) {
  const std::string dir = rollup_dir + "/imports";
  METERD_RETURN_IF_ERROR(env->CreateDirIfMissing(dir));
  METERD_ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(dir));
  uint64_t last = 0;
  for (const std::string& name : names) {
    if (auto id = JournalIdOf(name)) last = std::max(last, *id);
  }
  return std::unique_ptr<ImportJournals>(new ImportJournals(dir, env, last));
}

std::string ImportJournals::PathOf(uint64_t id) const { return dir_ + "/" + JournalName(id); }

Result<uint64_t> ImportJournals::Begin(int64_t now) {
  const uint64_t id = last_id_ + 1;
  std::string damage;
  METERD_ASSIGN_OR_RETURN(
      auto log, RecordLog::Open(
                    PathOf(id), [](std::string_view) { return Status::OK(); }, &damage, env_));
  // The name must survive a crash before the id is handed out: a later Begin must not reuse it.
  METERD_RETURN_IF_ERROR(env_->SyncDir(dir_));
  std::string rec(1, static_cast<char>(kJournalBegin));
  base::PutVarint64(&rec, base::ZigZagEncode(now));
  METERD_RETURN_IF_ERROR(log->Append({rec}));
  last_id_ = id;
  Journal& j = open_[id];
  j.log = std::move(log);
  j.used = ++uses_;
  return id;
}

bool ImportJournals::Exists(uint64_t id) {
  return open_.contains(id) || (id != 0 && id <= last_id_ && env_->FileExists(PathOf(id)));
}

Result<ImportJournals::Journal*> ImportJournals::Get(uint64_t id) {
  if (auto it = open_.find(id); it != open_.end()) {
    it->second.used = ++uses_;
    return &it->second;
  }
  if (!Exists(id)) return Status::NotFound("import " + std::to_string(id) + " does not exist");
  if (open_.size() >= kImportJournalsOpen) {
    auto oldest = std::min_element(open_.begin(), open_.end(), [](const auto& a, const auto& b) {
      return a.second.used < b.second.used;
    });
    open_.erase(oldest);
  }
  Journal j;
  std::string damage;
  METERD_ASSIGN_OR_RETURN(
      j.log, RecordLog::Open(
                 PathOf(id),
                 [&j](std::string_view payload) -> Status {
                   base::ByteReader in(payload);
                   uint8_t type = 0;
                   if (!in.GetFixed8(&type)) return Status::Corruption("empty record");
                   if (type == kJournalChunk) {
                     uint64_t chunk = 0;
                     ImportChunkCounts c;
                     if (!in.GetVarint64(&chunk) || !in.GetVarint64(&c.imported) ||
                         !in.GetVarint64(&c.unchanged) || !in.GetVarint64(&c.refused)) {
                       return Status::Corruption("import journal: truncated chunk record");
                     }
                     j.chunks[chunk] = c;
                   } else if (type == kJournalRollback) {
                     uint64_t at = 0;
                     ImportRollbackMark m;
                     if (!in.GetVarint64(&at) || !in.GetVarint64(&m.restored) ||
                         !in.GetVarint64(&m.superseded)) {
                       return Status::Corruption("import journal: truncated rollback record");
                     }
                     m.at = base::ZigZagDecode(at);
                     j.rolled_back = m;
                   }
                   return Status::OK();  // begin and undo records: read by ForEachUndo
                 },
                 &damage, env_));
  j.used = ++uses_;
  auto [it, fresh] = open_.emplace(id, std::move(j));
  return &it->second;
}

Result<std::optional<ImportChunkCounts>> ImportJournals::Chunk(uint64_t id, uint64_t chunk) {
  METERD_ASSIGN_OR_RETURN(Journal * j, Get(id));
  auto it = j->chunks.find(chunk);
  if (it == j->chunks.end()) return std::optional<ImportChunkCounts>();
  return std::optional<ImportChunkCounts>(it->second);
}

Status ImportJournals::Record(uint64_t id, uint64_t chunk, const ImportChunkCounts& counts,
                              const std::vector<ImportUndo>& undo) {
  METERD_ASSIGN_OR_RETURN(Journal * j, Get(id));
  std::vector<std::string> records;
  for (size_t i = 0; i < undo.size(); i += kJournalUndoPerRecord) {
    records.emplace_back();
    EncodeUndo(undo.data() + i, std::min(kJournalUndoPerRecord, undo.size() - i), &records.back());
  }
  std::string rec(1, static_cast<char>(kJournalChunk));
  base::PutVarint64(&rec, chunk);
  base::PutVarint64(&rec, counts.imported);
  base::PutVarint64(&rec, counts.unchanged);
  base::PutVarint64(&rec, counts.refused);
  records.push_back(std::move(rec));
  METERD_RETURN_IF_ERROR(j->log->Append(records));
  j->chunks[chunk] = counts;
  return Status::OK();
}

Status ImportJournals::ForEachUndo(uint64_t id,
                                   const std::function<Status(std::vector<ImportUndo>&&)>& fn) {
  // Read-only, up to the first record that is not intact: a torn tail is a request that was
  // never acknowledged, and an import appending meanwhile is not disturbed.
  std::string data;
  METERD_RETURN_IF_ERROR(env_->ReadWholeFile(PathOf(id), &data));
  return RecordLog::ForEachIntact(data, [&](std::string_view payload) -> Status {
    base::ByteReader in(payload);
    uint8_t type = 0;
    if (!in.GetFixed8(&type) || type != kJournalUndo) return Status::OK();
    std::vector<ImportUndo> batch;
    METERD_RETURN_IF_ERROR(DecodeUndo(&in, &batch));
    return fn(std::move(batch));
  });
}

Result<std::optional<ImportRollbackMark>> ImportJournals::RolledBack(uint64_t id) {
  METERD_ASSIGN_OR_RETURN(Journal * j, Get(id));
  return j->rolled_back;
}

Status ImportJournals::MarkRolledBack(uint64_t id, const ImportRollbackMark& mark) {
  METERD_ASSIGN_OR_RETURN(Journal * j, Get(id));
  std::string rec(1, static_cast<char>(kJournalRollback));
  base::PutVarint64(&rec, base::ZigZagEncode(mark.at));
  base::PutVarint64(&rec, mark.restored);
  base::PutVarint64(&rec, mark.superseded);
  METERD_RETURN_IF_ERROR(j->log->Append({rec}));
  j->rolled_back = mark;
  return Status::OK();
}

}  // namespace meterd::engine
