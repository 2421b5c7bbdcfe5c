// meterd — sim/fleet_sim.h
//
// A seeded simulator of a hypervisor fleet's per-second samples, shared by tests, benchmarks and
// the demo. Each VM emits the built-in catalog's 13 metrics every second: levels that hold
// (vCPUs, memory, disk size, IPs, snapshots) and occasionally change, a CPU-time counter that
// grows with a wandering utilisation, bursty disk I/O counters, network counters with a per-VM
// traffic level, and a VM state that stops and starts (counters reset to 0 on start, as libvirt's
// do). Agents occasionally go silent for a while, leaving gaps.
//
// Thread-safety: one simulator per thread. Determinism: the same options give the same samples,
// bit for bit, on every machine (no floating point reaches a sample without being rounded).
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "storage/sample_batch.h"

namespace meterd::sim {

enum class MetricKind : uint8_t { kGauge, kCounter, kState };

struct MetricSpec {
  const char* name;
  MetricKind kind;
  storage::ValueType type;
};

// The simulator's metrics, in emission order (the built-in catalog of docs/metrics.md).
constexpr size_t kMetricsPerVm = 13;
extern const std::array<MetricSpec, kMetricsPerVm> kVmMetrics;

enum VmState : uint64_t { kVmRunning = 1, kVmStopped = 2 };

struct FleetOptions {
  uint64_t seed = 42;
  size_t vms = 100;
  // The first VM's number: VM i of this simulator is "vm-<first_vm + i>" (one agent per
  // hypervisor simulates a disjoint slice of a fleet).
  size_t first_vm = 0;
  int64_t start_ts = 1767225600;  // 2026-01-01T00:00:00Z
  // Per VM per second. Stops are rare (a few a week per VM); outages rarer still.
  double stop_probability = 1.0 / 200000;
  double start_probability = 1.0 / 600;  // a stopped VM restarts within ~10 min on average
  double outage_probability = 1.0 / 500000;
};

// The canonical key of a VM's series and its id (XXH3-64 of the key).
std::string SeriesKey(size_t vm, size_t metric);
uint64_t SeriesId(size_t vm, size_t metric);

class FleetSimulator {
 public:
  explicit FleetSimulator(const FleetOptions& options);

  // Appends the samples of the current second to *batch and advances one second.
  void Step(storage::SampleBatch* batch);
  // The second the next Step will emit.
  int64_t now() const { return now_; }
  size_t vms() const { return vms_.size(); }
  size_t first_vm() const { return options_.first_vm; }
  size_t series() const { return vms_.size() * kMetricsPerVm; }
  uint64_t series_id(size_t vm, size_t metric) const { return ids_[vm * kMetricsPerVm + metric]; }

 private:
  struct Vm {
    uint64_t vcpus;
    uint64_t memory_bytes;
    uint64_t disk_bytes;
    uint64_t snapshot_bytes;
    uint64_t ips;
    bool running;
    int64_t outage_until;  // no samples while now_ < outage_until
    double util;           // CPU utilisation in [0, 1], mean-reverting walk
    double util_mean;
    double io_probability;  // chance of a disk burst in a second
    double net_level;       // bytes per second, log-uniform per VM
    // Counters: cpu ns, disk read/write bytes, read/write ops, net rx/tx bytes.
    uint64_t cpu_ns, rd_bytes, wr_bytes, rd_ops, wr_ops, rx_bytes, tx_bytes;
  };

  void Advance(Vm* vm);

  std::mt19937_64 rng_;
  FleetOptions options_;
  int64_t now_;
  std::vector<Vm> vms_;
  std::vector<uint64_t> ids_;
};

}  // namespace meterd::sim
