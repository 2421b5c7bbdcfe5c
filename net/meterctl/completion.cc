// meterd — net/meterctl/completion.cc
//
// A script is a few data functions, `case` statements from a key (a command path, or
// "path|--option" for choices) to words, and one fixed completion function that reads them.
// Both shells share the data (Tables); only its rendering and the fixed function differ.
#include "net/meterctl/completion.h"

#include <algorithm>
#include <cctype>

namespace meterd::cli {
namespace {

// CLI::IsMember describes itself as "{a,b,c}" in the option's type name ("TEXT:{a,b,c}").
std::vector<std::string> Choices(const CLI::Option& opt) {
  const std::string type = opt.get_type_name();
  const size_t open = type.find('{');
  const size_t close = type.find('}', open);
  std::vector<std::string> out;
  if (open == std::string::npos || close == std::string::npos) return out;
  const std::string list = type.substr(open + 1, close - open - 1);
  for (size_t at = 0; at <= list.size();) {
    const size_t comma = std::min(list.find(',', at), list.size());
    if (comma > at) out.push_back(list.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

void Walk(const CLI::App& app, const std::string& path, std::vector<CompletionNode>* out) {
  CompletionNode node;
  node.path = path;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_positional()) {
      if (!node.positionals) node.argument_choices = Choices(*opt);  // of the first argument
      node.positionals = true;
      continue;
    }
    CompletionNode::Option o;
    for (const std::string& n : opt->get_lnames()) o.names.push_back("--" + n);
    for (const std::string& n : opt->get_snames()) o.names.push_back("-" + n);
    if (o.names.empty()) continue;
    o.description = opt->get_description();
    o.takes_value = opt->get_items_expected_max() > 0;  // 0 for flags
    if (o.takes_value) o.choices = Choices(*opt);
    node.options.push_back(std::move(o));
  }
  const auto subs = app.get_subcommands([](const CLI::App* s) {
    return !s->get_name().empty() && !s->get_group().empty();  // an empty group hides it
  });
  for (const CLI::App* s : subs) node.commands.emplace_back(s->get_name(), s->get_description());
  out->push_back(std::move(node));
  for (const CLI::App* s : subs) {
    Walk(*s, path.empty() ? s->get_name() : path + " " + s->get_name(), out);
  }
}

// A data function's entries: key -> words.
using WordTable = std::vector<std::pair<std::string, std::vector<std::string>>>;

struct Tables {
  WordTable commands, options, value_options, choices;
  std::vector<std::string> with_arguments;  // command paths that take file (or choice) arguments
};

// _describe's "name:description" (zsh); a colon in the name is escaped.
std::string Spec(const std::string& name, const std::string& description) {
  std::string s;
  for (char c : name) s += c == ':' ? std::string("\\:") : std::string(1, c);
  return s + ":" + description;
}

// Bash completes names; zsh describes them (`with_descriptions`).
Tables Collect(const std::vector<CompletionNode>& nodes, bool with_descriptions) {
  Tables t;
  for (const CompletionNode& n : nodes) {
    std::vector<std::string> commands, options, value_options;
    for (const auto& [name, description] : n.commands) {
      commands.push_back(with_descriptions ? Spec(name, description) : name);
    }
    if (!n.argument_choices.empty()) t.choices.emplace_back(n.path + "|", n.argument_choices);
    for (const auto& o : n.options) {
      for (const std::string& name : o.names) {
        options.push_back(with_descriptions ? Spec(name, o.description) : name);
        if (o.takes_value) value_options.push_back(name);
        if (!o.choices.empty()) t.choices.emplace_back(n.path + "|" + name, o.choices);
      }
    }
    t.commands.emplace_back(n.path, std::move(commands));
    t.options.emplace_back(n.path, std::move(options));
    t.value_options.emplace_back(n.path, std::move(value_options));
    if (n.positionals && n.commands.empty()) t.with_arguments.push_back(n.path);
  }
  return t;
}

// A shell word in single quotes; newlines become spaces.
std::string Quote(std::string_view s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += (c == '\n' || c == '\r') ? ' ' : c;
    }
  }
  return q + "'";
}

// name() { case "$1" in 'key') <words> ;; ... esac }: bash echoes the words, zsh sets $reply.
std::string DataFunction(Shell shell, const std::string& name, const char* selector,
                         const WordTable& table) {
  std::string s = name + "() {\n  case " + selector + " in\n";
  for (const auto& [key, words] : table) {
    if (words.empty()) continue;
    std::string list;
    for (const std::string& w : words) {
      list += list.empty() ? "" : " ";
      list += shell == Shell::kBash ? w : Quote(w);
    }
    s += shell == Shell::kBash ? "    " + Quote(key) + ") echo " + Quote(list) + " ;;\n"
                               : "    (" + Quote(key) + ") reply=(" + list + ") ;;\n";
  }
  if (shell == Shell::kZsh) s += "    (*) reply=() ;;\n";
  return s + "  esac\n}\n";
}

// name() succeeds for the keys given.
std::string MemberFunction(Shell shell, const std::string& name,
                           const std::vector<std::string>& keys) {
  std::string s = name + "() {\n  case \"$1\" in\n";
  if (!keys.empty()) {
    std::string alternatives;
    for (const std::string& k : keys) alternatives += (alternatives.empty() ? "" : "|") + Quote(k);
    s += shell == Shell::kBash ? "    " + alternatives + ") return 0 ;;\n"
                               : "    (" + alternatives + ") return 0 ;;\n";
  }
  return s + "  esac\n  return 1\n}\n";
}

// The program name as a shell identifier: "_meterctl".
std::string FunctionName(const CLI::App& app) {
  std::string fn = "_";
  for (char c : app.get_name()) fn += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return fn;
}

// The fixed completion functions. FN stands for the function's name, PROGRAM for the command.
// Both walk the words before the cursor as CLI11 parses them: a command word descends into the
// command, an option that takes a value skips its value, other words are arguments.
constexpr const char* kBashMain = R"__(FN() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd_path= word= value_of= choices= i
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ $word == -* ]]; then
      if [[ $word != *=* && " $(FN_value_options "$cmd_path") " == *" $word "* ]]; then
        if ((i + 1 == COMP_CWORD)); then value_of=$word; fi
        i=$((i + 1))
      fi
    elif [[ " $(FN_commands "$cmd_path") " == *" $word "* ]]; then
      cmd_path=${cmd_path:+$cmd_path }$word
    fi
  done
  if [[ -n $value_of ]]; then
    choices=$(FN_choices "$cmd_path" "$value_of")
  elif [[ $cur == -* ]]; then
    choices=$(FN_options "$cmd_path")
  else
    choices=$(FN_commands "$cmd_path")
    if [[ -z $choices ]]; then
      FN_with_arguments "$cmd_path" || return 0
      choices=$(FN_choices "$cmd_path" "")
    fi
  fi
  if [[ -n $choices ]]; then
    COMPREPLY=($(compgen -W "$choices" -- "$cur"))
  else
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
  return 0
}
complete -F FN PROGRAM
)__";

