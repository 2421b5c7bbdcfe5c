// meterd — tests/crash/store_crash_child.cc
//
// The process the crash test kills: `store_crash_child DIR FIRST_BATCH` appends batches
// FIRST_BATCH, FIRST_BATCH+1, ... forever, with a small head budget (so flushes, manifest
// switches and WAL deletions happen all the time) and small WAL files (so rotations do too).
// It prints "A k" before appending batch k and "D k" once batch k is durable; the parent trusts
// only what it read from the pipe.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <deque>

#include "storage/store.h"
#include "tests/crash/crash_workload.h"

using namespace meterd;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: store_crash_child DIR FIRST_BATCH\n");
    return 2;
  }
  storage::StoreOptions o;
  o.dir = argv[1];
  o.head_memory_budget = 64 << 10;
  o.wal_file_size = 256 << 10;
  o.partition_seconds = 600;  // batches cross partitions every 600 batches
  o.retention_seconds = 0;
  o.now = [] { return testing::kCrashNow; };
  auto store = storage::Store::Open(o);
  if (!store.ok()) {
    std::fprintf(stderr, "child: open: %s\n", store.status().ToString().c_str());
    return 3;
  }
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  storage::SampleBatch batch;
  std::deque<std::pair<uint64_t, uint64_t>> in_flight;  // (batch, lsn)
  for (uint64_t k = std::strtoull(argv[2], nullptr, 10);; ++k) {
    testing::MakeCrashBatch(k, &batch);
    std::printf("A %llu\n", static_cast<unsigned long long>(k));
    auto r = (*store)->Append(batch);
    if (!r.ok() || r->rejected != 0) {
      std::fprintf(stderr, "child: append: %s\n", r.ok() ? "rejected" : r.status().ToString().c_str());
      return 4;
    }
    in_flight.emplace_back(k, r->lsn);
    // Up to 8 batches in flight, as several agent connections would have.
    while (in_flight.size() > 8 || (k % 5 == 0 && !in_flight.empty())) {
      auto [done, lsn] = in_flight.front();
      if (!(*store)->WaitDurable(lsn).ok()) return 5;
      std::printf("D %llu\n", static_cast<unsigned long long>(done));
      in_flight.pop_front();
    }
  }
}
