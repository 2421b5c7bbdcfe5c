// meterd — tests/testing/temp_dir.h
//
// A temporary directory for one test, removed with everything in it when the object dies.
// Thread-safety: one owner.
#pragma once

#include <cstdlib>
#include <string>

#include "storage/io/file.h"

namespace meterd::testing {

class TempDir {
 public:
  TempDir() : TempDir(DefaultParent()) {}
  // Under `parent` (e.g. /dev/shm, where fdatasync costs nothing).
  explicit TempDir(const std::string& parent) {
    std::string tmpl = parent + "/meterd-test-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() { (void)storage::RemoveTree(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  static std::string DefaultParent() {
    const char* base = std::getenv("TMPDIR");
    return base ? base : "/tmp";
  }
  std::string path_;
};

}  // namespace meterd::testing
