// meterd — tests/net/meterctl/backfill_reader_test.cc: `meterctl backfill` reads its file in
// bounded batches (issue 18: it used to hold the whole file, 808 MB for 5.76 M rows), and a
// backfill hour without a time zone is refused as such.
#include "net/meterctl/backfill_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>
#include <tuple>

#include <sstream>
#include <streambuf>

#include "engine/catalog.h"
#include "net/meterctl/compressed_input.h"
#include "net/meterctl/csv_rows.h"
#include "net/meterctl/csv_time.h"

namespace meterd::cli {
namespace backfill_reader_test {

const MetricTypes& Types() {
  static const MetricTypes types = [] {
    MetricTypes t;
    for (const engine::MetricDef& d : engine::MetricCatalog::Builtins()) {
      t[d.name] =
          d.type == storage::ValueType::kFloat ? wire::ValueType::Float : wire::ValueType::Int;
    }
    return t;
  }();
  return types;
}

std::string RowText(uint64_t i) {
  return "vm-" + std::to_string(i % 1000) + ",vm.state:running," +
         std::to_string(1767225600 + static_cast<int64_t>(i / 1000) * 3600) + ",3600\n";
}

// A backfill file of `rows` rows made up as it is read, which counts the bytes handed out: what
// the reader has pulled from the file at any moment.
class GeneratedFile : public std::streambuf {
 public:
  explicit GeneratedFile(uint64_t rows) : rows_(rows) { Fill("resource,metric,hour,value\n"); }
  uint64_t handed_out() const { return handed_out_; }

 protected:
  int_type underflow() override {
    if (next_ >= rows_) return traits_type::eof();
    Fill(RowText(next_++));
    return traits_type::to_int_type(*gptr());
  }

 private:
  void Fill(std::string text) {
    buf_ = std::move(text);
    handed_out_ += buf_.size();
    setg(buf_.data(), buf_.data(), buf_.data() + buf_.size());
  }
  const uint64_t rows_;
  uint64_t next_ = 0;
  uint64_t handed_out_ = 0;
  std::string buf_;
};

TEST(BackfillReaderTest, HoldsAtMostOneBatchWhateverTheFileSize) {
  constexpr uint64_t kRows = 200000;
  constexpr size_t kBatch = 512;
  GeneratedFile file(kRows);
  std::istream in(&file);
  BackfillReader reader(&in, &Types(), kBatch);
  ASSERT_TRUE(reader.ReadHeader().ok());
  std::vector<BackfillLine> batch;
  uint64_t seen = 0, batches = 0, refused = 0;
  const uint64_t row_bytes = RowText(0).size() + 8;  // longest row text, generously
  while (reader.Next(&batch, [&](uint64_t, const std::string&) { ++refused; })) {
    ++batches;
    ASSERT_LE(batch.size(), kBatch);
    // The rows parsed so far and at most one more line: the reader never reads ahead.
    ASSERT_LE(file.handed_out(), (seen + batch.size() + 2) * row_bytes);
    EXPECT_EQ(batch.front().line, seen + 2);  // line 1 is the header
    EXPECT_EQ(batch.front().row.resource, "vm-" + std::to_string(seen % 1000));
    seen += batch.size();
  }
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(seen, kRows);
  EXPECT_EQ(refused, 0u);
  EXPECT_EQ(batches, (kRows + kBatch - 1) / kBatch);
  EXPECT_EQ(reader.rows(), kRows);
  EXPECT_EQ(reader.largest_batch(), kBatch);
  EXPECT_EQ(reader.bytes_read(), file.handed_out());
}

TEST(BackfillReaderTest, RefusedAndBlankLinesTakeNoRoomAndKeepTheirNumbers) {
  std::istringstream in(
      "resource,metric,hour,value\n"
      "vm-1,vm.state:running,1767225600,3600\n"           // line 2
      "\n"                                                // line 3: blank, skipped
      "vm-1,vm.state:running,2026-11-01 00:00:00,3600\n"  // line 4: no time zone
      "vm-1,no.such,1767225600,1\n"                       // line 5
      "vm-2,vm.state:running,1767225600,3600\r\n"         // line 6
      "vm-3,vm.state:running,1767225600,3600\n");         // line 7
  BackfillReader reader(&in, &Types(), 2);
  ASSERT_TRUE(reader.ReadHeader().ok());
  std::vector<std::pair<uint64_t, std::string>> refusals;
  auto refused = [&](uint64_t line, const std::string& why) { refusals.emplace_back(line, why); };
  std::vector<BackfillLine> batch;
  ASSERT_TRUE(reader.Next(&batch, refused));
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].line, 2u);
  EXPECT_EQ(batch[1].line, 6u);
  EXPECT_EQ(batch[1].row.resource, "vm-2");
  ASSERT_TRUE(reader.Next(&batch, refused));
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].line, 7u);
  EXPECT_FALSE(reader.Next(&batch, refused));
  EXPECT_TRUE(batch.empty());
  ASSERT_EQ(refusals.size(), 2u);
  EXPECT_EQ(refusals[0].first, 4u);
  EXPECT_NE(refusals[0].second.find("no time zone"), std::string::npos) << refusals[0].second;
  EXPECT_EQ(refusals[1].first, 5u);
  EXPECT_EQ(reader.rows(), 5u);  // the blank line is not a row
}