constexpr const char* kZshMain = R"__(FN() {
  local cmd_path= word= value_of= i
  local -a reply specs names
  for ((i = 2; i < CURRENT; i++)); do
    word=${words[i]}
    if [[ $word == -* ]]; then
      FN_value_options "$cmd_path"
      if [[ $word != *=* ]] && (( ${reply[(Ie)$word]} )); then
        if ((i + 1 == CURRENT)); then value_of=$word; fi
        ((i++))
      fi
    else
      FN_commands "$cmd_path"
      names=(${reply%%:*})
      if (( ${names[(Ie)$word]} )); then cmd_path=${cmd_path:+$cmd_path }$word; fi
    fi
  done
  if [[ -n $value_of ]]; then
    FN_choices "$cmd_path" "$value_of"
    if (( $#reply )); then compadd -a reply; else _files; fi
  elif [[ ${words[CURRENT]} == -* ]]; then
    FN_options "$cmd_path"
    specs=("${reply[@]}")
    _describe -t options option specs
  else
    FN_commands "$cmd_path"
    if (( $#reply )); then
      specs=("${reply[@]}")
      _describe -t commands command specs
    elif FN_with_arguments "$cmd_path"; then
      FN_choices "$cmd_path" ""
      if (( $#reply )); then compadd -a reply; else _files; fi
    fi
  fi
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
  FN "$@"
else
  compdef FN PROGRAM
fi
)__";

std::string Fill(const CLI::App& app, const char* tmpl) {
  std::string s = tmpl;
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"FN", FunctionName(app)},
                                 {"PROGRAM", app.get_name()}}) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
      s.replace(at, from.size(), to);
    }
  }
  return s;
}

}  // namespace

std::vector<CompletionNode> CompletionTree(const CLI::App& app) {
  std::vector<CompletionNode> out;
  Walk(app, "", &out);
  return out;
}

std::string CompletionScript(const CLI::App& app, Shell shell) {
  const std::string name = app.get_name();
  const std::string fn = FunctionName(app);
  const bool zsh = shell == Shell::kZsh;
  const Tables t = Collect(CompletionTree(app), /*with_descriptions=*/zsh);
  std::string s = zsh ? "#compdef " + name + "\n" : "";
  s += "# " + std::string(zsh ? "zsh" : "bash") + " completion for " + name +
       ", generated from its command tree by `" + name + " completion " + (zsh ? "zsh" : "bash") +
       "`.\n";
  s += zsh ? "# Load it with: source <(" + name +
                 " completion zsh) after compinit, or save it as " + fn +
                 " in a directory of your $fpath.\n"
           : "# Load it with: source <(" + name + " completion bash)\n";
  s += DataFunction(shell, fn + "_commands", "\"$1\"", t.commands);
  s += DataFunction(shell, fn + "_options", "\"$1\"", t.options);
  s += DataFunction(shell, fn + "_value_options", "\"$1\"", t.value_options);
  s += DataFunction(shell, fn + "_choices", "\"$1|$2\"", t.choices);
  s += MemberFunction(shell, fn + "_with_arguments", t.with_arguments);
  return s + Fill(app, zsh ? kZshMain : kBashMain);
}

}  // namespace meterd::cli
