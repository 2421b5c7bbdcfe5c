// meterd — engine/registry/record_log.cc
#include "engine/registry/record_log.h"

#include <cstring>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"

namespace meterd::engine {
namespace {

constexpr std::string_view kMagic = "MTRLOG01";
constexpr size_t kRecordHeader = 12;
constexpr uint32_t kMaxRecord = 1u << 20;

}  // namespace

Result<std::unique_ptr<RecordLog>> RecordLog::Open(
    const std::string& path, const std::function<Status(std::string_view)>& replay,
    std::string* damage) {
  damage->clear();
  if (!storage::FileExists(path)) {
    METERD_RETURN_IF_ERROR(storage::WriteFileAtomic(path, kMagic));
  }
  std::string data;
  METERD_RETURN_IF_ERROR(storage::ReadWholeFile(path, &data));
  if (data.size() < kMagic.size() || std::string_view(data).substr(0, kMagic.size()) != kMagic) {
    return Status::Corruption(path + ": not a meterd record log (bad magic)");
  }
  size_t pos = kMagic.size();
  while (pos < data.size()) {
    if (data.size() - pos < kRecordHeader) {
      *damage = "torn record header";
      break;
    }
    const uint32_t len = base::DecodeFixed32(data.data() + pos);
    const uint64_t sum = base::DecodeFixed64(data.data() + pos + 4);
    if (len > kMaxRecord || data.size() - pos - kRecordHeader < len) {
      *damage = "torn record of " + std::to_string(len) + " bytes";
      break;
    }
    std::string_view payload(data.data() + pos + kRecordHeader, len);
    if (base::Checksum64(payload, len) != sum) {
      *damage = "checksum mismatch";
      break;
    }
    METERD_RETURN_IF_ERROR(replay(payload));
    pos += kRecordHeader + len;
  }
  METERD_ASSIGN_OR_RETURN(auto file, storage::OpenFile(path, storage::OpenMode::kReadWrite,
                                                       storage::IoBackend::kPosix));
  if (!damage->empty()) {
    *damage = path + " at offset " + std::to_string(pos) + ": " + *damage + "; cut " +
              std::to_string(data.size() - pos) + " bytes";
    METERD_RETURN_IF_ERROR(file->Truncate(pos));
    METERD_RETURN_IF_ERROR(file->Sync());
  }
  return std::unique_ptr<RecordLog>(new RecordLog(std::move(file), pos));
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
  METERD_RETURN_IF_ERROR(file_->WriteAtAndSync(size_, buf));
  size_ += buf.size();
  return Status::OK();
}

}  // namespace meterd::engine
