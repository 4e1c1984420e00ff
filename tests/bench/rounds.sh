# Sourced by ab.sh and floor.sh: the settings and checks of benchmarks that
# run load.sh in rounds, and the builds they measure. Set ROUNDS_TOOL (the
# log prefix) and ROUNDS_DEFAULT before sourcing.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROUNDS=${ROUNDS:-$ROUNDS_DEFAULT}
export SETUPS=${SETUPS:-b c}
export DURATION=${DURATION:-8}
log() { printf '[%s] %s\n' "$ROUNDS_TOOL" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $ROUNDS =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 20)) || die "ROUNDS=$ROUNDS: want 1..20"
[[ " $SETUPS " == *" c "* ]] || die "SETUPS=$SETUPS: setup c (the module) is what is compared"

# This checkout's module and the release collector both scripts run.
make -C "$ROOT" --no-print-directory wasm >&2 || die "make wasm failed"
(cd "$ROOT" && cargo build --release -p observatory-collector >&2) || die "release collector build failed"

# This checkout's module, as floor.sh and dlp.sh name it.
FILTER=$ROOT/target/wasm32-wasip1/release/observatory_filter.wasm

# with_base MODULE...: MODULES is these, plus `base` when BASE_WASM names a
# module file.
with_base() {
  MODULES=("$@")
  if [[ -n ${BASE_WASM:-} ]]; then
    [[ -f $BASE_WASM ]] || die "BASE_WASM=$BASE_WASM: no such file"
    MODULES+=(base)
  fi
}

# open_out NAME LINE: OUT (default: a new temp dir named after NAME) and its
# meta.txt, which names the modules (revision, size) and then says LINE.
open_out() {
  OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/observatory-$1.XXXXXX")}
  mkdir -p "$OUT"
  {
    echo "filter: $(git -C "$ROOT" rev-parse HEAD)$(git -C "$ROOT" diff --quiet || echo ' + uncommitted changes') ($(stat -c %s "$FILTER") bytes)"
    [[ -z ${BASE_WASM:-} ]] || echo "base: $BASE_WASM ($(stat -c %s "$BASE_WASM") bytes)"
    echo "$2"
  } | tee "$OUT/meta.txt" >&2
}