TEST(BackfillReaderTest, AFileWithoutTheHeaderIsRefused) {
  std::istringstream in("vm-1,vm.state:running,1767225600,3600\n");
  BackfillReader reader(&in, &Types(), 16);
  Status s = reader.ReadHeader();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
}

// The issue's `2026-11-01 00:00:00` was refused as "not a whole hour".
TEST(BackfillCsvRowTest, AnHourWithoutATimeZoneIsRefusedAsSuch) {
  BackfillCsvRow row;
  std::string why;
  EXPECT_FALSE(
      ParseBackfillCsvRow("vm-1,vm.state:running,2026-11-01 00:00:00,3600", Types(), &row, &why));
  EXPECT_EQ(why,
            "hour \"2026-11-01 00:00:00\" has no time zone: write \"2026-11-01T00:00:00Z\" for "
            "UTC, or give its offset (\"+01:00\")");
  EXPECT_FALSE(
      ParseBackfillCsvRow("vm-1,vm.state:running,2026-11-01T00:00:00,3600", Types(), &row, &why));
  EXPECT_NE(why.find("has no time zone"), std::string::npos) << why;
  // With a zone it is a whole hour; a zone does not excuse a time inside an hour.
  EXPECT_TRUE(
      ParseBackfillCsvRow("vm-1,vm.state:running,2026-11-01 00:00:00Z,3600", Types(), &row, &why))
      << why;
  EXPECT_EQ(row.hour, 1793491200);
  EXPECT_FALSE(ParseBackfillCsvRow("vm-1,vm.state:running,2026-11-01T00:30:00+01:00,3600", Types(),
                                   &row, &why));
  EXPECT_NE(why.find("is not a whole hour"), std::string::npos) << why;
  EXPECT_FALSE(
      ParseBackfillCsvRow("vm-1,vm.state:running,1 November 2026,3600", Types(), &row, &why));
  EXPECT_EQ(why, "hour \"1 November 2026\" is neither unix seconds nor RFC 3339");
}

