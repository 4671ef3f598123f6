//! The peer kit's three workloads (`../shared/peers/c/`) on the runtime's
//! API: GCBench, binary-trees and liveheap, with the same parameters, the
//! same allocations and the same printed lines as the C versions, so that
//! `peers/run.sh` can put the runtime's modes beside malloc, Boehm and the
//! HotSpot collectors (`PROJECT_CMD`, see the kit's README).
//!
//! Objects (sizes include the runtime's two-word header):
//! - GCBench node `{left, right, i, j}`: 2 slots + 8 raw bytes, 48 bytes.
//! - binary-trees node `{left, right}`: 2 slots, 32 bytes.
//! - liveheap entry `{key, val, next}`: `next` in the one slot, `key` in 8 raw
//!   bytes, `val` in the header's embedder word (aux, 32 bits), 32 bytes like
//!   the C entry under malloc (24 + rounding) and the Java object.
//!
//! Every object reference kept across an allocation lives in the mutator's
//! root stack (an allocation may collect and move objects); recursion in the
//! C code becomes recursion that keeps its nodes on the root stack.

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use runtime::{AllocError, AllocSpec, Gc, Mutator, Value};

use crate::progress::Counters;

/// The workloads' allocation count, for `peer-workloads`' progress line.
pub fn counters() -> &'static Arc<Counters> {
    static COUNTERS: OnceLock<Arc<Counters>> = OnceLock::new();
    COUNTERS.get_or_init(Counters::new)
}

/// Allocates and counts (a plain add: one workload runs at a time in a
/// process; tests running several may lose counts, which only the progress
/// line reads).
#[inline(always)]
fn alloc(m: &mut Mutator, spec: AllocSpec) -> Result<(&Mutator, Gc<'_>), AllocError> {
    counters().add_allocations_unshared(1);
    m.alloc(spec)
}

/// Why a workload stopped early.
#[derive(Debug)]
pub enum PeerError {
    /// The heap limit was reached.
    OutOfMemory(AllocError),
    /// The workload found its own data broken (the C versions' `peer_die`).
    Fatal(String),
    /// Writing the output failed.
    Io(std::io::Error),
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerError::OutOfMemory(e) => write!(
                f,
                "{e} (raise it with GC_HEAP_LIMIT, e.g. GC_HEAP_LIMIT=8G)"
            ),
            PeerError::Fatal(s) => f.write_str(s),
            PeerError::Io(e) => write!(f, "writing the output: {e}"),
        }
    }
}

impl std::error::Error for PeerError {}

impl From<AllocError> for PeerError {
    fn from(e: AllocError) -> Self {
        PeerError::OutOfMemory(e)
    }
}

impl From<std::io::Error> for PeerError {
    fn from(e: std::io::Error) -> Self {
        PeerError::Io(e)
    }
}

/// Milliseconds since `t0`.
fn ms_since(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}

/// The object in value-stack slot `i`.
fn at(m: &Mutator, i: usize) -> Gc<'_> {
    m.stack_get(i)
        .as_object()
        .expect("workloads keep objects where they read them")
}

/// The top of the value stack as an object.
fn top(m: &Mutator) -> Gc<'_> {
    m.stack_top()
        .and_then(|v| v.as_object())
        .expect("workloads push before they read the top")
}

/// Pops the top of the value stack.
fn pop(m: &Mutator) -> Value<'_> {
    m.pop().expect("workloads pop only what they pushed")
}

// ------------------------------------------------------------------ GCBench

const TAG_GC_NODE: u16 = 1;
const GC_NODE: AllocSpec = AllocSpec {
    tag: TAG_GC_NODE,
    slots: 2,
    bytes: 8, // the two ints i and j, zero like the C version sets them
    pinned: false,
    weak: false,
};
const TAG_DOUBLES: u16 = 2;

/// GCBench's parameters (`gcbench [stretch longLived arraySize minDepth maxDepth [reps]]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcBenchParams {
    /// Depth of the stretch tree.
    pub stretch_depth: u32,
    /// Depth of the long-lived tree.
    pub long_lived_depth: u32,
    /// Doubles in the long-lived array.
    pub array_size: usize,
    /// First depth of the short-lived trees.
    pub min_depth: u32,
    /// Last depth of the short-lived trees.
    pub max_depth: u32,
    /// Repetitions of the whole benchmark.
    pub reps: u32,
}

