// meterd — net/http/http_internal.h
//
// Pieces the HTTP port's routes share (http_api.cc: the JSON routes; http_ingest.cc: the ingest
// routes): the per-connection session an API key opened, and the responder that collects the
// reply frames of one request handed to the binary protocol's Handler.
//
// Thread-safety: ApiConnection is used by one request at a time; CollectingResponder from any
// thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/http/http_server.h"
#include "net/protocol/messages.h"
#include "net/server/handler.h"

namespace meterd::net {

// The session a connection's API key opened (Handler::Authenticate), kept while the
// connection sends that key.
struct ApiConnection final : HttpConnectionState {
  std::string key;
  std::unique_ptr<SessionState> session;
  wire::Role role = wire::Role::None;
  std::string hypervisor;  // an agent key's
};

// Collects the reply frames of one request and hands them over once (Done or Fail). A
// responder dropped without either answers 500, so a connection is never left waiting.
class CollectingResponder final : public Responder {
 public:
  using Finish = std::function<void(std::vector<std::vector<uint8_t>> frames, bool too_large)>;
  CollectingResponder(size_t max_bytes, Finish finish)
      : max_bytes_(max_bytes), finish_(std::move(finish)) {}
  ~CollectingResponder() override {
    if (!done_) {
      frames_.clear();
      frames_.push_back(ErrorFrame(0, wire::ErrorCode::Internal, "the request was not answered"));
      finish_(std::move(frames_), false);
    }
  }
  void Send(std::vector<uint8_t> frame) override {
    std::lock_guard lock(mu_);
    if (done_) return;
    bytes_ += frame.size();
    if (bytes_ > max_bytes_) {
      too_large_ = true;
      frames_.clear();
      return;
    }
    if (!too_large_) frames_.push_back(std::move(frame));
  }
  void Done() override { Complete(); }
  void Fail(wire::ErrorCode code, std::string_view message) override {
    {
      std::lock_guard lock(mu_);
      if (done_) return;
      frames_.clear();
      frames_.push_back(ErrorFrame(0, code, message));
    }
    Complete();
  }

 private:
  void Complete() {
    std::vector<std::vector<uint8_t>> frames;
    bool too_large;
    {
      std::lock_guard lock(mu_);
      if (done_) return;
      done_ = true;
      frames = std::move(frames_);
      too_large = too_large_;
    }
    finish_(std::move(frames), too_large);
  }

  const size_t max_bytes_;
  std::mutex mu_;
  Finish finish_;
  std::vector<std::vector<uint8_t>> frames_;  // GUARDED_BY(mu_)
  size_t bytes_ = 0;                          // GUARDED_BY(mu_)
  bool too_large_ = false;                    // GUARDED_BY(mu_)
  bool done_ = false;                         // GUARDED_BY(mu_)
};

}  // namespace meterd::net
