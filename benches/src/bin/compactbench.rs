//! `compactbench`: how fast each mode compacts a given live heap with the
//! mutator idle, side by side in one run. For each repetition and each mode
//! (interleaved): build the churn workload's live heap, churn until as much
//! garbage as live data is interleaved with it, run one full collection and
//! wait for it; report the compaction time (in the pause for `stw`,
//! concurrent for the uffd modes), its GB/s of live data and the pages
//! installed by MOVE.
//!
//! `cargo run --release -p benches --bin compactbench -- --live 1G --reps 3 --modes stw,uffd-workers,uffd-move,sigbus,uffd`

use std::time::Duration;

use benches::workload::Churn;
use clap::Parser;
use gc::Phase;
use runtime::{parse_size, Mode, Runtime};

#[derive(Parser, Debug)]
#[command(about = "Compaction throughput per mode, mutator idle")]
struct Args {
    /// Live heap to build, e.g. 256M, 1G.
    #[arg(long, default_value = "256M", value_parser = parse_size)]
    live: usize,
    /// Repetitions (modes interleaved within each).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Comma-separated modes.
    #[arg(
        long,
        default_value = "stw,uffd-workers,uffd-move,sigbus,uffd",
        value_delimiter = ','
    )]
    modes: Vec<Mode>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("compactbench: {e}");
        std::process::exit(1);
    }
}

/// Compaction time of one full collection of `live` bytes in `mode`, and
/// the pages moved (vs compacted).
fn one(mode: Mode, live: usize, seed: u64) -> Result<(Duration, usize), String> {
    let rt = Runtime::builder()
        .mode(mode)
        .heap_limit(live * 4)
        .build()
        .map_err(|e| e.to_string())?;
    if rt.mode() != mode {
        return Err(format!("{mode} unavailable: {:?}", rt.fallback_reason()));
    }
    let mut m = rt.mutator().map_err(|e| e.to_string())?;
    let mut churn = Churn::build(&mut m, live, seed).map_err(|e| e.to_string())?;
    // Replace nodes until about as much garbage as live data lies between
    // them (each step allocates about 200 bytes).
    for _ in 0..live / 200 {
        churn.step(&mut m).map_err(|e| e.to_string())?;
    }
    m.finish_cycle().map_err(|e| e.to_string())?;
    rt.reset_stats();
    m.collect().map_err(|e| e.to_string())?;
    rt.quiesce();
    churn.check(&mut m)?;
    let stats = rt.stats();
    let total = |list: &[(Phase, Duration)]| {
        list.iter()
            .filter(|(p, _)| *p == Phase::Compact)
            .map(|x| x.1)
            .sum::<Duration>()
    };
    let compact = total(&stats.phase_totals) + total(&stats.concurrent_totals);
    let populate = total_phase(&stats.phase_totals, Phase::Populate);
    Ok((compact + populate, stats.pages_moved as usize))
}

fn total_phase(list: &[(Phase, Duration)], p: Phase) -> Duration {
    list.iter()
        .find(|(q, _)| *q == p)
        .map_or(Duration::ZERO, |x| x.1)
}

fn run(args: &Args) -> Result<(), String> {
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); args.modes.len()];
    let mut moved = vec![0usize; args.modes.len()];
    for rep in 0..args.reps {
        for (i, &mode) in args.modes.iter().enumerate() {
            let (t, mv) = one(mode, args.live, 42 + rep as u64)?;
            eprintln!(
                "compactbench: rep {rep} {mode}: {:.1} ms",
                t.as_secs_f64() * 1e3
            );
            times[i].push(t);
            moved[i] = mv;
        }
    }
    println!(
        "live {} MiB, mutator idle, medians of {} (compaction incl. stw's populate):",
        args.live >> 20,
        args.reps
    );
    println!("| mode | compaction ms | GB/s of live data | vs first mode | pages moved |");
    println!("|---|---|---|---|---|");
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let base = median(&mut times[0].clone());
    for (i, mode) in args.modes.iter().enumerate() {
        let t = median(&mut times[i]);
        println!(
            "| {mode} | {:.1} | {:.2} | {:.2}x | {} |",
            t.as_secs_f64() * 1e3,
            args.live as f64 / t.as_secs_f64() / 1e9,
            t.as_secs_f64() / base.as_secs_f64(),
            moved[i]
        );
    }
    Ok(())
}
