// meterd — storage/manifest/manifest.cc
#include "storage/manifest/manifest.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/io/file.h"
#include "storage/manifest/manifest_format.h"

namespace meterd::storage {
namespace fmt = manifest_format;

std::string EncodeManifest(const Manifest& m) {
  std::string out;
  out.reserve(fmt::kHeaderSize + m.segments.size() * fmt::kEntrySize + fmt::kTrailerSize);
  out.append(fmt::kMagic, sizeof(fmt::kMagic));
  base::PutFixed8(&out, fmt::kVersion);
  base::PutFixed64(&out, m.generation);
  base::PutFixed64(&out, m.next_segment_id);
  base::PutFixed64(&out, m.wal_min_number);
  base::PutFixed64(&out, static_cast<uint64_t>(m.partition_seconds));
  base::PutFixed32(&out, static_cast<uint32_t>(m.segments.size()));
  for (const SegmentRecord& s : m.segments) {
    base::PutFixed64(&out, s.segment_id);
    base::PutFixed64(&out, static_cast<uint64_t>(s.partition_start));
    base::PutFixed64(&out, static_cast<uint64_t>(s.min_ts));
    base::PutFixed64(&out, static_cast<uint64_t>(s.max_ts));
    base::PutFixed64(&out, s.samples);
    base::PutFixed64(&out, s.series);
    base::PutFixed64(&out, s.blocks);
    base::PutFixed64(&out, s.file_bytes);
  }
  base::PutFixed64(&out, base::Checksum64(out));
  return out;
}

Result<Manifest> DecodeManifest(std::string_view data) {
  if (data.size() < fmt::kHeaderSize + fmt::kTrailerSize) {
    return Status::Corruption("manifest: too short (" + std::to_string(data.size()) + " bytes)");
  }
  if (std::memcmp(data.data(), fmt::kMagic, sizeof(fmt::kMagic)) != 0) {
    return Status::Corruption("manifest: bad magic");
  }
  const uint8_t version = static_cast<uint8_t>(data[sizeof(fmt::kMagic)]);
  if (version != fmt::kVersion) {
    return Status::NotSupported("manifest: format version " + std::to_string(version) +
                                " (this build reads version 1)");
  }
  const size_t body = data.size() - fmt::kTrailerSize;
  if (base::Checksum64(data.data(), body) != base::DecodeFixed64(data.data() + body)) {
    return Status::Corruption("manifest: checksum mismatch");
  }
  base::ByteReader r(data.substr(sizeof(fmt::kMagic) + 1, body - sizeof(fmt::kMagic) - 1));
  Manifest m;
  uint64_t partition_seconds = 0;
  uint32_t count = 0;
  r.GetFixed64(&m.generation);
  r.GetFixed64(&m.next_segment_id);
  r.GetFixed64(&m.wal_min_number);
  r.GetFixed64(&partition_seconds);
  r.GetFixed32(&count);
  m.partition_seconds = static_cast<int64_t>(partition_seconds);
  if (r.remaining() != static_cast<size_t>(count) * fmt::kEntrySize) {
    return Status::Corruption("manifest: segment count does not match its length");
  }
  if (m.partition_seconds <= 0) return Status::Corruption("manifest: bad partition length");
  m.segments.resize(count);
  for (SegmentRecord& s : m.segments) {
    uint64_t v[8];
    for (uint64_t& x : v) r.GetFixed64(&x);
    s = SegmentRecord{v[0],
                      static_cast<int64_t>(v[1]),
                      static_cast<int64_t>(v[2]),
                      static_cast<int64_t>(v[3]),
                      v[4],
                      v[5],
                      v[6],
                      v[7]};
    if (s.segment_id >= m.next_segment_id || s.min_ts > s.max_ts) {
      return Status::Corruption("manifest: inconsistent segment entry " +
                                std::to_string(s.segment_id));
    }
  }
  return m;
}

std::string ManifestPath(const std::string& dir) { return dir + "/MANIFEST"; }

Result<std::optional<Manifest>> ReadManifest(const std::string& dir, Env* env) {
  const std::string path = ManifestPath(dir);
  if (!env->FileExists(path)) return std::optional<Manifest>();
  std::string data;
  METERD_RETURN_IF_ERROR(env->ReadWholeFile(path, &data));
  auto m = DecodeManifest(data);
  if (!m.ok()) return m.status().WithContext(path);
  return std::optional<Manifest>(std::move(m).value());
}

Status WriteManifest(const std::string& dir, const Manifest& manifest, Env* env) {
  return env->WriteFileAtomic(ManifestPath(dir), EncodeManifest(manifest));
}

std::string PartitionDir(const std::string& dir, int64_t partition_start) {
  return dir + "/segments/p" + std::to_string(partition_start);
}

std::string SegmentPath(const std::string& dir, int64_t partition_start, uint64_t segment_id) {
  char name[32];
  std::snprintf(name, sizeof(name), "/%016" PRIu64 ".seg", segment_id);
  return PartitionDir(dir, partition_start) + name;
}

}  // namespace meterd::storage
