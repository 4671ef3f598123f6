//! Concurrent compaction with userfaultfd: the flip pause and the threads
//! that compact while the mutators run.
//!
//! The pause marks, plans every live object's new address, fixes the roots,
//! flips the moving space's page tables to from-space (`MREMAP_DONTUNMAP`),
//! and registers the emptied live pages for MISSING faults. In `uffd` mode it
//! also flips the non-moving space's page tables to its second view and
//! registers the space for MINOR faults; in `uffd-copy` mode it updates the
//! non-moving space's references in the pause instead. Registration comes
//! after the flip: since Linux 6.13 a registered range's page tables can only
//! move entry by entry, while an unregistered one moves whole PMDs and PUDs.
//!
//! Then the mutators resume, and see only post-compaction addresses. Every
//! heap page they touch that is not ready yet faults; a fault worker claims
//! the page, computes it and installs it (or waits for the thread that
//! claimed it), and the mutator continues. Collector threads walk the pages
//! in address order meanwhile, giving from-space back behind them. When
//! every page is mapped, the coordinating collector thread unregisters,
//! releases from-space and the view, sweeps and clears the bitmaps.
//!
//! Modules: [`pages`] (the per-page state machine), [`cycle`] (one
//! compaction in flight, and the fault path), [`threads`] (workers and
//! collectors), [`end`] (the end of a cycle).

pub mod cycle;
pub mod end;
pub mod pages;
pub mod threads;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::compact::forwarding::ForwardingPlan;
use crate::compact::non_moving::{sweep, update_references};
use crate::compact::page::PageComputer;
use crate::compact::stw::{fill_in_place, PhaseTimer};
use crate::cycle::{thread_cpu, CycleReport, Phase};
use crate::error::HeapError;
use crate::heap::{Heap, PAGE_SIZE};
use crate::mark::tracer::mark;
use crate::roots::RootSet;
use crate::uffd::{OpenOptions, RegisterMode, UffdFeatures, UserFaultFd};
use cycle::{Cycle, FaultLog, NonMovingPart};
use pages::PageStates;

/// How the concurrent compaction runs.
#[derive(Clone, Debug)]
pub struct UffdOptions {
    /// Compact the non-moving space through MINOR faults and
    /// `UFFDIO_CONTINUE` (`uffd` mode) rather than in the pause
    /// (`uffd-copy`).
    pub non_moving_continue: bool,
    /// Threads serving faults.
    pub fault_workers: usize,
    /// Threads compacting pages in address order.
    pub collector_threads: usize,
    /// Sleep after every page a collector thread installs (for tests that
    /// need mutators to fault on most pages; zero otherwise).
    pub page_delay: Duration,
}

impl Default for UffdOptions {
    fn default() -> Self {
        UffdOptions {
            non_moving_continue: true,
            fault_workers: 1,
            collector_threads: 1,
            page_delay: Duration::ZERO,
        }
    }
}

/// A heap's concurrent compactor: its userfaultfd and its threads, and the
/// cycle in flight if any.
pub struct UffdCompactor {
    heap: Arc<Heap>,
    fd: Arc<UserFaultFd>,
    options: UffdOptions,
    workers: Vec<Sender<Arc<Cycle>>>,
    collectors: Vec<Sender<Arc<Cycle>>>,
    reports: Receiver<CycleReport>,
    worker_cpu_ns: Arc<AtomicU64>,
    running: bool,
    threads: Vec<JoinHandle<()>>,
    description: String,
    degraded: Option<String>,
}

