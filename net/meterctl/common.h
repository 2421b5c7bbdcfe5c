// meterd — net/meterctl/common.h: what every meterctl command shares.
//
// `Common` holds the global options (--server, --key, --key-file, --format; cli_conventions.h
// attaches them to every command, so they are accepted anywhere on the line) and the action of
// each command. A file of commands registers them as
//
//   void RegisterLedgerCommands(CLI::App& app, Common& common) {
//     auto args = std::make_shared<LedgerArgs>();  // outlives this function
//     CLI::App* show = app.add_subcommand("ledger", "...");
//     show->add_option("--account", args->account, "...");
//     common.OnRun(show, [&common, args] { return ShowLedger(common, *args); });
//   }
//
// and main() calls it before cli::RunCommandLine. Thread-safety: not synchronised (one command
// per process).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "net/client/client.h"
#include "net/meterctl/table.h"

namespace CLI {
class App;
}

namespace meterd::cli {

struct Common {
  net::EndpointFlags endpoint;   // --server, --key, --key-file
  std::string format = "table";  // --format table|csv|json
  Format fmt() const {
    return format == "csv" ? Format::kCsv : format == "json" ? Format::kJson : Format::kTable;
  }

  // Makes `action` what `command` does when it is the command chosen on the line; the action
  // returns the process exit code. A command without an action is a group of commands.
  void OnRun(const CLI::App* command, std::function<int()> action) {
    actions[command] = std::move(action);
  }
  std::map<const CLI::App*, std::function<int()>> actions;
};

// Micro-credits as exact credits with six decimals: 12345678 -> "12.345678", -5 -> "-0.000005".
std::string Credits(int64_t micro);

// An RFC 3339 time, or "" for 0 or less (a time that is not set).
std::string Time(int64_t unix_seconds);

// Prints "meterctl: <status>" on stderr; returns exit code 1.
int Fail(const Status& st);

// A client connected and authenticated with the endpoint flags (or METER_SERVER, METER_KEY,
// ./meterd-data/admin.key).
Result<std::unique_ptr<net::Client>> Connect(const Common& common);

}  // namespace meterd::cli
