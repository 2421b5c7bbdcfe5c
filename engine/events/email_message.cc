// meterd — engine/events/email_message.cc
#include "engine/events/email_message.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "engine/events/email_address.h"

namespace meterd::engine::events {
namespace {

// What the notice says about a kind: a subject prefix and the body's first sentence.
struct KindText {
  std::string_view kind, subject, sentence;
};
constexpr KindText kKindTexts[] = {
    {kKindLowBalance, "Low balance", "is below its low-balance threshold"},
    {kKindNegative, "Negative balance", "is negative"},
    {kKindSuspend, "Account suspended", "is below its credit limit: the account is suspended"},
    {kKindResume, "Account resumed", "is back above its credit limit: the account is resumed"},
    // Issued documents (engine/invoicing/invoice_event.h): a body of their own, below.
    {"invoice_issued", "Invoice", ""},
    {"credit_note_issued", "Credit note", ""},
};

bool IssuedDocument(std::string_view kind) {
  return kind == "invoice_issued" || kind == "credit_note_issued";
}

const KindText* TextOf(std::string_view kind) {
  for (const KindText& t : kKindTexts) {
    if (t.kind == kind) return &t;
  }
  return nullptr;
}

// Control characters (CR and LF above all: header injection) become spaces.
std::string Clean(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

bool Ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// RFC 2047 "B" encoding of UTF-8 text: encoded words of at most 45 input bytes (72
// characters; the limit is 75), split between characters, folded onto continuation lines.
std::string EncodedWords(std::string_view s) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  constexpr size_t kChunk = 45;
  auto continuation = [](char c) { return (static_cast<uint8_t>(c) & 0xC0) == 0x80; };
  std::string out;
  while (!s.empty()) {
    size_t n = std::min(kChunk, s.size());
    while (n < s.size() && n > 1 && continuation(s[n])) --n;
    const std::string_view chunk = s.substr(0, n);
    s.remove_prefix(n);
    if (!out.empty()) out += "\r\n ";
    out += "=?utf-8?B?";
    size_t i = 0;
    for (; i + 2 < chunk.size(); i += 3) {
      const uint32_t v = (uint32_t{static_cast<uint8_t>(chunk[i])} << 16) |
                         (uint32_t{static_cast<uint8_t>(chunk[i + 1])} << 8) |
                         static_cast<uint8_t>(chunk[i + 2]);
      for (int shift : {18, 12, 6, 0}) out.push_back(kB64[(v >> shift) & 63]);
    }
    if (i < chunk.size()) {
      uint32_t v = uint32_t{static_cast<uint8_t>(chunk[i])} << 16;
      if (i + 1 < chunk.size()) v |= uint32_t{static_cast<uint8_t>(chunk[i + 1])} << 8;
      out.push_back(kB64[(v >> 18) & 63]);
      out.push_back(kB64[(v >> 12) & 63]);
      out.push_back(i + 1 < chunk.size() ? kB64[(v >> 6) & 63] : '=');
      out.push_back('=');
    }
    out += "?=";
  }
  return out;
}

// A string field of the payload ("" when absent or not a string).
std::string Field(const nlohmann::json& payload, const char* key) {
  if (!payload.is_object()) return "";
  auto it = payload.find(key);
  return it != payload.end() && it->is_string() ? Clean(it->get<std::string>()) : "";
}

std::string UtcTime(int64_t t) {
  const time_t tt = static_cast<time_t>(t);
  tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d UTC", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

uint32_t Fnv1a32(std::string_view s) {
  uint32_t h = 2166136261u;
  for (char c : s) {
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    h = (h ^ static_cast<uint8_t>(lower)) * 16777619u;
  }
  return h;
}

}  // namespace

std::string Rfc5322Date(int64_t unix_seconds) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const time_t tt = static_cast<time_t>(unix_seconds);
  tm tm{};
  gmtime_r(&tt, &tm);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string NoticeMessageId(const Event& e, std::string_view recipient, std::string_view from) {
  char hash[16];
  std::snprintf(hash, sizeof(hash), "%08x", Fnv1a32(recipient));
  std::string domain(AddressDomain(from));
  if (domain.empty()) domain = "meterd.invalid";
  return "<meterd." + std::to_string(e.id) + "." + std::to_string(e.recorded_at) + "." + hash +
         "@" + domain + ">";
}

std::string NoticeSubject(const Event& e) {
  const auto payload = nlohmann::json::parse(e.payload, nullptr, /*allow_exceptions=*/false);
  const KindText* text = TextOf(e.kind);
  const std::string balance = Field(payload, "balance");
  std::string subject = "[meterd] ";
  if (IssuedDocument(e.kind)) {
    // "[meterd] Invoice INV-000042 for acme: 120.5 credits due"
    subject += std::string(text->subject) + " " + Field(payload, "number") + " for " +
               Clean(e.account) + ": " + Field(payload, "total") + " credits";
    if (e.kind == "invoice_issued") subject += ", " + Field(payload, "amount_due") + " due";
    return Ascii(subject) ? subject : EncodedWords(subject);
  }
  subject += text ? std::string(text->subject) : "Billing event " + Clean(e.kind);
  subject += ": " + Clean(e.account);
  if (!balance.empty()) subject += " at " + balance + " credits";
  return Ascii(subject) ? subject : EncodedWords(subject);
}

std::string MimeBase64(std::string_view bytes) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve(bytes.size() / 3 * 4 + bytes.size() / 57 * 2 + 8);
  size_t col = 0;
  auto put = [&](char c) {
    out.push_back(c);
    if (++col == 76) {
      out += "\r\n";
      col = 0;
    }
  };
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                       (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) put(kB64[(v >> shift) & 63]);
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    if (i + 1 < bytes.size()) v |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
    put(kB64[(v >> 18) & 63]);
    put(kB64[(v >> 12) & 63]);
    put(i + 1 < bytes.size() ? kB64[(v >> 6) & 63] : '=');
    put('=');
  }
  if (col != 0) out += "\r\n";
  return out;
}