impl Default for GcBenchParams {
    /// The C and Java defaults: 18 16 500000 4 16, one repetition.
    fn default() -> Self {
        GcBenchParams {
            stretch_depth: 18,
            long_lived_depth: 16,
            array_size: 500_000,
            min_depth: 4,
            max_depth: 16,
            reps: 1,
        }
    }
}

impl GcBenchParams {
    /// Bytes the workload keeps live at its peak (stretch tree or long-lived
    /// data plus the largest short-lived tree), for sizing the heap.
    pub fn live_estimate(&self) -> usize {
        let node = 48usize;
        let nodes = |d: u32| (1usize << (d + 1)) - 1;
        let long_lived = nodes(self.long_lived_depth) * node + self.array_size * 8;
        (nodes(self.stretch_depth) * node).max(long_lived + nodes(self.max_depth) * node)
    }
}

/// Allocates a GCBench node (children nil) and pushes it.
fn gc_node_push(m: &mut Mutator) -> Result<(), AllocError> {
    let (m, n) = alloc(m, GC_NODE)?;
    m.push(n.into());
    Ok(())
}

/// Top-down: children stored into an already existing (older) parent. The
/// parent is the top of the root stack and stays there.
fn fill_top_down(m: &mut Mutator, mut depth: u32) -> Result<(), AllocError> {
    // our own copy of `parent`, which the loop below walks down the right spine
    let parent_at = m.stack_len();
    m.push(m.stack_get(parent_at - 1));
    while depth > 0 {
        depth -= 1;
        gc_node_push(m)?; // l, at parent_at + 1
        let (m2, r) = alloc(m, GC_NODE)?;
        let p = at(m2, parent_at);
        m2.write(p, 0, m2.stack_get(parent_at + 1));
        m2.write(p, 1, r.into());
        fill_top_down(m, depth)?;
        pop(m);
        m.stack_set(parent_at, at(m, parent_at).slot(1));
    }
    pop(m);
    Ok(())
}

/// Bottom-up: children allocated before the parent; pushes the new tree.
fn build_bottom_up(m: &mut Mutator, depth: u32) -> Result<(), AllocError> {
    if depth == 0 {
        return gc_node_push(m);
    }
    build_bottom_up(m, depth - 1)?;
    build_bottom_up(m, depth - 1)?;
    let (m, n) = alloc(m, GC_NODE)?;
    let r = pop(m);
    let l = pop(m);
    m.write(n, 0, l);
    m.write(n, 1, r);
    m.push(n.into());
    Ok(())
}

fn nodes_at(depth: u32) -> i64 {
    (1i64 << (depth + 1)) - 1
}

fn run_depth(
    m: &mut Mutator,
    out: &mut dyn Write,
    p: &GcBenchParams,
    depth: u32,
) -> Result<(), PeerError> {
    let n = 2 * nodes_at(p.stretch_depth) / nodes_at(depth);
    writeln!(out, "depth {depth}: {n} trees")?;
    let t0 = Instant::now();
    for _ in 0..n {
        gc_node_push(m)?;
        fill_top_down(m, depth)?;
        pop(m); // drop the tree
    }
    let td = ms_since(t0);
    let t0 = Instant::now();
    for _ in 0..n {
        build_bottom_up(m, depth)?;
        pop(m);
    }
    writeln!(
        out,
        "  top-down {td:.0} ms, bottom-up {:.0} ms",
        ms_since(t0)
    )?;
    Ok(())
}

