// meterd — tests/fuzz/fuzz_support.h: what the libFuzzer targets and their replay tests share.
//
// Every decoder target (tests/fuzz/<name>_fuzz.cc) exposes one function, Decode<Name>(bytes),
// that runs the input through the real reader and returns a Decoded: the reader's status and a
// canonical text of every record or row it yielded. LLVMFuzzerTestOneInput calls it twice: on
// the input as it is (what a damaged disk or a hostile file gives the reader) and on the input
// with its checksums recomputed (Reseal<Name>), so that the fuzzer also reaches the parsing
// behind each checksum, which random bytes almost never pass. The replay tests
// (<name>_fuzz_replay_test.cc) call the same functions over the committed corpus and seeded
// mutations of it.
//
// Readers that only take a path get the input written to a scratch file under /dev/shm (tmpfs:
// their fsyncs cost nothing), so a run stays at thousands of inputs a second.
//
// Thread-safety: none; a fuzz process or a replay test runs one input at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/base/status.h"

namespace meterd::fuzz {

struct Decoded {
  Status status;
  // One entry per record, row or entity the reader yielded, as canonical text (for the replay
  // tests' checks: what a damaged input yields must be something the intact input yielded).
  std::vector<std::string> items;
};

// A directory of this process's own, created on first use (under /dev/shm when it exists,
// else $TMPDIR or /tmp) and removed at exit.
const std::string& ScratchDir();
// A fresh empty subdirectory of ScratchDir() (removed and recreated on every call).
std::string FreshScratchDir(const std::string& name);
// Writes `data` to `path`, replacing it; no fsync (a scratch file). Aborts on failure: a
// harness that cannot write its input would fuzz nothing.
void WriteScratchFile(const std::string& path, std::string_view data);

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace meterd::fuzz
