// meterd — engine/events/email_message.h
//
// The email notice of one billing event to one recipient (docs/events.md, "The message"): an
// RFC 5322 message with CRLF line endings, ASCII headers and a UTF-8 plain-text body.
//
//   From: <from>
//   To: <recipient>
//   Subject: [meterd] Low balance: <account> at <balance> credits
//   Date: <the event's recorded_at, RFC 5322, +0000>
//   Message-ID: <meterd.<event id>.<recorded_at>.<8 hex of the recipient>@<from's domain>>
//   MIME-Version: 1.0
//   Content-Type: text/plain; charset=utf-8
//   Content-Transfer-Encoding: 8bit
//   Auto-Submitted: auto-generated
//   X-Meterd-Event-Id: <event id>
//
//   <body: account, event, balance, threshold, state, time (UTC)>
//
// With an attachment (an issued invoice's PDF, EmailOptions::attachments) the message is
// multipart/mixed: the same plain-text part, then the file in base64 (lines of 76
// characters), separated by the boundary "meterd-<event id>-<recorded_at>".
//
// Every attempt for the same (event, recipient) produces the same bytes, so a retried send is
// recognisable by its Message-ID (and X-Meterd-Event-Id).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/events/event_log.h"

namespace meterd::engine::events {

// "Mon, 07 Dec 2026 02:49:48 +0000" (RFC 5322 section 3.3, English names, UTC).
std::string Rfc5322Date(int64_t unix_seconds);

// "<meterd.42.1767225600.1a2b3c4d@example.com>": the event's id and recorded_at, a hash of
// the lower-cased recipient (one message per recipient), and the domain of `from`.
std::string NoticeMessageId(const Event& e, std::string_view recipient, std::string_view from);

// The Subject header's value (RFC 2047 encoded when the text is not ASCII).
std::string NoticeSubject(const Event& e);

// A file attached to a notice.
struct EmailAttachment {
  std::string filename;      // "INV-000001.pdf": [A-Za-z0-9._-] only (others become '_')
  std::string content_type;  // "application/pdf"
  std::string bytes;
};

// The whole message, headers and body, CRLF line endings; multipart/mixed with `attachment`
// when one is given.
// REQUIRES: from and recipient are valid addresses (ValidAddress).
std::string FormatNotice(const Event& e, std::string_view from, std::string_view recipient,
                         const EmailAttachment* attachment = nullptr);

// RFC 2045 base64 of `bytes`, CRLF after every 76 characters and at the end.
std::string MimeBase64(std::string_view bytes);

}  // namespace meterd::engine::events
