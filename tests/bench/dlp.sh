#!/usr/bin/env bash
# What the in-flight DLP scan adds to a request, setup e against setup c of
# load.sh in the same round (a benchmark, not a test). One connection, the
# 4 KiB JSON body: e holds each request until its body is scanned for a
# `denyOnPii` rule, so e - c p50 is the latency the scan adds.
#
# Whichever setup runs first in an invocation of load.sh tends to be slower,
# so the order alternates round by round ("c e", then "e c"); a pair of rounds
# cancels it. With BASE_WASM each round also runs that module, the module
# order alternating too. Prints per round and module e - c p50 and Envoy CPU,
# then per module the medians over rounds and over pairs of rounds.
#
# Usage: tests/bench/dlp.sh
# Environment (defaults): ROUNDS=6 (1..20), DURATION=8, CONNECTIONS=1,
#   BODY_FILE=tests/bench/body-4k.json, BASE_WASM=, OUT= (a new temp dir);
#   the rest (SCAN_JSON, WARMUP, ...) is passed on to load.sh.
set -euo pipefail

export SETUPS="c e"
ROUNDS_TOOL=dlp ROUNDS_DEFAULT=6
# shellcheck source=tests/bench/rounds.sh
source "$(dirname "${BASH_SOURCE[0]}")/rounds.sh"
export CONNECTIONS=${CONNECTIONS:-1}
export BODY_FILE=${BODY_FILE:-$ROOT/tests/bench/body-4k.json}

with_base filter
open_out dlp "rounds: $ROUNDS  connections: $CONNECTIONS  body: $BODY_FILE  duration: ${DURATION}s"

n=${#MODULES[@]}
for ((r = 1; r <= ROUNDS; r++)); do
  order="c e"
  ((r % 2 == 0)) && order="e c"
  for ((i = 0; i < n; i++)); do
    m=${MODULES[$(((i + r - 1) % n))]}
    wasm=$FILTER
    [[ $m == base ]] && wasm=$BASE_WASM
    log "round $r/$ROUNDS: $m, setups $order"
    SETUPS=$order RUNS=1 WASM=$wasm RESULTS_DIR=$OUT/round-$r-$m "$ROOT/tests/bench/load.sh" >/dev/null ||
      die "load.sh failed in round $r ($m); see $OUT/round-$r-$m"
  done
done

BENCH_DIR=$ROOT/tests/bench python3 - "$OUT" "$ROUNDS" "${MODULES[@]}" <<'PY' | tee "$OUT/summary.md"
import os, statistics, sys
out, rounds, modules = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
sys.path.insert(0, os.environ["BENCH_DIR"])
from runs import read

print("| round | order | module | c p50 µs | e p50 µs | e − c p50 µs | c CPU µs/req | e CPU µs/req | e − c CPU µs/req |")
print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
diffs = {m: {"p50": [], "cpu": []} for m in modules}
for r in range(1, rounds + 1):
    for m in modules:
        d = read(f"{out}/round-{r}-{m}/runs.tsv")
        c, e = d["c"], d["e"]
        diffs[m]["p50"].append(e["p50"] - c["p50"])
        diffs[m]["cpu"].append(e["cpu"] - c["cpu"])
        print("| %d | %s | %s | %d | %d | %+d | %.1f | %.1f | %+.1f |" % (
            r, "c e" if r % 2 else "e c", m, c["p50"], e["p50"], e["p50"] - c["p50"],
            c["cpu"], e["cpu"], e["cpu"] - c["cpu"]))
print()
print("| module | figure | median of rounds | min | max | median of pairs |")
print("|---|---|---:|---:|---:|---:|")
for m in modules:
    for k, label in (("p50", "e − c p50 µs"), ("cpu", "e − c CPU µs/req")):
        xs = diffs[m][k]
        # A pair is a round of each order: its mean cancels the order effect.
        pairs = [(a + b) / 2 for a, b in zip(xs[0::2], xs[1::2])]
        print("| %s | %s | %+.1f | %+.1f | %+.1f | %s |" % (
            m, label, statistics.median(xs), min(xs), max(xs),
            "%+.1f" % statistics.median(pairs) if pairs else "n/a"))
PY
log "results: $OUT"
