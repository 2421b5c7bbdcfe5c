// meterd — engine/service/customer_scope.cc
#include "engine/service/customer_scope.h"

#include <string>

#include "net/protocol/messages.h"

namespace meterd::engine {

bool CustomerRequest(wire::Message type) {
  switch (type) {
    case wire::Message::ListMetrics:
    case wire::Message::IngestBatch:
    case wire::Message::UsageRequest:
    case wire::Message::ChargesRequest:
    case wire::Message::BalanceRequest:
    case wire::Message::InvoiceRequest:
      return true;
    default:
      return false;
  }
}

Status CustomerMay(std::string_view account, const wire::Envelope& env) {
  const auto denied = [&](const char* what) {
    return Status::PermissionDenied(std::string("a customer key reads only account \"") +
                                    std::string(account) + "\": " + what);
  };
  switch (env.message_type()) {
    case wire::Message::ListMetrics:
    case wire::Message::IngestBatch:
      return Status::OK();
    case wire::Message::UsageRequest:
      if (net::View(env.message_as_UsageRequest()->account()) != account) {
        return denied("usage needs account set to it");
      }
      return Status::OK();
    case wire::Message::ChargesRequest: {
      const auto* q = env.message_as_ChargesRequest();
      if (q->scope() != wire::ChargeScope::Account || net::View(q->scope_id()) != account) {
        return denied("charges need the account scope with its id");
      }
      return Status::OK();
    }
    case wire::Message::BalanceRequest:
      if (net::View(env.message_as_BalanceRequest()->account()) != account) {
        return denied("a balance needs account set to it");
      }
      return Status::OK();
    case wire::Message::InvoiceRequest: {
      const auto* q = env.message_as_InvoiceRequest();
      switch (q->op()) {
        case wire::InvoiceOp::List:
          if (net::View(q->account()) != account) return denied("list needs account set to it");
          return Status::OK();
        case wire::InvoiceOp::Show:
        case wire::InvoiceOp::Pdf:
          return Status::OK();  // the document's account is checked once it is read
        default:
          return denied("a customer key lists, shows and downloads issued invoices only");
      }
    }
    default:
      return denied(wire::EnumNameMessage(env.message_type()));
  }
}

}  // namespace meterd::engine
