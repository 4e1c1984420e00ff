#!/usr/bin/env python3
"""Paired latency client for load.sh's setup p (a benchmark, not a test).

Sends the same request to two listeners of one Envoy, alternately, on one
keep-alive connection each, and reports what listener B adds to listener A.
Requests of the two sides interleave request by request (the order inside a
pair alternating too), so a change in the machine's speed during the run
shifts both sides alike: the difference of the medians does not drift with
it, unlike two runs one after the other.

Bounded: at most --pairs pairs and --max-seconds of wall time. Every response
must be a complete 200; anything else stops the run with an error.
"""

import argparse
import socket
import statistics
import sys
import time


def request_bytes(path, body, content_type):
    head = [f"{'POST' if body is not None else 'GET'} {path} HTTP/1.1", "Host: bench",
            "User-Agent: observatory-bench/paired"]
    if body is not None:
        head += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


class Side:
    """One keep-alive connection to one listener."""

    def __init__(self, name, port, timeout):
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"{self.name}: connection closed by Envoy")
        self.buf += chunk

    def exchange(self, req):
        """Sends req and reads one whole response; returns nanoseconds taken."""
        t0 = time.perf_counter_ns()
        self.sock.sendall(req)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ", 2)
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower()] = v.strip()
        if b"content-length" in headers:
            n = int(headers[b"content-length"])
            while len(self.buf) < n:
                self._fill()
            self.buf = self.buf[n:]
        else:
            raise RuntimeError(f"{self.name}: response without Content-Length")
        t1 = time.perf_counter_ns()
        if len(status) < 2 or status[1] != b"200":
            raise RuntimeError(f"{self.name}: status {status[1:2]}, want 200")
        return t1 - t0


def quantile(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port-a", type=int, required=True)
    ap.add_argument("--port-b", type=int, required=True)
    ap.add_argument("--name-a", default="A")
    ap.add_argument("--name-b", default="B")
    ap.add_argument("--path", default="/bench/orders/1")
    ap.add_argument("--body", help="POST this file (default: GET)")
    ap.add_argument("--body-b", help="side B POSTs this file instead (default: the same request as A)")
    ap.add_argument("--type", default="application/json")
    ap.add_argument("--pairs", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=1000, help="pairs sent first and not counted")
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--blocks", type=int, default=10, help="the run is cut into this many blocks for the spread")
    args = ap.parse_args()
    for name, least in (("pairs", 1), ("warmup", 0), ("blocks", 1)):
        if not least <= getattr(args, name) <= 1_000_000:
            sys.exit(f"paired.py: --{name} {getattr(args, name)}: want {least}..1000000")
    if not 0 < args.max_seconds <= 3600:
        sys.exit(f"paired.py: --max-seconds {args.max_seconds}: want (0, 3600]")

    body = open(args.body, "rb").read() if args.body else None
    req_a = request_bytes(args.path, body, args.type)
    if args.body_b:
        req_b = request_bytes(args.path, open(args.body_b, "rb").read(), args.type)
    else:
        req_b = req_a
    a = Side(args.name_a, args.port_a, 10)
    b = Side(args.name_b, args.port_b, 10)
    lat_a, lat_b = [], []
    deadline = time.monotonic() + args.max_seconds
    for i in range(args.warmup + args.pairs):
        if time.monotonic() > deadline:
            break
        if i % 2 == 0:
            ta, tb = a.exchange(req_a), b.exchange(req_b)
        else:
            tb, ta = b.exchange(req_b), a.exchange(req_a)
        if i >= args.warmup:
            lat_a.append(ta)
            lat_b.append(tb)
    n = len(lat_a)
    if n < max(args.blocks, 100):
        sys.exit(f"paired.py: only {n} pairs measured before --max-seconds; nothing to report")

    us = lambda ns: ns / 1000
    size = n // args.blocks
    blocks = [statistics.median(lat_b[k * size:(k + 1) * size]) - statistics.median(lat_a[k * size:(k + 1) * size])
              for k in range(args.blocks)]
    diff = [y - x for x, y in zip(lat_a, lat_b)]
    print(f"pairs measured: {n} (after {args.warmup} warm-up pairs){'; stopped at --max-seconds' if n < args.pairs else ''}")
    print()
    print("| side | p50 µs | p90 µs | p99 µs |")
    print("|---|---:|---:|---:|")
    for name, xs in ((args.name_a, lat_a), (args.name_b, lat_b)):
        print("| %s | %.1f | %.1f | %.1f |" % (name, us(quantile(xs, .5)), us(quantile(xs, .9)), us(quantile(xs, .99))))
    print()
    p50 = us(quantile(lat_b, .5) - quantile(lat_a, .5))
    print("%s − %s: p50 %+.1f µs; median of per-pair differences %+.1f µs; p50 difference per block of %d pairs: "
          "median %+.1f µs (min %+.1f, max %+.1f)" % (
              args.name_b, args.name_a, p50, us(statistics.median(diff)), size,
              us(statistics.median(blocks)), us(min(blocks)), us(max(blocks))))
    print("B − A p50 per block, in order: " + " ".join("%+.1f" % us(x) for x in blocks))
    print("PAIRED_RESULT pairs=%d a_p50_ns=%d b_p50_ns=%d diff_p50_ns=%d block_min_ns=%d block_max_ns=%d" % (
        n, quantile(lat_a, .5), quantile(lat_b, .5), quantile(lat_b, .5) - quantile(lat_a, .5), min(blocks), max(blocks)))


if __name__ == "__main__":
    try:
        main()
    except (OSError, RuntimeError, ValueError) as e:
        sys.exit(f"paired.py: {e}")
