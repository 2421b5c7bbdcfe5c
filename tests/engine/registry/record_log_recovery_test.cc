// meterd — tests/engine/registry/record_log_recovery_test.cc
//
// Damage in the middle of a record log costs only the damaged bytes (issue 17): logs written
// by the real writers (RecordLog::Append, SeriesRegistry::Define, MetricStore::Define) are
// damaged on disk (a flipped byte, a record cut short, garbage inserted, a zeroed range), then
// reopened: every intact record after the damage comes back, the damage is reported, and the
// next start finds the log clean. Intact records the owner cannot read (an unknown kind,
// trailing bytes) are skipped and reported instead of failing Open.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "engine/registry/metric_store.h"
#include "engine/registry/record_log.h"
#include "engine/registry/series_registry.h"
#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/io/file.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace record_log_recovery_test {

constexpr size_t kMagicSize = 8, kHeader = 12;

std::string ReadAll(const std::string& path) {
  std::string s;
  EXPECT_TRUE(storage::ReadWholeFile(path, &s).ok());
  return s;
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// Opens `path`, returning the records replayed (and the damage report in *damage).
std::vector<std::string> Replay(const std::string& path, std::string* damage) {
  std::vector<std::string> out;
  auto log = RecordLog::Open(
      path,
      [&](std::string_view r) {
        out.emplace_back(r);
        return Status::OK();
      },
      damage);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  return out;
}

// Record i's byte range [offset, end) in an intact log.
std::vector<std::pair<size_t, size_t>> Frames(const std::string& data) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t pos = kMagicSize; pos + kHeader <= data.size();) {
    const size_t end = pos + kHeader + base::DecodeFixed32(data.data() + pos);
    out.emplace_back(pos, end);
    pos = end;
  }
  return out;
}

bool HasQuarantine(const std::string& dir, const std::string& name) {
  auto names = storage::ListDir(dir);
  EXPECT_TRUE(names.ok());
  for (const std::string& n : *names) {
    if (n.starts_with(name + ".damaged-")) return true;
  }
  return false;
}

std::vector<std::string> TenRecords() {
  std::vector<std::string> r;
  for (int i = 0; i < 10; ++i) r.push_back("record-" + std::to_string(i) + std::string(i * 7, 'x'));
  return r;
}

struct Damage {
  const char* name;
  // Damages record 4 of the ten (frames[4]) in `data`.
  void (*apply)(std::string* data, const std::vector<std::pair<size_t, size_t>>& frames);
};

const Damage kDamages[] = {
    {"payload byte flipped", [](std::string* d, const auto& f) { (*d)[f[4].first + 14] ^= 0x20; }},
    {"length byte flipped", [](std::string* d, const auto& f) { (*d)[f[4].first] ^= 0x01; }},
    {"length made huge", [](std::string* d, const auto& f) { (*d)[f[4].first + 3] = '\x7f'; }},
    {"checksum byte flipped", [](std::string* d, const auto& f) { (*d)[f[4].first + 6] ^= 0x80; }},
    {"record cut short", [](std::string* d, const auto& f) { d->erase(f[4].second - 5, 5); }},
    {"header cut short", [](std::string* d, const auto& f) { d->erase(f[4].first + 2, 6); }},
    {"garbage inside",
     [](std::string* d, const auto& f) { d->insert(f[4].first + 13, "GARBAGE"); }},
    {"zeroed range",
     [](std::string* d, const auto& f) {
       std::fill(d->begin() + f[4].first + 4, d->begin() + f[4].second, '\0');
     }},
};

