// meterd — tests/integration/meterd_server_test.cc: the real meterd over loopback TCP.
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "storage/sample_batch.h"
#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

using net::IngestAckInfo;
using net::IngestBatchData;

IngestBatchData Batch(uint64_t seq, int64_t base, const std::vector<uint64_t>& series,
                      const std::vector<uint32_t>& offsets, const std::vector<uint64_t>& values,
                      std::string agent = "") {
  IngestBatchData b;
  b.agent = std::move(agent);
  b.sequence = seq;
  b.base_time = base;
  b.series = series;
  b.offsets = offsets;
  b.values = values;
  return b;
}

// Sends one batch and waits for its acknowledgement.
IngestAckInfo SendAndWait(net::Client* c, const IngestBatchData& b) {
  IngestAckInfo got;
  bool seen = false;
  c->set_ack_callback([&](const IngestAckInfo& a) {
    if (a.sequence == b.sequence) {
      got = a;
      seen = true;
    }
  });
  Status st = c->SendBatch(b.sequence, net::BuildIngestFrame(b));
  EXPECT_TRUE(st.ok()) << st.ToString();
  st = c->Drain();
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(seen);
  c->set_ack_callback(nullptr);
  return got;
}

using MeterdServerTest = MeterdTest;

TEST_F(MeterdServerTest, IngestThenExportReturnsExactlyTheSamplesInOrder) {
  auto admin = Admin();
  auto def = admin->DefineSeries(
      {{"vm-b", "vm.vcpus"}, {"vm-a", "vm.cpu_time_ns"}, {"vm-a", "vm.cpu_utilisation"}});
  ASSERT_TRUE(def.ok()) << def.status().ToString();
  EXPECT_EQ(def.value().defined, 3u);
  const int64_t t = UnixNow() - 100;
  const uint64_t b = net::SeriesIdOf("vm-b", "vm.vcpus");
  const uint64_t a = net::SeriesIdOf("vm-a", "vm.cpu_time_ns");
  const uint64_t u = net::SeriesIdOf("vm-a", "vm.cpu_utilisation");
  auto ack = SendAndWait(admin.get(), Batch(1, t, {b, a, u, a, u, b}, {0, 0, 0, 1, 1, 1},
                                            {4, 1000, storage::DoubleToBits(0.25), 2000,
                                             storage::DoubleToBits(-0.0), 8},
                                            "test-agent"));
  EXPECT_EQ(ack.accepted, 6u);
  EXPECT_EQ(ack.rejected, 0u);
  auto rows = ExportAll(admin.get(), t - 10, t + 10);
  ASSERT_EQ(rows.size(), 6u);
  // Ordered by resource, metric, timestamp.
  EXPECT_EQ(rows[0].resource, "vm-a");
  EXPECT_EQ(rows[0].metric, "vm.cpu_time_ns");
  EXPECT_EQ(rows[0].value, 1000u);
  EXPECT_EQ(rows[1].value, 2000u);
  EXPECT_EQ(rows[2].metric, "vm.cpu_utilisation");
  EXPECT_EQ(rows[2].value, storage::DoubleToBits(0.25));
  EXPECT_EQ(rows[3].value, storage::DoubleToBits(-0.0));  // bit-exact, sign kept
  EXPECT_EQ(rows[4].resource, "vm-b");
  EXPECT_EQ(rows[4].ts, t);
  EXPECT_EQ(rows[5].ts, t + 1);
  EXPECT_EQ(rows[5].value, 8u);
  // Filters.
  EXPECT_EQ(ExportAll(admin.get(), t - 10, t + 10, "vm-b").size(), 2u);
  EXPECT_EQ(ExportAll(admin.get(), t - 10, t + 10, "", "vm.cpu_time_ns").size(), 2u);
  EXPECT_EQ(ExportAll(admin.get(), t + 1, t + 2).size(), 3u);  // [from, to)
}

