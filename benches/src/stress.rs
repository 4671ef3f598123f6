//! The `gc-stress` workload: mutator threads that build, share and mutate
//! random object graphs and check them against their own models while the
//! collector moves everything underneath.
//!
//! Every object the workload allocates is a *node* that can check itself:
//! its raw bytes start with its id and a checksum of its payload, and the id
//! alone determines the rest (kind, slot count, payload words, the header's
//! aux word), so a node read from anywhere (another thread's structures, a
//! global, a weak slot) is either nil or provably the object it claims to
//! be. Kinds: small nodes, arrays (many slots), large nodes (above the
//! large-object threshold, so in the non-moving space) and pinned nodes.
//!
//! Each worker thread owns, in its root stack, a *table* (a directory of
//! chunk arrays, [`CHUNK_SLOTS`] node slots each) and a weak object, and
//! keeps a model of both: which id each table slot holds, the links of the
//! nodes it created and may still mutate, and what each weak slot may read
//! as. Workers also publish nodes to and adopt nodes from structures every
//! thread reads and writes (an exchange array and a pinned one, reachable
//! from globals, and a few globals holding nodes directly), so references
//! cross threads in both directions. Workers end after a seeded number of
//! operations and a new thread takes their slot; they spend time in
//! [`Mutator::blocking`] (sleeps and a real `recv` with a timeout) holding
//! their roots and check everything when they come back. One worker calls
//! [`Mutator::verify`] periodically and another [`Mutator::collect`] (with
//! the runtime's verification after every collection it runs).
//!
//! [`run`] returns a [`StressReport`]; any failed check, verify error,
//! allocation failure or panic lands in [`StressReport::failures`]. A
//! watchdog ends the process with exit code 3 if no worker made progress
//! for [`StressConfig::watchdog`].

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gc::Phase;
use runtime::{AllocSpec, Gc, GcStats, Global, HeapView, Mode, Mutator, Runtime, Value};
use serde::Serialize;

use crate::procstat::peak_rss;
use crate::progress::{Counters, Progress, ProgressArgs};
use crate::timeline::{Recorder, Timeline};
use crate::workload::Rng;

/// Embedder tag of every node.
pub const TAG_NODE: u16 = 0x5e;
/// Embedder tag of the workload's containers (directories, chunks, the
/// exchanges, the weak object).
pub const TAG_CONTAINER: u16 = 0x5f;
/// Node slots per table chunk.
pub const CHUNK_SLOTS: usize = 256;
/// Slots of each worker's weak object.
pub const WEAK_SLOTS: usize = 64;
/// Slots of the shared exchange array (moving).
pub const EXCHANGE_SLOTS: usize = 1024;
/// Slots of the shared pinned exchange array.
pub const PINNED_EXCHANGE_SLOTS: usize = 256;
/// Raw bytes before a node's payload: its id and its checksum.
const NODE_PREFIX: usize = 16;
/// Stored messages of failures (the count goes on).
const MAX_FAILURE_MESSAGES: usize = 20;

/// What a stress run does.
#[derive(Clone, Debug)]
pub struct StressConfig {
    /// Worker threads running at any time.
    pub threads: usize,
    /// Length of the run.
    pub duration: Duration,
    /// Compaction mode requested.
    pub mode: Mode,
    /// Seed of every worker's generator (with its slot and generation).
    pub seed: u64,
    /// Live bytes to aim for, spread over the workers.
    pub live: usize,
    /// Heap limit (default 4x `live`).
    pub heap_limit: Option<usize>,
    /// Objects of at least this many bytes go to the non-moving space.
    pub large_object_threshold: usize,
    /// Have the runtime verify the heap after every full collection it
    /// runs (`RuntimeBuilder::verify`).
    pub verify_collections: bool,
    /// Abort (exit code 3) when no worker made progress for this long.
    pub watchdog: Duration,
    /// How often worker slot 0 verifies the whole heap.
    pub verify_interval: Duration,
    /// How often worker slot 1 (or 0 alone) runs a full collection.
    pub collect_interval: Duration,
    /// Mean operations a worker thread does before it exits and a new
    /// thread takes its slot.
    pub lifetime_ops: u64,
    /// A full check of a worker's structures every this many operations.
    pub full_check_ops: u64,
    /// Progress on stderr: a line this often when stderr is not a
    /// terminal, rewritten every second on one (`None`: quiet).
    pub progress: Option<Duration>,
    /// How often the heap in use is sampled for the report's timeline.
    pub sample_interval: Duration,
    /// For tests of the checker: worker 0's first thread corrupts one
    /// payload byte of a node it holds at this operation.
    pub corrupt_at_op: Option<u64>,
}

impl Default for StressConfig {
    fn default() -> Self {
        StressConfig {
            threads: 4,
            duration: Duration::from_secs(10),
            mode: Mode::Uffd,
            seed: 1,
            live: 32 << 20,
            heap_limit: None,
            large_object_threshold: 32 << 10,
            verify_collections: true,
            watchdog: Duration::from_secs(60),
            verify_interval: Duration::from_secs(1),
            collect_interval: Duration::from_secs(3),
            lifetime_ops: 200_000,
            full_check_ops: 20_000,
            progress: Some(Duration::from_secs(5)),
            sample_interval: Duration::from_millis(10),
            corrupt_at_op: None,
        }
    }
}

impl StressConfig {
    /// The heap limit in effect.
    pub fn heap_limit(&self) -> usize {
        self.heap_limit.unwrap_or(self.live.saturating_mul(4))
    }
}

/// A run that could not start.
#[derive(Debug)]
pub enum StressError {
    /// The runtime refused the configuration.
    Config(runtime::ConfigError),
    /// Registering the setup thread or allocating the shared structures
    /// failed.
    Setup(String),
    /// A worker thread could not be spawned.
    Spawn(std::io::Error),
}

impl std::fmt::Display for StressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StressError::Config(e) => write!(f, "runtime configuration: {e}"),
            StressError::Setup(e) => write!(f, "setting up the shared structures: {e}"),
            StressError::Spawn(e) => write!(f, "spawning a worker thread: {e}"),
        }
    }
}

impl std::error::Error for StressError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StressError::Config(e) => Some(e),
            StressError::Spawn(e) => Some(e),
            StressError::Setup(_) => None,
        }
    }
}

