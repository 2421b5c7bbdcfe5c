// meterd — net/meter_agent/sample_source.h
//
// Where meter-agent's samples come from: the seeded fleet simulator (SimSource, --simulate) or
// libvirt (LibvirtSource, --libvirt URI). The agent asks a source for one second at a time and
// streams what it collected; a source also says which resources and series appeared since its
// last collection, which the agent registers (RegisterResources) and defines (DefineSeries)
// before it sends the samples that use them.
//
// Thread-safety: a source is used by the agent's one thread.
#pragma once

#include <cstdint>
#include <vector>

#include "net/client/client.h"
#include "storage/base/status.h"
#include "storage/sample_batch.h"

namespace meterd::agent {

// What one or more collections added, besides their samples.
struct NewEntities {
  std::vector<net::ResourceAttributes> resources;  // to register (existence only)
  std::vector<net::SeriesKey> series;              // to define
  bool empty() const { return resources.empty() && series.empty(); }
  void clear() {
    resources.clear();
    series.clear();
  }
};

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  // The second the next Collect stamps its samples with. A simulator catching up returns seconds
  // in the past; a live source returns the second after its last collection.
  virtual int64_t next() const = 0;
  // Appends the samples of second next() (series ids are net::SeriesIdOf(resource, metric)) to
  // *batch and what appeared to *added, and advances. An error (libvirt unreachable) appends
  // nothing; the agent tries again the next second.
  virtual Status Collect(storage::SampleBatch* batch, NewEntities* added) = 0;
};

}  // namespace meterd::agent
