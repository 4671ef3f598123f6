#!/usr/bin/env bash
# Generates the charts in docs/img:
# - pausebench-{pauses,pause-cdf,mmu,heap}.svg: pausebench at LIVE (256M)
#   for RUN_SECONDS (10) in each of MODES ("stw uffd"), one series per mode:
#   pause timeline, pause-duration CDF, MMU over windows from 0.1 ms to 1 s,
#   heap in use over time;
# - peers-<workload>.svg: the peer kit's results table PEERS_TABLE (default:
#   the most recently committed benches/results/peers-<date>*.md), wall
#   time, longest pause, worst mutator batch and peak RSS per collector.
#
#   benches/scripts/plots.sh
#   MODES="stw uffd-copy uffd" LIVE=1G RUN_SECONDS=15 benches/scripts/plots.sh
#   OUT=/tmp/img PEERS_TABLE=/tmp/peers/report.md benches/scripts/plots.sh
#
# Needs only the Rust toolchain (gc-plot writes SVG with no system
# library). The runs' JSON stays in $RUNS (default a temp dir). Takes about
# MODES x (RUN_SECONDS + the build of the live heap) seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-docs/img}
live=${LIVE:-256M}
seconds=${RUN_SECONDS:-10}
read -r -a modes <<<"${MODES:-stw uffd}"
runs=${RUNS:-$(mktemp -d /tmp/plots.XXXXXX)}
mkdir -p "$out" "$runs"
cargo build --release -q -p benches --bin pausebench --bin gc-plot >&2
target=${CARGO_TARGET_DIR:-target}/release
jsons=()
for mode in "${modes[@]}"; do
  echo "== pausebench --mode $mode --live $live --seconds $seconds" >&2
  "$target/pausebench" --mode "$mode" --live "$live" --seconds "$seconds" \
    --json "$runs/pausebench-$mode.json" >"$runs/pausebench-$mode.txt"
  jsons+=("$runs/pausebench-$mode.json")
done
"$target/gc-plot" runs --out "$out" --name pausebench "${jsons[@]}"

table=${PEERS_TABLE:-}
if [[ -z $table ]]; then
  newest=0
  for f in benches/results/peers-20*.md; do
    [[ -e $f ]] || continue
    t=$(git log -1 --format=%ct -- "$f" 2>/dev/null || echo 0)
    if (( ${t:-0} > newest )); then newest=$t; table=$f; fi
  done
fi
if [[ -n $table ]]; then
  echo "== peer comparison from $table" >&2
  "$target/gc-plot" peers --out "$out" "$table"
else
  echo "plots: no peer results table (benches/results/peers-<date>.md); skipped" >&2
fi
echo "plots: runs in $runs" >&2
