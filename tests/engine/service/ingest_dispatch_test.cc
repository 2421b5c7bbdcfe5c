// meterd — tests/engine/service/ingest_dispatch_test.cc: an ingest stuck in the store never
// stalls another connection. The real server and MeterService run in process on one io
// thread, over a store whose WAL writes the fault layer holds: one connection's batch is
// provably stuck inside the store append (the WAL's backpressure), and meanwhile a second
// connection says Hello, pings and reads the metric list. Once the disk moves again, both
// batches are acknowledged.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "engine/auth/key_store.h"
#include "engine/catalog.h"
#include "engine/ingest/ingest_pipeline.h"
#include "engine/registry/metric_store.h"
#include "engine/registry/series_registry.h"
#include "engine/service/meter_service.h"
#include "net/client/client.h"
#include "net/protocol/messages.h"
#include "net/server/server.h"
#include "storage/store.h"
#include "tests/testing/fault_env.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine {
namespace ingest_dispatch_test {

// Waits (polling a condition, never timing anything) until `ready` holds; false after 20 s.
template <typename Pred>
bool Eventually(Pred ready) {
  for (int i = 0; i < 20000; ++i) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ready();
}

TEST(IngestDispatchTest, AnIngestStuckOnTheDiskStallsNoOtherConnection) {
  meterd::testing::TempDir dir;
  meterd::testing::FaultEnv env(storage::Env::Default(), dir.path());
  MetricCatalog catalog;
  auto metrics = MetricStore::Open(dir.path(), &catalog);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  auto series = SeriesRegistry::Open(dir.path(), &catalog);
  ASSERT_TRUE(series.ok()) << series.status().ToString();
  std::string admin_key;
  auto keys = KeyStore::Open(dir.path(), &admin_key);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  storage::StoreOptions so;
  so.dir = dir.path() + "/store";
  so.env = &env;
  so.background_flush = false;
  so.retention_seconds = 0;
  so.wal_max_pending_bytes = 1;  // a second batch waits while the first one's write is stuck
  auto store = storage::Store::Open(so);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  IngestPipeline ingest(store->get(), series->get());
  ServiceParts parts;
  parts.store = store->get();
  parts.catalog = &catalog;
  parts.metrics = metrics->get();
  parts.series = series->get();
  parts.keys = keys->get();
  parts.ingest = &ingest;
  MeterService service(parts, 1, 2);
  net::ServerOptions sopt;
  sopt.port = 0;
  sopt.io_threads = 1;  // every connection on the one io thread an inline ingest would block
  net::Server server(sopt, &service);
  ASSERT_TRUE(server.Start().ok());
  // On any failure below, the disk moves again before the server stops (else it would wait
  // for the stuck batch forever).
  struct Release {
    meterd::testing::FaultEnv* env;
    ~Release() { env->ReleaseHeld(); }
  } release{&env};

  net::ClientOptions copt;
  copt.port = server.port();
  copt.api_key = admin_key;
  copt.connect_timeout = std::chrono::milliseconds(10000);
  copt.request_timeout = std::chrono::milliseconds(10000);
  copt.reconnect_attempts = 0;
  net::Client writer(copt);
  ASSERT_TRUE(writer.Connect().ok());
  auto defined = writer.DefineSeries({{"vm-1", "vm.vcpus"}});
  ASSERT_TRUE(defined.ok()) << defined.status().ToString();
  size_t acks = 0;
  writer.set_ack_callback([&](const net::IngestAckInfo& a) {
    if (a.accepted == 10) ++acks;
  });
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto batch = [&](uint64_t seq) {
    net::IngestBatchData b;
    b.agent = "a1";
    b.sequence = seq;
    b.base_time = now - 100 + static_cast<int64_t>(seq) * 10;
    for (uint32_t i = 0; i < 10; ++i) {
      b.series.push_back(net::SeriesIdOf("vm-1", "vm.vcpus"));
      b.offsets.push_back(i);
      b.values.push_back(seq);
    }
    return net::BuildIngestFrame(b);
  };

  // The disk stalls: the WAL's write of batch 1 is held. Batch 2's append then waits for WAL
  // space inside the store (under its mutex) until the disk moves again.
  env.Hold(meterd::testing::kOpWrite | meterd::testing::kOpSync, "/wal/");
  ASSERT_TRUE(writer.SendBatch(1, batch(1)).ok());
  ASSERT_TRUE(Eventually([&] { return env.held() >= 1; })) << "batch 1 never reached the WAL";
  ASSERT_TRUE(writer.SendBatch(2, batch(2)).ok());
  ASSERT_TRUE(Eventually([&] {
    const IngestExecutor::Stats st = service.ingest_stats();
    return st.submitted == 2 && st.running == 1 && st.queued == 0;
  })) << "batch 2 never started";

  // Provably stuck: the write is still held and batch 2's task has not returned. Another
  // connection is served meanwhile, on the same io thread.
  net::Client reader(copt);
  ASSERT_TRUE(reader.Connect().ok());
  {
    flatbuffers::FlatBufferBuilder fbb(64);
    const uint64_t id = reader.NextRequestId();
    auto pong = reader.Call(net::FinishFrame(fbb, wire::CreatePing(fbb, id)), id);
    ASSERT_TRUE(pong.ok()) << pong.status().ToString();
    EXPECT_NE(wire::GetEnvelope(pong->data())->message_as_Pong(), nullptr);
  }
  {
    flatbuffers::FlatBufferBuilder fbb(64);
    const uint64_t id = reader.NextRequestId();
    auto list = reader.Call(net::FinishFrame(fbb, wire::CreateListMetrics(fbb, id)), id);
    ASSERT_TRUE(list.ok()) << list.status().ToString();
    const auto* m = wire::GetEnvelope(list->data())->message_as_MetricList();
    ASSERT_NE(m, nullptr);
    EXPECT_GE(m->metrics()->size(), MetricCatalog::Builtins().size());
  }
  EXPECT_GE(env.held(), 1u);
  EXPECT_EQ(service.ingest_stats().running, 1u);
  EXPECT_EQ(acks, 0u);

  // The disk moves again: both batches are appended and acknowledged, in order.
  env.ReleaseHeld();
  ASSERT_TRUE(writer.Drain(std::chrono::milliseconds(20000)).ok());
  EXPECT_EQ(acks, 2u);
  reader.Close();
  writer.Close();
  server.Stop();
  service.Stop();
  EXPECT_EQ(store->get()->stats().head_samples, 20u);
  ASSERT_TRUE(store->get()->Close().ok());
}

}  // namespace ingest_dispatch_test
}  // namespace meterd::engine
