// meterd — tests/fuzz/fuzz_targets.h: the decode entry points of the libFuzzer targets.
//
// Each pair is defined in tests/fuzz/<name>_fuzz.cc next to that target's
// LLVMFuzzerTestOneInput, which runs Decode<Name>(input) and Decode<Name>(Reseal<Name>(input))
// (see fuzz_support.h). A replay test links exactly one of those files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_support.h"

// The libFuzzer entry point of the target linked in (returns 0).
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace meterd::fuzz {

// wal_fuzz.cc. The input is WAL file kWalFuzzFileNumber (its checksums are seeded with it),
// replayed with ReplayWal; items: the delivered records; reported damage is a Corruption.
constexpr uint64_t kWalFuzzFileNumber = 1;
Decoded DecodeWal(std::string_view input);
// The checksum of every fragment whose header and payload fit is recomputed.
std::string ResealWal(std::string_view input);

// segment_fuzz.cc. The input is segment file kSegmentFuzzId (salvage reads the id from the
// name), opened with SegmentReader and every block read; items: the decoded rows; a salvaged
// open or a failing block is a Corruption.
constexpr uint64_t kSegmentFuzzId = 7;
Decoded DecodeSegment(std::string_view input);
// Block checksums (found through the index and by walking block headers), the index checksum
// and the footer checksum are recomputed.
std::string ResealSegment(std::string_view input);

// rollup_fuzz.cc. The input is one rollup file, opened with RollupFileReader and every block
// read (all columns, and once with value columns in any order); items: the rows; a damaged
// block is a Corruption.
Decoded DecodeRollup(std::string_view input);
std::string ResealRollup(std::string_view input);

// manifest_fuzz.cc. The store's MANIFEST (DecodeManifest) or, when the input starts with the
// ROLLUP magic, the rollup manifest (DecodeRollupManifest); items: the decoded fields.
Decoded DecodeManifests(std::string_view input);
// The trailing checksum over everything before it is recomputed.
std::string ResealManifest(std::string_view input);

// record_log_fuzz.cc. The input is series.log, opened with SeriesRegistry::Open (RecordLog
// framing, then each series record); items: the series defined; a cut tail is a Corruption.
Decoded DecodeRecordLog(std::string_view input);
std::string ResealRecordLog(std::string_view input);

// csv_fuzz.cc. The input is a CSV file for `meterctl ingest` (header
// resource,metric,timestamp,value) or `meterctl backfill` (resource,metric,hour,value);
// any other first line runs both row parsers. Items: the parsed rows and the refusals.
Decoded DecodeCsv(std::string_view input);

// catalog_fuzz.cc. The input is a catalog document (YAML or JSON) applied as a dry run to an
// empty billing store; items: the apply report's entries. Validation errors are the status.
Decoded DecodeCatalog(std::string_view input);

// ingest_fuzz.cc. The HTTP ingest decoders (net/ingest): the first byte picks Influx ('i'),
// collectd JSON ('c'), remote_write protobuf ('p') or snappy body ('s'), a gzip Influx body
// ('g'); any other byte runs the whole input through the three raw decoders. Items: each
// sample mapped and converted, each refused line; a refused line or body is the status.
Decoded DecodeIngest(std::string_view input);

}  // namespace meterd::fuzz
