// meterd — storage/base/status.cc
#include "storage/base/status.h"

#include <cerrno>
#include <cstring>

namespace meterd {

const char* Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      return "NotFound";
    case Code::kCorruption:
      return "Corruption";
    case Code::kNotSupported:
      return "NotSupported";
    case Code::kInvalidArgument:
      return "InvalidArgument";
    case Code::kIOError:
      return "IOError";
    case Code::kBusy:
      return "Busy";
    case Code::kUnauthenticated:
      return "Unauthenticated";
    case Code::kPermissionDenied:
      return "PermissionDenied";
    case Code::kOutOfRange:
      return "OutOfRange";
    case Code::kAlreadyExists:
      return "AlreadyExists";
    case Code::kUnavailable:
      return "Unavailable";
    case Code::kResourceExhausted:
      return "ResourceExhausted";
  }
  return "Unknown";
}

Status Status::FromErrno(std::string_view context, int err) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  return Status(Code::kIOError, msg, err == ENOSPC ? SubCode::kNoSpace : SubCode::kNone);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out = CodeName(state_->code);
  if (state_->subcode == SubCode::kNoSpace) out += "(NoSpace)";
  out += ": ";
  out += state_->message;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return Status();
  std::string msg(context);
  msg += ": ";
  msg += state_->message;
  return Status(state_->code, msg, state_->subcode);
}

Status Status::NoSpaceAsExhausted() const {
  if (ok() || code() != Code::kIOError || subcode() != SubCode::kNoSpace) return *this;
  return Status(Code::kResourceExhausted, state_->message, SubCode::kNoSpace);
}

}  // namespace meterd
