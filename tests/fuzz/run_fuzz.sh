#!/usr/bin/env bash
# meterd — tests/fuzz/run_fuzz.sh: runs libFuzzer targets for a given time each (`make fuzz`).
#
#   tests/fuzz/run_fuzz.sh BIN_DIR SECONDS OUT_DIR PARALLEL TARGET...
#
# Each target <t> runs BIN_DIR/<t>_fuzz for SECONDS on a scratch copy of its committed corpus,
# tests/fuzz/corpus/<t>/ (copied into OUT_DIR/corpus/<t>, so the inputs the fuzzer adds never
# land in the repository), with crash, timeout, leak and out-of-memory artifacts written to
# OUT_DIR/artifacts/ and its log to OUT_DIR/<t>.log. PARALLEL targets run at a time. At the end
# it prints one line per target (runs, execs/s, coverage, finding) and exits non-zero if any
# target found something. Promote a finding to a regression input by fixing the decoder and
# copying the artifact to tests/fuzz/corpus/<t>/regress-<what>.
set -uo pipefail
bin=$1 seconds=$2 out=$3 parallel=$4
shift 4
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/artifacts" "$out/corpus"

run_one() {
  local t=$1
  local corpus="$out/corpus/$t"
  rm -rf "$corpus" && mkdir -p "$corpus"
  if [ -d "$src/corpus/$t" ]; then cp "$src/corpus/$t"/* "$corpus"/ 2>/dev/null; fi
  # -timeout: one input taking 10 s is a hang. -malloc_limit_mb: one allocation of 512 MB
  # from inputs of a few KB is an unbounded allocation. -use_value_profile: helps past
  # magic numbers and the field comparisons behind them.
  "$bin/${t}_fuzz" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=512 -use_value_profile=1 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t-" >"$out/$t.log" 2>&1
  echo $? >"$out/$t.rc"
}
export -f run_one
export bin seconds out src
printf '%s\n' "$@" | xargs -P "$parallel" -I{} bash -c 'run_one {}'

status=0
printf '%-12s %12s %10s %8s  %s\n' target runs execs/s cov result
for t in "$@"; do
  log="$out/$t.log"
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  rc=$(cat "$out/$t.rc" 2>/dev/null || echo '?')
  result=ok
  if [ "$rc" != 0 ]; then
    result="FINDING (exit $rc): $(grep -m1 -E 'ERROR: |runtime error|Assertion|abort' "$log" | cut -c1-100)"
    status=1
  fi
  printf '%-12s %12s %10s %8s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "${cov:-?}" "$result"
done
[ $status = 0 ] || echo "artifacts: $out/artifacts (logs: $out/<target>.log)"
exit $status
