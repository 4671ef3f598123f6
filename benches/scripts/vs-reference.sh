#!/usr/bin/env bash
# demo-vm side by side with a reference Lox interpreter (e.g. clox, the C
# bytecode VM of Crafting Interpreters, built outside this repository) on a
# directory of .lox programs. Needs bash and python3.
#
#   benches/scripts/vs-reference.sh --ref /work/clox-ref/clox \
#       --dir /work/clox-ref/test/benchmark \
#       --only binary_trees,trees,method_call,fib,zoo,instantiation,properties,invocation
#   benches/scripts/vs-reference.sh --ref ./clox --dir demo-vm/examples/bench --reps 5 --gc stw
#
# Options:
#   --ref PATH        the reference interpreter (required); run as `PATH prog.lox`
#   --dir DIR         a directory of .lox programs (repeatable; not recursive)
#   --only a,b,...    run only these programs (file names without .lox), in this order
#   --reps N          runs per program and interpreter (default 3); the table shows the best
#   --gc MODE         passed to demo-vm as `--gc MODE` (default: demo-vm's default)
#   --heap-limit SZ   passed to demo-vm as `--heap-limit SZ`
#   --demo-vm PATH    a prebuilt demo-vm; default: `cargo build --release -p demo-vm`
#   --timeout S       per-run limit in seconds (default 600); a run over it counts as FAIL
#   --out FILE        also write the report (Markdown) to FILE
#
# Method: for every repetition and program the two interpreters run back to
# back, alternating which goes first (demo-vm first in even repetitions), so
# slow drift of the machine hits both alike. Wall time is measured around the
# whole process (start-up and compilation included) with wait4; the table
# gives each side's best of N and the ratio of the bests, then the geometric
# mean of the ratios over the programs whose outputs agree. The CPU column is
# the same for user + system CPU time (wait4's rusage; for demo-vm it
# includes the collector threads): less disturbed than wall time when other
# work shares the machine.
#
# Output check: every run's stdout is compared with the reference's first
# run, line by line. The book's benchmark programs print `clock()`
# differences, which differ from run to run, so a line pair that differs and
# where BOTH lines look like a fractional number (`^-?[0-9]+\.[0-9]+$`, how
# Lox prints a duration) counts as a timing line and is ignored; the status
# column says how many were ignored. Any other difference, a different line
# count or a non-zero exit marks the row WRONG or FAIL, and it leaves the
# geomean. (A real result that is a fraction and differs would be taken for a
# timing line: programs meant for this table print integers, booleans or
# strings as their results.) GC_* environment variables pass through to
# demo-vm and are listed in the report.
set -euo pipefail
cd "$(dirname "$0")/../.."

args=("$@")
demo_vm=""
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[$i]}" = "--demo-vm" ] && [ $((i + 1)) -lt ${#args[@]} ]; then
    demo_vm=${args[$((i + 1))]}
  fi
done
if [ -z "$demo_vm" ]; then
  cargo build --release -p demo-vm >&2
  demo_vm=${CARGO_TARGET_DIR:-target}/release/demo-vm
  args+=(--demo-vm "$demo_vm")
fi

exec python3 - "${args[@]}" <<'PY'
import argparse, datetime, hashlib, math, os, platform, re, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser(prog="vs-reference.sh",
                             description="demo-vm against a reference Lox interpreter")
ap.add_argument("--ref", required=True, help="reference interpreter binary")
ap.add_argument("--dir", action="append", required=True, help="directory of .lox programs")
ap.add_argument("--only", default="", help="comma-separated program names")
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--gc", default=None, help="demo-vm --gc MODE")
ap.add_argument("--heap-limit", default=None, help="demo-vm --heap-limit SIZE")
ap.add_argument("--demo-vm", required=True)
ap.add_argument("--timeout", type=float, default=600.0)
ap.add_argument("--out", default=None)
a = ap.parse_args(sys.argv[1:])
if a.reps < 1:
    ap.error("--reps must be at least 1")
for path, what in ((a.ref, "--ref"), (a.demo_vm, "--demo-vm")):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        ap.error(f"{what} {path}: not an executable file")

programs = {}  # name -> path
for d in a.dir:
    if not os.path.isdir(d):
        ap.error(f"--dir {d}: not a directory")
    for f in sorted(os.listdir(d)):
        if f.endswith(".lox"):
            name = f[:-4]
            if name in programs:
                name = f"{os.path.basename(os.path.normpath(d))}/{name}"
            programs[name] = os.path.join(d, f)
if a.only:
    wanted = [w.strip() for w in a.only.split(",") if w.strip()]
    missing = [w for w in wanted if w not in programs]
    if missing:
        ap.error(f"--only: no such program(s): {', '.join(missing)} (have: {', '.join(programs)})")
    programs = {w: programs[w] for w in wanted}
if not programs:
    ap.error("no .lox programs found")