fn run_once(m: &mut Mutator, out: &mut dyn Write, p: &GcBenchParams) -> Result<f64, PeerError> {
    let t0 = Instant::now();
    let base = m.stack_len();
    writeln!(out, "stretch tree depth {}", p.stretch_depth)?;
    build_bottom_up(m, p.stretch_depth)?;
    if p.stretch_depth > 0 && top(m).slot(0).is_nil() {
        return Err(PeerError::Fatal("stretch tree broken".into()));
    }
    pop(m);

    writeln!(out, "long-lived tree depth {}", p.long_lived_depth)?;
    gc_node_push(m)?; // roots[base]
    fill_top_down(m, p.long_lived_depth)?;

    writeln!(
        out,
        "long-lived array of {} doubles (half filled)",
        p.array_size
    )?;
    let (m2, arr) = alloc(
        m,
        AllocSpec {
            tag: TAG_DOUBLES,
            bytes: p.array_size * 8,
            ..Default::default()
        },
    )?;
    m2.push(arr.into()); // stack[base + 1]
                         // The runtime hands out zeroed raw bytes: arr[k] = 0.0 for every k is done.
    for k in 0..p.array_size / 2 {
        put_f64(arr, k, 1.0 / k as f64);
    }

    for d in (p.min_depth..=p.max_depth).step_by(2) {
        run_depth(m, out, p, d)?;
    }

    let probe = (p.array_size / 2).saturating_sub(1).min(1000);
    let arr = at(m, base + 1);
    let long_lived = m.stack_get(base);
    if !long_lived.is_object() || (probe > 0 && get_f64(arr, probe) != 1.0 / probe as f64) {
        return Err(PeerError::Fatal("long-lived data lost".into()));
    }
    m.stack_truncate(base);
    Ok(ms_since(t0))
}

/// Runs GCBench, printing what `c/gcbench.c` prints (`runtime` names the
/// collector in the first line).
pub fn gcbench(
    m: &mut Mutator,
    out: &mut dyn Write,
    runtime: &str,
    p: &GcBenchParams,
) -> Result<(), PeerError> {
    writeln!(
        out,
        "GCBench({runtime}) stretch={} longLived={} array={} depths={}..{} reps={}",
        p.stretch_depth, p.long_lived_depth, p.array_size, p.min_depth, p.max_depth, p.reps
    )?;
    let mut total = 0.0;
    for r in 0..p.reps {
        let ms = run_once(m, out, p)?;
        writeln!(out, "rep {r} completed in {ms:.0} ms")?;
        total += ms;
    }
    writeln!(out, "RESULT workload=gcbench elapsed_ms={total:.0}")?;
    out.flush()?;
    Ok(())
}

// ------------------------------------------------------------- binary-trees

const TAG_TREE_NODE: u16 = 3;
const TREE_NODE: AllocSpec = AllocSpec {
    tag: TAG_TREE_NODE,
    slots: 2,
    bytes: 0,
    pinned: false,
    weak: false,
};
/// binary-trees' minimum depth.
pub const BT_MIN_DEPTH: u32 = 4;
/// The deepest binary-trees run accepted (a depth-41 tree would not fit in memory).
pub const BT_MAX_DEPTH: u32 = 40;

/// The depth binary-trees really runs at for the argument `n`.
pub fn binarytrees_depth(n: u32) -> u32 {
    n.max(BT_MIN_DEPTH + 2)
}

/// Bytes binary-trees keeps live at its peak (the stretch tree), for sizing the heap.
pub fn binarytrees_live_estimate(n: u32) -> usize {
    let stretch = binarytrees_depth(n) + 1;
    ((1usize << (stretch + 1)) - 1) * 32
}

/// Builds a tree top-down (parent, then left subtree, then right subtree,
/// as the C `grow`) and pushes it.
fn grow(m: &mut Mutator, depth: u32) -> Result<(), AllocError> {
    let (m2, n) = alloc(m, TREE_NODE)?;
    m2.push(n.into());
    if depth > 0 {
        for side in 0..2 {
            grow(m, depth - 1)?;
            let child = pop(m);
            let parent = top(m);
            m.write(parent, side, child);
        }
    }
    Ok(())
}

/// Counts the nodes of a tree (no allocation, so no root needed).
fn count(mut n: Gc<'_>) -> i64 {
    let mut c = 1;
    loop {
        let Some(l) = n.slot(0).as_object() else {
            return c;
        };
        c += 1 + count(l);
        n = n.slot(1).as_object().expect("a full binary tree");
    }
}

