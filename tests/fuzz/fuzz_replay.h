// meterd — tests/fuzz/fuzz_replay.h: the seeded replay every build runs for a fuzz target.
//
// A replay test (<name>_fuzz_replay_test.cc) hands Replay() the target's committed corpus
// (tests/fuzz/corpus/<name>/) and the seeds its real writers produce now, and Replay checks:
//   1. every valid seed decodes with an OK status (files named regress-* are crash repros and
//      only have to come back without crashing);
//   2. a bounded number of deterministic mutations of the seeds (a fixed-seed PRNG: bit flips,
//      truncations, insertions, deletions, overwrites with boundary bytes, spliced copies)
//      run through LLVMFuzzerTestOneInput, the libFuzzer entry point, without crashing;
//   3. for a checksummed format, every item a mutation's decode yields is one its intact seed
//      yielded (Oracle::kSubset), or (Oracle::kWholeOrError, one checksum over the whole input)
//      any change yields an error status.
// Setting METERD_FUZZ_WRITE_CORPUS=<dir> makes the test write the writer seeds into
// <dir>/<name>/ (regenerating the committed corpus after a format change).
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tests/fuzz/fuzz_support.h"

namespace meterd::fuzz {

using Seed = std::pair<std::string, std::string>;  // file name, bytes

enum class Oracle {
  kNone,          // no checksum: only "never crashes" (and a deterministic result)
  kSubset,        // per-record checksums: a damaged input yields a subset of the intact items
  kWholeOrError,  // one checksum over everything: any change is an error
};

struct ReplayOptions {
  std::string name;  // corpus directory name: tests/fuzz/corpus/<name>
  std::function<Decoded(std::string_view)> decode;
  Oracle oracle = Oracle::kNone;
  int mutations = 2000;
  // In an ASan build (Debug, -O0: 20-60 times slower) the count is this instead, so that a
  // replay stays under ~10 s there.
  int sanitizer_mutations = 2000;
  uint64_t prng_seed = 20261125;
};

// The committed corpus of `name` (every file, sorted by name).
std::vector<Seed> LoadCorpus(const std::string& name);
// One deterministic mutation of `input`.
std::string Mutate(std::mt19937_64& rng, const std::string& input);
// The checks above, as GoogleTest assertions. `seeds`: what the writers produce now.
void Replay(const ReplayOptions& options, const std::vector<Seed>& seeds);

}  // namespace meterd::fuzz
