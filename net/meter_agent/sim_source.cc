// meterd — net/meter_agent/sim_source.cc
#include "net/meter_agent/sim_source.h"

namespace meterd::agent {

SimSource::SimSource(const sim::FleetOptions& options) : fleet_(options) {}

Status SimSource::Collect(storage::SampleBatch* batch, NewEntities* added) {
  if (!announced_) {
    announced_ = true;
    for (size_t v = 0; v < fleet_.vms(); ++v) {
      const std::string key0 = sim::SeriesKey(fleet_.first_vm() + v, 0);
      const std::string vm = key0.substr(0, key0.find('|'));
      // Existence only: attribution is the control plane's (meterctl resources create).
      added->resources.push_back({vm, "vm", "", "", "", ""});
      for (size_t m = 0; m < sim::kMetricsPerVm; ++m) {
        added->series.push_back({vm, sim::kVmMetrics[m].name});
      }
    }
  }
  fleet_.Step(batch);
  return Status::OK();
}

}  // namespace meterd::agent
