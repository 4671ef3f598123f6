#!/usr/bin/env python3
"""Runs one demo-vm example under several (GC_HEAP_GROWTH, --heap-limit, mode)
settings, interleaved (the order rotates per repetition), and prints medians:
wall, CPU (user/sys), peak RSS, cycles, pause share (total pause / wall) and
GC CPU share (GC CPU / process CPU). Used for the binary-trees analysis in
benches/results/demo-vm-2026-11-30.md.

  demo-vm/bench/growth-sweep.py demo-vm/examples/binary_trees.lox 3 2 4 8:1G 16:1G 100:8G

Each setting is GROWTH[:LIMIT[:MODE]] (mode default uffd, no LIMIT = the
demo-vm default). BIN (default target/release/demo-vm, or
$CARGO_TARGET_DIR/release/demo-vm) is the binary, built beforehand.
"""
import os, re, statistics, subprocess, sys, time

target = os.environ.get("CARGO_TARGET_DIR", "target")
bin_ = os.environ.get("BIN", f"{target}/release/demo-vm")
script, reps, cfgs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
STATS = re.compile(r"gc: (\d+) cycles.*total ([\d.]+)ms.*gc cpu ([\d.]+)s")
res = {c: [] for c in cfgs}
for rep in range(reps):
    k = rep % len(cfgs)
    for c in cfgs[k:] + cfgs[:k]:
        parts = c.split(":")
        lim = parts[1] if len(parts) > 1 and parts[1] else None
        mode = parts[2] if len(parts) > 2 else "uffd"
        env = dict(os.environ, GC_HEAP_GROWTH=parts[0])
        cmd = [bin_, "--gc", mode, "--gc-stats"] + (["--heap-limit", lim] if lim else []) + [script]
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        err = p.stderr.read().decode()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{c}: {' '.join(cmd)} failed:\n{err}")
        m = STATS.search(err)
        cycles, pause, gccpu = int(m[1]), float(m[2]) / 1e3, float(m[3])
        cpu = ru.ru_utime + ru.ru_stime
        res[c].append((wall, cpu, ru.ru_maxrss / 1024, cycles, pause / wall, gccpu / cpu,
                       ru.ru_utime, ru.ru_stime))
        print(f"{c} rep {rep}: wall {wall:.2f} cpu {cpu:.2f} rss {ru.ru_maxrss / 1024:.0f} "
              f"cycles {cycles} pause {pause / wall:.1%} gc cpu {gccpu / cpu:.1%}", file=sys.stderr)
med = statistics.median
print("| growth:limit:mode | wall s | CPU s (user/sys) | peak RSS MiB | cycles | pause share | GC CPU share |")
print("|---|---|---|---|---|---|---|")
for c in cfgs:
    col = lambda i: med(x[i] for x in res[c])
    print(f"| {c} | {col(0):.2f} | {col(1):.2f} ({col(6):.2f}/{col(7):.2f}) | {col(2):.0f} "
          f"| {col(3):.0f} | {col(4):.1%} | {col(5):.1%} |")
