// meterd — bench/meter_bench/invoice_workload.h
//
// `meter-bench invoices`: a month's invoice run for a fleet, in process, over the real
// Invoicer, InvoiceStore and Ledger on a fresh billing.db (docs/invoices.md):
//
//   setup   a tenancy of `accounts` accounts in 5 domains, each with a billing profile in GB;
//           the catalog's invoicing sections (UK VAT 20 %, one issuer, a 5 % group discount for
//           one domain); one price book version in GBP; the ledger booked as the billing clock
//           leaves it after the month: each account's month charged at the month's first hour
//           (Ledger::BookHour, one entry per account) and every later hour of the month closed
//           empty. Not timed.
//   run     Invoicer::Run over every account: the rated lines come from a RateFn that
//           generates, per account, `vms_per_account` VMs x 3 products (Running VM, Storage,
//           Network) with seeded amounts adding up to what the ledger holds: what rating a
//           fleet's month returns, without the rating itself (measured by `meter-bench rate`).
//   issue   Invoicer::IssueDrafts: numbering, frozen documents, discounts and VAT booked in
//           the ledger, events.
//   pdf     with --pdf: every issued invoice rendered as a PDF on `threads` threads
//           (RenderInvoicePdf), the documents read back from billing.db first.
//
// Checked (a difference fails the workload): one invoice per account; numbers INV-000001 ..
// without a gap; every subtotal is what the ledger booked for the account's month; the sum of
// totals is subtotals - discounts + taxes; the ledger's balances moved by the booked discounts
// and taxes.
//
// Thread-safety: one workload at a time per data directory.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "storage/base/status.h"

namespace meterd::bench {

struct InvoiceWorkloadOptions {
  std::string dir = "meterd-data/invoices";  // recreated
  size_t accounts = 100000;
  size_t vms_per_account = 20;
  bool pdf = false;
  int threads = 2;  // pdf
  uint64_t seed = 42;
  std::string month = "2026-11";  // YYYY-MM (UTC)
  bool progress = true;
};

struct InvoiceWorkloadResult {
  size_t accounts = 0, vms = 0, lines = 0, invoices = 0;
  double setup_ms = 0, run_ms = 0, issue_ms = 0, pdf_ms = 0;
  double run_rate_ms = 0, run_build_ms = 0, run_store_ms = 0;
  uint64_t pdf_bytes = 0;
  uint64_t db_bytes = 0;
  bool check = true;
  std::string detail;  // the first failed check
};

Status RunInvoiceWorkload(const InvoiceWorkloadOptions& o, InvoiceWorkloadResult* r);
void PrintInvoiceTable(std::FILE* out, const InvoiceWorkloadOptions& o,
                       const InvoiceWorkloadResult& r);
void PrintInvoiceJson(const InvoiceWorkloadOptions& o, const InvoiceWorkloadResult& r);

}  // namespace meterd::bench
