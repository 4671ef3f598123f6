//! The run: shared state, the coordinator that keeps the workers going,
//! the final verification and the watchdog.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use runtime::{AllocSpec, Global, Runtime, Value};

use super::node::{mix, shape, NODE_PREFIX};
use super::report::{mib, report, vma_count, StressReport};
use super::worker::worker_main;
use super::{
    StressConfig, StressError, CHUNK_SLOTS, EXCHANGE_SLOTS, PINNED_EXCHANGE_SLOTS, TAG_CONTAINER,
};
use crate::progress::{Counters, Progress, ProgressArgs};
use crate::timeline::Recorder;

/// Stored messages of failures (the count goes on).
const MAX_FAILURE_MESSAGES: usize = 20;

/// The handles of the structures every worker shares.
pub(super) struct SharedRoots {
    pub(super) exchange: Global,
    pub(super) pinned_exchange: Global,
    /// Globals holding nodes directly.
    pub(super) node_globals: Vec<Global>,
}

pub(super) struct Run {
    pub(super) config: StressConfig,
    pub(super) rt: Runtime,
    pub(super) roots: SharedRoots,
    /// Table slots per worker.
    pub(super) table_slots: usize,
    pub(super) stop: AtomicBool,
    /// Bumped by every worker operation (the watchdog's pulse).
    pub(super) progress: AtomicU64,
    pub(super) operations: AtomicU64,
    /// Cycles and objects allocated (`allocations`), also for the progress
    /// line.
    pub(super) counters: Arc<Counters>,
    pub(super) checks: AtomicU64,
    pub(super) verifies: AtomicU64,
    pub(super) collections: AtomicU64,
    /// Of those, young ones.
    pub(super) young_collections: AtomicU64,
    pub(super) blocking_calls: AtomicU64,
    pub(super) weak_cleared: AtomicU64,
    pub(super) threads_started: AtomicU64,
    pub(super) failure_count: AtomicU64,
    pub(super) failures: Mutex<Vec<String>>,
    pub(super) corrupted: Mutex<Option<u64>>,
    /// When the worker in slot 0 verifies next, and the one in slot 1
    /// collects next (kept here: the threads in a slot come and go faster).
    pub(super) next_verify: Mutex<Instant>,
    pub(super) next_collect: Mutex<Instant>,
}

/// Whether `next` has passed; if so, moves it `every` ahead of now.
pub(super) fn due(next: &Mutex<Instant>, every: Duration) -> bool {
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
    pub(super) fn fail(&self, what: String) {
        self.failure_count.fetch_add(1, Ordering::Relaxed);
        eprintln!("gc-stress: FAILED: {what}");
        if let Ok(mut f) = self.failures.lock() {
            if f.len() < MAX_FAILURE_MESSAGES {
                f.push(what);
            }
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    pub(super) fn stopping(&self) -> bool {
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
    let mut builder = Runtime::builder();
    if let Some(n) = config.soft_limit {
        builder = builder.soft_limit(n);
    }
    if config.young_every > 0 {
        builder = builder.generational(true);
    }
    let rt = builder
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
        young_collections: AtomicU64::new(0),
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
