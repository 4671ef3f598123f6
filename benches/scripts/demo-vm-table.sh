#!/usr/bin/env bash
# Runs every demo-vm example in every GC mode, REPS times, interleaved (each
# repetition runs each example's modes back to back, in an order rotated per
# repetition), and prints a Markdown table of medians: wall time, CPU time,
# peak RSS, GC cycles, pauses, the pause share of wall time and the GC CPU
# share of process CPU. Every run's stdout must equal the first run's of the
# same example (else the row says WRONG); a non-zero exit says FAIL.
#
#   benches/scripts/demo-vm-table.sh                 # REPS=3, all examples
#   REPS=5 EXAMPLES="binary_trees" benches/scripts/demo-vm-table.sh
#   HEAP_gcbench=1G benches/scripts/demo-vm-table.sh  # override one example's --heap-limit
#   OUT=benches/results/demo-vm-$(date +%F).md benches/scripts/demo-vm-table.sh
#
# Settings (environment): REPS (3), MODES ("stw uffd-copy uffd"), EXAMPLES
# (every demo-vm/examples/*.lox), HEAP_<example> (--heap-limit for that
# example; default: the `--heap-limit` in the example's header comment, else
# none, i.e. the runtime's default), DEMO_VM (a prebuilt binary; default:
# build demo-vm in release into $CARGO_TARGET_DIR or target/), RUNS (folder
# for each run's stdout/stderr; default a temp dir), OUT (also write the
# report there). GC_* variables (GC_HEAP_GROWTH, ...) pass through to every
# run and are listed in the report.
#
# Columns: wall, CPU (user + sys) and peak RSS (the child's ru_maxrss, as
# GNU time's "Maximum resident set size") are measured by the script around
# the process (wait4). Cycles, pauses and GC CPU come from `--gc-stats`.
# pause share = total stop-the-world pause / wall (the time the mutator
# was stopped); GC CPU share = GC CPU (collector threads plus the collector
# work done in pauses) / process CPU. Both are medians of the per-run ratios;
# "wall vs stw" is the median of per-repetition ratios to the stw run.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${DEMO_VM:-}" ]; then
  cargo build --release -p demo-vm >&2
  DEMO_VM=${CARGO_TARGET_DIR:-target}/release/demo-vm
fi
export DEMO_VM
python3 - <<'PY'
import os, re, statistics, subprocess, sys, tempfile, time, hashlib, platform, datetime

bin_ = os.environ["DEMO_VM"]
reps = int(os.environ.get("REPS", "3"))
modes = os.environ.get("MODES", "stw uffd-copy uffd").split()
ex_dir = "demo-vm/examples"
examples = os.environ.get("EXAMPLES", "").split() or sorted(
    f[:-4] for f in os.listdir(ex_dir) if f.endswith(".lox"))
runs = os.environ.get("RUNS") or tempfile.mkdtemp(prefix="demo-vm-table.")
os.makedirs(runs, exist_ok=True)

def heap_flag(ex):
    v = os.environ.get(f"HEAP_{ex}")
    if v is None:
        head = open(f"{ex_dir}/{ex}.lox").read(4000)
        m = re.search(r"--heap-limit\s+(\S+)", head)
        v = m.group(1) if m else ""
    return ["--heap-limit", v] if v else []

STATS = re.compile(
    r"gc: (\d+) cycles, pause p50 ([\d.]+)ms p99 ([\d.]+)ms max ([\d.]+)ms total ([\d.]+)ms, "
    r"flip pause p50 ([\d.]+)ms max ([\d.]+)ms, (\d+) faults .*gc cpu ([\d.]+)s, live ([\d.]+)M")