/// One pause phase's quantiles over the run, in nanoseconds.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseSummary {
    /// Phase name.
    pub phase: &'static str,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// Maximum.
    pub max_ns: u64,
}

/// What a stress run did and found.
#[derive(Clone, Debug, Serialize)]
pub struct StressReport {
    /// The mode asked for.
    pub mode_requested: String,
    /// The mode that ran.
    pub mode: String,
    /// Why the runtime replaced the requested mode, if it did.
    pub fallback_reason: Option<String>,
    /// The runtime's description of its compaction.
    pub compaction: String,
    /// The seed.
    pub seed: u64,
    /// Worker threads running at any time.
    pub threads: usize,
    /// Worker threads started over the run (slots x generations).
    pub threads_started: u64,
    /// Seconds the run lasted.
    pub seconds: f64,
    /// The heap limit.
    pub heap_limit_bytes: usize,
    /// Live bytes the last cycle found.
    pub last_live_bytes: usize,
    /// Completed collections.
    pub cycles: u64,
    /// Pauses (stalls included).
    pub pause_count: u64,
    /// Median pause, ns.
    pub pause_p50_ns: u64,
    /// 99th percentile pause, ns.
    pub pause_p99_ns: u64,
    /// Longest pause, ns.
    pub pause_max_ns: u64,
    /// Per pause phase (those that ran).
    pub phases: Vec<PhaseSummary>,
    /// Stalls: allocation waiting for a compaction.
    pub stalls: u64,
    /// Median time to safepoint, ns.
    pub safepoint_p50_ns: u64,
    /// 99th percentile time to safepoint, ns.
    pub safepoint_p99_ns: u64,
    /// Longest time to safepoint, ns.
    pub safepoint_max_ns: u64,
    /// Mutator faults on the heap (uffd modes).
    pub faults: u64,
    /// Peak resident set size of the process.
    pub peak_rss_bytes: usize,
    /// Lines of `/proc/self/maps` before the runtime was built.
    pub vmas_at_start: usize,
    /// Lines of `/proc/self/maps` after the run.
    pub vmas_at_end: usize,
    /// Operations done by all workers.
    pub operations: u64,
    /// Objects allocated by all workers.
    pub objects_allocated: u64,
    /// Node checks done (each a full self-check of one node).
    pub checks: u64,
    /// Whole-heap verifications (periodic and final).
    pub verifies: u64,
    /// Full collections the workers asked for.
    pub collections: u64,
    /// Calls to `Mutator::blocking`.
    pub blocking_calls: u64,
    /// Weak slots seen cleared after their target lost its last strong
    /// reference.
    pub weak_cleared: u64,
    /// The node corrupted on purpose ([`StressConfig::corrupt_at_op`]).
    pub corrupted_node: Option<u64>,
    /// Failures counted (only the first few messages are kept).
    pub failure_count: u64,
    /// What failed, first first.
    pub failures: Vec<String>,
    /// Every pause and the heap in use over the run (for `gc-plot`).
    pub timeline: Timeline,
}

impl StressReport {
    /// Whether nothing failed.
    pub fn passed(&self) -> bool {
        self.failure_count == 0
    }
}

/// Lines of `/proc/self/maps`: the process's VMA count.
pub fn vma_count() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |s| s.lines().count())
}

// ---------------------------------------------------------------------------
// Nodes: ids determine everything.

/// The kind of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A few slots, a short payload.
    Small,
    /// Many slots.
    Array,
    /// Above the large-object threshold: the non-moving space.
    Large,
    /// Pinned: the non-moving space.
    Pinned,
}

/// Everything an id determines about its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The kind.
    pub kind: Kind,
    /// Reference slots.
    pub slots: u32,
    /// Payload bytes after the id and checksum (a multiple of 8).
    pub payload: usize,
}

/// SplitMix64's finaliser: a good 64-bit mix.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The shape of node `id`, for objects of at least `large` bytes going to
/// the non-moving space.
pub fn shape(id: u64, large: usize) -> Shape {
    let h = mix(id ^ 0x5348_4150_4521);
    let pick = h % 1000;
    let a = (h >> 10) as usize;
    let b = (h >> 30) as usize;
    let (kind, slots, payload) = match pick {
        0..=2 => (Kind::Large, a % 4, large + 8 * (b % (large / 8 * 2).max(1))),
        3..=22 => (Kind::Array, 64 + a % 449, 8),
        23..=72 => (Kind::Pinned, a % 3, 8 * (b % 16)),
        _ => (Kind::Small, a % 5, 8 * (b % 24)),
    };
    Shape {
        kind,
        slots: slots as u32,
        payload,
    }
}

/// Payload word `k` of node `id`.
fn payload_word(id: u64, k: usize) -> u64 {
    mix(id.rotate_left(17) ^ (k as u64 + 1).wrapping_mul(0xa076_1d64_78bd_642f))
}

/// The checksum of a payload (as stored after the id).
fn checksum_of(words: impl Iterator<Item = u64>) -> u64 {
    words.fold(0xcbf2_9ce4_8422_2325, |acc, w| {
        (acc ^ w).wrapping_mul(0x0100_0000_01b3).rotate_left(5)
    })
}

/// The header aux word of node `id`.
fn aux_of(id: u64) -> u32 {
    (mix(id) >> 32) as u32
}

/// Reads little-endian word `k` of `bytes`.
fn word_at(bytes: &[u8], k: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[k * 8..k * 8 + 8]);
    u64::from_le_bytes(w)
}

/// Writes node `id`'s id, checksum and payload into a fresh object.
fn fill_node(obj: Gc<'_>, id: u64, shape: Shape) {
    obj.set_aux(aux_of(id));
    let words = shape.payload / 8;
    obj.set_raw_word(0, id);
    obj.set_raw_word(1, checksum_of((0..words).map(|k| payload_word(id, k))));
    for k in 0..words {
        obj.set_raw_word(NODE_PREFIX / 8 + k, payload_word(id, k));
    }
}

