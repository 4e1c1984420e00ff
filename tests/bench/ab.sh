#!/usr/bin/env bash
# Same-run A/B of the filter: this checkout's module against a baseline
# revision's, with load.sh, in interleaved rounds (a benchmark, not a test).
#
# On a shared machine two runs an hour apart differ by more than most changes
# do; within one round the two modules meet the same machine. Each round runs
# load.sh once per module (RUNS=1, the same SETUPS), the order alternating
# round by round (new base, base new, ...). The report gives every round's
# c/b ratios and c - b Envoy CPU per module, their median and spread, and the
# new/base ratio of setup c.
#
# Usage: BASE=<git rev> tests/bench/ab.sh
# Environment (defaults):
#   BASE=            the baseline revision (required), e.g. origin/main or a commit
#   ROUNDS=4         interleaved rounds (1..20)
#   SETUPS="b c"     load.sh setups of each run (c needed; b for the c/b ratios)
#   DURATION=8 WARMUP=2 CONNECTIONS=16 BODY_FILE= ...   passed on to load.sh
#   BASE_WASM=       a baseline module already built (skips the build of BASE)
#   OUT=             where the results go (default: a new temp dir)
# The baseline module is built once per revision, as `make wasm` builds it, in a
# git worktree under target/ab/ and kept there (target/ab/<commit>.wasm). The
# collector is this checkout's for both modules.
set -euo pipefail

ROUNDS_TOOL=ab ROUNDS_DEFAULT=4
# shellcheck source=tests/bench/rounds.sh
source "$(dirname "${BASH_SOURCE[0]}")/rounds.sh"
NEW_WASM=$ROOT/target/wasm32-wasip1/release/observatory_filter.wasm

if [[ -n ${BASE_WASM:-} ]]; then
  [[ -f $BASE_WASM ]] || die "BASE_WASM=$BASE_WASM: no such file"
  BASE_LABEL=$BASE_WASM
else
  [[ -n ${BASE:-} ]] || die "BASE (a git revision) or BASE_WASM is required"
  COMMIT=$(git -C "$ROOT" rev-parse --verify "$BASE^{commit}") || die "BASE=$BASE: not a revision"
  BASE_LABEL="$BASE ($COMMIT)"
  BASE_WASM=$ROOT/target/ab/$COMMIT.wasm
  if [[ ! -f $BASE_WASM ]]; then
    TREE=$ROOT/target/ab/tree-$COMMIT
    mkdir -p "$ROOT/target/ab"
    [[ -d $TREE ]] || git -C "$ROOT" worktree add --detach -q "$TREE" "$COMMIT"
    log "building the baseline module of $COMMIT in $TREE"
    # Built as `make wasm` builds it (older revisions' Makefiles may differ), in a
    # target dir of its own that later baselines reuse.
    (cd "$TREE" && CARGO_TARGET_DIR=$ROOT/target/ab/cargo cargo build --release \
      --target wasm32-wasip1 -p observatory-filter \
      --config "target.wasm32-wasip1.rustflags=[\"--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo\"]") >&2 ||
      die "the build of $COMMIT's module failed"
    cp "$ROOT/target/ab/cargo/wasm32-wasip1/release/observatory_filter.wasm" "$BASE_WASM"
    git -C "$ROOT" worktree remove --force "$TREE"
  fi
fi

OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/observatory-ab.XXXXXX")}
mkdir -p "$OUT"
{
  echo "new: $(git -C "$ROOT" rev-parse HEAD)$(git -C "$ROOT" diff --quiet || echo ' + uncommitted changes') ($(stat -c %s "$NEW_WASM") bytes)"
  echo "base: $BASE_LABEL ($(stat -c %s "$BASE_WASM") bytes)"
  echo "rounds: $ROUNDS  setups: $SETUPS  duration: ${DURATION}s"
} | tee "$OUT/meta.txt" >&2

for ((r = 1; r <= ROUNDS; r++)); do
  order=(new base)
  ((r % 2 == 0)) && order=(base new)
  for variant in "${order[@]}"; do
    wasm=$NEW_WASM
    [[ $variant == base ]] && wasm=$BASE_WASM
    log "round $r/$ROUNDS: $variant"
    RUNS=1 WASM=$wasm RESULTS_DIR=$OUT/round-$r-$variant "$ROOT/tests/bench/load.sh" >/dev/null ||
      die "load.sh failed in round $r ($variant); see $OUT/round-$r-$variant"
  done
done

BENCH_DIR=$ROOT/tests/bench python3 - "$OUT" "$ROUNDS" <<'PY' | tee "$OUT/summary.md"
import os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, os.environ["BENCH_DIR"])
from runs import read


data = {(r, v): read(f"{out}/round-{r}-{v}/runs.tsv") for r in range(1, rounds + 1) for v in ("new", "base")}
has_b = all("b" in d for d in data.values())
print("| round | module | c req/s | c CPU µs/req | c p99 ms |" + (" c/b req/s | c/b CPU | c/b p99 | c − b CPU µs |" if has_b else ""))
print("|---:|---|---:|---:|---:|" + ("---:|---:|---:|---:|" if has_b else ""))
stats = {v: {k: [] for k in ("rps", "cpu", "p99", "c/b rps", "c/b cpu", "c/b p99", "c-b cpu")} for v in ("new", "base")}
for r in range(1, rounds + 1):
    for v in ("new", "base"):
        d = data[(r, v)]
        c = d["c"]
        s = stats[v]
        s["rps"].append(c["rps"]); s["cpu"].append(c["cpu"]); s["p99"].append(c["p99"])
        row = "| %d | %s | %.0f | %.1f | %.3f |" % (r, v, c["rps"], c["cpu"], c["p99"] / 1000)
        if has_b:
            b = d["b"]
            s["c/b rps"].append(c["rps"] / b["rps"]); s["c/b cpu"].append(c["cpu"] / b["cpu"])
            s["c/b p99"].append(c["p99"] / b["p99"]); s["c-b cpu"].append(c["cpu"] - b["cpu"])
            row += " %.2f | %.2f | %.2f | %+.1f |" % (s["c/b rps"][-1], s["c/b cpu"][-1], s["c/b p99"][-1], s["c-b cpu"][-1])
        print(row)
print()
print("| module | figure | median | min | max |")
print("|---|---|---:|---:|---:|")
for v in ("new", "base"):
    for k, fmt in (("c/b rps", "%.2f"), ("c/b cpu", "%.2f"), ("c/b p99", "%.2f"), ("c-b cpu", "%+.1f"), ("cpu", "%.1f")):
        xs = stats[v][k]
        if xs:
            print("| %s | %s | %s | %s | %s |" % (v, k.replace("cpu", "CPU µs/req" if k == "cpu" else "CPU"), fmt % statistics.median(xs), fmt % min(xs), fmt % max(xs)))
print()
per_round = [n / b for n, b in zip(stats["new"]["cpu"], stats["base"]["cpu"])]
print("new/base, setup c, Envoy CPU µs/req per round: %s (median %.2f)" % (
    " ".join("%.2f" % x for x in per_round), statistics.median(per_round)))
per_round = [n / b for n, b in zip(stats["new"]["rps"], stats["base"]["rps"])]
print("new/base, setup c, req/s per round: %s (median %.2f)" % (
    " ".join("%.2f" % x for x in per_round), statistics.median(per_round)))
PY
log "results: $OUT"
