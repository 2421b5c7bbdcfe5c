// meterd — net/meterctl/completion.h: shell completion scripts generated from a CLI11 command
// tree (`meterctl completion bash|zsh`).
//
// The script is data plus one fixed function: for every command path ("", "keys", "keys
// create") the tree is walked for its commands, its option names, the options that take a
// value and their choices (from CLI::IsMember checks), and whether it takes positional
// arguments (completed as file names, or as the first argument's choices). Nothing is listed by
// hand: a command added to the tree is completed. The completion function walks the words before
// the cursor the way CLI11 parses them (a command word descends, an option that takes a value skips
// the next word).
//
// Thread-safety: pure functions of the tree.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace meterd::cli {

enum class Shell { kBash, kZsh };

// One command's completions; `path` is "" for the root, else "keys create".
struct CompletionNode {
  struct Option {
    std::vector<std::string> names;  // "--format", "-h"
    std::string description;
    bool takes_value = false;
    std::vector<std::string> choices;  // from a CLI::IsMember check; empty for free text
  };
  std::string path;
  std::vector<std::pair<std::string, std::string>> commands;  // name, description
  std::vector<Option> options;
  bool positionals = false;                   // takes arguments: file names unless...
  std::vector<std::string> argument_choices;  // ...its first one is a CLI::IsMember choice
};

// Every command of `app`'s tree, depth first from the root. Hidden commands (empty group) are
// left out.
std::vector<CompletionNode> CompletionTree(const CLI::App& app);

// A script that defines _<name>() and registers it for `app`'s name (bash: `complete -F`; zsh:
// `compdef`, or autoloaded as _<name> from $fpath).
std::string CompletionScript(const CLI::App& app, Shell shell);

}  // namespace meterd::cli
