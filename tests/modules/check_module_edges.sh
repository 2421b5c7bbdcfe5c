#!/usr/bin/env bash
# meterd — tests/modules/check_module_edges.sh: fails on a wrong-way include between modules.
#
#   tests/modules/check_module_edges.sh [SOURCE_ROOT]   check the tree (ctest: ModuleEdges.*)
#   tests/modules/check_module_edges.sh --self-test     check that a wrong edge is caught
#
# The layers, lowest first (docs/architecture.md, "Modules"): storage (files, WAL, segments,
# rollups, the record log, SQLite on the Env) <- query <- net (protocol, server, clients) <-
# engine (domain logic) <- the composition roots, which may include anything. A file's module is
# its top directory; an include `"M/..."` is an edge to module M. Forbidden edges:
#   storage -> engine, net, query, sim, bench, tests
#   query   -> net, engine, sim, bench, tests
#   net     -> engine, bench, tests
#   engine  -> bench, tests
#   sim     -> engine, net, query, bench, tests
# Composition roots: engine/meterd/ (meterd), bench/, tests/. net/meterctl/ is a composition
# root too, for now: the CLI renders invoices and reads the metric catalog in process (engine/
# invoicing, engine/catalog.h); listed below so that any other net -> engine edge fails.
# Prints every wrong edge as FILE: #include "..." (rule) and exits 1 if there is one.
set -uo pipefail

# Directories whose files may include any module (prefix match on the file's path).
roots=(engine/meterd/ bench/ tests/ net/meterctl/)

forbidden_for() {
  case $1 in
    storage) echo "engine net query sim bench tests" ;;
    query) echo "net engine sim bench tests" ;;
    net) echo "engine bench tests" ;;
    engine) echo "bench tests" ;;
    sim) echo "engine net query bench tests" ;;
    *) echo "" ;;
  esac
}

check_tree() {
  local top=$1 bad=0 files=0 edges=0
  while IFS= read -r -d '' f; do
    local rel=${f#"$top"/}
    local root
    for root in "${roots[@]}"; do
      [[ $rel == "$root"* ]] && continue 2
    done
    local module=${rel%%/*}
    local forbidden
    forbidden=$(forbidden_for "$module")
    files=$((files + 1))
    [ -n "$forbidden" ] || continue
    while IFS= read -r line; do
      local target=${line#*\"}
      target=${target%%/*}
      edges=$((edges + 1))
      local m
      for m in $forbidden; do
        if [ "$target" = "$m" ]; then
          echo "$rel: $line  ($module must not include $m)"
          bad=$((bad + 1))
        fi
      done
    done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[a-z_]+/' "$f" | tr -s ' ')
  done < <(find "$top/storage" "$top/query" "$top/net" "$top/engine" "$top/sim" \
             -type f \( -name '*.h' -o -name '*.cc' -o -name '*.c' \) -print0 2>/dev/null)
  if [ "$bad" -gt 0 ]; then
    echo "module edges: $bad wrong-way include(s) in $files files"
    return 1
  fi
  echo "module edges: OK, $files files, $edges project includes checked"
  return 0
}

if [ "${1:-}" = "--self-test" ]; then
  # A tree with one right and one wrong edge per rule: the check must pass the first and fail
  # each of the second.
  t=$(mktemp -d)
  trap 'rm -rf "$t"' EXIT
  mkdir -p "$t"/{storage/a,query,net/server,engine/x,engine/meterd,sim}
  echo '#include "storage/base/status.h"' >"$t/query/q.h"
  echo '#include "net/protocol/frame.h"' >"$t/engine/x/e.h"
  echo '#include "engine/x/e.h"' >"$t/engine/meterd/main.cc"
  check_tree "$t" >/dev/null || { echo "self-test: a clean tree was refused"; exit 1; }
  fails=0
  for edge in 'storage/a/s.h:engine/x/e.h' 'storage/a/s.cc:net/server/n.h' \
              'query/q.cc:engine/x/e.h' 'query/q.cc:net/server/n.h' 'net/server/n.cc:engine/x/e.h' \
              'net/server/n.cc:bench/b.h' 'engine/x/e.cc:bench/b.h' 'sim/s.h:engine/x/e.h'; do
    file=${edge%%:*} inc=${edge#*:}
    printf '#include <vector>\n  #include "%s"\n' "$inc" >"$t/$file"
    if check_tree "$t" >/dev/null; then
      echo "self-test: $file including $inc was not caught"
      fails=$((fails + 1))
    fi
    rm "$t/$file"
  done
  [ $fails = 0 ] && echo "module edges self-test: OK, 8 wrong edges caught, a clean tree passed"
  exit $((fails > 0))
fi

check_tree "$(cd "${1:-$(dirname "$0")/../..}" && pwd)"