TEST_F(MeterdServerTest, BadSamplesAreRejectedWithReasonsAndTheRestKept) {
  auto admin = Admin();
  ASSERT_TRUE(
      admin->DefineSeries({{"vm-1", "vm.cpu_time_ns"}, {"vm-1", "vm.cpu_utilisation"}}).ok());
  const uint64_t c = net::SeriesIdOf("vm-1", "vm.cpu_time_ns");
  const uint64_t g = net::SeriesIdOf("vm-1", "vm.cpu_utilisation");
  const uint64_t undefined = net::SeriesIdOf("vm-1", "vm.vcpus");
  const int64_t t = UnixNow() - 50;
  auto ack = SendAndWait(
      admin.get(),
      Batch(1, t, {c, undefined, g, c, c, g},
            {0, 0, 0, 0, 2, 100000},  // the last is far in the future
            {1000, 1, storage::DoubleToBits(std::nan("")), 900, 1100, storage::DoubleToBits(1.0)},
            "agent-x"));
  EXPECT_EQ(ack.accepted, 2u);  // c@t and c@t+2
  EXPECT_EQ(ack.rejected, 4u);
  std::set<uint32_t> indices;
  for (const auto& r : ack.rejections) indices.insert(r.index);
  EXPECT_EQ(indices, (std::set<uint32_t>{1, 2, 3, 5}));
  const std::map<uint32_t, wire::ErrorCode> expected = {
      {1, wire::ErrorCode::NotFound},
      {2, wire::ErrorCode::InvalidArgument},  // NaN
      {3, wire::ErrorCode::InvalidArgument},  // c@t again with another value
      {5, wire::ErrorCode::OutOfRange},       // future
  };
  for (const auto& r : ack.rejections) EXPECT_EQ(r.code, expected.at(r.index)) << r.index;
  auto rows = ExportAll(admin.get(), t - 1, t + 10);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].value, 1000u);
  EXPECT_EQ(rows[1].value, 1100u);
}

TEST_F(MeterdServerTest, KeysAndRolesLimitWhatAClientMayDo) {
  {
    net::Client bad(Options("mk_0000000000000000_" + std::string(64, '0')));
    EXPECT_EQ(bad.Connect().code(), Status::Code::kUnauthenticated);
  }
  const std::string agent1 = CreateKey(wire::Role::Agent, "hv-1");
  const std::string agent2 = CreateKey(wire::Role::Agent, "hv-2");
  const std::string billing = CreateKey(wire::Role::Billing, "");
  auto a1 = Connect(agent1);
  auto a2 = Connect(agent2);
  auto bill = Connect(billing);
  EXPECT_EQ(a1->role(), wire::Role::Agent);
  EXPECT_EQ(a1->hypervisor(), "hv-1");
  ASSERT_EQ(a1->DefineSeries({{"vm-1", "vm.vcpus"}}).value().defined, 1u);
  // Another hypervisor may not take over hv-1's series, nor send samples for it.
  auto taken = a2->DefineSeries({{"vm-1", "vm.vcpus"}});
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken.value().refused, 1u);
  EXPECT_EQ(taken.value().refusals.at(0).code, wire::ErrorCode::PermissionDenied);
  const uint64_t id = net::SeriesIdOf("vm-1", "vm.vcpus");
  const int64_t t = UnixNow() - 10;
  auto foreign = SendAndWait(a2.get(), Batch(1, t, {id}, {0}, {4}));
  EXPECT_EQ(foreign.accepted, 0u);
  EXPECT_EQ(foreign.rejections.at(0).code, wire::ErrorCode::PermissionDenied);
  // An agent may not claim to be another agent.
  auto spoof = SendAndWait(a1.get(), Batch(2, t, {id}, {0}, {4}, "hv-2"));
  EXPECT_EQ(spoof.rejected, 1u);
  EXPECT_EQ(SendAndWait(a1.get(), Batch(3, t, {id}, {0}, {4})).accepted, 1u);
  // Billing reads but does not write; agents do not read.
  EXPECT_EQ(SendAndWait(bill.get(), Batch(1, t, {id}, {0}, {5})).rejected, 1u);
  EXPECT_EQ(ExportAll(bill.get(), t - 1, t + 1).size(), 1u);
  Status agent_export = a1->Export(t - 1, t + 1, "", "", [](const wire::ExportChunk&) {});
  EXPECT_EQ(agent_export.code(), Status::Code::kPermissionDenied);
  // Keys are admin business.
  flatbuffers::FlatBufferBuilder fbb(64);
  const uint64_t rid = bill->NextRequestId();
  EXPECT_EQ(bill->Call(net::FinishFrame(fbb, wire::CreateListKeys(fbb, rid)), rid).status().code(),
            Status::Code::kPermissionDenied);
}

