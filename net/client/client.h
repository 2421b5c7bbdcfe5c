// meterd — net/client/client.h
//
// Client: the C++ client of the wire protocol (docs/protocol.md), used by meter-agent, meterctl
// and meter-bench. One TCP connection, blocking calls with timeouts, no threads of its own.
//
//   - Connect() opens the connection and performs the Hello handshake.
//   - Requests (DefineSeries, Stats, Export, keys, ...) wait for their answer; an Error frame
//     becomes a Status with the server's code and message.
//   - Ingest is pipelined: SendBatch() writes a batch and returns without waiting, up to
//     `max_in_flight` unacknowledged batches; acknowledgements are collected as they arrive
//     (and by Drain()). Every batch is kept until acknowledged. When the connection breaks,
//     the client reconnects with backoff and resends the unacknowledged batches in sequence
//     order; the server acknowledges a resent batch without storing it twice. A connection-level
//     Error (request id 0) counts as a break: ShuttingDown and Unavailable (a server or store
//     shutting down), ResourceExhausted (its disk is full) and IOError (its WAL failed) are
//     resent, never dropped; only an IngestAck (which may refuse samples or the whole batch
//     for good) ends a batch.
//
// Thread-safety: not thread-safe; one Client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/client/tls_channel.h"
#include "net/protocol/frame.h"
#include "storage/base/result.h"

namespace meterd::net {

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7400;
  std::string api_key;
  std::string client_name = "meterd-client";
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{60000};
  uint32_t max_in_flight = 64;  // unacknowledged ingest batches
  // Reconnect attempts after a broken connection (with exponential backoff up to 2 s); 0 =
  // fail at once.
  int reconnect_attempts = 30;
  // TLS (net/client/tls_channel.h): the server's certificate is checked against tls.ca_file
  // (or the system's CAs) and `host`; tls.cert_file/key_file are a client certificate.
  bool use_tls = false;
  TlsClientFiles tls;
};

// Where the server and key come from, in order: the flag, the environment (METER_SERVER,
// METER_KEY), then defaults (127.0.0.1:7400; the key in ./meterd-data/admin.key).
struct EndpointFlags {
  std::string server;    // --server HOST:PORT
  std::string key;       // --key KEY
  std::string key_file;  // --key-file FILE
  bool tls = false;      // --tls: TLS with the system's CAs (implied by --tls-ca)
  std::string tls_ca;    // --tls-ca FILE: the CA that signed the server's certificate
  std::string tls_cert;  // --tls-cert FILE: a client certificate (with --tls-key)
  std::string tls_key;   // --tls-key FILE
};
Status ResolveEndpoint(const EndpointFlags& flags, ClientOptions* options);

struct RefusalInfo {
  uint32_t index = 0;
  wire::ErrorCode code = wire::ErrorCode::Ok;
  std::string message;
};

struct IngestAckInfo {
  uint64_t sequence = 0;
  uint32_t accepted = 0;
  uint32_t rejected = 0;
  bool duplicate = false;
  std::vector<RefusalInfo> rejections;
  std::chrono::steady_clock::duration latency{};  // first send to acknowledgement
};

struct DefineResult {
  uint32_t defined = 0, existing = 0, refused = 0;
  std::vector<RefusalInfo> refusals;
};

struct RegisterResult {
  uint32_t registered = 0, updated = 0, unchanged = 0, refused = 0;
  std::vector<RefusalInfo> refusals;
};

struct SeriesKey {
  std::string resource;
  std::string metric;
};

struct ResourceAttributes {
  std::string id, type, account, project, location, plan;
};

// Columnar samples of one batch (see wire::IngestBatch).
struct UsageQuery {
  int64_t from = 0;
  int64_t to = 0;
  std::string resource, project, account, metric;  // empty: any
  wire::Granularity granularity = wire::Granularity::Hour;
};

// A re-rate (wire::ReRateRequest): [from, to) of a scope rated under the versions in force
// and under `version`.
struct ReRateQuery {
  int64_t from = 0;
  int64_t to = 0;
  wire::ChargeScope scope = wire::ChargeScope::All;
  std::string scope_id;
  wire::ChargeGroupBy group_by = wire::ChargeGroupBy::Product;
  std::string currency;  // display currency of the totals; empty: the book's default
  uint32_t version = 0;
  bool book = false;      // admin: book each account's difference as a ledger adjustment
  std::string reason;     // with book
  std::string reference;  // with book (required): makes the booking idempotent
};

