// meterd — engine/service/meter_service_metrics.cc: /metrics (Prometheus text format 0.0.4).
//
// Names follow Prometheus' conventions: base units (seconds, bytes), `_total` on counters,
// `meterd_` on meterd's own and the standard `process_` names for the process.
#include <sys/resource.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "engine/service/meter_service.h"
#include "engine/service/process_stats.h"

namespace meterd::engine {

namespace {

// One metric family: HELP and TYPE lines, then its samples (AddSample).
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  void Family(const char* name, const char* type, const char* help) {
    *out_ += "# HELP ";
    *out_ += name;
    *out_ += ' ';
    *out_ += help;
    *out_ += "\n# TYPE ";
    *out_ += name;
    *out_ += ' ';
    *out_ += type;
    *out_ += '\n';
  }
  void Sample(const char* name, const std::string& labels, double value) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", value);
    Line(name, labels, buf);
  }
  void Sample(const char* name, const std::string& labels, uint64_t value) {
    Line(name, labels, std::to_string(value));
  }
  void Sample(const char* name, const std::string& labels, int64_t value) {
    Line(name, labels, std::to_string(value));
  }
  // A family with one unlabelled sample.
  template <typename T>
  void One(const char* name, const char* type, const char* help, T value) {
    Family(name, type, help);
    Sample(name, "", value);
  }

 private:
  void Line(const char* name, const std::string& labels, const std::string& value) {
    *out_ += name;
    if (!labels.empty()) {
      *out_ += '{';
      *out_ += labels;
      *out_ += '}';
    }
    *out_ += ' ';
    *out_ += value;
    *out_ += '\n';
  }
  std::string* out_;
};

