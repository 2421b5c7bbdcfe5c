// meterd — storage/base/result.h
//
// Result<T>: either a value of T or a non-OK Status. The error path of every fallible function
// that produces a value. Thread-safety: a value type, like Status.
// Invariant: exactly one of {value, error} is held; a Result never holds an OK Status.
#pragma once

#include <optional>
#include <utility>

#include "storage/base/check.h"
#include "storage/base/status.h"

namespace meterd {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    METERD_CHECK(!status_.ok(), "Result constructed from an OK Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok()
  T& value() & {
    METERD_CHECK(ok(), "Result::value() on error");
    return *value_;
  }
  const T& value() const& {
    METERD_CHECK(ok(), "Result::value() on error");
    return *value_;
  }
  T&& value() && {
    METERD_CHECK(ok(), "Result::value() on error");
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace meterd

#define METERD_CONCAT_INNER(a, b) a##b
#define METERD_CONCAT(a, b) METERD_CONCAT_INNER(a, b)
// `tmp` is a name and `lhs` a declaration ("auto x"): neither can be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define METERD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
// `METERD_ASSIGN_OR_RETURN(auto x, F());` declares x from a Result, or returns its Status.
#define METERD_ASSIGN_OR_RETURN(lhs, expr) \
  METERD_ASSIGN_OR_RETURN_IMPL(METERD_CONCAT(_meterd_result_, __LINE__), lhs, expr)