std::string FormatNotice(const Event& e, std::string_view from, std::string_view recipient,
                         const EmailAttachment* attachment) {
  const auto payload = nlohmann::json::parse(e.payload, nullptr, /*allow_exceptions=*/false);
  const KindText* text = TextOf(e.kind);
  const std::string account = Clean(e.account);
  const std::string balance = Field(payload, "balance");
  std::string threshold;
  if (e.kind == kKindLowBalance) {
    threshold = Field(payload, "low_balance");
  } else if (e.kind == kKindNegative) {
    threshold = "0";  // as the ledger writes amounts: FormatCredits, no trailing zeros
  } else if (e.kind == kKindSuspend || e.kind == kKindResume) {
    const std::string limit = Field(payload, "credit_limit");
    // Suspension is below -credit_limit.
    if (limit == "0" || limit.empty()) {
      threshold = limit;
    } else {
      threshold = limit[0] == '-' ? limit.substr(1) : "-" + limit;
    }
  }
  const std::string state = Field(payload, "state");
  const std::string previous = Field(payload, "previous_state");

  std::string m;
  auto line = [&m](std::string_view s) {
    m.append(s);
    m.append("\r\n");
  };
  line("From: " + std::string(from));
  line("To: " + std::string(recipient));
  line("Subject: " + NoticeSubject(e));
  line("Date: " + Rfc5322Date(e.recorded_at));
  line("Message-ID: " + NoticeMessageId(e, recipient, from));
  line("MIME-Version: 1.0");
  // The boundary cannot occur in the text part (no line of it starts with "--meterd-") nor in
  // base64; it is the same on every attempt.
  const std::string boundary =
      "meterd-" + std::to_string(e.id) + "-" + std::to_string(e.recorded_at);
  if (attachment != nullptr) {
    line("Content-Type: multipart/mixed; boundary=\"" + boundary + "\"");
  } else {
    line("Content-Type: text/plain; charset=utf-8");
    line("Content-Transfer-Encoding: 8bit");
  }
  line("Auto-Submitted: auto-generated");  // RFC 3834: no auto-replies, please
  line("X-Meterd-Event-Id: " + std::to_string(e.id));
  line("");
  if (attachment != nullptr) {
    line("--" + boundary);
    line("Content-Type: text/plain; charset=utf-8");
    line("Content-Transfer-Encoding: 8bit");
    line("");
  }
  if (IssuedDocument(e.kind)) {
    const bool note = e.kind == "credit_note_issued";
    const std::string number = Field(payload, "number");
    line(std::string(note ? "Credit note " : "Invoice ") + number + " of account " + account +
         " was issued.");
    line("");
    line("Account:    " + account);
    line("Number:     " + number);
    if (note) line("Corrects:   " + Field(payload, "credit_note_for"));
    const auto num = [&payload](const char* key) -> int64_t {
      auto it = payload.is_object() ? payload.find(key) : payload.end();
      return it != payload.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
    };
    if (!note) {
      line("Period:     " + UtcTime(num("period_start")) + " to " + UtcTime(num("period_end")));
    }
    line("Total:      " + Field(payload, "total") + " credits");
    if (!note) {
      line("Amount due: " + Field(payload, "amount_due") + " credits");
      line("Due:        " + UtcTime(num("due_at")));
    }
    line("Event:      " + Clean(e.kind) + " (event id " + std::to_string(e.id) + ")");
    line("");
    line(attachment != nullptr
             ? "The document is attached as a PDF."
             : "Fetch the document as a PDF with: " + Field(payload, "pdf_command"));
    line("Amounts are in credits, the price book's unit; the document shows them in the");
    line("invoice's currency. This notice was sent by meterd to the addresses in the");
    line("notify_email billing setting of the account (or of its domain).");
  } else {
    line("The balance of account " + account + " " +
         (text ? std::string(text->sentence) : "changed (event " + Clean(e.kind) + ")") + ".");
    line("");
    line("Account:   " + account);
    line("Event:     " + Clean(e.kind) + " (event id " + std::to_string(e.id) + ")");
    if (!balance.empty()) line("Balance:   " + balance + " credits");
    if (!threshold.empty()) line("Threshold: " + threshold + " credits");
    if (!state.empty()) {
      line("State:     " + state + (previous.empty() ? "" : " (was " + previous + ")"));
    }
    line("Time:      " + UtcTime(e.at));
    line("");
    line("Amounts are in credits, the price book's unit. This notice was sent by meterd to the");
    line("addresses in the notify_email billing setting of the account (or of its domain).");
  }
  if (attachment != nullptr) {
    std::string name = attachment->filename;
    for (char& c : name) {
      const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
      if (!ok) c = '_';
    }
    line("--" + boundary);
    line("Content-Type: " + Clean(attachment->content_type) + "; name=\"" + name + "\"");
    line("Content-Transfer-Encoding: base64");
    line("Content-Disposition: attachment; filename=\"" + name + "\"");
    line("");
    m += MimeBase64(attachment->bytes);
    line("--" + boundary + "--");
  }
  return m;
}

}  // namespace meterd::engine::events