/// Checks that `v` is a whole node (and node `expected`, if given) and
/// returns its id. `heap` places large and pinned nodes in the non-moving
/// space.
pub fn check_node(
    heap: &HeapView<'_>,
    large: usize,
    v: Value<'_>,
    expected: Option<u64>,
) -> Result<u64, String> {
    let Some(obj) = v.as_object() else {
        return Err(match expected {
            Some(id) => format!("node {id:#x} lost: the slot holds {v:?}"),
            None => format!("expected a node, found {v:?}"),
        });
    };
    if !heap.contains(obj.addr()) {
        return Err(format!(
            "reference {:#x} points outside the heap",
            obj.addr()
        ));
    }
    let tag = obj.tag();
    if tag != TAG_NODE {
        return Err(format!(
            "object {:#x} has tag {tag:#x}, not a node's (expected {expected:x?})",
            obj.addr()
        ));
    }
    if obj.byte_len() < NODE_PREFIX {
        return Err(format!(
            "node at {:#x}: {} raw bytes, too short for an id",
            obj.addr(),
            obj.byte_len()
        ));
    }
    // A copy: the checker's own test corrupts a byte while others read.
    let mut bytes = vec![0u8; obj.byte_len()];
    obj.read_bytes(0, &mut bytes);
    let bytes = &bytes[..];
    let id = word_at(bytes, 0);
    if let Some(e) = expected {
        if e != id {
            return Err(format!(
                "expected node {e:#x}, found node {id:#x} at {:#x}",
                obj.addr()
            ));
        }
    }
    let s = shape(id, large);
    let need = NODE_PREFIX + s.payload;
    if obj.slot_count() != s.slots as usize || !(need..=need + 8).contains(&bytes.len()) {
        return Err(format!(
            "node {id:#x} at {:#x}: {} slots and {} raw bytes, its id says {} and {need}",
            obj.addr(),
            obj.slot_count(),
            bytes.len(),
            s.slots
        ));
    }
    if obj.aux() != aux_of(id) {
        return Err(format!(
            "node {id:#x} at {:#x}: header aux {:#x}, expected {:#x}",
            obj.addr(),
            obj.aux(),
            aux_of(id)
        ));
    }
    let non_moving = heap.in_non_moving(obj.addr());
    if matches!(s.kind, Kind::Large | Kind::Pinned) != non_moving {
        return Err(format!(
            "node {id:#x} ({:?}) at {:#x} is in the {} space",
            s.kind,
            obj.addr(),
            if non_moving { "non-moving" } else { "moving" }
        ));
    }
    let words = s.payload / 8;
    let stored = word_at(bytes, 1);
    let sum = checksum_of((0..words).map(|k| word_at(&bytes[NODE_PREFIX..], k)));
    if stored != sum {
        let bad = (0..words).find(|&k| word_at(&bytes[NODE_PREFIX..], k) != payload_word(id, k));
        return Err(format!(
            "node {id:#x} at {:#x}: payload checksum {sum:#x} != stored {stored:#x} (first bad payload word: {bad:?})",
            obj.addr()
        ));
    }
    if let Some(k) = (0..words).find(|&k| word_at(&bytes[NODE_PREFIX..], k) != payload_word(id, k))
    {
        return Err(format!(
            "node {id:#x} at {:#x}: payload word {k} is wrong under a matching checksum",
            obj.addr()
        ));
    }
    Ok(id)
}

// ---------------------------------------------------------------------------
// The run: shared state, the coordinator, the watchdog.

/// The handles of the structures every worker shares.
struct SharedRoots {
    exchange: Global,
    pinned_exchange: Global,
    /// Globals holding nodes directly.
    node_globals: Vec<Global>,
}

struct Run {
    config: StressConfig,
    rt: Runtime,
    roots: SharedRoots,
    /// Table slots per worker.
    table_slots: usize,
    stop: AtomicBool,
    /// Bumped by every worker operation (the watchdog's pulse).
    progress: AtomicU64,
    operations: AtomicU64,
    /// Cycles and objects allocated (`allocations`), also for the progress
    /// line.
    counters: Arc<Counters>,
    checks: AtomicU64,
    verifies: AtomicU64,
    collections: AtomicU64,
    blocking_calls: AtomicU64,
    weak_cleared: AtomicU64,
    threads_started: AtomicU64,
    failure_count: AtomicU64,
    failures: Mutex<Vec<String>>,
    corrupted: Mutex<Option<u64>>,
    /// When the worker in slot 0 verifies next, and the one in slot 1
    /// collects next (kept here: the threads in a slot come and go faster).
    next_verify: Mutex<Instant>,
    next_collect: Mutex<Instant>,
}

/// Whether `next` has passed; if so, moves it `every` ahead of now.
fn due(next: &Mutex<Instant>, every: Duration) -> bool {
    let Ok(mut next) = next.lock() else {
        return false;
    };
    let now = Instant::now();
    if now < *next {
        return false;
    }
    *next = now + every;
    true
}

