// meterd — engine/events/smtp_client.h
//
// SmtpClient: sends one message to one recipient through an SMTP relay, with libcurl
// (docs/events.md, "Email notices"). A fresh connection per message: EHLO, STARTTLS when
// asked, AUTH when a user is set, MAIL FROM, RCPT TO, DATA. One deadline covers the whole
// attempt.
//
// TLS: `smtps://` is TLS from the first byte (port 465); `smtp://` upgrades with STARTTLS as
// `starttls` says: kRequired (the default: the relay must offer it, or the attempt fails
// before any credential or message is sent), kTry (upgrade when offered, else plain text) or
// kOff (never; a relay on localhost or a test server). Certificates are verified (peer and
// host name) against the system CA store, or the PEM bundle `ca_file` instead.
//
// Thread-safety: Send from one thread at a time; Cancel from any thread. No exception
// escapes. Used by the email notifier.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

#include "storage/base/result.h"

namespace meterd::engine::events {

enum class StartTls { kRequired, kTry, kOff };
// "required", "try", "off".
Result<StartTls> ParseStartTls(std::string_view text);

struct SmtpOptions {
  // smtp://host[:port][/ehlo-name] or smtps://host[:port][/ehlo-name]; no user information.
  std::string url;
  StartTls starttls = StartTls::kRequired;  // smtp:// only
  std::string user, password;               // AUTH (PLAIN or LOGIN, as offered) when user is set
  std::string ca_file;                      // PEM bundle used instead of the system CA store
  // The whole attempt: connect, TLS, AUTH, the message and the relay's answer. Relays may
  // run content filters before they answer DATA; 30 s leaves them room.
  std::chrono::milliseconds timeout{30000};
};

// Checks an SMTP relay URL: scheme smtp or smtps, a host, an optional port, no user
// information (credentials come from --smtp-user and --smtp-password-file), at most 2048
// bytes, no whitespace or control characters.
Status ValidateSmtpUrl(std::string_view url);

struct SmtpOutcome {
  int status = 0;     // the relay's last SMTP reply code; 0 when there was none
  std::string error;  // empty when the relay accepted the message
  bool ok() const { return error.empty(); }
};

class SmtpClient {
 public:
  explicit SmtpClient(SmtpOptions options);
  SmtpClient(const SmtpClient&) = delete;
  SmtpClient& operator=(const SmtpClient&) = delete;

  // Sends `message` (CRLF line endings, headers included) from `from` to `to`.
  SmtpOutcome Send(std::string_view from, std::string_view to, std::string_view message);

  // Aborts the send in progress, if any, and makes every later Send fail at once with
  // "cancelled". Sticky.
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }

 private:
  const SmtpOptions options_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace meterd::engine::events