vm_cmd = [a.demo_vm]
if a.gc:
    vm_cmd += ["--gc", a.gc]
if a.heap_limit:
    vm_cmd += ["--heap-limit", a.heap_limit]
runs_dir = tempfile.mkdtemp(prefix="vs-reference.")

def run(side, cmd, name, rep):
    base = f"{runs_dir}/{name.replace('/', '_')}.{side}.{rep}"
    with open(base + ".out", "wb") as out, open(base + ".err", "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = t0 + a.timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                _, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.001)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        code = "timeout" if time.monotonic() > deadline else p.returncode
        cpu = ru.ru_utime + ru.ru_stime
    out_text = open(base + ".out", "rb").read().decode("utf-8", "replace")
    print(f"{name:22} {side:7} rep {rep}: exit {code} wall {wall:7.3f}s cpu {cpu:7.3f}s", file=sys.stderr)
    return dict(wall=wall, cpu=cpu, code=code, out=out_text, err=base + ".err")

TIMING = re.compile(r"^-?[0-9]+\.[0-9]+$")

def compare(ref_out, out):
    """(ok, ignored timing lines, first difference)."""
    r, o = ref_out.splitlines(), out.splitlines()
    if len(r) != len(o):
        return False, 0, f"{len(o)} lines, reference {len(r)}"
    ignored = 0
    for n, (x, y) in enumerate(zip(r, o), 1):
        if x == y:
            continue
        if TIMING.match(x) and TIMING.match(y):
            ignored += 1
            continue
        return False, ignored, f"line {n}: {y!r}, reference {x!r}"
    return True, ignored, ""

results = {name: {"vm": [], "ref": []} for name in programs}
for rep in range(a.reps):
    for name, path in programs.items():
        order = [("vm", vm_cmd + [path]), ("ref", [a.ref, path])]
        if rep % 2:
            order.reverse()
        for side, cmd in order:
            results[name][side].append(run(side, cmd, name, rep))

def sh(c):
    try:
        return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"

def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()[:12]

lines = []

def out(s=""):
    lines.append(s)

cpu_model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip()
rev = sh("git rev-parse --short HEAD") + (" (dirty tree)" if sh("git status --porcelain -- demo-vm gc runtime") else "")
gc_env = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("GC_")) or "none"
ref_name = os.path.basename(a.ref)
out(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; commit {rev}")
out(f"- machine: kernel {platform.release()}, nproc {os.cpu_count()}, CPU {cpu_model}")
out(f"- demo-vm: `{' '.join(vm_cmd)} PROG` (binary sha256 {sha(a.demo_vm)}); GC_* env: {gc_env}")
out(f"- reference: `{a.ref} PROG` (binary sha256 {sha(a.ref)})")
out(f"- programs: {', '.join(a.dir)}; best of {a.reps} alternated runs, process wall time")
out()
out(f"| program | demo-vm s | {ref_name} s | demo-vm / {ref_name} | CPU: demo-vm / {ref_name} | check |")
out("|---|---|---|---|---|---|")
ratios, cpu_ratios = [], []
for name in programs:
    vm, ref = results[name]["vm"], results[name]["ref"]
    status = "ok"
    if any(r["code"] != 0 for r in vm + ref):
        codes = lambda rs: ",".join(str(r["code"]) for r in rs)
        status = f"FAIL (exit demo-vm {codes(vm)}, {ref_name} {codes(ref)})"
    else:
        ignored = set()
        for r in vm + ref[1:]:
            ok, ign, why = compare(ref[0]["out"], r["out"])
            if not ok:
                status = f"WRONG ({why})"
                break
            ignored.add(ign)
        else:
            if max(ignored) > 0:
                status = f"ok ({max(ignored)} timing line{'s' if max(ignored) > 1 else ''} ignored)"
    bv, br = min(r["wall"] for r in vm), min(r["wall"] for r in ref)
    ratio = bv / br if br > 0 else float("inf")
    cv, cr = min(r["cpu"] for r in vm), min(r["cpu"] for r in ref)
    cpu_ratio = cv / cr if cr > 0 else float("inf")
    if status.startswith("ok"):
        ratios.append(ratio)
        cpu_ratios.append(cpu_ratio)
    out(f"| {name} | {bv:.3f} | {br:.3f} | {ratio:.2f} | {cpu_ratio:.2f} | {status} |")
geomean = lambda xs: math.exp(sum(math.log(x) for x in xs) / len(xs))
if ratios:
    out(f"| **geomean** ({len(ratios)} programs) | | | **{geomean(ratios):.2f}** | {geomean(cpu_ratios):.2f} | |")
out()
out(f"Per-run stdout/stderr: {runs_dir}")
report = "\n".join(lines)
print(report)
if a.out:
    with open(a.out, "w") as f:
        f.write(report + "\n")
bad = len(ratios) != len(programs)
sys.exit(1 if bad else 0)
PY