TEST(RecordLogRecoveryTest, DamageInTheMiddleLosesOnlyTheDamagedRecord) {
  for (const Damage& damage : kDamages) {
    SCOPED_TRACE(damage.name);
    testing::TempDir dir;
    const std::string path = dir.path() + "/x.log";
    const std::vector<std::string> written = TenRecords();
    std::string report;
    {
      auto log = RecordLog::Open(
          path, [](std::string_view) { return Status::OK(); }, &report);
      ASSERT_TRUE(log.ok());
      ASSERT_TRUE((*log)->Append({written[0], written[1], written[2]}).ok());
      for (size_t i = 3; i < written.size(); ++i) ASSERT_TRUE((*log)->Append({written[i]}).ok());
    }
    std::string data = ReadAll(path);
    const auto frames = Frames(data);
    ASSERT_EQ(frames.size(), written.size());
    damage.apply(&data, frames);
    WriteAll(path, data);

    std::vector<std::string> expected = written;
    expected.erase(expected.begin() + 4);
    EXPECT_EQ(Replay(path, &report), expected);
    EXPECT_FALSE(report.empty());
    EXPECT_NE(report.find("offset " + std::to_string(frames[4].first)), std::string::npos)
        << report;
    EXPECT_TRUE(HasQuarantine(dir.path(), "x.log")) << "the file as found is kept";
    // The next start finds the log clean, and appends go on after the last record.
    {
      std::vector<std::string> got;
      auto log = RecordLog::Open(
          path,
          [&](std::string_view r) {
            got.emplace_back(r);
            return Status::OK();
          },
          &report);
      ASSERT_TRUE(log.ok());
      EXPECT_EQ(got, expected);
      EXPECT_TRUE(report.empty()) << report;
      ASSERT_TRUE((*log)->Append({"after"}).ok());
    }
    expected.push_back("after");
    EXPECT_EQ(Replay(path, &report), expected);
    EXPECT_TRUE(report.empty()) << report;
  }
}

TEST(RecordLogRecoveryTest, PropertyRandomDamageKeepsEveryRecordItDoesNotTouch) {
  std::mt19937_64 rng(17);
  for (int trial = 0; trial < 80; ++trial) {
    testing::TempDir dir;
    const std::string path = dir.path() + "/x.log";
    std::vector<std::string> written;
    std::string report;
    {
      auto log = RecordLog::Open(
          path, [](std::string_view) { return Status::OK(); }, &report);
      ASSERT_TRUE(log.ok());
      for (int i = 0; i < 30; ++i) {
        std::string r(rng() % 120, '\0');
        for (auto& c : r) c = static_cast<char>(rng());
        written.push_back(r);
      }
      ASSERT_TRUE((*log)->Append(written).ok());
    }
    std::string data = ReadAll(path);
    const auto frames = Frames(data);
    // Damage a span inside records 1..27 (overwrite, delete or insert), then keep the records
    // it does not touch: all of them but the ones overlapping the span.
    const size_t first = frames[1].first, last = frames[27].second;
    const size_t at = first + rng() % (last - first);
    const size_t len = 1 + rng() % 40;
    const int kind = static_cast<int>(rng() % 3);
    const size_t to = std::min(at + len, last);
    if (kind == 0) {
      for (size_t i = at; i < to; ++i) data[i] = static_cast<char>(data[i] ^ (1 + rng() % 255));
    } else if (kind == 1) {
      data.erase(at, to - at);
    } else {
      std::string junk(len, '\0');
      for (auto& c : junk) c = static_cast<char>(rng());
      data.insert(at, junk);
    }
    WriteAll(path, data);
    std::vector<std::string> expected;
    for (size_t i = 0; i < written.size(); ++i) {
      // An insertion at a record's first byte damages nothing; an insertion inside it does.
      const bool touched = kind == 2 ? (frames[i].first < at && at < frames[i].second)
                                     : (frames[i].first < to && at < frames[i].second);
      if (!touched) expected.push_back(written[i]);
    }
    ASSERT_EQ(Replay(path, &report), expected) << "trial " << trial << " kind " << kind;
    EXPECT_FALSE(report.empty());  // even junk inserted between two records is reported
  }
}

