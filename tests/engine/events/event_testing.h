// meterd — tests/engine/events/event_testing.h
//
// MakeEvent: an Event from its fields (designated initializers that leave fields out warn
// under gcc 12's -Wextra). Thread-safety: a pure function.
#pragma once

#include <string>

#include "engine/events/event_log.h"

namespace meterd::engine::events {

inline Event MakeEvent(std::string kind, std::string account = "", int64_t at = 0,
                       std::string payload = "") {
  Event e;
  e.kind = std::move(kind);
  e.account = std::move(account);
  e.at = at;
  e.payload = std::move(payload);
  return e;
}

}  // namespace meterd::engine::events
