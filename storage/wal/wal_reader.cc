// meterd — storage/wal/wal_reader.cc
//
// ReplayWal: reads each file whole, verifies every fragment (checksum seeded with the file
// number), reassembles FIRST/MIDDLE/LAST, and delivers intact records in order. Damage is held
// as "pending" until the next good record: if one follows, the damage was in the middle of the
// file (reported, skipped, reading resumed at the next block as LevelDB's reader does); if none
// follows, it is a torn tail and the file is cut back to the end of its last good record.
#include <cstring>
#include <string>
#include <vector>

#include "storage/base/coding.h"
#include "storage/wal.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_record.h"

namespace meterd::storage {

using namespace wal_format;  // NOLINT(google-build-using-namespace): the format's own constants

namespace {

// One past the last non-zero byte of data[from, n), or `from` if that range is all zeros.
size_t EndOfNonZero(const char* data, size_t from, size_t n) {
  size_t i = n;
  while (i > from && i % 8 != 0 && data[i - 1] == 0) --i;
  while (i >= from + 8 && base::DecodeFixed64(data + i - 8) == 0) i -= 8;  // 8 bytes a step
  while (i > from && data[i - 1] == 0) --i;
  return i;
}

class FileReplayer {
 public:
  FileReplayer(std::string path, uint64_t number,
               const std::function<Status(uint64_t, std::string_view)>& fn, WalReplayResult* result,
               Env* env)
      : env_(env),
        path_(std::move(path)),
        number_(number),
        seed_(wal::RecordSeed(number)),
        fn_(fn),
        result_(result) {}

  Status Run() {
    METERD_RETURN_IF_ERROR(env_->ReadWholeFile(path_, &data_));
    const size_t n = data_.size();
    size_t pos = 0;
    while (pos < n) {
      const size_t block_left = kBlockSize - pos % kBlockSize;
      if (block_left < kHeaderSize) {  // zero-filled block tail
        pos += block_left;
        continue;
      }
      const size_t next_block = pos + block_left;
      const size_t avail = std::min(block_left, n - pos);
      if (avail < kHeaderSize) {  // the file ends inside a header
        Drop(pos, n, "truncated header");
        break;
      }
      wal::Fragment f;
      const wal::FragmentCheck check = wal::ParseFragment(data_.data() + pos, avail, seed_, &f);
      if (check != wal::FragmentCheck::kOk) {
        // Zeros are the normal end of written data; they are damage only if a good record
        // follows (a zeroed range in the middle), which Finish() and Good() sort out.
        Drop(pos, std::min(next_block, n), wal::FragmentCheckName(check));
        pos = next_block;
        continue;
      }
      METERD_RETURN_IF_ERROR(Handle(pos, f));
      pos += f.size;
    }
    return Finish();
  }

 private:
  struct Range {
    uint64_t offset, end;
    const char* reason;
  };

  Status Handle(size_t pos, const wal::Fragment& f) {
    const size_t end = pos + f.size;
    if ((f.type & kSkippableBit) != 0) {  // a newer writer's optional record: skip it
      if (!in_record_) Good(end);
      return Status::OK();
    }
    switch (f.type) {
      case kFullKind:
        if (in_record_) Drop(record_start_, pos, "partial record without its end");
        return Deliver(f.payload, end);
      case kFirstKind:
        if (in_record_) Drop(record_start_, pos, "partial record without its end");
        in_record_ = true;
        record_start_ = pos;
        scratch_.assign(f.payload);
        return Status::OK();
      case kMiddleKind:
      case kLastKind:
        if (!in_record_) {
          Drop(pos, end, "fragment without the start of its record");
          return Status::OK();
        }
        scratch_.append(f.payload);
        if (f.type == kLastKind) return Deliver(scratch_, end);
        return Status::OK();
      case kFileHeaderKind: {
        if (pos != 0 || in_record_) {
          Drop(pos, end, "file header record not at offset 0");
          return Status::OK();
        }
        Status s = wal::CheckFileHeader(f.payload, number_);
        if (s.code() == Status::Code::kNotSupported) return s.WithContext(path_);
        if (!s.ok()) {
          Drop(pos, end, "bad file header");
          return Status::OK();
        }
        Good(end);
        return Status::OK();
      }
      default:
        // A verified fragment of a kind this version does not know, not marked skippable: a
        // newer writer made it, and dropping it could lose data.
        return Status::NotSupported(path_ + ": WAL record type " + std::to_string(f.type) +
                                    " at offset " + std::to_string(pos) + " needs a newer reader");
    }
  }

