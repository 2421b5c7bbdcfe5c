// meterd — storage/wal/wal_files.cc
//
// WAL file naming: <dir>/<16-digit zero-padded decimal number>.wal (docs/format-wal.md).
#include <algorithm>
#include <cstdio>

#include "storage/wal.h"
#include "storage/wal/wal_format.h"

namespace meterd::storage {
namespace {

// True (and *number set) for names of exactly 16 decimal digits followed by ".wal".
bool ParseWalFileName(const std::string& name, uint64_t* number) {
  const size_t suffix_len = sizeof(wal_format::kFileSuffix) - 1;
  if (name.size() != wal_format::kFileNumberDigits + suffix_len) return false;
  if (name.compare(wal_format::kFileNumberDigits, suffix_len, wal_format::kFileSuffix) != 0) {
    return false;
  }
  uint64_t n = 0;
  for (int i = 0; i < wal_format::kFileNumberDigits; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');  // 16 digits < 2^64: no overflow
  }
  *number = n;
  return true;
}

}  // namespace

std::string WalFileName(const std::string& dir, uint64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%0*llu", wal_format::kFileNumberDigits,
                static_cast<unsigned long long>(number));
  return dir + "/" + buf + wal_format::kFileSuffix;
}

Result<std::vector<uint64_t>> ListWalFiles(const std::string& dir, Env* env) {
  METERD_ASSIGN_OR_RETURN(auto names, env->ListDir(dir));
  std::vector<uint64_t> numbers;
  for (const std::string& name : names) {
    uint64_t n;
    if (ParseWalFileName(name, &n)) numbers.push_back(n);
  }
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

}  // namespace meterd::storage
