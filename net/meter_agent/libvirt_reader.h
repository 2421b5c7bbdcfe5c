// meterd — net/meter_agent/libvirt_reader.h
//
// LibvirtReader: one libvirt connection (any URI: qemu:///system, test:///default, ...) and the
// reading of every domain's state, vCPUs, memory, CPU time, block and interface counters with
// one virConnectGetAllDomainStats call. A driver that leaves a stats group out (the test driver
// reports only the state) is asked per domain instead: virDomainGetInfo for vCPUs, memory and
// CPU time, virDomainBlockStats/virDomainGetBlockInfo for the disks and virDomainInterfaceStats
// for the interfaces its XML lists. libvirt's own error printing is turned off; its messages
// come back in the Status.
//
// Thread-safety: none (the agent's one thread).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "net/meter_agent/domain_tracker.h"
#include "storage/base/result.h"

struct _virConnect;

namespace meterd::agent {

class LibvirtReader {
 public:
  // Unavailable when the URI cannot be opened (with libvirt's reason).
  static Result<std::unique_ptr<LibvirtReader>> Open(const std::string& uri);
  ~LibvirtReader();
  LibvirtReader(const LibvirtReader&) = delete;
  LibvirtReader& operator=(const LibvirtReader&) = delete;

  // Every domain, running or not. Unavailable when the connection is gone (reopen it).
  Result<std::vector<DomainReading>> ReadAll();

 private:
  explicit LibvirtReader(_virConnect* conn) : conn_(conn) {}
  _virConnect* conn_;
};

}  // namespace meterd::agent
