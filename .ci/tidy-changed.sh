#!/usr/bin/env bash
# meterd — .ci/tidy-changed.sh: clang-tidy (.clang-tidy) on the .cc files changed against a
# base ref, with the compile commands of a configured build (`make tidy`).
#
#   .ci/tidy-changed.sh [BASE_REF] [BUILD_DIR] [JOBS]     defaults: origin/main or main, build, 2
#
# Checked: every .cc file added or modified between the merge base of BASE_REF and the working
# tree (committed or not) that the build compiles (is in BUILD_DIR/compile_commands.json). A
# changed header is checked through the changed .cc files that include it (HeaderFilterRegex);
# a header changed alone is checked through the .cc file of the same name when there is one.
# Exits 1 on any finding (WarningsAsErrors), 0 when clean or nothing to check. Generated
# headers (FlatBuffers, protobuf) must exist: build once first.
set -uo pipefail
cd "$(dirname "$0")/.."
base=${1:-}
build=${2:-build}
jobs=${3:-2}
if [ -z "$base" ]; then
  if git rev-parse -q --verify origin/main >/dev/null; then base=origin/main; else base=main; fi
fi
db="$build/compile_commands.json"
if [ ! -f "$db" ]; then
  echo "tidy: $db missing: configure the build first (cmake -S . -B $build)" >&2
  exit 2
fi
tidy=$(command -v clang-tidy || command -v clang-tidy-14) || {
  echo "tidy: clang-tidy not installed (apt-get install clang-tidy)" >&2
  exit 2
}
merge_base=$(git merge-base "$base" HEAD) || exit 2
mapfile -t changed < <( (git diff --name-only --diff-filter=AM "$merge_base" -- '*.cc' '*.h';
                         git ls-files --others --exclude-standard -- '*.cc' '*.h') | sort -u)
files=()
for f in "${changed[@]}"; do
  case $f in
    *.h) f=${f%.h}.cc; [ -f "$f" ] || continue ;;
  esac
  grep -q "\"file\": \"$PWD/$f\"" "$db" || grep -q "\"file\": \"$f\"" "$db" || continue
  files+=("$f")
done
mapfile -t files < <(printf '%s\n' "${files[@]}" | sort -u | sed '/^$/d')
if [ ${#files[@]} -eq 0 ]; then
  echo "tidy: no compiled .cc file changed since $base ($merge_base)"
  exit 0
fi
echo "tidy: ${#files[@]} file(s) changed since $base: ${files[*]}"
start=$(date +%s)
printf '%s\n' "${files[@]}" |
  xargs -P "$jobs" -I{} "$tidy" -p "$build" --quiet {} 2>/dev/null >"$build/tidy.log"
status=$?
grep -E "(warning|error):" "$build/tidy.log" | sort -u
n=$(grep -cE "(warning|error):" "$build/tidy.log")
echo "tidy: ${#files[@]} file(s), $n finding(s), $(($(date +%s) - start)) s"
[ "$status" = 0 ] && [ "$n" = 0 ]
