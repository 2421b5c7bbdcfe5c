// meterd — tests/fuzz/frame_fuzz_replay_test.cc
//
// Runs the frame fuzz target (frame_fuzz.cc) over a seeded corpus in every build, so g++ and
// sanitizer builds exercise it too: valid frames of every request type, those frames with
// bytes flipped, truncated and concatenated, and plain random bytes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "net/client/client.h"
#include "net/protocol/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace meterd::net {
namespace frame_fuzz_replay_test {

std::vector<std::vector<uint8_t>> ValidFrames() {
  std::vector<std::vector<uint8_t>> out;
  out.push_back(BuildHelloFrame("mk_0123456789abcdef_" + std::string(64, 'a'), "fuzz"));
  IngestBatchData b;
  b.agent = "hv-1";
  b.sequence = 9;
  b.base_time = 1767225600;
  for (uint32_t i = 0; i < 40; ++i) {
    b.series.push_back(i * 7919);
    b.offsets.push_back(i);
    b.values.push_back(i * i);
  }
  out.push_back(BuildIngestFrame(b));
  flatbuffers::FlatBufferBuilder fbb(256);
  std::vector<flatbuffers::Offset<wire::SeriesDef>> defs = {
      wire::CreateSeriesDef(fbb, 1, fbb.CreateString("vm-1"), fbb.CreateString("vm.vcpus"))};
  out.push_back(FinishFrame(fbb, wire::CreateDefineSeries(fbb, 3, fbb.CreateVector(defs))));
  fbb.Clear();
  out.push_back(
      FinishFrame(fbb, wire::CreateExportRequest(fbb, 4, 0, 100, fbb.CreateString("vm-1"), 0)));
  fbb.Clear();
  out.push_back(FinishFrame(fbb, wire::CreatePing(fbb, 5)));
  return out;
}

TEST(FrameFuzzReplay, SeededCorpusNeverCrashesTheDecoder) {
  std::mt19937_64 rng(20261125);
  const auto valid = ValidFrames();
  // METERD_FUZZ_WRITE_CORPUS=<dir>: write the frames as the fuzzer's seed corpus, <dir>/frame/
  // (tests/fuzz/corpus/frame is made this way; tests/README.md).
  if (const char* out = std::getenv("METERD_FUZZ_WRITE_CORPUS"); out != nullptr && *out != '\0') {
    const std::filesystem::path dir = std::filesystem::path(out) / "frame";
    std::filesystem::create_directories(dir);
    for (size_t i = 0; i < valid.size(); ++i) {
      std::ofstream(dir / ("frame-" + std::to_string(i) + ".bin"), std::ios::binary)
          .write(reinterpret_cast<const char*>(valid[i].data()),
                 static_cast<std::streamsize>(valid[i].size()));
    }
  }
  std::vector<uint8_t> stream;
  for (const auto& f : valid) stream.insert(stream.end(), f.begin(), f.end());
  ASSERT_EQ(LLVMFuzzerTestOneInput(stream.data(), stream.size()), 0);
  // The committed corpus, regression inputs included (regress-misaligned-u64: an IngestBatch
  // whose values vector sat at 4 mod 8, a misaligned load before VerifyFrame refused it).
  for (const auto& e : std::filesystem::directory_iterator(METERD_FUZZ_CORPUS_DIR "/frame")) {
    std::ifstream in(e.path(), std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
    ASSERT_EQ(LLVMFuzzerTestOneInput(bytes.data(), bytes.size()), 0) << e.path();
    if (e.path().filename().string().rfind("regress-", 0) == 0) {
      FrameDecoder decoder(1u << 20);
      decoder.Append(bytes);
      const wire::Envelope* env = nullptr;
      EXPECT_FALSE(decoder.Next(&env)) << e.path() << " decoded";
    }
  }
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> input;
    switch (i % 4) {
      case 0: {  // a valid frame with bytes flipped
        input = valid[rng() % valid.size()];
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) input[rng() % input.size()] ^= 1 + rng() % 255;
        break;
      }
      case 1: {  // a truncated stream
        input = stream;
        input.resize(rng() % input.size());
        break;
      }
      case 2: {  // frames spliced at random points
        const auto& a = valid[rng() % valid.size()];
        const auto& b = valid[rng() % valid.size()];
        input.assign(a.begin(), a.begin() + static_cast<long>(rng() % a.size()));
        input.insert(input.end(), b.begin() + static_cast<long>(rng() % b.size()), b.end());
        break;
      }
      default: {  // random bytes behind a plausible length prefix
        input.resize(4 + rng() % 256);
        for (auto& x : input) x = static_cast<uint8_t>(rng());
        const uint32_t len = static_cast<uint32_t>(input.size() - 4);
        std::memcpy(input.data(), &len, 4);
        break;
      }
    }
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  }
}

}  // namespace frame_fuzz_replay_test
}  // namespace meterd::net
