//! The concurrent collector: a heap's userfaultfd, its threads, the cycle
//! in flight and the pauses that drive it ([`ConcurrentCollector`]).
//!
//! A concurrently marked cycle has three short pauses, each run on a
//! mutator's thread with every mutator stopped (`pauses`):
//!
//! 1. the *initial pause* ([`ConcurrentCollector::begin_marking`]) copies
//!    the roots and turns on the SATB write barrier and black allocation;
//!    the coordinating collector thread then marks
//!    ([`crate::mark::concurrent`]);
//! 2. the *remark pause* ([`ConcurrentCollector::remark`]) drains the SATB
//!    buffers, turns the barrier off and hands the forwarding plan's build
//!    to the collector thread ([`crate::compact::concurrent::plan`]);
//! 3. the *flip pause* ([`ConcurrentCollector::flip`]) extends the plan
//!    over what was allocated since, flips the moving space's page tables
//!    to from-space (`MREMAP_DONTUNMAP`), registers the emptied live pages
//!    for MISSING faults, fixes the roots and hands the cycle
//!    ([`crate::compact::concurrent::in_flight`]) to the threads. Where the
//!    non-moving space is compacted concurrently it is flipped to its second
//!    view and registered for MINOR faults too; otherwise its references are
//!    updated in this pause. Registration comes after the flip: since Linux
//!    6.13 a registered range's page tables can only move entry by entry,
//!    while an unregistered one moves whole PMDs and PUDs.
//!
//! [`ConcurrentCollector::start`] runs marking, planning and the flip in one
//! pause (explicit collections). After the flip the mutators see only
//! post-compaction addresses; a page they touch before it is ready faults
//! and is computed and installed by the faulting thread's SIGBUS handler or
//! by a fault worker, while collector threads install the pages in address
//! order and give from-space back behind them
//! ([`crate::compact::concurrent::threads`]). When every page is mapped the
//! coordinating collector thread ends the cycle
//! ([`crate::compact::concurrent::end`]) and raises the attention flag.
//!
//! The flip pause is transactional: each step that fails is undone or
//! worked around, and the cycle either completes another way or is
//! abandoned with the heap exactly as before. The flip is tried at start-up
//! on scratch mappings ([`mremap_shim::engine::probe_flips`]), so that a
//! process where `mremap` is denied falls back to `stw` at once; a flip that
//! keeps failing later makes the collector compact in the pause from then
//! on ([`ConcurrentCollector::stw_fallback`]).

mod pauses;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use crate::compact::concurrent::assist::Assistant;
use crate::compact::concurrent::in_flight::CycleInFlight;
use crate::compact::concurrent::plan::PlanJob;
use crate::compact::concurrent::sigbus;
use crate::compact::concurrent::threads::{self, Job};
use crate::compact::forwarding::PlanTables;
use crate::heap::Heap;
use crate::mark::concurrent::MarkJob;
use crate::mark::satb::SatbQueue;
use crate::report::CycleReport;
use uffd::{OpenOptions, UffdFeatures, UserFaultFd};

/// How the concurrent compaction runs.
#[derive(Clone, Debug)]
pub struct UffdOptions {
    /// Compact the non-moving space through MINOR faults and
    /// `UFFDIO_CONTINUE` (`uffd` mode) rather than in the pause
    /// (`uffd-copy`).
    pub non_moving_continue: bool,
    /// Threads serving faults.
    pub fault_workers: usize,
    /// Threads compacting pages in address order (default: one per CPU,
    /// [`default_collector_threads`]).
    pub collector_threads: usize,
    /// Sleep after every page a collector thread installs (for tests that
    /// need mutators to fault on most pages; zero otherwise).
    pub page_delay: Duration,
    /// Sleep before a concurrent marking starts tracing (for tests that
    /// mutate the heap while marking; zero otherwise).
    pub mark_delay: Duration,
    /// Serve faults on the faulting thread from a SIGBUS handler
    /// (`UFFD_FEATURE_SIGBUS`) instead of on fault-worker threads.
    pub sigbus: bool,
    /// Collector threads compute pages into drained from-space pages and
    /// install them with `UFFDIO_MOVE` (Linux 6.8) instead of `UFFDIO_COPY`.
    pub moves: bool,
}

