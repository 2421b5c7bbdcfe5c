// meterd — net/meterctl/ledger_cmd.h: meterctl's ledger and prepaid-billing commands
// (docs/ledger.md):
//
//   topup, payment, refund, credit, grant, adjust   manual ledger entries (admin)
//   balance [--account A]                           balances, with the charges not yet debited
//   ledger --account A [--from --to --limit]        an account's entries
//   settings set|list                               thresholds, credit limits, billing mode
//   can-create --account A --plan P                 may the account create a VM of this plan?
//   events [--account A] [--after N] [--follow]     threshold events (low_balance, suspend, ...)
//   webhooks list|add|remove|deliveries             event delivery by HTTP POST
//   emails deliveries [--event N] [--limit N]       email notices sent to the SMTP relay
//   reconcile --from --to [--account A]             rated against debited, per account and month
//
// Thread-safety: not synchronised (one command per process).
#pragma once

#include <CLI/CLI.hpp>

#include "net/meterctl/common.h"

namespace meterd::cli {

void RegisterLedgerCommands(CLI::App& app, Common& common);

}  // namespace meterd::cli
