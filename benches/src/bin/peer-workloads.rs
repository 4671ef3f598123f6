//! `peer-workloads`: the peer kit's workloads (GCBench, binary-trees,
//! liveheap) on the runtime, for `../shared/peers/run.sh` as `PROJECT_CMD`.
//!
//! ```text
//! peer-workloads --mode MODE gcbench [STRETCH LONG_LIVED ARRAY_SIZE MIN_DEPTH MAX_DEPTH [REPS]]
//! peer-workloads --mode MODE binarytrees [DEPTH]
//! peer-workloads --mode MODE liveheap [LIVE_MIB [OPS_M [GARBAGE [SEED]]]]
//! ```
//!
//! Prints what the C workloads print (same parameters, same defaults). With
//! `PEER_PAUSE_FILE` set, writes every pause (ms, one per line) there at exit.
//! One summary line `PEERGC ...` goes to stderr.
//!
//! Heap sizing: unless `GC_HEAP_LIMIT` is set, the heap limit is
//! [`LIMIT_FACTOR`] times the workload's live-size estimate (at least
//! [`MIN_LIMIT`]); unless `GC_MARK_THREADS` is set, marking uses every CPU.
//! The other `GC_*` variables of the runtime apply as usual.
//!
//! Exit status: 0 done, 1 liveheap verification mismatch, 2 bad usage or
//! configuration, 3 out of memory or lost data.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use benches::peers::{self, GcBenchParams, LiveHeapParams, PeerError};
use benches::procstat::peak_rss;
use benches::progress::{Progress, ProgressArgs};
use clap::{Parser, Subcommand};
use runtime::{Mode, Runtime};

/// The heap limit is this many times the live-size estimate (the peer kit
/// gives Java about 1.9x the liveheap live set, and 2 to 4x elsewhere).
const LIMIT_FACTOR: usize = 2;
/// The smallest default heap limit.
const MIN_LIMIT: usize = 256 << 20;

#[derive(Parser, Debug)]
#[command(
    name = "peer-workloads",
    version,
    about = "The peer GC kit's workloads on the project's runtime (the kit's PROJECT_CMD)"
)]
struct Cli {
    /// Compaction mode (default: GC_MODE, else uffd).
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    #[command(flatten)]
    progress: ProgressArgs,
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Subcommand, Debug)]
enum Workload {
    /// GCBench: STRETCH LONG_LIVED ARRAY_SIZE MIN_DEPTH MAX_DEPTH, then REPS if given (default 18 16 500000 4 16 1).
    Gcbench {
        /// None, or five or six integers.
        #[arg(num_args = 0..=6)]
        params: Vec<u32>,
    },
    /// binary-trees at DEPTH (default 21, at least 6).
    Binarytrees {
        /// Maximum tree depth.
        depth: Option<u32>,
    },
    /// liveheap: LIVE_MIB OPS_M GARBAGE SEED (default 1024 20 4 42).
    Liveheap {
        /// Live map size in MiB.
        live_mib: Option<u64>,
        /// Churn operations, in millions (fractions allowed, e.g. 0.5).
        ops_m: Option<f64>,
        /// Short-lived entries per operation.
        garbage: Option<u32>,
        /// PRNG seed.
        #[arg(allow_negative_numbers = true)]
        seed: Option<i64>,
    },
}

/// What to run, validated.
enum Plan {
    GcBench(GcBenchParams),
    BinaryTrees(u32),
    LiveHeap(LiveHeapParams),
}

impl Plan {
    fn from_cli(w: &Workload) -> Result<Plan, String> {
        Ok(match w {
            Workload::Gcbench { params } => match params.as_slice() {
                [] => Plan::GcBench(GcBenchParams::default()),
                [s, l, a, lo, hi, rest @ ..] => {
                    let p = GcBenchParams {
                        stretch_depth: *s,
                        long_lived_depth: *l,
                        array_size: *a as usize,
                        min_depth: *lo,
                        max_depth: *hi,
                        reps: rest.first().copied().unwrap_or(1),
                    };
                    if p.stretch_depth.max(p.long_lived_depth).max(p.max_depth) > 40 {
                        return Err("gcbench: tree depths above 40 cannot fit in memory".into());
                    }
                    if p.min_depth > p.stretch_depth || p.max_depth > p.stretch_depth {
                        return Err(
                            "gcbench: MIN_DEPTH and MAX_DEPTH must not exceed STRETCH".into()
                        );
                    }
                    Plan::GcBench(p)
                }
                _ => {
                    return Err(format!(
                        "gcbench takes no parameters or five or six (STRETCH LONG_LIVED ARRAY_SIZE MIN_DEPTH MAX_DEPTH [REPS]), got {}",
                        params.len()
                    ))
                }
            },
            Workload::Binarytrees { depth } => {
                let d = depth.unwrap_or(21);
                if d > peers::BT_MAX_DEPTH {
                    return Err(format!(
                        "binarytrees: depth {d} is too deep (at most {})",
                        peers::BT_MAX_DEPTH
                    ));
                }
                Plan::BinaryTrees(d)
            }
            Workload::Liveheap {
                live_mib,
                ops_m,
                garbage,
                seed,
            } => Plan::LiveHeap(
                LiveHeapParams::new(
                    live_mib.unwrap_or(1024),
                    ops_m.unwrap_or(20.0),
                    garbage.unwrap_or(4),
                    seed.unwrap_or(42),
                )
                .map_err(|e| format!("liveheap: {e}"))?,
            ),
        })
    }

