// meterd — net/meter_agent/domain_tracker.h
//
// DomainTracker: turns readings of a hypervisor's domains (one per second) into samples of the
// built-in catalog (docs/metrics.md), one resource per domain, named by the domain's name:
//   vm.state         running 1 (also blocked and shutting down), stopped 2 (shut off, crashed),
//                    paused 4, suspended 5 (pmsuspended); deleted 6, sent once when a domain
//                    is no longer listed (undefined)
//   vm.vcpus, vm.memory_bytes                  every listed domain, running or not
//   vm.cpu_time_ns, disk.*, net.*              running domains: the sums over their disks and
//                                               interfaces, as libvirt reports them
//   disk.size_bytes                            the sum of the disks' capacity
// It reports each domain, and each series, the first time it is seen (the agent registers and
// defines them before sending). Counters are sent as libvirt reports them; meterd counts any
// decrease as a reset (docs/metrics.md, "Counters"). A restart the counters could hide is made
// visible: when a domain starts again (it was seen stopped, or its domain id changed, as on a
// reboot that kept it listed), each counter that did not go down is sent as 0 for that first
// second, so meterd sees the reset; what the domain counted in that second arrives with the next
// sample (the counter restarted from 0). Readings that failed are not passed in, so a libvirt
// outage never reads as every domain deleted.
//
// Thread-safety: none (the agent's one thread).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "net/meter_agent/sample_source.h"

namespace meterd::agent {

// One domain as libvirt reported it (libvirt_reader.h). A value libvirt did not give is empty.
struct DomainReading {
  std::string name;
  int id = -1;    // libvirt's domain id: -1 while shut off; a new one at every start
  int state = 0;  // virDomainState
  std::optional<uint64_t> vcpus, memory_bytes, cpu_time_ns, disk_size_bytes;
  std::optional<uint64_t> disk_read_bytes, disk_write_bytes, disk_read_ops, disk_write_ops;
  std::optional<uint64_t> net_rx_bytes, net_tx_bytes;
};

struct TrackerStats {
  uint64_t appeared = 0, disappeared = 0, restarts = 0;
};

class DomainTracker {
 public:
  // The vm.state values (docs/metrics.md, "Built-in catalog").
  static constexpr uint64_t kRunning = 1, kStopped = 2, kPaused = 4, kSuspended = 5, kDeleted = 6;
  // vm.state of a virDomainState; empty for "no state" (nothing is sent).
  static std::optional<uint64_t> StateOf(int libvirt_state);

  // The samples of second `ts` for `domains` (every domain libvirt lists, in any order).
  void Apply(int64_t ts, const std::vector<DomainReading>& domains, storage::SampleBatch* batch,
             NewEntities* added);
  const TrackerStats& stats() const { return stats_; }
  size_t domains() const { return known_.size(); }

 private:
  struct Known {
    int id = -1;
    bool running = false;
    std::set<std::string> defined;             // metrics whose series were reported
    std::map<std::string, uint64_t> counters;  // last value sent, by metric
  };
  void Add(int64_t ts, const std::string& resource, const char* metric, uint64_t value, Known* k,
           storage::SampleBatch* batch, NewEntities* added);

  std::map<std::string, Known> known_;
  TrackerStats stats_;
};

}  // namespace meterd::agent
