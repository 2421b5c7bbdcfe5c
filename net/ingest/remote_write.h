// meterd — net/ingest/remote_write.h
//
// Prometheus remote_write 1.0 (POST /api/v1/write): the body is a prometheus.WriteRequest
// (net/schema/prometheus/remote.proto), protobuf-encoded, then snappy-compressed (block
// format). Each sample of each time series is one RawSample: its name is the series'
// __name__ label, its labels the others; its timestamp is milliseconds. A series without
// __name__ is refused (RawBatch::AddIssue, its index from 1), and so is one with a label name
// given twice. Staleness markers (the NaN with bits 0x7ff0000000000002 that Prometheus writes
// when a series disappears) are not samples: they are counted in RawBatch::stale_markers and
// dropped. Metadata, exemplars and native histograms are not read. Label names and values are
// proto3 strings: one that is not UTF-8 makes the whole body malformed (libprotobuf's own check;
// its log lines about it are silenced).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "net/ingest/raw_sample.h"

namespace meterd::net::ingest {

constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ull;

// `protobuf`: the uncompressed WriteRequest. False (with *why) when it does not parse.
bool ParseRemoteWrite(std::string_view protobuf, RawBatch* out, std::string* why);

}  // namespace meterd::net::ingest
