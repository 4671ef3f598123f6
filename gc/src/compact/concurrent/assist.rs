//! Compaction work done by a mutator instead of a pacing sleep.
//!
//! An allocating thread that the runtime's policy would put to sleep while
//! a cycle compacts can install pages instead: it takes small chunks from
//! the cycle's cursors (non-moving pages first, as the collector threads
//! do), and installs each page the way a fault does, claim first and then
//! compute ([`CycleInFlight::resolve`]'s order). A claimed page is not
//! mapped, so the drained bound of from-space ([`super::from_space`]) stays
//! below its sources without a run slot; a chunk taken from a cursor is
//! this thread's, so no collector waits for it, and a thread faulting on
//! one of its pages waits only for that page.
//!
//! Like the fault path, an assist takes no lock and allocates nothing (the
//! page buffers are the caller's, allocated before); it reads from-space and
//! the plan and writes only to its buffers, so it never touches a page that
//! could fault. The cycle cannot end while it holds a claimed page (the
//! coordinator waits for every page), and it claims nothing once every page
//! is mapped.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::in_flight::{CycleInFlight, PageBuf};
use crate::report::thread_cpu;

/// Pages an assist takes from a cursor at a time (and installs with one
/// ioctl at most): small, so that its time stays near its budget and a
/// collector thread is never left waiting for the tail of a cycle.
pub const ASSIST_PAGES: usize = 8;

/// The page buffers of one assisting thread (allocated once, before any
/// page is claimed).
pub struct AssistBuffers(Box<[PageBuf]>);

impl AssistBuffers {
    /// [`ASSIST_PAGES`] zeroed buffers.
    pub fn new() -> AssistBuffers {
        AssistBuffers((0..ASSIST_PAGES).map(|_| PageBuf::zeroed()).collect())
    }
}

impl Default for AssistBuffers {
    fn default() -> Self {
        AssistBuffers::new()
    }
}

/// What an assist did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssistOutcome {
    /// Pages it installed (moving and non-moving).
    pub pages: usize,
    /// Whether it stopped because no page was left to take (the rest is
    /// claimed by others, or the cycle ended) rather than at its budget.
    pub exhausted: bool,
    /// The CPU time it used (less than its wall time when the thread was
    /// descheduled meanwhile).
    pub cpu: Duration,
}

/// A handle on a compaction in flight that a mutator can help with
/// ([`crate::collector::ConcurrentCollector::assistant`]). Holding it keeps
/// the cycle's state alive, not the cycle running.
pub struct Assistant {
    cycle: Arc<CycleInFlight>,
}

impl Assistant {
    pub(crate) fn new(cycle: Arc<CycleInFlight>) -> Assistant {
        Assistant { cycle }
    }

    /// Installs pages of the cycle for about `budget` (it finishes the chunk
    /// it took, at most [`ASSIST_PAGES`] pages, before checking the clock),
    /// using `bufs`. Its CPU time counts as the cycle's collection work.
    pub fn assist(&self, budget: Duration, bufs: &mut AssistBuffers) -> AssistOutcome {
        let start = Instant::now();
        let cpu = thread_cpu();
        let mut outcome = AssistOutcome::default();
        loop {
            if self.cycle.done.load(Ordering::Acquire) {
                outcome.exhausted = true;
                break;
            }
            match self.chunk(bufs) {
                Some(pages) => outcome.pages += pages,
                None => {
                    outcome.exhausted = true;
                    break;
                }
            }
            if start.elapsed() >= budget {
                break;
            }
        }
        outcome.cpu = thread_cpu().saturating_sub(cpu);
        self.cycle
            .gc_cpu_ns
            .fetch_add(outcome.cpu.as_nanos() as u64, Ordering::Relaxed);
        outcome
    }

    /// Takes the next chunk (non-moving pages first) and installs the pages
    /// of it that are still unclaimed; returns how many, or `None` when both
    /// cursors are past their spaces.
    fn chunk(&self, bufs: &mut AssistBuffers) -> Option<usize> {
        let cycle = &*self.cycle;
        if let Some(part) = &cycle.non_moving {
            let pages = part.pages.len();
            let first = cycle.nm_cursor.fetch_add(ASSIST_PAGES, Ordering::Relaxed);
            if first < pages {
                let mut installed = 0;
                let mut run = Run::default();
                for page in first..(first + ASSIST_PAGES).min(pages) {
                    if part.pages.try_claim(page) {
                        run.push(page);
                    } else {
                        installed += run.take(|s, n| cycle.install_non_moving_run(part, s, n));
                    }
                }
                installed += run.take(|s, n| cycle.install_non_moving_run(part, s, n));
                return Some(installed);
            }
        }
        let pages = cycle.moving.len();
        let first = cycle
            .moving_cursor
            .fetch_add(ASSIST_PAGES, Ordering::Relaxed);
        if first >= pages {
            return None;
        }
        let pc = cycle.computer();
        let base = bufs.0.as_mut_ptr() as usize;
        let install = |s: usize, n: usize| {
            cycle.copy_moving_run(s, n, base);
        };
        let mut installed = 0;
        let mut run = Run::default();
        for page in first..(first + ASSIST_PAGES).min(pages) {
            if cycle.moving.try_claim(page) {
                // Claimed, so computed into the next buffer of the run.
                pc.compute_page(page, &mut bufs.0[run.n].0);
                run.push(page);
            } else {
                installed += run.take(install);
            }
        }
        installed += run.take(install);
        Some(installed)
    }
}

/// A run of contiguous claimed pages waiting to be installed.
#[derive(Default)]
struct Run {
    first: usize,
    n: usize,
}

impl Run {
    /// Adds claimed page `page` (the next after the run's last).
    fn push(&mut self, page: usize) {
        if self.n == 0 {
            self.first = page;
        }
        debug_assert_eq!(page, self.first + self.n, "runs are contiguous");
        self.n += 1;
    }

    /// Installs the run (if any) with `install(first, n)`, empties it and
    /// returns its length.
    fn take(&mut self, install: impl FnOnce(usize, usize)) -> usize {
        let n = std::mem::take(&mut self.n);
        if n > 0 {
            install(self.first, n);
        }
        n
    }
}
