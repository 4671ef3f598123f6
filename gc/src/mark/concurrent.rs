//! Concurrent marking: from a snapshot of the roots taken in the initial
//! pause, then from the mutators' SATB buffers until none is left. It runs
//! on the coordinating collector thread while mutators run and allocate
//! (born marked), and ends by raising the collector's attention flag, which
//! mutators poll at allocation; the remark pause then drains what the
//! mutators recorded since.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::heap::Heap;
use crate::mark::cards::{mark_old_non_moving, CardRoots};
use crate::mark::satb::SatbQueue;
use crate::mark::tracer::{mark, MarkStats};
use crate::report::thread_cpu;
use crate::value::Value;

/// A concurrent marking.
pub struct MarkJob {
    /// The heap being marked.
    pub heap: Arc<Heap>,
    /// The roots as they were in the initial pause (taken by the marker).
    pub snapshot: Mutex<Vec<Value>>,
    /// Full SATB buffers from the mutators.
    pub satb: Arc<SatbQueue>,
    /// What was marked.
    pub stats: Mutex<MarkStats>,
    /// Set when the marker found no more work (the remark pause may run).
    pub done: AtomicBool,
    /// Raised with `done`.
    pub attention: Arc<AtomicBool>,
    /// Marker CPU time, ns.
    pub cpu_ns: AtomicU64,
    /// Marker wall time, ns.
    pub wall_ns: AtomicU64,
    /// Sleep before tracing (a test hook; zero otherwise).
    pub delay: Duration,
    /// A young cycle: old non-moving objects count as marked, and the
    /// slots on dirty old cards are roots (moving objects below the old
    /// end count as marked through the heap's young floor).
    pub young: bool,
}

/// Marks from the snapshot, then drains SATB buffers until none is left.
pub fn run_mark(job: &MarkJob) {
    if !job.delay.is_zero() {
        std::thread::sleep(job.delay);
    }
    let cpu = thread_cpu();
    let start = Instant::now();
    let threads = job.heap.config().mark_threads;
    let mut roots = std::mem::take(&mut *job.snapshot.lock());
    let mut stats = if job.young {
        mark_old_non_moving(&job.heap);
        // SAFETY: the old generation and the old non-moving objects are
        // walkable (allocation goes above the top and into young
        // non-moving objects, which the card walk skips); mutators write
        // old slots under the SATB barrier, which the card walk relies on:
        // a young object reachable at the initial pause through an old
        // slot is either found there or recorded when overwritten.
        let mut card_roots = unsafe { CardRoots::new(&job.heap, &mut roots, true) };
        // SAFETY: as below, with the dirty cards' slots as extra roots.
        let mut stats = unsafe { mark(&job.heap, &mut card_roots, threads) };
        card_roots.add_to(&mut stats);
        stats
    } else {
        // SAFETY: the snapshot holds the roots of the initial pause, and the
        // mutators run under the SATB barrier and allocate black until remark.
        unsafe { mark(&job.heap, &mut roots, threads) }
    };
    loop {
        let buffers = job.satb.take_all();
        if buffers.is_empty() {
            break;
        }
        for mut b in buffers {
            // SAFETY: a full SATB buffer of this marking (see above).
            stats.add(unsafe { mark(&job.heap, &mut b, 1) });
        }
    }
    job.stats.lock().add(stats);
    job.cpu_ns.store(
        thread_cpu().saturating_sub(cpu).as_nanos() as u64,
        Ordering::Relaxed,
    );
    job.wall_ns
        .store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    job.done.store(true, Ordering::Release);
    job.attention.store(true, Ordering::Release);
}
