// meterd — net/client/client.cc
#include "net/client/client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "net/protocol/messages.h"
#include "storage/base/checksum.h"

namespace meterd::net {

namespace {

using Clock = std::chrono::steady_clock;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

Result<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read key file " + path);
  std::string key;
  std::getline(in, key);
  key = Trim(key);
  if (key.empty()) return Status::InvalidArgument("key file " + path + " is empty");
  return key;
}

std::vector<RefusalInfo> ToRefusals(
    const flatbuffers::Vector<flatbuffers::Offset<wire::Refusal>>* list) {
  std::vector<RefusalInfo> out;
  if (!list) return out;
  for (const wire::Refusal* r : *list) {
    out.push_back(RefusalInfo{r->index(), r->code(), std::string(View(r->message()))});
  }
  return out;
}

// The request id a reply answers (0 for frames that answer no request).
uint64_t ReplyIdOf(const wire::Envelope& env) {
  switch (env.message_type()) {
#define METERD_REPLY(T)  \
  case wire::Message::T: \
    return env.message_as_##T()->request_id();
    METERD_REPLY(Error)
    METERD_REPLY(Pong)
    METERD_REPLY(BackupReply)
    METERD_REPLY(Ok)
    METERD_REPLY(DefineSeriesOk)
    METERD_REPLY(RegisterResourcesOk)
    METERD_REPLY(MetricList)
    METERD_REPLY(ExportChunk)
    METERD_REPLY(StatsReply)
    METERD_REPLY(KeyCreated)
    METERD_REPLY(KeyList)
    METERD_REPLY(UsageChunk)
    METERD_REPLY(RollupRebuildReply)
    METERD_REPLY(BackfillReply)
    METERD_REPLY(ApplyCatalogReply)
    METERD_REPLY(EstimateReply)
    METERD_REPLY(ChargesChunk)
    METERD_REPLY(ReRateChunk)
    METERD_REPLY(PostEntryReply)
    METERD_REPLY(BalanceReply)
    METERD_REPLY(LedgerReply)
    METERD_REPLY(BillingSettingsReply)
    METERD_REPLY(CanCreateReply)
    METERD_REPLY(EventsChunk)
    METERD_REPLY(WebhookReply)
    METERD_REPLY(ReconcileReply)
    METERD_REPLY(CatalogDocument)
    METERD_REPLY(ResourceHostList)
    METERD_REPLY(InvoiceReply)
#undef METERD_REPLY
    default:
      return 0;
  }
}

}  // namespace

Status ResolveEndpoint(const EndpointFlags& flags, ClientOptions* options) {
  std::string server = flags.server;
  if (server.empty()) {
    if (const char* env = std::getenv("METER_SERVER"); env && *env) server = env;
  }
  if (!server.empty()) {
    const auto colon = server.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return Status::InvalidArgument("server address '" + server + "' is not HOST:PORT");
    }
    options->host = server.substr(0, colon);
    try {
      const unsigned long port = std::stoul(server.substr(colon + 1));
      if (port == 0 || port > 65535) throw std::out_of_range("port");
      options->port = static_cast<uint16_t>(port);
    } catch (...) {
      return Status::InvalidArgument("server address '" + server + "' has no valid port");
    }
  }
  options->use_tls = flags.tls || !flags.tls_ca.empty();
  options->tls = TlsClientFiles{flags.tls_ca, flags.tls_cert, flags.tls_key};
  if (!options->use_tls && (!flags.tls_cert.empty() || !flags.tls_key.empty())) {
    return Status::InvalidArgument("--tls-cert and --tls-key need --tls or --tls-ca");
  }
  if (!flags.key.empty()) {
    options->api_key = flags.key;
  } else if (!flags.key_file.empty()) {
    METERD_ASSIGN_OR_RETURN(options->api_key, ReadKeyFile(flags.key_file));
  } else if (const char* env = std::getenv("METER_KEY"); env && *env) {
    options->api_key = Trim(env);
  } else if (auto k = ReadKeyFile("./meterd-data/admin.key"); k.ok()) {
    options->api_key = k.value();
  } else {
    return Status::Unauthenticated(
        "no API key: pass --key KEY or --key-file FILE, or set METER_KEY (a fresh meterd "
        "writes its first admin key to DATA_DIR/admin.key)");
  }
  return Status::OK();
}

