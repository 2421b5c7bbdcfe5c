// meterd — storage/base/status.h
//
// Status: the outcome of an operation that can fail, carried as a value (never an exception on a
// data path). Success is a null pointer, so checking an OK status costs one pointer test
// (LevelDB's design). Codes map one-to-one onto protocol error frames.
//
// Thread-safety: a Status is a value; distinct objects may be used from distinct threads freely.
// Invariant: ok() <=> state_ == nullptr.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace meterd {

class [[nodiscard]] Status {
 public:
  enum class Code : uint8_t {
    kOk = 0,
    kNotFound = 1,
    kCorruption = 2,
    kNotSupported = 3,
    kInvalidArgument = 4,
    kIOError = 5,
    kBusy = 6,  // backpressure: try again later
    kUnauthenticated = 7,
    kPermissionDenied = 8,
    kOutOfRange = 9,  // e.g. a far-future sample
    kAlreadyExists = 10,
    // The store or server is closed or shutting down: nothing was done, and the same request
    // may succeed later or elsewhere (unlike InvalidArgument, which refuses it for good).
    kUnavailable = 11,
    // Out of a resource the server cannot make more of by itself, today disk space: nothing of
    // the request was stored (or acknowledged); the same request succeeds once space returns,
    // so a client retries it later (never drops it).
    kResourceExhausted = 12,
  };
  enum class SubCode : uint8_t { kNone = 0, kNoSpace = 1 };

  Status() noexcept = default;
  Status(const Status& other) { CopyFrom(other); }
  Status& operator=(const Status& other) {
    if (this != &other) CopyFrom(other);
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  static Status NotSupported(std::string_view msg) { return Status(Code::kNotSupported, msg); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg);
  }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  // An IOError built from errno; ENOSPC gets the kNoSpace subcode.
  static Status FromErrno(std::string_view context, int err);
  static Status Busy(std::string_view msg) { return Status(Code::kBusy, msg); }
  static Status Unauthenticated(std::string_view msg) {
    return Status(Code::kUnauthenticated, msg);
  }
  static Status PermissionDenied(std::string_view msg) {
    return Status(Code::kPermissionDenied, msg);
  }
  static Status OutOfRange(std::string_view msg) { return Status(Code::kOutOfRange, msg); }
  static Status AlreadyExists(std::string_view msg) { return Status(Code::kAlreadyExists, msg); }
  static Status Unavailable(std::string_view msg) { return Status(Code::kUnavailable, msg); }
  static Status ResourceExhausted(std::string_view msg) {
    return Status(Code::kResourceExhausted, msg, SubCode::kNoSpace);
  }

  bool ok() const { return state_ == nullptr; }
  Code code() const { return state_ ? state_->code : Code::kOk; }
  SubCode subcode() const { return state_ ? state_->subcode : SubCode::kNone; }
  bool IsNotFound() const { return code() == Code::kNotFound; }
  bool IsCorruption() const { return code() == Code::kCorruption; }
  bool IsInvalidArgument() const { return code() == Code::kInvalidArgument; }
  bool IsIOError() const { return code() == Code::kIOError; }
  bool IsBusy() const { return code() == Code::kBusy; }
  bool IsOutOfRange() const { return code() == Code::kOutOfRange; }
  bool IsUnavailable() const { return code() == Code::kUnavailable; }
  bool IsResourceExhausted() const { return code() == Code::kResourceExhausted; }
  bool IsNoSpace() const { return subcode() == SubCode::kNoSpace; }

  std::string_view message() const {
    return state_ ? std::string_view(state_->message) : std::string_view();
  }
  // "OK" or "Corruption: <message>".
  std::string ToString() const;
  static const char* CodeName(Code code);

  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(std::string_view context) const;
  // An IOError that a full disk caused (the kNoSpace subcode) as ResourceExhausted with the same
  // message; any other status unchanged. For paths (flush, seal, SQLite) whose callers retry a
  // full disk later instead of treating it as a failed device.
  Status NoSpaceAsExhausted() const;

 private:
  struct State {
    Code code;
    SubCode subcode;
    std::string message;
  };
  Status(Code code, std::string_view msg, SubCode sub = SubCode::kNone)
      : state_(std::make_unique<State>(State{code, sub, std::string(msg)})) {}
  void CopyFrom(const Status& other) {
    state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
  }

  std::unique_ptr<State> state_;
};

}  // namespace meterd

// Evaluates `expr` (a Status); returns it from the enclosing function when not OK.
#define METERD_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::meterd::Status _meterd_status = (expr);        \
    if (!_meterd_status.ok()) return _meterd_status; \
  } while (0)
