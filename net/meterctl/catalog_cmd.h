// meterd — net/meterctl/catalog_cmd.h: meterctl's commands that read the billing catalog back
// (ListCatalog; docs/rating.md, "The catalog document"):
//
//   plans list | show ID                 plans (VM and disk offerings)
//   accounts list | show ID              accounts; show adds their projects and subscriptions
//   projects list | show ID
//   resources list | show ID             the latest version of each; show: every version
//   locations list, domains list, subscriptions list
//   pricebook list                       versions: number, effective_from, currencies, products
//   pricebook show [VERSION]             one version's currencies and products (the latest)
//   catalog export [--section S] [--id ID]   the catalog document, JSON, as `apply` reads it
//
// Tables by default; csv for the lists (and a show's main table); `--format json` prints one
// document: a list's rows ({"plans": [...]}), or for show and export the catalog document of
// what is shown, which `meterctl apply` accepts back unchanged. Billing and admin keys.
//
// Thread-safety: not synchronised (one command per process).
#pragma once

#include <CLI/CLI.hpp>

#include "net/meterctl/common.h"

namespace meterd::cli {

void RegisterCatalogCommands(CLI::App& app, Common& common);

}  // namespace meterd::cli
