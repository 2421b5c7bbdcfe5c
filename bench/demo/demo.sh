#!/usr/bin/env bash
# The `make demo` job: meterd on the default data directory (./meterd-data), an agent streaming
# a simulated hypervisor's VMs, meterctl ingesting, exporting and reporting, then a graceful stop.
# Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail

BIN=${BIN:-build/bin}
DIR=${METERD_DATA:-meterd-data}
mkdir -p "$DIR"
PORT_FILE="$DIR/demo.port"
HTTP_PORT_FILE="$DIR/demo.http.port"
LOG="$DIR/meterd.log"
rm -f "$PORT_FILE" "$HTTP_PORT_FILE"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. start meterd on $DIR (a free loopback port; log in $LOG)"
"$BIN/meterd" --data-dir "$DIR" --listen 127.0.0.1:0 --port-file "$PORT_FILE" \
  --http-listen 127.0.0.1:0 --http-port-file "$HTTP_PORT_FILE" >"$LOG" 2>&1 &
MPID=$!
trap 'kill -TERM $MPID 2>/dev/null || true; wait $MPID 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do [ -s "$PORT_FILE" ] && break; sleep 0.05; done
[ -s "$PORT_FILE" ] || { echo "meterd did not start; see $LOG" >&2; cat "$LOG" >&2; exit 1; }
grep '^meterd:' "$LOG" | sed 's/^/   /'
export METER_SERVER="127.0.0.1:$(cat "$PORT_FILE")"
export METER_KEY="$(cat "$DIR/admin.key")"

say "2. meter-agent: 1,000 simulated VMs x 13 metrics; a 10-minute backlog, then live for 5 s"
"$BIN/meter-agent" --simulate 1000 --backlog 600 --duration 5

say "3. meterctl ingest: a CSV with one bad row (rejected with its reason, the rest kept)"
NOW=$(date +%s)
CSV="$DIR/demo.csv"
{
  echo "resource,metric,timestamp,value"
  echo "vm-csv-1,vm.state,$((NOW - 120)),running"
  echo "vm-csv-1,vm.vcpus,$((NOW - 120)),4"
  echo "vm-csv-1,vm.cpu_utilisation,$((NOW - 60)),0.35"
  echo "vm-csv-1,vm.cpu_utilisation,$((NOW - 59)),nan"
  echo "vm-csv-1,vm.memory_bytes,$(date -u -d @$((NOW - 60)) +%Y-%m-%dT%H:%M:%SZ),8589934592"
} >"$CSV"
"$BIN/meterctl" ingest "$CSV" || echo "   (exit $? : not every row was accepted, as intended)"

say "4. meterctl export: one VM's CPU counter, the last 5 seconds of the backlog"
"$BIN/meterctl" export --from $((NOW - 10)) --to $((NOW)) --resource vm-000007 \
  --metric vm.cpu_time_ns --rfc3339 2>/dev/null | head -6
"$BIN/meterctl" export --from $((NOW - 600)) --to $((NOW + 1)) --resource vm-csv-1 --rfc3339 \
  2>/dev/null

say "5. meterctl usage: hourly buckets from the rollups (open hours are provisional)"
"$BIN/meterctl" usage --from $((NOW - 3600)) --to $((NOW + 1)) --resource vm-000007 2>/dev/null
"$BIN/meterctl" usage --from $((NOW - 3600)) --to $((NOW + 1)) --resource vm-csv-1 2>/dev/null
echo "   one day of the whole fleet, per VM and metric (first lines):"
"$BIN/meterctl" usage --from $((NOW - 3600)) --to $((NOW + 1)) --granularity day \
  --metric vm.state 2>/dev/null | head -6 || true  # head closes the pipe early (SIGPIPE)

say "6. meterctl apply: the billing catalog (plans, locations, price book, subscriptions); again: idempotent"
"$BIN/meterctl" apply docs/examples/catalog.yaml | head -3 || true
"$BIN/meterctl" apply docs/examples/catalog.yaml
echo "   the price of a Copper VM in London before it exists (730 h; capped at 672 h):"
"$BIN/meterctl" estimate --plan copper --location lon1 2>/dev/null

