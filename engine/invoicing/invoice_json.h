// meterd — engine/invoicing/invoice_json.h
//
// The JSON form of an Invoice: what billing.db stores as an issued document (frozen: the
// bytes are never rewritten) and what the protocol's InvoiceReply and `meterctl invoice show
// --format json` carry. The keys and their meaning: docs/invoices.md, "The invoice document".
// Micro-credit amounts are JSON integers (they fit in 53 bits only up to 9e9 credits, so they
// are also written as decimal strings: "amount": "2955.910000", "amount_micro": 2955910000).
// FromJson(ToJson(x)) == x for every invoice.
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include "engine/invoicing/invoice.h"
#include "storage/base/result.h"

namespace meterd::engine::invoicing {

nlohmann::ordered_json ToJson(const Invoice& invoice);
// Corruption naming the key when a stored document does not parse.
Result<Invoice> FromJson(const nlohmann::ordered_json& doc);
Result<Invoice> FromJsonText(std::string_view text);

}  // namespace meterd::engine::invoicing
