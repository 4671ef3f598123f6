#!/usr/bin/env bash
# Runs pausebench for every (live size, mode) pair, the three modes of one
# size back to back, and prints a Markdown table of the results. JSON per run
# goes to $OUT (default benches/results/pause-<date>/).
#
#   benches/scripts/pause-table.sh [seconds] [sizes...]
#   benches/scripts/pause-table.sh 15 64M 256M 1G
#   MODES="uffd-workers uffd-move sigbus uffd" benches/scripts/pause-table.sh 15 1G
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-15}
shift || true
if [ $# -gt 0 ]; then sizes=("$@"); else sizes=(64M 256M 1G); fi
out=${OUT:-benches/results/pause-$(date +%F)}
read -r -a modes <<<"${MODES:-stw uffd-copy uffd}"
mkdir -p "$out"
cargo build --release -p benches --bin pausebench >&2
bin=${CARGO_TARGET_DIR:-target}/release/pausebench
for live in "${sizes[@]}"; do
  for mode in "${modes[@]}"; do
    echo "== $live $mode" >&2
    "$bin" --mode "$mode" --live "$live" --seconds "$seconds" \
      --json "$out/$live-$mode.json" >"$out/$live-$mode.txt" 2>&1 || {
      echo "pausebench failed for $live $mode (see $out/$live-$mode.txt)" >&2
      exit 1
    }
  done
done
python3 - "$out" "${modes[*]}" "${sizes[@]}" <<'PY'
import json, sys
out, modes, sizes = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
ms = lambda ns: f"{ns / 1e6:.3f}" if ns < 1e7 else f"{ns / 1e6:.0f}"
print("| live | mode | cycles | pauses | pause p50 / p99 / max ms | total pause ms | flip pause p50 / max ms | compaction ms/cycle | faults | fault service p50 / p99 us | GC CPU s | allocs/s | worst 4096-op batch ms | peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for live in sizes:
    for mode in modes:
        r = json.load(open(f"{out}/{live}-{mode}.json"))
        conc = dict(r["concurrent_phase_total_ns"])
        compact = conc.get("compact", 0) or next((p["total_ns"] for p in r["pause_phases"] if p["phase"] == "compact"), 0)
        per_cycle = compact / max(r["cycles"], 1)
        print(f"| {live} | {r['mode']} | {r['cycles']} | {r['pause_count']} | {ms(r['pause_p50_ns'])} / {ms(r['pause_p99_ns'])} / {ms(r['pause_max_ns'])} "
              f"| {ms(r['pause_total_ns'])} | {ms(r['flip_pause_p50_ns'])} / {ms(r['flip_pause_max_ns'])} | {ms(per_cycle)} | {r['mutator_faults']} "
              f"| {r['fault_service_p50_ns'] / 1e3:.1f} / {r['fault_service_p99_ns'] / 1e3:.1f} | {r['gc_cpu_ns'] / 1e9:.2f} "
              f"| {r['allocations_per_second'] / 1e6:.2f}M | {ms(r['batch_max_ns'])} | {r['peak_rss_bytes'] >> 20} |")
PY