say "7. meterctl charges: five of the agent's VMs registered to account bu1user1 (Copper, London)"
MONTH_START=$(date -u +%Y-%m-01T00:00:00Z)
FLEET_DOC="$DIR/demo-fleet.yaml"
{
  echo "# The demo's VMs in the tenancy: hours from the start of this month rate as Copper in lon1."
  echo "resources:"
  for i in 0 1 2 3 4; do
    echo "  - id: vm-00000$i"
    echo "    name: demo-$i"
    echo "    versions:"
    echo "      - effective_from: $MONTH_START"
    echo "        type: vm"
    echo "        project: bu1user1-web"
    echo "        location: lon1"
    echo "        plan: copper"
    echo "        storage_tier: sata"
  done
} >"$FLEET_DOC"
"$BIN/meterctl" apply "$FLEET_DOC" | head -2 || true  # head closes the pipe early (SIGPIPE)
NOW=$(date +%s)
echo "   one VM's lines this month so far (open hours are provisional):"
"$BIN/meterctl" charges --from "$MONTH_START" --to $((NOW + 1)) --resource vm-000000 2>/dev/null
echo "   the account's totals by product (with its subscriptions):"
"$BIN/meterctl" charges --from "$MONTH_START" --to $((NOW + 1)) --account bu1user1 \
  --group-by product 2>/dev/null | sed -n '/^totals:/,$p'
echo "   the whole fleet: the usage of the 995 VMs no account owns yet is reported, not dropped:"
"$BIN/meterctl" charges --from "$MONTH_START" --to $((NOW + 1)) --group-by account 2>&1 \
  >/dev/null | sed 's/^/   /'
echo "   the VMs the agent reported that nobody attributed (first lines):"
"$BIN/meterctl" resources hosts --unattributed | head -4 || true
echo "   a control plane creates one of them, from the start of the month (its past hours bill):"
"$BIN/meterctl" resources create vm-000005 --type vm --project bu1user1-web --location lon1 \
  --plan copper --storage-tier sata --name demo-5 --at "$MONTH_START"
"$BIN/meterctl" resources hosts --resource vm-000005
"$BIN/meterctl" charges --from "$MONTH_START" --to $((NOW + 1)) --resource vm-000005 2>/dev/null

say "8. prepaid billing: the clock debits closed hours; thresholds, a top-up, the ledger"
# The billing clock books every closed hour of this month once (here: the subscriptions' fees,
# due at the month's first hour); the demo VMs' hours are still open, so they are provisional.
for _ in $(seq 50); do
  [ "$("$BIN/meterctl" --format json stats | awk -F': ' '/"billing_hours_booked"/ { gsub(/,/, "", $2); print $2 }')" != "0" ] && break
  sleep 0.1
done
"$BIN/meterctl" settings set --scope domain:corporate.com --low-balance 100 --credit-limit 50 \
  --reason "demo thresholds"
echo "   bu1user1 before its top-up (running = balance - charges not debited yet):"
"$BIN/meterctl" balance --account bu1user1
echo "   a top-up (the same reference twice books once):"
"$BIN/meterctl" topup --account bu1user1 --amount 1000 --reference demo-card-0001
"$BIN/meterctl" topup --account bu1user1 --amount 1000 --reference demo-card-0001
"$BIN/meterctl" balance --account bu1user1
echo "   its ledger, and the events its balance emitted:"
"$BIN/meterctl" ledger --account bu1user1
"$BIN/meterctl" events --account bu1user1
echo "   may it create a Copper VM in London now?"
"$BIN/meterctl" can-create --account bu1user1 --plan copper --location lon1 || true
echo "   rated against debited this month (every difference explained):"
"$BIN/meterctl" reconcile --from "$MONTH_START" --to $((NOW + 1)) --account bu1user1

