// meterd — net/http/http_ingest.h
//
// HttpIngest: the ingest routes of the HTTP port (docs/http-api.md, "Ingest";
// docs/ingest-mapping.md):
//   POST /write            Influx line protocol, v1 (?db, rp, precision, u, p, consistency)
//   POST /api/v2/write     Influx line protocol, v2 (?org, orgID, bucket, precision)
//   POST /api/v1/write     Prometheus remote_write 1.0 (protobuf, snappy)
//   POST /collectd         collectd write_http, Format "JSON"
// A body may be gzip-compressed (Content-Encoding: gzip; remote_write: snappy, always).
//
// A request is decoded (net/ingest), each sample mapped by the mapping file to a series and
// its value converted; per (series, second) the sample with the latest time wins. Then, like
// every /v1/ route, the request becomes binary-protocol requests handed to the same Handler
// (MeterService) under the connection's API key: a DefineSeries for the series this process has
// not defined for the key yet, and IngestBatch frames (at most kBatchSamples samples each)
// whose sequence is a hash of their columns, so a resent body is a duplicate batch. The answer
// waits for every IngestAck, which the service sends only once the batch's WAL group is
// fdatasync'ed: 204 when every sample was stored, 200 with a report when some were not
// (unmapped, refused, rejected by the pipeline), 400 with the report when some lines could not
// be read (the others are stored), 4xx/5xx with the error when the request as a whole was
// refused or the store failed (nothing acknowledged).
//
// Thread-safety: thread-safe. Serve runs its work on the ingest pool, never on an io thread.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "net/asio.h"
#include "net/http/http_server.h"
#include "net/ingest/ingest_mapping.h"
#include "net/ingest/raw_sample.h"
#include "net/server/handler.h"

namespace meterd::net {

struct ApiConnection;

struct IngestBackend {
  const ingest::IngestMapping* mapping = nullptr;  // null: ingest is off (404)
  // The catalog's view of a metric (nullopt: not defined).
  std::function<std::optional<ingest::MetricMeta>(std::string_view metric)> metric;
};

class HttpIngest {
 public:
  static constexpr size_t kBatchSamples = 65536;         // per IngestBatch frame
  static constexpr size_t kMaxDecodedBytes = 16u << 20;  // a body after decompression
  static constexpr size_t kMaxReported = 32;             // problems itemised in a report

  HttpIngest();
  ~HttpIngest();
  void Stop();

  // The ingest route of `path`, or nullopt.
  static std::optional<ingest::Format> RouteOf(std::string_view path);
  // The query parameters `path` takes.
  static bool TakesParam(std::string_view path, std::string_view name);

  // Serves one authenticated request (the query is parsed and checked by the caller).
  void Serve(ingest::Format format, std::string_view path,
             std::unordered_map<std::string, std::string> query, HttpRequest request,
             Handler* handler, ApiConnection* connection, IngestBackend backend, HttpReply reply);

  // meterd_http_ingest_* in the Prometheus text format.
  std::string Metrics() const;

  struct Call;

  // Counts (per format) that Call updates.
  struct Counters {
    std::atomic<uint64_t> requests{0}, samples{0}, accepted{0};
    std::array<std::atomic<uint64_t>, ingest::kUnmappedReasons> unmapped{};
    std::array<std::atomic<uint64_t>, ingest::kRefusedReasons> refused{};
  };
  Counters& counters(ingest::Format f) { return counters_[static_cast<size_t>(f)]; }
  // Series this process defined (or found defined) for a key's owner ("hv:<hypervisor>" or
  // "admin"): no DefineSeries for them again.
  bool Defined(const std::string& owner, uint64_t id);
  void MarkDefined(const std::string& owner, const std::vector<uint64_t>& ids);
  // Logs an unmapped name once (the first 10,000 names).
  void LogUnmapped(ingest::Format f, const std::string& name, const char* reason,
                   const std::string& detail);
  boost::asio::thread_pool& pool() { return pool_; }

 private:
  std::array<Counters, ingest::kFormats> counters_;
  std::mutex defined_mu_;
  std::unordered_map<std::string, std::unordered_set<uint64_t>> defined_;  // GUARDED_BY
  size_t defined_count_ = 0;                                               // GUARDED_BY
  std::mutex logged_mu_;
  std::unordered_set<std::string> logged_;  // GUARDED_BY(logged_mu_)
  boost::asio::thread_pool pool_{2};
};

}  // namespace meterd::net
