//! The threads of the concurrent compaction: fault workers, which wait on
//! the userfaultfd and serve each fault, and collector threads, which walk
//! the pages in address order, install them, release from-space behind them
//! and, on the coordinating thread, end the cycle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::end::end_cycle;
use super::in_flight::{CycleInFlight, PageBuf};
use super::plan::{run_plan, PlanJob};
use crate::compact::forwarding::PAGE_WORDS;
use crate::mark::concurrent::{run_mark, MarkJob};
use crate::report::{thread_cpu, CycleReport, Phase};
use crate::units::PAGE_SIZE;

/// How long an idle worker waits for an event before checking whether the
/// cycle is over.
const WORKER_POLL: Duration = Duration::from_millis(1);

/// A fault worker: serves the faults of each cycle it is sent until the
/// cycle is done; exits when the sender is dropped.
pub fn fault_worker(cycles: Receiver<Arc<CycleInFlight>>, cpu_ns: Arc<AtomicU64>) {
    let mut buf = PageBuf::boxed();
    while let Ok(cycle) = cycles.recv() {
        // One note per cycle.
        let mut logged_error = false;
        // Cycles that ended while this worker was busy are skipped at once:
        // back-to-back cycles (a collection at every allocation) must not
        // queue up here, each holding its plan and page states.
        if cycle.done.load(Ordering::Acquire) {
            continue;
        }
        let cpu = thread_cpu();
        loop {
            // Every page is mapped once the cycle is done: events still
            // queued are stale, and the next cycle's reader wakes them.
            if cycle.done.load(Ordering::Acquire) {
                break;
            }
            match cycle.fd.read_event(Some(WORKER_POLL)) {
                Ok(Some(event)) => {
                    let start = Instant::now();
                    cycle.resolve(event.address, &mut buf);
                    cycle.faults.record(start.elapsed());
                }
                Ok(None) if cycle.done.load(Ordering::Acquire) => break,
                Ok(None) => {}
                Err(e) => {
                    if !logged_error {
                        // The runtime logs the cycle's notes.
                        cycle
                            .report
                            .lock()
                            .notes
                            .push(format!("fault worker: reading the userfaultfd failed: {e}"));
                        logged_error = true;
                    }
                    if cycle.done.load(Ordering::Acquire) {
                        break;
                    }
                    std::thread::sleep(WORKER_POLL);
                }
            }
        }
        // Counted in the report of the next cycle to end (the coordinator
        // does not wait for workers to notice that a cycle is over).
        let used = thread_cpu().saturating_sub(cpu);
        cpu_ns.fetch_add(used.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Work for a collector thread.
pub enum Job {
    /// Mark concurrently (coordinating thread only).
    Mark(Arc<MarkJob>),
    /// Build the forwarding plan concurrently (coordinating thread only).
    Plan(Arc<PlanJob>),
    /// Compact the pages of a flipped cycle.
    Compact(Arc<CycleInFlight>),
}

/// Pages a collector thread installs with one `UFFDIO_COPY` at most (its
/// page buffers).
const RUN_PAGES: usize = 8;

/// Pages a collector thread claims at a time from the shared cursor; also
/// the longest run installed with one `UFFDIO_MOVE` (one TLB flush, which
/// interrupts every other CPU running the process, for the whole run).
const CHUNK_PAGES: usize = 64;

/// How much lower than the mutators' the collector threads' priority is (a
/// nice increment). With a collector per CPU, a mutator shares its CPU with
/// a collector; at equal weight the scheduler lets the collector run while
/// the mutator is inside a fault handler or between allocations; a lower
/// priority lets the mutator (and its fault) go first. Measured in
/// `benches/results/fault-path-2026-11-30.md`.
const COLLECTOR_NICE: libc::c_int = 5;

/// A collector thread. Every collector installs chunks of pages and releases
/// drained from-space; thread 0 also sweeps the non-moving space first, and
/// at the end waits for every page, ends the cycle and sends the report.
pub fn collector(index: usize, jobs: Receiver<Job>, reports: Sender<CycleReport>) {
    // SAFETY: nice(2) changes only the calling thread's scheduling weight
    // on Linux; failure (nothing to change) leaves it as it was.
    unsafe { libc::nice(COLLECTOR_NICE) };
    let mut run: Vec<PageBuf> = (0..RUN_PAGES).map(|_| PageBuf::zeroed()).collect();
    while let Ok(job) = jobs.recv() {
        let cycle = match job {
            Job::Mark(job) => {
                run_mark(&job);
                continue;
            }
            Job::Plan(job) => {
                run_plan(&job);
                continue;
            }
            Job::Compact(cycle) => cycle,
        };
        // Check in before touching the cycle; a helper that comes after
        // the coordinator closed it (a descheduled thread, a cycle with
        // little to do) stays out: it would find no page to claim, but it
        // must not even look while from-space is being given back.
        cycle.collectors_busy.fetch_add(1, Ordering::SeqCst);
        if index != 0 && cycle.done.load(Ordering::SeqCst) {
            cycle.collectors_busy.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let cpu = thread_cpu();
        let start = Instant::now();
        if let (0, Some(part)) = (index, &cycle.non_moving) {
            // Free the dead first, so that allocation can reuse their space
            // while the pages are compacted.
            cycle.sweep_non_moving(part);
        }
        // Non-moving pages first: they hold the large arrays, whose every
        // page a mutator indexing them at random would otherwise fault on.
        if let Some(part) = &cycle.non_moving {
            let pages = part.pages.len();
            loop {
                let first = cycle.nm_cursor.fetch_add(CHUNK_PAGES, Ordering::Relaxed);
                if first >= pages {
                    break;
                }
                // Runs of claimed pages, each mapped with one CONTINUE.
                let (mut start, mut n) = (first, 0);
                for page in first..(first + CHUNK_PAGES).min(pages) {
                    if part.pages.try_claim(page) {
                        if n == 0 {
                            start = page;
                        }
                        n += 1;
                        if n == RUN_PAGES {
                            cycle.install_non_moving_run(part, start, n);
                            n = 0;
                        }
                    } else if n > 0 {
                        cycle.install_non_moving_run(part, start, n);
                        n = 0;
                    }
                }
                if n > 0 {
                    cycle.install_non_moving_run(part, start, n);
                }
            }
        }
        compact_moving(&cycle, index, &mut run);
        let used = thread_cpu().saturating_sub(cpu);
        cycle
            .gc_cpu_ns
            .fetch_add(used.as_nanos() as u64, Ordering::Relaxed);
        cycle.collectors_busy.fetch_sub(1, Ordering::SeqCst);
        if index != 0 {
            continue;
        }
        // Wait for the pages and for the helpers that checked in, not for
        // every collector thread: the cycle's length (which the pacing
        // model uses) must not include a helper's wake-up latency.
        let settled = || cycle.all_mapped() && cycle.collectors_busy.load(Ordering::SeqCst) == 0;
        while !settled() {
            std::thread::sleep(Duration::from_micros(20));
        }
        // Closed: a helper checking in from now on stays out; one that
        // checked in before the store is waited for (both sides use SeqCst,
        // so one of them sees the other).
        cycle.done.store(true, Ordering::SeqCst);
        while !settled() {
            std::thread::sleep(Duration::from_micros(20));
        }
        cycle
            .report
            .lock()
            .add_concurrent(Phase::Compact, start.elapsed());
        let report = end_cycle(&cycle);
        if reports.send(report).is_err() {
            return;
        }
        cycle.attention.store(true, Ordering::Release);
    }
}

/// Walks the moving space's live pages in address order, chunk by chunk:
/// collector threads take chunks from a shared cursor, so each works on its
/// own range (and fault handlers claim single pages in between).
///
/// A chunk is installed in runs: into drained from-space pages and moved
/// (the whole chunk at once) where from-space has drained far enough, else
/// into `bufs` and copied, `bufs.len()` pages at a time. Each run is
/// registered with the from-space ([`super::from_space::FromSpace::begin_run`])
/// before it is computed, so that no collector discards or hands out
/// from-space it still reads.
fn compact_moving(cycle: &CycleInFlight, thread: usize, bufs: &mut [PageBuf]) {
    let pages = cycle.moving.len();
    let from = &cycle.from_space;
    loop {
        let chunk = cycle
            .moving_cursor
            .fetch_add(CHUNK_PAGES, Ordering::Relaxed);
        if chunk >= pages {
            break;
        }
        let end = (chunk + CHUNK_PAGES).min(pages);
        let mut at = chunk;
        while at < end {
            let n = end - at;
            let installed = match from.begin_run(thread, at, n) {
                Some(src) => {
                    let moved = install_run(cycle, at, n, src, Install::Move);
                    if let Some(note) = from.refused(moved) {
                        cycle.report.lock().notes.push(note);
                    }
                    n
                }
                None => {
                    let n = n.min(bufs.len());
                    install_run(cycle, at, n, bufs.as_mut_ptr() as usize, Install::Copy);
                    n
                }
            };
            from.end_run(thread);
            if !cycle.page_delay.is_zero() {
                std::thread::sleep(cycle.page_delay * installed as u32);
            }
            at += installed;
        }
        from.advance(
            &cycle.moving,
            |page| cycle.from_space_needed(page),
            cycle.heap.engine(),
        );
    }
}

/// How a run of computed pages is installed.
#[derive(Clone, Copy)]
enum Install {
    /// `UFFDIO_COPY` from page buffers.
    Copy,
    /// `UFFDIO_MOVE` of drained from-space pages.
    Move,
}

/// Computes the unclaimed pages among `first .. first + n` into the `n`
/// pages at `dst` (page `first + i` into page `i`), then claims them and
/// installs each contiguous run of claimed pages with one ioctl. Returns
/// `false` if a MOVE was refused.
///
/// Pages are claimed only once computed, so a mutator faulting on one of
/// them meanwhile computes it itself instead of waiting for the whole run;
/// its claim wins and the collector's copy is dropped. (Computing is
/// deterministic: both copies are the same.)
fn install_run(cycle: &CycleInFlight, first: usize, n: usize, dst: usize, how: Install) -> bool {
    debug_assert!(n <= CHUNK_PAGES, "a run lies in one chunk");
    let pc = cycle.computer();
    let mut computed = [0u64; CHUNK_PAGES.div_ceil(64)];
    for i in 0..n {
        if cycle.moving.is_unprocessed(first + i) {
            // SAFETY: `dst` is `n` pages this thread owns: its page buffers,
            // or drained from-space pages (mapped since the flip, read by no
            // page left to compute, handed out once by `FromSpace::begin_run`).
            let page = unsafe { &mut *((dst + i * PAGE_SIZE) as *mut [u64; PAGE_WORDS]) };
            pc.compute_page(first + i, page);
            computed[i / 64] |= 1 << (i % 64);
        }
    }
    let claimed =
        |i: usize| computed[i / 64] & (1 << (i % 64)) != 0 && cycle.moving.try_claim(first + i);
    let mut moved_all = true;
    let mut i = 0;
    while i < n {
        if !claimed(i) {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < n && claimed(i) {
            i += 1;
        }
        let src = dst + start * PAGE_SIZE;
        match how {
            Install::Copy => cycle.copy_moving_run(first + start, i - start, src),
            Install::Move => moved_all &= cycle.move_moving_run(first + start, i - start, src),
        }
        // Page `i` (if any) was not claimed: skip it.
        i += 1;
    }
    moved_all
}
