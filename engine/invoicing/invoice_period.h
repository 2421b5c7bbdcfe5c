// meterd — engine/invoicing/invoice_period.h
//
// The period an invoice of an account covers: the period of the account's billing cycle (its
// billing profile's cycle and time zone, engine/cycles/billing_cycle.h; monthly in UTC without a
// profile) that contains an instant, started where the account's previous invoice ended when
// that is not its start: inside it (a cycle changed mid-period: the first period of the new
// cycle is the rest of it) or before it (periods with nothing to invoice since then: they are
// carried by this one, so no hour is ever skipped). Every invoice run, issue and lookup of "the
// invoice at instant t" goes through InvoicePeriodOf, so they agree on what a period is
// (docs/invoices.md, "Cycles").
//
// Two ways of covering the ledger (docs/invoices.md, "What an invoice covers"):
//   - calendar_month: a UTC calendar month of an account whose invoices have all been calendar
//     months: the clock's entries of that month (Ledger::BilledWithWatermarks), as always;
//   - otherwise by hours: the clock's usage and fee entries of the hour buckets
//     [first_hour, end_hour) (Ledger::BilledInHours) plus the clock's revisions booked since
//     the previous invoice.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/cycles/billing_cycle.h"
#include "engine/invoicing/invoice_store.h"
#include "engine/tenancy/billing_profile.h"
#include "storage/base/result.h"

namespace meterd::engine::invoicing {

struct InvoicePeriod {
  int64_t start = 0, end = 0;  // [start, end) in UTC seconds: the invoice's period
  // The UTC hour buckets it bills: h with start <= h < end (docs/billing-cycles.md).
  int64_t first_hour = 0, end_hour = 0;
  cycles::Cycle cycle;
  std::string time_zone = "UTC";
  bool calendar_month = false;  // covered as a UTC calendar month (above)
  // The previous invoice ends at or after `end`: nothing of this period is left to invoice.
  bool covered = false;
  std::optional<LastPeriod> last;  // the account's previous invoice, if any
};

// The period of `profile`'s cycle (nullptr: monthly in UTC) containing `at`, for an account
// whose latest issued invoice is `last`. InvalidArgument for an unknown zone, OutOfRange for an
// instant the zone's periods are not computed for (billing_cycle.h).
Result<InvoicePeriod> InvoicePeriodOf(const tenancy::BillingProfile* profile, int64_t at,
                                      const std::optional<LastPeriod>& last);

}  // namespace meterd::engine::invoicing
