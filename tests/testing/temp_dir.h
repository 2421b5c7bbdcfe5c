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
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/meterd-test-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() { (void)storage::RemoveTree(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace meterd::testing
