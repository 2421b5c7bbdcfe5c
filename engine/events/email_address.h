// meterd — engine/events/email_address.h
//
// Email addresses as meterd accepts them: the `notify_email` billing setting (a
// comma-separated list) and `meterd --smtp-from`. Deliberately narrower than RFC 5322: a bare
// addr-spec `local@domain` with a dot-atom local part (letters, digits and
// !#$%&'*+-/=?^_`{|}~, dots between atoms) and a domain of LDH labels (or an IPv4 literal in
// brackets), 254 bytes at most. No display names, comments, quoted strings or non-ASCII: an
// address goes verbatim into MAIL FROM / RCPT TO and into the To and From headers, so
// anything that could smuggle a CR, LF, comma or angle bracket is refused at the door.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "storage/base/result.h"

namespace meterd::engine::events {

// RFC 5321's limit on a forward path; longer ones are refused by most relays anyway.
inline constexpr size_t kMaxAddressLength = 254;
// Recipients per scope: a notice goes to a few people, not a mailing list (use a list
// address for that); also bounds the emails one event can cause.
inline constexpr size_t kMaxRecipients = 16;

// Whether `address` is an addr-spec of the form above.
bool ValidAddress(std::string_view address);

// "a@x.org, b@y.org" -> {"a@x.org", "b@y.org"}: split on commas, spaces and tabs trimmed,
// duplicates (compared case-insensitively) dropped, order kept. Empty text gives an empty
// list. InvalidArgument names the first bad address, or says there are more than
// kMaxRecipients.
Result<std::vector<std::string>> ParseAddressList(std::string_view text);

// {"a@x.org", "b@y.org"} -> "a@x.org,b@y.org" (the stored form).
std::string JoinAddresses(const std::vector<std::string>& addresses);

// The domain part of a valid address ("x.org" for "a@x.org"); empty when there is none.
std::string_view AddressDomain(std::string_view address);

}  // namespace meterd::engine::events
