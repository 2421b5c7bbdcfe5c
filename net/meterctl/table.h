// meterd — net/meterctl/table.h: rows printed as an aligned table, CSV or JSON (--format).
//
// Thread-safety: not synchronised.
#pragma once

#include <cstdio>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace meterd::cli {

enum class Format { kTable, kCsv, kJson };

class Table {
 public:
  explicit Table(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  // Numeric columns are right-aligned in tables and unquoted in JSON.
  void SetNumeric(size_t column) {
    if (numeric_.size() <= column) numeric_.resize(column + 1);
    numeric_[column] = true;
  }
  void Print(Format format, FILE* out = stdout) const;
  // The rows as a JSON array of objects (what Print prints for Format::kJson), for a command
  // whose one JSON document holds several tables.
  nlohmann::json Json() const;

 private:
  bool numeric(size_t c) const { return c < numeric_.size() && numeric_[c]; }
  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> numeric_;
};

}  // namespace meterd::cli
