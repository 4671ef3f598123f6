#!/usr/bin/env bash
# The peer kit's quick variant (shared/peers/run.sh --quick sizes) for the
# project's rows only: runs `peer-workloads` in every compaction mode on
#   gcbench (defaults), binarytrees 16 (the kit's bt16, and bt21 at --quick),
#   liveheap 64 0.5 4 42
# and checks exit codes, the pause file, and that the checks and checksums
# equal the C malloc build's (built from ../shared/peers/c when gcc and the
# kit are there; otherwise against the values that build printed).
# Needs no Java, no libgc, no GNU time. Ends with "N passed, N failed".
#
# Usage: benches/peers-quick.sh [MODES...]   (default: stw uffd-copy uffd)
# Environment: CARGO_TARGET_DIR (as cargo), PEERS_DIR (default ../shared/peers),
#              RUN_TIMEOUT (seconds per run, default 300).
set -uo pipefail
cd "$(dirname "$0")/.."

MODES=("$@")
((${#MODES[@]})) || MODES=(stw uffd-copy uffd)
PEERS_DIR=${PEERS_DIR:-../shared/peers}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d /tmp/peers-quick.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "[peers-quick] building peer-workloads"
cargo build --release -q -p benches --bin peer-workloads || exit 1
BIN=$TARGET/release/peer-workloads

# name | arguments | the lines that must be equal (a grep -E pattern)
WORKLOADS=(
  "gcbench|gcbench|^(depth [0-9]+: [0-9]+ trees|stretch tree depth|long-lived)"
  "bt16|binarytrees 16|check:"
  "liveheap|liveheap 64 0.5 4 42|count=[0-9]+ valSum=[0-9]+ checksum=[0-9]+ (OK|MISMATCH)"
)
# What the C malloc build printed for these lines (shared/peers/c, gcc -O2).
KNOWN_gcbench='stretch tree depth 18
long-lived tree depth 16
long-lived array of 500000 doubles (half filled)
depth 4: 33824 trees
depth 6: 8256 trees
depth 8: 2052 trees
depth 10: 512 trees
depth 12: 128 trees
depth 14: 32 trees
depth 16: 8 trees'
KNOWN_bt16=$(printf '%s\n' \
  $'stretch tree of depth 17\t check: 262143' \
  $'65536\t trees of depth 4\t check: 2031616' \
  $'16384\t trees of depth 6\t check: 2080768' \
  $'4096\t trees of depth 8\t check: 2093056' \
  $'1024\t trees of depth 10\t check: 2096128' \
  $'256\t trees of depth 12\t check: 2096896' \
  $'64\t trees of depth 14\t check: 2097088' \
  $'16\t trees of depth 16\t check: 2097136' \
  $'long lived tree of depth 16\t check: 131071')
KNOWN_liveheap='count=2097152 valSum=500000 checksum=255308316 OK'

strip() {  # the checked part of a liveheap line: from count= on
  sed -E 's/^.*(count=[0-9]+ valSum=[0-9]+ checksum=[0-9]+ (OK|MISMATCH)).*$/\1/'
}

# Reference: the C malloc build, when the kit and a C compiler are here.
declare -A WANT=()
if [[ -d $PEERS_DIR/c ]] && command -v "${CC:-gcc}" >/dev/null 2>&1; then
  echo "[peers-quick] reference: C malloc build of $PEERS_DIR/c"
  for entry in "${WORKLOADS[@]}"; do
    IFS='|' read -r name args pattern <<<"$entry"
    read -r prog rest <<<"$args"
    if [[ ! -x $WORK/$prog ]] && ! "${CC:-gcc}" -O2 -o "$WORK/$prog" "$PEERS_DIR/c/$prog.c" 2>"$WORK/cc.err"; then
      echo "[peers-quick] cannot build $prog.c ($(head -c 200 "$WORK/cc.err")); using the recorded values"
      continue
    fi
    # shellcheck disable=SC2086
    if out=$(timeout "$RUN_TIMEOUT" "$WORK/$prog" $rest 2>/dev/null); then
      WANT[$name]=$(grep -E "$pattern" <<<"$out" | strip)
    fi
  done
else
  echo "[peers-quick] no $PEERS_DIR/c or no C compiler: checking against the recorded malloc values"
fi
for name in gcbench bt16 liveheap; do
  known_var="KNOWN_$name"
  [[ -n ${WANT[$name]:-} ]] || WANT[$name]=${!known_var}
  if [[ ${WANT[$name]} != "${!known_var}" ]]; then
    echo "[peers-quick] note: the C build's $name lines differ from the recorded ones (kit changed?); using the C build's"
  fi
done

passed=0
failed=0
for mode in "${MODES[@]}"; do
  for entry in "${WORKLOADS[@]}"; do
    IFS='|' read -r name args pattern <<<"$entry"
    d=$WORK/$name-$mode
    mkdir -p "$d"
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    PEER_PAUSE_FILE=$d/pauses.txt timeout "$RUN_TIMEOUT" "$BIN" --mode "$mode" $args >"$d/out" 2>"$d/err"
    rc=$?
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    got=$(grep -E "$pattern" "$d/out" | strip)
    why=""
    if ((rc != 0)); then
      why="exit $rc: $(tail -1 "$d/err")"
    elif [[ $got != "${WANT[$name]}" ]]; then
      why="checks differ from malloc's: got [$got] want [${WANT[$name]}]"
    elif ! grep -q "^RESULT workload=" "$d/out"; then
      why="no RESULT line"
    elif [[ ! -f $d/pauses.txt ]] || grep -qvE '^[0-9]+\.[0-9]{6}$' "$d/pauses.txt"; then
      why="pause file missing or malformed"
    elif [[ ! -s $d/pauses.txt ]]; then
      why="no pause recorded (the workload must collect)"
    fi
    summary=$(grep -o 'mode=[^ ]* requested=[^ ]* cycles=[0-9]* pauses=[0-9]* pause_total_ms=[0-9.]* pause_max_ms=[0-9.]*' "$d/err")
    batch=$(grep -o 'max=[0-9.]* ms' "$d/out" | head -1)
    if [[ -z $why ]]; then
      passed=$((passed + 1))
      echo "ok   $name --mode $mode (${secs}s; $summary${batch:+; batch $batch})"
    else
      failed=$((failed + 1))
      echo "FAIL $name --mode $mode (${secs}s): $why"
      sed 's/^/    stdout: /' "$d/out" | tail -5
      sed 's/^/    stderr: /' "$d/err" | tail -5
    fi
  done
done
echo "peers-quick: $passed passed, $failed failed"
((failed == 0))
