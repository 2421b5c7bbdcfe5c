// meterd — engine/tenancy/billing_profile.h
//
// An account's billing profile: what an invoice needs to know about its customer — postal
// address, country, VAT number, time zone, invoice currency — and the account's billing cycle
// (engine/cycles/billing_cycle.h). One per account at most, part of the tenancy snapshot,
// stored in billing.db's `billing_profiles` table (tenancy schema version 3) and written by the
// catalog document's `billing_profiles` section (docs/billing-cycles.md, "Billing profiles").
//
// Validation uses the system's reference data, never a table of our own: IANA zones from the
// tz database (tzdata), ISO 3166-1 countries and ISO 4217 currencies from Debian's iso-codes
// (/usr/share/iso-codes/json), each read once per process.
//
// Thread-safety: BillingProfile is a value; the validators are thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "engine/cycles/billing_cycle.h"
#include "storage/base/status.h"

namespace meterd::engine::tenancy {

struct BillingProfile {
  std::string account;
  std::string address;     // free text, lines separated by '\n'; may be empty
  std::string country;     // ISO 3166-1 alpha-2 ("GB"); may be empty (unknown)
  std::string region;      // subdivision for regional taxes ("BC" of CA-BC); may be empty
  std::string vat_number;  // as printed on invoices ("GB123456789"); may be empty
  std::string time_zone = "UTC";
  std::string currency;  // ISO 4217; empty = the account's display currency
  cycles::Cycle cycle;

  bool operator==(const BillingProfile&) const = default;
};

// Each returns InvalidArgument with a message that names the value and says what is expected
// (the field's path is the caller's). Empty values are valid where the field is optional.
Status ValidateAddress(std::string_view address);
Status ValidateCountry(std::string_view country);
// Empty, or 1-3 of A-Z 0-9: the part after the country in ISO 3166-2 (invoicing_config.h).
Status ValidateRegion(std::string_view region);
Status ValidateVatNumber(std::string_view vat_number);
Status ValidateTimeZone(std::string_view time_zone);
Status ValidateCurrency(std::string_view currency);
// A cycle's fields against its kind: anchor_day only for monthly_anchored, week_start only for
// weekly (a profile never carries a field its cycle ignores, so equal cycles compare equal).
Status ValidateProfileCycle(const cycles::Cycle& cycle);
// All of the above.
Status ValidateBillingProfile(const BillingProfile& profile);

}  // namespace meterd::engine::tenancy
