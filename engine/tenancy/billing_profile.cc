// meterd — engine/tenancy/billing_profile.cc: billing profiles (engine/tenancy/billing_profile.h).
#include "engine/tenancy/billing_profile.h"

#include "engine/tenancy/invoicing_config.h"

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

namespace meterd::engine::tenancy {
namespace {

constexpr size_t kMaxAddressBytes = 1024;
constexpr size_t kMaxVatNumber = 32;
constexpr std::string_view kIsoCodesDir = "/usr/share/iso-codes/json/";

// One ISO code list of Debian's iso-codes: the `key` field of every entry of `list` in `file`
// ("iso_3166-1.json", list "3166-1", key "alpha_2"). Read once; an unreadable file leaves the
// set empty and `error` set, and every validation against it then fails with that error.
struct CodeList {
  std::set<std::string, std::less<>> codes;
  std::string error;
};

CodeList LoadCodes(std::string_view file, const char* list, const char* key) {
  CodeList out;
  const std::string path = std::string(kIsoCodesDir) + std::string(file);
  std::ifstream in(path);
  if (!in) {
    out.error = "cannot read " + path + " (Debian package iso-codes)";
    return out;
  }
  const nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains(list) || !doc[list].is_array()) {
    out.error = path + " is not an iso-codes list";
    return out;
  }
  for (const nlohmann::json& e : doc[list]) {
    // iso_4217.json holds the current codes only (withdrawn ones are in a list of their own).
    if (e.is_object() && e.contains(key) && e[key].is_string()) {
      out.codes.insert(e[key].get<std::string>());
    }
  }
  if (out.codes.empty()) out.error = path + " lists no codes";
  return out;
}

const CodeList& Countries() {
  static const CodeList list = LoadCodes("iso_3166-1.json", "3166-1", "alpha_2");
  return list;
}

const CodeList& Currencies() {
  static const CodeList list = LoadCodes("iso_4217.json", "4217", "alpha_3");
  return list;
}

bool AllUpper(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (c < 'A' || c > 'Z') return false;
  }
  return true;
}

}  // namespace

Status ValidateAddress(std::string_view address) {
  if (address.size() > kMaxAddressBytes) {
    return Status::InvalidArgument("the address is " + std::to_string(address.size()) +
                                   " bytes; at most " + std::to_string(kMaxAddressBytes));
  }
  for (unsigned char c : address) {
    if ((c < 0x20 && c != '\n') || c == 0x7f) {
      return Status::InvalidArgument(
          "the address holds a control character (only newlines separate its lines)");
    }
  }
  return Status::OK();
}

Status ValidateCountry(std::string_view country) {
  if (country.empty()) return Status::OK();
  const CodeList& list = Countries();
  if (!list.error.empty()) return Status::InvalidArgument("cannot check countries: " + list.error);
  if (AllUpper(country, 2) && list.codes.contains(country)) return Status::OK();
  std::string msg = "\"" + std::string(country) +
                    "\" is not an ISO 3166-1 alpha-2 country code (e.g. GB, DE, IN)";
  if (country == "UK") msg += "; the United Kingdom is GB";
  if (country.size() == 2 && !AllUpper(country, 2)) msg += "; codes are upper case";
  return Status::InvalidArgument(msg);
}

Status ValidateRegion(std::string_view region) { return ValidateTaxRegion(region); }

Status ValidateVatNumber(std::string_view vat) {
  if (vat.size() > kMaxVatNumber) {
    return Status::InvalidArgument("VAT number \"" + std::string(vat) + "\" is longer than " +
                                   std::to_string(kMaxVatNumber) + " characters");
  }
  for (char c : vat) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '*' ||
                    c == '.' || c == ' ';
    if (!ok) {
      return Status::InvalidArgument("VAT number \"" + std::string(vat) +
                                     "\": only A-Z, 0-9, '+', '*', '.' and spaces (upper case, "
                                     "with its country prefix, e.g. GB123456789)");
    }
  }
  return Status::OK();
}

Status ValidateTimeZone(std::string_view time_zone) {
  Result<cycles::TimeZone> zone = cycles::TimeZone::Find(time_zone);
  return zone.ok() ? Status::OK() : zone.status();
}

Status ValidateCurrency(std::string_view currency) {
  if (currency.empty()) return Status::OK();
  const CodeList& list = Currencies();
  if (!list.error.empty()) return Status::InvalidArgument("cannot check currencies: " + list.error);
  if (AllUpper(currency, 3) && list.codes.contains(currency)) return Status::OK();
  return Status::InvalidArgument("\"" + std::string(currency) +
                                 "\" is not an ISO 4217 currency code (e.g. GBP, EUR, INR)");
}

Status ValidateProfileCycle(const cycles::Cycle& cycle) {
  METERD_RETURN_IF_ERROR(cycles::ValidateCycle(cycle));
  if (cycle.kind != cycles::CycleKind::kMonthlyAnchored && cycle.anchor_day != 1) {
    return Status::InvalidArgument("anchor_day is only for the monthly_anchored cycle");
  }
  if (cycle.kind != cycles::CycleKind::kWeekly && cycle.week_start != 1) {
    return Status::InvalidArgument("week_start is only for the weekly cycle");
  }
  return Status::OK();
}

Status ValidateBillingProfile(const BillingProfile& p) {
  METERD_RETURN_IF_ERROR(ValidateAddress(p.address));
  METERD_RETURN_IF_ERROR(ValidateCountry(p.country));
  METERD_RETURN_IF_ERROR(ValidateRegion(p.region));
  METERD_RETURN_IF_ERROR(ValidateVatNumber(p.vat_number));
  METERD_RETURN_IF_ERROR(ValidateTimeZone(p.time_zone));
  METERD_RETURN_IF_ERROR(ValidateCurrency(p.currency));
  return ValidateProfileCycle(p.cycle);
}

}  // namespace meterd::engine::tenancy