say "9. invoices (docs/invoices.md): this month so far as a provisional draft, with UK VAT and a discount"
"$BIN/meterctl" apply docs/examples/invoicing.yaml | tail -n 1
"$BIN/meterctl" profiles set --account bu1user1 --country GB --address "24 Piccadilly Circus
London W1J 9HP" >/dev/null
"$BIN/meterctl" invoice run --period "$MONTH_START" --account bu1user1 --provisional | tail -n 1
"$BIN/meterctl" invoice drafts --period "$MONTH_START" --account bu1user1 | sed 's/^/   /'
echo "   a provisional draft is never issued; once the month's hours are closed:"
echo "   meterctl invoice run --period YYYY-MM && meterctl invoice issue --period YYYY-MM && meterctl invoice pdf INV-000001 -o inv.pdf"
echo "   its statement of account this month (opening balance, every entry, closing balance):"
"$BIN/meterctl" statement --account bu1user1 --from "$MONTH_START" --to $((NOW + 1)) | tail -n 4
echo "   on a daily cycle (docs/invoices.md, \"Cycles\"), the month's first day is closed: issue it"
"$BIN/meterctl" profiles set --account bu1user1 --cycle daily >/dev/null
if [ "$NOW" -ge $(($(date -u -d "$MONTH_START" +%s) + 86400 + 3600)) ]; then
  "$BIN/meterctl" invoice run --period "$MONTH_START" --account bu1user1 | tail -n 1 || true
  "$BIN/meterctl" invoice issue --period "$MONTH_START" --account bu1user1 | tail -n 1 || true
  NUMBER=$("$BIN/meterctl" --format json invoice list --account bu1user1 |
    awk -F'"' '/"number"/ { n = $4 } END { print n }')
  if [ -n "$NUMBER" ]; then
    "$BIN/meterctl" invoice show "$NUMBER" | sed -n '/Invoice number/,/Amount due/p' |
      sed 's/^/   /' || true
    "$BIN/meterctl" invoice pdf "$NUMBER" -o "$DIR/demo-invoice.pdf" &&
      echo "   $NUMBER as PDF: $DIR/demo-invoice.pdf"
  fi
else
  echo "   (today is the month's first day: its period is still open, nothing to issue yet)"
fi
"$BIN/meterctl" profiles set --account bu1user1 --cycle monthly >/dev/null

say "10. the HTTP JSON API and /metrics (docs/http-api.md): the same keys, the same answers"
HTTP="http://127.0.0.1:$(cat "$HTTP_PORT_FILE")"
echo "   GET /v1/accounts/bu1user1/balance"
curl -sS -H "Authorization: Bearer $METER_KEY" "$HTTP/v1/accounts/bu1user1/balance" | sed 's/^/   /'
echo
echo "   POST /v1/accounts/bu1user1/topups (a reference already used: booked once, answered again)"
curl -sS -X POST -H "Authorization: Bearer $METER_KEY" -H 'Content-Type: application/json' \
  -d '{"amount": "1000", "reference": "demo-card-0001"}' \
  "$HTTP/v1/accounts/bu1user1/topups" | head -c 300 | sed 's/^/   /'
echo
echo "   without a key:"
curl -sS -o /dev/null -w '   HTTP %{http_code}\n' "$HTTP/v1/balances"
echo "   GET /metrics (Prometheus text format), a few lines:"
curl -sS "$HTTP/metrics" | grep -E '^meterd_(ingest_samples_accepted_total|connections|rollup_lag_seconds|process_resident_memory_bytes)' | head -6 | sed 's/^/   /'

say "11. meterctl stats"
"$BIN/meterctl" stats
STORED=$("$BIN/meterctl" --format json stats | awk -F': ' '/"samples_stored"/ { gsub(/,/, "", $2); print $2 }')

say "12. graceful stop (SIGTERM: stop accepting, drain, flush, sync)"
kill -TERM $MPID
wait $MPID
trap - EXIT
tail -n 2 "$LOG" | sed 's/^/   /'
echo
SEG_BYTES=$(du -sb "$DIR/store/segments" 2>/dev/null | cut -f1)
echo "   flushed to segments: $SEG_BYTES bytes for $STORED samples =" \
  "$(awk -v b="$SEG_BYTES" -v s="$STORED" 'BEGIN { if (s > 0) printf "%.3f", b / s; else print "?" }') bytes/sample"
echo "   data directory: $DIR   (run 'make demo' again: meterd recovers it and adds to it)"
