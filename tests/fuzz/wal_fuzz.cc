// meterd — tests/fuzz/wal_fuzz.cc: libFuzzer target for the WAL record reader.
//
// The input is one WAL file (number 1; docs/format-wal.md). It is written to a scratch
// directory and replayed with ReplayWal, the recovery path: fragment framing, checksums,
// FIRST/MIDDLE/LAST reassembly, damage reporting and the torn-tail cut. A second pass replays
// the input with every plausible fragment's checksum recomputed, so that the reassembly and
// type rules behind the checksum are fuzzed too. Build and run: `make fuzz` (tests/README.md).
#include <cstdint>
#include <string>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/wal.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_record.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {

namespace wf = storage::wal_format;

Decoded DecodeWal(std::string_view input) {
  static const std::string dir = FreshScratchDir("wal");
  WriteScratchFile(storage::WalFileName(dir, kWalFuzzFileNumber), input);
  Decoded out;
  auto r = storage::ReplayWal(dir, 0, [&](uint64_t, std::string_view record) {
    out.items.emplace_back(record);
    return Status::OK();
  });
  if (!r.ok()) {
    out.status = r.status();
  } else if (!r->damage.empty()) {
    const storage::WalDamage& d = r->damage.front();
    out.status =
        Status::Corruption("WAL damage at offset " + std::to_string(d.offset) + ": " + d.reason);
  }
  return out;
}

std::string ResealWal(std::string_view input) {
  std::string s(input);
  const uint64_t seed = storage::wal::RecordSeed(kWalFuzzFileNumber);
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t block_left = wf::kBlockSize - pos % wf::kBlockSize;
    const size_t avail = std::min(block_left, s.size() - pos);
    if (avail < wf::kHeaderSize) {
      pos += block_left;
      continue;
    }
    const size_t length = base::DecodeFixed16(s.data() + pos + wf::kLengthOffset);
    const auto type = static_cast<uint8_t>(s[pos + wf::kTypeOffset]);
    if (type == wf::kZeroKind || wf::kHeaderSize + length > avail) {
      pos += block_left;
      continue;
    }
    base::EncodeFixed64(s.data() + pos,
                        base::Checksum64(s.data() + pos + wf::kLengthOffset, 3 + length, seed));
    pos += wf::kHeaderSize + length;
  }
  return s;
}

}  // namespace meterd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = meterd::fuzz::AsView(data, size);
  (void)meterd::fuzz::DecodeWal(input);
  (void)meterd::fuzz::DecodeWal(meterd::fuzz::ResealWal(input));
  return 0;
}
