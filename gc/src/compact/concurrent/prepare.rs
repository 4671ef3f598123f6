//! The concurrent steps before a flip: marking from a snapshot of the roots
//! (fed by the mutators' SATB buffers), then building the forwarding plan.
//! Both run on the coordinating collector thread while mutators run and
//! allocate (born marked); each ends by raising the compactor's attention
//! flag, which mutators poll at allocation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::compact::forwarding::ForwardingPlan;
use crate::error::HeapError;
use crate::heap::Heap;
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
    // SAFETY: the snapshot holds the roots of the initial pause, and the
    // mutators run under the SATB barrier and allocate black until remark.
    let mut stats = unsafe { mark(&job.heap, &mut roots, threads) };
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

/// A concurrent build of the forwarding plan.
pub struct PlanJob {
    /// The heap.
    pub heap: Arc<Heap>,
    /// Objects below this address are planned (the rest join in the flip
    /// pause, by [`ForwardingPlan::extend`]).
    pub top: usize,
    /// The plan once built, or why it could not be (its table could not
    /// be mapped: the flip pause then abandons the cycle).
    pub plan: Mutex<Option<Result<ForwardingPlan, HeapError>>>,
    /// Set when the plan is ready.
    pub done: AtomicBool,
    /// Raised with `done`.
    pub attention: Arc<AtomicBool>,
    /// Build CPU time, ns.
    pub cpu_ns: AtomicU64,
    /// Build wall time.
    pub wall: Mutex<Duration>,
}

/// Moving-space bytes beyond its top at the end of the plan's build for
/// which the plan's tables are made ready: what mutators may allocate until
/// the flip pause, which follows at once (64 ms at 1 GB/s). Costs 2 MiB of
/// chunk table.
const EXTEND_AHEAD: usize = 64 << 20;

/// Builds the plan.
pub fn run_plan(job: &PlanJob) {
    let cpu = thread_cpu();
    let start = Instant::now();
    let plan = ForwardingPlan::build(&job.heap, job.top).map(|mut plan| {
        // The flip pause extends the plan over what is allocated until then.
        plan.prepare_extend(job.heap.moving().top() + EXTEND_AHEAD);
        plan
    });
    *job.plan.lock() = Some(plan);
    *job.wall.lock() = start.elapsed();
    job.cpu_ns.store(
        thread_cpu().saturating_sub(cpu).as_nanos() as u64,
        Ordering::Relaxed,
    );
    job.done.store(true, Ordering::Release);
    job.attention.store(true, Ordering::Release);
}
