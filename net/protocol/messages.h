// meterd — net/protocol/messages.h
//
// Small helpers shared by the server and the client: building a frame around one message,
// translating between Status and wire error codes, and reading optional strings.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "net/protocol/frame.h"
#include "storage/base/status.h"

namespace meterd::net {

// Finishes `fbb` with an envelope holding `message` and returns the whole frame.
template <typename T>
std::vector<uint8_t> FinishFrame(flatbuffers::FlatBufferBuilder& fbb, flatbuffers::Offset<T> msg) {
  auto env = wire::CreateEnvelope(fbb, wire::MessageTraits<T>::enum_value, msg.Union());
  wire::FinishEnvelopeBuffer(fbb, env);
  return EncodeFrame(fbb);
}

std::vector<uint8_t> ErrorFrame(uint64_t request_id, wire::ErrorCode code,
                                std::string_view message);
std::vector<uint8_t> OkFrame(uint64_t request_id);

wire::ErrorCode ToWireCode(const Status& status);
Status FromWire(wire::ErrorCode code, std::string_view message);

inline std::string_view View(const flatbuffers::String* s) {
  return s ? std::string_view(s->data(), s->size()) : std::string_view();
}

// A peer-chosen string fit for a key=value log line: printable ASCII without quotes or
// backslashes, at most 64 bytes, so a hostile client cannot forge log lines.
std::string LogSafe(std::string_view s);

// The request id of a request message, 0 for messages that carry none.
uint64_t RequestIdOf(const wire::Envelope& env);

}  // namespace meterd::net
