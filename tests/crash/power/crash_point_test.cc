// meterd — tests/crash/power/crash_point_test.cc
//
// The crash-point test: a deterministic ingest + flush + seal (rollup) + restart scenario runs
// on the fault-injecting Env (tests/testing/fault_env.h), once to count its file operations,
// then once per cut point N: the power is cut at file operation N (every later operation fails,
// the "process" dies there), what a power loss loses is undone on disk, and the store, the
// series registry and the downsampler are recovered on the same directory. Then:
//   1. every acknowledged sample (its WAL sync returned OK) is present, with its value, once;
//   2. nothing is present that was never sent;
//   3. every rollup bucket (sealed part or month file, revision, open bucket) equals its
//      recomputation from the raw samples (downsample_harness.h's reference, DESIGN.md sec. 4);
//   4. the recovered system still works: more data and a seal of every hour keep 1-3 true.
// Each cut point runs in two modes: a power cut that drops everything unsynced (data and
// directory entries), and a process crash that keeps it but tears the cut write halfway.
//
// Which cut points run:
//   METERD_CRASH_POINTS=all  every operation of the scenario (`make check-long`), in both modes
//   unset (ctest)            the first 120 operations (open, definitions, first batches), then
//                            every 29th: a bounded slice (ASan build: the first 60, then every
//                            97th)
//   METERD_CRASH_POINT=N     only cut point N (to debug one)
//   METERD_CRASH_FROM=A METERD_CRASH_TO=B (with =all)  cut points A..B only (a long run split
//                            across cores)
// The scenario has over 2,000 operations.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/downsample/downsampler.h"
#include "engine/registry/series_registry.h"
#include "tests/engine/downsample/downsample_harness.h"
#include "tests/testing/fault_env.h"