impl Run {
    /// Records a failure and ends the run.
    fn fail(&self, what: String) {
        self.failure_count.fetch_add(1, Ordering::Relaxed);
        eprintln!("gc-stress: FAILED: {what}");
        if let Ok(mut f) = self.failures.lock() {
            if f.len() < MAX_FAILURE_MESSAGES {
                f.push(what);
            }
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Average bytes of a node, from the shapes of a fixed sample of ids.
fn mean_node_bytes(large: usize) -> usize {
    let n = 20_000u64;
    let total: usize = (0..n)
        .map(|i| {
            let s = shape(mix(i), large);
            16 + 8 * s.slots as usize + NODE_PREFIX + s.payload
        })
        .sum();
    total / n as usize
}

/// Runs the stress test.
pub fn run(config: &StressConfig) -> Result<StressReport, StressError> {
    let threads = config.threads.max(1);
    let vmas_at_start = vma_count();
    let counters = Counters::new();
    let recorder = Recorder::new(config.sample_interval);
    let (count, record) = (counters.clone(), recorder.clone());
    let rt = Runtime::builder()
        .on_pause_event(move |e| {
            count.count_cycles(e);
            record.pause(e);
        })
        .mode(config.mode)
        .heap_limit(config.heap_limit())
        .large_object_threshold(config.large_object_threshold)
        .verify(config.verify_collections)
        .build()
        .map_err(StressError::Config)?;
    // Links keep nodes alive after they leave their table, so the live heap
    // runs above the tables' own bytes; aim the tables below the target.
    let per_thread = config.live / threads / 4 * 3;
    let table_slots = (per_thread / mean_node_bytes(config.large_object_threshold))
        .next_multiple_of(CHUNK_SLOTS)
        .max(CHUNK_SLOTS);
    let roots = build_shared(&rt, threads)?;
    let run = Arc::new(Run {
        config: StressConfig {
            threads,
            ..config.clone()
        },
        rt: rt.clone(),
        roots,
        table_slots,
        stop: AtomicBool::new(false),
        progress: AtomicU64::new(0),
        operations: AtomicU64::new(0),
        counters: counters.clone(),
        checks: AtomicU64::new(0),
        verifies: AtomicU64::new(0),
        collections: AtomicU64::new(0),
        blocking_calls: AtomicU64::new(0),
        weak_cleared: AtomicU64::new(0),
        threads_started: AtomicU64::new(0),
        failure_count: AtomicU64::new(0),
        failures: Mutex::new(Vec::new()),
        corrupted: Mutex::new(None),
        next_verify: Mutex::new(Instant::now() + config.verify_interval),
        next_collect: Mutex::new(Instant::now() + config.collect_interval),
    });
    let watchdog_done = Arc::new(AtomicBool::new(false));
    let watchdog = spawn_watchdog(run.clone(), watchdog_done.clone());
    let start = Instant::now();
    recorder.start_sampling(&rt);
    let progress = progress(&run);
    coordinate(&run, start)?;
    drop(progress);
    let elapsed = start.elapsed();
    final_verify(&run);
    watchdog_done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    rt.quiesce();
    let mut report = report(&run, elapsed.as_secs_f64(), vmas_at_start);
    report.timeline = recorder.finish(start, elapsed, run.config.heap_limit());
    Ok(report)
}

/// The progress line: cycles, allocations, and the run's own counters.
fn progress(run: &Arc<Run>) -> Progress {
    let args = ProgressArgs {
        no_progress: run.config.progress.is_none(),
        progress_seconds: run.config.progress.map_or(0.0, |d| d.as_secs_f64()),
    };
    let r = run.clone();
    let extra = move || {
        format!(
            "{} ops, {} checks, {} threads started, {} failures",
            r.progress.load(Ordering::Relaxed),
            r.checks.load(Ordering::Relaxed),
            r.threads_started.load(Ordering::Relaxed),
            r.failure_count.load(Ordering::Relaxed),
        )
    };
    Progress::start(
        "gc-stress",
        &args,
        run.counters.clone(),
        Some(Box::new(extra)),
    )
}

/// Allocates the exchanges and the node globals from a short-lived mutator
/// of the calling thread.
fn build_shared(rt: &Runtime, threads: usize) -> Result<SharedRoots, StressError> {
    let mut m = rt
        .mutator()
        .map_err(|e| StressError::Setup(e.to_string()))?;
    let setup = |e: runtime::AllocError| StressError::Setup(e.to_string());
    let (m2, x) = m
        .alloc(AllocSpec {
            tag: TAG_CONTAINER,
            slots: EXCHANGE_SLOTS as u32,
            ..Default::default()
        })
        .map_err(setup)?;
    let exchange = m2.add_global(x.into());
    let (m2, p) = m
        .alloc(AllocSpec {
            tag: TAG_CONTAINER,
            slots: PINNED_EXCHANGE_SLOTS as u32,
            pinned: true,
            ..Default::default()
        })
        .map_err(setup)?;
    let pinned_exchange = m2.add_global(p.into());
    let node_globals = (0..2 * threads).map(|_| m.add_global(Value::NIL)).collect();
    Ok(SharedRoots {
        exchange,
        pinned_exchange,
        node_globals,
    })
}

/// Keeps `threads` workers running until the time is up (or a failure),
/// replacing each that ends with a new thread.
fn coordinate(run: &Arc<Run>, start: Instant) -> Result<(), StressError> {
    let threads = run.config.threads;
    let mut generation = vec![0u32; threads];
    let mut workers: Vec<Option<JoinHandle<()>>> = Vec::with_capacity(threads);
    for slot in 0..threads {
        workers.push(Some(spawn_worker(run, slot, 0)?));
    }
    while start.elapsed() < run.config.duration && !run.stopping() {
        std::thread::sleep(Duration::from_millis(10));
        for slot in 0..threads {
            if workers[slot].as_ref().is_some_and(|h| h.is_finished()) {
                if let Some(h) = workers[slot].take() {
                    join_worker(run, slot, generation[slot], h);
                }
                if !run.stopping() && start.elapsed() < run.config.duration {
                    generation[slot] += 1;
                    workers[slot] = Some(spawn_worker(run, slot, generation[slot])?);
                }
            }
        }
    }
    run.stop.store(true, Ordering::Relaxed);
    for (slot, h) in workers.iter_mut().enumerate() {
        if let Some(h) = h.take() {
            join_worker(run, slot, generation[slot], h);
        }
    }
    Ok(())
}

fn spawn_worker(
    run: &Arc<Run>,
    slot: usize,
    generation: u32,
) -> Result<JoinHandle<()>, StressError> {
    let r = run.clone();
    run.threads_started.fetch_add(1, Ordering::Relaxed);
    std::thread::Builder::new()
        .name(format!("stress-{slot}.{generation}"))
        .spawn(move || worker_main(&r, slot, generation))
        .map_err(StressError::Spawn)
}

/// Joins a worker; a panic is a failure.
fn join_worker(run: &Run, slot: usize, generation: u32, h: JoinHandle<()>) {
    if let Err(payload) = h.join() {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic".to_string());
        run.fail(format!("worker {slot}.{generation} panicked: {msg}"));
    }
}

/// Verifies the heap once more from a fresh mutator after every worker
/// ended (the exchanges and globals are still rooted).
fn final_verify(run: &Run) {
    match run.rt.mutator() {
        Ok(mut m) => {
            run.progress.fetch_add(1, Ordering::Relaxed);
            match m.verify() {
                Ok(_) => {
                    run.verifies.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => run.fail(format!("final heap verification: {e}")),
            }
            run.progress.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => run.fail(format!("final verification could not register: {e}")),
    }
}

/// Ends the process (exit code 3) when the progress counter stands still
/// for the configured time: a deadlock or a lost wake-up.
fn spawn_watchdog(run: Arc<Run>, done: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = run.progress.load(Ordering::Relaxed);
        let mut since = Instant::now();
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            let now = run.progress.load(Ordering::Relaxed);
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= run.config.watchdog {
                // No stats() here: a deadlock may hold the locks it takes.
                eprintln!(
                    "gc-stress: WATCHDOG: no worker made progress for {:.0}s (deadlock?); mode {}, seed {}, {} threads, {} operations so far, {:.1} MiB of heap in use",
                    since.elapsed().as_secs_f64(),
                    run.rt.mode(),
                    run.config.seed,
                    run.config.threads,
                    run.progress.load(Ordering::Relaxed),
                    mib(run.rt.heap().used_bytes()),
                );
                std::process::exit(3);
            }
        }
    })
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn phases(stats: &GcStats) -> Vec<PhaseSummary> {
    Phase::ALL
        .iter()
        .filter(|&&p| stats.phase_totals.iter().any(|&(q, _)| q == p))
        .map(|&p| PhaseSummary {
            phase: p.name(),
            p50_ns: ns(stats.phase_quantile(p, 0.5)),
            p99_ns: ns(stats.phase_quantile(p, 0.99)),
            max_ns: ns(stats.phase_quantile(p, 1.0)),
        })
        .collect()
}

fn report(run: &Run, seconds: f64, vmas_at_start: usize) -> StressReport {
    let rt = &run.rt;
    let stats = rt.stats();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    StressReport {
        mode_requested: run.config.mode.to_string(),
        mode: rt.mode().to_string(),
        fallback_reason: rt.fallback_reason().map(str::to_string),
        compaction: rt.describe(),
        seed: run.config.seed,
        threads: run.config.threads,
        threads_started: load(&run.threads_started),
        seconds,
        heap_limit_bytes: run.config.heap_limit(),
        last_live_bytes: stats.last_live,
        cycles: stats.cycles,
        pause_count: stats.pause_count,
        pause_p50_ns: ns(stats.pause_quantile(0.5)),
        pause_p99_ns: ns(stats.pause_quantile(0.99)),
        pause_max_ns: ns(stats.max_pause),
        phases: phases(&stats),
        stalls: stats.stalls,
        safepoint_p50_ns: ns(stats.safepoint_quantile(0.5)),
        safepoint_p99_ns: ns(stats.safepoint_quantile(0.99)),
        safepoint_max_ns: ns(stats.safepoint_quantile(1.0)),
        faults: stats.faults,
        peak_rss_bytes: peak_rss().unwrap_or(0),
        vmas_at_start,
        vmas_at_end: vma_count(),
        operations: load(&run.operations),
        objects_allocated: load(&run.counters.allocations),
        checks: load(&run.checks),
        verifies: load(&run.verifies),
        collections: load(&run.collections),
        blocking_calls: load(&run.blocking_calls),
        weak_cleared: load(&run.weak_cleared),
        corrupted_node: run.corrupted.lock().ok().and_then(|c| *c),
        failure_count: load(&run.failure_count),
        failures: run.failures.lock().map(|f| f.clone()).unwrap_or_default(),
        timeline: Timeline::default(),
    }
}

fn ms(n: u64) -> f64 {
    n as f64 / 1e6
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

impl std::fmt::Display for StressReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "gc-stress: mode {} (requested {}{}), {}",
            self.mode,
            self.mode_requested,
            self.fallback_reason
                .as_deref()
                .map_or(String::new(), |r| format!("; fallback: {r}")),
            self.compaction
        )?;
        writeln!(
            f,
            "seed {}, {} threads ({} started), {:.1}s, heap limit {:.1} MiB, live {:.1} MiB",
            self.seed,
            self.threads,
            self.threads_started,
            self.seconds,
            mib(self.heap_limit_bytes),
            mib(self.last_live_bytes)
        )?;
        writeln!(
            f,
            "cycles {}, pauses {} (stalls {}): p50 {:.3}ms p99 {:.3}ms max {:.3}ms",
            self.cycles,
            self.pause_count,
            self.stalls,
            ms(self.pause_p50_ns),
            ms(self.pause_p99_ns),
            ms(self.pause_max_ns)
        )?;
        writeln!(
            f,
            "{:<12} {:>10} {:>10} {:>10}",
            "pause phase", "p50 ms", "p99 ms", "max ms"
        )?;
        for p in &self.phases {
            writeln!(
                f,
                "{:<12} {:>10.3} {:>10.3} {:>10.3}",
                p.phase,
                ms(p.p50_ns),
                ms(p.p99_ns),
                ms(p.max_ns)
            )?;
        }
        writeln!(
            f,
            "time to safepoint p50 {:.3}ms p99 {:.3}ms max {:.3}ms; faults {}; peak RSS {:.1} MiB; VMAs {} -> {}",
            ms(self.safepoint_p50_ns),
            ms(self.safepoint_p99_ns),
            ms(self.safepoint_max_ns),
            self.faults,
            mib(self.peak_rss_bytes),
            self.vmas_at_start,
            self.vmas_at_end
        )?;
        writeln!(
            f,
            "{} operations, {} objects allocated, {} node checks, {} heap verifications, {} full collections, {} blocking calls, {} weak slots cleared",
            self.operations,
            self.objects_allocated,
            self.checks,
            self.verifies,
            self.collections,
            self.blocking_calls,
            self.weak_cleared
        )?;
        if self.passed() {
            write!(f, "result: PASS (0 failures)")
        } else {
            writeln!(f, "result: FAIL ({} failures)", self.failure_count)?;
            for m in &self.failures {
                writeln!(f, "  {m}")?;
            }
            write!(
                f,
                "reproduce: gc-stress --mode {} --threads {} --seed {}",
                self.mode_requested, self.threads, self.seed
            )
        }
    }
}

// ---------------------------------------------------------------------------
// Workers.

/// What a worker's weak slot may read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WeakModel {
    /// Never set: nil.
    Nil,
    /// Node `id` or, once nothing holds it strongly, nil.
    Points(u64),
    /// Read as nil once: nil for ever (a dead object cannot come back).
    Cleared(u64),
}

