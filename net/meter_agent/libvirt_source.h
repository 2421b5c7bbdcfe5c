// meterd — net/meter_agent/libvirt_source.h
//
// LibvirtSource: a hypervisor's domains as a SampleSource (--libvirt URI). Each collection reads
// every domain once (LibvirtReader) and maps the readings to samples (DomainTracker), stamped
// with the current second (a collection that runs late skips the seconds it missed rather than
// stamping today's values with past seconds). A failed read (libvirtd restarting) sends nothing
// and drops the connection; the next collection reopens it.
//
// Thread-safety: as SampleSource.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "net/meter_agent/domain_tracker.h"
#include "net/meter_agent/libvirt_reader.h"
#include "net/meter_agent/sample_source.h"

namespace meterd::agent {

class LibvirtSource final : public SampleSource {
 public:
  // `now`: unix seconds (the wall clock unless a test gives one).
  explicit LibvirtSource(std::string uri, std::function<int64_t()> now = {});
  int64_t next() const override;
  Status Collect(storage::SampleBatch* batch, NewEntities* added) override;
  const TrackerStats& stats() const { return tracker_.stats(); }
  uint64_t opens() const { return opens_; }  // connections opened (the first and reopens)

 private:
  std::string uri_;
  std::function<int64_t()> now_;
  std::unique_ptr<LibvirtReader> reader_;
  DomainTracker tracker_;
  int64_t next_ = 0;
  uint64_t opens_ = 0;
};

}  // namespace meterd::agent