struct IngestBatchData {
  std::string agent;
  uint64_t sequence = 0;
  int64_t base_time = 0;
  std::vector<uint64_t> series;
  std::vector<uint32_t> offsets;
  std::vector<uint64_t> values;
};
std::vector<uint8_t> BuildIngestFrame(const IngestBatchData& batch);
// XXH3-64 (seed 0) of "resource|metric": a series' id, computed by the client.
uint64_t SeriesIdOf(std::string_view resource, std::string_view metric);
std::vector<uint8_t> BuildHelloFrame(std::string_view api_key, std::string_view client_name);

class Client {
 public:
  using AckCallback = std::function<void(const IngestAckInfo&)>;

  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Status Connect();
  void Close();
  bool connected() const { return fd_ >= 0; }
  wire::Role role() const { return role_; }
  const std::string& hypervisor() const { return hypervisor_; }
  uint32_t server_max_frame_bytes() const { return max_frame_bytes_; }

  // --- requests ---
  Result<DefineResult> DefineSeries(const std::vector<SeriesKey>& series);
  Result<RegisterResult> RegisterResources(const std::vector<ResourceAttributes>& resources);
  Result<std::vector<uint8_t>> Call(std::vector<uint8_t> frame, uint64_t request_id);
  // Streams an export: `on_chunk` sees each ExportChunk (valid during the call).
  Status Export(int64_t from, int64_t to, std::string_view resource, std::string_view metric,
                const std::function<void(const wire::ExportChunk&)>& on_chunk);
  // Sends a request frame and passes each reply envelope with its id to `on_reply` until it
  // sets *last (an Error reply ends the stream with its status).
  Status Stream(std::vector<uint8_t> frame, uint64_t request_id,
                const std::function<Status(const wire::Envelope&, bool* last)>& on_reply);
  // Streams a usage query: `on_chunk` sees each UsageChunk (valid during the call).
  Status Usage(const UsageQuery& query,
               const std::function<void(const wire::UsageChunk&)>& on_chunk);
  // Streams a re-rate: `on_chunk` sees each ReRateChunk (valid during the call).
  Status ReRate(const ReRateQuery& query,
                const std::function<void(const wire::ReRateChunk&)>& on_chunk);
  uint64_t NextRequestId() { return ++last_request_id_; }

  // --- pipelined ingest ---
  void set_ack_callback(AckCallback cb) { on_ack_ = std::move(cb); }
  // Sends a batch (frame from BuildIngestFrame, or any frame with the given sequence); blocks
  // only while max_in_flight batches are unacknowledged. Sequences must increase.
  Status SendBatch(uint64_t sequence, std::vector<uint8_t> frame);
  // Waits until every sent batch is acknowledged (or the timeout passes: Busy).
  Status Drain(std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));
  // Collects the acknowledgements that arrive within `timeout` (returns early once some did).
  Status WaitForAcks(std::chrono::milliseconds timeout);
  size_t unacknowledged() const { return unacked_.size(); }
  // The socket, for callers that wait on many clients with poll(2); -1 when not connected.
  int fd() const { return fd_; }
  uint64_t reconnects() const { return reconnects_; }

 private:
  struct Pending {
    std::vector<uint8_t> frame;
    std::chrono::steady_clock::time_point first_sent;
  };

  Status ConnectOnce();
  Status Reconnect(const Status& why);
  Status WriteAll(const std::vector<uint8_t>& frame);
  // Reads one frame, waiting up to `timeout` (Busy when nothing arrived in time).
  Status ReadFrame(std::chrono::milliseconds timeout, const wire::Envelope** env);
  // Handles a frame that is not the answer being waited for (acks, connection errors).
  Status HandleAsync(const wire::Envelope& env);
  Status PumpAcks(std::chrono::milliseconds timeout);

  // send(2)/recv(2) on the socket, or through TLS.
  ssize_t SendSome(const uint8_t* data, size_t size);
  ssize_t RecvSome(uint8_t* data, size_t size);

  ClientOptions options_;
  int fd_ = -1;
  std::unique_ptr<TlsChannel> tls_;  // set while connected with use_tls
  FrameDecoder decoder_;
  wire::Role role_ = wire::Role::None;
  std::string hypervisor_;
  uint32_t max_frame_bytes_ = kDefaultMaxFrameBytes;
  uint64_t last_request_id_ = 0;
  std::map<uint64_t, Pending> unacked_;    // by sequence
  std::span<const uint8_t> last_payload_;  // of the frame ReadFrame returned last
  AckCallback on_ack_;
  uint64_t reconnects_ = 0;
};

}  // namespace meterd::net
