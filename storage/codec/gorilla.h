// meterd — storage/codec/gorilla.h
//
// One step of Gorilla XOR compression (Pelkonen et al., VLDB 2015), shared by the head's
// streaming float chunks and the segment float column (docs/format-segment-columns.md):
//   '0'                          the value repeats
//   '1','0' + meaningful bits    the XOR fits the previous window
//   '1','1' + 6 bits leading zeros + 6 bits (length - 1) + meaningful bits   a new window
// Thread-safety: pure functions over caller-owned state.
#pragma once

#include <bit>
#include <cstdint>

#include "storage/codec/bit_stream.h"

namespace meterd::storage::codec {

struct GorillaWindow {
  int8_t leading = -1;  // -1: no window yet
  int8_t trailing = 0;
};

inline void GorillaAppend(BitWriter* w, uint64_t prev, uint64_t cur, GorillaWindow* win) {
  const uint64_t x = cur ^ prev;
  if (x == 0) {
    w->Write(0, 1);
    return;
  }
  const int leading = std::countl_zero(x), trailing = std::countr_zero(x);
  if (win->leading >= 0 && leading >= win->leading && trailing >= win->trailing) {
    w->Write(0b01, 2);
    w->Write(x >> win->trailing, 64 - win->leading - win->trailing);
    return;
  }
  const int len = 64 - leading - trailing;
  w->Write(0b11 | (static_cast<uint64_t>(leading) << 2) | (static_cast<uint64_t>(len - 1) << 8),
           14);
  w->Write(x >> trailing, len);
  win->leading = static_cast<int8_t>(leading);
  win->trailing = static_cast<int8_t>(trailing);
}

// Reads the value following `prev`. Returns false if the stream is short or malformed.
inline bool GorillaRead(BitReader* r, uint64_t prev, GorillaWindow* win, uint64_t* out) {
  if (r->remaining() < 1) return false;
  if (r->Read(1) == 0) {
    *out = prev;
    return true;
  }
  if (r->remaining() < 1) return false;
  if (r->Read(1) == 0) {
    if (win->leading < 0) return false;
    const int len = 64 - win->leading - win->trailing;
    if (r->remaining() < static_cast<uint64_t>(len)) return false;
    *out = prev ^ (r->Read(len) << win->trailing);
    return true;
  }
  if (r->remaining() < 12) return false;
  const int leading = static_cast<int>(r->Read(6));
  const int len = static_cast<int>(r->Read(6)) + 1;
  if (leading + len > 64 || r->remaining() < static_cast<uint64_t>(len)) return false;
  win->leading = static_cast<int8_t>(leading);
  win->trailing = static_cast<int8_t>(64 - leading - len);
  *out = prev ^ (r->Read(len) << win->trailing);
  return true;
}

}  // namespace meterd::storage::codec