/// Roots of a worker, by index in its root stack.
const ROOT_TABLE: usize = 0;
const ROOT_WEAK: usize = 1;

/// One worker thread's state: its generator and its model.
struct Worker<'r> {
    run: &'r Run,
    slot: usize,
    generation: u32,
    rng: Rng,
    serial: u64,
    ops: u64,
    /// Of `ops`, those already added to the run's count.
    flushed_ops: u64,
    /// Node id in each table slot.
    table: Vec<Option<u64>>,
    /// Table slots holding each id.
    held: HashMap<u64, u32>,
    /// Links (node ids, 0 for nil) of the nodes this worker created and
    /// still holds in its table: the only nodes it mutates.
    links: HashMap<u64, Vec<u64>>,
    weak: Vec<WeakModel>,
    /// Counters not yet added to the run's.
    allocated: u64,
    checks: u64,
    /// A socket nobody writes to: `recv` with a timeout is a real blocking
    /// system call.
    quiet: Option<(UnixStream, UnixStream)>,
}

/// A failed check, with the text for the report.
struct Failed(String);

type Step = Result<(), Failed>;

fn worker_main(run: &Run, slot: usize, generation: u32) {
    let mut m = match run.rt.mutator() {
        Ok(m) => m,
        Err(e) => {
            run.fail(format!(
                "worker {slot}.{generation} could not register: {e}"
            ));
            return;
        }
    };
    let mut w = Worker::new(run, slot, generation);
    if let Err(Failed(what)) = w.run(&mut m) {
        run.fail(format!(
            "worker {slot}.{generation} (seed {}) at operation {}: {what}",
            run.config.seed, w.ops
        ));
    }
    w.flush_counters();
}

