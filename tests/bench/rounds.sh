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