impl UffdCompactor {
    /// Opens a userfaultfd for `heap` and starts the threads. `Err` carries
    /// why userfaultfd compaction cannot run here (the caller falls back to
    /// stop-the-world and logs it). Where MINOR faults on memfd are missing,
    /// `uffd` degrades to `uffd-copy` ([`UffdCompactor::degraded`] says so).
    pub fn new(heap: Arc<Heap>, mut options: UffdOptions) -> Result<UffdCompactor, String> {
        let features = UffdFeatures::probe();
        if !features.is_available() {
            return Err(features
                .unavailable_reason()
                .unwrap_or("MISSING faults on anonymous memory are not supported")
                .to_string());
        }
        let mut degraded = None;
        if options.non_moving_continue && !(features.minor_shmem && features.continues) {
            options.non_moving_continue = false;
            degraded = Some(
                "MINOR faults on memfd (UFFD_FEATURE_MINOR_SHMEM, UFFDIO_CONTINUE) are \
                 unavailable: the non-moving space is updated in the pause (uffd-copy)"
                    .to_string(),
            );
        }
        let fd = UserFaultFd::open(
            &OpenOptions::new()
                .non_blocking(true)
                .minor_shmem(options.non_moving_continue),
        )
        .map_err(|e| format!("opening a userfaultfd failed: {e}"))?;
        let description = format!(
            "{} via {}, {} fault worker(s), {} collector thread(s)",
            if options.non_moving_continue {
                "uffd (COPY + CONTINUE)"
            } else {
                "uffd-copy (COPY)"
            },
            fd.method(),
            options.fault_workers.max(1),
            options.collector_threads.max(1),
        );
        let (report_tx, reports) = channel();
        let mut compactor = UffdCompactor {
            heap,
            fd: Arc::new(fd),
            options,
            workers: Vec::new(),
            collectors: Vec::new(),
            reports,
            worker_cpu_ns: Arc::new(AtomicU64::new(0)),
            running: false,
            threads: Vec::new(),
            description,
            degraded,
        };
        for i in 0..compactor.options.fault_workers.max(1) {
            let (tx, rx) = channel();
            let cpu = compactor.worker_cpu_ns.clone();
            let handle = std::thread::Builder::new()
                .name(format!("gc-fault-{i}"))
                .spawn(move || threads::fault_worker(rx, cpu))
                .map_err(|e| format!("starting a fault worker failed: {e}"))?;
            compactor.workers.push(tx);
            compactor.threads.push(handle);
        }
        for i in 0..compactor.options.collector_threads.max(1) {
            let (tx, rx) = channel();
            let reports = report_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("gc-compact-{i}"))
                .spawn(move || threads::collector(i, rx, reports))
                .map_err(|e| format!("starting a collector thread failed: {e}"))?;
            compactor.collectors.push(tx);
            compactor.threads.push(handle);
        }
        Ok(compactor)
    }

    /// The mode that runs: `uffd` or `uffd-copy`.
    pub fn mode_name(&self) -> &'static str {
        if self.options.non_moving_continue {
            "uffd"
        } else {
            "uffd-copy"
        }
    }

    /// One line for logs: mode, how the userfaultfd was opened, threads.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Why `uffd` was degraded to `uffd-copy`, if it was.
    pub fn degraded(&self) -> Option<&str> {
        self.degraded.as_deref()
    }

    /// Whether a compaction is in flight.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Waits for the compaction in flight, if any, and returns its report.
    pub fn wait(&mut self) -> Option<CycleReport> {
        if !self.running {
            return None;
        }
        self.running = false;
        self.reports.recv().ok()
    }

    /// The report of the compaction in flight if it has ended (no waiting).
    pub fn try_finished(&mut self) -> Option<CycleReport> {
        if !self.running {
            return None;
        }
        let report = self.reports.try_recv().ok()?;
        self.running = false;
        Some(report)
    }

    /// The flip pause. Every mutator must be stopped with its TLAB retired,
    /// no compaction may be in flight ([`UffdCompactor::wait`]) and `roots`
    /// must be all the roots. `waited` is how long the mutators already
    /// stood waiting for the previous cycle (accounted in this pause).
    /// On return the mutators may resume; the cycle's report arrives through
    /// [`UffdCompactor::wait`] or [`UffdCompactor::try_finished`]. Returns
    /// the live bytes marking found.
    pub fn start(&mut self, roots: &mut dyn RootSet, waited: Duration) -> Result<usize, HeapError> {
        assert!(!self.running, "a compaction is already in flight");
        let pause_start = Instant::now();
        let cpu = thread_cpu();
        let heap = &*self.heap;
        let mut report = CycleReport::new(self.mode_name(), heap.used_bytes());
        report.add_phase(Phase::Wait, waited);
        let mut timer = PhaseTimer::new();

        report.marked = mark(heap, roots, heap.config().mark_threads);
        timer.lap(&mut report, Phase::Mark);
        let old_top = heap.moving().top();
        let plan = ForwardingPlan::build(heap, old_top);
        timer.lap(&mut report, Phase::Forward);

        let flip_start = Instant::now();
        let (base, space) = (heap.moving().base(), heap.space_bytes());
        let engine = heap.engine();
        report.flip_cost = Some(engine.flip(base, heap.from_base(), space)?.cost);
        let nm = heap.non_moving();
        let nm_top = nm.high_water();
        let nm_len = (nm_top - nm.base()).next_multiple_of(PAGE_SIZE);
        let mut nm_continue = self.options.non_moving_continue && nm_len > 0;
        if nm_continue {
            engine.flip(nm.base(), heap.non_moving_view_base(), space)?;
        }
        timer.lap(&mut report, Phase::Flip);

        let live_len = plan.live_pages() * PAGE_SIZE;
        let mut moving_pages = plan.live_pages();
        if live_len > 0 {
            match self
                .fd
                .register(base as *mut u8, live_len, RegisterMode::Missing)
            {
                Ok(_) => engine.note_uffd(base, live_len, true),
                Err(e) => {
                    report.notes.push(format!(
                        "registering the moving space failed ({e}): compacted in the pause"
                    ));
                    moving_pages = 0;
                }
            }
        }
        if nm_continue {
            match self
                .fd
                .register(nm.base() as *mut u8, nm_len, RegisterMode::Minor)
            {
                Ok(_) => engine.note_uffd(nm.base(), nm_len, true),
                Err(e) => {
                    report.notes.push(format!(
                        "registering the non-moving space failed ({e}): updated in the pause"
                    ));
                    engine.flip(heap.non_moving_view_base(), nm.base(), space)?;
                    engine.release(heap.reservation(), heap.non_moving_view_base(), space)?;
                    nm_continue = false;
                }
            }
        }
        timer.lap(&mut report, Phase::Register);

        if moving_pages == 0 && live_len > 0 {
            fill_in_place(heap, &plan, &mut report, &mut timer);
        }
        let pc = PageComputer::new(heap, &plan);
        if !nm_continue {
            update_references(&pc, heap, nm.base(), nm_top, 0);
        }
        roots.for_each_root(&mut |v| *v = pc.fix_value(*v));
        timer.lap(&mut report, Phase::UpdateRefs);
        if !nm_continue {
            report.non_moving_freed_bytes = sweep(heap).1;
            timer.lap(&mut report, Phase::Sweep);
        } else {
            nm.set_allocating_black(true, 0);
        }
        heap.moving().reset_top(plan.new_top());
        report.pages_compacted = plan.live_pages();

        let non_moving = nm_continue.then(|| NonMovingPart {
            pages: PageStates::new(nm_len / PAGE_SIZE),
            base: nm.base(),
            view_delta: heap.non_moving_view_base() - nm.base(),
        });
        report.flip_pause = flip_start.elapsed();
        report.pause = waited + pause_start.elapsed();
        report.gc_cpu = thread_cpu().saturating_sub(cpu);
        let live = report.live_bytes();
        let cycle = Arc::new(Cycle {
            heap: self.heap.clone(),
            plan,
            fd: self.fd.clone(),
            moving: PageStates::new(moving_pages),
            non_moving,
            nm_top,
            page_delay: self.options.page_delay,
            done: AtomicBool::new(false),
            worker_cpu_ns: self.worker_cpu_ns.clone(),
            faults: FaultLog::new(),
            gc_cpu_ns: AtomicU64::new(0),
            started: pause_start,
            report: parking_lot::Mutex::new(report),
        });
        for tx in self.workers.iter().chain(&self.collectors) {
            tx.send(cycle.clone())
                .expect("compactor threads live as long as the compactor");
        }
        self.running = true;
        Ok(live)
    }
}

impl Drop for UffdCompactor {
    fn drop(&mut self) {
        self.wait();
        self.workers.clear();
        self.collectors.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
