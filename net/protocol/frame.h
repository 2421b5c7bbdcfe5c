// meterd — net/protocol/frame.h
//
// Framing of the wire protocol (docs/protocol.md): every frame is a u32 little-endian payload
// length followed by that many bytes holding one FlatBuffer whose root is a wire::Envelope with
// file identifier "MTR1". FrameDecoder turns a byte stream into verified envelopes; EncodeFrame
// and the builders in messages.h go the other way.
//
// A frame is used only after the FlatBuffers verifier has accepted it (bounded depth and table
// count), so a malformed or hostile frame can never be read out of bounds.
//
// Thread-safety: FrameDecoder is not synchronised (one per connection).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "net/schema/meterd_generated.h"
#include "storage/base/status.h"

namespace meterd::net {

constexpr uint16_t kProtocolVersion = 1;
constexpr size_t kFrameHeaderBytes = 4;
// Default and hard ceiling of a frame's payload. 16 MiB holds a batch of ~800,000 samples.
constexpr uint32_t kDefaultMaxFrameBytes = 16u << 20;
constexpr uint32_t kMinFrameBytes = 8;  // root offset + file identifier
// Largest frame before the Hello handshake succeeds: an unauthenticated peer cannot make the
// server reserve a large buffer by announcing a large frame.
constexpr uint32_t kMaxHelloFrameBytes = 64u << 10;

// Verifies one frame payload (without its length prefix) and returns its envelope, or
// Corruption with the reason.
Status VerifyFrame(std::span<const uint8_t> payload, uint32_t max_frame_bytes,
                   const wire::Envelope** envelope);

// Splits a byte stream into frames. Feed it bytes as they arrive (Append, or write straight
// into WritableTail and Commit), then call Next until it returns false.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_frame_bytes = kDefaultMaxFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}

  // Frames above this are refused from now on (a server lowers it until the handshake is done).
  void set_max_frame_bytes(uint32_t max_frame_bytes) { max_frame_bytes_ = max_frame_bytes; }
  void Append(std::span<const uint8_t> bytes);
  // At least `min_bytes` writable bytes at the end of the buffer; Commit(n) after writing n.
  std::span<uint8_t> WritableTail(size_t min_bytes);
  void Commit(size_t n) { end_ += n; }

  // True with *envelope set when a whole verified frame is available; its memory stays valid
  // until the next call to Next, Append or WritableTail. False when more bytes are needed, or
  // on error: then status() is not OK and the stream cannot continue (close the connection).
  bool Next(const wire::Envelope** envelope, std::span<const uint8_t>* payload = nullptr);
  const Status& status() const { return status_; }
  size_t buffered_bytes() const { return end_ - begin_; }
  // True when a frame has begun to arrive but is not whole yet.
  bool InsideFrame() const {
    if (end_ == begin_) return false;
    if (end_ - begin_ < kFrameHeaderBytes) return true;
    uint32_t len;
    std::memcpy(&len, buf_.data() + begin_, 4);
    return end_ - begin_ < kFrameHeaderBytes + len;
  }
  // Frees the buffer when nothing is buffered (idle connections then hold no read memory).
  void ReleaseIfEmpty() {
    if (begin_ != end_) return;
    std::vector<uint8_t>().swap(buf_);  // (assigning {} would keep the capacity)
    std::vector<uint64_t>().swap(aligned_);
    begin_ = end_ = kStart;
  }
  size_t capacity() const { return buf_.capacity() + aligned_.capacity() * 8; }
  uint64_t frames() const { return frames_; }

 private:
  void Compact();

  // A frame's payload follows its 4-byte header, so the stream starts at offset 4 of an
  // 8-aligned buffer: the payload of every frame whose predecessors' sizes are multiples of 8
  // (all that FlatBufferBuilder produces) is 8-aligned and read in place. Others are copied.
  static constexpr size_t kStart = 4;
  uint32_t max_frame_bytes_;
  std::vector<uint8_t> buf_;
  std::vector<uint64_t> aligned_;  // copy of a misaligned payload
  size_t begin_ = kStart;          // first unconsumed byte
  size_t end_ = kStart;            // one past the last received byte
  Status status_;
  uint64_t frames_ = 0;
};

// The whole frame (length prefix + payload) of a finished builder.
std::vector<uint8_t> EncodeFrame(const flatbuffers::FlatBufferBuilder& fbb);

}  // namespace meterd::net
