// meterd — bench/meter_bench/ingest_workload.cc
#include "bench/meter_bench/ingest_workload.h"
#include "bench/meter_bench/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "net/client/client.h"
#include "net/protocol/messages.h"
#include "sim/fleet_sim.h"

extern char** environ;

namespace meterd::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Agent {
  std::unique_ptr<net::Client> client;
  std::vector<std::vector<uint8_t>> frames;
  std::vector<uint32_t> frame_samples;
  size_t next = 0;   // next frame to send
  size_t acked = 0;  // frames acknowledged
  double phase = 0;  // seconds into each second (1x rate)
};

// The server's count of late samples since its start (StatsReply.rollup_late_samples).
Result<uint64_t> IngestLateSamplesSoFar(net::Client* admin) {
  flatbuffers::FlatBufferBuilder fbb(64);
  const uint64_t id = admin->NextRequestId();
  METERD_ASSIGN_OR_RETURN(
      auto bytes, admin->Call(net::FinishFrame(fbb, wire::CreateStatsRequest(fbb, id)), id));
  const auto* stats = wire::GetEnvelope(bytes.data())->message_as_StatsReply();
  if (!stats) return Status::Corruption("StatsRequest was not answered with StatsReply");
  return stats->rollup_late_samples();
}

}  // namespace

