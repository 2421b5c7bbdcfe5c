// meterd — net/meter_agent/sim_source.h
//
// SimSource: the seeded fleet simulator (sim/fleet_sim.h) as a SampleSource: VMs vm-<n> with
// the built-in catalog's 13 metrics, starting at a given second (in the past to make a backlog).
// Its first collection reports every VM and series as new.
//
// Thread-safety: as SampleSource.
#pragma once

#include "net/meter_agent/sample_source.h"
#include "sim/fleet_sim.h"

namespace meterd::agent {

class SimSource final : public SampleSource {
 public:
  explicit SimSource(const sim::FleetOptions& options);
  int64_t next() const override { return fleet_.now(); }
  Status Collect(storage::SampleBatch* batch, NewEntities* added) override;

 private:
  sim::FleetSimulator fleet_;
  bool announced_ = false;
};

}  // namespace meterd::agent
