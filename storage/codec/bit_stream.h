// meterd — storage/codec/bit_stream.h
//
// An append-only bit stream (LSB-first within 64-bit words) and its reader: the head's streaming
// Gorilla-style chunks (in memory only) and the Gorilla float column (on disk, where the stream's
// bytes are the words' little-endian bytes; docs/format-segment-columns.md).
//
// Thread-safety: BitWriter is owned by one writer; a BitReader reads a stream that no one is
// appending to (the store's mutex or an immutable head guarantees it).
// Invariant: bits at positions >= size_bits() in the last word are zero.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace meterd::storage {

class BitWriter {
 public:
  // Appends the low `nbits` bits of `value`. REQUIRES: 1 <= nbits <= 64.
  void Write(uint64_t value, int nbits) {
    if (nbits < 64) value &= (uint64_t{1} << nbits) - 1;
    const uint64_t pos = bits_ & 63;
    if (pos == 0) {
      Grow();
      words_.push_back(value);
    } else {
      words_.back() |= value << pos;
      if (pos + static_cast<uint64_t>(nbits) > 64) {
        Grow();
        words_.push_back(value >> (64 - pos));
      }
    }
    bits_ += static_cast<uint64_t>(nbits);
  }
  uint64_t size_bits() const { return bits_; }
  size_t capacity_bytes() const { return words_.capacity() * sizeof(uint64_t); }
  const std::vector<uint64_t>& words() const { return words_; }

 private:
  // Grows by a quarter rather than doubling: a head of 100k series would otherwise hold up to
  // half its memory as empty capacity, and the head's budget is bytes per buffered sample.
  void Grow() {
    if (words_.size() == words_.capacity()) {
      words_.reserve(words_.capacity() + std::max<size_t>(4, words_.capacity() / 4));
    }
  }

  std::vector<uint64_t> words_;
  uint64_t bits_ = 0;
};

class BitReader {
 public:
  BitReader(const uint64_t* words, uint64_t size_bits) : words_(words), size_(size_bits) {}

  // Reads `nbits` bits. REQUIRES: 1 <= nbits <= 64 and nbits <= remaining().
  uint64_t Read(int nbits) {
    const uint64_t idx = pos_ >> 6, off = pos_ & 63;
    uint64_t v = words_[idx] >> off;
    if (off + static_cast<uint64_t>(nbits) > 64) v |= words_[idx + 1] << (64 - off);
    if (nbits < 64) v &= (uint64_t{1} << nbits) - 1;
    pos_ += static_cast<uint64_t>(nbits);
    return v;
  }
  // Counts consecutive 1 bits (consuming them and the terminating 0), up to `max` ones
  // (consuming no terminator then): the unary bucket prefix.
  int ReadUnary(int max) {
    int ones = 0;
    while (ones < max && Read(1) == 1) ++ones;
    return ones;
  }
  uint64_t remaining() const { return size_ - pos_; }

 private:
  const uint64_t* words_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

}  // namespace meterd::storage
