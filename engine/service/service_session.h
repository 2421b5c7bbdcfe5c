// meterd — engine/service/service_session.h
//
// MeterService::Session: what the service keeps per connection (the authenticated principal,
// the revocation counter it last checked, the ingest lookup cache). Shared by the service's
// files; created by Authenticate, owned by the server's session, touched only on its io thread.
#pragma once

#include "engine/auth/key_store.h"
#include "engine/ingest/ingest_pipeline.h"
#include "engine/service/meter_service.h"

namespace meterd::engine {

struct MeterService::Session final : net::SessionState {
  Principal who;
  uint64_t revocations_seen = 0;
  IngestSessionCache cache;
};

}  // namespace meterd::engine
