// meterd — net/meterctl/cli_conventions.cc
//
// The global options are added to every command (bound to the same Common fields) rather than
// left on the root with fallthrough(): that way CLI11 parses them in any position and lists them
// in each command's --help, which fallthrough does not. CLI11 itself puts a word that is neither
// an option nor a command into the `remaining()` words of the command being parsed; a group's
// stray word is therefore the unknown command, checked before --help is honoured.
#include "net/meterctl/cli_conventions.h"

#include <cstdio>
#include <memory>
#include <optional>

#include "net/meterctl/completion.h"

namespace meterd::cli {
namespace {

constexpr const char* kGlobalGroup = "Global options";

std::vector<CLI::App*> Commands(CLI::App* app) {
  return app->get_subcommands([](CLI::App* sub) { return !sub->get_name().empty(); });
}

void ApplyConventions(CLI::App* app, Common* common) {
  AddGlobalOptions(app, common);
  const std::vector<CLI::App*> commands = Commands(app);
  if (!commands.empty()) app->require_subcommand(1);  // exactly one
  for (CLI::App* sub : commands) ApplyConventions(sub, common);
}

// The command chosen: the deepest command parsed so far.
const CLI::App* Chosen(const CLI::App& app) {
  const CLI::App* at = &app;
  while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
  return at;
}

// "keys frobnicate" when the line gave a group a word that names none of its commands.
std::optional<std::string> UnknownCommand(CLI::App& app) {
  for (CLI::App* at = &app; at != nullptr;) {
    if (!Commands(at).empty()) {
      for (const std::string& word : at->remaining()) {
        if (!word.empty() && word[0] != '-') {
          return (CommandPath(*at) + " " + word).substr(app.get_name().size() + 1);
        }
      }
    }
    const std::vector<CLI::App*> parsed = at->get_subcommands();
    at = parsed.empty() ? nullptr : parsed.front();
  }
  return std::nullopt;
}

// `command`'s --help text, its usage line naming the whole path ("meterctl keys").
std::string Help(const CLI::App& command) {
  return command.get_parent() ? command.help(CommandPath(*command.get_parent())) : command.help();
}

int UsageError(CLI::App& app, const CLI::Error& e) {
  if (auto unknown = UnknownCommand(app)) {
    const std::string see = CommandPath(*Chosen(app));
    std::fprintf(stderr, "%s: unknown command '%s'; see %s --help\n", app.get_name().c_str(),
                 unknown->c_str(), see.c_str());
    return kUsageExit;
  }
  if (dynamic_cast<const CLI::CallForHelp*>(&e) || dynamic_cast<const CLI::CallForAllHelp*>(&e)) {
    return app.exit(e);  // the chosen command's help on stdout, exit 0
  }
  const CLI::App* chosen = Chosen(app);
  if (dynamic_cast<const CLI::RequiredError*>(&e) &&
      !chosen->get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); }).empty()) {
    // A group without one of its commands (`meterctl`, `meterctl keys`): its help, as an error.
    std::fputs(Help(*chosen).c_str(), stderr);
    return kUsageExit;
  }
  std::fprintf(stderr, "%s: %s; see %s --help\n", app.get_name().c_str(), e.what(),
               CommandPath(*chosen).c_str());
  return kUsageExit;
}

}  // namespace

void AddGlobalOptions(CLI::App* command, Common* common) {
  command
      ->add_option("--server", common->endpoint.server,
                   "meterd address HOST:PORT (default: $METER_SERVER, else 127.0.0.1:7400)")
      ->group(kGlobalGroup);
  command->add_option("--key", common->endpoint.key, "API key (default: $METER_KEY)")
      ->group(kGlobalGroup);
  command
      ->add_option("--key-file", common->endpoint.key_file,
                   "file holding the API key (default: ./meterd-data/admin.key)")
      ->group(kGlobalGroup);
  command->add_flag("--tls", common->endpoint.tls, "connect with TLS (the system's CAs)")
      ->group(kGlobalGroup);
  command
      ->add_option("--tls-ca", common->endpoint.tls_ca,
                   "connect with TLS, the server's certificate signed by this PEM CA")
      ->group(kGlobalGroup);
  command->add_option("--tls-cert", common->endpoint.tls_cert, "TLS client certificate (PEM)")
      ->group(kGlobalGroup);
  command->add_option("--tls-key", common->endpoint.tls_key, "TLS client key (PEM)")
      ->group(kGlobalGroup);
  command->add_option("--format", common->format, "output format")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str()
      ->group(kGlobalGroup);
}

std::string CommandPath(const CLI::App& command) {
  std::string path = command.get_name();
  for (const CLI::App* p = command.get_parent(); p != nullptr; p = p->get_parent()) {
    path = p->get_name() + " " + path;
  }
  return path;
}

int RunCommandLine(CLI::App& app, Common& common, int argc, const char* const* argv) {
  ApplyConventions(&app, &common);
  // After the conventions: completion takes no global options.
  auto shell = std::make_shared<std::string>();
  CLI::App* completion = app.add_subcommand(
      "completion", "print a shell completion script (bash: source <(" + app.get_name() +
                        " completion bash); zsh: the same, after compinit)");
  completion->add_option("shell", *shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  common.OnRun(completion, [&app, shell] {
    std::fputs(CompletionScript(app, *shell == "zsh" ? Shell::kZsh : Shell::kBash).c_str(), stdout);
    return 0;
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::Error& e) {
    return UsageError(app, e);
  }
  auto action = common.actions.find(Chosen(app));
  if (action == common.actions.end()) {
    std::fputs(Help(*Chosen(app)).c_str(), stderr);  // a group with no action of its own
    return kUsageExit;
  }
  return action->second();
}

}  // namespace meterd::cli