// The process' start in unix seconds: boot time (/proc/stat btime) plus the process' start in
// clock ticks after boot (/proc/self/stat field 22). 0 when /proc cannot tell.
double ProcessStartTime() {
  long long btime = 0;
  if (FILE* f = std::fopen("/proc/stat", "r")) {
    char line[256];
    while (std::fgets(line, sizeof(line), f)) {
      if (std::sscanf(line, "btime %lld", &btime) == 1) break;
    }
    std::fclose(f);
  }
  unsigned long long start_ticks = 0;
  if (FILE* f = std::fopen("/proc/self/stat", "r")) {
    char buf[1024];
    const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // Fields after the command name (which may hold spaces) start after its closing ')'.
    const char* p = std::strrchr(buf, ')');
    if (p != nullptr) {
      // Field 3 (state) onwards; starttime is field 22, the 20th after ')'.
      int field = 2;
      for (const char* q = p + 1; *q != '\0'; ++q) {
        if (*q == ' ' && ++field == 22) {
          start_ticks = std::strtoull(q + 1, nullptr, 10);
          break;
        }
      }
    }
  }
  if (btime == 0) return 0;
  return static_cast<double>(btime) +
         static_cast<double>(start_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

uint64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long pages = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &pages, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

void LatencyHistogram::AppendPrometheus(const std::string& name, const std::string& help,
                                        std::string* out) const {
  const Snapshot s = Read();
  Writer w(out);
  w.Family(name.c_str(), "histogram", help.c_str());
  const std::string bucket = name + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += s.buckets[i];
    char le[32];
    std::snprintf(le, sizeof(le), "le=\"%g\"", kBounds[i]);
    w.Sample(bucket.c_str(), le, cumulative);
  }
  cumulative += s.buckets[kBounds.size()];
  // The +Inf bucket and _count are the same reading, so a scrape is always self-consistent.
  w.Sample(bucket.c_str(), "le=\"+Inf\"", cumulative);
  w.Sample((name + "_sum").c_str(), "", static_cast<double>(s.sum_ns) / 1e9);
  w.Sample((name + "_count").c_str(), "", cumulative);
}

std::string MeterService::PrometheusMetrics() {
  std::string out;
  out.reserve(8192);
  Writer w(&out);

  const IngestCounters ic = parts_.ingest->counters();
  w.One("meterd_ingest_samples_accepted_total", "counter", "Samples accepted since start.",
        ic.accepted);
  w.Family("meterd_ingest_samples_rejected_total", "counter",
           "Samples refused since start, by reason (the rest of their batch is kept).");
  for (size_t i = 0; i < kRejectReasons; ++i) {
    w.Sample("meterd_ingest_samples_rejected_total",
             std::string("reason=\"") + RejectReasonName(static_cast<RejectReason>(i)) + "\"",
             ic.rejected_by_reason[i]);
  }
  w.One("meterd_ingest_batches_total", "counter", "Ingest batches processed since start.",
        ic.batches);
  w.One("meterd_ingest_duplicate_batches_total", "counter",
        "Batches resent after a reconnect and acknowledged without storing them again.",
        ic.duplicate_batches);
  w.One("meterd_ingest_samples_per_second", "gauge",
        "Samples accepted per second over the last few seconds.", ingest_rate());
  ack_latency_.AppendPrometheus(
      "meterd_ingest_ack_latency_seconds",
      "Time from reading an ingest batch to sending its acknowledgement (after the WAL sync).",
      &out);
  if (parts_.wal_sync_latency != nullptr) {
    parts_.wal_sync_latency->AppendPrometheus(
        "meterd_wal_sync_seconds",
        "Time of one WAL group write and its fdatasync (one sync acknowledges every batch in "
        "its group).",
        &out);
  }

  const storage::StoreStats st = parts_.store->stats();
  w.One("meterd_head_memory_bytes", "gauge", "Memory of the in-memory head (live and flushing).",
        st.head_memory_bytes);
  w.One("meterd_head_samples", "gauge", "Samples in the in-memory head.", st.head_samples);
  w.One("meterd_stored_samples", "gauge", "Samples stored (segments and head).",
        st.segment_samples + st.head_samples);
  w.One("meterd_segments", "gauge", "Segment files.", st.segments);
  w.One("meterd_segment_bytes", "gauge", "Bytes of segment files.", st.segment_bytes);
  w.One("meterd_wal_bytes", "gauge", "Bytes of write-ahead log files on disk.", st.wal_bytes);
  w.One("meterd_head_flushes_total", "counter", "Head flushes into segments since start.",
        st.flushes);
  w.One("meterd_quarantined_blocks", "gauge", "Damaged blocks quarantined and not served.",
        st.quarantined_blocks);
  w.One("meterd_series", "gauge", "Series defined.", static_cast<uint64_t>(parts_.series->size()));
  if (parts_.hosts != nullptr) {
    w.One("meterd_resources_reported", "gauge", "Resources agents or admins registered.",
          static_cast<uint64_t>(parts_.hosts->size()));
  }

  const net::ServerStats ss = server_stats_ ? server_stats_() : net::ServerStats{};
  w.One("meterd_connections", "gauge", "Open connections on the binary protocol port.",
        ss.connections);
  w.One("meterd_connections_accepted_total", "counter",
        "Connections accepted on the binary protocol port since start.", ss.accepted_total);
  w.One("meterd_connections_refused_total", "counter",
        "Connections refused at the connection limit since start.", ss.refused_connections);
  w.One("meterd_malformed_frames_total", "counter",
        "Frames that failed verification (their connection was closed).", ss.malformed_frames);
  w.One("meterd_buffered_request_bytes", "gauge",
        "Request bytes read and not answered yet, all connections (flow control).",
        ss.buffered_bytes);

  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (parts_.downsampler != nullptr) {
    const DownsampleStats ds = parts_.downsampler->stats();
    w.One("meterd_rollup_sealed_before_timestamp_seconds", "gauge",
          "Hours before this unix second are sealed into rollup files.", ds.sealed_before);
    w.One("meterd_rollup_lag_seconds", "gauge",
          "Wall clock minus the sealed watermark: an hour plus the grace period when rollups "
          "keep up.",
          ds.sealed_before > 0 ? now - ds.sealed_before : int64_t{0});
    w.One("meterd_rollup_open_buckets", "gauge", "Hourly buckets still open.", ds.open_buckets);
    w.One("meterd_rollup_revisions_total", "counter",
          "Rollup revisions written (late data after sealing).", ds.revisions);
    w.One("meterd_rollup_late_samples_total", "counter", "Samples that arrived after their hour.",
          ds.late_samples);
    w.One("meterd_rollup_files", "gauge", "Rollup files (months and hour parts).",
          ds.files.month_files + ds.files.part_files);
    w.One("meterd_rollup_bytes", "gauge", "Bytes of rollup files.", ds.files.bytes);
    w.One("meterd_rollup_last_seal_seconds", "gauge", "Wall time of the last hour sealed.",
          ds.last_seal_seconds);
  }

  rating_latency_.AppendPrometheus("meterd_rating_seconds",
                                   "Rating time of charges and re-rate requests.", &out);
  if (parts_.clock != nullptr) {
    const billing::ClockStats clock = parts_.clock->stats();
    w.One("meterd_billing_hours_booked_total", "counter",
          "Hours the billing clock debited since start.", clock.hours_booked);
    w.One("meterd_billing_next_hour_timestamp_seconds", "gauge",
          "The next hour the billing clock debits (0 before the first).",
          clock.next_hour.value_or(0));
    w.One("meterd_billing_last_hour_seconds", "gauge",
          "Wall time of the last hour the billing clock booked (rating and booking).",
          clock.last_hour_ms / 1e3);
    w.One("meterd_billing_last_rate_seconds", "gauge", "Of the last hour booked: the rating time.",
          clock.last_rate_ms / 1e3);
    w.One("meterd_billing_clock_waiting", "gauge",
          "1 when the billing clock's last attempt booked nothing because of an error.",
          static_cast<uint64_t>(clock.last_error.empty() ? 0 : 1));
  }
  if (parts_.events != nullptr) {
    w.One("meterd_events_last_id", "gauge", "Id of the newest billing event.",
          parts_.events->LastId());
  }
  if (email_ != nullptr) {
    const events::EmailStats es = email_->Stats();
    w.One("meterd_email_delivered_total", "counter", "Email notices the relay accepted.",
          es.delivered);
    w.One("meterd_email_failed_attempts_total", "counter", "Email sends that failed (retried).",
          es.failed_attempts);
  }

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  w.One("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.", cpu);
  w.One("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
        ResidentBytes());
  const double uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  static const double process_start = ProcessStartTime();
  w.One("process_start_time_seconds", "gauge", "Start time of the process since unix epoch.",
        process_start);
  w.One("meterd_uptime_seconds", "gauge", "Seconds since the service started.", uptime);
  return out;
}

}  // namespace meterd::engine