TEST_F(MeterdServerTest, ARevokedKeyStopsWorkingOnOpenConnectionsToo) {
  const std::string key = CreateKey(wire::Role::Billing, "");
  auto c = Connect(key);
  auto admin = Admin();
  flatbuffers::FlatBufferBuilder fbb(128);
  const uint64_t rid = admin->NextRequestId();
  auto revoke = admin->Call(
      net::FinishFrame(fbb, wire::CreateRevokeKey(fbb, rid, fbb.CreateString(key.substr(3, 16)))),
      rid);
  ASSERT_TRUE(revoke.ok()) << revoke.status().ToString();
  Status st = c->Export(0, 10, "", "", [](const wire::ExportChunk&) {});
  EXPECT_FALSE(st.ok());
  net::Client again(Options(key));
  EXPECT_EQ(again.Connect().code(), Status::Code::kUnauthenticated);
}

TEST_F(MeterdServerTest, AResentBatchIsAcknowledgedAndNotStoredTwice) {
  const std::string key = CreateKey(wire::Role::Agent, "hv-r");
  const int64_t t = UnixNow() - 30;
  const uint64_t id = net::SeriesIdOf("vm-r", "vm.cpu_time_ns");
  {
    auto c = Connect(key);
    ASSERT_TRUE(c->DefineSeries({{"vm-r", "vm.cpu_time_ns"}}).ok());
    auto first = SendAndWait(c.get(), Batch(7, t, {id, id}, {0, 1}, {10, 20}));
    EXPECT_EQ(first.accepted, 2u);
    EXPECT_FALSE(first.duplicate);
  }
  // The agent reconnects and resends batch 7 (it never saw the ack, say), with a changed
  // value that must not be stored: the first copy stands.
  auto c = Connect(key);
  auto again = SendAndWait(c.get(), Batch(7, t, {id, id}, {0, 1}, {10, 99}));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.accepted, 2u);
  auto rows = ExportAll(Admin().get(), t - 1, t + 5);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].value, 20u);
}

TEST_F(MeterdServerTest, AcknowledgedSamplesSurviveKillMinus9) {
  auto admin = Admin();
  ASSERT_TRUE(admin->DefineSeries({{"vm-k", "vm.cpu_time_ns"}}).ok());
  const uint64_t id = net::SeriesIdOf("vm-k", "vm.cpu_time_ns");
  const int64_t t = UnixNow() - 500;
  for (uint64_t seq = 1; seq <= 20; ++seq) {
    std::vector<uint64_t> s(10, id), v;
    std::vector<uint32_t> o;
    for (uint32_t i = 0; i < 10; ++i) {
      o.push_back(static_cast<uint32_t>((seq - 1) * 10 + i));
      v.push_back(seq * 1000 + i);
    }
    ASSERT_EQ(SendAndWait(admin.get(), Batch(seq, t, s, o, v, "k")).accepted, 10u);
  }
  admin.reset();
  server_.Kill();
  StartServer(extra_, /*fresh=*/false);
  auto rows = ExportAll(Admin().get(), t, t + 1000);
  ASSERT_EQ(rows.size(), 200u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].ts, t + static_cast<int64_t>(i));
    EXPECT_EQ(rows[i].value, (i / 10 + 1) * 1000 + i % 10);
  }
}