// The row parser splits unquoted lines without SplitCsvLine (views into the line): the same
// fields, counts and refusals as the quoted path, a CR line end dropped, and a reused row's
// strings overwritten whole.
TEST(BackfillCsvRowTest, UnquotedAndQuotedLinesSplitAlike) {
  BackfillCsvRow row;
  std::string why;
  ASSERT_TRUE(
      ParseBackfillCsvRow("a-long-resource-name-0001,vm.vcpus,1793491200,4\r", Types(), &row, &why))
      << why;
  EXPECT_EQ(row.resource, "a-long-resource-name-0001");
  EXPECT_EQ(row.metric, "vm.vcpus");
  EXPECT_EQ(row.value, 4u);
  ASSERT_TRUE(ParseBackfillCsvRow("vm-2,vm.state:stopped,1793491200,60", Types(), &row, &why));
  EXPECT_EQ(row.resource, "vm-2");
  EXPECT_EQ(row.metric, "vm.state");
  EXPECT_EQ(row.state, 2u);
  ASSERT_TRUE(ParseBackfillCsvRow("\"vm,3\",\"vm.vcpus\",1793491200,\"2\"", Types(), &row, &why))
      << why;
  EXPECT_EQ(row.resource, "vm,3");
  EXPECT_EQ(row.metric, "vm.vcpus");
  EXPECT_EQ(row.value, 2u);
  for (const char* bad : {"vm-1,vm.vcpus,1793491200", "vm-1,vm.vcpus,1793491200,1,", "",
                          "vm-1,vm.vcpus,1793491200,1,2", "\"vm-1\",vm.vcpus,1793491200"}) {
    EXPECT_FALSE(ParseBackfillCsvRow(bad, Types(), &row, &why)) << bad;
    EXPECT_EQ(why, "expected 4 comma-separated fields") << bad;
  }
  EXPECT_FALSE(ParseBackfillCsvRow("vm-1,no.such.metric,1793491200,1", Types(), &row, &why));
  EXPECT_EQ(why, "metric \"no.such.metric\" is not in the catalog");
  EXPECT_FALSE(ParseBackfillCsvRow("vm-1,vm.vcpus:running,1793491200,1", Types(), &row, &why));
  EXPECT_EQ(why, "only state metrics take \":state\"");
  EXPECT_FALSE(ParseBackfillCsvRow("vm-1,vm.vcpus,1793491200,1.5", Types(), &row, &why));
  EXPECT_NE(why.find("value \"1.5\""), std::string::npos) << why;
}

TEST(CsvTimeTest, LacksTimeZoneOnlyForADateTimeWithoutOne) {
  EXPECT_TRUE(LacksTimeZone("2026-11-01 00:00:00"));
  EXPECT_TRUE(LacksTimeZone("2026-11-01T00:00:00"));
  EXPECT_TRUE(LacksTimeZone("2026-11-01T00:00:00.000"));
  EXPECT_FALSE(LacksTimeZone("2026-11-01T00:00:00Z"));
  EXPECT_FALSE(LacksTimeZone("2026-11-01T00:00:00+01:00"));
  EXPECT_FALSE(LacksTimeZone("2026-11-01"));
  EXPECT_FALSE(LacksTimeZone("1793491200"));
  EXPECT_FALSE(LacksTimeZone("2026-13-01 00:00:00"));
  EXPECT_FALSE(LacksTimeZone(""));
}

// Issue 18: a backfill file may be gzip or zstd compressed. It is recognised by its first bytes
// (the names here say .csv), decompressed while it is read, members and frames one after the
// other; a truncated or corrupt stream is an error, never a shorter file.
class CompressedInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("meterd-compressed-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  static std::string Gzip(const std::string& text) {
    z_stream z{};
    EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&z, text.size()) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
  }
  static std::string Zstd(const std::string& text) {
    std::string out(ZSTD_compressBound(text.size()), '\0');
    // With the frame checksum, as the zstd command writes it.
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    const size_t n = ZSTD_compress2(c, out.data(), out.size(), text.data(), text.size());
    ZSTD_freeCCtx(c);
    EXPECT_FALSE(ZSTD_isError(n));
    out.resize(n);
    return out;
  }
  // Everything the input yields, and its error.
  static std::string ReadAll(const std::string& path, TextCompression want, std::string* error) {
    auto in = OpenTextInput(path);
    EXPECT_TRUE(in.ok()) << in.status().ToString();
    if (!in.ok()) return "";
    EXPECT_EQ((*in)->compression(), want);
    std::string text((std::istreambuf_iterator<char>((*in)->stream())), {});
    *error = (*in)->error();
    return text;
  }
  std::filesystem::path dir_;
};

std::string CompressedTestText(uint64_t rows) {
  std::string text = "resource,metric,hour,value\n";
  for (uint64_t i = 0; i < rows; ++i) text += RowText(i);
  return text;
}

