// meterd — engine/service/process_stats.h: figures of the meterd process itself, read from
// /proc (defined in meter_service_metrics.cc, which reports them on /metrics; `stats` reports
// the resident size too).
//
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <cstdint>

namespace meterd::engine {

// The process' resident set in bytes (/proc/self/statm); 0 when /proc cannot tell.
uint64_t ResidentBytes();

}  // namespace meterd::engine
