// meterd — storage/base/coding.h
//
// Little-endian fixed-width and LEB128 varint encoding, zigzag mapping, and a bounds-checked
// reader. Every on-disk format and the wire protocol are little-endian (docs/format-*.md).
//
// Thread-safety: free functions are pure; a ByteReader is a cursor owned by one thread.
// Invariant: ByteReader never reads outside [data, data + size); a short read fails and leaves
// the cursor where it was.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace meterd::base {

inline void PutFixed8(std::string* dst, uint8_t v) { dst->push_back(static_cast<char>(v)); }
inline void PutFixed16(std::string* dst, uint16_t v) {
  char buf[2];
  std::memcpy(buf, &v, 2);  // x86-64 and aarch64 Linux are little-endian; see static_assert
  dst->append(buf, 2);
}
inline void PutFixed32(std::string* dst, uint32_t v) {
  char buf[4];
  std::memcpy(buf, &v, 4);
  dst->append(buf, 4);
}
inline void PutFixed64(std::string* dst, uint64_t v) {
  char buf[8];
  std::memcpy(buf, &v, 8);
  dst->append(buf, 8);
}
inline void EncodeFixed16(char* dst, uint16_t v) { std::memcpy(dst, &v, 2); }
inline void EncodeFixed32(char* dst, uint32_t v) { std::memcpy(dst, &v, 4); }
inline void EncodeFixed64(char* dst, uint64_t v) { std::memcpy(dst, &v, 8); }
inline uint16_t DecodeFixed16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "meterd formats assume little-endian");

constexpr int kMaxVarint64Bytes = 10;

// Appends v as an LEB128 varint (1..10 bytes).
inline void PutVarint64(std::string* dst, uint64_t v) {
  char buf[kMaxVarint64Bytes];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  dst->append(buf, n);
}

// A varint64 length followed by the bytes (LevelDB's PutLengthPrefixedSlice).
inline void PutLengthPrefixed(std::string* dst, std::string_view s) {
  PutVarint64(dst, s.size());
  dst->append(s);
}
// Writes v at dst (which must have kMaxVarint64Bytes of room); returns the end.
inline char* EncodeVarint64(char* dst, uint64_t v) {
  while (v >= 0x80) {
    *dst++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *dst++ = static_cast<char>(v);
  return dst;
}
inline int VarintLength(uint64_t v) {
  int len = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++len;
  }
  return len;
}

// Zigzag maps signed to unsigned so that small magnitudes get small codes.
inline uint64_t ZigZagEncode(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t ZigZagDecode(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

// A bounds-checked cursor over a byte range. Every Get returns false on a short or malformed
// read (and leaves the cursor unchanged), so decoders can turn it into Status::Corruption.
class ByteReader {
 public:
  ByteReader(const char* data, size_t size) : p_(data), end_(data + size) {}
  explicit ByteReader(std::string_view s) : ByteReader(s.data(), s.size()) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const char* position() const { return p_; }
  bool empty() const { return p_ == end_; }

  bool GetFixed8(uint8_t* v) {
    if (remaining() < 1) return false;
    *v = static_cast<uint8_t>(*p_++);
    return true;
  }
  bool GetFixed16(uint16_t* v) {
    if (remaining() < 2) return false;
    *v = DecodeFixed16(p_);
    p_ += 2;
    return true;
  }
  bool GetFixed32(uint32_t* v) {
    if (remaining() < 4) return false;
    *v = DecodeFixed32(p_);
    p_ += 4;
    return true;
  }
  bool GetFixed64(uint64_t* v) {
    if (remaining() < 8) return false;
    *v = DecodeFixed64(p_);
    p_ += 8;
    return true;
  }
  bool GetVarint64(uint64_t* v) {
    uint64_t result = 0;
    const char* p = p_;
    for (int shift = 0; shift <= 63 && p < end_; shift += 7) {
      uint64_t byte = static_cast<uint8_t>(*p++);
      if (shift == 63 && byte > 1) return false;  // more than 64 bits
      result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        p_ = p;
        return true;
      }
    }
    return false;
  }
  bool GetBytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  // A varint64 length followed by that many bytes (see PutLengthPrefixed).
  bool GetLengthPrefixed(std::string* out) {
    uint64_t n;
    std::string_view v;
    if (!GetVarint64(&n) || !GetBytes(n, &v)) return false;
    out->assign(v);
    return true;
  }
  bool Skip(size_t n) {
    if (remaining() < n) return false;
    p_ += n;
    return true;
  }

 private:
  const char* p_;
  const char* end_;
};

}  // namespace meterd::base
