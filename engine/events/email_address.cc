// meterd — engine/events/email_address.cc
#include "engine/events/email_address.h"
#include "engine/events/blanks.h"

#include <algorithm>
#include <cstring>

namespace meterd::engine::events {
namespace {

bool AtomChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != '\0' && std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr;
}

bool LdhChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// Dot-separated non-empty parts, each accepted by `part`.
template <typename Part>
bool DotSeparated(std::string_view s, Part part) {
  if (s.empty()) return false;
  for (;;) {
    const size_t dot = s.find('.');
    if (!part(s.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

bool ValidLocalPart(std::string_view s) {
  // RFC 5321 limits the local part to 64 octets.
  return s.size() <= 64 && DotSeparated(s, [](std::string_view atom) {
           return !atom.empty() && std::all_of(atom.begin(), atom.end(), AtomChar);
         });
}

bool ValidIpv4Literal(std::string_view s) {
  if (s.size() < 2 || s.front() != '[' || s.back() != ']') return false;
  s = s.substr(1, s.size() - 2);
  int parts = 0;
  bool ok = DotSeparated(s, [&](std::string_view p) {
    ++parts;
    if (p.empty() || p.size() > 3 ||
        !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    return std::stoi(std::string(p)) <= 255;
  });
  return ok && parts == 4;
}

bool ValidDomain(std::string_view s) {
  if (s.size() > 253) return false;
  if (!s.empty() && s.front() == '[') return ValidIpv4Literal(s);
  return DotSeparated(s, [](std::string_view label) {
    return !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-' &&
           std::all_of(label.begin(), label.end(), LdhChar);
  });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

bool ValidAddress(std::string_view address) {
  if (address.empty() || address.size() > kMaxAddressLength) return false;
  const size_t at = address.rfind('@');
  if (at == std::string_view::npos) return false;
  return ValidLocalPart(address.substr(0, at)) && ValidDomain(address.substr(at + 1));
}

Result<std::vector<std::string>> ParseAddressList(std::string_view text) {
  std::vector<std::string> out;
  std::vector<std::string> seen;  // lower-cased
  if (TrimBlanks(text).empty()) return out;
  for (;;) {
    const size_t comma = text.find(',');
    const std::string_view part = TrimBlanks(text.substr(0, comma));
    if (!ValidAddress(part)) {
      std::string shown(part.substr(0, 80));
      for (char& c : shown) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
      }
      return Status::InvalidArgument("'" + shown +
                                     "' is not an email address (local@domain, ASCII, no "
                                     "display name)");
    }
    std::string key = Lower(part);
    if (std::find(seen.begin(), seen.end(), key) == seen.end()) {
      seen.push_back(std::move(key));
      out.emplace_back(part);
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (out.size() > kMaxRecipients) {
    return Status::InvalidArgument("at most " + std::to_string(kMaxRecipients) +
                                   " email addresses (use a list address for more)");
  }
  return out;
}

std::string JoinAddresses(const std::vector<std::string>& addresses) {
  std::string out;
  for (const std::string& a : addresses) {
    if (!out.empty()) out.push_back(',');
    out += a;
  }
  return out;
}

std::string_view AddressDomain(std::string_view address) {
  const size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

}  // namespace meterd::engine::events