namespace meterd::engine {
namespace crash_point_test {

using testing::FaultEnv;
using testing::PowerLossMode;
using testing_ds::ExpectMatchesReference;
using testing_ds::kDay;
using testing_ds::RawSeries;
using testing_ds::Shapes;

// The scenario's shape. 30-second batches of 4 series: 120 batches an hour, two WAL
// operations (write, sync) each; a flush every 50 batches, the rollup clock every 10, a
// restart after batch 300, late samples for closed hours every 20 batches once the first hour
// is sealed. The WAL files are small (64 KiB) so that they rotate often.
constexpr int kBatches = 1000;
constexpr int kSecondsPerBatch = 30;
constexpr int kFlushEvery = 50;
constexpr int kTickEvery = 10;
constexpr int kRestartAfter = 300;
constexpr int kLateEvery = 20;
constexpr int64_t kGrace = 600;

struct SeriesSpec {
  const char* resource;
  const char* metric;
  MetricKind kind;
};
constexpr SeriesSpec kSeries[] = {
    {"vm-1", "vm.vcpus", MetricKind::kGauge},
    {"vm-1", "vm.cpu_time_ns", MetricKind::kCounter},
    {"vm-1", "vm.state", MetricKind::kState},
    {"vm-2", "vm.memory_bytes", MetricKind::kGauge},
};

// The value of series `s` at second `ts` (deterministic; a counter grows with resets).
uint64_t ValueAt(size_t s, int64_t ts) {
  const uint64_t t = static_cast<uint64_t>(ts - kDay);
  switch (s) {
    case 0:
      return 2 + (t / 900) % 3;
    case 1:
      return (t % 5000) * 1000 + t % 7;  // resets every 5,000 s
    case 2:
      return 1 + (t / 1200) % 2;
    default:
      return (4ull << 30) + (t / 600) * 4096;
  }
}

// Series 3 skips the seconds ≡ 7 (mod 30) when first sent; they come later, after their hour
// has closed, as late data (a revision of a sealed hour, or of an open one after a restart).
bool SentLate(size_t s, int64_t ts) { return s == 3 && (ts - kDay) % 30 == 7; }

std::string ScratchParent() {
  // tmpfs makes the fdatasyncs of thousands of runs free; the fault layer decides durability.
  return ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

// One run of the scenario against `env`, in `dir`, stopping at the first failed operation (the
// power cut). Records what was sent and what was acknowledged.
class Scenario {
 public:
  Scenario(FaultEnv* env, std::string dir) : env_(env), dir_(std::move(dir)) {
    for (size_t s = 0; s < std::size(kSeries); ++s) {
      ids_.push_back(SeriesRegistry::IdOf(kSeries[s].resource, kSeries[s].metric));
      shapes_[ids_.back()] = SeriesShape{kSeries[s].kind, storage::ValueType::kInt};
    }
  }
  ~Scenario() { Kill(); }

  // Runs until the end or the first failure; returns the failure (OK: ran to the end).
  Status Run() {
    METERD_RETURN_IF_ERROR(Open());
    METERD_RETURN_IF_ERROR(Define());
    for (int b = 0; b < kBatches; ++b) {
      METERD_RETURN_IF_ERROR(Batch(b));
      now_ = kDay + static_cast<int64_t>(b + 1) * kSecondsPerBatch;
      if ((b + 1) % kTickEvery == 0) METERD_RETURN_IF_ERROR(Tick(/*merge=*/(b + 1) % 240 == 0));
      if ((b + 1) % kFlushEvery == 0) METERD_RETURN_IF_ERROR(store_->Flush());
      if (b + 1 == kRestartAfter) {
        METERD_RETURN_IF_ERROR(CloseCleanly());
        METERD_RETURN_IF_ERROR(Open());
      }
    }
    return Status::OK();
  }

  // Opens (or reopens) store, registry and downsampler on `dir_`.
  Status Open() {
    storage::StoreOptions o;
    o.dir = dir_ + "/store";
    o.env = env_;
    o.background_flush = false;
    o.flush_on_close = true;
    o.wal_file_size = 64 << 10;
    o.retention_seconds = 0;
    o.now = [this] { return now_; };
    METERD_ASSIGN_OR_RETURN(store_, storage::Store::Open(o));
    METERD_ASSIGN_OR_RETURN(registry_, SeriesRegistry::Open(dir_, &catalog_, env_));
    DownsampleOptions d;
    d.staleness_seconds = 60;
    d.grace_seconds = kGrace;
    d.merge_min_parts = 3;
    d.now = [this] { return now_; };
    d.initial_lookback_seconds = now_ - kDay;  // a fresh rollup directory starts at kDay
    d.env = env_;
    report_.clear();
    METERD_ASSIGN_OR_RETURN(ds_,
                            Downsampler::Open(dir_, d, store_.get(), registry_.get(), &report_));
    return Status::OK();
  }

  Status CloseCleanly() {
    ds_.reset();
    Status st = store_->Close();
    store_.reset();
    registry_.reset();
    return st;
  }

  // The process dies: objects go away without a clean close (their destructors' file
  // operations fail once the power is cut).
  void Kill() {
    ds_.reset();
    if (store_) {
      // No flush: a dead process flushes nothing. Close still joins the WAL thread.
      (void)store_->Close();
    }
    store_.reset();
    registry_.reset();
  }

  Status Define() {
    std::vector<SeriesDefinition> defs;
    for (size_t s = 0; s < std::size(kSeries); ++s) {
      defs.push_back({ids_[s], kSeries[s].resource, kSeries[s].metric});
    }
    METERD_ASSIGN_OR_RETURN(DefineOutcome out, registry_->Define(defs, "", true));
    if (out.refused != 0) return Status::InvalidArgument("a definition was refused");
    return Status::OK();
  }

  Status Batch(int b) {
    storage::SampleBatch batch;
    const int64_t t0 = kDay + static_cast<int64_t>(b) * kSecondsPerBatch;
    for (size_t s = 0; s < ids_.size(); ++s) {
      for (int64_t ts = t0; ts < t0 + kSecondsPerBatch; ++ts) {
        if (!SentLate(s, ts)) batch.AddInt(ids_[s], ts, ValueAt(s, ts));
      }
    }
    // Late data: series 3's held-back seconds of the hour two hours back (closed by now).
    if (b % kLateEvery == kLateEvery - 1 && t0 - kDay >= 2 * 3600) {
      const int64_t hour = storage::HourOf(t0) - 2 * 3600;
      const int64_t part = (b / kLateEvery) % 6;  // a tenth of the hour's held-back seconds
      for (int64_t ts = hour + part * 600 + 7; ts < hour + (part + 1) * 600; ts += 30) {
        if (late_sent_.insert(ts).second) batch.AddInt(ids_[3], ts, ValueAt(3, ts));
      }
    }
    return Ingest(batch);
  }

  // IngestPipeline::Ingest's order: late samples marked durably, append, roll up, then the
  // acknowledgement once the WAL sync returned.
  Status Ingest(const storage::SampleBatch& batch) {
    std::vector<SeriesSlot> slots(batch.size());
    registry_->LookupMany(batch.series(), slots.data());
    for (size_t j = 0; j < batch.size(); ++j) {
      if (slots[j].index == UINT32_MAX) {
        return Status::NotFound("series " + std::to_string(batch.series()[j]) +
                                " is not defined (registry holds " +
                                std::to_string(registry_->size()) + ")");
      }
    }
    const int64_t closing = ds_->closing_before();
    std::vector<LateSample> late;
    for (size_t j = 0; j < batch.size(); ++j) {
      if (batch.timestamps()[j] < closing) {
        late.push_back(LateSample{batch.series()[j], batch.timestamps()[j]});
      }
    }
    uint64_t late_id = 0;
    if (!late.empty()) {
      METERD_ASSIGN_OR_RETURN(late_id, ds_->MarkLate(late));
    }
    for (size_t j = 0; j < batch.size(); ++j) {
      sent_[batch.series()[j]][batch.timestamps()[j]] = batch.values()[j];
    }
    METERD_ASSIGN_OR_RETURN(storage::AppendResult appended, store_->Append(batch));
    if (appended.rejected != 0) {
      return Status::InvalidArgument("the store rejected " + std::to_string(appended.rejected) +
                                     " samples: " + appended.first_rejections[0].reason.ToString());
    }
    METERD_RETURN_IF_ERROR(ds_->Apply(batch, slots, false, late_id, appended.lsn));
    METERD_RETURN_IF_ERROR(store_->WaitDurable(appended.lsn));
    for (size_t j = 0; j < batch.size(); ++j) {
      acked_[batch.series()[j]][batch.timestamps()[j]] = batch.values()[j];
    }
    return Status::OK();
  }

  // One pass of the rollup clock (RollupClock::RunOnce).
  Status Tick(bool merge) {
    ds_->CloseDue();
    METERD_RETURN_IF_ERROR(ds_->ProcessLate());
    METERD_RETURN_IF_ERROR(ds_->SealDue().status());
    METERD_RETURN_IF_ERROR(ds_->ProcessLate());
    if (merge) METERD_RETURN_IF_ERROR(ds_->MergeParts());
    return Status::OK();
  }

  std::map<uint64_t, RawSeries> ScanRaw(std::string* duplicates) {
    std::map<uint64_t, RawSeries> out;
    Status s = store_->Scan(
        storage::ScanRequest{}, [&](uint64_t id, storage::ValueType, std::span<const int64_t> ts,
                                    std::span<const uint64_t> v) {
          RawSeries& series = out[id];
          for (size_t i = 0; i < ts.size(); ++i) {
            if (!series.emplace(ts[i], v[i]).second) {
              *duplicates +=
                  " series " + std::to_string(id) + " second " + std::to_string(ts[i] - kDay) + ";";
            }
          }
        });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  // Checks 1-3 of the file comment; returns the number of problems (each reported).
  int Check(const std::string& when) {
    SCOPED_TRACE(when);
    int problems = 0;
    std::string duplicates;
    const auto raw = ScanRaw(&duplicates);
    if (!duplicates.empty()) {
      ++problems;
      ADD_FAILURE() << "samples served twice:" << duplicates.substr(0, 300);
    }
    for (const auto& [id, want] : acked_) {
      const auto it = raw.find(id);
      for (const auto& [ts, v] : want) {
        const bool found = it != raw.end() && it->second.count(ts) && it->second.at(ts) == v;
        if (!found && problems++ < 5) {
          ADD_FAILURE() << "acknowledged sample lost: series " << id << " second " << ts - kDay;
        }
      }
    }
    for (const auto& [id, got] : raw) {
      const auto it = sent_.find(id);
      for (const auto& [ts, v] : got) {
        const bool sent = it != sent_.end() && it->second.count(ts) && it->second.at(ts) == v;
        if (!sent && problems++ < 5) {
          ADD_FAILURE() << "a sample never sent is present: series " << id << " second "
                        << ts - kDay << " value " << v;
        }
      }
    }
    problems += ExpectMatchesReference(*ds_, shapes_, raw, INT64_MIN, INT64_MAX, {}, 5);
    return problems;
  }

  // Check 4: more data after recovery, then every hour sealed; the checks again.
  int ContinueAndCheck() {
    const int64_t resume = now_;
    storage::SampleBatch batch;
    for (size_t s = 0; s < ids_.size(); ++s) {
      for (int64_t ts = resume; ts < resume + kSecondsPerBatch; ++ts) {
        batch.AddInt(ids_[s], ts, ValueAt(s, ts));
      }
    }
    // A client whose definitions were not acknowledged before the cut defines them again.
    Status st = Define();
    EXPECT_TRUE(st.ok()) << "define after recovery: " << st.ToString();
    if (st.ok()) st = Ingest(batch);
    EXPECT_TRUE(st.ok()) << "ingest after recovery: " << st.ToString();
    if (!st.ok()) return 1;
    now_ = resume + 4 * 3600;
    st = Tick(/*merge=*/true);
    EXPECT_TRUE(st.ok()) << "seal after recovery: " << st.ToString();
    if (!st.ok()) return 1;
    return Check("after more data and a seal of every hour");
  }

  int64_t now() const { return now_; }
  const std::vector<std::string>& report() const { return report_; }
  uint64_t acked_samples() const {
    uint64_t n = 0;
    for (const auto& [id, m] : acked_) n += m.size();
    return n;
  }

 private:
  FaultEnv* const env_;
  const std::string dir_;
  int64_t now_ = kDay;
  MetricCatalog catalog_;
  std::vector<uint64_t> ids_;
  Shapes shapes_;
  std::set<int64_t> late_sent_;
  std::map<uint64_t, RawSeries> sent_;   // every sample handed to Append
  std::map<uint64_t, RawSeries> acked_;  // every sample whose WAL sync returned OK
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<SeriesRegistry> registry_;
  std::unique_ptr<Downsampler> ds_;
  std::vector<std::string> report_;
};

struct CutResult {
  bool reached = false;  // the scenario had an operation N (else it ran to its end)
  int problems = 0;
};

// Runs the scenario with the power cut at operation `n`, recovers, checks.
CutResult RunCut(uint64_t n, PowerLossMode mode) {
  CutResult result;
  testing::TempDir dir(ScratchParent());
  FaultEnv env(storage::Env::Default(), ScratchParent());
  Scenario scenario(&env, dir.path());
  env.CrashAtOp(n, mode == PowerLossMode::kKeepUnsynced ? static_cast<int64_t>(n % 97) : -1);
  Status st = scenario.Run();
  if (st.ok() && !env.crashed()) return result;  // the scenario has fewer operations
  result.reached = true;
  const std::string where =
      "cut at operation " + std::to_string(n) + " (" +
      (mode == PowerLossMode::kDropUnsynced ? "power loss" : "process crash") +
      ", rerun: METERD_CRASH_POINT=" + std::to_string(n) + ")";
  if (!env.crashed()) {
    ADD_FAILURE() << where << ": the scenario failed without a fault: " << st.ToString();
    ++result.problems;
    return result;
  }
  scenario.Kill();
  Status lost = env.SimulatePowerLoss(mode);
  EXPECT_TRUE(lost.ok()) << where << ": " << lost.ToString();
  Status reopened = scenario.Open();
  if (!reopened.ok()) {
    ADD_FAILURE() << where << ": recovery failed: " << reopened.ToString();
    ++result.problems;
    return result;
  }
  SCOPED_TRACE(where);
  result.problems += scenario.Check("after recovery");
  if (result.problems == 0) result.problems += scenario.ContinueAndCheck();
  return result;
}

TEST(CrashPointTest, EveryCutPointRecoversEveryAcknowledgedSampleOnceAndExactRollups) {
  // The scenario once without faults: its operation count, and a sanity check of the checks.
  uint64_t total_ops = 0;
  {
    testing::TempDir dir(ScratchParent());
    FaultEnv env(storage::Env::Default(), ScratchParent());
    Scenario scenario(&env, dir.path());
    Status st = scenario.Run();
    ASSERT_TRUE(st.ok()) << st.ToString();
    total_ops = env.ops();
    EXPECT_EQ(scenario.Check("clean run"), 0);
    std::string kinds;
    for (const auto& [k, v] : env.ops_by_kind()) kinds += " " + k + "=" + std::to_string(v);
    std::printf("[ crash-point ] scenario: %llu file operations (%s), %llu samples acknowledged\n",
                static_cast<unsigned long long>(total_ops), kinds.c_str(),
                static_cast<unsigned long long>(scenario.acked_samples()));
    std::fflush(stdout);
    ASSERT_GE(total_ops, 2000u) << "the scenario must offer at least 2,000 cut points";
  }

  std::vector<uint64_t> cuts;
  const char* one = std::getenv("METERD_CRASH_POINT");
  const char* points = std::getenv("METERD_CRASH_POINTS");
  if (one != nullptr) {
    cuts.push_back(std::strtoull(one, nullptr, 10));
  } else if (points != nullptr && std::string(points) == "all") {
    // METERD_CRASH_FROM / METERD_CRASH_TO: a range of them, to split a long run across cores.
    const char* from = std::getenv("METERD_CRASH_FROM");
    const char* to = std::getenv("METERD_CRASH_TO");
    const uint64_t first = from ? std::strtoull(from, nullptr, 10) : 1;
    const uint64_t last =
        to ? std::min<uint64_t>(std::strtoull(to, nullptr, 10), total_ops) : total_ops;
    for (uint64_t n = first; n <= last; ++n) cuts.push_back(n);
  } else {
    // The sanitizer build runs about ten times slower: a thinner slice keeps it in ctest's
    // timeout on a busy machine.
#if defined(__SANITIZE_ADDRESS__)
    constexpr uint64_t kDense = 60, kStride = 97;
#else
    constexpr uint64_t kDense = 120, kStride = 29;
#endif
    for (uint64_t n = 1; n <= total_ops; ++n) {
      if (n <= kDense || n % kStride == 0) cuts.push_back(n);
    }
  }
  std::set<uint64_t> distinct;
  int problems = 0;
  size_t runs = 0;
  for (uint64_t n : cuts) {
    if (cuts.size() > 500 && n % 100 == 0) {  // progress of a long run
      std::fprintf(stderr, "[ crash-point ] at cut point %llu of %llu\n",
                   static_cast<unsigned long long>(n), static_cast<unsigned long long>(total_ops));
    }
    for (PowerLossMode mode : {PowerLossMode::kDropUnsynced, PowerLossMode::kKeepUnsynced}) {
      const CutResult r = RunCut(n, mode);
      if (!r.reached) continue;
      distinct.insert(n);
      ++runs;
      problems += r.problems;
    }
    if (problems > 0) break;  // one cut point's report is enough to debug
  }
  std::printf("[ crash-point ] %zu distinct cut points of %llu, %zu recoveries, %d problems\n",
              distinct.size(), static_cast<unsigned long long>(total_ops), runs, problems);
  EXPECT_EQ(problems, 0);
}

}  // namespace crash_point_test
}  // namespace meterd::engine
