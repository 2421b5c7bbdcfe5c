// meterd — net/meter_agent/main.cc: the hypervisor agent.
//
//   meter-agent --simulate N [--first-vm K] [--backlog S] [--duration S] [server flags]
//
// Streams per-second samples of the VMs on one hypervisor to meterd. Today the samples come
// from the seeded fleet simulator (--simulate N VMs); a libvirt source plugs in at the same
// place. On start the agent defines its series and registers its VMs as resources, then sends
// one batch per second, pipelined, with a sequence number; on a broken connection it
// reconnects and resends what was not acknowledged. --backlog S starts S seconds in the past
// and sends that backlog as fast as the server takes it (an agent catching up after an
// outage), then continues in real time. SIGINT/SIGTERM stop it after every batch is
// acknowledged.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "bench/sim/fleet_sim.h"
#include "net/client/client.h"

namespace {

using namespace meterd;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Totals {
  uint64_t sent = 0, accepted = 0, rejected = 0, duplicates = 0, batches_acked = 0;
  std::string first_rejection;
};

}  // namespace

int main(int argc, char** argv) {
  net::EndpointFlags endpoint;
  size_t vms = 0, first_vm = 0;
  uint64_t seed = 42;
  int64_t backlog = 0, duration = 0;
  size_t batch_samples = 65536;
  std::string agent_name;
  bool quiet = false;
  CLI::App app{"meter-agent: streams a hypervisor's per-second VM samples to meterd"};
  app.add_option("--server", endpoint.server, "meterd HOST:PORT (default: $METER_SERVER)");
  app.add_option("--key", endpoint.key, "API key (default: $METER_KEY)");
  app.add_option("--key-file", endpoint.key_file, "file holding the API key");
  app.add_option("--simulate", vms, "simulate N VMs (the seeded fleet simulator)")->required();
  app.add_option("--first-vm", first_vm, "number of the first simulated VM (vm-<n>)")
      ->capture_default_str();
  app.add_option("--seed", seed, "simulator seed")->capture_default_str();
  app.add_option("--backlog", backlog, "start this many seconds in the past and catch up")
      ->capture_default_str();
  app.add_option("--duration", duration, "stop after this many seconds (0: until signalled)")
      ->capture_default_str();
  app.add_option("--batch-samples", batch_samples, "largest batch while catching up")
      ->capture_default_str();
  app.add_option("--agent", agent_name,
                 "agent name for batch deduplication (agent keys: their hypervisor)");
  app.add_flag("--quiet", quiet, "print only the summary");
  CLI11_PARSE(app, argc, argv);

  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGPIPE, SIG_IGN);

  net::ClientOptions options;
  options.client_name = "meter-agent/0.1";
  if (Status st = net::ResolveEndpoint(endpoint, &options); !st.ok()) {
    std::fprintf(stderr, "meter-agent: %s\n", st.ToString().c_str());
    return 1;
  }
  net::Client client(options);
  if (Status st = client.Connect(); !st.ok()) {
    std::fprintf(stderr, "meter-agent: %s\n", st.ToString().c_str());
    return 1;
  }
  if (agent_name.empty()) {
    agent_name = client.role() == wire::Role::Agent ? client.hypervisor()
                                                    : "sim-agent-" + std::to_string(first_vm);
  }

  const int64_t start_ts = UnixNow() - backlog;
  sim::FleetOptions fo;
  fo.seed = seed;
  fo.vms = vms;
  fo.first_vm = first_vm;
  fo.start_ts = start_ts;
  sim::FleetSimulator fleet(fo);

  // Define the series and register the VMs (idempotent: a restarted agent does it again).
  std::vector<net::SeriesKey> keys;
  std::vector<net::ResourceAttributes> resources;
  for (size_t v = 0; v < vms; ++v) {
    const std::string key0 = sim::SeriesKey(first_vm + v, 0);
    const std::string vm = key0.substr(0, key0.find('|'));
    for (size_t m = 0; m < sim::kMetricsPerVm; ++m) keys.push_back({vm, sim::kVmMetrics[m].name});
    // Existence only: attribution is the control plane's (meterctl resources create).
    resources.push_back({vm, "vm", "", "", "", ""});
  }
  // Registered before the series are defined: on a hypervisor a VM migrated to, this report
  // moves the VM (and the right to send its series) here first.
  if (auto r = client.RegisterResources(resources); !r.ok() || r.value().refused > 0) {
    std::fprintf(stderr, "meter-agent: registering VMs failed: %s\n",
                 r.ok() ? r.value().refusals.at(0).message.c_str() : r.status().ToString().c_str());
    return 1;
  }
  for (size_t i = 0; i < keys.size(); i += 4096) {
    std::vector<net::SeriesKey> chunk(keys.begin() + i,
                                      keys.begin() + std::min(keys.size(), i + 4096));
    auto d = client.DefineSeries(chunk);
    if (!d.ok() || d.value().refused > 0) {
      std::fprintf(
          stderr, "meter-agent: defining series failed: %s\n",
          d.ok() ? d.value().refusals.at(0).message.c_str() : d.status().ToString().c_str());
      return 1;
    }
  }
  Totals totals;
  client.set_ack_callback([&](const net::IngestAckInfo& ack) {
    totals.accepted += ack.accepted;
    totals.rejected += ack.rejected;
    totals.duplicates += ack.duplicate;
    ++totals.batches_acked;
    if (totals.first_rejection.empty() && !ack.rejections.empty()) {
      totals.first_rejection = ack.rejections[0].message;
    }
  });
  if (!quiet) {
    std::printf("meter-agent: %zu VMs (vm-%06zu..), %zu series, agent \"%s\", from %lld%s\n", vms,
                first_vm, keys.size(), agent_name.c_str(), static_cast<long long>(start_ts),
                backlog ? " (catching up)" : "");
    std::fflush(stdout);
  }

  const auto t0 = Clock::now();
  auto last_report = t0;
  uint64_t last_report_acked = 0;
  storage::SampleBatch step;
  net::IngestBatchData batch;
  batch.agent = agent_name;
  uint64_t sequence = 0;
  Status failure;
  while (!g_stop.load()) {
    const auto elapsed = Clock::now() - t0;
    if (duration > 0 && elapsed >= std::chrono::seconds(duration)) break;
    // Gather every second that is due (several while catching up), up to the batch cap.
    step.Clear();
    while (fleet.now() <= UnixNow() && step.size() < batch_samples) fleet.Step(&step);
    if (step.empty()) {
      if (client.unacknowledged() == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      } else if (Status st = client.WaitForAcks(std::chrono::milliseconds(20)); !st.ok()) {
        failure = st;
        break;
      }
    } else {
      batch.base_time = step.timestamps().front();
      batch.series = step.series();
      batch.values = step.values();
      batch.offsets.resize(step.size());
      for (size_t i = 0; i < step.size(); ++i) {
        batch.offsets[i] = static_cast<uint32_t>(step.timestamps()[i] - batch.base_time);
      }
      batch.sequence = ++sequence;
      totals.sent += step.size();
      if (Status st = client.SendBatch(batch.sequence, net::BuildIngestFrame(batch)); !st.ok()) {
        failure = st;
        break;
      }
    }
    const auto now = Clock::now();
    if (!quiet && now - last_report >= std::chrono::seconds(5)) {
      const double secs = std::chrono::duration<double>(now - last_report).count();
      std::printf(
          "meter-agent: sent %llu, accepted %llu, rejected %llu, %.0f samples/s, "
          "%zu batches in flight, lag %llds, reconnects %llu\n",
          static_cast<unsigned long long>(totals.sent),
          static_cast<unsigned long long>(totals.accepted),
          static_cast<unsigned long long>(totals.rejected),
          static_cast<double>(totals.accepted - last_report_acked) / secs, client.unacknowledged(),
          static_cast<long long>(std::max<int64_t>(0, UnixNow() - (fleet.now() - 1))),
          static_cast<unsigned long long>(client.reconnects()));
      std::fflush(stdout);
      last_report = now;
      last_report_acked = totals.accepted;
    }
  }
  if (failure.ok()) failure = client.Drain();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "meter-agent: done in %.1f s: sent %llu samples in %llu batches, accepted %llu, rejected "
      "%llu, duplicates %llu, reconnects %llu, %.0f samples/s%s%s\n",
      secs, static_cast<unsigned long long>(totals.sent), static_cast<unsigned long long>(sequence),
      static_cast<unsigned long long>(totals.accepted),
      static_cast<unsigned long long>(totals.rejected),
      static_cast<unsigned long long>(totals.duplicates),
      static_cast<unsigned long long>(client.reconnects()),
      static_cast<double>(totals.accepted) / std::max(secs, 1e-9),
      totals.first_rejection.empty() ? "" : "; first rejection: ", totals.first_rejection.c_str());
  if (!failure.ok()) {
    std::fprintf(stderr, "meter-agent: %s\n", failure.ToString().c_str());
    return 1;
  }
  return 0;
}