/// Runs binary-trees at depth `n`, printing what `c/binarytrees.c` prints.
pub fn binarytrees(m: &mut Mutator, out: &mut dyn Write, n: u32) -> Result<(), PeerError> {
    if n > BT_MAX_DEPTH {
        return Err(PeerError::Fatal(format!(
            "depth {n} is too deep (at most {BT_MAX_DEPTH})"
        )));
    }
    let max_depth = binarytrees_depth(n);
    let stretch = max_depth + 1;
    let t0 = Instant::now();

    grow(m, stretch)?;
    let c = count(top(m));
    writeln!(out, "stretch tree of depth {stretch}\t check: {c}")?;
    pop(m);

    grow(m, max_depth)?; // the long-lived tree stays on the root stack

    for d in (BT_MIN_DEPTH..=max_depth).step_by(2) {
        let trees = 1i64 << (max_depth - d + BT_MIN_DEPTH);
        let mut sum = 0;
        for _ in 0..trees {
            grow(m, d)?;
            sum += count(top(m));
            pop(m);
        }
        writeln!(out, "{trees}\t trees of depth {d}\t check: {sum}")?;
    }
    let c = count(top(m));
    writeln!(out, "long lived tree of depth {max_depth}\t check: {c}")?;
    pop(m);
    writeln!(
        out,
        "RESULT workload=binarytrees depth={max_depth} elapsed_ms={:.0}",
        ms_since(t0)
    )?;
    out.flush()?;
    Ok(())
}

// ----------------------------------------------------------------- liveheap

const TAG_TABLE: u16 = 4;
const TAG_ENTRY: u16 = 5;
const ENTRY: AllocSpec = AllocSpec {
    tag: TAG_ENTRY,
    slots: 1, // next
    bytes: 8, // key; val is the header's aux word
    pinned: false,
    weak: false,
};
/// Operations per timed batch.
pub const BATCH: u64 = 4096;

/// liveheap's parameters (`liveheap LIVE_MIB OPS_M GARBAGE SEED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveHeapParams {
    /// Target live size in MiB (entries = live_mib MiB / 32).
    pub live_mib: u64,
    /// Churn operations.
    pub ops: u64,
    /// Short-lived entries per operation.
    pub garbage: u32,
    /// PRNG seed (0 becomes 1).
    pub seed: i64,
}

impl LiveHeapParams {
    /// Parameters from the C command line's words: `ops_millions` is
    /// converted like C's `(long)(atof(s) * 1e6)`. Refuses values the
    /// workload cannot represent.
    pub fn new(
        live_mib: u64,
        ops_millions: f64,
        garbage: u32,
        seed: i64,
    ) -> Result<LiveHeapParams, String> {
        if live_mib == 0 || live_mib > 1 << 20 {
            return Err(format!(
                "LIVE_MIB {live_mib} is out of range (1 to 1048576)"
            ));
        }
        if ops_millions.is_nan() || ops_millions < 0.0 {
            return Err(format!("OPS_M {ops_millions} must be a number >= 0"));
        }
        let ops = (ops_millions * 1e6) as u64;
        // val counts replacements of one entry and lives in a 32-bit word
        if ops > u32::MAX as u64 {
            return Err(format!(
                "OPS_M {ops_millions} is too large (at most {:.0} million operations)",
                u32::MAX as f64 / 1e6
            ));
        }
        Ok(LiveHeapParams {
            live_mib,
            ops,
            garbage,
            seed,
        })
    }

    /// Entries in the map.
    pub fn entries(&self) -> u64 {
        self.live_mib * (1 << 20) / 32
    }

    /// Buckets: the first power of two, at least 2, not below entries / 2.
    pub fn buckets(&self) -> u64 {
        let mut bits = 1;
        while (1u64 << bits) < self.entries() / 2 {
            bits += 1;
        }
        1 << bits
    }

    /// Bytes of the map (entries and bucket array), for sizing the heap.
    pub fn live_estimate(&self) -> usize {
        (self.entries() * 32 + self.buckets() * 8) as usize
    }
}

/// The C and Java xorshift64* sequence.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(2_685_821_657_736_338_717)
    }
}

/// An entry's key (8 raw bytes).
fn key_of(e: Gc<'_>) -> i64 {
    e.raw_word(0) as i64
}

/// Allocates an entry with `key` and `val` (its `next` is nil).
fn new_entry(m: &mut Mutator, key: i64, val: u32) -> Result<(&Mutator, Gc<'_>), AllocError> {
    let (m, e) = alloc(m, ENTRY)?;
    e.set_raw_word(0, key as u64);
    e.set_aux(val);
    Ok((m, e))
}

fn get_f64(o: Gc<'_>, k: usize) -> f64 {
    f64::from_bits(o.raw_word(k))
}

fn put_f64(o: Gc<'_>, k: usize, v: f64) {
    o.set_raw_word(k, v.to_bits())
}

