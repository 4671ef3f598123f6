#!/usr/bin/env bash
# Context only, NOT the issue's "C reference interpreter": the peer kit's
# native C binary-trees (../shared/peers/c/binarytrees.c, malloc/free and
# Boehm GC) beside demo-vm running the same algorithm in Lox
# (examples/binary_trees_peer.lox, depth 16), interleaved, REPS times; the
# check lines must agree. Needs gcc and libgc-dev (INSTALL_DEPS=1 apt-gets it).
#
#   demo-vm/bench/c-context.sh        # REPS=3
set -euo pipefail
cd "$(dirname "$0")/../.."
peers=${PEERS:-../shared/peers}
if [ "${INSTALL_DEPS:-0}" = 1 ] && ! dpkg -s libgc-dev >/dev/null 2>&1; then
  apt-get install -y libgc-dev >&2
fi
cargo build --release -p demo-vm >&2
bin=${CARGO_TARGET_DIR:-target}/release/demo-vm
out=$(mktemp -d)
gcc -O2 -o "$out/bt_malloc" "$peers/c/binarytrees.c"
gcc -O2 -DPEER_BDW -o "$out/bt_bdw" "$peers/c/binarytrees.c" -lgc -lpthread
export BIN=$bin OUTDIR=$out LOX=demo-vm/examples/binary_trees_peer.lox
python3 - <<'PY'
import os, subprocess, time, statistics, sys
b, o, lox = os.environ["BIN"], os.environ["OUTDIR"], os.environ["LOX"]
cfgs = {"C malloc/free (native)": ([f"{o}/bt_malloc", "16"], {}),
        "C Boehm GC (native)": ([f"{o}/bt_bdw", "16"], {}),
        "demo-vm --gc uffd": ([b, "--gc", "uffd", lox], {}),
        "demo-vm --gc stw": ([b, "--gc", "stw", lox], {}),
        "demo-vm, GC nearly off (GC_HEAP_GROWTH=100, 8G)": ([b, "--heap-limit", "8G", lox], {"GC_HEAP_GROWTH": "100"})}
res = {k: [] for k in cfgs}
ref = None
for rep in range(int(os.environ.get("REPS", "3"))):
    ks = list(cfgs)
    ks = ks[rep % len(ks):] + ks[:rep % len(ks)]
    for k in ks:
        cmd, e = cfgs[k]
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(os.environ, **e))
        out = p.stdout.read()
        _, st, ru = os.wait4(p.pid, 0)
        w = time.monotonic() - t0
        checks = [l for l in out.decode().splitlines() if "check:" in l]
        ref = ref or checks
        res[k].append((w, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, checks == ref and os.waitstatus_to_exitcode(st) == 0))
        print(f"{k} rep {rep}: {w:.2f}s", file=sys.stderr)
m = statistics.median
base = m(x[0] for x in res["demo-vm --gc uffd"])
print("| binary-trees depth 16 | wall s | CPU s | peak RSS MiB | wall / demo-vm uffd | checks |")
print("|---|---|---|---|---|---|")
for k, r in res.items():
    print(f"| {k} | {m(x[0] for x in r):.2f} | {m(x[1] for x in r):.2f} | {m(x[2] for x in r):.0f} "
          f"| {m(x[0] for x in r) / base:.3f} | {'ok' if all(x[3] for x in r) else 'DIFFER'} |")
PY
rm -rf "$out"
