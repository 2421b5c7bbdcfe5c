#!/usr/bin/env python3
# meterd — bench/backfill/make_month.py
#
# Writes a month of hourly usage as `meterctl backfill` CSV (resource,metric,hour,value) and a
# catalog document naming the same VMs, for bench/backfill/backfill_bench.sh:
#   VMs vm-000000.. (20 per account, accounts in the example catalog's domain), 8 metrics each
#   (running seconds, vCPUs, memory bytes, disk size bytes, network and disk bytes counters),
#   every hour of the month: VMs x 8 x hours rows (5.76 M for 1,000 VMs over a 720-hour month).
# The catalog is docs/examples/catalog.yaml with these accounts, projects and VMs instead of its
# resources.
#
# Usage: make_month.py --vms N --month 2026-09 --out DIR
import argparse
import calendar
import os
import random
import sys

p = argparse.ArgumentParser()
p.add_argument("--vms", type=int, required=True)
p.add_argument("--month", default="2026-09")
p.add_argument("--out", required=True)
p.add_argument("--seed", type=int, default=18)
a = p.parse_args()
year, month = map(int, a.month.split("-"))
start = calendar.timegm((year, month, 1, 0, 0, 0))
end = calendar.timegm((year + (month == 12), month % 12 + 1, 1, 0, 0, 0))
hours = (end - start) // 3600
rng = random.Random(a.seed)
os.makedirs(a.out, exist_ok=True)

example = open(os.path.join(os.path.dirname(__file__), "../../docs/examples/catalog.yaml")).read()
i_proj = example.index("\nprojects:")
i_res, i_price = example.index("\nresources:"), example.index("\nprice_books:")
accounts = (a.vms + 19) // 20
with open(os.path.join(a.out, "catalog.yaml"), "w") as f:
    # The example's accounts and projects stay (its subscriptions name them); its resources go.
    f.write(example[:i_proj].rstrip("\n") + "\n")
    for k in range(accounts):
        f.write(f"  - id: acct-{k:05d}\n    domain: bu1.corporate.com\n    currency: GBP\n")
    f.write(example[i_proj:i_res].rstrip("\n") + "\n")
    for k in range(accounts):
        f.write(f"  - id: acct-{k:05d}-p\n    account: acct-{k:05d}\n")
    f.write("\nresources:\n")
    plans = ["copper", "bronze", "silver"]
    for v in range(a.vms):
        f.write(
            f"  - id: vm-{v:06d}\n    versions:\n      - effective_from: {year:04d}-{month:02d}-01T00:00:00Z\n"
            f"        type: vm\n        project: acct-{v // 20:05d}-p\n        location: {'lon1' if v % 2 else 'par1'}\n"
            f"        plan: {plans[v % 3]}\n        storage_tier: sata\n")
    f.write(example[i_price:])

GiB = 1 << 30
with open(os.path.join(a.out, "month.csv"), "w", buffering=1 << 22) as f:
    f.write("resource,metric,hour,value\n")
    for v in range(a.vms):
        r = f"vm-{v:06d}"
        vcpus = 1 + v % 4
        mem = (1 + v % 8) * GiB
        disk = (10 + v % 90) * GiB
        lines = []
        for h in range(hours):
            t = start + h * 3600
            lines.append(f"{r},vm.state:running,{t},{3600 if (v + h) % 97 else 1800}\n"
                         f"{r},vm.vcpus,{t},{vcpus}\n"
                         f"{r},vm.memory_bytes,{t},{mem}\n"
                         f"{r},disk.size_bytes,{t},{disk}\n"
                         f"{r},net.rx_bytes,{t},{rng.randrange(1 << 30)}\n"
                         f"{r},net.tx_bytes,{t},{rng.randrange(1 << 28)}\n"
                         f"{r},disk.read_bytes,{t},{rng.randrange(1 << 26)}\n"
                         f"{r},disk.write_bytes,{t},{rng.randrange(1 << 26)}\n")
        f.write("".join(lines))
print(f"{a.vms} VMs x 8 metrics x {hours} hours = {a.vms * 8 * hours} rows in {a.out}/month.csv",
      file=sys.stderr)
