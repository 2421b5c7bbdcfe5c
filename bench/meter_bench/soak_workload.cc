// meterd — bench/meter_bench/soak_workload.cc
#include "bench/meter_bench/soak_workload.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "bench/meter_bench/server_process.h"
#include "net/client/client.h"
#include "net/protocol/messages.h"
#include "storage/base/clock.h"

namespace meterd::bench {
namespace {

using SoakClock = std::chrono::steady_clock;

constexpr const char* kSoakMetric = "vm.cpu_time_ns";  // a counter: values grow with time

// The admin connection the soak defines its series and reads its export with.
net::ClientOptions SoakAdminOptions(const ServerProcess& server) {
  net::ClientOptions co;
  co.port = server.port();
  co.api_key = server.admin_key();
  co.client_name = "meter-bench-soak";
  return co;
}

// The value series `s` has at second `ts`: grows with ts (a counter never decreases), and tells
// the series and second apart, so a sample moved to another series or second is caught.
uint64_t SoakValueAt(size_t s, int64_t ts) {
  return static_cast<uint64_t>(ts) * 65536 + static_cast<uint64_t>(s);
}

double SoakSecondsSince(SoakClock::time_point t) {
  return std::chrono::duration<double>(SoakClock::now() - t).count();
}

// One agent's stream in one cycle.
struct SoakStream {
  std::vector<uint8_t> acked;  // by sequence (1-based): 1 when acknowledged
  uint64_t sent = 0;           // batches sent (sequences 1..sent)
  uint64_t partial_acks = 0;
  bool ran_out = false;  // sent its whole range before the kill
};

}  // namespace

Status RunSoakWorkload(const SoakWorkloadOptions& o, SoakWorkloadResult* result) {
  *result = SoakWorkloadResult{};
  if (o.cycles == 0 || o.agents == 0 || o.series_per_agent == 0 || o.seconds_per_batch <= 0 ||
      o.kill_every_s <= 0 || o.retention_days < 3) {
    return Status::InvalidArgument(
        "soak: cycles, agents, series, batch seconds and --kill-every must be positive, "
        "retention at least 3 days");
  }
  const auto wall_start = SoakClock::now();
  const size_t series_total = o.agents * o.series_per_agent;
  if (series_total > 65535) return Status::InvalidArgument("soak: at most 65,535 series");
  // The cycles' ranges: from (retention - 1) days ago to a day ago, one slice each.
  const int64_t now = base::UnixSecondsNow();
  const int64_t days = o.retention_days;
  const int64_t base = (now - (days - 1) * 86400) / 3600 * 3600;
  const int64_t span = (days - 2) * 86400 / static_cast<int64_t>(o.cycles);
  const uint64_t batches_per_cycle = static_cast<uint64_t>(span / o.seconds_per_batch);
  if (batches_per_cycle < 2) {
    return Status::InvalidArgument("soak: too many cycles for the retention: each needs at least " +
                                   std::to_string(2 * o.seconds_per_batch) + " s of timestamps");
  }
  std::vector<std::string> args = {"--retention-days", std::to_string(o.retention_days),
                                   "--max-in-flight", "1024"};
  args.insert(args.end(), o.meterd_args.begin(), o.meterd_args.end());

  ServerProcess server;
  server.set_start_timeout(std::chrono::seconds(o.start_timeout_s));
  METERD_RETURN_IF_ERROR(server.Start(o.meterd_path, o.dir, args, /*fresh=*/true));
  std::vector<std::string> resources(series_total);
  std::vector<uint64_t> ids(series_total);
  {
    net::Client admin(SoakAdminOptions(server));
    METERD_RETURN_IF_ERROR(admin.Connect());
    std::vector<net::SeriesKey> keys;
    for (size_t s = 0; s < series_total; ++s) {
      resources[s] = "soak-" + std::to_string(s);
      ids[s] = net::SeriesIdOf(resources[s], kSoakMetric);
      keys.push_back({resources[s], kSoakMetric});
    }
    auto d = admin.DefineSeries(keys);
    if (!d.ok()) return d.status();
    if (d.value().refused) {
      return Status::InvalidArgument("soak: series refused: " + d.value().refusals[0].message);
    }
  }

  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  // Per cycle: how often each (series, second) was exported.
  std::vector<uint8_t> seen(series_total * static_cast<size_t>(span));
  for (size_t cycle = 0; cycle < o.cycles; ++cycle) {
    const int64_t from = base + static_cast<int64_t>(cycle) * span;
    std::vector<SoakStream> streams(o.agents);
    std::atomic<bool> killed{false};
    auto stream = [&](size_t a) {
      SoakStream& st = streams[a];
      st.acked.assign(batches_per_cycle + 1, 0);
      net::ClientOptions co = SoakAdminOptions(server);
      co.max_in_flight = o.window;
      co.reconnect_attempts = 0;  // a killed server ends the cycle's stream
      net::Client client(co);
      if (!client.Connect().ok()) return;
      const uint32_t whole = static_cast<uint32_t>(o.series_per_agent * o.seconds_per_batch);
      client.set_ack_callback([&](const net::IngestAckInfo& ack) {
        if (ack.sequence == 0 || ack.sequence > batches_per_cycle) return;
        if (ack.accepted == whole && !ack.duplicate) {
          st.acked[ack.sequence] = 1;
        } else {
          ++st.partial_acks;
        }
      });
      net::IngestBatchData b;
      b.agent = "soak-c" + std::to_string(cycle) + "-a" + std::to_string(a);
      const size_t first = a * o.series_per_agent;
      for (uint64_t seq = 1; seq <= batches_per_cycle && !killed.load(); ++seq) {
        b.sequence = seq;
        b.base_time = from + static_cast<int64_t>(seq - 1) * o.seconds_per_batch;
        b.series.clear();
        b.offsets.clear();
        b.values.clear();
        for (int64_t k = 0; k < o.seconds_per_batch; ++k) {
          for (size_t i = 0; i < o.series_per_agent; ++i) {
            b.series.push_back(ids[first + i]);
            b.offsets.push_back(static_cast<uint32_t>(k));
            b.values.push_back(SoakValueAt(first + i, b.base_time + k));
          }
        }
        if (!client.SendBatch(seq, net::BuildIngestFrame(b)).ok()) break;
        st.sent = seq;
        if (seq == batches_per_cycle) st.ran_out = true;
      }
      // Collect what the server acknowledges before the kill (it never answers after it).
      while (!killed.load() && client.connected() && client.unacknowledged() > 0) {
        if (!client.WaitForAcks(std::chrono::milliseconds(50)).ok()) break;
      }
      if (client.connected()) (void)client.WaitForAcks(std::chrono::milliseconds(50));
    };
    const auto t0 = SoakClock::now();
    std::vector<std::thread> threads;
    for (size_t a = 0; a < o.agents; ++a) threads.emplace_back(stream, a);
    const double delay = o.kill_every_s * jitter(rng);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    server.Kill();  // SIGKILL, then waitpid
    killed.store(true);
    for (auto& t : threads) t.join();
    result->ingest_seconds += SoakSecondsSince(t0);
    bool all_streaming = true;
    for (const SoakStream& st : streams) all_streaming = all_streaming && !st.ran_out;
    result->kills_mid_stream += all_streaming ? 1 : 0;

    const auto r0 = SoakClock::now();
    METERD_RETURN_IF_ERROR(server.Start(o.meterd_path, o.dir, args, /*fresh=*/false));
    const double restart = SoakSecondsSince(r0);
    result->restart_seconds_sum += restart;
    result->restart_seconds_max = std::max(result->restart_seconds_max, restart);

    // The check: this cycle's range, exported from the restarted server.
    std::fill(seen.begin(), seen.end(), 0);
    uint64_t present = 0, unsent = 0, twice = 0;
    {
      net::Client admin(SoakAdminOptions(server));
      METERD_RETURN_IF_ERROR(admin.Connect());
      Status st =
          admin.Export(from, from + span, "", kSoakMetric, [&](const wire::ExportChunk& chunk) {
            if (!chunk.series()) return;
            for (const auto* es : *chunk.series()) {
              const std::string_view res = net::View(es->resource());
              size_t s = series_total;
              if (res.substr(0, 5) == "soak-")
                s = std::strtoull(std::string(res.substr(5)).c_str(), nullptr, 10);
              for (size_t i = 0; i < es->timestamps()->size(); ++i) {
                ++present;
                const int64_t ts = es->timestamps()->Get(i);
                if (s >= series_total || ts < from || ts >= from + span ||
                    es->values()->Get(i) != SoakValueAt(s, ts)) {
                  ++unsent;
                  continue;
                }
                // Sent at all? Its agent's batches 1..sent cover [from, from + sent * bs).
                const size_t agent = s / o.series_per_agent;
                if (ts >= from + static_cast<int64_t>(streams[agent].sent) * o.seconds_per_batch) {
                  ++unsent;
                  continue;
                }
                uint8_t& n = seen[s * static_cast<size_t>(span) + static_cast<size_t>(ts - from)];
                if (n > 0) ++twice;
                n = static_cast<uint8_t>(std::min(n + 1, 255));
              }
            }
          });
      METERD_RETURN_IF_ERROR(st);
    }
    uint64_t lost = 0, acked_batches = 0, sent = 0, partial = 0;
    for (size_t a = 0; a < o.agents; ++a) {
      const SoakStream& st = streams[a];
      sent += st.sent;
      partial += st.partial_acks;
      for (uint64_t seq = 1; seq <= batches_per_cycle; ++seq) {
        if (!st.acked[seq]) continue;
        ++acked_batches;
        const int64_t t = static_cast<int64_t>(seq - 1) * o.seconds_per_batch;
        for (int64_t k = 0; k < o.seconds_per_batch; ++k) {
          for (size_t i = 0; i < o.series_per_agent; ++i) {
            const size_t s = a * o.series_per_agent + i;
            if (seen[s * static_cast<size_t>(span) + static_cast<size_t>(t + k)] == 0) ++lost;
          }
        }
      }
    }
    result->cycles = cycle + 1;
    result->batches_sent += sent;
    result->batches_acked += acked_batches;
    result->samples_acked +=
        acked_batches * o.series_per_agent * static_cast<uint64_t>(o.seconds_per_batch);
    result->samples_present += present;
    result->lost += lost;
    result->twice += twice;
    result->unsent += unsent;
    result->partial_acks += partial;
    if (lost || twice || unsent) {
      std::fprintf(stderr,
                   "[soak] cycle %zu: %llu lost, %llu twice, %llu unsent (range [%lld, %lld))\n",
                   cycle, static_cast<unsigned long long>(lost),
                   static_cast<unsigned long long>(twice), static_cast<unsigned long long>(unsent),
                   static_cast<long long>(from), static_cast<long long>(from) + span);
    }
    if (o.progress_every && (cycle + 1) % o.progress_every == 0) {
      std::fprintf(stderr,
                   "[soak] %zu/%zu cycles, %.0f s: %llu samples acknowledged, %llu lost, %llu "
                   "twice, %llu unsent\n",
                   cycle + 1, o.cycles, SoakSecondsSince(wall_start),
                   static_cast<unsigned long long>(result->samples_acked),
                   static_cast<unsigned long long>(result->lost),
                   static_cast<unsigned long long>(result->twice),
                   static_cast<unsigned long long>(result->unsent));
    }
  }
  server.Stop();
  result->wall_seconds = SoakSecondsSince(wall_start);
  return Status::OK();
}

}  // namespace meterd::bench
