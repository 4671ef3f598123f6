#!/usr/bin/env python3
"""Where an inlined interpreter loop spends its time, by source line.

`perf report` charges almost everything in demo-vm to `Vm::run`, into which
the runtime's calls (slot reads, the write barrier, allocation fast paths)
are inlined. This script records a program with perf (software cpu-clock
sampling, which works where the VM hides the hardware counters), resolves
every sample's address with `addr2line -i` to its whole inline chain, and
prints four tables:

1. by innermost function (after inlining): e.g. `gc::object::ObjRef::slot`,
   `runtime::mutator::Mutator::write`, `demo_vm::table::probe`;
2. by innermost source line (file:line and function), the top N;
3. by bytecode handler: the outermost `vm/run.rs` line of the chain mapped to
   the `Op::X =>` arm it lies in (lines outside every arm: `dispatch/loop`),
   or the first demo-vm function below `run` for out-of-line calls;
4. by category (RULES below): interpreter costs (dispatch, value stack,
   frame set-up, hashing, interning) apart from runtime costs (barrier,
   slot checks, root stack, allocation, polls) and the collector's threads.

Usage:
  benches/scripts/perf-lines.py [--top N] [--freq HZ] [--out DIR] -- BINARY ARGS...
  benches/scripts/perf-lines.py --data perf.data --binary BINARY [--top N]

Needs perf, addr2line (binutils) and nm. Percentages are of all samples of
the process (every thread), kernel and libraries included; a first table
splits them by thread name (user and kernel time apart), and the category
table prefixes the samples of threads other than the mutator (the thread
with the most samples: demo-vm's "lox") with their name.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile


def record(cmd, freq, out_dir):
    data = os.path.join(out_dir, "perf.data")
    subprocess.run(
        ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(freq), "-o", data, "--"] + cmd,
        check=True, stdout=subprocess.DEVNULL)
    return data


def symbols(binary):
    out = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            table[parts[2]] = int(parts[0], 16)
    return table


def samples(data, binary):
    """(thread name, address in the binary or None, label for samples
    outside it)."""
    out = subprocess.run(
        ["perf", "script", "-i", data, "-F", "comm,tid,ip,sym,symoff,dso", "--no-demangle"],
        capture_output=True, text=True, check=True).stdout
    syms = symbols(binary)
    base = os.path.basename(binary)
    for line in out.splitlines():
        if not line.strip():
            continue
        t = re.match(r"\s*(.+?)\s+(\d+)\s+([0-9a-f]+\s.*)", line)
        if not t:
            continue
        thread = re.sub(r"-\d+$", "-N", t.group(1))
        rest = t.group(3)
        m = re.match(r"\s*[0-9a-f]+\s+(\S+)\+0x([0-9a-f]+)\s+\((.*)\)", rest)
        if not m:
            dso = re.search(r"\((.*)\)", rest)
            yield thread, None, f"[{os.path.basename(dso.group(1)) if dso else '?'}] ?"
            continue
        sym, off, dso = m.group(1), int(m.group(2), 16), m.group(3)
        if os.path.basename(dso) == base and sym in syms:
            yield thread, syms[sym] + off, None
        else:
            yield thread, None, f"[{os.path.basename(dso)}] {sym}"


def resolve(binary, addrs):
    """address -> inline chain [(function, file, line)], innermost first."""
    addrs = sorted(addrs)
    p = subprocess.run(["addr2line", "-a", "-f", "-i", "-C", "-e", binary],
                       input="\n".join(hex(a) for a in addrs) + "\n",
                       capture_output=True, text=True, check=True)
    chains, cur, lines = {}, None, p.stdout.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("0x"):
            cur = int(lines[i], 16)
            chains[cur] = []
            i += 1
            continue
        func = lines[i]
        loc = lines[i + 1] if i + 1 < len(lines) else "??:0"
        f, _, ln = loc.rpartition(":")
        ln = re.match(r"\d+", ln)
        chains[cur].append((func, f, int(ln.group(0)) if ln else 0))
        i += 2
    return chains


def short_fn(f):
    f = re.sub(r"<impl ([^>]*)>", r"\1", f)
    f = re.sub(r"::\{closure#\d+\}", "::{closure}", f)
    return f[:90]


def short_file(path):
    for root in ("demo-vm/", "runtime/", "gc/", "mremap-shim/", "library/", "src/"):
        k = path.find(root)
        if k >= 0:
            return path[k:]
    return os.path.basename(path)


def op_arms(run_rs):
    """line -> `Op::X` handler name, from the match arms of vm/run.rs."""
    arms, current, depth_at = {}, "dispatch/loop", None
    try:
        text = open(run_rs).read().splitlines()
    except OSError:
        return arms
    for n, line in enumerate(text, 1):
        m = re.match(r"\s*Op::(\w+) =>", line)
        mac = re.match(r"\s*macro_rules! (\w+)", line)
        if m:
            current = "Op::" + m.group(1)
        elif mac:
            current = f"{mac.group(1)}! (macro body)"
        elif re.match(r"\s*loop \{", line):
            current = "dispatch/loop"
        elif re.match(r"\s*fn concatenate", line):
            current = "concatenate"
        arms[n] = current
    return arms


# (category, file substring, function regex) tried in order on the first
# frame of the inline chain (innermost first) that is project code; library
# frames (core, alloc, std) are skipped, so `ptr::add` inside `push!`
# counts where `push!` is.
RULES = [
    ("runtime: write barrier (Mutator::write: check + flag test + store)", "runtime/src/mutator.rs", r"::(write|record_overwritten|satb_record)"),
    ("runtime: weak-read barrier (load_weak)", "runtime/src/mutator.rs", r"::load_weak"),
    ("runtime: allocation (Mutator::alloc, poll, slow path)", "runtime/src/", r"::(alloc|alloc_driving|poll_slow|drive|heap_full|needs_attention)"),
    ("runtime: safepoint poll", "runtime/src/", r"::safepoint"),
    ("runtime: root vector access (Mutator::roots via the thread slot)", "runtime/src/", r"::(roots|local|parts|push_root|get|set)\b"),
    ("runtime: other", "runtime/src/", r""),
    ("runtime: allocation (gc heap: TLAB bump, header init)", "gc/src/heap/", r""),
    ("runtime: slot read (ObjRef::slot: bounds check + acquire load)", "gc/src/object.rs", r"ObjRef::slot$"),
    ("runtime: slot read unchecked (acquire load)", "gc/src/object.rs", r"ObjRef::(slot_unchecked|atomic_word)"),
    ("runtime: raw slot store (set_slot_raw)", "gc/src/object.rs", r"ObjRef::set_slot"),
    ("runtime: object header reads (tag, aux, slot_count, byte_len, bytes_ptr)", "gc/src/object.rs", r""),
    ("interpreter: NaN-boxed value tests (gc::Value)", "gc/src/value.rs", r""),
    ("GC work (marking, compaction, fault service)", "gc/src/", r""),
    ("VM root stack wrapper (demo-vm Heap: asserts, sync, refresh, reserve)", "demo-vm/src/heap.rs", r""),
    ("interpreter: hash table (table::get/probe/replace/set)", "demo-vm/src/table.rs", r""),
    ("interpreter: string interning and hashing", "demo-vm/src/intern.rs", r""),
    ("interpreter: string interning and hashing", "demo-vm/src/object.rs", r"hash_bytes"),
    ("interpreter: object layout access (raw words with bounds assert, FunctionInfo)", "demo-vm/src/object.rs", r""),
    ("interpreter: calls (call_value, call_closure_value: checks, frame push)", "demo-vm/src/vm/calls.rs", r"::(call_value|call_closure_value|call_closure|call_class)"),
    ("interpreter: invoke / method lookup (invoke, invoke_from_class, bind_method)", "demo-vm/src/vm/calls.rs", r"::(invoke|invoke_from_class|bind_method)"),
    ("interpreter: upvalues (close, capture, closure creation)", "demo-vm/src/vm/calls.rs", r""),
    ("interpreter: natives", "demo-vm/src/vm/natives.rs", r""),
    ("interpreter: printing", "demo-vm/src/vm/print.rs", r""),
    ("interpreter: printing", "demo-vm/src/number_format.rs", r""),
]
# Within vm/run.rs, by the handler or macro the line belongs to.
RUN_CATEGORIES = [
    ("interpreter: frame reload/store around calls (load!, save!)", r"^(load|save)!"),
    ("interpreter: dispatch and operand decoding (loop, read_byte!, read_short!, read_constant!)", r"^(dispatch/loop|read_byte!|read_short!|read_constant!)"),
    ("interpreter: value stack (push!, pop!, peek!, set_top!, drop_top!, sp!)", r"^(push|pop|peek|set_top|drop_top|sp)!"),
    ("interpreter: arithmetic/compare handlers", r"^(binary_number!|Op::(Add|Subtract|Multiply|Divide|Negate|Not|Equal|Greater|Less))"),
    ("interpreter: call/return handlers (Op::Call, Invoke, SuperInvoke, Return)", r"^Op::(Call|Invoke|SuperInvoke|Return)$"),
    ("interpreter: property handlers (Op::GetProperty, SetProperty, GetSuper)", r"^Op::(GetProperty|SetProperty|GetSuper)$"),
    ("interpreter: global handlers (Op::GetGlobal, SetGlobal, DefineGlobal)", r"^Op::(GetGlobal|SetGlobal|DefineGlobal)$"),
    ("interpreter: string concatenation", r"^(concatenate|Op::Add)"),
    ("interpreter: other handlers", r""),
]


def is_library(f):
    return "/library/" in f or "/.cargo/" in f or "/rustc/" in f or f.startswith("??")


def categorize(chain, arms):
    project = [(fn, f, ln) for fn, f, ln in chain if not is_library(f)]
    # A value comparison inside a table probe is the probe's cost.
    if len(project) > 1 and project[0][1].endswith("gc/src/value.rs") \
            and project[1][1].endswith("demo-vm/src/table.rs"):
        project = project[1:]
    for fn, f, ln in project:
        if f.endswith("vm/run.rs"):
            where = arms.get(ln, "dispatch/loop")
            for cat, rx in RUN_CATEGORIES:
                if re.search(rx, where):
                    return cat
        for cat, fsub, rx in RULES:
            if fsub in f and re.search(rx, fn):
                return cat
        return "other project code: " + short_file(f)
    return "unattributed (library code or line 0 in Vm::run)"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--freq", type=int, default=4999)
    ap.add_argument("--out", default=None, help="folder for perf.data (default: a temp dir)")
    ap.add_argument("--data", default=None, help="an existing perf.data (with --binary)")
    ap.add_argument("--binary", default=None)
    ap.add_argument("cmd", nargs="*")
    a = ap.parse_args()
    if a.data:
        if not a.binary:
            ap.error("--data needs --binary")
        data, binary = a.data, a.binary
    else:
        if not a.cmd:
            ap.error("give the command after --")
        binary = a.cmd[0]
        data = record(a.cmd, a.freq, a.out or tempfile.mkdtemp(prefix="perf-lines."))
    here = os.path.dirname(os.path.abspath(__file__))
    arms = op_arms(os.path.join(here, "..", "..", "demo-vm", "src", "vm", "run.rs"))

    raw = list(samples(data, binary))
    total = len(raw)
    if total == 0:
        sys.exit("no samples")
    chains = resolve(binary, {a for _, a, _ in raw if a is not None})
    by_fn, by_line, by_op = collections.Counter(), collections.Counter(), collections.Counter()
    by_cat, by_thread = collections.Counter(), collections.Counter()
    # The mutator is the thread with the most samples (demo-vm runs the
    # program on a thread of its own, named "lox").
    names = collections.Counter(t for t, _, _ in raw)
    mutator = names.most_common(1)[0][0]
    for thread, addr, label in raw:
        by_thread[f"thread {thread}" + (" (kernel)" if label and "kernel" in label else "")] += 1
        thread = "main" if thread == mutator else thread
        if addr is None:
            by_fn[label] += 1
            by_line[label] += 1
            by_op["(outside demo-vm: " + label.split("]")[0] + "])"] += 1
            prefix = "" if thread == "main" else f"thread {thread}: "
            by_cat[prefix + "outside demo-vm: " + label.split("]")[0] + "]"] += 1
            continue
        chain = chains.get(addr) or [("??", "??", 0)]
        fn, f, ln = chain[0]
        by_fn[short_fn(fn)] += 1
        by_line[f"{short_file(f)}:{ln} {short_fn(fn)}"] += 1
        op = None
        for cfn, cf, cln in reversed(chain):
            if cf.endswith("vm/run.rs") and "Vm>::run" in cfn.replace(" ", ""):
                op = arms.get(cln, f"run.rs:{cln}")
                # keep the outermost run.rs line (the handler), not macro bodies
                break
        if op is None:
            outer = chain[-1][0]
            op = "out-of-line " + short_fn(outer)
        by_op[op] += 1
        cat = categorize(chain, arms)
        by_cat[cat if thread == "main" else f"thread {thread}: " + cat] += 1

    def table(title, counter, n):
        print(f"\n{title} ({total} samples)")
        print("| % | samples | where |\n|---|---|---|")
        for k, v in counter.most_common(n):
            print(f"| {100.0 * v / total:5.1f} | {v} | `{k}` |")

    table("By thread", by_thread, 10)
    table("By innermost function (after inlining)", by_fn, a.top)
    table("By innermost source line", by_line, a.top)
    table("By bytecode handler (outermost run.rs line)", by_op, a.top)
    table("By category (first project frame of the inline chain)", by_cat, 100)


if __name__ == "__main__":
    main()
