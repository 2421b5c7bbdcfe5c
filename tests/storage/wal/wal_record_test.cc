// meterd — tests/storage/wal/wal_record_test.cc
//
// Framing: fragments never cross blocks, FramedSize agrees with AppendRecord, and ParseFragment
// accepts exactly what was framed (with the right file number).
#include "storage/wal/wal_record.h"

#include <gtest/gtest.h>

#include "storage/base/coding.h"
#include "storage/wal/wal_format.h"

namespace meterd::storage::wal {
namespace wal_record_test {

using namespace wal_format;  // NOLINT

TEST(WalRecordTest, FramedSizeMatchesAppendRecordAtEveryBlockPosition) {
  for (uint64_t offset : {uint64_t{0}, uint64_t{27}, kBlockSize - kHeaderSize,
                          kBlockSize - kHeaderSize + 1, kBlockSize - 1, 5 * kBlockSize + 3}) {
    for (size_t size : {size_t{0}, size_t{1}, kMaxFragmentPayload, kMaxFragmentPayload + 1,
                        3 * kBlockSize + 17}) {
      std::string out;
      const uint64_t end = AppendRecord(&out, offset, RecordSeed(1), std::string(size, 'a'));
      EXPECT_EQ(end - offset, out.size());
      EXPECT_EQ(FramedSize(offset, size), out.size()) << offset << " " << size;
    }
  }
}

TEST(WalRecordTest, FragmentsParseOnlyWithTheirFileNumber) {
  std::string out;
  AppendRecord(&out, 0, RecordSeed(3), "hello");
  ASSERT_EQ(out.size(), kHeaderSize + 5);
  EXPECT_EQ(static_cast<uint8_t>(out[kTypeOffset]), kFullKind);
  EXPECT_EQ(base::DecodeFixed16(out.data() + kLengthOffset), 5);
  Fragment f;
  ASSERT_EQ(ParseFragment(out.data(), out.size(), RecordSeed(3), &f), FragmentCheck::kOk);
  EXPECT_EQ(f.payload, "hello");
  EXPECT_EQ(f.size, out.size());
  EXPECT_EQ(ParseFragment(out.data(), out.size(), RecordSeed(4), &f), FragmentCheck::kBadChecksum);
  EXPECT_EQ(ParseFragment(out.data(), out.size() - 1, RecordSeed(3), &f),
            FragmentCheck::kBadLength);
  const std::string zeros(kHeaderSize, '\0');
  EXPECT_EQ(ParseFragment(zeros.data(), zeros.size(), RecordSeed(3), &f), FragmentCheck::kZero);
}

TEST(WalRecordTest, ShortBlockTailsAreZeroFilled) {
  std::string out;
  const uint64_t offset = kBlockSize - kHeaderSize + 1;  // 10 bytes left: no header fits
  AppendRecord(&out, offset, RecordSeed(1), "x");
  EXPECT_EQ(out.substr(0, kHeaderSize - 1), std::string(kHeaderSize - 1, '\0'));
  EXPECT_EQ(static_cast<uint8_t>(out[kHeaderSize - 1 + kTypeOffset]), kFullKind);
}

TEST(WalRecordTest, FileHeaderRoundTrip) {
  const std::string h = EncodeFileHeader(77);
  EXPECT_EQ(h.size(), kFileHeaderPayloadSize);
  EXPECT_EQ(h.substr(0, 6), "MTRWAL");
  EXPECT_TRUE(CheckFileHeader(h, 77).ok());
  EXPECT_TRUE(CheckFileHeader(h, 78).IsCorruption());
  std::string v2 = h;
  v2[kVersionOffset] = 2;
  EXPECT_EQ(CheckFileHeader(v2, 77).code(), Status::Code::kNotSupported);
}

}  // namespace wal_record_test
}  // namespace meterd::storage::wal
