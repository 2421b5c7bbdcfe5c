// meterd — tests/net/meterctl/completion_test.cc: completion scripts generated from a command
// tree, checked by running them in bash (and zsh, when it is installed), for a small tree and
// for the real meterctl binary.
#include "net/meterctl/completion.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "net/meterctl/cli_conventions.h"
#include "tests/testing/temp_dir.h"

namespace meterd::cli {
namespace completion_test {

struct Shelled {
  int exit_code;
  std::string out;
};

Shelled Sh(const std::string& command) {
  Shelled r{-1, ""};
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r;
}

bool HaveZsh() { return Sh("command -v zsh >/dev/null 2>&1").exit_code == 0; }

// A tree shaped like meterctl's: a group with nested commands, options with and without
// values, choices, a file argument, a choice argument and a hidden command.
class CompletionTest : public ::testing::Test {
 protected:
  CompletionTest() : app_("tool", "mctl") {
    AddGlobalOptions(&app_, &common_);
    CLI::App* ingest = app_.add_subcommand("ingest", "send a CSV file");
    ingest->add_option("file", file_, "CSV file")->required();
    ingest->add_option("--batch", batch_, "samples per batch");
    ingest->add_flag("--dry-run", flag_, "check only");
    CLI::App* keys = app_.add_subcommand("keys", "API keys: create, list");
    keys->add_subcommand("create", "create a key; it's printed once")
        ->add_option("--role", role_, "role")
        ->check(CLI::IsMember({"agent", "billing", "admin"}));
    keys->add_subcommand("list", "list keys");
    app_.add_subcommand("shell", "a shell")
        ->add_option("name", role_, "which")
        ->check(CLI::IsMember({"bash", "zsh"}));
    app_.add_subcommand("secret", "hidden")->group("");
  }

  // The words bash's _mctl offers for `line`, the cursor on its last word ("" for an empty
  // one: the line is inside single quotes).
  std::string Bash(const std::string& line) {
    const std::string script = tmp_.path() + "/mctl.bash";
    std::ofstream(script) << CompletionScript(app_, Shell::kBash);
    return Sh("bash --norc -c 'source " + script + "; COMP_WORDS=(" + line +
              "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); cd " + tmp_.path() +
              "; _mctl; echo \"${COMPREPLY[*]}\"'")
        .out;
  }

