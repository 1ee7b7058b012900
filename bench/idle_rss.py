#!/usr/bin/python3
"""Server memory per idle WebSocket connection.

Starts the real raccoon binary with the log publisher (no broker needed), reads
its VmRSS with no connection, then opens idle WebSockets with raccoon-loadgen
--idle in steps (default to 5,000, 10,000 and 20,000 connections, each step a
new loadgen process on its own 127.0.x.y source addresses, so no source address
runs out of ephemeral ports), and after each step waits until every connection
is up and the server's RSS has settled, then reads it again. Prints the RSS at
each level and bytes per connection = (RSS_n - RSS_0) / n, plus the slope
between levels, which leaves out one-off allocations.

The connections stay idle apart from the server's pings
(SERVER_WEBSOCKET_PING_INTERVAL_MS, shortened here so that at least one ping
round is in the measurement), which Beast answers in the load generator.

Runs as root for `ulimit -n`: the script raises RLIMIT_NOFILE for itself and
its children only (no sysctl is changed). Everything runs on 127.0.0.0/8; every
wait is bounded; only the processes it started are stopped, by their PID.

  /usr/bin/python3 bench/idle_rss.py --raccoon build/src/raccoon \\
      --loadgen build/bench/raccoon-loadgen [--levels 5000,10000,20000] [--json-out FILE]
"""

import argparse
import json
import os
import queue
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from bench_common import HOST, free_port, server_environment, stop_process
ADDRESSES_PER_STEP = 10


def log(message):
    print(message, flush=True)


def sysctl(name):
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return f.read().split()
    except OSError:
        return None




