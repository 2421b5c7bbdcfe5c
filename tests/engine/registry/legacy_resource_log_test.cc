// meterd — tests/engine/registry/legacy_resource_log_test.cc
#include "engine/registry/legacy_resource_log.h"

#include <gtest/gtest.h>

#include "engine/registry/record_log.h"
#include "storage/base/coding.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace legacy_resource_log_test {

// A version-1 resource record, byte for byte as docs/format-registry.md describes it.
std::string Record(const LegacyResource& r) {
  std::string rec(1, '\x01');
  for (const std::string* f :
       {&r.id, &r.type, &r.account, &r.project, &r.location, &r.plan, &r.owner}) {
    base::PutLengthPrefixed(&rec, *f);
  }
  return rec;
}

// A record log holding `records`, as an older meterd left it.
void WriteLog(const std::string& path, const std::vector<std::string>& records) {
  std::string damage;
  auto log = RecordLog::Open(
      path, [](std::string_view) { return Status::OK(); }, &damage);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(log.value()->Append(records).ok());
}

TEST(LegacyResourceLogTest, LastRecordOfAnIdWinsSortedById) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/resources.log";
  WriteLog(path, {Record({"vm-2", "vm", "a", "p", "l", "small", "hv-1"}),
                  Record({"vm-1", "vm", "a", "p", "l", "small", "hv-1"}),
                  Record({"vm-2", "vm", "a", "p", "l", "large", "hv-2"})});
  std::string damage;
  auto got = ReadLegacyResourceLog(path, &damage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(damage.empty());
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].id, "vm-1");
  EXPECT_EQ((*got)[1].id, "vm-2");
  EXPECT_EQ((*got)[1].plan, "large");
  EXPECT_EQ((*got)[1].owner, "hv-2");
}

TEST(LegacyResourceLogTest, AMalformedRecordIsSkippedAndReported) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/resources.log";
  WriteLog(path, {std::string("\x07garbage"), Record({"vm-1", "vm", "a", "p", "l", "s", "hv-1"})});
  std::string damage;
  auto got = ReadLegacyResourceLog(path, &damage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].id, "vm-1");
  EXPECT_NE(damage.find("record refused: Corruption: resources.log: malformed resource record"),
            std::string::npos)
      << damage;
}

}  // namespace legacy_resource_log_test
}  // namespace meterd::engine
