// meterd — tests/engine/invoicing/pdf_tools.h
//
// Runs poppler-utils (pdftotext, pdftoppm, pdfinfo; Debian poppler-utils, installed by
// .ci/install-deps.sh) on a PDF written to a temporary directory. Tests skip when the tools are
// missing, as the HTTP tests do without curl.
// Thread-safety: one test at a time.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <string>

#include "tests/testing/temp_dir.h"

namespace meterd::testing {

inline bool HavePoppler() {
  return std::system(
             "command -v pdftotext >/dev/null 2>&1 && command -v pdftoppm >/dev/null "
             "2>&1 && command -v pdfinfo >/dev/null 2>&1") == 0;
}

// The output (stdout; stderr too when `with_stderr`) and exit status of a shell command.
struct Ran {
  std::string out;
  int status = -1;
};
inline Ran Run(const std::string& command, bool with_stderr = false) {
  Ran r;
  FILE* p = ::popen((command + (with_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
  if (!p) return r;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  r.status = ::pclose(p);
  return r;
}

// A PDF in a temporary directory, and poppler's view of it.
class PdfFile {
 public:
  explicit PdfFile(const std::string& bytes) : path_(dir_.path() + "/invoice.pdf") {
    std::ofstream(path_, std::ios::binary) << bytes;
  }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_.path(); }
  // pdftotext -layout, to stdout.
  std::string Text() const { return Run("pdftotext -layout '" + path_ + "' -").out; }
  // pdftotext -layout with every run of spaces made one space (columns to single gaps).
  std::string Words() const { return std::regex_replace(Text(), std::regex(" +"), " "); }
  int Pages() const {
    const std::string info = Run("pdfinfo '" + path_ + "'").out;
    std::smatch m;
    if (!std::regex_search(info, m, std::regex("Pages: +([0-9]+)"))) return -1;
    return std::stoi(m[1]);
  }

 private:
  TempDir dir_;
  std::string path_;
};

}  // namespace meterd::testing