  Status Deliver(std::string_view record, size_t end) {
    in_record_ = false;
    Good(end);
    ++result_->records;
    result_->payload_bytes += record.size();
    return fn_(number_, record);
  }

  // A good record ends at `end`: all pending damage lay in the middle of the file.
  void Good(size_t end) {
    for (const Range& r : pending_) {
      WalDamage d;
      d.file = path_;
      d.offset = r.offset;
      d.bytes = r.end - r.offset;
      d.torn_tail = false;
      d.reason = r.reason;
      result_->damage.push_back(std::move(d));
    }
    pending_.clear();
    last_good_end_ = end;
  }

  // Bytes [from, to) cannot be delivered; any record being reassembled is dropped with them.
  void Drop(size_t from, size_t to, const char* reason) {
    if (in_record_) {
      from = std::min(from, record_start_);
      in_record_ = false;
      scratch_.clear();
    }
    if (!pending_.empty() && pending_.back().end >= from) {
      pending_.back().end = std::max<uint64_t>(pending_.back().end, to);
      return;
    }
    pending_.push_back(Range{from, to, reason});
  }

  // End of file: anything non-zero after the last good record is a torn tail; cut it.
  Status Finish() {
    const size_t tail_end = EndOfNonZero(data_.data(), last_good_end_, data_.size());
    if (tail_end <= last_good_end_) return Status::OK();  // only zeros (or nothing) follow
    WalDamage d;
    d.file = path_;
    d.offset = last_good_end_;
    d.bytes = tail_end - last_good_end_;
    d.torn_tail = true;
    d.reason = pending_.empty() ? "incomplete record" : pending_.front().reason;
    for (const Range& r : pending_) {
      if (std::strcmp(r.reason, "zeros") != 0) {
        d.reason = r.reason;
        break;
      }
    }
    if (in_record_) d.reason = "incomplete fragmented record";
    result_->damage.push_back(std::move(d));
    METERD_ASSIGN_OR_RETURN(auto file,
                            env_->OpenFile(path_, OpenMode::kReadWrite, IoBackend::kPosix));
    METERD_RETURN_IF_ERROR(file->Truncate(last_good_end_));
    METERD_RETURN_IF_ERROR(file->Sync());
    return file->Close();
  }

  Env* const env_;
  const std::string path_;
  const uint64_t number_;
  const uint64_t seed_;
  const std::function<Status(uint64_t, std::string_view)>& fn_;
  WalReplayResult* const result_;
  std::string data_;
  uint64_t last_good_end_ = 0;  // end of the last delivered (or skipped) good record
  bool in_record_ = false;      // between a FIRST and its LAST
  size_t record_start_ = 0;     // offset of the FIRST fragment, when in_record_
  std::string scratch_;         // the record being reassembled
  std::vector<Range> pending_;  // damage not yet known to be mid-file or torn tail
};

}  // namespace

Result<WalReplayResult> ReplayWal(const std::string& dir, uint64_t min_number,
                                  const std::function<Status(uint64_t, std::string_view)>& fn,
                                  Env* env) {
  METERD_ASSIGN_OR_RETURN(auto numbers, ListWalFiles(dir, env));
  WalReplayResult result;
  for (uint64_t number : numbers) {
    if (number < min_number) continue;
    FileReplayer replayer(WalFileName(dir, number), number, fn, &result, env);
    METERD_RETURN_IF_ERROR(replayer.Run());
    result.file_numbers.push_back(number);
  }
  return result;
}

}  // namespace meterd::storage