Status RunIngestWorkload(const IngestWorkloadOptions& o, IngestWorkloadResult* r) {
  ServerProcess server;
  net::ClientOptions base;
  base.max_in_flight = o.window;
  base.client_name = "meter-bench";
  net::ClientOptions admin_options = base;
  const bool external = !o.endpoint.server.empty();
  pid_t pid = o.server_pid;
  // A running server keeps what earlier runs sent: this run's hypervisors and VMs get names of
  // their own so that nothing is refused as another's series or deduplicated as a resend.
  uint64_t run_id = 0;
  const bool backlog = o.backlog_crosses_hour && o.rate <= 0;
  if (backlog && external) {
    return Status::InvalidArgument(
        "--backlog-crosses-hour sets the grace of the meterd it starts: "
        "not with --server");
  }
  if (backlog && (o.seconds < 2 || o.seconds > 2 * 3600)) {
    return Status::InvalidArgument("--backlog-crosses-hour needs 2 <= --seconds <= 7200");
  }
  // The backlog's placement (ingest_workload.h): the previous hour's start, and the grace that
  // closes the hour before it and keeps it open for 30 minutes more.
  const int64_t run_start = UnixNow();
  const int64_t previous_hour = run_start - run_start % 3600 - 3600;
  const int64_t backlog_grace = run_start % 3600 + 1800;
  if (external) {
    METERD_RETURN_IF_ERROR(net::ResolveEndpoint(o.endpoint, &admin_options));
    run_id = 1 + static_cast<uint64_t>(UnixNow()) % 100000;
  } else {
    std::vector<std::string> args = {"--max-in-flight", "1024", "--io-threads",
                                     std::to_string(o.server_io_threads)};
    // Max rate replays the last S seconds. With the default grace, the part of them in hours
    // that closed more than 10 minutes ago would take the late-data path, so the figure would
    // depend on the minute of the hour the run starts at: keep every replayed hour open (the
    // on-time path is what this measures). An explicit --grace in --meterd-arg wins.
    const bool grace_given =
        std::find(o.meterd_args.begin(), o.meterd_args.end(), "--grace") != o.meterd_args.end();
    if (o.rate <= 0 && !grace_given) {
      r->grace_seconds = backlog ? backlog_grace : o.seconds + 2 * 3600;
      args.push_back("--grace");
      args.push_back(std::to_string(r->grace_seconds));
    }
    args.insert(args.end(), o.meterd_args.begin(), o.meterd_args.end());
    METERD_RETURN_IF_ERROR(server.Start(o.meterd_path, o.dir, args));
    admin_options.port = server.port();
    admin_options.api_key = server.admin_key();
    pid = server.pid();
  }
  base.host = admin_options.host;
  base.port = admin_options.port;
  // One agent key per hypervisor, created by the admin.
  net::Client admin(admin_options);
  METERD_RETURN_IF_ERROR(admin.Connect());
  std::vector<Agent> agents(o.agents);
  const int64_t batch_seconds = o.rate > 0 ? 1 : std::max<int64_t>(1, o.seconds_per_batch);
  // Max rate replays the last S seconds (timestamps must not be in the future); 1x starts now.
  const int64_t start_ts = o.rate > 0 ? UnixNow()
                           : backlog  ? previous_hour - o.seconds / 2
                                      : UnixNow() - o.seconds;
  r->first_ts = start_ts;
  if (o.progress) {
    std::fprintf(stderr, "[ingest] setting up %zu agents (keys, series, frames)...\n", o.agents);
  }
  for (size_t a = 0; a < o.agents; ++a) {
    flatbuffers::FlatBufferBuilder fbb(256);
    const uint64_t id = admin.NextRequestId();
    char hv[48];
    std::snprintf(hv, sizeof(hv), "hv-%llu-%05zu", static_cast<unsigned long long>(run_id), a);
    METERD_ASSIGN_OR_RETURN(
        auto bytes,
        admin.Call(net::FinishFrame(
                       fbb, wire::CreateCreateKey(fbb, id, wire::Role::Agent, fbb.CreateString(hv),
                                                  fbb.CreateString("meter-bench"))),
                   id));
    const auto* created = wire::GetEnvelope(bytes.data())->message_as_KeyCreated();
    if (!created) return Status::Corruption("CreateKey was not answered with KeyCreated");
    net::ClientOptions co = base;
    co.api_key = std::string(net::View(created->key()));
    agents[a].client = std::make_unique<net::Client>(co);
    agents[a].phase = static_cast<double>(a) / static_cast<double>(o.agents);
  }

  // Each agent connects, defines its series and pre-builds its frames, in parallel.
  std::atomic<size_t> next_agent{0};
  std::mutex error_mu;
  Status setup_error;
  auto setup = [&] {
    for (size_t a; (a = next_agent.fetch_add(1)) < o.agents;) {
      Agent& ag = agents[a];
      Status st = ag.client->Connect();
      sim::FleetOptions fo;
      fo.seed = o.seed + a;
      fo.vms = o.vms_per_agent;
      fo.first_vm = run_id * 10000000 + a * o.vms_per_agent;
      fo.start_ts = start_ts;
      sim::FleetSimulator fleet(fo);
      std::vector<net::SeriesKey> keys;
      for (size_t v = 0; v < o.vms_per_agent; ++v) {
        const std::string k = sim::SeriesKey(fo.first_vm + v, 0);
        for (size_t m = 0; m < sim::kMetricsPerVm; ++m) {
          keys.push_back({k.substr(0, k.find('|')), sim::kVmMetrics[m].name});
        }
      }
      if (st.ok()) {
        auto d = ag.client->DefineSeries(keys);
        st = !d.ok() ? d.status()
             : d.value().refused
                 ? Status::PermissionDenied("series refused: " + d.value().refusals[0].message)
                 : Status::OK();
      }
      if (!st.ok()) {
        std::lock_guard lock(error_mu);
        setup_error = st;
        return;
      }
      storage::SampleBatch step;
      net::IngestBatchData batch;
      for (int64_t s = 0; s < o.seconds; s += batch_seconds) {
        step.Clear();
        for (int64_t k = 0; k < batch_seconds && s + k < o.seconds; ++k) fleet.Step(&step);
        batch.sequence = ag.frames.size() + 1;
        batch.base_time = step.timestamps().empty() ? fleet.now() : step.timestamps().front();
        batch.series = step.series();
        batch.values = step.values();
        batch.offsets.resize(step.size());
        for (size_t i = 0; i < step.size(); ++i) {
          batch.offsets[i] = static_cast<uint32_t>(step.timestamps()[i] - batch.base_time);
        }
        ag.frames.push_back(net::BuildIngestFrame(batch));
        ag.frame_samples.push_back(static_cast<uint32_t>(step.size()));
      }
    }
  };
  {
    std::vector<std::thread> threads;
    for (size_t t = 0; t < std::max<size_t>(1, o.client_threads); ++t) threads.emplace_back(setup);
    for (auto& t : threads) t.join();
  }
  METERD_RETURN_IF_ERROR(setup_error);
  for (const Agent& ag : agents) {
    for (size_t i = 0; i < ag.frames.size(); ++i) {
      r->samples += ag.frame_samples[i];
      r->frame_bytes += ag.frames[i].size();
    }
    r->batches += ag.frames.size();
  }

  METERD_ASSIGN_OR_RETURN(const uint64_t late_before, IngestLateSamplesSoFar(&admin));

  // --- timed phase ---
  std::vector<std::vector<double>> latencies(o.client_threads);
  std::atomic<uint64_t> acked_samples{0}, accepted{0}, rejected{0};
  std::atomic<bool> failed{false};
  Status run_error;
  const double server_cpu0 = pid > 0 ? ProcessCpuSeconds(pid) : 0;
  const double client_cpu0 = SelfCpuSeconds();
  const auto t0 = Clock::now();
  auto run = [&](size_t thread) {
    std::vector<Agent*> mine;
    for (size_t a = thread; a < agents.size(); a += o.client_threads) mine.push_back(&agents[a]);
    auto& lat = latencies[thread];
    for (Agent* ag : mine) {
      ag->client->set_ack_callback([&, ag](const net::IngestAckInfo& ack) {
        lat.push_back(std::chrono::duration<double, std::milli>(ack.latency).count());
        acked_samples.fetch_add(ag->frame_samples[ack.sequence - 1], std::memory_order_relaxed);
        accepted.fetch_add(ack.accepted, std::memory_order_relaxed);
        rejected.fetch_add(ack.rejected, std::memory_order_relaxed);
        ++ag->acked;
      });
    }
    std::vector<pollfd> fds(mine.size());
    size_t done = 0;
    while (done < mine.size() && !failed.load()) {
      const auto now = Clock::now();
      const double elapsed = std::chrono::duration<double>(now - t0).count();
      double next_due = 1e18;
      done = 0;
      for (size_t i = 0; i < mine.size(); ++i) {
        Agent* ag = mine[i];
        while (ag->next < ag->frames.size() && ag->client->unacknowledged() < o.window) {
          if (o.rate > 0) {
            const double due = (static_cast<double>(ag->next) + ag->phase) / o.rate;
            if (due > elapsed) {
              next_due = std::min(next_due, due);
              break;
            }
          }
          const uint64_t seq = ag->next + 1;
          Status st = ag->client->SendBatch(seq, ag->frames[ag->next]);
          if (!st.ok()) {
            std::lock_guard lock(error_mu);
            run_error = st;
            failed = true;
            return;
          }
          ++ag->next;
        }
        if (ag->next == ag->frames.size() && ag->acked == ag->frames.size()) ++done;
        fds[i] = pollfd{ag->client->fd(), POLLIN, 0};
      }
      int timeout_ms = 1;
      if (o.rate > 0 && next_due < 1e17) {
        timeout_ms = std::clamp(static_cast<int>((next_due - elapsed) * 1000), 0, 50);
      }
      if (::poll(fds.data(), fds.size(), timeout_ms) > 0) {
        for (size_t i = 0; i < mine.size(); ++i) {
          if (!(fds[i].revents & (POLLIN | POLLERR | POLLHUP))) continue;
          Status st = mine[i]->client->WaitForAcks(std::chrono::milliseconds(0));
          if (!st.ok()) {
            std::lock_guard lock(error_mu);
            run_error = st;
            failed = true;
            return;
          }
        }
      }
    }
  };
  std::atomic<bool> finished{false};
  std::thread progress([&] {
    uint64_t last = 0;
    auto last_t = Clock::now();
    while (!finished.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const auto now = Clock::now();
      if (o.progress && now - last_t >= std::chrono::seconds(1)) {
        const uint64_t cur = acked_samples.load();
        std::fprintf(
            stderr, "[ingest] %6.1f s  %8.2f M samples acknowledged  %6.2f M/s  rss %llu MiB\n",
            std::chrono::duration<double>(now - t0).count(), static_cast<double>(cur) / 1e6,
            static_cast<double>(cur - last) / 1e6 /
                std::chrono::duration<double>(now - last_t).count(),
            static_cast<unsigned long long>(pid > 0 ? ProcessStatusKiB(pid, "VmRSS:") / 1024 : 0));
        last = cur;
        last_t = now;
      }
    }
  });
  {
    std::vector<std::thread> threads;
    for (size_t t = 0; t < o.client_threads; ++t) threads.emplace_back(run, t);
    for (auto& t : threads) t.join();
  }
  r->seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  finished = true;
  progress.join();
  METERD_RETURN_IF_ERROR(run_error);
  r->server_cpu_s = pid > 0 ? ProcessCpuSeconds(pid) - server_cpu0 : -1;
  r->client_cpu_s = SelfCpuSeconds() - client_cpu0;
  r->server_peak_rss = pid > 0 ? ProcessStatusKiB(pid, "VmHWM:") * 1024 : 0;
  r->accepted = accepted.load();
  r->rejected = rejected.load();
  for (const Agent& ag : agents) r->reconnects += ag.client->reconnects();

  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    if (all.empty()) return 0.0;
    return all[std::min(all.size() - 1, static_cast<size_t>(p * static_cast<double>(all.size())))];
  };
  r->p50_ms = pct(0.50);
  r->p99_ms = pct(0.99);
  r->p999_ms = pct(0.999);
  r->max_ms = all.empty() ? 0 : all.back();

  // Every batch is acknowledged, so the server has applied them all to its rollups (an
  // acknowledgement follows the append and the rollup's apply).
  METERD_ASSIGN_OR_RETURN(const uint64_t late_after, IngestLateSamplesSoFar(&admin));
  r->late_samples = static_cast<int64_t>(late_after - late_before);
  r->live_samples = static_cast<int64_t>(r->accepted) - r->late_samples;

  for (Agent& ag : agents) ag.client->Close();
  admin.Close();
  if (!external) {
    r->shutdown_seconds = server.Stop();
    r->disk_bytes = DirBytes(o.dir + "/store/segments");
  }
  return Status::OK();
}

}  // namespace meterd::bench
