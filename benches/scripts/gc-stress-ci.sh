#!/usr/bin/env bash
# Builds gc-stress once and runs it in every mode (`gc-stress --list-modes`:
# runtime::Mode::ALL, in its order), for $STRESS_SECONDS (default 30) seconds with 4 threads each;
# stops at the first run that exits non-zero and exits with its code
# (1 a failed check, 2 bad setup, 3 the watchdog saw a deadlock).
#
#   benches/scripts/gc-stress-ci.sh [extra gc-stress arguments...]
#   STRESS_SECONDS=5 STRESS_SEED=9 benches/scripts/gc-stress-ci.sh --live 64M
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${STRESS_SECONDS:-30}
seed=${STRESS_SEED:-1}
cargo build --release -p benches --bin gc-stress >&2
bin=${CARGO_TARGET_DIR:-target}/release/gc-stress
modes=$("$bin" --list-modes)
for mode in $modes; do
  echo "== gc-stress --mode $mode --threads 4 --seconds $seconds --seed $seed $*" >&2
  status=0
  "$bin" --mode "$mode" --threads 4 --seconds "$seconds" --seed "$seed" "$@" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "gc-stress failed in mode $mode (exit $status); reproduce with:" >&2
    echo "  $bin --mode $mode --threads 4 --seconds $seconds --seed $seed $*" >&2
    exit "$status"
  fi
done
echo "gc-stress: every mode passed" >&2
