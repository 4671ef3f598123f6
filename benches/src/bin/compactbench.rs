//! `compactbench`: how fast each mode compacts a given live heap with the
//! mutator idle, side by side in one run. For each repetition and each mode
//! and dense-prefix threshold (interleaved): build the churn workload's live
//! heap, churn until as much garbage as live data is interleaved with it,
//! run one full collection and wait for it; report the compaction time (in
//! the pause for `stw`, concurrent for the uffd modes), its GB/s of live
//! data, the pages installed by MOVE, and the pages slid versus kept in
//! place by the dense prefix.
//!
//! `cargo run --release -p benches --bin compactbench -- --live 1G --reps 3 --modes stw,uffd-workers,uffd-move,sigbus,uffd`
//!
//! The dense prefix's effect (`--replace 0.1`: one churn step in ten
//! replaces a live node, so the lower heap stays mostly live):
//!
//! `... -- --live 256M --modes stw,uffd --dense-prefix off,0.95,0.9,0.75 --replace 0.1`

use std::time::Duration;

use std::sync::Arc;

use benches::progress::{Counters, Progress, ProgressArgs};
use benches::workload::{Churn, Rng};
use clap::Parser;
use gc::Phase;
use runtime::{parse_size, Mode, Runtime};

#[derive(Parser, Debug)]
#[command(version, about = "Compaction throughput per mode, mutator idle")]
struct Args {
    /// Live heap to build, in bytes with an optional K/M/G suffix (binary
    /// units), e.g. 256M, 1G.
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    live: usize,
    /// Repetitions (modes interleaved within each).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Comma-separated modes.
    #[arg(
        long,
        value_enum,
        default_value = "stw,uffd-workers,uffd-move,sigbus,uffd",
        value_delimiter = ','
    )]
    modes: Vec<Mode>,
    /// Comma-separated dense-prefix thresholds to compare (live ratio of a
    /// page, e.g. 0.9; `off` for none; `default` for the heap's default).
    #[arg(long, value_name = "THRESHOLDS", default_value = "default", value_delimiter = ',', value_parser = parse_threshold)]
    dense_prefix: Vec<Threshold>,
    /// Fraction (0 to 1) of churn steps that replace a live node (the rest only
    /// allocate garbage); lower keeps the lower heap denser.
    #[arg(long, value_name = "FRACTION", default_value_t = 1.0)]
    replace: f64,
    #[command(flatten)]
    progress: ProgressArgs,
}

/// A dense-prefix threshold to run with.
#[derive(Clone, Copy, Debug)]
enum Threshold {
    /// The heap's default.
    Default,
    /// This live ratio (1.0 or more: no prefix).
    Ratio(f64),
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Threshold::Default => {
                write!(f, "default ({})", gc::heap::DEFAULT_DENSE_PREFIX_THRESHOLD)
            }
            Threshold::Ratio(r) if *r >= 1.0 => f.write_str("off"),
            Threshold::Ratio(r) => write!(f, "{r}"),
        }
    }
}

fn parse_threshold(s: &str) -> Result<Threshold, String> {
    match s {
        "default" => Ok(Threshold::Default),
        "off" => Ok(Threshold::Ratio(1.0)),
        _ => match s.parse::<f64>() {
            Ok(r) if r > 0.0 => Ok(Threshold::Ratio(r)),
            _ => Err(format!(
                "dense-prefix threshold {s:?}: a ratio above 0, `off` or `default`"
            )),
        },
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("compactbench: {e}");
        std::process::exit(1);
    }
}

/// What one full collection did.
struct Run {
    /// Compaction time (stw: in the pause, with its populate).
    compact: Duration,
    /// Pages installed by `UFFDIO_MOVE`.
    moved: u64,
    /// To-space pages filled.
    pages: u64,
    /// Of those, pages of the dense prefix (not slid).
    dense: u64,
}

