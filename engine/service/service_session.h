// meterd — engine/service/service_session.h
//
// MeterService::Session: what the service keeps per connection (the authenticated principal,
// the revocation counter it last checked, its ingest lane: the executor strand and lookup
// cache). Shared by the service's files; created by Authenticate, owned by the server's
// session, touched only on its io thread (the lane: only by the ingest task running on it).
#pragma once

#include "engine/auth/key_store.h"
#include "engine/ingest/ingest_pipeline.h"
#include "engine/service/meter_service.h"

namespace meterd::engine {

// What a connection's ingest work needs, shared with the tasks queued on the ingest executor
// (they may outlive the connection): touched only by the strand's one running task.
struct MeterService::IngestLane {
  explicit IngestLane(std::shared_ptr<IngestExecutor::Strand> s) : strand(std::move(s)) {}
  const std::shared_ptr<IngestExecutor::Strand> strand;
  Principal who;  // a copy of the session's, set at the Hello
  IngestSessionCache cache;
};

struct MeterService::Session final : net::SessionState {
  Principal who;
  uint64_t revocations_seen = 0;
  std::shared_ptr<IngestLane> ingest;
};

}  // namespace meterd::engine
