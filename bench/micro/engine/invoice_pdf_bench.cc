// meterd — bench/micro/engine/invoice_pdf_bench.cc
//
// Rendering one invoice: the PDF (engine/invoicing/invoice_pdf.h) and the fixed-width text, of
// a 40-line and a 2,000-line invoice (tests/testing/seed_invoice.h). Targets (issue 15): one
// account's invoice as PDF under 50 ms; 100,000 PDFs in under 5 minutes on 2 cores, about
// 3 ms per PDF per core. The per-thread libharu document is warmed by the first iteration (the
// font file is read and parsed once per thread); BM_InvoicePdfColdThread measures a thread's
// first PDF. Run with --benchmark_repetitions=9 --benchmark_report_aggregates_only=true for
// medians. On this machine (2 cores shared with other builds, load average 4-8, so wall time
// was about twice CPU time), medians of CPU time per PDF: 40 lines 2.1 ms (wall 2.9-4.4 ms),
// 2,000 lines 11.4 ms (wall 24 ms), 40 lines with the bold font 3.9 ms, with compressed fonts
// 5.8 ms; the text rendering 0.03 ms and 1.0 ms.
#include <benchmark/benchmark.h>

#include <thread>

#include "engine/invoicing/invoice_pdf.h"
#include "engine/invoicing/invoice_text.h"
#include "tests/testing/seed_invoice.h"

namespace {

using meterd::engine::invoicing::PdfOptions;
using meterd::engine::invoicing::RenderInvoicePdf;
using meterd::engine::invoicing::RenderInvoiceText;

void BM_InvoicePdf(benchmark::State& state) {
  const auto invoice = meterd::testing::ManyLineInvoice(static_cast<int>(state.range(0)));
  PdfOptions options;
  options.bold_font = state.range(1) & 1;
  options.compress_fonts = state.range(1) & 2;
  size_t bytes = 0;
  for (auto _ : state) {
    auto pdf = RenderInvoicePdf(invoice, options);
    if (!pdf.ok()) {
      state.SkipWithError(pdf.status().ToString().c_str());
      return;
    }
    bytes = pdf->size();
    benchmark::DoNotOptimize(pdf);
  }
  state.counters["pdf_bytes"] =
      benchmark::Counter(static_cast<double>(bytes), benchmark::Counter::kAvgThreads);
  state.SetItemsProcessed(state.iterations());  // items_per_second: PDFs per second
}
// Args: lines, options (1 = the bold font embedded, 2 = fonts compressed).
BENCHMARK(BM_InvoicePdf)
    ->Args({40, 0})
    ->Args({2000, 0})
    ->Args({40, 1})
    ->Args({40, 2})
    ->Unit(benchmark::kMillisecond);
// Two threads at once (this machine's two cores): the batch rate of an invoice run.
BENCHMARK(BM_InvoicePdf)->Args({40, 0})->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// A thread's first PDF: loads and parses the font file too.
void BM_InvoicePdfColdThread(benchmark::State& state) {
  const auto invoice = meterd::testing::ManyLineInvoice(40);
  for (auto _ : state) {
    std::thread t([&] { benchmark::DoNotOptimize(RenderInvoicePdf(invoice)); });
    t.join();
  }
}
BENCHMARK(BM_InvoicePdfColdThread)->Unit(benchmark::kMillisecond);

void BM_InvoiceText(benchmark::State& state) {
  const auto invoice = meterd::testing::ManyLineInvoice(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(RenderInvoiceText(invoice));
}
BENCHMARK(BM_InvoiceText)->Arg(40)->Arg(2000)->Unit(benchmark::kMillisecond);

}  // namespace
