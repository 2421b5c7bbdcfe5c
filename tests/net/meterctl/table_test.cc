// meterd — tests/net/meterctl/table_test.cc: meterctl's tables line up by characters.
#include "net/meterctl/table.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>

namespace meterd::cli {
namespace table_test {

std::string Printed(const Table& t) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* out = open_memstream(&buf, &len);
  t.Print(Format::kTable, out);
  std::fclose(out);
  std::string s(buf, len);
  std::free(buf);
  return s;
}

// Columns a line's text takes (one per UTF-8 code point).
size_t Width(const std::string& line) {
  size_t n = 0;
  for (unsigned char c : line) n += (c & 0xC0) != 0x80;
  return n;
}

TEST(TableTest, MultiByteUnitsLineUpByCharacters) {
  Table t({"unit", "quantity"});
  t.SetNumeric(1);
  t.Add({"GiB·h", "1.5"});
  t.Add({"h", "10"});
  std::istringstream lines(Printed(t));
  std::string line;
  std::vector<size_t> widths;
  while (std::getline(lines, line)) widths.push_back(Width(line));
  ASSERT_EQ(widths.size(), 4u);
  for (size_t w : widths) EXPECT_EQ(w, widths[0]);  // header, rule and rows: one width
  EXPECT_NE(Printed(t).find("GiB·h       1.5"), std::string::npos) << Printed(t);
}

}  // namespace table_test
}  // namespace meterd::cli
