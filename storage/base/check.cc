// meterd — storage/base/check.cc
#include "storage/base/check.h"

#include <cstdio>
#include <cstdlib>

namespace meterd::base {

void CheckFailed(const char* file, int line, const char* cond, const char* msg) {
  std::fprintf(stderr, "BUG: %s:%d: check failed: %s: %s\n", file, line, cond, msg);
  std::fflush(stderr);
  std::abort();
}

}  // namespace meterd::base
