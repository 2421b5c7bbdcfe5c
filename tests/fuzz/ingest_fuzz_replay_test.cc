// meterd — tests/fuzz/ingest_fuzz_replay_test.cc
//
// The HTTP ingest fuzz target (ingest_fuzz.cc) over its corpus (tests/fuzz/corpus/ingest:
// Influx lines, collectd JSON, remote_write protobuf and snappy bodies, a gzip body, each behind
// its selector byte) and 2,000 seeded mutations in every build. None of these formats has a
// checksum: the checks are no crash, the sanitizers, the target's own checks and the same
// answer for the same input. The writer seeds are built here with the generated protobuf
// classes, snappy and zlib.
#include <gtest/gtest.h>

#include <string>

#include "net/ingest/body_codec.h"
#include "net/schema/prometheus/remote.pb.h"
#include "tests/fuzz/fuzz_replay.h"
#include "tests/fuzz/fuzz_targets.h"

namespace meterd::fuzz {
namespace ingest_fuzz_replay_test {

std::string WriteRequest() {
  prometheus::WriteRequest req;
  auto* ts = req.add_timeseries();
  for (auto [n, v] : {std::pair{"__name__", "up"}, {"instance", "hv-1:9100"}, {"job", "x"}}) {
    auto* l = ts->add_labels();
    l->set_name(n);
    l->set_value(v);
  }
  for (int i = 0; i < 3; ++i) {
    auto* s = ts->add_samples();
    s->set_value(i);
    s->set_timestamp(1767225600000 + i * 1000);
  }
  return req.SerializeAsString();
}

TEST(IngestFuzzReplay, CorpusAndSeededMutations) {
  const auto corpus = LoadCorpus("ingest");
  ASSERT_GE(corpus.size(), 6u);
  const std::string lines = "m,t=vm-1 v=1i,w=2.5 1767225600\nm,t=vm-2 v=3u 1767225601\n";
  const std::vector<Seed> seeds = {
      {"influx-gzip.bin", "g" + net::ingest::GzipCompress(lines)},
      {"remote-write.pb", "p" + WriteRequest()},
      {"remote-write.snappy", "s" + net::ingest::SnappyCompress(WriteRequest())}};
  for (const auto& [name, bytes] : seeds) {
    const Decoded d = DecodeIngest(bytes);
    EXPECT_TRUE(d.status.ok()) << name << ": " << d.status.ToString();
    EXPECT_FALSE(d.items.empty()) << name;
  }
  ReplayOptions o;
  o.name = "ingest";
  o.decode = DecodeIngest;
  o.oracle = Oracle::kNone;
  Replay(o, seeds);
}

}  // namespace ingest_fuzz_replay_test
}  // namespace meterd::fuzz
