// meterd — net/protocol/messages.cc
#include "net/protocol/messages.h"

namespace meterd::net {

std::vector<uint8_t> ErrorFrame(uint64_t request_id, wire::ErrorCode code,
                                std::string_view message) {
  flatbuffers::FlatBufferBuilder fbb(64 + message.size());
  auto msg = fbb.CreateString(message.data(), message.size());
  return FinishFrame(fbb, wire::CreateError(fbb, request_id, code, msg));
}

std::vector<uint8_t> OkFrame(uint64_t request_id) {
  flatbuffers::FlatBufferBuilder fbb(64);
  return FinishFrame(fbb, wire::CreateOk(fbb, request_id));
}

wire::ErrorCode ToWireCode(const Status& status) {
  // Status codes 0-11 are the wire codes 0-11 (static_asserts keep them in step).
  static_assert(static_cast<int>(Status::Code::kAlreadyExists) ==
                static_cast<int>(wire::ErrorCode::AlreadyExists));
  static_assert(static_cast<int>(Status::Code::kUnavailable) ==
                static_cast<int>(wire::ErrorCode::Unavailable));
  static_assert(static_cast<int>(Status::Code::kBusy) == static_cast<int>(wire::ErrorCode::Busy));
  static_assert(static_cast<int>(Status::Code::kResourceExhausted) ==
                static_cast<int>(wire::ErrorCode::ResourceExhausted));
  return static_cast<wire::ErrorCode>(static_cast<uint16_t>(status.code()));
}

Status FromWire(wire::ErrorCode code, std::string_view message) {
  const std::string msg = std::string(wire::EnumNameErrorCode(code)) + ": " + std::string(message);
  switch (code) {
    case wire::ErrorCode::Ok:
      return Status::OK();
    case wire::ErrorCode::NotFound:
      return Status::NotFound(message);
    case wire::ErrorCode::Corruption:
      return Status::Corruption(message);
    case wire::ErrorCode::NotSupported:
      return Status::NotSupported(message);
    case wire::ErrorCode::InvalidArgument:
      return Status::InvalidArgument(message);
    case wire::ErrorCode::IOError:
      return Status::IOError(message);
    case wire::ErrorCode::Busy:
    case wire::ErrorCode::TooManyConnections:
      return Status::Busy(msg);
    case wire::ErrorCode::Unavailable:
      return Status::Unavailable(message);
    case wire::ErrorCode::ResourceExhausted:
      return Status::ResourceExhausted(message);
    case wire::ErrorCode::ShuttingDown:  // the connection-level form of Unavailable
      return Status::Unavailable(msg);
    case wire::ErrorCode::Unauthenticated:
      return Status::Unauthenticated(message);
    case wire::ErrorCode::PermissionDenied:
      return Status::PermissionDenied(message);
    case wire::ErrorCode::OutOfRange:
    case wire::ErrorCode::FrameTooLarge:
      return Status::OutOfRange(msg);
    case wire::ErrorCode::AlreadyExists:
      return Status::AlreadyExists(message);
    case wire::ErrorCode::UnsupportedVersion:
      return Status::NotSupported(msg);
    default:
      return Status::IOError(msg);
  }
}

std::string LogSafe(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    out.push_back(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? c : '?');
  }
  return out;
}

uint64_t RequestIdOf(const wire::Envelope& env) {
  switch (env.message_type()) {
#define METERD_REQ(T)    \
  case wire::Message::T: \
    return env.message_as_##T()->request_id();
    METERD_REQ(BackupRequest)
    METERD_REQ(Ping)
    METERD_REQ(DefineSeries)
    METERD_REQ(RegisterResources)
    METERD_REQ(DefineMetric)
    METERD_REQ(ListMetrics)
    METERD_REQ(ExportRequest)
    METERD_REQ(StatsRequest)
    METERD_REQ(CreateKey)
    METERD_REQ(ListKeys)
    METERD_REQ(RevokeKey)
    METERD_REQ(UsageRequest)
    METERD_REQ(RollupRebuild)
    METERD_REQ(BackfillRequest)
    METERD_REQ(ApplyCatalog)
    METERD_REQ(EstimateRequest)
    METERD_REQ(ChargesRequest)
    METERD_REQ(ReRateRequest)
    METERD_REQ(PostEntry)
    METERD_REQ(BalanceRequest)
    METERD_REQ(LedgerRequest)
    METERD_REQ(SetBillingSettings)
    METERD_REQ(ListBillingSettings)
    METERD_REQ(CanCreateRequest)
    METERD_REQ(EventsRequest)
    METERD_REQ(WebhookRequest)
    METERD_REQ(ReconcileRequest)
    METERD_REQ(ListCatalog)
    METERD_REQ(ResourceChange)
    METERD_REQ(ListResourceHosts)
    METERD_REQ(InvoiceRequest)
#undef METERD_REQ
    default:
      return 0;
  }
}

}  // namespace meterd::net
