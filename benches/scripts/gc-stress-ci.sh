#!/usr/bin/env bash
# Builds gc-stress once and runs it in every mode (`gc-stress --list-modes`:
# runtime::Mode::ALL, in its order), for $STRESS_SECONDS (default 30) seconds
# with 4 threads each (generational collection on, the default), then in stw
# and uffd with young and full explicit collections mixed at random
# (`--young-every 2`: the young cycles the policy chooses, and random
# young/full sequences beside them), and once in uffd with generational
# collection off (every cycle full); stops at the first run that exits
# non-zero and exits with its code (1 a failed check, 2 bad setup, 3 the
# watchdog saw a deadlock).
#
#   benches/scripts/gc-stress-ci.sh [extra gc-stress arguments...]
#   STRESS_SECONDS=5 STRESS_SEED=9 benches/scripts/gc-stress-ci.sh --live 64M
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${STRESS_SECONDS:-30}
seed=${STRESS_SEED:-1}
cargo build --release -p benches --bin gc-stress >&2
bin=${CARGO_TARGET_DIR:-target}/release/gc-stress

# stress MODE [gc-stress arguments...]: one run, the script's arguments last.
stress() {
  local mode=$1
  shift
  local args=(--mode "$mode" --threads 4 --seconds "$seconds" --seed "$seed" "$@" "${extra[@]}")
  echo "== ${GC_GENERATIONAL:+GC_GENERATIONAL=$GC_GENERATIONAL }gc-stress ${args[*]}" >&2
  local status=0
  "$bin" "${args[@]}" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "gc-stress failed in mode $mode (exit $status); reproduce with:" >&2
    echo "  ${GC_GENERATIONAL:+GC_GENERATIONAL=$GC_GENERATIONAL }$bin ${args[*]}" >&2
    exit "$status"
  fi
}

extra=("$@")
for mode in $("$bin" --list-modes); do
  stress "$mode"
done
GC_GENERATIONAL=1 stress stw --young-every 2 --collect-ms 200
GC_GENERATIONAL=1 stress uffd --young-every 2 --collect-ms 200
GC_GENERATIONAL=0 stress uffd
echo "gc-stress: every mode passed, stw and uffd with random young and full collections, and uffd without generations" >&2