TEST(RecordLogRecoveryTest, ATornTailAfterDamageInTheMiddleIsCut) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/x.log";
  std::string report;
  {
    auto log = RecordLog::Open(
        path, [](std::string_view) { return Status::OK(); }, &report);
    ASSERT_TRUE((*log)->Append({"aaaa", "bbbb", "cccc", "dddd"}).ok());
  }
  std::string data = ReadAll(path);
  data[kMagicSize + 16 + kHeader + 1] ^= 0x40;  // inside "bbbb"
  data.resize(data.size() - 2);                 // "dddd" torn
  WriteAll(path, data);
  EXPECT_EQ(Replay(path, &report), (std::vector<std::string>{"aaaa", "cccc"}));
  EXPECT_EQ(ReadAll(path).size(), kMagicSize + 2 * (kHeader + 4));
}

SeriesDefinition Def(const std::string* resource, const std::string* metric) {
  return SeriesDefinition{SeriesRegistry::IdOf(*resource, *metric), *resource, *metric};
}

// A series record as SeriesRegistry writes it (docs/format-registry.md), with `kind` and a
// tail of extra bytes chosen by the test.
std::string SeriesRecord(const std::string& resource, const std::string& metric, uint8_t type,
                         uint8_t kind, const std::string& tail = "", char version = 1,
                         uint64_t id_xor = 0) {
  std::string rec(1, version);
  base::PutFixed64(&rec, SeriesRegistry::IdOf(resource, metric) ^ id_xor);
  rec.push_back(static_cast<char>(type));
  rec.push_back(static_cast<char>(kind));
  base::PutLengthPrefixed(&rec, resource);
  base::PutLengthPrefixed(&rec, metric);
  base::PutLengthPrefixed(&rec, "hv-1");
  return rec + tail;
}

std::vector<std::string> Keys(const SeriesRegistry& reg) {
  std::vector<std::string> out;
  for (const SeriesInfo& s : reg.Matching("", "")) out.push_back(s.resource + "|" + s.metric);
  return out;
}

TEST(RecordLogRecoveryTest, SeriesRegistryKeepsEveryDefinitionAfterADamagedOne) {
  testing::TempDir dir;
  MetricCatalog catalog;
  const std::vector<std::string> vms = {"vm-1", "vm-2", "vm-3", "vm-4", "vm-5"};
  const std::string vcpus = "vm.vcpus", memory = "vm.memory_bytes";
  {
    auto reg = SeriesRegistry::Open(dir.path(), &catalog);
    ASSERT_TRUE(reg.ok());
    for (const std::string& vm : vms) {
      std::vector<SeriesDefinition> defs = {Def(&vm, &vcpus), Def(&vm, &memory)};
      auto out = (*reg)->Define(defs, "hv-1", false);
      ASSERT_TRUE(out.ok() && out->defined == 2);
    }
  }
  const std::string path = dir.path() + "/series.log";
  std::string data = ReadAll(path);
  const auto frames = Frames(data);
  ASSERT_EQ(frames.size(), 10u);
  data[frames[3].first + kHeader + 20] ^= 0x01;  // vm-2|vm.memory_bytes
  WriteAll(path, data);
  {
    auto reg = SeriesRegistry::Open(dir.path(), &catalog);
    ASSERT_TRUE(reg.ok()) << reg.status().ToString();
    EXPECT_EQ(Keys(**reg), (std::vector<std::string>{
                               "vm-1|vm.memory_bytes", "vm-1|vm.vcpus", "vm-2|vm.vcpus",
                               "vm-3|vm.memory_bytes", "vm-3|vm.vcpus", "vm-4|vm.memory_bytes",
                               "vm-4|vm.vcpus", "vm-5|vm.memory_bytes", "vm-5|vm.vcpus"}));
    EXPECT_NE((*reg)->load_damage().find("checksum mismatch"), std::string::npos)
        << (*reg)->load_damage();
    // Its agent defines the lost series again when it reconnects.
    std::vector<SeriesDefinition> again = {Def(&vms[1], &vcpus), Def(&vms[1], &memory)};
    auto out = (*reg)->Define(again, "hv-1", false);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->defined, 1u);
    EXPECT_EQ(out->existing, 1u);
  }
  auto reg = SeriesRegistry::Open(dir.path(), &catalog);
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ((*reg)->size(), 10u);
  EXPECT_TRUE((*reg)->load_damage().empty()) << (*reg)->load_damage();
}

