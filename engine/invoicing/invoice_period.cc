// meterd — engine/invoicing/invoice_period.cc
#include "engine/invoicing/invoice_period.h"

#include "engine/pricebook/pricing.h"

namespace meterd::engine::invoicing {

Result<InvoicePeriod> InvoicePeriodOf(const tenancy::BillingProfile* profile, int64_t at,
                                      const std::optional<LastPeriod>& last) {
  InvoicePeriod p;
  if (profile != nullptr) {
    p.cycle = profile->cycle;
    p.time_zone = profile->time_zone;
  }
  p.last = last;
  const bool utc_months = p.cycle.kind == cycles::CycleKind::kMonthly && p.time_zone == "UTC";
  if (utc_months) {
    // The calendar month, for any instant (the zoned range does not limit UTC months).
    p.start = pricebook::MonthStart(at);
    p.end = pricebook::NextMonthStart(p.start);
  } else {
    METERD_ASSIGN_OR_RETURN(cycles::TimeZone zone, cycles::TimeZone::Find(p.time_zone));
    METERD_ASSIGN_OR_RETURN(cycles::Period period, cycles::PeriodContaining(p.cycle, zone, at));
    p.start = period.start;
    p.end = period.end;
  }
  // Invoices so far all calendar months (or none): this one is a calendar month too.
  const bool month_history = !last || (last->start == pricebook::MonthStart(last->start) &&
                                       last->end == pricebook::NextMonthStart(last->start));
  if (last && !(utc_months && month_history)) {
    if (last->end >= p.end) {
      p.covered = true;  // invoiced through its end (or a later period already is)
    } else {
      // The rest of a period the cycle changed in, or the periods since the previous invoice
      // that had nothing to invoice.
      p.start = last->end;
    }
  }
  p.calendar_month = utc_months && month_history;
  auto ceil_hour = [](int64_t t) {
    return base::FloorDiv(t + base::kSecondsPerHour - 1, base::kSecondsPerHour) *
           base::kSecondsPerHour;
  };
  p.first_hour = ceil_hour(p.start);
  p.end_hour = ceil_hour(p.end);
  return p;
}

}  // namespace meterd::engine::invoicing
