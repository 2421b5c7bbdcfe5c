// meterd — tests/storage/base/status_test.cc
#include "storage/base/status.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "storage/base/checksum.h"
#include "storage/base/result.h"

namespace meterd {
namespace status_test {

Result<int> Half(int v) {
  if (v % 2) return Status::InvalidArgument("odd");
  return v / 2;
}

Status UseHalf(int v, int* out) {
  METERD_ASSIGN_OR_RETURN(*out, Half(v));
  return Status::OK();
}

TEST(StatusTest, CodesMessagesAndContext) {
  EXPECT_TRUE(Status::OK().ok());
  Status s = Status::Corruption("block 7");
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.ToString(), "Corruption: block 7");
  EXPECT_EQ(s.WithContext("segment a.seg").ToString(), "Corruption: segment a.seg: block 7");
  Status copy = s;
  EXPECT_EQ(copy.ToString(), s.ToString());
  Status nospace = Status::FromErrno("write x", ENOSPC);
  EXPECT_TRUE(nospace.IsIOError());
  EXPECT_TRUE(nospace.IsNoSpace());
}

TEST(StatusTest, ResultAndMacros) {
  int out = 0;
  EXPECT_TRUE(UseHalf(8, &out).ok());
  EXPECT_EQ(out, 4);
  Status st = UseHalf(7, &out);
  EXPECT_TRUE(st.IsInvalidArgument());
}

TEST(ChecksumTest, SeedAndStreamingAgree) {
  const std::string data = "meterd block payload";
  EXPECT_NE(base::Checksum64(data, 1), base::Checksum64(data, 2));
  base::Checksummer c(9);
  c.Update(data.data(), 6);
  c.Update(data.data() + 6, data.size() - 6);
  EXPECT_EQ(c.Digest(), base::Checksum64(data, 9));
  EXPECT_NE(base::ContextSeed(1, 0), base::ContextSeed(1, 4096));
  EXPECT_NE(base::ContextSeed(1, 0), base::ContextSeed(2, 0));
}

}  // namespace status_test
}  // namespace meterd
