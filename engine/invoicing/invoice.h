// meterd — engine/invoicing/invoice.h
//
// Invoice: the value an invoice run produces and an issue freezes (docs/invoices.md). One
// document of one account for one period of its billing cycle: its usage and fee lines grouped
// as the price book's product groups ("Running VM", "Stopped VM", "Storage", "Network",
// "Subscriptions", ...), the adjustments to periods already invoiced, discounts, taxes, what
// prepaid credit and promotional grants paid, and the amount due. A credit note is the same
// value with kind kCreditNote: its lines are the corrected amounts (positive = credited).
//
// Money. Every amount is int64 micro-credits (the price book's credit unit); the invoice also
// carries the display currency (a snapshot of the price book's Currency at the run) and each
// amount's display value in its minor unit, rounded once from micro-credits with the price book
// version's rounding mode. Totals' display values are sums of the displayed lines (a printed
// invoice adds up); the micro-credit totals are exact sums of the micro-credit lines.
//
// Invariants of a built invoice (InvoiceBuilder checks them; property-tested):
//   subtotal        = sum(lines.amount)                    (usage + fees + adjustments)
//   discount_total  = sum(discounts.amount)                (>= 0, <= subtotal when subtotal > 0)
//   tax_total       = sum(taxes.amount)
//   total           = subtotal - discount_total + tax_total
//   amount_due      = total - prepaid_applied - promotional_applied   (>= 0)
//   subtotal        = the ledger's usage, fee and clock-adjustment entries of the period
//                     (docs/invoices.md, "What an invoice covers")
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/pricebook/money.h"

namespace meterd::engine::invoicing {

using pricebook::MicroCredits;

enum class InvoiceKind : uint8_t { kInvoice = 1, kCreditNote = 2 };
// draft -> issued -> paid | void. A draft is a run's result, replaced by the next run of its
// period; an issued document never changes (payments and voiding are events about it).
enum class InvoiceState : uint8_t { kDraft = 1, kIssued = 2, kPaid = 3, kVoid = 4 };
const char* InvoiceKindName(InvoiceKind k);    // "invoice", "credit_note"
const char* InvoiceStateName(InvoiceState s);  // "draft", "issued", "paid", "void"
std::optional<InvoiceKind> ParseInvoiceKind(std::string_view name);
std::optional<InvoiceState> ParseInvoiceState(std::string_view name);

enum class LineKind : uint8_t {
  kUsage = 1,       // rated usage of a product over the period
  kOneTimeFee = 2,  // a subscription's one-time fee
  kMonthlyFee = 3,  // a subscription's recurring fee
  kAdjustment = 4,  // late data or a re-rate of a period already invoiced (booked by the clock)
};
const char* LineKindName(LineKind k);  // "usage", "one_time_fee", "monthly_fee", "adjustment"
std::optional<LineKind> ParseLineKind(std::string_view name);

// A monetary amount with its display in the invoice currency's minor unit.
struct Amount {
  MicroCredits micro = 0;
  int64_t minor = 0;  // rounded once from `micro` (lines) or a sum of displayed parts (totals)
  bool operator==(const Amount&) const = default;
};

struct InvoiceLine {
  LineKind kind = LineKind::kUsage;
  std::string group;            // product group; "Subscriptions" for fees, "Adjustments"
  std::string product_id;       // empty for an adjustment line
  std::string description;      // the product's name; an adjustment: "Usage revised for 2026-02"
  std::string quantity;         // exact decimal text in `unit` ("1343.595"); "1" for a fee
  std::string unit;             // "h", "GB·h", "month", "one-time"
  MicroCredits unit_price = 0;  // per unit (pricing's unit price: the last tier reached)
  Amount amount;                // before discounts and taxes
  bool operator==(const InvoiceLine&) const = default;
};

struct GroupSubtotal {
  std::string group;
  Amount amount;  // minor = sum of its lines' minor
  bool operator==(const GroupSubtotal&) const = default;
};

struct DiscountLine {
  std::string id;           // the discount or coupon id from the catalog
  std::string description;  // "Welcome coupon (10 %, cycle 2 of 3)"
  std::string scope;        // "account", "product", "group"
  std::string target;       // product id or group name; empty for an account discount
  // Percentage in parts per million of the base (100000 = 10 %), or 0 for a fixed amount.
  uint32_t percent_ppm = 0;
  MicroCredits base = 0;  // what it applied to
  Amount amount;          // > 0: reduces the invoice
  bool operator==(const DiscountLine&) const = default;
};

struct TaxLine {
  std::string name;             // "VAT", "GST", "PST"
  std::string country;          // ISO 3166-1 alpha-2 the rate belongs to
  std::string region;           // subdivision when the rate has one; else empty
  uint32_t rate_ppm = 0;        // 200000 = 20 %
  bool reverse_charge = false;  // 0 charged; the customer accounts for it (printed notice)
  MicroCredits base = 0;        // the taxable amount (after discounts)
  Amount amount;
  bool operator==(const TaxLine&) const = default;
};

// Who issues or receives the document, as printed.
struct Party {
  std::string name;
  std::string address;  // lines separated by '\n'
  std::string country;  // ISO 3166-1 alpha-2; may be empty
  std::string vat_number;
  std::string email;
  bool operator==(const Party&) const = default;
};

// The display currency as it was at the run (pricebook::Currency without its parsing).
struct DisplayCurrency {
  std::string code;              // "GBP"
  int64_t per_credit_units = 0;  // pricebook::Decimal units (10^-9) of currency per credit
  std::string prefix, suffix;
  uint8_t minor_digits = 2;
  bool operator==(const DisplayCurrency&) const = default;
};

struct Invoice {
  int64_t id = 0;        // database row; 0 before it is stored
  std::string number;    // "<prefix><seq>" once issued ("INV-2026-000042"); empty for a draft
  int64_t sequence = 0;  // gapless per (issuing domain, kind) once issued; 0 for a draft
  InvoiceKind kind = InvoiceKind::kInvoice;
  InvoiceState state = InvoiceState::kDraft;
  bool provisional = false;  // run with --provisional over hours not all closed (never issued)

  std::string account, account_name, domain, domain_name;
  Party issuer, customer;

  int64_t period_start = 0;  // UTC seconds: the cycle period [start, end)
  int64_t period_end = 0;
  std::string time_zone;       // the account's, for printing the period's days
  std::string cycle;           // cycles::CycleKindName
  uint32_t price_version = 0;  // the price book version whose currency and rounding displayed it

  DisplayCurrency currency;
  std::string rounding;  // pricebook::RoundingModeName

  std::vector<InvoiceLine> lines;       // sorted by group order, then product id
  std::vector<GroupSubtotal> groups;    // in print order
  std::vector<DiscountLine> discounts;  // in the documented application order
  std::vector<TaxLine> taxes;

  Amount subtotal, discount_total, tax_total, total;
  Amount promotional_applied;  // grants consumed by the period's usage
  Amount prepaid_applied;      // paid credit of a prepaid account covering the rest
  Amount amount_due;

  int64_t created_at = 0;
  int64_t issued_at = 0;           // 0 for a draft
  int64_t due_at = 0;              // issued_at + the issuer's payment terms; 0 for a draft
  std::string credit_note_for;     // credit notes: the number of the invoice they correct
  std::string reason;              // credit notes and voids: why
  std::vector<std::string> notes;  // printed remarks ("Reverse charge: ...")

  bool operator==(const Invoice&) const = default;
};

}  // namespace meterd::engine::invoicing
