// meterd — storage/base/checksum.h
//
// Checksums for every on-disk structure: XXH3-64 (xxHash 0.8), optionally seeded so that a block
// read from the wrong file or offset fails verification (RocksDB's context checksum).
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace meterd::base {

uint64_t Checksum64(const void* data, size_t size, uint64_t seed = 0);
inline uint64_t Checksum64(std::string_view s, uint64_t seed = 0) {
  return Checksum64(s.data(), s.size(), seed);
}

// Streaming form, for checksums over several disjoint ranges.
class Checksummer {
 public:
  explicit Checksummer(uint64_t seed = 0);
  ~Checksummer();
  Checksummer(const Checksummer&) = delete;
  Checksummer& operator=(const Checksummer&) = delete;
  void Update(const void* data, size_t size);
  uint64_t Digest() const;

 private:
  void* state_;  // XXH3_state_t*
};

// A context seed mixing a file id and an offset, so identical bytes at another place differ.
inline uint64_t ContextSeed(uint64_t file_id, uint64_t offset) {
  return (file_id * 0x9E3779B97F4A7C15ull) ^ (offset + 0x632BE59BD9B4E019ull);
}

}  // namespace meterd::base