/// Nearest-rank index of quantile `q` among `n` sorted values (as `pct` in C).
fn pct(n: usize, q: f64) -> usize {
    let i = q * n as f64;
    let mut k = i as usize;
    if (k as f64) < i {
        k += 1;
    }
    k.clamp(1, n) - 1
}

/// What a liveheap run verified.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiveHeapOutcome {
    /// Entries found in the map at the end.
    pub count: u64,
    /// Sum of the entries' values (one per replacement).
    pub val_sum: i64,
    /// Sum of the low key bytes of the short-lived entries.
    pub checksum: i64,
    /// Whether count and value sum are what the work implies.
    pub ok: bool,
    /// The longest 4096-operation batch, ms.
    pub batch_max_ms: f64,
}

/// Runs liveheap, printing what `c/liveheap.c` prints.
pub fn liveheap(
    m: &mut Mutator,
    out: &mut dyn Write,
    runtime: &str,
    p: &LiveHeapParams,
) -> Result<LiveHeapOutcome, PeerError> {
    let entries = p.entries();
    let buckets = p.buckets();
    let mask = buckets - 1;
    let mut rng = XorShift(if p.seed == 0 { 1 } else { p.seed as u64 });
    writeln!(
        out,
        "LiveHeap({runtime}) liveMiB={} entries={entries} buckets={buckets} ops={} garbagePerOp={} seed={}",
        p.live_mib, p.ops, p.garbage, p.seed
    )?;
    let slots = u32::try_from(buckets)
        .map_err(|_| PeerError::Fatal(format!("{buckets} buckets do not fit one object")))?;

    let base = m.stack_len();
    let t0 = Instant::now();
    let (m2, table) = alloc(
        m,
        AllocSpec {
            tag: TAG_TABLE,
            slots,
            ..Default::default()
        },
    )?;
    m2.push(table.into()); // stack[base]: the table
    m2.push(Value::NIL); // stack[base + 1]: the short-lived list
    for k in 0..entries {
        let b = (k & mask) as usize;
        let (m, e) = new_entry(m, k as i64, 0)?;
        let table = at(m, base);
        m.write(e, 0, table.slot(b));
        m.write(table, b, e.into());
    }
    let t1 = Instant::now();
    writeln!(out, "build: {:.0} ms", (t1 - t0).as_secs_f64() * 1e3)?;
    out.flush()?;

    let mut batch_ns: Vec<u64> = Vec::with_capacity(p.ops.div_ceil(BATCH) as usize);
    let mut checksum: i64 = 0;
    let mut done = 0u64;
    let mut tb = Instant::now();
    while done < p.ops {
        let end = (done + BATCH).min(p.ops);
        while done < end {
            let r = rng.next();
            let key = (r >> 1) % entries;
            let b = (key & mask) as usize;
            // The replacement is allocated before the walk (the C version
            // allocates right after it): the walk holds raw references,
            // which must not live across an allocation.
            let (m2, fresh) = new_entry(m, key as i64, 0)?;
            let table = at(m2, base);
            let mut prev: Option<Gc<'_>> = None;
            let mut link = table.slot(b);
            let cur = loop {
                let Some(e) = link.as_object() else {
                    return Err(PeerError::Fatal(format!("key {key} lost from bucket {b}")));
                };
                if key_of(e) as u64 == key {
                    break e;
                }
                prev = Some(e);
                link = e.slot(0);
            };
            fresh.set_aux(cur.aux() + 1);
            m2.write(fresh, 0, cur.slot(0));
            match prev {
                Some(p) => m2.write(p, 0, fresh.into()),
                None => m2.write(table, b, fresh.into()),
            }
            // the old entry is garbage now
            for g in 0..p.garbage {
                let (m, e) = new_entry(m, r.wrapping_add(g as u64) as i64, g)?;
                m.write(e, 0, m.stack_get(base + 1));
                m.stack_set(base + 1, e.into());
            }
            let mut tmp = m.stack_get(base + 1);
            while let Some(e) = tmp.as_object() {
                checksum += key_of(e) & 0xff;
                tmp = e.slot(0);
            }
            m.stack_set(base + 1, Value::NIL);
            done += 1;
        }
        let now = Instant::now();
        batch_ns.push((now - tb).as_nanos() as u64);
        tb = now;
    }
    let t2 = Instant::now();

    let mut count = 0u64;
    let mut val_sum = 0i64;
    let table = at(m, base);
    for b in 0..buckets as usize {
        let mut e = table.slot(b);
        while let Some(o) = e.as_object() {
            count += 1;
            val_sum += o.aux() as i64;
            e = o.slot(0);
        }
    }
    let t3 = Instant::now();
    m.stack_truncate(base);
    let ok = count == entries && val_sum == p.ops as i64;
    let churn = t2 - t1;
    writeln!(
        out,
        "churn: {:.0} ms ({:.1} ns/op), verify: {:.0} ms, count={count} valSum={val_sum} checksum={checksum} {}",
        churn.as_secs_f64() * 1e3,
        churn.as_nanos() as f64 / p.ops.max(1) as f64,
        (t3 - t2).as_secs_f64() * 1e3,
        if ok { "OK" } else { "MISMATCH" }
    )?;
    let mut bmax = 0.0;
    if !batch_ns.is_empty() {
        batch_ns.sort_unstable();
        let n = batch_ns.len();
        let at = |q: f64| batch_ns[pct(n, q)] as f64 / 1e6;
        bmax = batch_ns[n - 1] as f64 / 1e6;
        writeln!(
            out,
            "batch({BATCH} ops) latency: p50={:.3} ms p99={:.3} ms p99.9={:.3} ms max={bmax:.3} ms",
            at(0.50),
            at(0.99),
            at(0.999)
        )?;
    }
    writeln!(
        out,
        "RESULT workload=liveheap elapsed_ms={:.0} build_ms={:.0} churn_ms={:.0} batch_max_ms={bmax:.3}",
        (t3 - t0).as_secs_f64() * 1e3,
        (t1 - t0).as_secs_f64() * 1e3,
        churn.as_secs_f64() * 1e3
    )?;
    out.flush()?;
    Ok(LiveHeapOutcome {
        count,
        val_sum,
        checksum,
        ok,
        batch_max_ms: bmax,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::{Mode, Runtime};

    const MODES: [Mode; 3] = [Mode::Stw, Mode::UffdCopy, Mode::Uffd];

    fn runtime(mode: Mode, limit: usize) -> Runtime {
        Runtime::builder()
            .mode(mode)
            .heap_limit(limit)
            .verify(true)
            .build()
            .expect("a small heap builds")
    }

    /// The output lines without the ones that carry timings.
    fn untimed(out: &[u8]) -> Vec<String> {
        String::from_utf8_lossy(out)
            .lines()
            .filter(|l| !l.contains(" ms") && !l.starts_with("RESULT "))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn liveheap_checksums_equal_the_c_malloc_runs() {
        // `liveheap 1 0.01 4 42` and `liveheap 2 0.05 4 7` of c/liveheap.c
        // built against malloc printed these figures.
        for mode in MODES {
            for (live, ops_m, seed, limit, want) in [
                (1, 0.01, 42, 3 << 19, (32768, 10000, 5155648)),
                (2, 0.05, 7, 4 << 20, (65536, 50000, 25555832)),
            ] {
                // a limit below the first trigger, so that the churn collects
                let rt = runtime(mode, limit);
                let mut m = rt.mutator().expect("one mutator");
                let p = LiveHeapParams::new(live, ops_m, 4, seed).expect("params");
                let mut out = Vec::new();
                let got = liveheap(&mut m, &mut out, "project-test", &p).expect("runs");
                assert_eq!((got.count, got.val_sum, got.checksum), want, "{mode}");
                assert!(got.ok, "{mode}");
                // A cycle still in flight is accounted once it has ended.
                rt.quiesce();
                assert!(rt.stats().cycles > 1, "{mode}: the churn must collect");
                let text = String::from_utf8_lossy(&out);
                let line = format!("count={} valSum={} checksum={} OK", want.0, want.1, want.2);
                assert!(text.contains(&line), "{mode}: {text}");
                assert!(text.contains("RESULT workload=liveheap "), "{text}");
                assert!(text.contains("batch(4096 ops) latency: p50="), "{text}");
            }
        }
    }

    #[test]
    fn liveheap_parameters_match_the_c_sizing_and_refuse_nonsense() {
        let p = LiveHeapParams::new(1024, 8.0, 4, 42).unwrap();
        assert_eq!(
            (p.entries(), p.buckets(), p.ops),
            (33554432, 16777216, 8000000)
        );
        let q = LiveHeapParams::new(64, 0.5, 4, 42).unwrap();
        assert_eq!(
            (q.entries(), q.buckets(), q.ops),
            (2097152, 1048576, 500000)
        );
        assert!(LiveHeapParams::new(0, 1.0, 4, 42).is_err());
        assert!(LiveHeapParams::new(1, -1.0, 4, 42).is_err());
        assert!(LiveHeapParams::new(1, f64::NAN, 4, 42).is_err());
        assert!(LiveHeapParams::new(1, 5000.0, 4, 42).is_err());
    }

    #[test]
    fn binarytrees_prints_the_benchmarks_game_checks() {
        for mode in MODES {
            let rt = runtime(mode, 256 << 10);
            let mut m = rt.mutator().expect("one mutator");
            let mut out = Vec::new();
            binarytrees(&mut m, &mut out, 8).expect("runs");
            rt.quiesce();
            assert!(rt.stats().cycles > 1, "{mode}: must collect");
            // c/binarytrees.c `binarytrees 8` (and peerstats.py's formula)
            let want = [
                "stretch tree of depth 9\t check: 1023",
                "256\t trees of depth 4\t check: 7936",
                "64\t trees of depth 6\t check: 8128",
                "16\t trees of depth 8\t check: 8176",
                "long lived tree of depth 8\t check: 511",
            ];
            let text = String::from_utf8_lossy(&out);
            let got: Vec<&str> = text.lines().filter(|l| l.contains("check:")).collect();
            assert_eq!(got, want, "{mode}");
            assert!(text.contains("RESULT workload=binarytrees depth=8 elapsed_ms="));
            assert_eq!(m.stack_len(), 0, "the workload pops what it pushed");
        }
    }

    #[test]
    fn binarytrees_refuses_absurd_depths_without_allocating() {
        let rt = runtime(Mode::Stw, 1 << 20);
        let mut m = rt.mutator().expect("one mutator");
        let e = binarytrees(&mut m, &mut Vec::new(), 99).unwrap_err();
        assert!(e.to_string().contains("too deep"), "{e}");
    }

    #[test]
    fn gcbench_keeps_its_long_lived_data_through_collections() {
        for mode in MODES {
            let rt = runtime(mode, 1 << 20);
            let mut m = rt.mutator().expect("one mutator");
            let p = GcBenchParams {
                stretch_depth: 10,
                long_lived_depth: 8,
                array_size: 4096 * 2, // a large (non-moving) object
                min_depth: 4,
                max_depth: 8,
                reps: 2,
            };
            let mut out = Vec::new();
            gcbench(&mut m, &mut out, "project-test", &p).expect("runs");
            // A cycle still in flight is accounted once it has ended.
            rt.quiesce();
            assert!(rt.stats().cycles > 1, "{mode}: must collect");
            // c/gcbench.c `gcbench 10 8 8192 4 8 2`, timing lines left out
            let mut want = vec![
                "GCBench(project-test) stretch=10 longLived=8 array=8192 depths=4..8 reps=2"
                    .to_string(),
            ];
            for _ in 0..2 {
                want.extend(
                    [
                        "stretch tree depth 10",
                        "long-lived tree depth 8",
                        "long-lived array of 8192 doubles (half filled)",
                        "depth 4: 132 trees",
                        "depth 6: 32 trees",
                        "depth 8: 8 trees",
                    ]
                    .map(String::from),
                );
            }
            assert_eq!(untimed(&out), want, "{mode}");
            let text = String::from_utf8_lossy(&out);
            assert!(
                text.contains("\nRESULT workload=gcbench elapsed_ms="),
                "{text}"
            );
            assert_eq!(m.stack_len(), 0);
        }
    }

    #[test]
    fn out_of_memory_is_an_error_value() {
        let rt = runtime(Mode::Stw, 4 << 20);
        let mut m = rt.mutator().expect("one mutator");
        let e = binarytrees(&mut m, &mut Vec::new(), 20).unwrap_err();
        assert!(matches!(e, PeerError::OutOfMemory(_)), "{e}");
        assert!(e.to_string().contains("GC_HEAP_LIMIT"), "{e}");
    }
}