uint64_t SeriesIdOf(std::string_view resource, std::string_view metric) {
  std::string key;
  key.reserve(resource.size() + metric.size() + 1);
  key.append(resource).push_back('|');
  key.append(metric);
  return base::Checksum64(key);
}

std::vector<uint8_t> BuildIngestFrame(const IngestBatchData& b) {
  flatbuffers::FlatBufferBuilder fbb(64 + b.series.size() * 20 + b.agent.size());
  auto agent = fbb.CreateString(b.agent);
  auto series = fbb.CreateVector(b.series);
  auto offsets = fbb.CreateVector(b.offsets);
  auto values = fbb.CreateVector(b.values);
  return FinishFrame(
      fbb, wire::CreateIngestBatch(fbb, agent, b.sequence, b.base_time, series, offsets, values));
}

std::vector<uint8_t> BuildHelloFrame(std::string_view api_key, std::string_view client_name) {
  flatbuffers::FlatBufferBuilder fbb(256);
  auto key = fbb.CreateString(api_key.data(), api_key.size());
  auto name = fbb.CreateString(client_name.data(), client_name.size());
  return FinishFrame(fbb, wire::CreateHello(fbb, kProtocolVersion, key, name));
}

Client::Client(ClientOptions options) : options_(std::move(options)) {}

Client::~Client() { Close(); }

void Client::Close() {
  tls_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  decoder_ = FrameDecoder(kDefaultMaxFrameBytes);
}

Status Client::Connect() { return ConnectOnce(); }

Status Client::ConnectOnce() {
  Close();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(options_.port);
  if (int rc = getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return Status::IOError("cannot resolve " + options_.host + ": " + gai_strerror(rc));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, static_cast<int>(options_.connect_timeout.count()));
      int err = 0;
      socklen_t len = sizeof(err);
      if (rc == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        rc = 0;
      } else {
        errno = rc == 0 ? ETIMEDOUT : (err ? err : errno);
        rc = -1;
      }
    }
    if (rc == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      fd_ = fd;
      break;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(res);
  if (fd_ < 0) {
    return Status::IOError("cannot connect to " + options_.host + ":" + port + ": " + last_error);
  }
  if (options_.use_tls) {
    auto tls = TlsChannel::Handshake(fd_, options_.host, options_.tls, options_.connect_timeout);
    if (!tls.ok()) {
      Close();
      return tls.status();
    }
    tls_ = std::move(tls).value();
  }
  METERD_RETURN_IF_ERROR(WriteAll(BuildHelloFrame(options_.api_key, options_.client_name)));
  const wire::Envelope* env = nullptr;
  METERD_RETURN_IF_ERROR(ReadFrame(options_.request_timeout, &env));
  if (env->message_type() == wire::Message::Error) {
    const auto* e = env->message_as_Error();
    Status st = FromWire(e->code(), View(e->message()));
    Close();
    return st;
  }
  if (env->message_type() != wire::Message::HelloOk) {
    Close();
    return Status::Corruption("server answered the Hello with " +
                              std::string(wire::EnumNameMessage(env->message_type())));
  }
  const auto* ok = env->message_as_HelloOk();
  role_ = ok->role();
  hypervisor_ = View(ok->hypervisor());
  max_frame_bytes_ = ok->max_frame_bytes();
  return Status::OK();
}

ssize_t Client::SendSome(const uint8_t* data, size_t size) {
  return tls_ ? tls_->Send(data, size) : ::send(fd_, data, size, MSG_NOSIGNAL);
}

ssize_t Client::RecvSome(uint8_t* data, size_t size) {
  return tls_ ? tls_->Recv(data, size) : ::recv(fd_, data, size, 0);
}

