#!/usr/bin/env bash
# meterd — bench/backfill/backfill_bench.sh: `meterctl backfill` of a month against a real
# meterd, then whole-fleet `meterctl charges` on it and a restart.
#
#   bench/backfill/backfill_bench.sh BIN_DIR DATA_DIR MONTH_DIR [meterd flags...]
#
# BIN_DIR holds meterd and meterctl; MONTH_DIR holds month.csv and catalog.yaml written by
# bench/backfill/make_month.py (e.g. --vms 1000: 5.76 M rows); DATA_DIR is recreated. Prints
# one line per figure: backfill seconds and rows/s (client and server on the same machine,
# every request acknowledged after fdatasync), meterd's RSS after the backfill (and its peak),
# whole-fleet charges (3 runs, each time shown), meterd's RSS after the charges, the start time
# of a restart on the same directory and its RSS, and the charges again after the restart (they
# must be the same: the script compares the totals).
set -euo pipefail
BIN=$1 DATA=$2 MONTH=$3
shift 3
rm -rf "$DATA"
mkdir -p "$DATA"
start_server() {
  rm -f "$DATA/port"
  "$BIN/meterd" --data-dir "$DATA" --listen 127.0.0.1:0 --port-file "$DATA/port" --grace 0 \
    "$@" >>"$DATA.log" 2>&1 &
  PID=$!
  local t0=$(date +%s.%N)
  while [ ! -s "$DATA/port" ]; do sleep 0.05; done
  STARTED=$(echo "$(date +%s.%N) - $t0" | bc)
  PORT=$(cat "$DATA/port")
  KEY=$(cat "$DATA/admin.key")
}
ctl() { "$BIN/meterctl" --server 127.0.0.1:$PORT --key "$KEY" "$@"; }
rss() { awk -v k="$1" '$1 == k {printf "%.0f MiB", $2 / 1024}' /proc/$PID/status; }

start_server "$@"
ctl apply "$MONTH/catalog.yaml" >/dev/null
ROWS=$(($(wc -l <"$MONTH/month.csv") - 1))
FIRST=$(sed -n 2p "$MONTH/month.csv" | cut -d, -f3)
FROM=$(python3 -c "import calendar,time; t=time.gmtime($FIRST); print(calendar.timegm((t.tm_year,t.tm_mon,1,0,0,0)))")
TO=$(python3 -c "import calendar,time; t=time.gmtime($FIRST); print(calendar.timegm((t.tm_year+(t.tm_mon==12),t.tm_mon%12+1,1,0,0,0)))")
t0=$(date +%s.%N)
ctl backfill "$MONTH/month.csv" 2>/dev/null | tail -3
t1=$(date +%s.%N)
secs=$(echo "$t1 - $t0" | bc)
echo "backfill: $ROWS rows in $secs s = $(echo "$ROWS / $secs" | bc) rows/s"
echo "meterd RSS after backfill: $(rss VmRSS:) (peak $(rss VmHWM:))"
charges() {
  for run in 1 2 3; do
    c0=$(date +%s.%N)
    ctl --format csv charges --from "$FROM" --to "$TO" >"$DATA.charges.$1.csv"
    c1=$(date +%s.%N)
    echo -n "$(echo "$c1 - $c0" | bc) s  "
  done
  echo
  echo "  lines: $(wc -l <"$DATA.charges.$1.csv")"
}
echo -n "whole-fleet charges: "
charges before
echo "meterd RSS after charges: $(rss VmRSS:) (peak $(rss VmHWM:))"
kill -TERM $PID
wait $PID || true
start_server "$@"
echo "restart: listening after $STARTED s, RSS $(rss VmRSS:)"
echo -n "whole-fleet charges after restart: "
charges after
if cmp -s "$DATA.charges.before.csv" "$DATA.charges.after.csv"; then
  echo "charges identical before and after the restart"
else
  echo "CHARGES DIFFER before and after the restart"
fi
echo "data directory: $(du -sh "$DATA" | cut -f1); rollup: $(du -sh "$DATA/rollup" | cut -f1)"
kill -TERM $PID
wait $PID || true
