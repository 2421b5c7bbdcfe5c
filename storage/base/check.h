// meterd — storage/base/check.h
//
// METERD_CHECK(cond, msg): always on; aborts with file, line and message when cond is false.
// For bugs only (VictoriaMetrics' "BUG:"), never for bad input or corruption, which return a
// Status. METERD_DCHECK runs in debug builds only.
#pragma once

namespace meterd::base {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond, const char* msg);
}  // namespace meterd::base

#define METERD_CHECK(cond, msg)                                      \
  do {                                                               \
    if (__builtin_expect(!(cond), 0))                                \
      ::meterd::base::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)

#ifdef NDEBUG
#define METERD_DCHECK(cond, msg) \
  do {                           \
  } while (0)
#else
#define METERD_DCHECK(cond, msg) METERD_CHECK(cond, msg)
#endif