TEST_F(CompressedInputTest, GzipAndZstdAreRecognisedByTheirBytesNotTheirName) {
  const std::string text = CompressedTestText(200000);  // ~9 MB: many buffers of both sides
  std::string error;
  EXPECT_EQ(ReadAll(Write("plain.csv", text), TextCompression::kNone, &error), text);
  EXPECT_EQ(error, "");
  EXPECT_EQ(ReadAll(Write("gz.csv", Gzip(text)), TextCompression::kGzip, &error), text);
  EXPECT_EQ(error, "");
  EXPECT_EQ(ReadAll(Write("zst.csv", Zstd(text)), TextCompression::kZstd, &error), text);
  EXPECT_EQ(error, "");
  // Two members (cat a.gz b.gz), two frames: read through, as gzip -dc and zstd -dc do.
  const std::string half = text.substr(0, text.size() / 2), rest = text.substr(text.size() / 2);
  EXPECT_EQ(ReadAll(Write("two.gz", Gzip(half) + Gzip(rest)), TextCompression::kGzip, &error),
            text);
  EXPECT_EQ(error, "");
  EXPECT_EQ(ReadAll(Write("two.zst", Zstd(half) + Zstd(rest)), TextCompression::kZstd, &error),
            text);
  EXPECT_EQ(error, "");
  // The reader parses the decompressed rows as it would the plain file.
  auto in = OpenTextInput(Write("rows.csv", Zstd(text)));
  ASSERT_TRUE(in.ok());
  BackfillReader reader(&(*in)->stream(), &Types(), 65536);
  ASSERT_TRUE(reader.ReadHeader().ok());
  std::vector<BackfillLine> batch;
  uint64_t n = 0;
  while (reader.Next(&batch, [](uint64_t line, const std::string& why) {
    ADD_FAILURE() << line << ": " << why;
  })) {
    n += batch.size();
  }
  EXPECT_EQ(n, 200000u);
  EXPECT_GT((*in)->file_bytes_read(), 0u);
}

TEST_F(CompressedInputTest, ATruncatedOrCorruptStreamIsAnError) {
  const std::string text = CompressedTestText(20000);
  for (const auto& [name, bytes, kind] :
       {std::tuple{"cut.gz", Gzip(text), TextCompression::kGzip},
        std::tuple{"cut.zst", Zstd(text), TextCompression::kZstd}}) {
    SCOPED_TRACE(name);
    std::string error;
    const std::string got = ReadAll(Write(name, bytes.substr(0, bytes.size() - 9)), kind, &error);
    EXPECT_NE(error, "");
    EXPECT_LE(got.size(), text.size());  // (the cut may be only the trailer)
    std::string flipped = bytes;
    flipped[flipped.size() / 2] ^= 0x5a;
    ReadAll(Write(std::string("bad-") + name, flipped), kind, &error);
    EXPECT_NE(error, "");
  }
  EXPECT_TRUE(OpenTextInput((dir_ / "missing.csv").string()).status().IsNotFound());
}

TEST(BackfillReaderTest, SkipToResumesAfterALineWithoutParsingWhatItSkips) {
  std::istringstream in("resource,metric,hour,value\nnot,a,row\n" + RowText(1) + RowText(2));
  BackfillReader reader(&in, &Types(), 10);
  ASSERT_TRUE(reader.ReadHeader().ok());
  ASSERT_TRUE(reader.SkipTo(3, 2));  // lines 2 (bad: never parsed) and 3 were imported
  std::vector<BackfillLine> batch;
  ASSERT_TRUE(reader.Next(
      &batch, [](uint64_t line, const std::string& why) { ADD_FAILURE() << line << ": " << why; }));
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].line, 4u);
  EXPECT_EQ(reader.rows(), 3u);
  std::istringstream short_in("resource,metric,hour,value\n" + RowText(1));
  BackfillReader short_reader(&short_in, &Types(), 10);
  ASSERT_TRUE(short_reader.ReadHeader().ok());
  EXPECT_FALSE(short_reader.SkipTo(5, 4));
}

}  // namespace backfill_reader_test
}  // namespace meterd::cli
