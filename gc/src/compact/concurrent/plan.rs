//! Building the forwarding plan concurrently, after the remark pause: on
//! the coordinating collector thread while mutators run and allocate (born
//! marked); it ends by raising the collector's attention flag, and the flip
//! pause extends the plan over what was allocated since.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::compact::forwarding::{ForwardingPlan, PlanTables};
use crate::error::HeapError;
use crate::heap::Heap;
use crate::report::thread_cpu;

/// A concurrent build of the forwarding plan.
pub struct PlanJob {
    /// The heap.
    pub heap: Arc<Heap>,
    /// Objects below this address are planned (the rest join in the flip
    /// pause, by [`ForwardingPlan::extend`]).
    pub top: usize,
    /// A young cycle's old end, where its plan starts (`None`: a full
    /// cycle's plan, from the base).
    pub young_start: Option<usize>,
    /// The collector's plan tables (the plan's chunk table comes from there).
    pub tables: PlanTables,
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
    let plan = match job.young_start {
        Some(start) => ForwardingPlan::build_young(&job.heap, start, job.top, &job.tables),
        None => ForwardingPlan::build(&job.heap, job.top, &job.tables),
    };
    let plan = plan.map(|mut plan| {
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
