// meterd — storage/wal/wal_record.cc
#include "storage/wal/wal_record.h"

#include <algorithm>
#include <cstring>

#include "storage/base/check.h"
#include "storage/base/checksum.h"
#include "storage/base/coding.h"

namespace meterd::storage::wal {

using namespace wal_format;  // NOLINT(google-build-using-namespace): the format's own constants

uint64_t RecordSeed(uint64_t file_number) { return base::ContextSeed(file_number, 0); }

void AppendFragment(std::string* out, uint64_t seed, uint8_t type, std::string_view payload) {
  METERD_DCHECK(payload.size() <= kMaxFragmentPayload, "fragment too long");
  const size_t start = out->size();
  out->resize(start + kHeaderSize + payload.size());
  char* h = out->data() + start;
  base::EncodeFixed16(h + kLengthOffset, static_cast<uint16_t>(payload.size()));
  h[kTypeOffset] = static_cast<char>(type);
  if (!payload.empty()) std::memcpy(h + kHeaderSize, payload.data(), payload.size());
  // length, type and payload are contiguous: one pass over [8, 11 + length).
  base::EncodeFixed64(h, base::Checksum64(h + kLengthOffset, 3 + payload.size(), seed));
}

uint64_t AppendRecord(std::string* out, uint64_t offset, uint64_t seed, std::string_view payload,
                      uint8_t type_bits) {
  bool begin = true;
  do {
    size_t block_left = kBlockSize - offset % kBlockSize;
    if (block_left < kHeaderSize) {  // no header fits: zero-fill the tail
      out->append(block_left, '\0');
      offset += block_left;
      block_left = kBlockSize;
    }
    const size_t n = std::min(payload.size(), block_left - kHeaderSize);
    const bool end = n == payload.size();
    const uint8_t kind = begin && end ? kFullKind
                         : begin      ? kFirstKind
                         : end        ? kLastKind
                                      : kMiddleKind;
    AppendFragment(out, seed, kind | type_bits, payload.substr(0, n));
    payload.remove_prefix(n);
    offset += kHeaderSize + n;
    begin = false;
  } while (!payload.empty());
  return offset;
}

uint64_t FramedSize(uint64_t offset, size_t size) {
  const uint64_t start = offset;
  bool begin = true;
  while (begin || size > 0) {
    size_t block_left = kBlockSize - offset % kBlockSize;
    if (block_left < kHeaderSize) {
      offset += block_left;
      block_left = kBlockSize;
    }
    const size_t n = std::min(size, block_left - kHeaderSize);
    size -= n;
    offset += kHeaderSize + n;
    begin = false;
  }
  return offset - start;
}

std::string EncodeFileHeader(uint64_t file_number) {
  std::string p(kMagic, kMagicSize);
  base::PutFixed8(&p, kWriteVersion);
  base::PutFixed8(&p, 0);  // flags
  base::PutFixed64(&p, file_number);
  METERD_DCHECK(p.size() == kFileHeaderPayloadSize, "file header size");
  return p;
}

Status CheckFileHeader(std::string_view payload, uint64_t file_number) {
  if (payload.size() < kFileHeaderPayloadSize ||
      std::memcmp(payload.data(), kMagic, kMagicSize) != 0) {
    return Status::Corruption("bad WAL file header magic");
  }
  const uint8_t version = static_cast<uint8_t>(payload[kVersionOffset]);
  if (version < kMinReadVersion || version > kMaxReadVersion) {
    return Status::NotSupported("WAL format version " + std::to_string(version) +
                                " (this build reads " + std::to_string(kMinReadVersion) + ".." +
                                std::to_string(kMaxReadVersion) + ")");
  }
  if (base::DecodeFixed64(payload.data() + kFileNumberOffset) != file_number) {
    return Status::Corruption("WAL file header names another file number");
  }
  return Status::OK();
}

const char* FragmentCheckName(FragmentCheck check) {
  switch (check) {
    case FragmentCheck::kOk:
      return "ok";
    case FragmentCheck::kZero:
      return "zeros";
    case FragmentCheck::kBadLength:
      return "impossible length";
    case FragmentCheck::kBadChecksum:
      return "checksum mismatch";
    case FragmentCheck::kBadType:
      return "bad record type";
  }
  return "?";
}

FragmentCheck ParseFragment(const char* p, size_t avail, uint64_t seed, Fragment* out) {
  METERD_DCHECK(avail >= kHeaderSize, "ParseFragment without a whole header");
  const uint64_t checksum = base::DecodeFixed64(p);
  const uint16_t length = base::DecodeFixed16(p + kLengthOffset);
  const uint8_t type = static_cast<uint8_t>(p[kTypeOffset]);
  if (type == kZeroKind) {
    return checksum == 0 && length == 0 ? FragmentCheck::kZero : FragmentCheck::kBadType;
  }
  if (kHeaderSize + size_t{length} > avail) return FragmentCheck::kBadLength;
  if (base::Checksum64(p + kLengthOffset, 3 + size_t{length}, seed) != checksum) {
    return FragmentCheck::kBadChecksum;
  }
  // Checked after the checksum: a verified type with reserved bits is a newer writer's doing,
  // but we have no rule for it, so it is treated as damage rather than guessed at.
  if ((type & kReservedTypeBits) != 0) return FragmentCheck::kBadType;
  out->type = type;
  out->payload = std::string_view(p + kHeaderSize, length);
  out->size = kHeaderSize + length;
  return FragmentCheck::kOk;
}

}  // namespace meterd::storage::wal
