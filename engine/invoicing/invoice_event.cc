// meterd — engine/invoicing/invoice_event.cc
#include "engine/invoicing/invoice_event.h"

#include <nlohmann/json.hpp>

#include "engine/invoicing/invoice_pdf.h"
#include "engine/pricebook/money.h"

namespace meterd::engine::invoicing {

events::Event IssuedEvent(const Invoice& inv) {
  const bool note = inv.kind == InvoiceKind::kCreditNote;
  // nlohmann::ordered_json keeps the documented key order, so the stored bytes are stable.
  nlohmann::ordered_json payload;
  payload["number"] = inv.number;
  payload["kind"] = InvoiceKindName(inv.kind);
  payload["period_start"] = inv.period_start;
  payload["period_end"] = inv.period_end;
  payload["issued_at"] = inv.issued_at;
  payload["due_at"] = inv.due_at;
  payload["currency"] = inv.currency.code;
  payload["total"] = pricebook::FormatCredits(inv.total.micro);
  payload["total_micro"] = inv.total.micro;
  payload["amount_due"] = pricebook::FormatCredits(inv.amount_due.micro);
  payload["amount_due_micro"] = inv.amount_due.micro;
  payload["credit_note_for"] = inv.credit_note_for;
  payload["pdf"] = {{"op", "Pdf"}, {"number", inv.number}};
  payload["pdf_command"] = "meterctl invoice pdf " + inv.number + " -o " + inv.number + ".pdf";
  events::Event e;
  e.account = inv.account;
  e.kind = std::string(note ? kKindCreditNoteIssued : kKindInvoiceIssued);
  e.at = inv.issued_at;
  e.payload = payload.dump();
  return e;
}

Result<std::optional<events::EmailAttachment>> IssuedDocumentPdf(const InvoiceStore& store,
                                                                 const events::Event& e) {
  if (e.kind != kKindInvoiceIssued && e.kind != kKindCreditNoteIssued) {
    return std::optional<events::EmailAttachment>();
  }
  const auto payload = nlohmann::json::parse(e.payload, nullptr, /*allow_exceptions=*/false);
  auto it = payload.is_object() ? payload.find("number") : payload.end();
  if (it == payload.end() || !it->is_string()) {
    return Status::InvalidArgument("event " + std::to_string(e.id) + " (" + e.kind +
                                   ") names no document number");
  }
  const std::string number = it->get<std::string>();
  METERD_ASSIGN_OR_RETURN(StoredInvoice s, store.Get(number));
  METERD_ASSIGN_OR_RETURN(std::string pdf, RenderInvoicePdf(s.invoice));
  return std::optional<events::EmailAttachment>(
      events::EmailAttachment{number + ".pdf", "application/pdf", std::move(pdf)});
}

}  // namespace meterd::engine::invoicing