    fn live_estimate(&self) -> usize {
        match self {
            Plan::GcBench(p) => p.live_estimate(),
            Plan::BinaryTrees(d) => peers::binarytrees_live_estimate(*d),
            Plan::LiveHeap(p) => p.live_estimate(),
        }
    }
}

fn main() {
    let cli = Cli::parse();
    std::process::exit(match run(&cli) {
        Ok(code) => code,
        Err((code, msg)) => {
            let _ = std::io::stdout().flush();
            eprintln!("peer-workloads: {msg}");
            code
        }
    });
}

fn run(cli: &Cli) -> Result<i32, (i32, String)> {
    let plan = Plan::from_cli(&cli.workload).map_err(|e| (2, e))?;
    let pauses: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let log = pauses.clone();
    let count = peers::counters().clone();
    let mut builder = Runtime::builder()
        .on_pause(move |d| {
            if let Ok(mut v) = log.lock() {
                v.push(d);
            }
        })
        .on_pause_event(move |e| count.count_cycles(e));
    if let Some(m) = cli.mode {
        builder = builder.mode(m);
    }
    let limit = (plan.live_estimate().saturating_mul(LIMIT_FACTOR)).max(MIN_LIMIT);
    if std::env::var_os("GC_HEAP_LIMIT").is_none() {
        builder = builder.heap_limit(limit);
    }
    if std::env::var_os("GC_MARK_THREADS").is_none() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        builder = builder.mark_threads(cpus);
    }
    let rt = builder.build().map_err(|e| (2, e.to_string()))?;
    if let Some(r) = rt.fallback_reason() {
        eprintln!("peer-workloads: {r}");
    }
    let mut m = rt.mutator().map_err(|e| (2, e.to_string()))?;
    let name = format!("project-{}", rt.requested_mode());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let progress = Progress::start(
        "peer-workloads",
        &cli.progress,
        peers::counters().clone(),
        None,
    );

    let result = match &plan {
        Plan::GcBench(p) => peers::gcbench(&mut m, &mut out, &name, p).map(|()| 0),
        Plan::BinaryTrees(d) => peers::binarytrees(&mut m, &mut out, *d).map(|()| 0),
        Plan::LiveHeap(p) => {
            peers::liveheap(&mut m, &mut out, &name, p).map(|o| if o.ok { 0 } else { 1 })
        }
    };
    drop(progress);
    drop(m);
    // a concurrent compaction still running is waited for, so that its
    // pause is reported too (not timed: the workload has printed its figures)
    rt.quiesce();
    let pauses = pauses.lock().map(|v| v.clone()).unwrap_or_default();
    finish(&rt, &pauses, limit_in_effect(&rt));
    result.map_err(|e| match e {
        PeerError::Io(_) => (2, e.to_string()),
        PeerError::OutOfMemory(_) | PeerError::Fatal(_) => (3, e.to_string()),
    })
}

fn limit_in_effect(rt: &Runtime) -> usize {
    rt.heap().config().heap_limit
}

/// The summary line on stderr and the pause file (`PEER_PAUSE_FILE`).
fn finish(rt: &Runtime, pauses: &[Duration], limit: usize) {
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let total = pauses.iter().map(ms).fold(0.0, |a, b| a + b);
    let max = pauses.iter().map(ms).fold(0.0, f64::max);
    let stats = rt.stats();
    eprintln!(
        "PEERGC runtime=project mode={} requested={} cycles={} young_cycles={} full_cycles={} gc_cpu_s={:.3} pauses={} pause_total_ms={total:.3} pause_max_ms={max:.3} heap_limit_mib={} growth={} mark_threads={} peak_rss_mib={} compaction=\"{}\"",
        rt.mode(),
        rt.requested_mode(),
        stats.cycles,
        stats.young_cycles,
        stats.full_cycles,
        stats.gc_cpu.as_secs_f64(),
        pauses.len(),
        limit >> 20,
        rt.growth(),
        rt.heap().config().mark_threads,
        peak_rss().unwrap_or(0) >> 20,
        rt.describe(),
    );
    if let Some(path) = std::env::var_os("PEER_PAUSE_FILE").filter(|p| !p.is_empty()) {
        let text: String = pauses.iter().map(|d| format!("{:.6}\n", ms(d))).collect();
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!(
                "peer-workloads: cannot write the pause file {}: {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
}
