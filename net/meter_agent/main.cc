// meterd — net/meter_agent/main.cc: the hypervisor agent.
//
//   meter-agent --libvirt URI [--samples-csv FILE] [--duration S] [server flags]
//   meter-agent --simulate N [--first-vm K] [--backlog S] [--duration S] [server flags]
//
// Streams per-second samples of the VMs on one hypervisor to meterd, from a SampleSource:
// libvirt (every domain of URI, e.g. qemu:///system; LibvirtSource) or the seeded fleet
// simulator (N VMs; SimSource). Before sending the samples of a VM it has not reported yet, the
// agent registers it as a resource (of its key's hypervisor) and defines its series; then it
// sends one batch per second, pipelined, with a sequence number; on a broken connection it
// reconnects and resends what was not acknowledged. --backlog S (simulator) starts S seconds in
// the past and sends that backlog as fast as the server takes it (an agent catching up after an
// outage), then continues in real time. --samples-csv writes every sample sent as
// resource,metric,timestamp,value (meterctl ingest's CSV), a record of what was read. SIGINT/
// SIGTERM stop it after every batch is acknowledged.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <unordered_map>

#include "net/client/client.h"
#include "net/meter_agent/libvirt_source.h"
#include "net/meter_agent/sim_source.h"

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
  std::string agent_name, libvirt_uri, samples_csv;
  bool quiet = false;
  CLI::App app{"meter-agent: streams a hypervisor's per-second VM samples to meterd"};
  app.add_option("--server", endpoint.server, "meterd HOST:PORT (default: $METER_SERVER)");
  app.add_option("--key", endpoint.key, "API key (default: $METER_KEY)");
  app.add_option("--key-file", endpoint.key_file, "file holding the API key");
  app.add_flag("--tls", endpoint.tls, "connect with TLS (the system's CAs)");
  app.add_option("--tls-ca", endpoint.tls_ca,
                 "connect with TLS, the server's certificate signed by this PEM CA");
  app.add_option("--tls-cert", endpoint.tls_cert, "TLS client certificate (PEM)");
  app.add_option("--tls-key", endpoint.tls_key, "TLS client key (PEM)");
  auto* libvirt = app.add_option("--libvirt", libvirt_uri,
                                 "read every domain of this libvirt URI (qemu:///system, ...)");
  auto* simulate = app.add_option("--simulate", vms, "simulate N VMs (the seeded fleet simulator)");
  libvirt->excludes(simulate);
  app.add_option("--samples-csv", samples_csv,
                 "also write every sample sent to this CSV file (resource,metric,timestamp,value)");
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
  if (libvirt_uri.empty() && vms == 0) {
    std::fprintf(stderr, "meter-agent: give --libvirt URI or --simulate N (N > 0)\n");
    return 2;
  }
  if (!libvirt_uri.empty() && backlog != 0) {
    std::fprintf(stderr, "meter-agent: --backlog is for --simulate (libvirt has no past)\n");
    return 2;
  }

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
                 : libvirt_uri.empty()              ? "sim-agent-" + std::to_string(first_vm)
                                                    : "libvirt-agent " + libvirt_uri;
  }

  std::unique_ptr<agent::SampleSource> source;
  agent::LibvirtSource* libvirt_source = nullptr;
  if (!libvirt_uri.empty()) {
    auto lv = std::make_unique<agent::LibvirtSource>(libvirt_uri);
    libvirt_source = lv.get();
    source = std::move(lv);
  } else {
    sim::FleetOptions fo;
    fo.seed = seed;
    fo.vms = vms;
    fo.first_vm = first_vm;
    fo.start_ts = UnixNow() - backlog;
    source = std::make_unique<agent::SimSource>(fo);
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> csv(nullptr, &std::fclose);
  if (!samples_csv.empty()) {
    csv.reset(std::fopen(samples_csv.c_str(), "w"));
    if (!csv) {
      std::fprintf(stderr, "meter-agent: cannot write %s: %s\n", samples_csv.c_str(),
                   std::strerror(errno));
      return 1;
    }
    std::fputs("resource,metric,timestamp,value\n", csv.get());
  }
  // The name of every series defined, by id, for --samples-csv.
  std::unordered_map<uint64_t, net::SeriesKey> names;
  // Registers and defines what the source reported new (idempotent on the server: a restarted
  // agent does it again). Resources first: on a hypervisor a VM migrated to, this report moves
  // the VM (and the right to send its series) here first.
  auto announce = [&](const agent::NewEntities& added) -> Status {
    if (!added.resources.empty()) {
      auto r = client.RegisterResources(added.resources);
      if (!r.ok()) return r.status();
      if (r.value().refused > 0) {
        return Status::InvalidArgument("registering VMs failed: " +
                                       r.value().refusals.at(0).message);
      }
    }
    for (size_t i = 0; i < added.series.size(); i += 4096) {
      std::vector<net::SeriesKey> chunk(
          added.series.begin() + i, added.series.begin() + std::min(added.series.size(), i + 4096));
      auto d = client.DefineSeries(chunk);
      if (!d.ok()) return d.status();
      if (d.value().refused > 0) {
        return Status::InvalidArgument("defining series failed: " +
                                       d.value().refusals.at(0).message);
      }
    }
    for (const auto& k : added.series) names[net::SeriesIdOf(k.resource, k.metric)] = k;
    return Status::OK();
  };
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
    std::printf("meter-agent: %s, agent \"%s\", from %lld%s\n",
                libvirt_uri.empty() ? ("simulating " + std::to_string(vms) + " VMs").c_str()
                                    : ("libvirt " + libvirt_uri).c_str(),
                agent_name.c_str(), static_cast<long long>(source->next()),
                backlog ? " (catching up)" : "");
    std::fflush(stdout);
  }

  const auto t0 = Clock::now();
  auto last_report = t0;
  uint64_t last_report_acked = 0;
  storage::SampleBatch step;
  agent::NewEntities added;
  std::string last_source_error;
  net::IngestBatchData batch;
  batch.agent = agent_name;
  uint64_t sequence = 0;
  Status failure;
  while (!g_stop.load()) {
    const auto elapsed = Clock::now() - t0;
    if (duration > 0 && elapsed >= std::chrono::seconds(duration)) break;
    // Gather every second that is due (several while catching up), up to the batch cap.
    step.Clear();
    added.clear();
    while (source->next() <= UnixNow() && step.size() < batch_samples) {
      if (Status st = source->Collect(&step, &added); !st.ok()) {
        // libvirt away (restarting): nothing for this second; said once per distinct error.
        if (st.ToString() != last_source_error) {
          last_source_error = st.ToString();
          std::fprintf(stderr, "meter-agent: %s (trying again every second)\n",
                       last_source_error.c_str());
        }
        break;
      }
      last_source_error.clear();
    }
    if (!added.empty()) {
      if (Status st = announce(added); !st.ok()) {
        failure = st;
        break;
      }
    }
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
      if (csv) {
        for (size_t i = 0; i < step.size(); ++i) {
          const net::SeriesKey& k = names[step.series()[i]];
          std::fprintf(csv.get(), "%s,%s,%lld,%llu\n", k.resource.c_str(), k.metric.c_str(),
                       static_cast<long long>(step.timestamps()[i]),
                       static_cast<unsigned long long>(step.values()[i]));
        }
      }
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
          static_cast<long long>(std::max<int64_t>(0, UnixNow() - (source->next() - 1))),
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
  if (libvirt_source != nullptr && !quiet) {
    const agent::TrackerStats& ts = libvirt_source->stats();
    std::printf("meter-agent: libvirt: domains appeared %llu, disappeared %llu, restarts %llu\n",
                static_cast<unsigned long long>(ts.appeared),
                static_cast<unsigned long long>(ts.disappeared),
                static_cast<unsigned long long>(ts.restarts));
  }
  if (!failure.ok()) {
    std::fprintf(stderr, "meter-agent: %s\n", failure.ToString().c_str());
    return 1;
  }
  return 0;
}
