// meterd — tests/fuzz/fuzz_support.cc
#include "tests/fuzz/fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace meterd::fuzz {
namespace {

std::string MakeScratchDir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string base = "/dev/shm";
  if (!fs::is_directory(base, ec) || access(base.c_str(), W_OK) != 0) {
    const char* tmp = std::getenv("TMPDIR");
    base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  const std::string dir = base + "/meterd-fuzz-" + std::to_string(getpid());
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "fuzz: cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    std::abort();
  }
  return dir;
}

struct ScratchHolder {
  std::string dir = MakeScratchDir();
  ~ScratchHolder() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

const std::string& ScratchDir() {
  static ScratchHolder holder;
  return holder.dir;
}

std::string FreshScratchDir(const std::string& name) {
  namespace fs = std::filesystem;
  const std::string dir = ScratchDir() + "/" + name;
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "fuzz: cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    std::abort();
  }
  return dir;
}

void WriteScratchFile(const std::string& path, std::string_view data) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(data.data(), 1, data.size(), f) != data.size() ||
      std::fclose(f) != 0) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

}  // namespace meterd::fuzz