TEST_F(MeterdServerTest, TheClientReconnectsAndResendsWhatWasNotAcknowledged) {
  // A fixed port, so that the restarted server is where the client looks for it.
  const uint16_t port = server_.port();
  StopServer();
  server_.set_listen("127.0.0.1:" + std::to_string(port));
  StartServer(extra_, /*fresh=*/false);
  net::ClientOptions o = Options(server_.admin_key());
  o.port = port;
  o.max_in_flight = 16;
  net::Client client(o);
  Status connected = client.Connect();
  ASSERT_TRUE(connected.ok()) << connected.ToString() << " server on " << server_.port();
  ASSERT_TRUE(client.DefineSeries({{"vm-rc", "vm.cpu_time_ns"}}).ok());
  const uint64_t id = net::SeriesIdOf("vm-rc", "vm.cpu_time_ns");
  const int64_t t = UnixNow() - 3000;
  std::set<uint64_t> acked;
  client.set_ack_callback([&](const IngestAckInfo& a) { acked.insert(a.sequence); });
  std::thread crash;
  for (uint64_t seq = 1; seq <= 400; ++seq) {
    if (seq == 150) {
      // kill -9 with batches in flight; the server comes back 300 ms later on the same port.
      crash = std::thread([&] {
        server_.Kill();
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        StartServer(extra_, /*fresh=*/false);
      });
    }
    IngestBatchData b =
        Batch(seq, t + static_cast<int64_t>(seq - 1) * 5, {id, id, id, id, id}, {0, 1, 2, 3, 4},
              {seq * 10, seq * 10 + 1, seq * 10 + 2, seq * 10 + 3, seq * 10 + 4}, "rc");
    ASSERT_TRUE(client.SendBatch(seq, net::BuildIngestFrame(b)).ok()) << "batch " << seq;
  }
  crash.join();
  ASSERT_TRUE(client.Drain().ok());
  EXPECT_EQ(acked.size(), 400u);
  EXPECT_GE(client.reconnects(), 1u);
  auto rows = ExportAll(Admin().get(), t, t + 2000);
  ASSERT_EQ(rows.size(), 2000u);  // every sample once
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].ts, t + static_cast<int64_t>(i));
    ASSERT_EQ(rows[i].value, (i / 5 + 1) * 10 + i % 5);
  }
}

// Issue 17: a graceful shutdown (SIGTERM) racing a stream of batches. Batches the draining
// server did not acknowledge (cut off by ShuttingDown, or meeting a store already closing:
// Unavailable) are resent by the client once the restarted server is up; none is dropped as
// refused, and every sample is stored once.
TEST_F(MeterdServerTest, BatchesSentDuringAGracefulShutdownAreResentNotLost) {
  const uint16_t port = server_.port();
  StopServer();
  server_.set_listen("127.0.0.1:" + std::to_string(port));
  StartServer(extra_, /*fresh=*/false);
  net::ClientOptions o = Options(server_.admin_key());
  o.port = port;
  o.max_in_flight = 16;
  net::Client client(o);
  Status connected = client.Connect();
  ASSERT_TRUE(connected.ok()) << connected.ToString() << " server on " << server_.port();
  ASSERT_TRUE(client.DefineSeries({{"vm-gs", "vm.cpu_time_ns"}}).ok());
  const uint64_t id = net::SeriesIdOf("vm-gs", "vm.cpu_time_ns");
  constexpr uint64_t kMaxBatches = 4000;  // 5 samples, 5 s apart: all within the past 20,000 s
  const int64_t t = UnixNow() - static_cast<int64_t>(kMaxBatches) * 5;
  std::set<uint64_t> acked;
  uint64_t refused = 0;
  client.set_ack_callback([&](const IngestAckInfo& a) {
    acked.insert(a.sequence);
    refused += a.rejected;
  });
  std::atomic<bool> restarted{false};
  std::thread restart;
  uint64_t sent = 0;
  // Batches keep coming, paced, until the restarted server is up: some are sent while the
  // server drains, closes its store and is down.
  for (uint64_t seq = 1; seq <= 150 || !restarted.load(); ++seq) {
    ASSERT_LE(seq, kMaxBatches) << "the restart took too long";
    if (seq == 150) {
      restart = std::thread([&] {
        StopServer();  // SIGTERM: drain, close the store
        StartServer(extra_, /*fresh=*/false);
        restarted.store(true);
      });
    }
    if (seq > 150) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    IngestBatchData b =
        Batch(seq, t + static_cast<int64_t>(seq - 1) * 5, {id, id, id, id, id}, {0, 1, 2, 3, 4},
              {seq * 10, seq * 10 + 1, seq * 10 + 2, seq * 10 + 3, seq * 10 + 4}, "gs");
    ASSERT_TRUE(client.SendBatch(seq, net::BuildIngestFrame(b)).ok()) << "batch " << seq;
    sent = seq;
  }
  restart.join();
  ASSERT_TRUE(client.Drain().ok());
  EXPECT_EQ(acked.size(), sent);
  EXPECT_EQ(refused, 0u) << "a batch caught by the shutdown was refused, not resent";
  EXPECT_GE(client.reconnects(), 1u);
  auto rows = ExportAll(Admin().get(), t, t + static_cast<int64_t>(sent) * 5);
  ASSERT_EQ(rows.size(), sent * 5);  // every sample once
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].ts, t + static_cast<int64_t>(i));
    ASSERT_EQ(rows[i].value, (i / 5 + 1) * 10 + i % 5);
  }
}

