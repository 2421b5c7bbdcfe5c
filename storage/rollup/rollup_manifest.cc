// meterd — storage/rollup/rollup_manifest.cc
#include "storage/rollup/rollup_manifest.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <set>
#include <utility>

#include "storage/base/calendar.h"
#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/rollup/rollup_format.h"

namespace meterd::storage::rollup {
namespace fmt = rollup_format;

// The UTC months of rollup files are storage/base/calendar.h's.
int64_t MonthStart(int64_t ts) { return base::MonthStart(ts); }

int64_t NextMonthStart(int64_t ts) { return base::NextMonthStart(ts); }

int64_t MonthNumber(int64_t ts) { return base::MonthNumber(ts); }

std::string FileName(const ManifestFile& f) {
  char name[64];
  if (f.kind == fmt::kKindMonth) {
    std::snprintf(name, sizeof(name), "m%06" PRId64 "-%" PRIu32 ".mru", MonthNumber(f.key),
                  f.generation);
  } else {
    std::snprintf(name, sizeof(name), "h%" PRId64 ".mrp", f.key);
  }
  return name;
}

std::string EncodeRollupManifest(const Manifest& m) {
  std::string out;
  out.reserve(fmt::kManifestHeaderSize + m.files.size() * fmt::kManifestEntrySize +
              fmt::kManifestTrailerSize);
  out.append(fmt::kManifestMagic, sizeof(fmt::kManifestMagic));
  base::PutFixed64(&out, m.generation);
  base::PutFixed64(&out, m.next_file_id);
  base::PutFixed64(&out, static_cast<uint64_t>(m.sealed_before));
  base::PutFixed32(&out, static_cast<uint32_t>(m.files.size()));
  base::PutFixed32(&out, 0);
  base::PutFixed64(&out, m.revision_log);
  for (const ManifestFile& f : m.files) {
    base::PutFixed64(&out, f.file_id);
    base::PutFixed64(&out, static_cast<uint64_t>(f.key));
    base::PutFixed32(&out, f.generation);
    base::PutFixed8(&out, f.kind);
    for (int i = 0; i < 3; ++i) base::PutFixed8(&out, 0);
    base::PutFixed64(&out, f.rows);
    base::PutFixed64(&out, f.file_bytes);
  }
  base::PutFixed64(&out, base::Checksum64(out));
  return out;
}

Result<Manifest> DecodeRollupManifest(std::string_view data) {
  if (data.size() < 8) {
    return Status::Corruption("ROLLUP: too short (" + std::to_string(data.size()) + " bytes)");
  }
  if (std::memcmp(data.data(), fmt::kManifestMagic, 7) != 0) {
    return Status::Corruption("ROLLUP: bad magic");
  }
  // Version 1 (before issue 18) lacks the revision_log field: every revision is still in the
  // legacy log, revision log 0 (docs/format-rollup.md, "Versions").
  const uint8_t version = static_cast<uint8_t>(data[7]);
  if (version < fmt::kManifestMinReadVersion || version > fmt::kManifestVersion) {
    return Status::NotSupported("ROLLUP: format version " + std::to_string(version) +
                                " (this build reads versions 1 and 2)");
  }
  const size_t header = version == 1 ? fmt::kManifestHeaderSizeV1 : fmt::kManifestHeaderSize;
  if (data.size() < header + fmt::kManifestTrailerSize) {
    return Status::Corruption("ROLLUP: too short (" + std::to_string(data.size()) + " bytes)");
  }
  const size_t body = data.size() - fmt::kManifestTrailerSize;
  if (base::Checksum64(data.data(), body) != base::DecodeFixed64(data.data() + body)) {
    return Status::Corruption("ROLLUP: checksum mismatch");
  }
  base::ByteReader r(data.data() + 8, body - 8);
  Manifest m;
  uint64_t sealed = 0;
  uint32_t count = 0, reserved = 0;
  r.GetFixed64(&m.generation);
  r.GetFixed64(&m.next_file_id);
  r.GetFixed64(&sealed);
  r.GetFixed32(&count);
  r.GetFixed32(&reserved);
  if (version >= 2) r.GetFixed64(&m.revision_log);
  m.sealed_before = static_cast<int64_t>(sealed);
  if (reserved != 0 || r.remaining() != static_cast<size_t>(count) * fmt::kManifestEntrySize) {
    return Status::Corruption("ROLLUP: file count does not match its length");
  }
  if (m.sealed_before < 0 || m.sealed_before % kSecondsPerHour != 0) {
    return Status::Corruption("ROLLUP: bad sealed_before " + std::to_string(m.sealed_before));
  }
  std::set<uint64_t> ids;
  std::set<std::pair<uint8_t, int64_t>> keys;
  m.files.resize(count);
  for (ManifestFile& f : m.files) {
    uint64_t key = 0;
    uint8_t pad[3];
    r.GetFixed64(&f.file_id);
    r.GetFixed64(&key);
    r.GetFixed32(&f.generation);
    r.GetFixed8(&f.kind);
    for (uint8_t& x : pad) r.GetFixed8(&x);
    r.GetFixed64(&f.rows);
    r.GetFixed64(&f.file_bytes);
    f.key = static_cast<int64_t>(key);
    // The key's range first: MonthStart of a key near INT64_MIN overflows (found by
    // tests/fuzz/manifest_fuzz; corpus/manifest/regress-month-key-min.manifest).
    const bool key_ok = f.key >= 0 && f.key < m.sealed_before;
    const bool kind_ok =
        key_ok &&
        ((f.kind == fmt::kKindPart && f.key % kSecondsPerHour == 0 && f.generation == 0) ||
         (f.kind == fmt::kKindMonth && MonthStart(f.key) == f.key));
    if (!kind_ok || pad[0] != 0 || pad[1] != 0 || pad[2] != 0 || f.file_id >= m.next_file_id ||
        !ids.insert(f.file_id).second || !keys.insert({f.kind, f.key}).second) {
      return Status::Corruption("ROLLUP: inconsistent entry for file " + std::to_string(f.file_id));
    }
  }
  return m;
}

}  // namespace meterd::storage::rollup
