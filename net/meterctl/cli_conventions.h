// meterd — net/meterctl/cli_conventions.h: the command-line conventions every meterctl command
// follows, applied to the whole command tree at once so that a command registered anywhere
// (main.cc, a Register*Commands function in a file of its own) gets them without doing
// anything:
//   * the global options (--server, --key, --key-file, --format) are accepted anywhere on the
//     line, before or after the command and its options, and every --help lists them under
//     "Global options";
//   * a group of commands (keys, metrics, rollup) needs one of its commands: without one it
//     prints its help and exits 2; an unknown command is an error that names it, exit 2, even
//     with --help;
//   * every other usage error exits 2 with one line naming the --help to read;
//   * `meterctl completion bash|zsh` prints a completion script generated from the tree.
//
// Thread-safety: not synchronised (one command line per process).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "net/meterctl/common.h"

namespace meterd::cli {

// Exit code of a usage error (documented in main.cc).
inline constexpr int kUsageExit = 2;

// Adds the global options, bound to `common`, to `command` in the "Global options" group.
void AddGlobalOptions(CLI::App* command, Common* common);

// Applies the conventions to `app` and every command under it, adds `completion`, parses
// argv and runs the action of the command chosen (Common::OnRun). Returns the exit code: the
// action's; 0 for --help; kUsageExit for usage errors.
// REQUIRES: every command is registered; `app` is named ("meterctl"); called once per app.
int RunCommandLine(CLI::App& app, Common& common, int argc, const char* const* argv);

// "meterctl keys create" for that command; the root's name for the root.
std::string CommandPath(const CLI::App& command);

}  // namespace meterd::cli
