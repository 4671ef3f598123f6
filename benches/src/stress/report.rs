//! What a stress run did and found: the report, gathered from the run's
//! counters and the runtime's statistics, and its text form.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gc::Phase;
use runtime::stats::CycleKindsJson;
use runtime::GcStats;
use serde::Serialize;

use super::run::Run;
use crate::procstat::peak_rss;
use crate::timeline::Timeline;

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
    /// Of those, young and full ones: counts, pauses, GC CPU, the policy's
    /// reasons (flattened into this object).
    #[serde(flatten)]
    pub kinds: CycleKindsJson,
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
    /// Explicit collections the workers ran (young and full).
    pub collections: u64,
    /// Of those, young ones.
    pub young_collections: u64,
    /// Calls to `Mutator::blocking`.
    pub blocking_calls: u64,
    /// Weak slots seen cleared after their target lost its last strong
    /// reference.
    pub weak_cleared: u64,
    /// The node corrupted on purpose ([`StressConfig::corrupt_at_op`](super::StressConfig::corrupt_at_op)).
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

pub(super) fn report(run: &Run, seconds: f64, vmas_at_start: usize) -> StressReport {
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
        kinds: stats.kinds_json(),
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
        young_collections: load(&run.young_collections),
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

pub(super) fn mib(bytes: usize) -> f64 {
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
            "cycles {} ({} young, {} full), pauses {} (stalls {}): p50 {:.3}ms p99 {:.3}ms max {:.3}ms",
            self.cycles,
            self.kinds.young_cycles,
            self.kinds.full_cycles,
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
            "{} operations, {} objects allocated, {} node checks, {} heap verifications, {} explicit collections ({} young), {} blocking calls, {} weak slots cleared",
            self.operations,
            self.objects_allocated,
            self.checks,
            self.verifies,
            self.collections,
            self.young_collections,
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
