// meterd — net/meterctl/profiles_cmd.h: `meterctl profiles show|set`, accounts' billing
// profiles (address, country, VAT number, time zone, currency, cycle;
// docs/billing-cycles.md, "Billing profiles").
//
//   profiles show [--account A]      every profile, or one; `--format json` prints the catalog
//                                    document of what is shown ({"billing_profiles": [...]})
//   profiles set --account A [--address T] [--country CC] [--vat-number V] [--time-zone Z]
//                [--currency C] [--cycle K] [--anchor-day N] [--week-start D] [--dry-run]
//
// A profile is a section of the catalog document, so `set` is an apply (ApplyCatalog, admin):
// it reads the stored profile (ListCatalog), changes the fields given, and applies the whole
// profile, validated by the server (unknown zone, country or currency: refused, exit 1, with
// the field named). Changing the cycle drops the fields the new cycle does not take.
//
// Thread-safety: not synchronised (one command per process).
#pragma once

#include <CLI/CLI.hpp>

#include "net/meterctl/common.h"

namespace meterd::cli {

void RegisterProfileCommands(CLI::App& app, Common& common);

}  // namespace meterd::cli
