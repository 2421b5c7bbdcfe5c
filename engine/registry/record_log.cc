// meterd — engine/registry/record_log.cc
#include "engine/registry/record_log.h"

#include <cstring>

#include "storage/base/checksum.h"
#include "storage/base/clock.h"
#include "storage/base/coding.h"

namespace meterd::engine {
namespace {

constexpr std::string_view kMagic = "MTRLOG01";
constexpr size_t kRecordHeader = 12;
constexpr uint32_t kMaxRecord = 1u << 20;
// Findings described one by one in a report's detail; the rest are only counted (a file
// damaged all over must not make a log line of megabytes).
constexpr uint64_t kMaxDescribed = 8;

enum class Frame { kIntact, kTornHeader, kTooLong, kTorn, kChecksum };

// Whether an intact record starts at `pos`; its payload length in *len.
Frame FrameAt(std::string_view data, size_t pos, uint32_t* len) {
  if (data.size() - pos < kRecordHeader) return Frame::kTornHeader;
  *len = base::DecodeFixed32(data.data() + pos);
  if (*len > kMaxRecord) return Frame::kTooLong;
  if (data.size() - pos - kRecordHeader < *len) return Frame::kTorn;
  const uint64_t sum = base::DecodeFixed64(data.data() + pos + 4);
  if (base::Checksum64(data.substr(pos + kRecordHeader, *len), *len) != sum) {
    return Frame::kChecksum;
  }
  return Frame::kIntact;
}

std::string Describe(Frame f, uint32_t len) {
  switch (f) {
    case Frame::kTornHeader:
      return "torn record header";
    case Frame::kTooLong:
      return "record length " + std::to_string(len) + " over 1 MiB";
    case Frame::kTorn:
      return "torn record of " + std::to_string(len) + " bytes";
    case Frame::kChecksum:
      return "checksum mismatch";
    case Frame::kIntact:
      break;
  }
  return "intact";
}

}  // namespace

Status RecordLog::ForEachIntact(std::string_view data,
                                const std::function<Status(std::string_view)>& fn) {
  if (data.size() < kMagic.size() || data.substr(0, kMagic.size()) != kMagic) {
    return Status::Corruption("not a meterd record log (bad magic)");
  }
  size_t pos = kMagic.size();
  uint32_t len = 0;
  while (pos < data.size() && FrameAt(data, pos, &len) == Frame::kIntact) {
    METERD_RETURN_IF_ERROR(fn(data.substr(pos + kRecordHeader, len)));
    pos += kRecordHeader + len;
  }
  return Status::OK();
}

Result<std::unique_ptr<RecordLog>> RecordLog::Open(
    const std::string& path, const std::function<Status(std::string_view)>& replay,
    RecordLogReport* report, storage::Env* env) {
  *report = RecordLogReport{};
  // Created only when it does not exist: a Stat that fails for another reason (EIO, EACCES)
  // must not turn a log into an empty one.
  METERD_ASSIGN_OR_RETURN(const storage::PathInfo info, env->Stat(path));
  if (!info.exists) METERD_RETURN_IF_ERROR(env->WriteFileAtomic(path, kMagic));
  std::string file_data;
  METERD_RETURN_IF_ERROR(env->ReadWholeFile(path, &file_data));
  const std::string_view data(file_data);
  if (data.size() < kMagic.size() || data.substr(0, kMagic.size()) != kMagic) {
    return Status::Corruption(path + ": not a meterd record log (bad magic)");
  }
  uint64_t described = 0;
  auto note = [&](const std::string& what) {
    if (described++ < kMaxDescribed) {
      report->detail += (report->detail.empty() ? "" : "; ") + what;
    }
  };
  // The intact byte ranges, in order: what the file keeps.
  std::vector<std::pair<size_t, size_t>> kept;
  size_t pos = kMagic.size();
  while (pos < data.size()) {
    uint32_t len = 0;
    const Frame frame = FrameAt(data, pos, &len);
    if (frame != Frame::kIntact) {
      size_t next = pos + 1;
      uint32_t next_len = 0;
      while (next < data.size() && FrameAt(data, next, &next_len) != Frame::kIntact) ++next;
      if (next >= data.size()) {
        report->torn_tail_bytes = data.size() - pos;
        note(path + " at offset " + std::to_string(pos) + ": " + Describe(frame, len) + "; cut " +
             std::to_string(data.size() - pos) + " bytes");
        break;
      }
      // Counted before the records after it are replayed (see RecordLogReport).
      ++report->damaged_ranges;
      report->damaged_bytes += next - pos;
      note(path + " at offset " + std::to_string(pos) + ": " + Describe(frame, len) + "; skipped " +
           std::to_string(next - pos) + " damaged bytes to the intact record at " +
           std::to_string(next));
      pos = next;
      continue;
    }
    const std::string_view payload = data.substr(pos + kRecordHeader, len);
    Status s = replay(payload);
    if (s.IsCorruption()) {
      ++report->refused_records;
      note(path + " at offset " + std::to_string(pos) + ": record refused: " + s.ToString());
    } else if (!s.ok()) {
      return s;
    } else {
      ++report->records;
    }
    const size_t end = pos + kRecordHeader + len;
    if (!kept.empty() && kept.back().second == pos) {
      kept.back().second = end;
    } else {
      kept.emplace_back(pos, end);
    }
    pos = end;
  }
  if (described > kMaxDescribed) {
    report->detail += "; and " + std::to_string(described - kMaxDescribed) + " more";
  }
  uint64_t size = kept.empty() ? kMagic.size() : kept.back().second;
  if (report->damaged_ranges > 0) {
    // Keep the evidence, then rewrite the log without the damage: the next start finds it
    // clean, and a replay that treated records after damage with suspicion (RevisionLog) does
    // so once. A crash in between leaves the original, and the next start does this again.
    report->quarantine = path + ".damaged-" + std::to_string(base::UnixSecondsNow());
    METERD_RETURN_IF_ERROR(env->WriteFileAtomic(report->quarantine, data));
    std::string clean(kMagic);
    for (const auto& [from, to] : kept) clean.append(data.substr(from, to - from));
    METERD_RETURN_IF_ERROR(env->WriteFileAtomic(path, clean));
    size = clean.size();
    report->detail += "; the file as found is kept in " + report->quarantine;
  }
  METERD_ASSIGN_OR_RETURN(
      auto file, env->OpenFile(path, storage::OpenMode::kReadWrite, storage::IoBackend::kPosix));
  if (report->damaged_ranges == 0 && report->torn_tail_bytes > 0) {
    METERD_RETURN_IF_ERROR(file->Truncate(size));
    METERD_RETURN_IF_ERROR(file->Sync());
  }
  return std::unique_ptr<RecordLog>(new RecordLog(std::move(file), size));
}

Result<std::unique_ptr<RecordLog>> RecordLog::Open(
    const std::string& path, const std::function<Status(std::string_view)>& replay,
    std::string* damage, storage::Env* env) {
  RecordLogReport report;
  auto log = Open(path, replay, &report, env);
  *damage = std::move(report.detail);
  return log;
}

Status RecordLog::Append(const std::vector<std::string>& records) {
  if (records.empty()) return Status::OK();
  std::string buf;
  for (const std::string& r : records) {
    if (r.size() > kMaxRecord) return Status::InvalidArgument("record log: record too large");
    base::PutFixed32(&buf, static_cast<uint32_t>(r.size()));
    base::PutFixed64(&buf, base::Checksum64(r, r.size()));
    buf += r;
  }
  if (!failed_.ok()) {
    return Status::IOError("record log failed earlier: " + failed_.ToString() +
                           "; nothing is appended until it is reopened");
  }
  if (dirty_) {  // a failed write may have left part of its records: cut them first
    METERD_RETURN_IF_ERROR(file_->Truncate(size_));
    dirty_ = false;
  }
  if (Status w = file_->WriteAt(size_, buf); !w.ok()) {
    dirty_ = true;
    return w;
  }
  if (Status s = file_->Sync(); !s.ok()) {
    failed_ = s;
    return s;
  }
  size_ += buf.size();
  return Status::OK();
}

}  // namespace meterd::engine
