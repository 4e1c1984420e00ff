#!/usr/bin/env bash
# Where the filter's Envoy CPU goes, measured against floors in the same run
# (a benchmark, not a test). Modules, each run as setup c of load.sh:
#   noop    tests/bench/floor with `noop`: the SDK's callbacks, nothing in them
#   calls   tests/bench/floor with `calls`: only the host calls the filter makes
#   filter  this checkout's module
#   base    BASE_WASM, if given (e.g. target/ab/<commit>.wasm from ab.sh)
# In rounds whose module order rotates; each run also measures setup b
# (native RBAC + access log), the per-round reference. Prints per round and
# the medians: c and c - b Envoy CPU µs/req per module, and the steps
# noop - b, calls - noop, filter - calls (what the host calls and what the
# filter's own work cost).
#
# Usage: tests/bench/floor.sh
# Environment (defaults): ROUNDS=3 (1..20), SETUPS="b c", DURATION=8, BASE_WASM=,
#   OUT= (a new temp dir); the rest is passed on to load.sh.
set -euo pipefail

ROUNDS_TOOL=floor ROUNDS_DEFAULT=3
# shellcheck source=tests/bench/rounds.sh
source "$(dirname "${BASH_SOURCE[0]}")/rounds.sh"
(cd "$ROOT" && cargo build --release --target wasm32-wasip1 -p observatory-bench-floor >&2) ||
  die "the floor module's build failed"
FLOOR=$ROOT/target/wasm32-wasip1/release/observatory_bench_floor.wasm

with_base noop calls filter
open_out floor "rounds: $ROUNDS  setups: $SETUPS  duration: ${DURATION}s"

n=${#MODULES[@]}
for ((r = 1; r <= ROUNDS; r++)); do
  for ((i = 0; i < n; i++)); do
    m=${MODULES[$(((i + r - 1) % n))]}
    case $m in
      noop) wasm=$FLOOR plugin=noop ;;
      calls) wasm=$FLOOR plugin=calls ;;
      filter) wasm=$FILTER plugin= ;;
      base) wasm=$BASE_WASM plugin= ;;
    esac
    log "round $r/$ROUNDS: $m"
    if [[ -n $plugin ]]; then
      RUNS=1 WASM=$wasm PLUGIN_JSON=$plugin RESULTS_DIR=$OUT/round-$r-$m "$ROOT/tests/bench/load.sh" >/dev/null
    else
      RUNS=1 WASM=$wasm RESULTS_DIR=$OUT/round-$r-$m "$ROOT/tests/bench/load.sh" >/dev/null
    fi || die "load.sh failed in round $r ($m); see $OUT/round-$r-$m"
  done
done

BENCH_DIR=$ROOT/tests/bench python3 - "$OUT" "$ROUNDS" "${MODULES[@]}" <<'PY' | tee "$OUT/summary.md"
import os, statistics, sys
out, rounds, modules = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
sys.path.insert(0, os.environ["BENCH_DIR"])
from runs import read


data = {(r, m): read(f"{out}/round-{r}-{m}/runs.tsv") for r in range(1, rounds + 1) for m in modules}
has_b = all("b" in d for d in data.values())
c = {m: [data[(r, m)]["c"]["cpu"] for r in range(1, rounds + 1)] for m in modules}
b = {m: [data[(r, m)]["b"]["cpu"] for r in range(1, rounds + 1)] for m in modules} if has_b else {}
print("| module | c Envoy CPU µs/req, per round | median |" + (" c − b, median |" if has_b else ""))
print("|---|---|---:|" + ("---:|" if has_b else ""))
for m in modules:
    row = "| %s | %s | %.1f |" % (m, " ".join("%.1f" % x for x in c[m]), statistics.median(c[m]))
    if has_b:
        row += " %+.1f |" % statistics.median([x - y for x, y in zip(c[m], b[m])])
    print(row)
print()
steps = [("calls − noop (the host calls)", "calls", "noop"), ("filter − calls (the filter's own work)", "filter", "calls"),
         ("filter − noop", "filter", "noop")]
if "base" in modules:
    steps += [("base − calls", "base", "calls"), ("filter − base", "filter", "base")]
for label, x, y in steps:
    d = [p - q for p, q in zip(c[x], c[y])]
    print("%s: per round %s, median %+.1f µs/req" % (label, " ".join("%+.1f" % v for v in d), statistics.median(d)))
if has_b:
    d = [p - q for p, q in zip(c["noop"], b["noop"])]
    print("noop − b (a no-op filter against native RBAC + access log): per round %s, median %+.1f µs/req" % (
        " ".join("%+.1f" % v for v in d), statistics.median(d)))
PY
log "results: $OUT"