TEST(RecordLogRecoveryTest, MalformedIntactSeriesRecordsAreSkippedAndReportedNotFatal) {
  testing::TempDir dir;
  MetricCatalog catalog;
  const std::string path = dir.path() + "/series.log";
  {
    std::string ignored;
    auto log = RecordLog::Open(
        path, [](std::string_view) { return Status::OK(); }, &ignored);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)
                    ->Append({SeriesRecord("vm-1", "vm.vcpus", 1, 1),
                              SeriesRecord("vm-2", "vm.vcpus", 1, 9),            // unknown kind
                              SeriesRecord("vm-3", "vm.vcpus", 7, 1),            // unknown type
                              SeriesRecord("vm-4", "vm.vcpus", 1, 1, "xyz"),     // trailing bytes
                              SeriesRecord("vm-6", "vm.vcpus", 1, 1, "", 2),     // version 2
                              SeriesRecord("vm-7", "vm.vcpus", 1, 1, "", 1, 1),  // id not its hash
                              SeriesRecord("vm-5", "vm.vcpus", 1, 1)})
                    .ok());
  }
  auto reg = SeriesRegistry::Open(dir.path(), &catalog);
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  EXPECT_EQ(Keys(**reg), (std::vector<std::string>{"vm-1|vm.vcpus", "vm-5|vm.vcpus"}));
  EXPECT_NE((*reg)->load_damage().find("unknown metric kind 9"), std::string::npos)
      << (*reg)->load_damage();
  EXPECT_NE((*reg)->load_damage().find("unknown value type 7"), std::string::npos);
  EXPECT_NE((*reg)->load_damage().find("malformed"), std::string::npos);
  EXPECT_NE((*reg)->load_damage().find("carries an id that is not its hash"), std::string::npos);
}

TEST(RecordLogRecoveryTest, MetricStoreKeepsTheDefinitionsAfterADamagedOne) {
  testing::TempDir dir;
  const std::vector<std::string> names = {"app.a", "app.b", "app.c"};
  {
    MetricCatalog catalog;
    auto ms = MetricStore::Open(dir.path(), &catalog);
    ASSERT_TRUE(ms.ok());
    for (const std::string& n : names) {
      ASSERT_TRUE(
          (*ms)
              ->Define({n, MetricKind::kCounter, "req", storage::ValueType::kInt, "", false})
              .ok());
    }
  }
  const std::string path = dir.path() + "/metrics.log";
  std::string data = ReadAll(path);
  const auto frames = Frames(data);
  ASSERT_EQ(frames.size(), 3u);
  data[frames[1].first + kHeader + 1] = 42;  // app.b: kind 42, checksum no longer matches
  // Then an intact record with an unknown kind (refused, not fatal) and an intact "app.e".
  for (const auto& [name, kind] : {std::pair<std::string_view, char>{"app.d", 9}, {"app.e", 2}}) {
    std::string rec = {'\x01', kind, '\x01'};
    for (std::string_view f : {name, std::string_view("req"), std::string_view()}) {
      base::PutLengthPrefixed(&rec, f);
    }
    base::PutFixed32(&data, static_cast<uint32_t>(rec.size()));
    base::PutFixed64(&data, base::Checksum64(rec, rec.size()));
    data += rec;
  }
  WriteAll(path, data);
  MetricCatalog catalog;
  auto ms = MetricStore::Open(dir.path(), &catalog);
  ASSERT_TRUE(ms.ok()) << ms.status().ToString();
  EXPECT_TRUE(catalog.Find("app.a").ok());
  EXPECT_FALSE(catalog.Find("app.b").ok());
  EXPECT_TRUE(catalog.Find("app.c").ok());
  EXPECT_FALSE(catalog.Find("app.d").ok());
  EXPECT_TRUE(catalog.Find("app.e").ok());
  EXPECT_FALSE((*ms)->load_damage().empty());
}

}  // namespace record_log_recovery_test
}  // namespace meterd::engine