TEST_F(MeterdServerTest, MalformedFramesCloseOnlyTheirConnection) {
  auto healthy = Admin();
  struct Case {
    const char* name;
    std::vector<uint8_t> bytes;
    wire::ErrorCode expected;
  };
  std::vector<Case> cases;
  {
    std::vector<uint8_t> garbage = {16, 0, 0, 0};
    for (int i = 0; i < 16; ++i) garbage.push_back(static_cast<uint8_t>(0xA5 ^ i));
    cases.push_back({"garbage payload", garbage, wire::ErrorCode::MalformedFrame});
  }
  cases.push_back({"length above the maximum",
                   {0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3, 4},
                   wire::ErrorCode::FrameTooLarge});
  {
    flatbuffers::FlatBufferBuilder fbb(64);
    cases.push_back({"request before Hello", net::FinishFrame(fbb, wire::CreatePing(fbb, 1)),
                     wire::ErrorCode::MalformedFrame});
  }
  {
    flatbuffers::FlatBufferBuilder fbb(64);
    auto key = fbb.CreateString("x");
    cases.push_back({"unsupported version",
                     net::FinishFrame(fbb, wire::CreateHello(fbb, 99, key, 0)),
                     wire::ErrorCode::UnsupportedVersion});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RawConnection raw(server_.port());
    ASSERT_TRUE(raw.connected());
    ASSERT_TRUE(raw.Send(c.bytes));
    std::vector<wire::Message> types;
    wire::ErrorCode code = wire::ErrorCode::Ok;
    EXPECT_TRUE(raw.ReadUntilClosed(5000, &types, &code)) << "connection was not closed";
    EXPECT_EQ(code, c.expected);
  }
  // An authenticated connection that then sends garbage is closed too.
  {
    RawConnection raw(server_.port());
    ASSERT_TRUE(raw.Send(net::BuildHelloFrame(server_.admin_key(), "raw")));
    const uint8_t junk[] = {12, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    ASSERT_TRUE(raw.Send(junk, sizeof(junk)));
    std::vector<wire::Message> types;
    wire::ErrorCode code = wire::ErrorCode::Ok;
    EXPECT_TRUE(raw.ReadUntilClosed(5000, &types, &code));
    ASSERT_FALSE(types.empty());
    EXPECT_EQ(types.front(), wire::Message::HelloOk);
    EXPECT_EQ(code, wire::ErrorCode::MalformedFrame);
  }
  // Random bytes, and valid frames with random bytes flipped: bounded, every one answered by a
  // verified frame or a close, and the server keeps serving everybody else.
  std::mt19937_64 rng(7);
  const std::vector<uint8_t> hello = net::BuildHelloFrame(server_.admin_key(), "fuzz");
  for (int i = 0; i < 60; ++i) {
    RawConnection raw(server_.port());
    std::vector<uint8_t> bytes;
    if (i % 2 == 0) {
      bytes.resize(1 + rng() % 64);
      for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    } else {
      bytes = hello;
      for (int k = 0; k < 3; ++k) bytes[4 + rng() % (bytes.size() - 4)] ^= 1 + rng() % 255;
    }
    raw.Send(bytes);
    std::vector<wire::Message> types;
    raw.ReadUntilClosed(i % 2 == 0 ? 200 : 2000, &types);
  }
  const int64_t t = UnixNow();
  EXPECT_TRUE(healthy->DefineSeries({{"vm-h", "vm.vcpus"}}).ok());
  EXPECT_EQ(ExportAll(healthy.get(), t - 5, t + 5).size(), 0u);
}

TEST_F(MeterdServerTest, BackpressureSlowsAFastClientAndLosesNothing) {
  StopServer();
  // One request in flight per connection and a tiny head: the client must wait for the disk.
  StartServer({"--max-in-flight", "1", "--head-memory-mib", "4", "--buffer-budget-mib", "1"});
  auto admin = Admin();
  std::vector<net::SeriesKey> keys;
  for (int v = 0; v < 50; ++v) keys.push_back({"vm-" + std::to_string(v), "vm.cpu_time_ns"});
  ASSERT_TRUE(admin->DefineSeries(keys).ok());
  const int64_t t = UnixNow() - 3000;
  uint64_t accepted = 0;
  admin->set_ack_callback([&](const IngestAckInfo& a) { accepted += a.accepted; });
  uint64_t sent = 0;
  for (uint64_t seq = 1; seq <= 300; ++seq) {
    IngestBatchData b;
    b.agent = "bp";
    b.sequence = seq;
    b.base_time = t + static_cast<int64_t>(seq - 1) * 10;
    for (uint32_t s = 0; s < 10; ++s) {
      for (const auto& k : keys) {
        b.series.push_back(net::SeriesIdOf(k.resource, k.metric));
        b.offsets.push_back(s);
        b.values.push_back(seq * 100 + s);
      }
    }
    sent += b.series.size();
    ASSERT_TRUE(admin->SendBatch(seq, net::BuildIngestFrame(b)).ok());
  }
  ASSERT_TRUE(admin->Drain().ok());
  EXPECT_EQ(accepted, sent);
  EXPECT_EQ(ExportAll(admin.get(), t, t + 3000).size(), sent);
}

TEST_F(MeterdServerTest, AFloodingClientOnASlowDiskIsSlowedAndServerMemoryStaysBounded) {
  StopServer();
  // Every WAL sync takes 150 ms longer (a saturated disk): at most ~6 groups a second, so the
  // clients can send far faster than the server may acknowledge.
  ::setenv("METERD_FAULT_SYNC_DELAY_US", "150000", 1);
  // The samples reach 2.5 h back: a 3 h grace keeps their hours open, so this measures flow
  // control, not late-data revisions (tests/engine/downsample covers those).
  StartServer({"--head-memory-mib", "16", "--buffer-budget-mib", "8", "--max-in-flight", "64",
               "--grace", "10800"});
  ::unsetenv("METERD_FAULT_SYNC_DELAY_US");
  auto admin = Admin();
  // Each client streams its own 1,000 VMs, in time order, as agents do (a series belongs to one
  // agent): the flood is about volume, not about out-of-order data.
  std::vector<std::vector<uint64_t>> client_ids(4);
  for (int c = 0; c < 4; ++c) {
    std::vector<net::SeriesKey> keys;
    for (int v = 0; v < 1000; ++v) {
      keys.push_back({"vm-f" + std::to_string(c) + "-" + std::to_string(v), "vm.memory_bytes"});
      client_ids[c].push_back(net::SeriesIdOf(keys.back().resource, keys.back().metric));
    }
    ASSERT_TRUE(admin->DefineSeries(keys).ok());
  }
  // 4 flooding connections, each with 64 batches of 50,000 samples (~1 MB) in flight.
  const int64_t t = UnixNow() - 9000;  // the clients' ranges end 1,000 s ago
  std::vector<std::thread> floods;
  std::atomic<uint64_t> accepted{0}, sent{0};
  for (int c = 0; c < 4; ++c) {
    floods.emplace_back([&, c] {
      net::ClientOptions o = Options(server_.admin_key());
      o.max_in_flight = 64;
      net::Client client(o);
      ASSERT_TRUE(client.Connect().ok());
      client.set_ack_callback([&](const IngestAckInfo& a) { accepted += a.accepted; });
      for (uint64_t seq = 1; seq <= 40; ++seq) {
        IngestBatchData b;
        b.agent = "flood-" + std::to_string(c);
        b.sequence = seq;
        b.base_time = t + static_cast<int64_t>((seq - 1) * 50);
        for (uint32_t s = 0; s < 50; ++s) {
          for (uint64_t id : client_ids[c]) {
            b.series.push_back(id);
            b.offsets.push_back(s);
            b.values.push_back(seq * 1000 + s);
          }
        }
        sent += b.series.size();
        ASSERT_TRUE(client.SendBatch(seq, net::BuildIngestFrame(b)).ok());
      }
      ASSERT_TRUE(client.Drain(std::chrono::milliseconds(120000)).ok());
    });
  }
  uint64_t peak_kib = 0;
  std::atomic<bool> done{false};
  std::thread watch([&] {
    while (!done) {
      peak_kib = std::max(peak_kib, bench::ProcessStatusKiB(server_.pid(), "VmRSS:"));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  for (auto& f : floods) f.join();
  done = true;
  watch.join();
  EXPECT_EQ(accepted.load(), sent.load());  // slowed down, nothing dropped
  // 8 M samples (~160 MB of frames) went through a server configured for a 16 MiB head and
  // an 8 MiB request budget (+ the WAL's 32 MiB of pending writes): its memory stayed near that.
  // (Twice the samples peak at the same RSS: the bound is the configuration, not the load.)
#if defined(__SANITIZE_ADDRESS__)
  // ASan's shadow memory and quarantine, over a sanitized meterd that is about 305 MiB idle
  // (measured 2026-12-07, after the HTTP ingest and invoicing libraries joined the binary; this
  // run then peaked at 646-648 MiB against 600 before). The release bound below is the one that
  // checks flow control (91 MiB measured).
  const uint64_t limit_mib = 720;
#else
  const uint64_t limit_mib = 200;
#endif
  EXPECT_LT(peak_kib, limit_mib * 1024) << "server RSS peaked at " << peak_kib / 1024 << " MiB";
  std::printf("flood: %llu samples, server RSS peak %llu MiB\n",
              static_cast<unsigned long long>(sent.load()),
              static_cast<unsigned long long>(peak_kib / 1024));
}

TEST_F(MeterdServerTest, ConnectionLimitAndIdleTimeout) {
  StopServer();
  StartServer({"--max-connections", "2", "--idle-timeout", "1"});
  auto a = Admin();
  auto b = Admin();
  net::ClientOptions o = Options(server_.admin_key());
  o.reconnect_attempts = 0;
  net::Client third(o);
  EXPECT_EQ(third.Connect().code(), Status::Code::kBusy);  // TooManyConnections
  // An idle connection is closed with IdleTimeout after about a second.
  RawConnection raw(server_.port());
  std::vector<wire::Message> types;
  a.reset();  // make room
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  RawConnection idle(server_.port());
  ASSERT_TRUE(idle.Send(net::BuildHelloFrame(server_.admin_key(), "idle")));
  wire::ErrorCode code = wire::ErrorCode::Ok;
  EXPECT_TRUE(idle.ReadUntilClosed(5000, &types, &code));
  EXPECT_EQ(code, wire::ErrorCode::IdleTimeout);
}

TEST_F(MeterdServerTest, GracefulStopAnswersWhatIsInFlight) {
  auto admin = Admin();
  ASSERT_TRUE(admin->DefineSeries({{"vm-g", "vm.cpu_time_ns"}}).ok());
  const uint64_t id = net::SeriesIdOf("vm-g", "vm.cpu_time_ns");
  const int64_t t = UnixNow() - 1000;
  std::set<uint64_t> acked;
  admin->set_ack_callback([&](const IngestAckInfo& a) { acked.insert(a.sequence); });
  net::ClientOptions o = Options(server_.admin_key());
  for (uint64_t seq = 1; seq <= 50; ++seq) {
    IngestBatchData b = Batch(seq, t + static_cast<int64_t>(seq) * 10, {id}, {0}, {seq}, "g");
    ASSERT_TRUE(admin->SendBatch(seq, net::BuildIngestFrame(b)).ok());
  }
  ASSERT_TRUE(admin->Drain().ok());
  EXPECT_EQ(acked.size(), 50u);
  const double took = server_.Stop();
  EXPECT_LT(took, 15.0);
  StartServer(extra_, /*fresh=*/false);
  EXPECT_EQ(ExportAll(Admin().get(), t, t + 1000).size(), 50u);
}

TEST_F(MeterdServerTest, StatsReportTheServer) {
  auto admin = Admin();
  ASSERT_TRUE(admin->DefineSeries({{"vm-s", "vm.vcpus"}}).ok());
  flatbuffers::FlatBufferBuilder fbb(64);
  const uint64_t rid = admin->NextRequestId();
  auto bytes = admin->Call(net::FinishFrame(fbb, wire::CreateStatsRequest(fbb, rid)), rid);
  ASSERT_TRUE(bytes.ok());
  const auto* s = wire::GetEnvelope(bytes.value().data())->message_as_StatsReply();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->series(), 1u);
  EXPECT_GE(s->connections(), 1u);
  EXPECT_GT(s->rss_bytes(), 0u);
}

}  // namespace
}  // namespace meterd::testing