/// One full collection of `live` bytes in `mode` with `threshold`.
fn one(
    mode: Mode,
    threshold: Threshold,
    args: &Args,
    seed: u64,
    counters: &Arc<Counters>,
) -> Result<Run, String> {
    let live = args.live;
    let count = counters.clone();
    let rt = Runtime::builder()
        .on_pause_event(move |e| count.count_cycles(e))
        .mode(mode)
        .heap_limit(live * 4)
        .build()
        .map_err(|e| e.to_string())?;
    if rt.mode() != mode {
        return Err(format!("{mode} unavailable: {:?}", rt.fallback_reason()));
    }
    if let Threshold::Ratio(r) = threshold {
        rt.set_dense_prefix_threshold(r)
            .map_err(|e| e.to_string())?;
    }
    let mut m = rt.mutator().map_err(|e| e.to_string())?;
    let mut churn = Churn::build(&mut m, live, seed).map_err(|e| e.to_string())?;
    counters.add_allocations(churn.allocations);
    let mut counted = churn.allocations;
    // Allocate until about as much garbage as live data lies between the
    // nodes (each step allocates about 200 bytes); a `replace` fraction of
    // the steps replaces a live node.
    let mut coin = Rng::new(seed ^ 0x5eed);
    for _ in 0..live / 200 {
        let replace = (coin.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= args.replace;
        if replace {
            churn.step(&mut m)
        } else {
            churn.garbage_step(&mut m)
        }
        .map_err(|e| e.to_string())?;
        if churn.allocations - counted >= 4096 {
            counters.add_allocations(churn.allocations - counted);
            counted = churn.allocations;
        }
    }
    m.finish_cycle().map_err(|e| e.to_string())?;
    rt.reset_stats();
    let dense_before = rt.heap().dense_pages_total();
    m.collect().map_err(|e| e.to_string())?;
    rt.quiesce();
    churn.check(&m)?;
    let stats = rt.stats();
    let total = |list: &[(Phase, Duration)]| {
        list.iter()
            .filter(|(p, _)| *p == Phase::Compact)
            .map(|x| x.1)
            .sum::<Duration>()
    };
    let compact = total(&stats.phase_totals) + total(&stats.concurrent_totals);
    let populate = total_phase(&stats.phase_totals, Phase::Populate);
    Ok(Run {
        compact: compact + populate,
        moved: stats.pages_moved,
        pages: stats.pages_compacted,
        dense: rt.heap().dense_pages_total() - dense_before,
    })
}

fn total_phase(list: &[(Phase, Duration)], p: Phase) -> Duration {
    list.iter()
        .find(|(q, _)| *q == p)
        .map_or(Duration::ZERO, |x| x.1)
}

fn run(args: &Args) -> Result<(), String> {
    let configs: Vec<(Mode, Threshold)> = args
        .modes
        .iter()
        .flat_map(|&m| args.dense_prefix.iter().map(move |&t| (m, t)))
        .collect();
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); configs.len()];
    let mut last: Vec<Option<Run>> = configs.iter().map(|_| None).collect();
    let counters = Counters::new();
    let progress = Progress::start("compactbench", &args.progress, counters.clone(), None);
    for rep in 0..args.reps {
        for (i, &(mode, threshold)) in configs.iter().enumerate() {
            let r = one(mode, threshold, args, 42 + rep as u64, &counters)?;
            eprintln!(
                "compactbench: rep {rep} {mode} dense-prefix {threshold}: {:.1} ms, {} of {} pages dense",
                r.compact.as_secs_f64() * 1e3,
                r.dense,
                r.pages
            );
            times[i].push(r.compact);
            last[i] = Some(r);
        }
    }
    drop(progress);
    println!(
        "live {:.1} MiB, mutator idle, replace {}, medians of {} (compaction incl. stw's populate):",
        args.live as f64 / (1u64 << 20) as f64,
        args.replace,
        args.reps
    );
    println!(
        "| mode | dense prefix | compaction ms | GB/s of live data | vs first row | pages slid | pages dense | pages moved |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let base = median(&mut times[0].clone());
    for (i, (mode, threshold)) in configs.iter().enumerate() {
        let t = median(&mut times[i]);
        let r = last[i].as_ref().expect("every configuration ran");
        println!(
            "| {mode} | {threshold} | {:.1} | {:.2} | {:.2}x | {} | {} | {} |",
            t.as_secs_f64() * 1e3,
            args.live as f64 / t.as_secs_f64() / 1e9,
            t.as_secs_f64() / base.as_secs_f64(),
            r.pages - r.dense,
            r.dense,
            r.moved
        );
    }
    Ok(())
}
