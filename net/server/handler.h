// meterd — net/server/handler.h
//
// The seam between the transport (net/server: sockets, framing, flow control) and the domain
// (engine/: auth, registries, ingest, queries). The server verifies frames and drives
// sessions; a Handler decides what each request means.
//
// Thread-safety: Handler methods are called from the io threads, concurrently for different
// sessions (never concurrently for one session). A Responder may be used from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/protocol/frame.h"
#include "storage/base/result.h"

namespace meterd::net {

// Per-connection state owned by the handler (who the client is, lookup caches).
class SessionState {
 public:
  virtual ~SessionState() = default;
};

// How a request answers. Send queues a frame on the connection (dropped if it has closed);
// Done releases the request's flow-control slot and must be called exactly once. A request
// may Send several frames (a streamed export) before Done.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void Send(std::vector<uint8_t> frame) = 0;
  virtual void Done() = 0;
  // Sends an error frame and closes the connection after it is written (for failures that
  // leave the session unusable, such as a store that stopped accepting writes).
  virtual void Fail(wire::ErrorCode code, std::string_view message) = 0;
};
using ResponderPtr = std::shared_ptr<Responder>;

struct HelloResult {
  std::unique_ptr<SessionState> state;
  wire::Role role = wire::Role::None;
  std::string hypervisor;
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Checks a Hello's API key (Unauthenticated when it is not valid).
  virtual Result<HelloResult> Authenticate(std::string_view api_key, std::string_view client) = 0;
  // Handles one verified request frame of an authenticated session (anything but Hello and
  // Ping). `env` is valid only during the call; the handler copies what it keeps.
  virtual void Handle(SessionState* state, const wire::Envelope& env, ResponderPtr responder) = 0;
  virtual void SessionClosed(SessionState* state) {}
};

}  // namespace meterd::net
