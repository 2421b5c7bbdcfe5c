#!/usr/bin/env python3
# meterd — bench/peers/prometheus_soak.py
#
# Does remote_write from Debian's real Prometheus keep up with N series scraped every second?
# Starts, on loopback only: meterd (HTTP ingest with docs/examples/ingest-mapping.yaml), a
# target exposing N series under the libvirt exporter's names (D domains x 7 series), and
# Prometheus scraping it every second and remote-writing to meterd's /api/v1/write with the
# admin key. Every --every seconds it reads Prometheus' own /metrics (its
# prometheus_remote_storage_* counters) and meterd's /metrics, prints one row, and at the end a verdict:
#   keeps up  = no failed and no dropped samples, the send lag (newest appended timestamp minus
#               newest sent) under 10 s at the end and not growing over the second half, and,
#               once the target is stopped and Prometheus' queue has drained, meterd read
#               every sample Prometheus says it sent (more only by retried requests). Of those, meterd accepts each mapped sample once per series and second;
#               the rest are unmapped (Prometheus' own up/scrape_* series) or refused (a second
#               scrape within one second: docs/ingest-mapping.md, the conversion rules), and
#               the last line says how many of each.
# Exit 0 when it keeps up, 1 when not, 2 when something could not start, 77 (skipped) without
# Prometheus.
#
#   bench/peers/prometheus_soak.py --series 100000 --seconds 600     (make check-long)
#   bench/peers/prometheus_soak.py --series 5000 --seconds 20        (the ctest slice)
import argparse
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    """The libvirt exporter's series for `domains` domains, with new values every second.

    A thread renders the exposition once a second and a scrape is served the latest rendering:
    rendering 100,000 lines in Python takes longer than the 1-s scrape timeout on a loaded
    machine, and a target that misses scrapes would measure itself, not remote_write."""

    def __init__(self, domains):
        self.domains = [f"soak-{d:06d}" for d in range(domains)]
        self.start = time.time()
        self.body = self.render()
        self.stopped = threading.Event()
        threading.Thread(target=self._refresh, daemon=True).start()

    def _refresh(self):
        while not self.stopped.wait(1.0 - (time.time() - self.start) % 1.0):
            self.body = self.render()

    def render(self):
        t = time.time() - self.start
        out = []
        for i, d in enumerate(self.domains):
            out.append(f'libvirt_domain_info_virtual_cpus{{domain="{d}"}} {1 + i % 8}')
            out.append(f'libvirt_domain_info_maximum_memory_bytes{{domain="{d}"}} '
                       f'{(1 + i % 16) << 30}')
            out.append(f'libvirt_domain_info_cpu_time_seconds_total{{domain="{d}"}} '
                       f'{t * (0.25 + (i % 4) * 0.25):.3f}')
            k = int(t) * (1000 + i % 977)
            out.append(f'libvirt_domain_block_stats_read_bytes_total{{domain="{d}",'
                       f'target_device="vda"}} {k * 4096}')
            out.append(f'libvirt_domain_block_stats_write_bytes_total{{domain="{d}",'
                       f'target_device="vda"}} {k * 2048}')
            out.append(f'libvirt_domain_interface_stats_receive_bytes_total{{domain="{d}",'
                       f'target_device="vnet0"}} {k * 1500}')
            out.append(f'libvirt_domain_interface_stats_transmit_bytes_total{{domain="{d}",'
                       f'target_device="vnet0"}} {k * 700}')
        out.append("")
        return "\n".join(out).encode()