impl<'r> Worker<'r> {
    fn new(run: &'r Run, slot: usize, generation: u32) -> Worker<'r> {
        let seed = mix(run.config.seed ^ mix(slot as u64 + 1) ^ mix(u64::from(generation) << 32));
        let quiet = UnixStream::pair().ok().and_then(|(a, b)| {
            a.set_read_timeout(Some(Duration::from_millis(2)))
                .ok()
                .map(|_| (a, b))
        });
        Worker {
            run,
            slot,
            generation,
            rng: Rng::new(seed),
            serial: 0,
            ops: 0,
            flushed_ops: 0,
            table: vec![None; run.table_slots],
            held: HashMap::new(),
            links: HashMap::new(),
            weak: vec![WeakModel::Nil; WEAK_SLOTS],
            allocated: 0,
            checks: 0,
            quiet,
        }
    }

    fn large(&self) -> usize {
        self.run.config.large_object_threshold
    }

    fn heap(&self) -> HeapView<'r> {
        self.run.rt.heap()
    }

    fn next_id(&mut self) -> u64 {
        self.serial += 1;
        (self.slot as u64 + 1) << 56 | u64::from(self.generation) << 36 | self.serial
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.rng.below(100) < percent
    }

    fn flush_counters(&mut self) {
        self.run
            .operations
            .fetch_add(self.ops - self.flushed_ops, Ordering::Relaxed);
        self.flushed_ops = self.ops;
        self.run
            .counters
            .add_allocations(std::mem::take(&mut self.allocated));
        self.run
            .checks
            .fetch_add(std::mem::take(&mut self.checks), Ordering::Relaxed);
    }

