// meterd — net/protocol/frame.cc
#include "net/protocol/frame.h"

#include <cstring>

namespace meterd::net {
namespace {

// Whether vector `v` (absent is fine) starts at a multiple of its element's alignment from the
// start of the payload. FlatBuffers 2's verifier checks only that a vector's length field is
// 4-aligned, so a hostile frame can place a vector of 8-byte scalars at 4 mod 8 and every read
// of it is a misaligned load: undefined behaviour, and a crash wherever the compiler uses an
// aligned vector load (found by tests/fuzz/frame_fuzz; corpus/frame/regress-misaligned-u64).
template <typename T>
bool Aligned(const flatbuffers::Vector<T>* v, const uint8_t* payload) {
  return v == nullptr ||
         (reinterpret_cast<uintptr_t>(v->data()) - reinterpret_cast<uintptr_t>(payload)) %
                 alignof(T) ==
             0;
}

// Every vector of 8-byte scalars in the schema (net/schema/meterd.fbs) is checked here.
bool EightByteVectorsAligned(const wire::Envelope& env, const uint8_t* payload) {
  switch (env.message_type()) {
    case wire::Message::IngestBatch: {
      const auto* m = env.message_as_IngestBatch();
      return Aligned(m->series(), payload) && Aligned(m->values(), payload);
    }
    case wire::Message::ExportChunk: {
      const auto* m = env.message_as_ExportChunk();
      if (m->series()) {
        for (const wire::ExportSeries* s : *m->series()) {
          if (!Aligned(s->timestamps(), payload) || !Aligned(s->values(), payload)) return false;
        }
      }
      return true;
    }
    case wire::Message::UsageChunk: {
      const auto* m = env.message_as_UsageChunk();
      if (m->lines()) {
        for (const wire::UsageLine* l : *m->lines()) {
          if (!Aligned(l->state_seconds(), payload)) return false;
        }
      }
      return true;
    }
    default:
      return true;
  }
}

}  // namespace

Status VerifyFrame(std::span<const uint8_t> payload, uint32_t max_frame_bytes,
                   const wire::Envelope** envelope) {
  if (payload.size() < kMinFrameBytes) {
    return Status::Corruption("frame of " + std::to_string(payload.size()) +
                              " bytes is too short to hold an envelope");
  }
  if (!flatbuffers::BufferHasIdentifier(payload.data(), wire::EnvelopeIdentifier())) {
    return Status::Corruption("frame does not carry the MTR1 identifier (wrong protocol version?)");
  }
  // Depth 16 and 1M tables bound the verifier's own work on a hostile frame.
  flatbuffers::Verifier verifier(payload.data(), payload.size(), /*max_depth=*/16,
                                 /*max_tables=*/1000000);
  if (!wire::VerifyEnvelopeBuffer(verifier)) {
    return Status::Corruption("frame failed FlatBuffers verification");
  }
  const wire::Envelope* env = wire::GetEnvelope(payload.data());
  if (env->message_type() == wire::Message::NONE || env->message() == nullptr) {
    return Status::Corruption("frame carries no message");
  }
  if (!EightByteVectorsAligned(*env, payload.data())) {
    return Status::Corruption("frame holds a misaligned vector of 64-bit values");
  }
  (void)max_frame_bytes;
  *envelope = env;
  return Status::OK();
}

void FrameDecoder::Append(std::span<const uint8_t> bytes) {
  auto tail = WritableTail(bytes.size());
  std::memcpy(tail.data(), bytes.data(), bytes.size());
  Commit(bytes.size());
}

std::span<uint8_t> FrameDecoder::WritableTail(size_t min_bytes) {
  if (buf_.size() < kStart) buf_.resize(kStart);
  if (buf_.size() - end_ < min_bytes) {
    Compact();
    if (buf_.size() - end_ < min_bytes) buf_.resize(end_ + min_bytes);
  }
  return std::span<uint8_t>(buf_.data() + end_, buf_.size() - end_);
}

void FrameDecoder::Compact() {
  if (begin_ == kStart) return;
  if (buf_.size() < kStart) buf_.resize(kStart);
  std::memmove(buf_.data() + kStart, buf_.data() + begin_, end_ - begin_);
  end_ = kStart + (end_ - begin_);
  begin_ = kStart;
}

bool FrameDecoder::Next(const wire::Envelope** envelope, std::span<const uint8_t>* payload) {
  if (!status_.ok()) return false;
  if (end_ - begin_ < kFrameHeaderBytes) return false;
  uint32_t len;
  std::memcpy(&len, buf_.data() + begin_, 4);  // little-endian hosts only (x86-64, arm64)
  if (len > max_frame_bytes_) {
    status_ = Status::OutOfRange("frame of " + std::to_string(len) + " bytes exceeds the " +
                                 std::to_string(max_frame_bytes_) + "-byte maximum");
    return false;
  }
  if (end_ - begin_ < kFrameHeaderBytes + len) {
    // Make room for the rest of this frame up front so the reader can fill it in one go.
    if (buf_.size() - begin_ < kFrameHeaderBytes + len) {
      Compact();
      if (buf_.size() < kStart + kFrameHeaderBytes + len) {
        buf_.resize(kStart + kFrameHeaderBytes + len);
      }
    }
    return false;
  }
  std::span<const uint8_t> body(buf_.data() + begin_ + kFrameHeaderBytes, len);
  // FlatBuffers reads scalars in place, so a payload must be 8-aligned (see kStart).
  // (An empty payload is refused by VerifyFrame; memcpy must not see a null destination.)
  if (len > 0 && reinterpret_cast<uintptr_t>(body.data()) % 8 != 0) {
    aligned_.resize((len + 7) / 8);
    std::memcpy(aligned_.data(), body.data(), len);
    body = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(aligned_.data()), len);
  }
  Status s = VerifyFrame(body, max_frame_bytes_, envelope);
  begin_ += kFrameHeaderBytes + len;
  ++frames_;
  if (!s.ok()) {
    status_ = std::move(s);
    return false;
  }
  if (payload) *payload = body;
  if (begin_ == end_) begin_ = end_ = kStart;
  return true;
}

std::vector<uint8_t> EncodeFrame(const flatbuffers::FlatBufferBuilder& fbb) {
  const uint32_t len = fbb.GetSize();
  std::vector<uint8_t> out(kFrameHeaderBytes + len);
  std::memcpy(out.data(), &len, 4);
  std::memcpy(out.data() + 4, fbb.GetBufferPointer(), len);
  return out;
}

}  // namespace meterd::net
