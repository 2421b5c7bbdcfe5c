// meterd — engine/invoicing/invoice_pdf.h
//
// An invoice as a PDF (A4), made with libharu (Debian libhpdf-dev) from the same printable form
// as the text rendering (invoice_layout.h): the issuer, the customer, the title ("Invoice" or
// "Credit note"), number, issue and due dates, the period line of the seed, one table per
// product group ("Group | Quantity | Unit Price | Cost"; subscriptions with "One-time fee |
// Monthly fee | Cost"), discounts, taxes with their rates and bases, the totals, the amount due
// and the notes. A draft or provisional invoice carries a DRAFT or PROVISIONAL watermark on
// every page, a void one VOID. Long invoices break across pages: a table that continues on a
// new page repeats its header row, and every page says "Page n of m".
//
// Font. DejaVu Sans (Debian fonts-dejavu-core), embedded (only the glyphs used are kept in its glyf
// table), so the PDF prints the same everywhere. Text is UTF-8; each run of it is shown through the
// first single-byte Windows code page of the font that covers it (1252 Western, 1250 Central
// European, 1251 Cyrillic, 1253 Greek, 1254 Turkish, 1257 Baltic) and only a character none of them
// has goes through libharu's UTF-8 CID font (HPDF_UseUTFEncodings), created in a document only when
// one needs it (also for the Greek Δ, Ω and μ, which code page 1253 names so that readers take them
// for the increment, ohm and micro signs). Why: libharu builds a UTF-8 CID font by looking up all
// 65,536 code points in the font's cmap and writes a width for each, ~9 ms per document on this
// machine; the code pages cost ~0.1 ms. pdftotext reads every run back as the same Unicode text.
// DejaVu has no CJK glyphs: Chinese, Japanese and Korean characters print as the font's
// missing-glyph box (pdftotext still reads them); printing them needs a CJK font (fonts-noto-cjk),
// not added. Bold text (headings, subtotals, the amount due) is the regular font filled and stroked
// with a thin line, unless PdfOptions::bold_font embeds DejaVu Sans Bold too (~140 kB and ~3 ms
// more per document).
//
// Determinism: the same Invoice gives the same bytes. The document's creation date is the
// invoice's issued_at (created_at for a draft), never the wall clock; libharu writes no
// document ID without encryption.
//
// Cost (bench/micro/engine/invoice_pdf_bench.cc, medians of 9, this 2-core machine, CPU time
// per PDF as other work shared the cores): 40 lines ~2.1 ms and 155 kB; 2,000 lines (36 pages)
// ~11.5 ms and 210 kB; with bold_font ~3.9 ms and 300 kB; with compress_fonts ~5.8 ms and 63 kB.
// So 100,000 40-line PDFs take ~210 CPU seconds, ~105 s on two free cores; measured by wall
// clock while other builds held the cores (load 5-7), two threads made 210 PDFs/s, 100,000 in
// ~8 minutes, so the 5-minute target is met only by CPU time here. The bytes are mostly the
// font (its cmap, metrics and names are kept whole); only page contents are compressed unless
// compress_fonts. Each thread keeps one libharu document whose parsed font is reused from one
// PDF to the next (HPDF_NewDoc keeps loaded fonts and clears their used-glyph marks), so the
// font file is read and parsed once per thread; a document that failed is dropped.
//
// poppler prints "Syntax Warning: Invalid 'begincidrange' operator in ToUnicode CMap" for a
// PDF that used the UTF-8 font: libharu 2.3.0 writes that operator in its ToUnicode map;
// poppler reads the text right regardless.
//
// Thread-safety: RenderInvoicePdf may run on any number of threads at once (per-thread state).
#pragma once

#include <string>

#include "engine/invoicing/invoice.h"
#include "storage/base/result.h"

namespace meterd::engine::invoicing {

inline constexpr const char* kInvoiceFontPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
inline constexpr const char* kInvoiceBoldFontPath =
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

struct PdfOptions {
  bool bold_font = false;       // embed DejaVu Sans Bold for bold text (see above)
  bool compress_fonts = false;  // deflate the embedded font too: ~3x smaller, ~6 ms slower
};

// The PDF bytes. NotFound when the font file is missing (install fonts-dejavu-core); IOError
// naming libharu's error code when libharu fails.
Result<std::string> RenderInvoicePdf(const Invoice& invoice);
Result<std::string> RenderInvoicePdf(const Invoice& invoice, const PdfOptions& options);

}  // namespace meterd::engine::invoicing