def run(ex, mode, rep):
    base = f"{runs}/{ex}.{mode}.{rep}"
    cmd = [bin_, "--gc", mode, "--gc-stats", *heap_flag(ex), f"{ex_dir}/{ex}.lox"]
    with open(base + ".out", "wb") as out, open(base + ".err", "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    errtext = open(base + ".err", errors="replace").read()
    m = STATS.search(errtext)
    r = dict(ex=ex, mode=mode, rep=rep, code=p.returncode, wall=wall,
             cpu=ru.ru_utime + ru.ru_stime, rss=ru.ru_maxrss / 1024,
             digest=hashlib.sha256(open(base + ".out", "rb").read()).hexdigest(),
             cmd=" ".join(cmd))
    if m:
        g = m.groups()
        r.update(cycles=int(g[0]), p50=float(g[1]), p99=float(g[2]), pmax=float(g[3]),
                 ptotal=float(g[4]) / 1e3, flipmax=float(g[6]), faults=int(g[7]),
                 gccpu=float(g[8]), live=float(g[9]))
    # A uffd mode that fell back to stw (no userfaultfd) has no flip pauses.
    r["fallback"] = mode != "stw" and r.get("cycles", 0) > 0 and r.get("flipmax", 1) == 0
    print(f"{ex:18} {mode:9} rep {rep}: exit {r['code']} wall {wall:6.2f}s cpu {r['cpu']:6.2f}s "
          f"rss {r['rss']:7.1f}M pause {r.get('ptotal', float('nan')):.3f}s gc cpu {r.get('gccpu', float('nan')):.2f}s",
          file=sys.stderr)
    return r

results = []
for rep in range(reps):
    for ex in examples:
        k = rep % len(modes)
        for mode in modes[k:] + modes[:k]:
            results.append(run(ex, mode, rep))

med = statistics.median
def cell(xs, fmt):
    xs = [x for x in xs if x is not None]
    return fmt.format(med(xs)) if xs else "-"

lines = []
def out(s=""):
    lines.append(s)

def sh(c):
    try:
        return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return "?"
mem_kib = int(open("/proc/meminfo").read().split("MemTotal:")[1].split()[0])
cpu_model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip()
gc_env = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("GC_")) or "none"
rev = sh("git rev-parse --short HEAD") + (" (dirty tree)" if sh("git status --porcelain -- demo-vm gc runtime mremap-shim") else "")
out(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; commit {rev}")
out(f"- machine: kernel {platform.release()}, nproc {os.cpu_count()}, CPU {cpu_model}, "
    f"memory {mem_kib / 2**20:.1f} GiB")
out(f"- runs: REPS={reps}, modes interleaved per repetition (order rotated), GC_* env: {gc_env}")
out()
out("| example | flags | mode | wall s | wall vs stw | CPU s | peak RSS MiB | cycles | pause total s | pause max ms | pause share | GC CPU s | GC CPU share | status |")
out("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for ex in examples:
    rs = [r for r in results if r["ex"] == ex]
    ref = rs[0]["digest"] if rs else None
    for mode in modes:
        mr = [r for r in rs if r["mode"] == mode]
        status = "ok"
        if any(r["code"] != 0 for r in mr):
            status = "FAIL (exit " + ",".join(str(r["code"]) for r in mr) + ")"
        elif any(r["digest"] != ref for r in mr):
            status = "WRONG (output differs)"
        if any(r["fallback"] for r in mr):
            status += " (fell back to stw: no flip pauses)"
        ratios = []
        for r in mr:
            base = [b for b in rs if b["mode"] == "stw" and b["rep"] == r["rep"]]
            if base:
                ratios.append(r["wall"] / base[0]["wall"])
        flags = " ".join(heap_flag(ex)) or "-"
        out(f"| {ex} | {flags} | {mode} | {cell([r['wall'] for r in mr], '{:.2f}')} "
            f"| {cell(ratios, '{:.2f}') if 'stw' in modes else '-'} "
            f"| {cell([r['cpu'] for r in mr], '{:.2f}')} | {cell([r['rss'] for r in mr], '{:.0f}')} "
            f"| {cell([r.get('cycles') for r in mr], '{:.0f}')} | {cell([r.get('ptotal') for r in mr], '{:.3f}')} "
            f"| {cell([r.get('pmax') for r in mr], '{:.1f}')} "
            f"| {cell([r['ptotal'] / r['wall'] if 'ptotal' in r else None for r in mr], '{:.1%}')} "
            f"| {cell([r.get('gccpu') for r in mr], '{:.2f}')} "
            f"| {cell([r['gccpu'] / r['cpu'] if 'gccpu' in r and r['cpu'] > 0 else None for r in mr], '{:.1%}')} "
            f"| {status} |")
out()
out(f"Per-run stdout/stderr: {runs}")
report = "\n".join(lines)
print(report)
if os.environ.get("OUT"):
    with open(os.environ["OUT"], "w") as f:
        f.write(report + "\n")
PY
