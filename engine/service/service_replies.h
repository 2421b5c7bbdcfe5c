// meterd — engine/service/service_replies.h
//
// Reply helpers shared by the service's files: one frame and done, an Error frame, and the
// Refusal list of a batch request (index and reason of the first refused items).
//
// Thread-safety: free functions; a responder may be used from any thread (net/server).
#pragma once

#include <vector>

#include "net/protocol/messages.h"
#include "net/server/handler.h"

namespace meterd::engine {

inline void Reply(const net::ResponderPtr& r, std::vector<uint8_t> frame) {
  r->Send(std::move(frame));
  r->Done();
}

inline void ReplyError(const net::ResponderPtr& r, uint64_t request_id, const Status& status) {
  Reply(r, net::ErrorFrame(request_id, net::ToWireCode(status), status.message()));
}

template <typename Pair>
flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::Refusal>>> Refusals(
    flatbuffers::FlatBufferBuilder& fbb, const std::vector<Pair>& list) {
  std::vector<flatbuffers::Offset<wire::Refusal>> out;
  for (const auto& [index, status] : list) {
    out.push_back(wire::CreateRefusal(fbb, index, net::ToWireCode(status),
                                      fbb.CreateString(status.message())));
  }
  return fbb.CreateVector(out);
}

}  // namespace meterd::engine
