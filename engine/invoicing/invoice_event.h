// meterd — engine/invoicing/invoice_event.h
//
// The outbox event of an issued document (docs/invoices.md, "Distribution"): `invoice_issued`
// for an invoice, `credit_note_issued` for a credit note. InvoiceStore appends it in the
// transaction that numbers the document, so the event exists if and only if the document was
// issued, and it is delivered like every other event (webhooks, `meterctl events`, email with
// the PDF attached when `meterd --email-kinds` names the kind).
//
// Payload (a JSON object, keys in this order):
//   {"number", "kind", "period_start", "period_end", "issued_at", "due_at", "currency",
//    "total", "total_micro", "amount_due", "amount_due_micro", "credit_note_for",
//    "pdf": {"op": "Pdf", "number"}, "pdf_command"}
// Amounts in credits as decimal text (pricebook::FormatCredits) and micro-credits; `currency`
// is the document's display currency code; `pdf` names the protocol request that returns the
// document's PDF (InvoiceRequest op Pdf with that number, docs/protocol.md) and `pdf_command`
// the meterctl command line that does it.
//
// Thread-safety: IssuedEvent is pure; IssuedDocumentPdf as InvoiceStore::Get and
// RenderInvoicePdf (any thread).
#pragma once

#include <optional>
#include <string_view>

#include "engine/events/email_message.h"
#include "engine/events/event_log.h"
#include "engine/invoicing/invoice.h"
#include "engine/invoicing/invoice_store.h"

namespace meterd::engine::invoicing {

inline constexpr std::string_view kKindInvoiceIssued = "invoice_issued";
inline constexpr std::string_view kKindCreditNoteIssued = "credit_note_issued";

// The event of `inv`, an issued document (number, issued_at and due_at set); `at` is its
// issued_at.
events::Event IssuedEvent(const Invoice& inv);

// The email attachment of an issued document's event: the PDF of the document the payload's
// `number` names, as stored now (so a document voided since prints VOID), named
// "<number>.pdf". nullopt for an event of another kind; NotFound when the number is unknown.
Result<std::optional<events::EmailAttachment>> IssuedDocumentPdf(const InvoiceStore& store,
                                                                 const events::Event& e);

}  // namespace meterd::engine::invoicing
