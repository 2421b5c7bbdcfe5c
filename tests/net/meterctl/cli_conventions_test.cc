// meterd — tests/net/meterctl/cli_conventions_test.cc: global options anywhere, unknown
// commands, help and usage exit codes, on a small command tree shaped like meterctl's.
#include "net/meterctl/cli_conventions.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace meterd::cli {
namespace cli_conventions_test {

// A file of commands registered the way common.h describes: the conventions reach it without
// it doing anything.
void RegisterLedgerCommands(CLI::App& app, Common& common, std::string* ran) {
  auto account = std::make_shared<std::string>();
  CLI::App* ledger = app.add_subcommand("ledger", "the prepaid ledger");
  CLI::App* show = ledger->add_subcommand("show", "an account's entries");
  show->add_option("--account", *account, "account id")->required();
  common.OnRun(show, [ran, account] {
    *ran = "ledger show " + *account;
    return 0;
  });
}

class CliConventionsTest : public ::testing::Test {
 protected:
  CliConventionsTest() : app_("test tool", "meterctl") {
    CLI::App* exp = app_.add_subcommand("export", "raw samples");
    exp->add_option("--from", from_, "start")->required();
    exp->add_flag("--rfc3339", rfc3339_, "RFC 3339 timestamps");
    common_.OnRun(exp, [this] {
      ran_ = "export";
      return 0;
    });
    CLI::App* keys = app_.add_subcommand("keys", "API keys");
    CLI::App* create = keys->add_subcommand("create", "create a key");
    create->add_option("--role", role_, "role")->check(CLI::IsMember({"agent", "admin"}));
    common_.OnRun(create, [this] {
      ran_ = "keys create";
      return 7;
    });
    RegisterLedgerCommands(app_, common_, &ran_);
  }

  // Runs the line (once per test: RunCommandLine completes the tree); captures stdout and
  // stderr.
  int Run(std::vector<std::string> args) {
    args.insert(args.begin(), "meterctl");
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int code = RunCommandLine(app_, common_, static_cast<int>(argv.size()), argv.data());
    out_ = ::testing::internal::GetCapturedStdout();
    err_ = ::testing::internal::GetCapturedStderr();
    return code;
  }

  CLI::App app_;
  Common common_;
  std::string from_, role_, ran_, out_, err_;
  bool rfc3339_ = false;
};

TEST_F(CliConventionsTest, GlobalOptionsGoAfterTheCommandAndItsOptions) {
  EXPECT_EQ(Run({"export", "--from", "1", "--format", "csv", "--server", "h:1"}), 0) << err_;
  EXPECT_EQ(ran_, "export");
  EXPECT_EQ(from_, "1");
  EXPECT_EQ(common_.format, "csv");
  EXPECT_EQ(common_.endpoint.server, "h:1");
}

TEST_F(CliConventionsTest, GlobalOptionsGoBeforeTheCommandOrBetweenNestedCommands) {
  EXPECT_EQ(Run({"--format", "json", "keys", "--key", "k", "create", "--key-file", "f"}), 7)
      << err_;
  EXPECT_EQ(ran_, "keys create");
  EXPECT_EQ(common_.format, "json");
  EXPECT_EQ(common_.endpoint.key, "k");
  EXPECT_EQ(common_.endpoint.key_file, "f");
}

TEST_F(CliConventionsTest, ACommandRegisteredElsewhereGetsTheConventions) {
  EXPECT_EQ(Run({"ledger", "show", "--account", "acme", "--format=json"}), 0) << err_;
  EXPECT_EQ(ran_, "ledger show acme");
  EXPECT_EQ(common_.format, "json");
}

TEST_F(CliConventionsTest, EveryHelpListsTheGlobalOptions) {
  EXPECT_EQ(Run({"ledger", "show", "--help"}), 0);
  EXPECT_NE(out_.find("Usage: meterctl ledger show"), std::string::npos) << out_;
  // Every command of the tree, groups and the root included, has the global options.
  std::vector<const CLI::App*> all = {&app_};
  for (size_t i = 0; i < all.size(); ++i) {
    const CLI::App* at = all[i];
    if (at->get_name() != "completion") {
      for (const char* name : {"--server", "--key", "--key-file", "--format"}) {
        const CLI::Option* opt = at->get_option_no_throw(name);
        ASSERT_NE(opt, nullptr) << CommandPath(*at) << " " << name;
        EXPECT_EQ(opt->get_group(), "Global options");
      }
      EXPECT_NE(at->help().find("Global options:"), std::string::npos) << CommandPath(*at);
    }
    for (const CLI::App* sub : at->get_subcommands([](const CLI::App*) { return true; })) {
      all.push_back(sub);
    }
  }
  EXPECT_EQ(all.size(), 7u);  // root, export, keys, keys create, ledger, ledger show, completion
}

TEST_F(CliConventionsTest, AnUnknownCommandIsNamedEvenWithHelp) {
  EXPECT_EQ(Run({"topup", "--help"}), kUsageExit);
  EXPECT_EQ(err_, "meterctl: unknown command 'topup'; see meterctl --help\n");
  EXPECT_EQ(out_, "");
  EXPECT_TRUE(ran_.empty());
}

TEST_F(CliConventionsTest, AnUnknownNestedCommandIsNamedWithItsGroup) {
  EXPECT_EQ(Run({"--format", "json", "keys", "frobnicate"}), kUsageExit);
  EXPECT_EQ(err_, "meterctl: unknown command 'keys frobnicate'; see meterctl keys --help\n");
}

TEST_F(CliConventionsTest, NoCommandPrintsHelpAndIsAUsageError) {
  EXPECT_EQ(Run({}), kUsageExit);
  EXPECT_NE(err_.find("Usage: meterctl [OPTIONS] SUBCOMMAND"), std::string::npos) << err_;
  EXPECT_EQ(out_, "");
}

TEST_F(CliConventionsTest, AGroupWithoutACommandPrintsItsHelp) {
  EXPECT_EQ(Run({"keys"}), kUsageExit);
  EXPECT_NE(err_.find("Usage: meterctl keys [OPTIONS] SUBCOMMAND"), std::string::npos) << err_;
  EXPECT_NE(err_.find("create"), std::string::npos) << err_;
}

TEST_F(CliConventionsTest, AMissingOptionIsAUsageErrorThatNamesTheHelpToRead) {
  EXPECT_EQ(Run({"export"}), kUsageExit);
  EXPECT_EQ(err_, "meterctl: --from is required; see meterctl export --help\n");
}

TEST_F(CliConventionsTest, ABadValueIsAUsageErrorThatNamesTheHelpToRead) {
  EXPECT_EQ(Run({"keys", "create", "--role", "nobody"}), kUsageExit);
  EXPECT_NE(err_.find("see meterctl keys create --help"), std::string::npos) << err_;
}

TEST_F(CliConventionsTest, HelpIsNotAnError) {
  EXPECT_EQ(Run({"--help"}), 0);
  EXPECT_NE(out_.find("completion"), std::string::npos) << out_;
  EXPECT_EQ(err_, "");
}

TEST_F(CliConventionsTest, OnlyOneCommandRuns) {
  EXPECT_EQ(Run({"keys", "create", "export", "--from", "1"}), kUsageExit);
  EXPECT_TRUE(ran_.empty()) << ran_;
}

}  // namespace cli_conventions_test
}  // namespace meterd::cli
