// meterd — tests/fuzz/record_log_fuzz.cc: libFuzzer target for the record-log reader.
//
// The input is a registry's series.log (docs/format-registry.md), written to a scratch
// directory and opened with SeriesRegistry::Open: RecordLog's framing (magic, length, checksum,
// the torn-tail cut, the scan past damage to the next intact record and the rewrite without
// it) and then every series record's fields. The same bytes are also opened as
// metrics.log with MetricStore::Open (crash checks only). A second pass opens the input with
// every record's checksum recomputed, so that the record decoders see arbitrary payloads.
#include <cstdint>
#include <string>

#include "engine/catalog.h"
#include "engine/registry/metric_store.h"
#include "engine/registry/series_registry.h"
#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {

Decoded DecodeRecordLog(std::string_view input) {
  static const std::string dir = FreshScratchDir("registry");
  WriteScratchFile(dir + "/series.log", input);
  Decoded out;
  engine::MetricCatalog catalog;
  auto reg = engine::SeriesRegistry::Open(dir, &catalog);
  if (!reg.ok()) {
    out.status = reg.status();
    return out;
  }
  for (const engine::SeriesInfo& s : (*reg)->Matching("", "")) {
    out.items.push_back(std::to_string(s.id) + " " + s.resource + "|" + s.metric +
                        " type=" + std::to_string(static_cast<int>(s.type)) +
                        " kind=" + std::to_string(static_cast<int>(s.kind)) + " owner=" + s.owner);
  }
  if (!(*reg)->load_damage().empty()) out.status = Status::Corruption((*reg)->load_damage());
  return out;
}

std::string ResealRecordLog(std::string_view input) {
  std::string s(input);
  size_t pos = 8;  // the magic
  while (pos + 12 <= s.size()) {
    const uint32_t len = base::DecodeFixed32(s.data() + pos);
    if (len > s.size() - pos - 12) break;
    base::EncodeFixed64(s.data() + pos + 4, base::Checksum64(s.data() + pos + 12, len, len));
    pos += 12 + size_t{len};
  }
  return s;
}

namespace {

void OpenAsMetricsLog(std::string_view input) {
  static const std::string dir = FreshScratchDir("metrics");
  WriteScratchFile(dir + "/metrics.log", input);
  engine::MetricCatalog catalog;
  (void)engine::MetricStore::Open(dir, &catalog);
}

}  // namespace
}  // namespace meterd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = meterd::fuzz::AsView(data, size);
  const std::string resealed = meterd::fuzz::ResealRecordLog(input);
  (void)meterd::fuzz::DecodeRecordLog(input);
  (void)meterd::fuzz::DecodeRecordLog(resealed);
  meterd::fuzz::OpenAsMetricsLog(resealed);
  return 0;
}