/// Collector threads by default: one per CPU this process may run on (they
/// split the pages between them; measured in
/// `benches/results/fault-path-2026-11-30.md`).
pub fn default_collector_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Default for UffdOptions {
    fn default() -> Self {
        UffdOptions {
            non_moving_continue: true,
            fault_workers: 1,
            collector_threads: default_collector_threads(),
            page_delay: Duration::ZERO,
            mark_delay: Duration::ZERO,
            sigbus: false,
            moves: false,
        }
    }
}

/// Where a cycle of the concurrent collector stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CyclePhase {
    /// No cycle.
    Idle,
    /// Marking concurrently (the write barrier must record old values).
    Marking,
    /// The marker is done: the remark pause may run.
    Marked,
    /// Building the forwarding plan concurrently.
    Planning,
    /// The plan is ready: the flip pause may run.
    Planned,
    /// Compacting concurrently (after the flip).
    Compacting,
}

enum State {
    Idle,
    Marking(Arc<MarkJob>),
    Planning(Arc<PlanJob>),
    Compacting,
}

/// A heap's concurrent collector: its userfaultfd and its threads, and the
/// cycle in flight if any.
pub struct ConcurrentCollector {
    heap: Arc<Heap>,
    fd: Arc<UserFaultFd>,
    options: UffdOptions,
    workers: Vec<Sender<Arc<CycleInFlight>>>,
    collectors: Vec<Sender<Job>>,
    reports: Receiver<CycleReport>,
    worker_cpu_ns: Arc<AtomicU64>,
    state: State,
    attention: Arc<AtomicBool>,
    satb: Arc<SatbQueue>,
    /// The report of a concurrently marked cycle, until its flip.
    pending: Option<CycleReport>,
    /// This heap's slot in the SIGBUS handler's table (SIGBUS mode).
    sigbus_slot: Option<usize>,
    threads: Vec<JoinHandle<()>>,
    description: String,
    degraded: Option<String>,
    /// Where a cycle completed (or abandoned) in its flip pause sends its
    /// report, as a collector thread does at the end of a compaction.
    report_tx: Sender<CycleReport>,
    /// Flip pauses in a row whose moving space could not be compacted
    /// concurrently (a failed flip or registration).
    flip_failures: u32,
    /// Flip pauses in a row whose non-moving space could not be flipped or
    /// registered.
    nm_failures: u32,
    /// Why compaction runs in the pause from now on, if it does.
    stw_fallback: Option<String>,
    /// Ranges still registered with the userfaultfd because unregistering
    /// them at the end of a cycle failed; retried at the next flip.
    stale: Arc<Mutex<Vec<(usize, usize)>>>,
    /// The forwarding plans' chunk table, reused from cycle to cycle.
    plan_tables: PlanTables,
    /// Whether the cycle in flight is young (generational collection).
    young: bool,
    /// The moving space's top at the cycle's first pause: survivors below
    /// it are promoted (generational collection).
    top_at_start: usize,
    /// The compaction in flight, for mutators to assist
    /// ([`ConcurrentCollector::assistant`]); `None` outside one, and for a
    /// cycle completed in its flip pause.
    in_flight: Option<Arc<CycleInFlight>>,
}