def serve_target(target, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = target.body
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # Prometheus gave up on a scrape past its timeout: it counts that itself

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def get(url, headers=None, timeout=10):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


def exposition_sum(port, name, headers=None):
    """The sum over label sets of `name` in a /metrics exposition (NaN when absent)."""
    total, seen = 0.0, False
    for line in get(f"http://127.0.0.1:{port}/metrics", headers).splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return total if seen else float("nan")


def wait_for_file(path, seconds, proc):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if os.path.exists(path) and open(path).read().strip():
            return open(path).read().strip()
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--series", type=int, default=100000)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--every", type=int, default=30, help="seconds between rows")
    ap.add_argument("--meterd", default=os.path.join(SOURCE, "build/bin/meterd"))
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    ap.add_argument("--dir", help="work directory (default: a temporary one, removed)")
    args = ap.parse_args()
    if not os.access(args.prometheus, os.X_OK):
        print(f"prometheus_soak: {args.prometheus} is not installed: skipped", file=sys.stderr)
        return 77  # CTest's SKIP_RETURN_CODE
    if not os.access(args.meterd, os.X_OK):
        print(f"prometheus_soak: {args.meterd} is not there", file=sys.stderr)
        return 2
    work = args.dir or tempfile.mkdtemp(prefix="prometheus-soak-")
    os.makedirs(work, exist_ok=True)
    procs = []

    def stop_all():
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    try:
        meterd = subprocess.Popen(
            [args.meterd, "--data-dir", f"{work}/data", "--listen", "127.0.0.1:0",
             "--port-file", f"{work}/port", "--http-listen", "127.0.0.1:0",
             "--http-port-file", f"{work}/http.port", "--ingest-mapping",
             os.path.join(SOURCE, "docs/examples/ingest-mapping.yaml")],
            stdout=open(f"{work}/meterd.log", "w"), stderr=subprocess.STDOUT)
        procs.append(meterd)
        # The binary port's file is written last, once the admin key is on disk.
        ready = wait_for_file(f"{work}/port", 60, meterd)
        http_port = wait_for_file(f"{work}/http.port", 5, meterd) if ready else None
        if http_port is None:
            print(f"prometheus_soak: meterd did not start; see {work}/meterd.log", file=sys.stderr)
            return 2
        http_port = int(http_port)
        key = open(f"{work}/data/admin.key").read().strip()

        domains = (args.series + 6) // 7
        target = Target(domains)
        target_port = free_port()
        target_server = serve_target(target, target_port)
        prom_port = free_port()
        with open(f"{work}/prometheus.yml", "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: libvirt
    static_configs:
      - targets: ['127.0.0.1:{target_port}']
remote_write:
  - url: http://127.0.0.1:{http_port}/api/v1/write
    authorization:
      credentials: {key}
""")
        prom = subprocess.Popen(
            [args.prometheus, f"--config.file={work}/prometheus.yml",
             f"--storage.tsdb.path={work}/prometheus-data",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            stdout=open(f"{work}/prometheus.log", "w"), stderr=subprocess.STDOUT)
        procs.append(prom)

        print(f"prometheus_soak: {domains * 7} series ({domains} domains x 7) scraped every 1 s "
              f"for {args.seconds} s; meterd HTTP :{http_port}, Prometheus :{prom_port}; "
              f"load average {os.getloadavg()[0]:.1f}")
        header = ("   s  scraped/s  sent/s  accepted/s  pending  lag_s  shards  failed  dropped"
                  "  retried")
        print(header)
        rows = []
        t0 = time.time()
        last = None
        while time.time() - t0 < args.seconds:
            time.sleep(min(args.every, max(0.0, args.seconds - (time.time() - t0))))
            if prom.poll() is not None or meterd.poll() is not None:
                print("prometheus_soak: a process exited; see the logs in " + work)
                return 1
            now = time.time()
            p = lambda name: exposition_sum(prom_port, "prometheus_" + name)
            row = {
                "t": now - t0,
                "scraped": p("tsdb_head_samples_appended_total"),
                "sent": p("remote_storage_samples_total"),
                "pending": p("remote_storage_samples_pending"),
                "lag": p("remote_storage_highest_timestamp_in_seconds") -
                       p("remote_storage_queue_highest_sent_timestamp_seconds"),
                "shards": p("remote_storage_shards"),
                "failed": p("remote_storage_samples_failed_total"),
                "dropped": p("remote_storage_samples_dropped_total"),
                "retried": p("remote_storage_samples_retried_total"),
            }
            for name in ("samples", "accepted_samples", "unmapped_samples", "refused_samples"):
                row[name.split("_")[0]] = exposition_sum(
                    http_port, f"meterd_http_ingest_{name}_total", {"Authorization": "Bearer " + key})
            rate = lambda k: (row[k] - last[k]) / (row["t"] - last["t"]) if last else float("nan")
            print(f"{row['t']:4.0f}  {rate('scraped'):9.0f}  {rate('sent'):6.0f}  "
                  f"{rate('accepted'):10.0f}  {row['pending']:7.0f}  {row['lag']:5.1f}  "
                  f"{row['shards']:6.0f}  {row['failed']:6.0f}  {row['dropped']:7.0f}  "
                  f"{row['retried']:7.0f}", flush=True)
            rows.append(row)
            last = row
        target_server.shutdown()
        target.stopped.set()
        # Quiesce: with the target gone nothing new is appended (its series get staleness
        # markers, which are sent and counted on both sides); wait up to 30 s for Prometheus'
        # queue to drain and its sent count to settle, so that both counts can be compared.
        p = lambda name: exposition_sum(prom_port, "prometheus_" + name)
        settled, previous = 0, -1.0
        deadline = time.time() + 30
        while time.time() < deadline and settled < 3:
            time.sleep(1)
            sent_now = p("remote_storage_samples_total")
            settled = settled + 1 if (sent_now == previous and
                                      p("remote_storage_samples_pending") == 0) else 0
            previous = sent_now
        sent = p("remote_storage_samples_total")
        retried = p("remote_storage_samples_retried_total")
        counts = {name: exposition_sum(http_port, f"meterd_http_ingest_{name}_total",
                                       {"Authorization": "Bearer " + key})
                  for name in ("samples", "accepted_samples", "unmapped_samples",
                               "refused_samples")}
        read = counts["samples"]

        end = rows[-1]
        half = [r for r in rows if r["t"] >= args.seconds / 2] or rows
        lag_growth = half[-1]["lag"] - half[0]["lag"]
        problems = []
        if end["failed"] > 0 or end["dropped"] > 0:
            problems.append(f"{end['failed']:.0f} failed and {end['dropped']:.0f} dropped samples")
        if not end["lag"] < 10:
            problems.append(f"send lag {end['lag']:.1f} s at the end")
        if len(half) > 1 and lag_growth > 5:
            problems.append(f"send lag grew {lag_growth:.1f} s over the second half")
        # A retried request meterd had already read is read twice, never less.
        if sent <= 0 or not sent <= read <= sent + retried:
            problems.append(f"meterd read {read:.0f} of {sent:.0f} samples sent "
                            f"({retried:.0f} retried)")
        cpu = "?"
        try:
            with open(f"/proc/{meterd.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu = f"{(int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK'):.1f}"
        except OSError:
            pass
        print(f"prometheus_soak: {sent:.0f} samples sent by Prometheus, {read:.0f} read by meterd "
              f"({counts['accepted_samples']:.0f} accepted, "
              f"{counts['unmapped_samples']:.0f} unmapped, {counts['refused_samples']:.0f} "
              f"refused: Prometheus' staleness markers once the target stopped); meterd CPU {cpu} s, load average "
              f"{os.getloadavg()[0]:.1f}")
        if problems:
            print("prometheus_soak: does NOT keep up: " + "; ".join(problems))
            return 1
        print("prometheus_soak: keeps up (no failed or dropped samples, lag "
              f"{end['lag']:.1f} s, {lag_growth:+.1f} s over the second half)")
        return 0
    finally:
        stop_all()
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
