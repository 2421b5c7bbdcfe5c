// meterd — net/meter_agent/domain_tracker.cc
#include "net/meter_agent/domain_tracker.h"

#include <libvirt/libvirt.h>

namespace meterd::agent {

std::optional<uint64_t> DomainTracker::StateOf(int s) {
  switch (s) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
    case VIR_DOMAIN_SHUTDOWN:  // still running while it shuts down
      return kRunning;
    case VIR_DOMAIN_PAUSED:
      return kPaused;
    case VIR_DOMAIN_SHUTOFF:
    case VIR_DOMAIN_CRASHED:
      return kStopped;
    case VIR_DOMAIN_PMSUSPENDED:
      return kSuspended;
    default:
      return std::nullopt;
  }
}

void DomainTracker::Add(int64_t ts, const std::string& resource, const char* metric, uint64_t value,
                        Known* k, storage::SampleBatch* batch, NewEntities* added) {
  if (k->defined.insert(metric).second) added->series.push_back({resource, metric});
  batch->AddInt(net::SeriesIdOf(resource, metric), ts, value);
}

void DomainTracker::Apply(int64_t ts, const std::vector<DomainReading>& domains,
                          storage::SampleBatch* batch, NewEntities* added) {
  std::set<std::string> listed;
  for (const DomainReading& d : domains) {
    if (d.name.empty() || !listed.insert(d.name).second) continue;
    auto [it, fresh] = known_.try_emplace(d.name);
    Known& k = it->second;
    if (fresh) {
      ++stats_.appeared;
      added->resources.push_back({d.name, "vm", "", "", "", ""});
    }
    const std::optional<uint64_t> state = StateOf(d.state);
    const bool running = state == kRunning || state == kPaused;
    // A start the counters may not show: stopped before, or a new domain id (a reboot).
    const bool restarted = !fresh && running && (!k.running || (k.id >= 0 && d.id != k.id));
    if (restarted) ++stats_.restarts;
    k.running = running;
    k.id = d.id;
    if (state) Add(ts, d.name, "vm.state", *state, &k, batch, added);
    if (d.vcpus) Add(ts, d.name, "vm.vcpus", *d.vcpus, &k, batch, added);
    if (d.memory_bytes) Add(ts, d.name, "vm.memory_bytes", *d.memory_bytes, &k, batch, added);
    if (d.disk_size_bytes) Add(ts, d.name, "disk.size_bytes", *d.disk_size_bytes, &k, batch, added);
    if (!running) continue;
    const std::pair<const char*, const std::optional<uint64_t>*> counters[] = {
        {"vm.cpu_time_ns", &d.cpu_time_ns},        {"disk.read_bytes", &d.disk_read_bytes},
        {"disk.write_bytes", &d.disk_write_bytes}, {"disk.read_ops", &d.disk_read_ops},
        {"disk.write_ops", &d.disk_write_ops},     {"net.rx_bytes", &d.net_rx_bytes},
        {"net.tx_bytes", &d.net_tx_bytes}};
    for (const auto& [metric, value] : counters) {
      if (!*value) continue;
      uint64_t v = **value;
      if (restarted) {
        auto last = k.counters.find(metric);
        if (last != k.counters.end() && v >= last->second) v = 0;  // make the reset visible
      }
      k.counters[metric] = v;
      Add(ts, d.name, metric, v, &k, batch, added);
    }
  }
  // Domains no longer listed were undefined (or migrated away): deleted, once.
  for (auto it = known_.begin(); it != known_.end();) {
    if (listed.contains(it->first)) {
      ++it;
      continue;
    }
    Add(ts, it->first, "vm.state", kDeleted, &it->second, batch, added);
    ++stats_.disappeared;
    it = known_.erase(it);
  }
}

}  // namespace meterd::agent
