// meterd — engine/service/customer_scope.h
//
// What a customer key may ask (docs/protocol.md, "Roles"): a customer key is bound to one
// account (KeyInfo::account) and reads only that account's usage, charges, balance and issued
// invoices. CustomerRequest says which request types it may send at all; CustomerMay checks that
// a request of those types names its account, and only it. An invoice shown by number is checked
// after it is read (MeterService::RunInvoice), as the request does not name its account.
//
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "net/schema/meterd_generated.h"
#include "storage/base/status.h"

namespace meterd::engine {

// The request types a customer key may send: ListMetrics, UsageRequest, ChargesRequest,
// BalanceRequest and InvoiceRequest (IngestBatch too, which the pipeline refuses in its
// acknowledgement, as a batch has no request id to answer with an Error).
bool CustomerRequest(wire::Message type);

// OK when `env` (one of CustomerRequest's types) stays inside `account`; PermissionDenied,
// naming the account the key is bound to, otherwise.
Status CustomerMay(std::string_view account, const wire::Envelope& env);

}  // namespace meterd::engine