def proc_status(pid):
    """VmRSS, RssAnon, RssFile, VmHWM in KiB, and Threads."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(value.split()[0])
            elif key == "Threads":
                out[key] = int(value)
    return out


def rss_kib(pid):
    return proc_status(pid)["VmRSS"]


def settled_rss(pid, timeout, window=4, interval=0.5, tolerance_kib=64):
    """Samples VmRSS every `interval` s until the last `window` samples lie
    within `tolerance_kib` of each other, or `timeout` s pass; returns the
    last sample and whether it settled."""
    samples = []
    deadline = time.monotonic() + timeout
    while True:
        samples.append(rss_kib(pid))
        recent = samples[-window:]
        if len(recent) == window and max(recent) - min(recent) <= tolerance_kib:
            return recent[-1], True
        if time.monotonic() >= deadline:
            return samples[-1], False
        time.sleep(interval)


def established(port):
    """Established TCP connections whose local port is `port` (the server's
    side), from /proc/net/tcp; None when unreadable."""
    try:
        with open("/proc/net/tcp") as f:
            lines = f.readlines()[1:]
    except OSError:
        return None
    wanted = f":{port:04X}"
    return sum(1 for line in lines
               if line.split()[1].endswith(wanted) and line.split()[3] == "01")


class Loadgen:
    """One raccoon-loadgen --idle process; a thread reads its stderr."""

    def __init__(self, binary, url, count, id_prefix, sources, hold_s):
        self.count = count
        self.lines = queue.Queue()
        self.last_progress = ""
        self.proc = subprocess.Popen(
            [binary, "--url", url, "--idle", "--connections", str(count),
             "--source-addresses", sources, "--id-prefix", id_prefix,
             "--duration", str(hold_s), "--progress", "1", "--connect-concurrency", "512",
             "--connect-timeout", "30"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            if "connected=" in line:
                self.last_progress = line.strip()
            self.lines.put(line)
        self.lines.put(None)

    def wait_up(self, timeout):
        """Waits for the end of the connection phase; returns (opened, failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                raise RuntimeError(f"raccoon-loadgen exited with {self.proc.wait()} while connecting")
            m = re.search(r"connections up: opened=(\d+) failed=(\d+)", line)
            if m:
                return int(m.group(1)), int(m.group(2))
        raise RuntimeError(f"raccoon-loadgen did not finish connecting within {timeout}s")

    def stop(self, timeout=60):
        """SIGTERM (the load generator closes its connections and reports);
        returns (exit code, summary)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out = self.proc.stdout.read()
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
            out = ""
        self.reader.join(timeout=5)
        return code, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raccoon", required=True)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--levels", default="5000,10000,20000",
                        help="cumulative connection counts, rising")
    parser.add_argument("--io-threads", type=int, default=0,
                        help="SERVER_IO_THREADS (0: the server's default)")
    parser.add_argument("--ping-interval-ms", type=int, default=5000)
    parser.add_argument("--settle-timeout", type=float, default=60)
    parser.add_argument("--json-out")
    args = parser.parse_args()

    levels = [int(x) for x in args.levels.split(",")]
    if levels != sorted(set(levels)) or levels[0] <= 0:
        sys.exit("--levels must be rising positive numbers")
    total = levels[-1]

    # Kernel limits: report them, and refuse what cannot work.
    file_max = int(sysctl("fs.file-max")[0])
    nr_open = int(sysctl("fs.nr_open")[0])
    port_lo, port_hi = map(int, sysctl("net.ipv4.ip_local_port_range"))
    log(f"kernel: fs.file-max={file_max} fs.nr_open={nr_open} "
        f"net.ipv4.ip_local_port_range={port_lo}-{port_hi} ({port_hi - port_lo + 1} ports per "
        f"source address)")
    per_address = max(b - a for a, b in zip([0] + levels, levels)) / ADDRESSES_PER_STEP
    if per_address > port_hi - port_lo + 1:
        sys.exit(f"{per_address:.0f} connections per source address exceed the port range")
    if 2 * total + 4096 > file_max:
        sys.exit(f"fs.file-max={file_max} is too low for {total} connections on both ends")
    # Per process: the server holds `total` sockets, each load generator its share.
    # Raising the hard limit needs CAP_SYS_RESOURCE, which a container may
    # lack even for root: then take the hard limit and measure what fits.
    want = min(nr_open, max(total + 4096, 65536))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log(f"cannot raise the hard RLIMIT_NOFILE above {hard} (no CAP_SYS_RESOURCE); "
            f"using {hard}")
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    log(f"RLIMIT_NOFILE for the server and load generators: {fd_limit}")

    port = free_port()
    env = server_environment({
        "SERVER_WEBSOCKET_PORT": port,
        "SERVER_GRPC_PORT": free_port(avoid={port}),
        "SERVER_BIND_ADDRESS": HOST,
        "SERVER_WEBSOCKET_MAX_CONN": total * 2,
        "SERVER_WEBSOCKET_PING_INTERVAL_MS": args.ping_interval_ms,
        "SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS": args.ping_interval_ms * 3,
        "PUBLISHER_TYPE": "log",
        "LOG_LEVEL": "warn",
    })
    if args.io_threads:
        env["SERVER_IO_THREADS"] = str(args.io_threads)

    server = None
    loadgens = []
    results = {"levels": [], "kernel": {"fs.file-max": file_max, "fs.nr_open": nr_open,
                                        "ip_local_port_range": [port_lo, port_hi]}}
    failed = False
    try:
        server = subprocess.Popen([args.raccoon, "server"], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while True:
            if server.poll() is not None:
                sys.exit(f"raccoon exited with {server.returncode}: {server.stderr.read()!r}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/ping", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit("raccoon did not answer /ping within 15 s")
            time.sleep(0.1)
        threading.Thread(target=server.stderr.read, daemon=True).start()
        log(f"raccoon pid {server.pid} on {HOST}:{port}, threads "
            f"{proc_status(server.pid)['Threads']}")

        # The server's own descriptors (listeners, epoll, pipes) come first;
        # a few more for accepts in progress.
        base_fds = len(os.listdir(f"/proc/{server.pid}/fd"))
        room = fd_limit - base_fds - 16
        if levels[-1] > room:
            log(f"the descriptor limit {fd_limit} leaves room for {room} connections "
                f"(the server holds {base_fds} descriptors): measuring at {room}, "
                f"not {levels[-1]}")
            levels = [x for x in levels if x < room] + [room]
        results["fd_limit"] = fd_limit
        results["server_base_fds"] = base_fds

        rss0, ok = settled_rss(server.pid, args.settle_timeout)
        status0 = proc_status(server.pid)
        results["rss0_kib"] = rss0
        results["rss_anon0_kib"] = status0["RssAnon"]
        log(f"{0:>7} connections: VmRSS {rss0} KiB (RssAnon {status0['RssAnon']} KiB)"
            f"{'' if ok else ' (not settled)'}")

        url = f"ws://{HOST}:{port}/api/v1/events"
        current = 0
        for step, level in enumerate(levels):
            count = level - current
            # Step k uses 127.0.(k+1).1 .. 127.0.(k+1).10.
            sources = f"127.0.{step + 1}.1-127.0.{step + 1}.{ADDRESSES_PER_STEP}"
            started = time.monotonic()
            lg = Loadgen(args.loadgen, url, count, f"idle{step}-", sources, hold_s=3600)
            loadgens.append(lg)
            opened, conn_failed = lg.wait_up(timeout=300)
            took = time.monotonic() - started
            if conn_failed:
                failed = True
                log(f"{conn_failed} of {count} connections failed: {lg.last_progress}")
                break
            current = level
            # At least one ping round, then wait for the RSS to stop moving.
            time.sleep(args.ping_interval_ms / 1000.0 + 1)
            rss, ok = settled_rss(server.pid, args.settle_timeout)
            status = proc_status(server.pid)
            seen = established(port)
            lg_rss = rss_kib(lg.proc.pid)
            per_conn = (rss - rss0) * 1024 / level
            anon_per_conn = (status["RssAnon"] - status0["RssAnon"]) * 1024 / level
            entry = {"connections": level, "rss_kib": rss, "rss_anon_kib": status["RssAnon"],
                     "bytes_per_connection": round(per_conn),
                     "anon_bytes_per_connection": round(anon_per_conn),
                     "server_established": seen, "settled": ok, "connect_seconds": round(took, 1),
                     "loadgen_rss_kib": lg_rss}
            if results["levels"]:
                prev = results["levels"][-1]
                entry["slope_bytes_per_connection"] = round(
                    (rss - prev["rss_kib"]) * 1024 / (level - prev["connections"]))
            results["levels"].append(entry)
            slope = (f", slope {entry['slope_bytes_per_connection']} B/conn since "
                     f"{results['levels'][-2]['connections']}" if len(results["levels"]) > 1
                     else "")
            log(f"{level:>7} connections: VmRSS {rss} KiB (RssAnon {status['RssAnon']} KiB), "
                f"{per_conn:.0f} B/conn ({per_conn / 1024:.2f} KiB){slope}; "
                f"server sees {seen} established; connected in {took:.1f}s"
                f"{'' if ok else ' (not settled)'}; {lg.last_progress}")

        # Every connection must still be there: a loadgen exits 0 only if none was lost.
        for lg in loadgens:
            if lg.proc.poll() is not None:
                failed = True
                log(f"a load generator ended early with {lg.proc.returncode}")
    finally:
        for lg in reversed(loadgens):
            code, out = lg.stop()
            if code != 0:
                failed = True
                log(f"raccoon-loadgen pid {lg.proc.pid} exited with {code}:\n{out}")
        if server is not None and server.poll() is None:
            log(f"raccoon exited with {stop_process(server)}")

    if results["levels"]:
        last = results["levels"][-1]
        kib = last["bytes_per_connection"] / 1024
        log(f"result: {last['bytes_per_connection']} B ({kib:.2f} KiB) of server RSS per idle "
            f"WebSocket connection at {last['connections']} (target <= 10 KiB: "
            f"{'met' if kib <= 10 else 'NOT met'})")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=2)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