/// Why userfaultfd compaction cannot run (the runtime then falls back to
/// stop-the-world and logs the reason).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompactorError {
    /// The kernel or the process's privileges offer no usable userfaultfd
    /// (the probe's reason).
    #[error("{0}")]
    Unavailable(String),
    /// Opening the userfaultfd failed.
    #[error("opening a userfaultfd failed: {0}")]
    Open(#[source] uffd::UffdError),
    /// Installing the SIGBUS handler or reserving its slot failed.
    #[error("setting up SIGBUS fault service failed: {0}")]
    Sigbus(#[source] sigbus::SigbusError),
    /// Starting a collector or fault thread failed.
    #[error("starting a compaction thread failed: {0}")]
    Thread(#[source] std::io::Error),
    /// Probing the flip at start-up failed (scratch mappings).
    #[error("probing the flip failed: {0}")]
    FlipProbe(#[source] mremap_shim::sys::SysError),
    /// The flip (a DONTUNMAP mremap of private anonymous memory) failed at
    /// start-up (e.g. `mremap` denied by seccomp).
    #[error("the flip (a DONTUNMAP mremap of private anonymous memory) failed at start-up: {0}")]
    Flip(#[source] mremap_shim::sys::SysError),
}

/// Flip pauses in a row that may fail before the collector stops trying
/// (a failure that repeats is not transient).
const MAX_FLIP_FAILURES: u32 = 2;

impl ConcurrentCollector {
    /// Opens a userfaultfd for `heap` and starts the threads. `Err` carries
    /// why userfaultfd compaction cannot run here (the caller falls back to
    /// stop-the-world and logs it). Where MINOR faults on memfd are missing,
    /// `uffd` degrades to `uffd-copy` ([`ConcurrentCollector::degraded`] says so).
    pub fn new(
        heap: Arc<Heap>,
        mut options: UffdOptions,
    ) -> Result<ConcurrentCollector, CompactorError> {
        let features = UffdFeatures::probe();
        if !features.is_available() {
            return Err(CompactorError::Unavailable(
                features
                    .unavailable_reason()
                    .unwrap_or("MISSING faults on anonymous memory are not supported")
                    .to_string(),
            ));
        }
        let mut degraded = None;
        // The flip itself, tried now on scratch mappings: a process whose
        // `mremap` is denied (seccomp) or failing would otherwise fail its
        // first cycle.
        let probe = mremap_shim::engine::probe_flips(heap.non_moving_region().fd())
            .map_err(CompactorError::FlipProbe)?;
        if let Err(e) = probe.anon {
            return Err(CompactorError::Flip(e));
        }
        if let (true, Err(e)) = (options.non_moving_continue, &probe.shared) {
            options.non_moving_continue = false;
            degraded = Some(format!(
                "the non-moving space's flip (a DONTUNMAP mremap of a memfd mapping) failed at \
                 start-up ({e}): the non-moving space is updated in the pause (uffd-copy)"
            ));
        }
        if options.non_moving_continue && !(features.minor_shmem && features.continues) {
            options.non_moving_continue = false;
            degraded = Some(
                "MINOR faults on memfd (UFFD_FEATURE_MINOR_SHMEM, UFFDIO_CONTINUE) are \
                 unavailable: the non-moving space is updated in the pause (uffd-copy)"
                    .to_string(),
            );
        }
        if options.moves && !features.moves {
            options.moves = false;
            degraded = Some(
                "UFFDIO_MOVE is unavailable (Linux 6.8+): pages are installed with UFFDIO_COPY"
                    .to_string(),
            );
        }
        if options.sigbus && !features.sigbus {
            options.sigbus = false;
            degraded = Some(
                "UFFD_FEATURE_SIGBUS is unavailable: faults are served by worker threads"
                    .to_string(),
            );
        }
        let fd = UserFaultFd::open(
            &OpenOptions::new()
                .non_blocking(true)
                .minor_shmem(options.non_moving_continue)
                .sigbus(options.sigbus),
        )
        .map_err(CompactorError::Open)?;
        let sigbus_slot = if options.sigbus {
            sigbus::install().map_err(CompactorError::Sigbus)?;
            let space = heap.space_bytes();
            Some(
                sigbus::reserve_slot([
                    (heap.moving().base(), space),
                    (heap.non_moving().base(), space),
                ])
                .map_err(CompactorError::Sigbus)?,
            )
        } else {
            None
        };
        let description = format!(
            "moving space by {}, non-moving space {}; faults served {}; userfaultfd via {}; {} collector thread(s)",
            if options.moves { "MOVE (COPY until from-space drains)" } else { "COPY" },
            if options.non_moving_continue { "by CONTINUE" } else { "in the pause" },
            if options.sigbus {
                "by the faulting thread (SIGBUS)".to_string()
            } else {
                format!("by {} worker thread(s)", options.fault_workers.max(1))
            },
            fd.method(),
            options.collector_threads.max(1),
        );
        let (report_tx, reports) = channel();
        let mut collector = ConcurrentCollector {
            heap,
            fd: Arc::new(fd),
            options,
            workers: Vec::new(),
            collectors: Vec::new(),
            reports,
            worker_cpu_ns: Arc::new(AtomicU64::new(0)),
            state: State::Idle,
            attention: Arc::new(AtomicBool::new(false)),
            satb: Arc::new(SatbQueue::new()),
            pending: None,
            sigbus_slot,
            threads: Vec::new(),
            description,
            degraded,
            report_tx: report_tx.clone(),
            flip_failures: 0,
            nm_failures: 0,
            stw_fallback: None,
            stale: Arc::new(Mutex::new(Vec::new())),
            plan_tables: PlanTables::default(),
            young: false,
            top_at_start: 0,
            in_flight: None,
        };
        let workers = if collector.options.sigbus {
            0
        } else {
            collector.options.fault_workers.max(1)
        };
        for i in 0..workers {
            let (tx, rx) = channel();
            let cpu = collector.worker_cpu_ns.clone();
            let handle = spawn(format!("gc-fault-{i}"), move || {
                threads::fault_worker(rx, cpu)
            })
            .map_err(CompactorError::Thread)?;
            collector.workers.push(tx);
            collector.threads.push(handle);
        }
        for i in 0..collector.options.collector_threads.max(1) {
            let (tx, rx) = channel();
            let reports = report_tx.clone();
            let handle = spawn(format!("gc-compact-{i}"), move || {
                threads::collector(i, rx, reports)
            })
            .map_err(CompactorError::Thread)?;
            collector.collectors.push(tx);
            collector.threads.push(handle);
        }
        Ok(collector)
    }

    /// The options in effect: those asked for, less what the kernel lacks
    /// (the runtime describes the mode that runs from them).
    pub fn options(&self) -> &UffdOptions {
        &self.options
    }

    /// A short name of what runs, for this crate's [`CycleReport`]s:
    /// `uffd-copy` (non-moving space in the pause), `uffd-workers`,
    /// `uffd-move` (workers and MOVE), `sigbus` (SIGBUS and COPY) or
    /// `sigbus-move` (SIGBUS and MOVE); `stw` once repeated flip failures
    /// made the collector compact in the pause
    /// ([`ConcurrentCollector::stw_fallback`]). The runtime's modes are typed
    /// (`runtime::config::MODES`), not parsed from this.
    pub fn mode_name(&self) -> &'static str {
        if self.stw_fallback.is_some() {
            return "stw";
        }
        let o = &self.options;
        match (o.non_moving_continue, o.sigbus, o.moves) {
            (false, _, _) => "uffd-copy",
            (true, true, true) => "sigbus-move",
            (true, true, false) => "sigbus",
            (true, false, true) => "uffd-move",
            (true, false, false) => "uffd-workers",
        }
    }

    /// Whether faults are served by the faulting thread's SIGBUS handler
    /// (then every thread touching the heap must let SIGBUS through:
    /// [`sigbus::unblock_on_this_thread`]).
    pub fn serves_faults_by_sigbus(&self) -> bool {
        self.options.sigbus
    }

    /// One line for logs: mode, how the userfaultfd was opened, threads.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Why `uffd` was degraded to `uffd-copy`, if it was.
    pub fn degraded(&self) -> Option<&str> {
        self.degraded.as_deref()
    }

    /// Why the collector fell back to compacting in the pause (as `stw`
    /// does) after repeated flip failures, if it did. Marking stays
    /// concurrent.
    pub fn stw_fallback(&self) -> Option<&str> {
        self.stw_fallback.as_deref()
    }

    /// Whether a compaction is in flight.
    pub fn is_running(&self) -> bool {
        matches!(self.state, State::Compacting)
    }

    /// Where the current cycle stands.
    pub fn phase(&self) -> CyclePhase {
        match &self.state {
            State::Idle => CyclePhase::Idle,
            State::Marking(job) if job.done.load(Ordering::Acquire) => CyclePhase::Marked,
            State::Marking(_) => CyclePhase::Marking,
            State::Planning(job) if job.done.load(Ordering::Acquire) => CyclePhase::Planned,
            State::Planning(_) => CyclePhase::Planning,
            State::Compacting => CyclePhase::Compacting,
        }
    }

    /// Takes the attention flag: raised whenever concurrent work finished
    /// (marking, planning or a compaction), so that a mutator polling it at
    /// allocation knows to call [`ConcurrentCollector::phase`] and act.
    #[inline]
    pub fn attention_flag(&self) -> &Arc<AtomicBool> {
        &self.attention
    }

    /// The queue mutators hand full SATB buffers to.
    pub fn satb_queue(&self) -> &Arc<SatbQueue> {
        &self.satb
    }

    /// Waits, without a pause, until the marking or planning in flight (if
    /// any) is done, so that its pause then stops the mutators only for
    /// its own work.
    pub fn wait_prepared(&self) {
        let done = match &self.state {
            State::Marking(job) => &job.done,
            State::Planning(job) => &job.done,
            State::Idle | State::Compacting => return,
        };
        pauses::wait_for(done);
    }

    /// Marks from every SATB buffer queued now, on the calling thread while
    /// the mutators run: after a finished marking and before its remark
    /// pause (e.g. once a handshake has flushed every thread's partial
    /// buffer), so that the pause finds little left to drain. Returns the
    /// buffers drained; none outside that window.
    pub fn drain_satb(&self) -> usize {
        let State::Marking(job) = &self.state else {
            return 0;
        };
        if !job.done.load(Ordering::Acquire) {
            return 0;
        }
        let mut stats = crate::mark::tracer::MarkStats::default();
        let mut drained = 0;
        loop {
            let buffers = self.satb.take_all();
            if buffers.is_empty() {
                break;
            }
            for mut b in buffers {
                drained += 1;
                // SAFETY: SATB buffers hold references the mutators
                // overwrote during this marking, which runs under the barrier.
                stats.add(unsafe { crate::mark::tracer::mark(&self.heap, &mut b, 1) });
            }
        }
        job.stats.lock().add(stats);
        drained
    }

    /// Waits for the compaction in flight, if any, and returns its report.
    pub fn wait(&mut self) -> Option<CycleReport> {
        if !self.is_running() {
            return None;
        }
        self.state = State::Idle;
        self.in_flight = None;
        self.reports.recv().ok()
    }

    /// The report of the compaction in flight if it has ended (no waiting).
    pub fn try_finished(&mut self) -> Option<CycleReport> {
        if !self.is_running() {
            return None;
        }
        let report = self.reports.try_recv().ok()?;
        self.state = State::Idle;
        self.in_flight = None;
        Some(report)
    }

    /// A handle for a mutator to install pages of the compaction in flight
    /// instead of sleeping at a pacing threshold
    /// ([`Assistant::assist`]); `None` when no compaction runs beside the
    /// mutators.
    pub fn assistant(&self) -> Option<Assistant> {
        self.in_flight.clone().map(Assistant::new)
    }
}

/// Starts a named thread (or fails as injected, for tests).
fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    if let Some(errno) = crate::inject::check(crate::inject::Site::ThreadSpawn) {
        return Err(std::io::Error::from_raw_os_error(errno as i32));
    }
    std::thread::Builder::new().name(name).spawn(f)
}

impl Drop for ConcurrentCollector {
    fn drop(&mut self) {
        self.wait();
        self.workers.clear();
        self.collectors.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(slot) = self.sigbus_slot {
            sigbus::release_slot(slot);
        }
    }
}
