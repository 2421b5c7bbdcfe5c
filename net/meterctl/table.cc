// meterd — net/meterctl/table.cc
#include "net/meterctl/table.h"

#include <nlohmann/json.hpp>

#include "net/meterctl/csv_time.h"

namespace meterd::cli {
namespace {

// Columns a UTF-8 string takes on a terminal: one per code point (every byte that is not a
// continuation byte), so "GiB·h" is five wide, not six. East Asian wide characters are not in
// our output.
size_t DisplayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

nlohmann::json Table::Json() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& row : rows_) {
    nlohmann::json obj = nlohmann::json::object();
    for (size_t c = 0; c < row.size() && c < columns_.size(); ++c) {
      if (numeric(c) && !row[c].empty()) {
        obj[columns_[c]] = nlohmann::json::parse(row[c], nullptr, false);
        if (obj[columns_[c]].is_discarded()) obj[columns_[c]] = row[c];
      } else {
        obj[columns_[c]] = row[c];
      }
    }
    arr.push_back(std::move(obj));
  }
  return arr;
}

void Table::Print(Format format, FILE* out) const {
  switch (format) {
    case Format::kCsv: {
      for (size_t c = 0; c < columns_.size(); ++c) {
        std::fprintf(out, "%s%s", c ? "," : "", CsvField(columns_[c]).c_str());
      }
      std::fputc('\n', out);
      for (const auto& row : rows_) {
        for (size_t c = 0; c < row.size(); ++c) {
          std::fprintf(out, "%s%s", c ? "," : "", CsvField(row[c]).c_str());
        }
        std::fputc('\n', out);
      }
      return;
    }
    case Format::kJson:
      std::fprintf(out, "%s\n", Json().dump(2).c_str());
      return;
    case Format::kTable: {
      std::vector<size_t> width(columns_.size());
      for (size_t c = 0; c < columns_.size(); ++c) width[c] = DisplayWidth(columns_[c]);
      for (const auto& row : rows_) {
        for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
          width[c] = std::max(width[c], DisplayWidth(row[c]));
        }
      }
      auto line = [&](const std::vector<std::string>& row) {
        std::string s;
        for (size_t c = 0; c < width.size(); ++c) {
          const std::string& v = c < row.size() ? row[c] : std::string();
          const std::string pad(width[c] - std::min(width[c], DisplayWidth(v)), ' ');
          if (c) s += "  ";
          s += numeric(c) ? pad + v : v + (c + 1 < width.size() ? pad : "");
        }
        std::fprintf(out, "%s\n", s.c_str());
      };
      line(columns_);
      std::vector<std::string> rule;
      for (size_t w : width) rule.push_back(std::string(w, '-'));
      line(rule);
      for (const auto& row : rows_) line(row);
      return;
    }
  }
}

}  // namespace meterd::cli
