// meterd — engine/invoicing/invoice_text.cc
#include "engine/invoicing/invoice_text.h"

#include <algorithm>
#include <array>

namespace meterd::engine::invoicing {
namespace {

// Code points in UTF-8 text (continuation bytes are not counted).
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void Pad(std::string& out, const std::string& cell, size_t width, bool right) {
  const size_t w = Width(cell);
  const size_t fill = width > w ? width - w : 0;
  if (right) out.append(fill, ' ');
  out += cell;
  if (!right) out.append(fill, ' ');
}

constexpr size_t kColumns = 4;
constexpr const char* kGap = "  ";

void Row(std::string& out, const std::vector<std::string>& cells,
         const std::array<size_t, kColumns>& widths) {
  std::string line;
  for (size_t i = 0; i < kColumns; ++i) {
    const std::string cell = i < cells.size() ? cells[i] : "";
    if (i > 0) line += kGap;
    Pad(line, cell, widths[i], i > 0);
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  out += line;
  out += '\n';
}

}  // namespace

std::string RenderPrintedInvoiceText(const PrintedInvoice& p) {
  std::string out;
  if (!p.watermark.empty()) out += "*** " + p.watermark + " ***\n";
  out += p.title + "\n\n";
  out += "From:\n";
  for (const std::string& l : p.issuer) out += "  " + l + "\n";
  out += "To:\n";
  for (const std::string& l : p.customer) out += "  " + l + "\n";
  out += "\n";
  for (const auto& [label, value] : p.facts) out += label + ": " + value + "\n";
  out += p.period_line + "\n";

  // One set of column widths for every table and the totals, so the amounts line up.
  std::array<size_t, kColumns> widths{};
  auto fit = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < std::min(cells.size(), kColumns); ++i) {
      widths[i] = std::max(widths[i], Width(cells[i]));
    }
  };
  for (const PrintedTable& t : p.tables) {
    fit(t.header);
    for (const auto& r : t.rows) fit(r);
    fit(t.footer);
  }
  size_t label_width = 0;
  for (const auto& [label, amount] : p.totals) {
    label_width = std::max(label_width, Width(label));
    widths[3] = std::max(widths[3], Width(amount));
  }
  const size_t lead = widths[0] + widths[1] + widths[2] + 2 * std::string(kGap).size();
  for (const PrintedTable& t : p.tables) {
    out += "\n";
    Row(out, t.header, widths);
    out += std::string(lead + std::string(kGap).size() + widths[3], '-') + "\n";
    for (const auto& r : t.rows) Row(out, r, widths);
    if (!t.footer.empty()) Row(out, t.footer, widths);
  }
  out += "\n";
  for (const auto& [label, amount] : p.totals) {
    std::string line;
    Pad(line, label, std::max(lead, label_width), true);
    line += kGap;
    Pad(line, amount, widths[3], true);
    out += line + "\n";
  }
  if (!p.notes.empty()) {
    out += "\nNotes:\n";
    for (const std::string& n : p.notes) out += "  " + n + "\n";
  }
  return out;
}

std::string RenderInvoiceText(const Invoice& invoice) {
  return RenderPrintedInvoiceText(PrintInvoice(invoice));
}

}  // namespace meterd::engine::invoicing