Status Client::WriteAll(const std::vector<uint8_t>& frame) {
  if (fd_ < 0) return Status::IOError("not connected");
  size_t done = 0;
  const auto deadline = Clock::now() + options_.request_timeout;
  while (done < frame.size()) {
    ssize_t n = SendSome(frame.data() + done, frame.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The server paused reading (backpressure): collect acknowledgements while waiting so
      // that neither side waits on the other.
      if (Clock::now() > deadline) return Status::Busy("write timed out (server not reading)");
      pollfd p{fd_, POLLOUT | POLLIN, 0};
      ::poll(&p, 1, 100);
      if (p.revents & POLLIN) {
        const wire::Envelope* env = nullptr;
        Status st = ReadFrame(std::chrono::milliseconds(0), &env);
        if (st.ok()) {
          METERD_RETURN_IF_ERROR(HandleAsync(*env));
        } else if (st.code() != Status::Code::kBusy) {
          return st;
        }
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return Status::IOError(std::string("send failed: ") + std::strerror(errno));
  }
  return Status::OK();
}

Status Client::ReadFrame(std::chrono::milliseconds timeout, const wire::Envelope** env) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (decoder_.Next(env, &last_payload_)) return Status::OK();
    if (!decoder_.status().ok()) return decoder_.status();
    if (fd_ < 0) return Status::IOError("not connected");
    auto tail = decoder_.WritableTail(64 << 10);
    ssize_t n = RecvSome(tail.data(), tail.size());
    if (n > 0) {
      decoder_.Commit(static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return Status::IOError("server closed the connection");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Status::IOError(std::string("recv failed: ") + std::strerror(errno));
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return Status::Busy("no answer from the server in time");
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
  }
}

Status Client::HandleAsync(const wire::Envelope& env) {
  switch (env.message_type()) {
    case wire::Message::IngestAck: {
      const auto* a = env.message_as_IngestAck();
      auto it = unacked_.find(a->sequence());
      if (it == unacked_.end()) return Status::OK();  // a resend's second ack
      IngestAckInfo info;
      info.sequence = a->sequence();
      info.accepted = a->accepted();
      info.rejected = a->rejected();
      info.duplicate = a->duplicate();
      info.rejections = ToRefusals(a->rejections());
      info.latency = Clock::now() - it->second.first_sent;
      unacked_.erase(it);
      if (on_ack_) on_ack_(info);
      return Status::OK();
    }
    case wire::Message::Error: {
      const auto* e = env.message_as_Error();
      if (e->request_id() == 0) {  // connection-level: the server closes after it
        Status st = FromWire(e->code(), View(e->message()));
        Close();
        return st;
      }
      return Status::OK();
    }
    default:
      return Status::OK();
  }
}

Result<std::vector<uint8_t>> Client::Call(std::vector<uint8_t> frame, uint64_t request_id) {
  if (fd_ < 0) METERD_RETURN_IF_ERROR(ConnectOnce());
  METERD_RETURN_IF_ERROR(WriteAll(frame));
  while (true) {
    const wire::Envelope* env = nullptr;
    METERD_RETURN_IF_ERROR(ReadFrame(options_.request_timeout, &env));
    if (ReplyIdOf(*env) == request_id) {
      if (env->message_type() == wire::Message::Error) {
        const auto* e = env->message_as_Error();
        return FromWire(e->code(), View(e->message()));
      }
      // Copy the payload out: the decoder reuses its buffer.
      return std::vector<uint8_t>(last_payload_.begin(), last_payload_.end());
    }
    METERD_RETURN_IF_ERROR(HandleAsync(*env));
  }
}

Result<DefineResult> Client::DefineSeries(const std::vector<SeriesKey>& series) {
  flatbuffers::FlatBufferBuilder fbb(64 + series.size() * 64);
  std::vector<flatbuffers::Offset<wire::SeriesDef>> defs;
  defs.reserve(series.size());
  for (const SeriesKey& k : series) {
    defs.push_back(wire::CreateSeriesDef(fbb, SeriesIdOf(k.resource, k.metric),
                                         fbb.CreateString(k.resource), fbb.CreateString(k.metric)));
  }
  const uint64_t id = NextRequestId();
  METERD_ASSIGN_OR_RETURN(
      auto bytes,
      Call(FinishFrame(fbb, wire::CreateDefineSeries(fbb, id, fbb.CreateVector(defs))), id));
  const auto* ok = wire::GetEnvelope(bytes.data())->message_as_DefineSeriesOk();
  if (!ok) return Status::Corruption("unexpected answer to DefineSeries");
  return DefineResult{ok->defined(), ok->existing(), ok->refused(), ToRefusals(ok->refusals())};
}

Result<RegisterResult> Client::RegisterResources(const std::vector<ResourceAttributes>& list) {
  flatbuffers::FlatBufferBuilder fbb(64 + list.size() * 128);
  std::vector<flatbuffers::Offset<wire::Resource>> out;
  for (const ResourceAttributes& r : list) {
    out.push_back(wire::CreateResource(fbb, fbb.CreateString(r.id), fbb.CreateString(r.type),
                                       fbb.CreateString(r.account), fbb.CreateString(r.project),
                                       fbb.CreateString(r.location), fbb.CreateString(r.plan)));
  }
  const uint64_t id = NextRequestId();
  METERD_ASSIGN_OR_RETURN(
      auto bytes,
      Call(FinishFrame(fbb, wire::CreateRegisterResources(fbb, id, fbb.CreateVector(out))), id));
  const auto* ok = wire::GetEnvelope(bytes.data())->message_as_RegisterResourcesOk();
  if (!ok) return Status::Corruption("unexpected answer to RegisterResources");
  return RegisterResult{ok->registered(), ok->updated(), ok->unchanged(), ok->refused(),
                        ToRefusals(ok->refusals())};
}

Status Client::Export(int64_t from, int64_t to, std::string_view resource, std::string_view metric,
                      const std::function<void(const wire::ExportChunk&)>& on_chunk) {
  if (fd_ < 0) METERD_RETURN_IF_ERROR(ConnectOnce());
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t id = NextRequestId();
  auto res = fbb.CreateString(resource.data(), resource.size());
  auto met = fbb.CreateString(metric.data(), metric.size());
  METERD_RETURN_IF_ERROR(
      WriteAll(FinishFrame(fbb, wire::CreateExportRequest(fbb, id, from, to, res, met))));
  while (true) {
    const wire::Envelope* env = nullptr;
    METERD_RETURN_IF_ERROR(ReadFrame(options_.request_timeout, &env));
    if (ReplyIdOf(*env) != id) {
      METERD_RETURN_IF_ERROR(HandleAsync(*env));
      continue;
    }
    if (env->message_type() == wire::Message::Error) {
      const auto* e = env->message_as_Error();
      return FromWire(e->code(), View(e->message()));
    }
    const auto* chunk = env->message_as_ExportChunk();
    if (!chunk) return Status::Corruption("unexpected answer to ExportRequest");
    on_chunk(*chunk);
    if (chunk->last()) return Status::OK();
  }
}

Status Client::Stream(std::vector<uint8_t> frame, uint64_t id,
                      const std::function<Status(const wire::Envelope&, bool* last)>& on_reply) {
  if (fd_ < 0) METERD_RETURN_IF_ERROR(ConnectOnce());
  METERD_RETURN_IF_ERROR(WriteAll(frame));
  while (true) {
    const wire::Envelope* env = nullptr;
    METERD_RETURN_IF_ERROR(ReadFrame(options_.request_timeout, &env));
    if (ReplyIdOf(*env) != id) {
      METERD_RETURN_IF_ERROR(HandleAsync(*env));
      continue;
    }
    if (env->message_type() == wire::Message::Error) {
      const auto* e = env->message_as_Error();
      return FromWire(e->code(), View(e->message()));
    }
    bool last = false;
    METERD_RETURN_IF_ERROR(on_reply(*env, &last));
    if (last) return Status::OK();
  }
}

Status Client::Usage(const UsageQuery& q,
                     const std::function<void(const wire::UsageChunk&)>& on_chunk) {
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t id = NextRequestId();
  auto res = fbb.CreateString(q.resource);
  auto proj = fbb.CreateString(q.project);
  auto acct = fbb.CreateString(q.account);
  auto met = fbb.CreateString(q.metric);
  auto frame = FinishFrame(
      fbb, wire::CreateUsageRequest(fbb, id, q.from, q.to, res, proj, acct, met, q.granularity));
  return Stream(std::move(frame), id, [&](const wire::Envelope& env, bool* last) -> Status {
    const auto* chunk = env.message_as_UsageChunk();
    if (!chunk) return Status::Corruption("unexpected answer to UsageRequest");
    on_chunk(*chunk);
    *last = chunk->last();
    return Status::OK();
  });
}

Status Client::ReRate(const ReRateQuery& q,
                      const std::function<void(const wire::ReRateChunk&)>& on_chunk) {
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t id = NextRequestId();
  auto scope_id = fbb.CreateString(q.scope_id);
  auto currency = fbb.CreateString(q.currency);
  auto reason = fbb.CreateString(q.reason);
  auto reference = fbb.CreateString(q.reference);
  auto frame = FinishFrame(
      fbb, wire::CreateReRateRequest(fbb, id, q.from, q.to, q.scope, scope_id, q.group_by, currency,
                                     q.version, q.book, reason, reference));
  return Stream(std::move(frame), id, [&](const wire::Envelope& env, bool* last) -> Status {
    const auto* chunk = env.message_as_ReRateChunk();
    if (!chunk) return Status::Corruption("unexpected answer to ReRateRequest");
    on_chunk(*chunk);
    *last = chunk->last();
    return Status::OK();
  });
}

Status Client::SendBatch(uint64_t sequence, std::vector<uint8_t> frame) {
  while (unacked_.size() >= options_.max_in_flight) {
    METERD_RETURN_IF_ERROR(PumpAcks(options_.request_timeout));
  }
  auto [it, inserted] = unacked_.emplace(sequence, Pending{std::move(frame), Clock::now()});
  if (!inserted)
    return Status::InvalidArgument("batch sequence " + std::to_string(sequence) +
                                   " is already in flight");
  Status st = fd_ >= 0 ? WriteAll(it->second.frame) : Status::IOError("not connected");
  if (!st.ok()) {
    // The reconnect resends every unacknowledged batch, this one included.
    METERD_RETURN_IF_ERROR(Reconnect(st));
  }
  return PumpAcks(std::chrono::milliseconds(0));
}

// Reads whatever acknowledgements arrive within `timeout` (at least one when some are due and
// the timeout allows), reconnecting and resending when the connection breaks.
Status Client::PumpAcks(std::chrono::milliseconds timeout) {
  auto wait = timeout;
  bool got_any = false;
  while (!unacked_.empty()) {
    const wire::Envelope* env = nullptr;
    Status st = fd_ >= 0 ? ReadFrame(wait, &env) : Status::IOError("not connected");
    if (st.code() == Status::Code::kBusy) {
      // Nothing (more) arrived in time: a timeout only when nothing came at all.
      return got_any || timeout.count() == 0 ? Status::OK() : st;
    }
    if (st.ok()) st = HandleAsync(*env);
    if (!st.ok()) {
      METERD_RETURN_IF_ERROR(Reconnect(st));
      continue;
    }
    got_any = true;
    wait = std::chrono::milliseconds(0);  // then take what is already there
  }
  return Status::OK();
}

Status Client::WaitForAcks(std::chrono::milliseconds timeout) {
  Status st = PumpAcks(timeout);
  return st.code() == Status::Code::kBusy ? Status::OK() : st;
}

Status Client::Drain(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!unacked_.empty()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return Status::Busy(std::to_string(unacked_.size()) +
                          " batches still unacknowledged after the timeout");
    }
    Status st = PumpAcks(left);
    if (!st.ok() && st.code() != Status::Code::kBusy) return st;
  }
  return Status::OK();
}

Status Client::Reconnect(const Status& why) {
  Close();
  auto backoff = std::chrono::milliseconds(50);
  Status last = why;
  for (int attempt = 0; attempt < options_.reconnect_attempts; ++attempt) {
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    last = ConnectOnce();
    if (last.code() == Status::Code::kUnauthenticated ||
        last.code() == Status::Code::kPermissionDenied) {
      return last;  // retrying will not help
    }
    if (!last.ok()) continue;
    ++reconnects_;
    // Resend in sequence order; the server acknowledges a resent batch without storing it
    // twice.
    for (auto& [seq, pending] : unacked_) {
      last = WriteAll(pending.frame);
      if (!last.ok()) break;
    }
    if (last.ok()) return Status::OK();
    Close();
  }
  return Status::IOError("connection lost (" + why.ToString() +
                         ") and not restored: " + last.ToString());
}

}  // namespace meterd::net
