// meterd — tests/fuzz/record_log_fuzz_replay_test.cc
//
// The record-log fuzz target (record_log_fuzz.cc) over its corpus (tests/fuzz/corpus/record_log)
// and 2,000 seeded mutations in every build. The seeds are series.log files written by
// SeriesRegistry::Define through RecordLog::Append, and a metrics.log written by MetricStore.
// Every record is checksummed: a damaged log loses the damaged records (and keeps the intact
// ones after them) but never yields a series the intact log does not define.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/catalog.h"
#include "engine/registry/metric_store.h"
#include "engine/registry/series_registry.h"
#include "storage/io/file.h"
#include "tests/fuzz/fuzz_replay.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {
namespace record_log_fuzz_replay_test {

std::string WriteSeriesLog(const std::vector<std::vector<engine::SeriesDefinition>>& calls,
                           const std::string& owner) {
  const std::string dir = FreshScratchDir("registry-writer");
  engine::MetricCatalog catalog;
  {
    auto reg = engine::SeriesRegistry::Open(dir, &catalog);
    EXPECT_TRUE(reg.ok()) << reg.status().ToString();
    if (!reg.ok()) return {};
    for (const auto& defs : calls) {
      auto d = (*reg)->Define(defs, owner, owner.empty());
      EXPECT_TRUE(d.ok() && d->refused == 0);
    }
  }
  std::string data;
  EXPECT_TRUE(storage::ReadWholeFile(dir + "/series.log", &data).ok());
  return data;
}

engine::SeriesDefinition Def(std::string_view resource, std::string_view metric) {
  return {engine::SeriesRegistry::IdOf(resource, metric), resource, metric};
}

std::vector<Seed> WriterSeeds() {
  std::vector<Seed> seeds;
  seeds.emplace_back("empty.log", WriteSeriesLog({}, ""));
  seeds.emplace_back("agent-series.log",
                     WriteSeriesLog({{Def("vm-1", "vm.vcpus"), Def("vm-1", "vm.state"),
                                      Def("vm-1", "vm.cpu_utilisation")},
                                     {Def("vol-7", "disk.read_bytes")}},
                                    "hv-1"));
  seeds.emplace_back(
      "admin-series.log",
      WriteSeriesLog({{Def("3f1c2b8e-6a0d-4c39-9d5e-0f6a7b8c9d0e", "vm.memory_bytes")},
                      {Def("host.example.org", "vm.cpu_time_ns")},
                      {Def("vm-2", "vm.vcpus"), Def("vm-3", "vm.vcpus")}},
                     ""));
  return seeds;
}

TEST(RecordLogFuzzReplay, CorpusAndSeededMutations) {
  const auto seeds = WriterSeeds();
  const Decoded agent = DecodeRecordLog(seeds[1].second);
  ASSERT_TRUE(agent.status.ok()) << agent.status.ToString();
  EXPECT_EQ(agent.items.size(), 4u);
  // A metrics.log as MetricStore writes it: the fuzz entry opens every input as one too.
  const std::string dir = FreshScratchDir("metrics-writer");
  {
    engine::MetricCatalog catalog;
    auto ms = engine::MetricStore::Open(dir, &catalog);
    ASSERT_TRUE(ms.ok());
    ASSERT_TRUE((*ms)
                    ->Define({"app.requests", engine::MetricKind::kCounter, "requests",
                              storage::ValueType::kInt, "requests served", false})
                    .ok());
  }
  std::string metrics;
  ASSERT_TRUE(storage::ReadWholeFile(dir + "/metrics.log", &metrics).ok());
  EXPECT_EQ(
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(metrics.data()), metrics.size()), 0);
  ReplayOptions o;
  o.name = "record_log";
  o.decode = DecodeRecordLog;
  o.oracle = Oracle::kSubset;
  Replay(o, seeds);
}

}  // namespace record_log_fuzz_replay_test
}  // namespace meterd::fuzz
