// meterd — sim/fleet_sim.cc
#include "sim/fleet_sim.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "storage/base/checksum.h"

namespace meterd::sim {
namespace {
using storage::ValueType;
constexpr uint64_t kGiB = 1ull << 30;

// Uniform double in [0, 1) from 53 random bits: identical on every platform (std::*_distribution
// implementations differ between standard libraries, and the data must be reproducible).
double Uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
uint64_t Pick(std::mt19937_64& rng, std::initializer_list<uint64_t> choices) {
  return *(choices.begin() + rng() % choices.size());
}
// A log-normal multiplier with median 1, from a Box–Muller normal.
double LogNormal(std::mt19937_64& rng, double sigma) {
  double u1 = std::max(Uniform(rng), 1e-12), u2 = Uniform(rng);
  double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  return std::exp(sigma * z);
}
}  // namespace

const std::array<MetricSpec, kMetricsPerVm> kVmMetrics = {{
    {"vm.state", MetricKind::kState, ValueType::kInt},
    {"vm.vcpus", MetricKind::kGauge, ValueType::kInt},
    {"vm.memory_bytes", MetricKind::kGauge, ValueType::kInt},
    {"vm.cpu_time_ns", MetricKind::kCounter, ValueType::kInt},
    {"disk.size_bytes", MetricKind::kGauge, ValueType::kInt},
    {"disk.read_bytes", MetricKind::kCounter, ValueType::kInt},
    {"disk.write_bytes", MetricKind::kCounter, ValueType::kInt},
    {"disk.read_ops", MetricKind::kCounter, ValueType::kInt},
    {"disk.write_ops", MetricKind::kCounter, ValueType::kInt},
    {"net.rx_bytes", MetricKind::kCounter, ValueType::kInt},
    {"net.tx_bytes", MetricKind::kCounter, ValueType::kInt},
    {"ip.count", MetricKind::kGauge, ValueType::kInt},
    {"snapshot.size_bytes", MetricKind::kGauge, ValueType::kInt},
}};

std::string SeriesKey(size_t vm, size_t metric) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "vm-%06zu|%s", vm, kVmMetrics[metric].name);
  return buf;
}

uint64_t SeriesId(size_t vm, size_t metric) { return base::Checksum64(SeriesKey(vm, metric)); }

FleetSimulator::FleetSimulator(const FleetOptions& options)
    : rng_(options.seed), options_(options), now_(options.start_ts) {
  vms_.resize(options.vms);
  ids_.resize(options.vms * kMetricsPerVm);
  for (size_t i = 0; i < options.vms; ++i) {
    Vm& vm = vms_[i];
    vm.vcpus = Pick(rng_, {1, 2, 2, 4, 4, 8, 16});
    vm.memory_bytes = vm.vcpus * Pick(rng_, {1, 2, 4}) * kGiB;
    vm.disk_bytes = Pick(rng_, {20, 40, 80, 160, 320, 500}) * kGiB;
    vm.snapshot_bytes = (rng_() % 4 == 0) ? (rng_() % 50 + 1) * kGiB : 0;
    vm.ips = 1 + (rng_() % 10 == 0);
    vm.running = rng_() % 10 != 0;
    vm.outage_until = 0;
    vm.util_mean = 0.02 + 0.6 * Uniform(rng_) * Uniform(rng_);
    vm.util = vm.util_mean;
    vm.io_probability = 0.02 + 0.3 * Uniform(rng_);
    vm.net_level =
        std::exp(std::log(200.0) + Uniform(rng_) * std::log(50000.0));  // 200 B/s..10 MB/s
    // Counters start where a long-running VM's would be.
    vm.cpu_ns = rng_() % (1ull << 50);
    vm.rd_bytes = rng_() % (1ull << 40);
    vm.wr_bytes = rng_() % (1ull << 40);
    vm.rd_ops = rng_() % (1ull << 28);
    vm.wr_ops = rng_() % (1ull << 28);
    vm.rx_bytes = rng_() % (1ull << 40);
    vm.tx_bytes = rng_() % (1ull << 40);
    for (size_t m = 0; m < kMetricsPerVm; ++m)
      ids_[i * kMetricsPerVm + m] = SeriesId(options.first_vm + i, m);
  }
}

void FleetSimulator::Advance(Vm* vm) {
  if (vm->running) {
    if (Uniform(rng_) < options_.stop_probability) {
      vm->running = false;
      return;
    }
    // Utilisation: a mean-reverting walk, clamped to [0, 1].
    vm->util += 0.05 * (vm->util_mean - vm->util) + 0.01 * (Uniform(rng_) - 0.5);
    vm->util = std::clamp(vm->util, 0.0, 1.0);
    vm->cpu_ns += static_cast<uint64_t>(vm->util * 1e9 * static_cast<double>(vm->vcpus));
    if (Uniform(rng_) < vm->io_probability) {
      uint64_t ops = 1 + static_cast<uint64_t>(LogNormal(rng_, 1.0) * 8);
      uint64_t bytes = ops * 4096 * (1 + rng_() % 16);
      if (rng_() % 3 == 0) {
        vm->wr_ops += ops;
        vm->wr_bytes += bytes;
      } else {
        vm->rd_ops += ops;
        vm->rd_bytes += bytes;
      }
    }
    vm->rx_bytes += static_cast<uint64_t>(vm->net_level * LogNormal(rng_, 0.6));
    vm->tx_bytes += static_cast<uint64_t>(vm->net_level * 0.4 * LogNormal(rng_, 0.6));
    if (Uniform(rng_) < 1.0 / 2000000) vm->disk_bytes += 10 * kGiB;  // an online resize
  } else if (Uniform(rng_) < options_.start_probability) {
    vm->running = true;  // a fresh domain: its counters restart from zero
    vm->cpu_ns = vm->rd_bytes = vm->wr_bytes = vm->rd_ops = vm->wr_ops = 0;
    vm->rx_bytes = vm->tx_bytes = 0;
  }
}

void FleetSimulator::Step(storage::SampleBatch* batch) {
  const int64_t ts = now_++;
  for (size_t i = 0; i < vms_.size(); ++i) {
    Vm& vm = vms_[i];
    Advance(&vm);
    if (ts < vm.outage_until) continue;
    if (Uniform(rng_) < options_.outage_probability) {
      vm.outage_until = ts + 10 + static_cast<int64_t>(rng_() % 600);
      continue;
    }
    const uint64_t* id = &ids_[i * kMetricsPerVm];
    const uint64_t values[kMetricsPerVm] = {
        vm.running ? kVmRunning : kVmStopped,
        vm.vcpus,
        vm.memory_bytes,
        vm.cpu_ns,
        vm.disk_bytes,
        vm.rd_bytes,
        vm.wr_bytes,
        vm.rd_ops,
        vm.wr_ops,
        vm.rx_bytes,
        vm.tx_bytes,
        vm.ips,
        vm.snapshot_bytes,
    };
    for (size_t m = 0; m < kMetricsPerVm; ++m) batch->AddInt(id[m], ts, values[m]);
  }
}

}  // namespace meterd::sim