    /// Allocates node `id` and writes its bytes; its slots are nil.
    fn alloc_node<'m>(
        &mut self,
        m: &'m mut Mutator,
        id: u64,
    ) -> Result<(&'m Mutator, Gc<'m>), Failed> {
        let s = shape(id, self.large());
        let (m, obj) = m
            .alloc(AllocSpec {
                tag: TAG_NODE,
                slots: s.slots,
                bytes: NODE_PREFIX + s.payload,
                pinned: s.kind == Kind::Pinned,
                weak: false,
            })
            .map_err(|e| {
                Failed(format!(
                    "allocating node {id:#x} failed (a collection error or a full heap): {e}"
                ))
            })?;
        fill_node(obj, id, s);
        self.allocated += 1;
        Ok((m, obj))
    }

    fn alloc_container<'m>(
        &mut self,
        m: &'m mut Mutator,
        slots: usize,
        weak: bool,
    ) -> Result<(&'m Mutator, Gc<'m>), Failed> {
        self.allocated += 1;
        m.alloc(AllocSpec {
            tag: TAG_CONTAINER,
            slots: slots as u32,
            weak,
            ..Default::default()
        })
        .map_err(|e| Failed(format!("allocating a container failed: {e}")))
    }

    /// The chunk holding table slot `i` and the index in it.
    fn chunk(m: &Mutator, i: usize) -> (Gc<'_>, usize) {
        let dir = Self::root(m, ROOT_TABLE);
        let chunk = dir.slot(i / CHUNK_SLOTS).as_object();
        (chunk.expect("table chunks are objects"), i % CHUNK_SLOTS)
    }

    /// The container in value-stack slot `i`.
    fn root(m: &Mutator, i: usize) -> Gc<'_> {
        m.stack_get(i).as_object().expect("roots hold containers")
    }

    fn table_value(m: &Mutator, i: usize) -> Value<'_> {
        let (c, k) = Self::chunk(m, i);
        c.slot(k)
    }

    fn check(&mut self, v: Value<'_>, expected: Option<u64>) -> Result<u64, Failed> {
        self.checks += 1;
        check_node(&self.heap(), self.large(), v, expected).map_err(Failed)
    }

    /// Builds the table and the weak object in the value stack.
    fn build(&mut self, m: &mut Mutator) -> Step {
        m.stack_truncate(0);
        let chunks = self.table.len() / CHUNK_SLOTS;
        let (m2, dir) = self.alloc_container(m, chunks, false)?;
        m2.push(dir.into());
        let (m2, weak) = self.alloc_container(m, WEAK_SLOTS, true)?;
        m2.push(weak.into());
        for c in 0..chunks {
            let (m, chunk) = self.alloc_container(m, CHUNK_SLOTS, false)?;
            m.write(Self::root(m, ROOT_TABLE), c, chunk.into());
        }
        for i in 0..self.table.len() {
            self.replace(m, i)?;
        }
        Ok(())
    }

    fn run(&mut self, m: &mut Mutator) -> Step {
        self.build(m)?;
        self.full_check(m)?;
        let lifetime = self.run.config.lifetime_ops.max(2);
        let ops = lifetime / 2 + self.rng.below(lifetime as usize) as u64;
        let full_every = self.run.config.full_check_ops.max(1);
        while self.ops < ops && !self.run.stopping() {
            self.step(m)?;
            self.ops += 1;
            self.run.progress.fetch_add(1, Ordering::Relaxed);
            if self.slot == 0
                && self.generation == 0
                && Some(self.ops) == self.run.config.corrupt_at_op
            {
                self.corrupt_one(m);
            }
            if self.ops.is_multiple_of(full_every) {
                self.full_check(m)?;
                self.flush_counters();
            }
            self.periodic(m)?;
        }
        self.full_check(m)?;
        self.hand_over(m);
        Ok(())
    }

    /// One random operation.
    fn step(&mut self, m: &mut Mutator) -> Step {
        let n = self.table.len();
        match self.rng.below(100) {
            0..=39 => {
                let i = self.rng.below(n);
                self.replace(m, i)
            }
            40..=54 => self.relink(m),
            55..=59 => self.publish(m),
            60..=64 => self.adopt(m),
            65..=69 => self.set_weak(m),
            70..=79 => {
                let w = self.rng.below(WEAK_SLOTS);
                self.check_weak(m, w)
            }
            80..=89 => {
                let i = self.rng.below(n);
                self.check_slot(m, i)
            }
            90..=98 => self.garbage(m),
            _ => {
                if self.rng.below(200) == 0 {
                    self.block(m)
                } else {
                    m.safepoint();
                    Ok(())
                }
            }
        }
    }

    /// Puts a new node in table slot `i`, linked to random table nodes.
    fn replace(&mut self, m: &mut Mutator, i: usize) -> Step {
        let id = self.next_id();
        let (m, node) = self.alloc_node(m, id)?;
        let slots = node.slot_count();
        let mut links = vec![0u64; slots];
        // A node's links keep their targets alive after the targets leave
        // the table; few links per node keep that tail short.
        let fill = if slots > 8 { 4 } else { slots };
        for _ in 0..fill {
            if slots <= 8 && !self.chance(15) {
                continue;
            }
            let j = self.rng.below(slots);
            let k = self.rng.below(self.table.len());
            if let Some(target) = self.table[k] {
                let v = Self::table_value(m, k);
                m.write(node, j, v);
                links[j] = target;
            }
        }
        let (c, k) = Self::chunk(m, i);
        m.write(c, k, node.into());
        self.forget(i);
        self.table[i] = Some(id);
        *self.held.entry(id).or_insert(0) += 1;
        self.links.insert(id, links);
        Ok(())
    }

    /// Drops table slot `i` from the model (the slot is being overwritten).
    fn forget(&mut self, i: usize) {
        if let Some(old) = self.table[i].take() {
            if let Some(count) = self.held.get_mut(&old) {
                *count -= 1;
                if *count == 0 {
                    self.held.remove(&old);
                    self.links.remove(&old);
                }
            }
        }
    }

    /// Rewrites a link of one of this worker's own nodes.
    fn relink(&mut self, m: &mut Mutator) -> Step {
        let i = self.rng.below(self.table.len());
        let Some(id) = self.table[i] else {
            return Ok(());
        };
        let Some(slots) = self.links.get(&id).map(Vec::len) else {
            return Ok(());
        };
        if slots == 0 {
            return Ok(());
        }
        let j = self.rng.below(slots);
        let (target, v) = if self.chance(50) {
            (0, Value::NIL)
        } else {
            let k = self.rng.below(self.table.len());
            match self.table[k] {
                Some(t) => (t, Self::table_value(m, k)),
                None => (0, Value::NIL),
            }
        };
        let node = Self::table_value(m, i);
        self.check(node, Some(id))?;
        m.write(node.as_object().expect("checked"), j, v);
        if let Some(l) = self.links.get_mut(&id) {
            l[j] = target;
        }
        Ok(())
    }

    /// Writes a table node into a shared structure.
    fn publish(&mut self, m: &mut Mutator) -> Step {
        let i = self.rng.below(self.table.len());
        if self.table[i].is_none() {
            return Ok(());
        }
        let v = Self::table_value(m, i);
        self.check(v, self.table[i])?;
        let roots = &self.run.roots;
        match self.rng.below(3) {
            0 => {
                let x = m.global(roots.exchange).as_object().expect("exchange");
                let e = self.rng.below(EXCHANGE_SLOTS);
                m.write(x, e, v);
            }
            1 => {
                let x = m
                    .global(roots.pinned_exchange)
                    .as_object()
                    .expect("exchange");
                let e = self.rng.below(PINNED_EXCHANGE_SLOTS);
                m.write(x, e, v);
            }
            _ => {
                let g = roots.node_globals[self.rng.below(roots.node_globals.len())];
                m.set_global(g, v);
            }
        }
        Ok(())
    }

    /// Reads a node from a shared structure, checks it and keeps it in a
    /// table slot (read-only: only its creator mutates it).
    fn adopt(&mut self, m: &mut Mutator) -> Step {
        let roots = &self.run.roots;
        let v = match self.rng.below(3) {
            0 => {
                let e = self.rng.below(EXCHANGE_SLOTS);
                m.global(roots.exchange)
                    .as_object()
                    .expect("exchange")
                    .slot(e)
            }
            1 => {
                let e = self.rng.below(PINNED_EXCHANGE_SLOTS);
                m.global(roots.pinned_exchange)
                    .as_object()
                    .expect("exchange")
                    .slot(e)
            }
            _ => {
                let g = roots.node_globals[self.rng.below(roots.node_globals.len())];
                m.global(g)
            }
        };
        if v.is_nil() {
            return Ok(());
        }
        let id = self.check(v, None)?;
        self.check_links_shallow(v)?;
        let i = self.rng.below(self.table.len());
        let (c, k) = Self::chunk(m, i);
        m.write(c, k, v);
        self.forget(i);
        self.table[i] = Some(id);
        *self.held.entry(id).or_insert(0) += 1;
        Ok(())
    }

    /// Points a weak slot at a table node or at a fresh node nothing else
    /// holds.
    fn set_weak(&mut self, m: &mut Mutator) -> Step {
        let w = self.rng.below(WEAK_SLOTS);
        let (m, id, v) = if self.chance(50) {
            let i = self.rng.below(self.table.len());
            match self.table[i] {
                Some(id) => (&*m, id, Self::table_value(m, i)),
                None => return Ok(()),
            }
        } else {
            let id = self.next_id();
            let (m, node) = self.alloc_node(m, id)?;
            (m, id, node.into())
        };
        m.write(Self::root(m, ROOT_WEAK), w, v);
        self.weak[w] = WeakModel::Points(id);
        Ok(())
    }

    /// Reads weak slot `w` through the runtime: nil or the right node,
    /// never nil while the table holds the node, never back once nil.
    fn check_weak(&mut self, m: &mut Mutator, w: usize) -> Step {
        let v = m.load_weak(Self::root(m, ROOT_WEAK), w);
        match self.weak[w] {
            WeakModel::Nil if v.is_nil() => Ok(()),
            WeakModel::Nil => Err(Failed(format!(
                "weak slot {w} was never set but reads {v:?}"
            ))),
            WeakModel::Points(id) if v.is_nil() => {
                if self.held.contains_key(&id) {
                    return Err(Failed(format!(
                        "weak slot {w} reads nil while node {id:#x} is held in the table"
                    )));
                }
                self.weak[w] = WeakModel::Cleared(id);
                self.run.weak_cleared.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            WeakModel::Points(id) => self.check(v, Some(id)).map(|_| ()).map_err(|Failed(e)| {
                Failed(format!("weak slot {w}: {e}"))
            }),
            WeakModel::Cleared(_) if v.is_nil() => Ok(()),
            WeakModel::Cleared(id) => Err(Failed(format!(
                "weak slot {w} read nil for node {id:#x} and now reads {v:?} (a dead object came back)"
            ))),
        }
    }

    /// Checks table slot `i`: the node, and its links against the model if
    /// this worker owns it, or that each link is a whole node if not.
    fn check_slot(&mut self, m: &mut Mutator, i: usize) -> Step {
        let v = Self::table_value(m, i);
        let Some(id) = self.table[i] else {
            return if v.is_nil() {
                Ok(())
            } else {
                Err(Failed(format!("table slot {i} should be nil, holds {v:?}")))
            };
        };
        self.check(v, Some(id))
            .map_err(|Failed(e)| Failed(format!("table slot {i}: {e}")))?;
        let obj = v.as_object().expect("checked");
        let Some(links) = self.links.get(&id) else {
            return self.check_links_shallow(v);
        };
        let links = links.clone();
        for (j, &target) in links.iter().enumerate() {
            let l = obj.slot(j);
            if target == 0 {
                if !l.is_nil() {
                    return Err(Failed(format!(
                        "node {id:#x} slot {j} should be nil, holds {l:?}"
                    )));
                }
            } else {
                self.check(l, Some(target))
                    .map_err(|Failed(e)| Failed(format!("node {id:#x} slot {j}: {e}")))?;
            }
        }
        Ok(())
    }

    /// Each link of node `v` (which another worker may be relinking) is nil
    /// or a whole node.
    fn check_links_shallow(&mut self, v: Value<'_>) -> Step {
        let obj = v.as_object().expect("checked");
        for j in 0..obj.slot_count() {
            let l = obj.slot(j);
            if !l.is_nil() {
                self.check(l, None).map_err(|Failed(e)| {
                    Failed(format!("a link of node at {:#x}: {e}", obj.addr()))
                })?;
            }
        }
        Ok(())
    }

    /// Every table slot and every weak slot, with safepoints between slots
    /// so that a long check does not hold up pauses.
    fn full_check(&mut self, m: &mut Mutator) -> Step {
        for i in 0..self.table.len() {
            self.check_slot(m, i)?;
            if i % 64 == 63 {
                m.safepoint();
            }
        }
        for w in 0..WEAK_SLOTS {
            self.check_weak(m, w)?;
        }
        Ok(())
    }

    /// Short-lived garbage.
    fn garbage(&mut self, m: &mut Mutator) -> Step {
        for _ in 0..1 + self.rng.below(4) {
            let id = self.next_id();
            self.alloc_node(m, id)?;
        }
        Ok(())
    }

    /// Sleeps or waits in a real system call as a blocked thread, holding
    /// the roots (pauses do not wait, and may move everything), then
    /// checks everything.
    fn block(&mut self, m: &mut Mutator) -> Step {
        self.run.blocking_calls.fetch_add(1, Ordering::Relaxed);
        let sleep = Duration::from_micros(500 + self.rng.below(10_000) as u64);
        match (self.rng.below(2), &mut self.quiet) {
            (0, Some((a, _))) => {
                let mut buf = [0u8; 1];
                // Nobody writes: recv blocks until the read timeout.
                let _ = m.blocking(|| a.read(&mut buf));
            }
            _ => m.blocking(|| std::thread::sleep(sleep)),
        }
        self.full_check(m)
    }

    /// Heap verification (slot 0) and full collections (slot 1, or 0 when
    /// alone) at their intervals.
    fn periodic(&mut self, m: &mut Mutator) -> Step {
        let threads = self.run.config.threads;
        if self.slot == 0 && due(&self.run.next_verify, self.run.config.verify_interval) {
            m.verify()
                .map_err(|e| Failed(format!("heap verification: {e}")))?;
            self.run.verifies.fetch_add(1, Ordering::Relaxed);
        }
        if self.slot == 1.min(threads - 1)
            && due(&self.run.next_collect, self.run.config.collect_interval)
        {
            m.collect()
                .map_err(|e| Failed(format!("full collection: {e}")))?;
            self.run.collections.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Leaves a few nodes in the shared structures for the workers that
    /// outlive this one.
    fn hand_over(&mut self, m: &mut Mutator) {
        for _ in 0..8 {
            let i = self.rng.below(self.table.len());
            if self.table[i].is_some() {
                let v = Self::table_value(m, i);
                let x = m
                    .global(self.run.roots.exchange)
                    .as_object()
                    .expect("exchange");
                let e = self.rng.below(EXCHANGE_SLOTS);
                m.write(x, e, v);
            }
        }
    }

    /// Flips one payload byte of a small node this worker holds (for the
    /// checker's own test).
    fn corrupt_one(&mut self, m: &mut Mutator) {
        let large = self.large();
        let Some(i) = (0..self.table.len()).find(|&i| {
            self.table[i].is_some_and(|id| {
                let s = shape(id, large);
                s.kind == Kind::Small && s.payload > 0 && self.links.contains_key(&id)
            })
        }) else {
            return;
        };
        let obj = Self::table_value(m, i).as_object().expect("a node");
        // The write races only with checks, which is what it is there to be
        // caught by (word-atomic, so a race, not undefined behaviour).
        let mut byte = [0u8];
        obj.read_bytes(NODE_PREFIX + 3, &mut byte);
        obj.write_bytes(NODE_PREFIX + 3, &[byte[0] ^ 0x40]);
        if let Ok(mut c) = self.run.corrupted.lock() {
            *c = self.table[i];
        }
    }
}