  CLI::App app_;
  Common common_;
  std::string file_, role_;
  int batch_ = 0;
  bool flag_ = false;
  testing::TempDir tmp_;
};

TEST_F(CompletionTest, TreeHasEveryCommandOptionAndChoice) {
  const std::vector<CompletionNode> tree = CompletionTree(app_);
  ASSERT_EQ(tree.size(), 6u);  // root, ingest, keys, keys create, keys list, shell; not secret
  EXPECT_EQ(tree[0].path, "");
  ASSERT_EQ(tree[0].commands.size(), 3u);
  EXPECT_EQ(tree[0].commands[1].first, "keys");
  EXPECT_EQ(tree[3].path, "keys create");
  const CompletionNode& ingest = tree[1];
  EXPECT_TRUE(ingest.positionals);
  bool batch = false, dry_run = false;
  for (const auto& o : ingest.options) {
    if (o.names[0] == "--batch") batch = o.takes_value;
    if (o.names[0] == "--dry-run") dry_run = !o.takes_value;
  }
  EXPECT_TRUE(batch && dry_run);
  const auto& role = tree[3].options.back();
  EXPECT_EQ(role.names[0], "--role");
  EXPECT_EQ(role.choices, (std::vector<std::string>{"agent", "billing", "admin"}));
  EXPECT_EQ(tree[5].argument_choices, (std::vector<std::string>{"bash", "zsh"}));
}

TEST_F(CompletionTest, BashCompletesCommandsNestedCommandsOptionsAndValues) {
  EXPECT_EQ(Bash("mctl k"), "keys");
  EXPECT_EQ(Bash("mctl \"\""), "ingest keys shell");  // the hidden command is left out
  EXPECT_EQ(Bash("mctl keys \"\""), "create list");
  EXPECT_EQ(Bash("mctl --format json keys c"), "create");
  EXPECT_EQ(Bash("mctl keys create --r"), "--role");
  EXPECT_EQ(Bash("mctl keys create --role a"), "agent admin");
  EXPECT_EQ(Bash("mctl --format \"\""), "table csv json");
  EXPECT_EQ(Bash("mctl ingest --dry-run --ba"), "--batch");
  EXPECT_EQ(Bash("mctl shell \"\""), "bash zsh");
  EXPECT_EQ(Bash("mctl keys list \"\""), "");  // takes no arguments
  std::ofstream(tmp_.path() + "/samples.csv") << "x";
  EXPECT_EQ(Bash("mctl ingest --batch 5 sa"), "samples.csv");  // a file argument
}

TEST_F(CompletionTest, ZshScriptParsesAndCompletes) {
  if (!HaveZsh()) GTEST_SKIP() << "zsh is not installed";
  const std::string script = tmp_.path() + "/_mctl";
  std::ofstream(script) << CompletionScript(app_, Shell::kZsh);
  EXPECT_EQ(Sh("zsh -n " + script).exit_code, 0);
  // compsys stubbed: _describe and compadd print the names offered.
  auto zsh = [&](const std::string& words) {
    return Sh("zsh -f -c 'compdef() { :; }; _files() { print FILES; };"
              " _describe() { local a=${@[-1]}; print -r -- ${${(P)a}%%:*}; };"
              " compadd() { print -r -- ${(P)2}; }; source " +
              script + "; words=(" + words + "); CURRENT=${#words}; _mctl'")
        .out;
  };
  EXPECT_EQ(zsh("mctl \"\""), "ingest keys shell");
  EXPECT_EQ(zsh("mctl --format json keys \"\""), "create list");
  EXPECT_EQ(zsh("mctl keys create --role \"\""), "agent billing admin");
  EXPECT_EQ(zsh("mctl ingest \"\""), "FILES");
}

// The real binary: `meterctl completion bash|zsh`.
TEST(MeterctlCompletionTest, BashOffersMeterctlCommands) {
  const std::string source = std::string("source <(") + METERCTL_BIN + " completion bash); ";
  auto complete = [&](const std::string& words, int cword) {
    return Sh("bash --norc -c '" + source + "COMP_WORDS=(" + words +
              "); COMP_CWORD=" + std::to_string(cword) + "; _meterctl; echo ${COMPREPLY[@]}'")
        .out;
  };
  EXPECT_EQ(complete("meterctl ke", 1), "keys");
  EXPECT_EQ(complete("meterctl keys \"\"", 2), "create list revoke");
  EXPECT_EQ(complete("meterctl rollup \"\"", 2), "rebuild");
  EXPECT_EQ(complete("meterctl metrics \"\"", 2), "list define");
  EXPECT_EQ(complete("meterctl export --fr", 2), "--from");
  EXPECT_EQ(complete("meterctl rollup rebuild --fo", 3), "--format");
  EXPECT_EQ(complete("meterctl stats --format j", 3), "json");
  EXPECT_EQ(complete("meterctl completion \"\"", 2), "bash zsh");
}

TEST(MeterctlCompletionTest, ZshScriptParses) {
  if (!HaveZsh()) GTEST_SKIP() << "zsh is not installed";
  EXPECT_EQ(Sh(std::string(METERCTL_BIN) + " completion zsh | zsh -n").exit_code, 0);
}

TEST(MeterctlCompletionTest, UnknownCommandsAndNoCommandAreUsageErrors) {
  const std::string bin = METERCTL_BIN;
  Shelled unknown = Sh(bin + " frobnicate --help 2>&1");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.out, "meterctl: unknown command 'frobnicate'; see meterctl --help");
  EXPECT_EQ(Sh(bin + " >/dev/null 2>&1").exit_code, 2);
  EXPECT_EQ(Sh(bin + " completion fish >/dev/null 2>&1").exit_code, 2);
}

}  // namespace completion_test
}  // namespace meterd::cli
