// meterd — tests/fuzz/manifest_fuzz.cc: libFuzzer target for the manifest readers.
//
// The input is a store MANIFEST (docs/format-manifest.md), decoded with DecodeManifest, or,
// when it starts with the ROLLUP magic, a rollup manifest (docs/format-rollup.md), decoded with
// DecodeRollupManifest. Both are one buffer under one trailing checksum, so a second pass
// decodes the input with that checksum recomputed, which lets the fuzzer reach the field rules.
// A manifest that decodes must encode back to the very same bytes: a decoder that accepts a
// non-canonical manifest (a stray reserved byte, a trailing byte) aborts the run.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/manifest/manifest.h"
#include "storage/rollup/rollup_format.h"
#include "storage/rollup/rollup_manifest.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {

namespace {

bool IsRollupManifest(std::string_view input) {
  return input.size() >= 7 &&
         std::memcmp(input.data(), storage::rollup_format::kManifestMagic, 7) == 0;
}

void CheckRoundTrip(std::string_view input, const std::string& encoded, const char* what) {
  if (encoded != input) {
    std::fprintf(stderr, "%s: decoded, but encodes to other bytes (%zu vs %zu)\n", what,
                 encoded.size(), input.size());
    std::abort();
  }
}

// The bytes a version 1 writer gave `m` (no revision_log; docs/format-rollup.md, "Versions"):
// a version 1 input that decodes must be exactly these.
std::string EncodeRollupManifestV1(const storage::rollup::Manifest& m) {
  const std::string v2 = storage::rollup::EncodeRollupManifest(m);
  constexpr size_t kV1 = storage::rollup_format::kManifestHeaderSizeV1;
  constexpr size_t kV2 = storage::rollup_format::kManifestHeaderSize;
  std::string v1 = v2.substr(0, kV1) + v2.substr(kV2, v2.size() - kV2 - 8);
  v1[7] = '\x01';
  base::PutFixed64(&v1, base::Checksum64(v1));
  return v1;
}

}  // namespace

Decoded DecodeManifests(std::string_view input) {
  Decoded out;
  if (IsRollupManifest(input)) {
    auto m = storage::rollup::DecodeRollupManifest(input);
    if (!m.ok()) {
      out.status = m.status();
      return out;
    }
    const bool v1 = input.size() > 7 && input[7] == '\x01';
    if (v1 && m->revision_log != 0) {
      std::fprintf(stderr, "ROLLUP: a version 1 manifest decoded with revision_log %llu\n",
                   static_cast<unsigned long long>(m->revision_log));
      std::abort();
    }
    CheckRoundTrip(input,
                   v1 ? EncodeRollupManifestV1(*m) : storage::rollup::EncodeRollupManifest(*m),
                   "ROLLUP");
    out.items.push_back("rollup gen=" + std::to_string(m->generation) +
                        " next=" + std::to_string(m->next_file_id) +
                        " sealed=" + std::to_string(m->sealed_before) +
                        " revision_log=" + std::to_string(m->revision_log));
    for (const auto& f : m->files) {
      out.items.push_back(storage::rollup::FileName(f) + " id=" + std::to_string(f.file_id) +
                          " rows=" + std::to_string(f.rows) +
                          " bytes=" + std::to_string(f.file_bytes));
    }
    return out;
  }
  auto m = storage::DecodeManifest(input);
  if (!m.ok()) {
    out.status = m.status();
    return out;
  }
  CheckRoundTrip(input, storage::EncodeManifest(*m), "MANIFEST");
  out.items.push_back("store gen=" + std::to_string(m->generation) +
                      " next=" + std::to_string(m->next_segment_id) +
                      " wal_min=" + std::to_string(m->wal_min_number) +
                      " partition=" + std::to_string(m->partition_seconds));
  for (const auto& s : m->segments) {
    out.items.push_back(storage::SegmentPath("", s.partition_start, s.segment_id) + " " +
                        std::to_string(s.min_ts) + ".." + std::to_string(s.max_ts) +
                        " samples=" + std::to_string(s.samples));
  }
  return out;
}

std::string ResealManifest(std::string_view input) {
  std::string s(input);
  if (s.size() < 8) return s;
  const size_t body = s.size() - 8;
  base::EncodeFixed64(s.data() + body, base::Checksum64(s.data(), body));
  return s;
}

}  // namespace meterd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = meterd::fuzz::AsView(data, size);
  (void)meterd::fuzz::DecodeManifests(input);
  (void)meterd::fuzz::DecodeManifests(meterd::fuzz::ResealManifest(input));
  return 0;
}
