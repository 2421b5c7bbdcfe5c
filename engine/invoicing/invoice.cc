// meterd — engine/invoicing/invoice.cc
#include "engine/invoicing/invoice.h"

namespace meterd::engine::invoicing {
namespace {

template <typename E, size_t N>
std::optional<E> ParseName(std::string_view name, const std::pair<E, const char*> (&table)[N]) {
  for (const auto& [value, text] : table) {
    if (name == text) return value;
  }
  return std::nullopt;
}
template <typename E, size_t N>
const char* NameOf(E value, const std::pair<E, const char*> (&table)[N]) {
  for (const auto& [v, text] : table) {
    if (v == value) return text;
  }
  return "unknown";
}

constexpr std::pair<InvoiceKind, const char*> kKinds[] = {
    {InvoiceKind::kInvoice, "invoice"}, {InvoiceKind::kCreditNote, "credit_note"}};
constexpr std::pair<InvoiceState, const char*> kStates[] = {{InvoiceState::kDraft, "draft"},
                                                            {InvoiceState::kIssued, "issued"},
                                                            {InvoiceState::kPaid, "paid"},
                                                            {InvoiceState::kVoid, "void"}};
constexpr std::pair<LineKind, const char*> kLineKinds[] = {{LineKind::kUsage, "usage"},
                                                           {LineKind::kOneTimeFee, "one_time_fee"},
                                                           {LineKind::kMonthlyFee, "monthly_fee"},
                                                           {LineKind::kAdjustment, "adjustment"}};

}  // namespace

const char* InvoiceKindName(InvoiceKind k) { return NameOf(k, kKinds); }
const char* InvoiceStateName(InvoiceState s) { return NameOf(s, kStates); }
const char* LineKindName(LineKind k) { return NameOf(k, kLineKinds); }
std::optional<InvoiceKind> ParseInvoiceKind(std::string_view name) {
  return ParseName(name, kKinds);
}
std::optional<InvoiceState> ParseInvoiceState(std::string_view name) {
  return ParseName(name, kStates);
}
std::optional<LineKind> ParseLineKind(std::string_view name) { return ParseName(name, kLineKinds); }

}  // namespace meterd::engine::invoicing
