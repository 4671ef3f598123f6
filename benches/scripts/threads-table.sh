#!/usr/bin/env bash
# pausebench at one live size with 1 and 4 mutator threads in every mode:
# pauses, time to safepoint, MMU and pacing, as a markdown table.
#
#   benches/scripts/threads-table.sh [seconds] [live] [out.md]
#   MODES="stw uffd" THREADS="1 4" benches/scripts/threads-table.sh 15 1G
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-15}
live=${2:-1G}
out=${3:-/dev/stdout}
threads=${THREADS:-1 4}
cargo build --release -p benches --bin pausebench >&2
bin=${CARGO_TARGET_DIR:-target}/release/pausebench
# every mode, from the runtime's table, unless MODES names some
modes=${MODES:-$("$bin" --list-modes)}
dir=$(mktemp -d)
for t in $threads; do
  for mode in $modes; do
    echo "== pausebench --mode $mode --live $live --seconds $seconds --threads $t" >&2
    "$bin" --mode "$mode" --live "$live" --seconds "$seconds" --threads "$t" \
      --json "$dir/$t-$mode.json" >&2
  done
done
python3 - "$dir" "$out" <<'PY'
import json, os, sys
d, out = sys.argv[1], sys.argv[2]
rows = []
for f in sorted(os.listdir(d), key=lambda n: (int(n.split('-')[0]), n)):
    r = json.load(open(os.path.join(d, f)))
    ms = lambda ns: ns / 1e6
    mmu = {m['window_ns'] // 1_000_000: m['utilisation'] * 100 for m in r['mmu']}
    pacing = r['pacing_ns'] / 1e9 / (r['churn_seconds'] * r['threads']) * 100
    rows.append(f"| {r['threads']} | {r['mode']} | {r['cycles']} | {r['pause_count']} | "
                f"{ms(r['pause_p50_ns']):.3f} / {ms(r['pause_max_ns']):.3f} | {ms(r['pause_total_ns']):.1f} | "
                f"{ms(r['safepoint_p50_ns']):.3f} / {ms(r['safepoint_max_ns']):.3f} | "
                f"{mmu[1]:.1f} / {mmu[10]:.1f} / {mmu[100]:.1f} | {r['paced']} / {pacing:.1f}% | "
                f"{ms(r['batch_p99_ns']):.1f} / {ms(r['batch_max_ns']):.1f} | "
                f"{r['allocations_per_second'] / 1e6:.2f} | {r['peak_rss_bytes'] >> 20} |")
with open(out, 'w') as o:
    o.write("| threads | mode | cycles | pauses | pause p50 / max ms | total pause ms | "
            "safepoint p50 / max ms | MMU 1 / 10 / 100 ms % | paced / % of thread time | "
            "batch p99 / max ms | M allocs/s | peak RSS MiB |\n")
    o.write("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    o.write("\n".join(rows) + "\n")
PY
rm -rf "$dir"
