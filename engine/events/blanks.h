// meterd — engine/events/blanks.h
//
// The one trim the header and address parsers of this module share: spaces and tabs (the
// blanks RFC 5322 and HTTP allow around a value), not line breaks, which they treat as errors.
//
// Thread-safety: a pure function.
#pragma once

#include <string_view>

namespace meterd::engine::events {

inline std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace meterd::engine::events
